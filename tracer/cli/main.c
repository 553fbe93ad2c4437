/* memtrace's entry point: parse, trace, report, and exit like the target did.
 * The only place that prints a fatal error and chooses the exit status. */
#include "cli.h"
#include "ptrace_io.h"
#include "report.h"
#include "symbolizer.h"
#include "session.h"
#include "unwind.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static struct report_process *collect(const struct session *t, unsigned show_kinds, size_t *n)
{
    size_t count = 0;
    for (struct process *p = t->procs; p; p = p->next)
        count += !p->untraced_child;
    struct report_process *rps = calloc(count ? count : 1, sizeof(*rps));
    if (!rps)
        return NULL;
    /* t->procs is newest first; report in the order processes appeared. */
    size_t i = count;
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->untraced_child)
            continue;   /* --no-follow-forks: a vfork child until its exec */
        rps[--i] = session_report_view(p, show_kinds);
    }
    *n = count;
    return rps;
}

static void fill_stats(const struct session *t, struct report_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->present = true;
#define COPY_TRAP_STAT(name) s->name = t->stats.name;
    MT_TRAP_STATS(COPY_TRAP_STAT)
#undef COPY_TRAP_STAT
    const struct ptrace_counters *pc = ptrace_io_counters();
    s->single_steps = pc->single_steps;
    s->ptrace_calls = pc->calls;
    for (struct process *p = t->procs; p; p = p->next) {
        s->unwinds += unwinder_count(p->unwinder);
        uint64_t frames, ns;
        unwinder_cost(p->unwinder, &frames, &ns);
        s->unwind_frames += frames;
        s->unwind_us += ns / 1000;
        s->symbolized_addresses += symbolizer_lookups(p->symbolizer);
        if (p->scan) {
            s->scan_ms += p->scan_ns / 1000000;
            s->scanned_bytes += p->scan->bytes_scanned;
        }
    }
}

static int write_json(const char *path, const struct report_process *rps, size_t n,
                      const struct report_stats *stats)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "memtrace: cannot write the JSON report to %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = report_json_write(f, rps, n, stats);
    if (f != stdout) {
        if (fclose(f) != 0)
            rc = -1;
    } else if (fflush(f) != 0) {
        rc = -1;
    }
    if (rc)
        fprintf(stderr, "memtrace: error writing the JSON report to %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    struct mt_options opt;
    char err[512];
    if (cli_parse(argc, argv, &opt, err, sizeof(err)) != 0) {
        fprintf(stderr, "memtrace: %s\n", err);
        return EXIT_USAGE;
    }
    if (opt.command == CMD_HELP) {
        cli_usage(stdout);
        return 0;
    }
    if (opt.command == CMD_VERSION) {
        printf("memtrace %s\n", MEMTRACE_VERSION);
        return 0;
    }
    struct symbolizer_config sym_cfg = {
        .debug_dirs = opt.debug_dirs, .ndebug_dirs = opt.ndebug_dirs,
        .debug_dirs_env = getenv("MEMTRACE_DEBUG_DIRS"),
    };
    if (symbolizer_configure(&sym_cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "memtrace: %s\n", err);
        return EXIT_USAGE;
    }
    FILE *log = stderr;
    if (opt.log_path && !(log = fopen(opt.log_path, "w"))) {
        fprintf(stderr, "memtrace: cannot open log file %s: %s\n", opt.log_path, strerror(errno));
        return EXIT_USAGE;
    }
    struct session t;
    bool attach = opt.command == CMD_ATTACH;
    if ((attach ? session_attach(&t, &opt, log) : session_run(&t, &opt, log)) != 0) {
        fprintf(stderr, "memtrace: %s\n", t.error);
        session_destroy(&t);
        return EXIT_USAGE;
    }
    size_t n = 0;
    struct report_process *rps = collect(&t, opt.show_kinds, &n);
    struct report_stats stats;
    int status = 0;
    if (!rps) {
        fprintf(stderr, "memtrace: out of memory building the report\n");
        status = EXIT_USAGE;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (n > 1)
                report_text_banner(log, &rps[i]);
            report_text_process(log, &rps[i]);
        }
        fill_stats(&t, &stats);   /* after the text report: it counts symbolization */
        if (opt.stats)
            report_text_stats(log, &stats);
        fflush(log);
        if (opt.json_path && write_json(opt.json_path, rps, n, &stats) != 0)
            status = EXIT_USAGE;
    }
    const struct process *main_proc = session_main_process(&t);
    /* run exits like the program; attach succeeded when it detached or saw
     * the process end, whatever the process's own status. */
    if (status == 0 && main_proc && !attach)
        status = main_proc->end == END_SIGNALED ? 128 + main_proc->signal : main_proc->exit_code;
    if (rps && opt.error_exitcode > 0 && report_found_problems(rps, n))
        status = opt.error_exitcode;
    free(rps);
    session_destroy(&t);
    if (log != stderr)
        fclose(log);
    return status;
}
