/* memtrace's entry point: parse, trace, report, and exit like the target did.
 * The only place that prints a fatal error and chooses the exit status. */
#include "cli.h"
#include "ptrace_io.h"
#include "report.h"
#include "symbolizer.h"
#include "session.h"
#include "unwind.h"
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A report file: opened before the program starts, so a bad path costs
 * no run; never inherited by the program (O_CLOEXEC) and never opened
 * through a symlink (O_NOFOLLOW); every write checked (the stream writes
 * through out_write, which keeps the first error). */
struct out_file {
    const char *name;   /* for messages: the path, or "standard output" */
    const char *path;   /* the path given; NULL for stdout */
    FILE *f;
    int fd;
    bool own_fd;        /* false for stdout */
    int err;            /* errno of the first failed write, 0: none */
    char *tmp;          /* JSON: written here, renamed to path at the end */
    bool truncate;      /* JSON written in place: truncated when written */
    bool created;       /* ... and memtrace created it */
};

static ssize_t out_write(void *cookie, const char *buf, size_t len)
{
    struct out_file *o = cookie;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(o->fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (!o->err)
                o->err = n < 0 ? errno : EIO;
            break;   /* a short count: the stream marks the error */
        }
    }
    return (ssize_t)done;
}

static int out_close_fd(void *cookie)
{
    struct out_file *o = cookie;
    if (o->own_fd && close(o->fd) != 0 && !o->err)
        o->err = errno;
    return 0;
}

static void say_cannot_write(const char *name, const char *why)
{
    fprintf(stderr, "memtrace: error: cannot write %s: %s\n", name, why);
}

/* An open that failed; ELOOP from O_NOFOLLOW: the path is a symlink. */
static int open_failed(const char *path, int err)
{
    struct stat st;
    if (err == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        say_cannot_write(path, "it is a symbolic link (memtrace does not follow one)");
    else
        say_cannot_write(path, strerror(err));
    return -1;
}

static int out_stream(struct out_file *o, int fd, bool own_fd)
{
    o->fd = fd;
    o->own_fd = own_fd;
    o->f = fopencookie(o, "w", (cookie_io_functions_t){ .write = out_write,
                                                         .close = out_close_fd });
    if (!o->f) {
        int err = errno;
        if (own_fd)
            close(fd);
        return open_failed(o->name, err);
    }
    return 0;
}

/* -o FILE: created or truncated now, as before the run. */
static int out_open_log(struct out_file *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    o->name = o->path = path;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return open_failed(path, errno);
    return out_stream(o, fd, true);
}

/* --json FILE: a temporary file beside FILE (same directory: the rename is
 * atomic), so a report that cannot be written whole leaves FILE as it was.
 * A device or a pipe (/dev/null, a FIFO) is written in place, and so is a
 * file in a directory memtrace may not create files in. */
static int out_open_json(struct out_file *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    if (strcmp(path, "-") == 0) {
        o->name = "standard output";
        fflush(stdout);
        return out_stream(o, STDOUT_FILENO, false);
    }
    o->name = o->path = path;
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    if (!exists && errno != ENOENT)
        return open_failed(path, errno);
    if (exists && S_ISLNK(st.st_mode))
        return open_failed(path, ELOOP);
    int fd;
    if (exists && !S_ISREG(st.st_mode)) {
        if ((fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return open_failed(path, errno);
        return out_stream(o, fd, true);
    }
    if (exists) {   /* writable? (the rename would replace it regardless) */
        if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return open_failed(path, errno);
        close(fd);
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    if (path[dirlen] == '\0')
        return open_failed(path, EISDIR);
    size_t room = strlen(path) + sizeof("..XXXXXX");
    if (!(o->tmp = malloc(room)))
        return open_failed(path, ENOMEM);
    snprintf(o->tmp, room, "%.*s.%s.XXXXXX", dirlen, path, path + dirlen);
    fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd >= 0) {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, exists ? st.st_mode & 07777 : 0666 & ~mask) != 0) {
            int err = errno;
            close(fd);
            unlink(o->tmp);
            return open_failed(path, err);
        }
        return out_stream(o, fd, true);
    }
    free(o->tmp);
    o->tmp = NULL;
    o->truncate = true;
    o->created = !exists;
    if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666)) < 0)
        return open_failed(path, errno);
    return out_stream(o, fd, true);
}

/* Closes the stream; true when everything written reached the file. */
static bool out_finish(struct out_file *o)
{
    if (fclose(o->f) != 0 && !o->err)
        o->err = EIO;
    o->f = NULL;
    return o->err == 0;
}

/* The run failed: no report, and no file memtrace made for one. */
static void out_discard(struct out_file *o)
{
    if (!o->f)
        return;
    fclose(o->f);
    o->f = NULL;
    if (o->tmp)
        unlink(o->tmp);
    else if (o->created)
        unlink(o->path);
    free(o->tmp);
    o->tmp = NULL;
}

static int write_json(struct out_file *o, const struct report_process *rps, size_t n,
                      const struct report_stats *stats)
{
    if (o->truncate && ftruncate(o->fd, 0) != 0)
        o->err = errno;
    int rc = o->err ? -1 : report_json_write(o->f, rps, n, stats);
    bool ok = out_finish(o);
    if (ok && rc != 0)
        o->err = ENOMEM;   /* not a write error: the report could not be built */
    else if (ok && o->tmp && rename(o->tmp, o->path) != 0)
        o->err = errno;
    if (o->tmp && o->err)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
    if (o->err) {
        say_cannot_write(o->name, strerror(o->err));
        return -1;
    }
    return 0;
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

/* The text report (with --stats), then the JSON. Returns whether a write
 * failed (said in one line where there is a place to say it). */
static bool write_reports(const struct mt_options *opt, const struct session *t, FILE *log,
                          struct out_file *logf, struct out_file *json,
                          const struct report_process *rps, size_t n)
{
    struct report_stats stats;
    bool write_failed = false;
    if (!rps) {
        fprintf(stderr, "memtrace: out of memory building the report\n");
        out_discard(json);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (n > 1)
                report_text_banner(log, &rps[i]);
            report_text_process(log, &rps[i]);
        }
        fill_stats(t, &stats);   /* after the text report: it counts symbolization */
        if (opt->stats)
            report_text_stats(log, &stats);
    }
    /* A failed write makes the exit status 2, whatever --error-exitcode says. */
    if (opt->log_path) {
        if (!out_finish(logf)) {
            say_cannot_write(logf->name, strerror(logf->err));
            write_failed = true;
        }
    } else if ((fflush(stderr) != 0 || ferror(stderr)) && !reader_gone(STDERR_FILENO)) {
        write_failed = true;   /* nowhere to say so */
    }
    if (rps && opt->json_path && write_json(json, rps, n, &stats) != 0)
        write_failed = true;
    return write_failed;
}

/* run exits like the program; attach succeeded when it detached or saw the
 * process end, whatever the process's own status; --error-exitcode wins
 * when a problem was found. */
static int exit_status(const struct mt_options *opt, const struct session *t,
                       const struct report_process *rps, size_t n)
{
    int status = 0;
    const struct process *main_proc = session_main_process(t);
    if (main_proc && opt->command != CMD_ATTACH)
        status = main_proc->end == END_SIGNALED ? 128 + main_proc->signal : main_proc->exit_code;
    if (opt->error_exitcode > 0 && report_found_problems(rps, n))
        status = opt->error_exitcode;
    return status;
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
    /* Report files first: a path that cannot be written costs no run. */
    struct out_file json = { 0 }, logf = { 0 };
    if (opt.json_path && out_open_json(&json, opt.json_path) != 0)
        return EXIT_USAGE;
    if (opt.log_path && out_open_log(&logf, opt.log_path) != 0) {
        out_discard(&json);
        return EXIT_USAGE;
    }
    FILE *log = opt.log_path ? logf.f : stderr;
    struct session t;
    bool attach = opt.command == CMD_ATTACH;
    if ((attach ? session_attach(&t, &opt, log) : session_run(&t, &opt, log)) != 0) {
        fprintf(stderr, "memtrace: %s\n", t.error);
        session_destroy(&t);
        out_discard(&json);
        if (opt.log_path)
            out_finish(&logf);
        return EXIT_USAGE;
    }
    size_t n = 0;
    struct report_process *rps = collect(&t, opt.show_kinds, &n);
    bool write_failed = write_reports(&opt, &t, log, &logf, &json, rps, n);
    int status = rps ? exit_status(&opt, &t, rps, n) : EXIT_USAGE;
    if (write_failed)
        status = EXIT_USAGE;
    free(rps);
    session_destroy(&t);
    return status;
}
