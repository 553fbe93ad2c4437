/* memtrace's entry point: parse, trace, report, and exit like the target did.
 * The only place that prints a fatal error and chooses the exit status. */
#include "cli.h"
#include "report_file.h"
#include "fault.h"
#include "insn.h"
#include "progress.h"
#include "ptrace_io.h"
#include "report.h"
#include "report_diff.h"
#include "report_load.h"
#include "symbolizer.h"
#include "session.h"
#include "unwind.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_USAGE 2

/* Whether p gets a report section: not a vfork child traced only until its
 * exec (--no-follow-forks), nor a child's image of fork with
 * --child-silent-after-fork=yes. */
static bool reported(const struct mt_options *opt, const struct process *p)
{
    return !p->untraced_child && !(opt->child_silent && p->fork_image);
}

static struct report_process *collect(const struct mt_options *opt, const struct session *t,
                                      size_t *n)
{
    size_t count = 0;
    for (struct process *p = t->procs; p; p = p->next)
        count += reported(opt, p);
    struct report_process *rps = calloc(count ? count : 1, sizeof(*rps));
    if (!rps)
        return NULL;
    /* t->procs is newest first; report in the order processes appeared. */
    size_t i = count;
    for (struct process *p = t->procs; p; p = p->next) {
        if (!reported(opt, p))
            continue;
        if (p->model.sample_live && p->end_ns)
            alloc_model_sample(&p->model, p->end_ns);   /* --timeline: where tracing ended */
        rps[--i] = session_report_view(p, opt->show_kinds);
        rps[i].records_hidden = p->end == END_EXEC && !opt->show_exec_leaks;
        rps[i].error_kinds = opt->error_kinds;
        rps[i].alloc_fns = opt->alloc_fns;
        rps[i].nalloc_fns = opt->nalloc_fns;
        rps[i].cut_std_alloc_frames = p->rust_runtime && !opt->show_std_alloc_frames;
        rps[i].supps = &opt->suppressions;
        rps[i].gen_suppressions = opt->gen_suppressions;
        if (t->attached && p->pid == t->main_pid && t->checks.n)
            rps[i].checks = &t->checks;
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
    /* Stacks unwound: by --fast's stubs in the program, by its rule table
     * here (a walk that gave up went on in libunwind, counted there), or
     * by libunwind. */
    s->unwinds = t->stats.fast_stub_walks;
    for (struct process *p = t->procs; p; p = p->next) {
        s->unwinds += unwinder_count(p->unwinder) + p->frame_rules.walks - p->frame_rules.fallbacks;
        uint64_t frames, ns;
        unwinder_cost(p->unwinder, &frames, &ns);
        s->unwind_frames += frames;
        s->unwind_us += ns / 1000;
        s->symbolized_addresses += symbolizer_lookups(p->symbolizer);
        if (p->scan) {
            s->scan_ms += p->scan_ns / 1000000;
            s->scanned_bytes += p->scan->bytes_scanned;
        }
        if (p->census.taken) {
            s->census_blocks += p->census.blocks;
            s->census_us += p->census.ns / 1000;
        }
    }
    s->leak_checks = t->checks.n;
    for (size_t i = 0; i < t->checks.n; i++)
        if (t->checks.checks[i].pause_ns / 1000 > s->leak_check_max_us)
            s->leak_check_max_us = t->checks.checks[i].pause_ns / 1000;
}

/* The report files besides the text. */
enum report_format {
    FORMAT_JSON, FORMAT_XML, FORMAT_SARIF, FORMAT_FOLDED, FORMAT_FLAMEGRAPH, FORMAT_TIMELINE,
    FORMAT_COUNT
};

static int write_format(struct out_file *o, enum report_format format,
                        const struct report_process *rps, size_t n,
                        const struct report_stats *stats, enum flame_cost cost)
{
    if (out_begin(o) != 0)
        return out_commit(o, -1);
    int rc;
    if (format == FORMAT_JSON) {
        rc = report_json_write(o->f, rps, n, stats);
    } else if (format == FORMAT_XML) {
        rc = report_xml_write(o->f, rps, n);
    } else if (format == FORMAT_FOLDED) {
        rc = report_folded_write(o->f, rps, n, cost);
    } else if (format == FORMAT_FLAMEGRAPH) {
        rc = report_flamegraph_write(o->f, rps, n, cost);
    } else if (format == FORMAT_TIMELINE) {
        rc = report_timeline_write(o->f, rps, n);
    } else {
        /* Source paths under the directory memtrace ran in are written
         * relative to it: a checkout's root, in CI. */
        char cwd[PATH_MAX];
        rc = report_sarif_write(o->f, rps, n, getcwd(cwd, sizeof(cwd)) ? cwd : NULL);
    }
    return out_commit(o, rc);
}

/* A report file's path with %p and %n of rps[i]; false having said why. */
static bool expand_for(const char *path, const struct report_process *rps, size_t i,
                       char *name, size_t len)
{
    if (out_path_expand(path, rps[i].pid, (unsigned)(i + 1), name, len) == 0)
        return true;
    say_cannot_write(path, "the name is too long once %p and %n are replaced");
    return false;
}

/* A report file with %p or %n: a file for each process. */
static int write_each(const char *path, enum report_format format,
                      const struct report_process *rps, size_t n,
                      const struct report_stats *stats, enum flame_cost cost)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char name[PATH_MAX];
        struct out_file o;
        if (!expand_for(path, rps, i, name, sizeof(name)) || out_open_json(&o, name) != 0) {
            rc = -1;
            continue;
        }
        if (write_format(&o, format, &rps[i], 1, stats, cost) != 0)
            rc = -1;
    }
    return rc;
}

/* -o with %p or %n: each process's text in a file of its own, its bad
 * frees first (held back during the run for this), as Valgrind's
 * --log-file=%p gives each process its log; --stats in the first. */
static bool write_text_each(const struct mt_options *opt, const struct report_process *rps,
                            size_t n, const struct report_stats *stats)
{
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        char name[PATH_MAX];
        struct out_file o;
        if (!expand_for(opt->log_path, rps, i, name, sizeof(name)) ||
            out_open_log(&o, name) != 0) {
            failed = true;
            continue;
        }
        const struct report_process *p = &rps[i];
        if (!report_summary_only(p))
            report_text_banner(o.f, p);
        for (size_t k = 0; k < p->model->nerrors; k++)
            report_text_error(o.f, p, &p->model->errors[k]);
        report_text_process(o.f, p);
        if (opt->stats) {
            if (i == 0)
                report_text_stats(o.f, stats);
            report_text_hooks(o.f, p);
        }
        if (!out_finish(&o)) {
            say_cannot_write(name, strerror(o.err));
            failed = true;
        }
    }
    return failed;
}

/* A --json, --xml-file or --sarif path: opened now (a path that cannot be written
 * costs no run), or, with %p or %n, tried in its directory. */
static int open_report_file(struct out_file *o, const char *path)
{
    if (!out_path_per_process(path))
        return out_open_json(o, path);
    char probe[PATH_MAX];
    if (out_path_expand(path, (int)getpid(), 0, probe, sizeof(probe)) != 0) {
        say_cannot_write(path, "the name is too long once %p and %n are replaced");
        return -1;
    }
    if (out_open_json(o, probe) != 0)
        return -1;
    out_discard(o);
    memset(o, 0, sizeof(*o));
    return 0;
}

/* -o: opened now; with %p or %n, each process's file is made at the end
 * (tried now in its directory, as open_report_file does). */
static int open_log_file(struct out_file *o, const char *path)
{
    if (!out_path_per_process(path))
        return out_open_log(o, path);
    return open_report_file(o, path);
}

/* Whether fd is a pipe or socket whose reader has gone (`| head` read what
 * it wanted): output lost that way is the reader's choice, not a failure. */
static bool reader_gone(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return false;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* The report files of write_reports, opened before the run. */
struct report_outputs {
    struct out_file log;
    struct out_file files[FORMAT_COUNT];   /* by enum report_format */
};

static void discard_outputs(struct report_outputs *out)
{
    for (size_t i = 0; i < sizeof(out->files) / sizeof(out->files[0]); i++)
        out_discard(&out->files[i]);
}

/* The path of each report file option, by enum report_format. */
static void report_paths(const struct mt_options *opt, const char *paths[FORMAT_COUNT])
{
    paths[FORMAT_JSON] = opt->json_path;
    paths[FORMAT_XML] = opt->xml_path;
    paths[FORMAT_SARIF] = opt->sarif_path;
    paths[FORMAT_FOLDED] = opt->folded_path;
    paths[FORMAT_FLAMEGRAPH] = opt->flamegraph_path;
    paths[FORMAT_TIMELINE] = opt->timeline_path;
}

/* Every report file asked for, each written whole (or per process). */
static bool write_files(const struct mt_options *opt, struct report_outputs *out,
                        const struct report_process *rps, size_t n,
                        const struct report_stats *stats)
{
    const char *paths[FORMAT_COUNT];
    report_paths(opt, paths);
    bool failed = false;
    for (int k = FORMAT_JSON; k < FORMAT_COUNT; k++) {
        enum flame_cost cost = (enum flame_cost)opt->flame_cost;
        if (paths[k] && (out_path_per_process(paths[k])
                             ? write_each(paths[k], k, rps, n, stats, cost)
                             : write_format(&out->files[k], k, rps, n, stats, cost)) != 0)
            failed = true;
    }
    return failed;
}

/* Every frame the reports will name, symbolized before any is written,
 * with a progress line on a terminal (thousands of frames in big modules
 * take seconds, more when debuginfod downloads): the writers then find
 * them resolved. */
static bool has_live_blocks(const struct report_process *p, uint32_t stack)
{
    const struct stack_cost *c = alloc_model_stack_cost(p->model, stack);
    return c && c->live_bytes;   /* a leak record's stack */
}

static void symbolize_all(const struct report_process *rps, size_t n)
{
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t id = 0; id <= stack_intern_count(rps[i].stacks); id++)
            total += !report_summary_only(&rps[i]) && has_live_blocks(&rps[i], id);
    struct mt_progress progress;
    char what[64];
    snprintf(what, sizeof(what), "symbolizing %" PRIu64 " stacks", total);
    mt_progress_begin(&progress, what, total);
    for (size_t i = 0; i < n; i++) {
        const struct report_process *p = &rps[i];
        for (uint32_t id = 0; id <= stack_intern_count(p->stacks); id++) {
            if (report_summary_only(p) || !has_live_blocks(p, id))
                continue;
            unsigned depth;
            const mt_addr *ips = stack_intern_get(p->stacks, id, &depth);
            const struct sym_frame_ext *frames;
            for (unsigned k = 0; k < depth; k++)
                report_frames(p, id, ips[k], &frames);
            mt_progress_update(&progress, ++done);
        }
    }
    mt_progress_end(&progress);
}

/* The text report (with --stats), then the JSON, the XML and the SARIF.
 * Returns whether a write failed (said in one line where there is a place
 * to say it). */
static bool write_reports(const struct mt_options *opt, const struct session *t, FILE *log,
                          struct report_outputs *out, const struct report_process *rps,
                          size_t n)
{
    struct report_stats stats;
    bool write_failed = false;
    bool log_each = opt->log_path && out_path_per_process(opt->log_path);
    if (!rps) {
        fprintf(stderr, "memtrace: out of memory building the report\n");
        discard_outputs(out);
        return true;
    }
    symbolize_all(rps, n);
    if (log_each) {
        fill_stats(t, &stats);
        write_failed = write_text_each(opt, rps, n, &stats);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (n > 1 && !report_summary_only(&rps[i]))
                report_text_banner(log, &rps[i]);
            report_text_process(log, &rps[i]);
        }
        fill_stats(t, &stats);   /* after the text report: it counts symbolization */
        if (opt->stats) {
            report_text_stats(log, &stats);
            for (size_t i = 0; i < n; i++)
                report_text_hooks(log, &rps[i]);
        }
    }
    /* A failed write makes the exit status 2, whatever --error-exitcode says. */
    if (opt->log_path && !log_each) {
        if (!out_finish(&out->log)) {
            say_cannot_write(out->log.name, strerror(out->log.err));
            write_failed = true;
        }
    } else if ((fflush(stderr) != 0 || ferror(stderr)) && !reader_gone(STDERR_FILENO)) {
        write_failed = true;   /* nowhere to say so */
    }
    return write_files(opt, out, rps, n, &stats) || write_failed;
}

/* Writes the loaded report in opt's --format to f. Returns 0, or -1
 * having said why. */
static int render(FILE *f, const struct mt_options *opt, const struct loaded_report *r)
{
    const char *format = opt->report_format;
    if (strcmp(format, "text") == 0) {
        for (size_t i = 0; i < r->n; i++) {
            const struct report_process *p = &r->procs[i];
            if (!report_summary_only(p))
                report_text_banner(f, p);
            for (size_t k = 0; k < p->model->nerrors; k++)
                report_text_error(f, p, &p->model->errors[k]);
            if (report_text_process(f, p) != 0)
                return -1;
        }
        return ferror(f) ? -1 : 0;
    }
    if (strcmp(format, "json") == 0)
        return report_json_write(f, r->procs, r->n, NULL);
    if (strcmp(format, "xml") == 0)
        return report_xml_write(f, r->procs, r->n);
    if (strcmp(format, "sarif") == 0) {
        char cwd[PATH_MAX];
        return report_sarif_write(f, r->procs, r->n, getcwd(cwd, sizeof(cwd)) ? cwd : NULL);
    }
    if (strcmp(format, "timeline") == 0) {
        bool any = false;
        for (size_t i = 0; i < r->n; i++)
            any |= r->procs[i].model->nsamples > 0;
        if (!any) {
            fprintf(stderr, "memtrace: report: %s holds no samples of live bytes over time: "
                    "trace with --timeline FILE (and --json) to keep them\n",
                    opt->report_input);
            return -1;
        }
        return report_timeline_write(f, r->procs, r->n);
    }
    if (opt->flame_cost != FLAME_LEAKED) {
        fprintf(stderr, "memtrace: report: a JSON report holds the records left at the end, "
                "not what each stack allocated: only --flamegraph-cost leaked\n");
        return -1;
    }
    return strcmp(format, "folded") == 0 ? report_folded_write(f, r->procs, r->n, FLAME_LEAKED)
                                         : report_flamegraph_write(f, r->procs, r->n,
                                                                   FLAME_LEAKED);
}

/* memtrace report: exit 0, --error-exitcode's N when the report holds a
 * problem, 2 when it cannot be read or its rendering written. */
static int render_report(const struct mt_options *opt)
{
    struct jv doc;
    char why[512];
    if (json_read_file(opt->report_input, &doc, why, sizeof(why)) != 0) {
        fprintf(stderr, "memtrace: %s\n", why);
        return EXIT_USAGE;
    }
    struct report_load_options lo = {
        .show_kinds = opt->show_kinds, .error_kinds = opt->error_kinds, .depth = opt->depth,
        .supps = &opt->suppressions, .gen_suppressions = opt->gen_suppressions,
    };
    struct loaded_report r;
    if (report_load(&doc, &lo, &r, why, sizeof(why)) != 0) {
        fprintf(stderr, "memtrace: %s: %s\n", opt->report_input, why);
        json_value_free(&doc);
        return EXIT_USAGE;
    }
    struct out_file out = { 0 };
    bool ok = !opt->log_path || out_open_json(&out, opt->log_path) == 0;
    int rc = ok && out.f ? out_begin(&out) : 0;
    if (ok && rc == 0)
        rc = render(out.f ? out.f : stdout, opt, &r);
    if (out.f)
        ok = out_commit(&out, rc) == 0 && ok;
    ok = ok && rc == 0 && (out.path || fflush(stdout) == 0 || reader_gone(STDOUT_FILENO));
    int status = !ok ? EXIT_USAGE
                 : opt->error_exitcode > 0 && report_found_problems(r.procs, r.n)
                     ? opt->error_exitcode
                     : 0;
    report_load_free(&r);
    json_value_free(&doc);
    return status;
}

/* memtrace diff: exit 0, --error-exitcode's N when a record is new or
 * grown, 2 when a report cannot be read or the JSON written. */
static int diff_reports(const struct mt_options *opt)
{
    struct jv old_doc, new_doc;
    char why[512];
    if (json_read_file(opt->diff_old, &old_doc, why, sizeof(why)) != 0) {
        fprintf(stderr, "memtrace: %s\n", why);
        return EXIT_USAGE;
    }
    if (json_read_file(opt->diff_new, &new_doc, why, sizeof(why)) != 0) {
        fprintf(stderr, "memtrace: %s\n", why);
        json_value_free(&old_doc);
        return EXIT_USAGE;
    }
    struct out_file json = { 0 };
    struct diff_counts counts = { 0 };
    /* --json -: the JSON is stdout's, the text goes to stderr. */
    bool json_on_stdout = opt->json_path && strcmp(opt->json_path, "-") == 0;
    FILE *text = json_on_stdout ? stderr : stdout;
    bool ok = !opt->json_path || out_open_json(&json, opt->json_path) == 0;
    int rc = ok && json.f ? out_begin(&json) : 0;
    if (ok && rc == 0) {
        rc = report_diff(text, json.f, opt->diff_old, &old_doc, opt->diff_new, &new_doc,
                         &counts, why, sizeof(why));
        if (rc != 0)
            fprintf(stderr, "memtrace: %s\n", why);
    }
    if (json.f)   /* written whole, or the file left as it was */
        ok = out_commit(&json, rc) == 0 && ok;
    ok = ok && rc == 0 && (fflush(text) == 0 || reader_gone(fileno(text)));
    int status = !ok ? EXIT_USAGE
                 : opt->error_exitcode > 0 &&
                   counts.records[DIFF_NEW] + counts.records[DIFF_GROWN] > 0 ? opt->error_exitcode
                                                                           : 0;
    json_value_free(&old_doc);
    json_value_free(&new_doc);
    return status;
}

/* run exits like the program; attach succeeded when it detached or saw the
 * process end, whatever the process's own status; --error-exitcode wins
 * when a problem was found. */
static int exit_status(const struct mt_options *opt, const struct session *t,
                       const struct report_process *rps, size_t n)
{
    int status = 0;
    const struct process *main_proc = session_main_process(t);
    if (t->main_untraced && t->main_reaped)
        status = WIFSIGNALED(t->main_status) ? 128 + WTERMSIG(t->main_status)
                                             : WEXITSTATUS(t->main_status);
    else if (main_proc && opt->command != CMD_ATTACH)
        status = main_proc->end == END_SIGNALED ? 128 + main_proc->signal : main_proc->exit_code;
    if (opt->error_exitcode > 0 && report_found_problems(rps, n))
        status = opt->error_exitcode;
    return status;
}

/* Installed set-user-ID or set-group-ID, memtrace would let whoever runs
 * it trace and change processes with the privileges of the file's owner. */
static bool runs_set_id(char *err, size_t err_len)
{
    uid_t uid = getuid(), euid = geteuid();
    gid_t gid = getgid(), egid = getegid();
    if (uid == euid && gid == egid)
        return false;
    snprintf(err, err_len, "refusing to run set-%s-ID (real %s %u, effective %u): it would let "
             "any user trace any process; remove the bit (chmod %s)",
             uid != euid ? "user" : "group", uid != euid ? "uid" : "gid",
             uid != euid ? (unsigned)uid : (unsigned)gid,
             uid != euid ? (unsigned)euid : (unsigned)egid, uid != euid ? "u-s" : "g-s");
    return true;
}

/* MEMTRACE_OPTS, as VALGRIND_OPTS: whitespace-separated options that go
 * before the command line's own, after the subcommand ("MEMTRACE_OPTS=--fast"
 * makes every run and attach of a script trap-free). argv is returned as it
 * is when there are none; the new vector lives as long as the process. */
static char *env_words;   /* owned here: the options point into it */
static char **env_argv;

static void free_env_options(void)
{
    free(env_argv);
    free(env_words);
}

static char **with_env_options(int *argc, char **argv)
{
    const char *env = getenv("MEMTRACE_OPTS");
    if (!env || *argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "attach") != 0))
        return argv;
    char *words = strdup(env);
    char **out = words ? calloc((size_t)*argc + strlen(env) / 2 + 2, sizeof(*out)) : NULL;
    if (!out) {
        free(words);
        return argv;
    }
    int n = 0;
    out[n++] = argv[0];
    out[n++] = argv[1];
    char *save = NULL;
    for (char *w = strtok_r(words, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        out[n++] = w;
    for (int i = 2; i < *argc; i++)
        out[n++] = argv[i];
    out[n] = NULL;
    *argc = n;
    env_words = words;
    env_argv = out;
    atexit(free_env_options);
    return env_argv;
}

/* MEMTRACE_CACHE_DIR (empty: no cache), else the XDG cache directory. */
static const char *default_cache_dir(char *buf, size_t len)
{
    const char *env = getenv("MEMTRACE_CACHE_DIR");
    if (env)
        return *env ? env : NULL;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = -1;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, len, "%s/memtrace", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, len, "%s/.cache/memtrace", home);
    return n > 0 && (size_t)n < len ? buf : NULL;
}

/* Everything but freeing what options holds (main does). */
static int memtrace_main(int argc, char **argv, struct mt_options *options)
{
    struct mt_options opt;
    char err[512];
    if (runs_set_id(err, sizeof(err))) {
        fprintf(stderr, "memtrace: %s\n", err);
        return EXIT_USAGE;
    }
    argv = with_env_options(&argc, argv);
    int parsed = cli_parse(argc, argv, &opt, err, sizeof(err));
    options->suppressions = opt.suppressions;   /* main frees them, whatever happens */
    if (parsed != 0) {
        fprintf(stderr, "memtrace: %s\n", err);
        return EXIT_USAGE;
    }
    if (opt.command == CMD_HELP) {
        cli_usage(stdout, opt.help_topic);
        return 0;
    }
    if (opt.command == CMD_VERSION) {
        printf("memtrace %s (libdw %s, libunwind %s, capstone %s)\n", MEMTRACE_VERSION,
               symbolizer_libdw_version(), unwind_libunwind_version(), insn_capstone_version());
        return 0;
    }
    if (opt.command == CMD_DIFF)
        return diff_reports(&opt);
    if (opt.command == CMD_REPORT)
        return render_report(&opt);
    if (fault_configure(getenv("MEMTRACE_INJECT_FAULT"), err, sizeof(err)) != 0) {
        fprintf(stderr, "memtrace: %s\n", err);
        return EXIT_USAGE;
    }
    char cache_dir[PATH_MAX];
    struct symbolizer_config sym_cfg = {
        .debug_dirs = opt.debug_dirs, .ndebug_dirs = opt.ndebug_dirs,
        .debug_dirs_env = getenv("MEMTRACE_DEBUG_DIRS"),
        .cache_dir = default_cache_dir(cache_dir, sizeof(cache_dir)),
    };
    if (symbolizer_configure(&sym_cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "memtrace: %s\n", err);
        return EXIT_USAGE;
    }
    /* Report files first: a path that cannot be written costs no run. */
    struct report_outputs out = { 0 };
    const char *paths[FORMAT_COUNT];
    report_paths(&opt, paths);
    for (int k = FORMAT_JSON; k < FORMAT_COUNT; k++) {
        if (paths[k] && open_report_file(&out.files[k], paths[k]) != 0) {
            discard_outputs(&out);
            return EXIT_USAGE;
        }
    }
    if (opt.log_path && open_log_file(&out.log, opt.log_path) != 0) {
        discard_outputs(&out);
        return EXIT_USAGE;
    }
    FILE *log = out.log.f ? out.log.f : stderr;
    struct session t;
    bool attach = opt.command == CMD_ATTACH;
    if ((attach ? session_attach(&t, &opt, log) : session_run(&t, &opt, log)) != 0) {
        fprintf(stderr, "memtrace: %s\n", t.error);
        session_destroy(&t);
        discard_outputs(&out);
        if (out.log.f)
            out_finish(&out.log);
        return EXIT_USAGE;
    }
    if (t.tracing_failed)
        fprintf(stderr, "memtrace: %s; tracing stopped, the program runs on untraced, and the "
                "report has what was recorded until then\n", t.error);
    size_t n = 0;
    struct report_process *rps = collect(&opt, &t, &n);
    bool write_failed = write_reports(&opt, &t, log, &out, rps, n);
    int status = rps ? exit_status(&opt, &t, rps, n) : EXIT_USAGE;
    if (write_failed)
        status = EXIT_USAGE;
    free(rps);
    if (t.tracing_failed) {
        /* The program goes on to its end, as without memtrace; the run
         * still failed: its report is partial. */
        int wstatus;
        if (session_wait_untraced(&t, &wstatus) == 0) {
            if (WIFSIGNALED(wstatus))
                fprintf(stderr, "memtrace: the program, untraced, was terminated by signal %d\n",
                        WTERMSIG(wstatus));
            else
                fprintf(stderr, "memtrace: the program, untraced, exited with status %d\n",
                        WEXITSTATUS(wstatus));
        }
        status = EXIT_USAGE;
    }
    session_destroy(&t);
    return status;
}

int main(int argc, char **argv)
{
    struct mt_options opt;
    memset(&opt, 0, sizeof(opt));
    int rc = memtrace_main(argc, argv, &opt);
    supp_set_destroy(&opt.suppressions);
    return rc;
}
