/* memtrace run: find the program, fork it stopped, seize it so tracing
 * starts at its exec, and trace it and everything it forks to the end. */
#include "session_internal.h"
#include "elf_file.h"
#include "map_hooks.h"
#include "mt_time.h"
#include "ptrace_io.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEIZE_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
                       PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)

/* Signals sent to memtrace alone are meant for the program: every
 * catchable one whose default action would end memtrace (and so, through
 * PTRACE_O_EXITKILL, the program) is passed on. Not the faults (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) nor SIGABRT: those are
 * memtrace's own bugs. */
static bool forwarded(int sig)
{
    switch (sig) {
    case SIGTERM: case SIGHUP: case SIGUSR1: case SIGUSR2: case SIGXCPU: case SIGXFSZ:
    case SIGVTALRM: case SIGPROF: case SIGALRM: case SIGIO: case SIGPWR: case SIGSTKFLT:
        return true;
    default:
        return sig >= SIGRTMIN && sig <= SIGRTMAX;
    }
}

/* Ignored by memtrace for good: Ctrl-C and Ctrl-\ reach the program from
 * the terminal by themselves and memtrace stays to write the report; a
 * closed output (SIGPIPE) only loses what memtrace writes to it (EPIPE),
 * the program still gets its own SIGPIPE. */
static bool ignored(int sig)
{
    return sig == SIGINT || sig == SIGQUIT || sig == SIGPIPE;
}

/* Owned by this module: where the forwarded signals go (the launched
 * program while it runs, else nowhere), written before the handlers are
 * installed, and the actions memtrace had before, given back at the end. */
static volatile pid_t forward_to_pid;
static struct sigaction forward_saved[NSIG];
static bool forward_saved_set[NSIG];

static void forward_signal(int sig)
{
    /* kill() is async-signal-safe; the program decides what the signal means. */
    if (forward_to_pid > 0)
        kill(forward_to_pid, sig);
}

static void run_signal_set(sigset_t *set)
{
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++)
        if (forwarded(sig) || ignored(sig))
            sigaddset(set, sig);
}

/* Called after the fork: the program keeps the dispositions memtrace was
 * given (SIG_IGN would be inherited across fork and exec). */
static int install_forwarding(pid_t pid)
{
    forward_to_pid = pid;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig = 1; sig < NSIG; sig++) {
        if (forwarded(sig)) {
            if (sigaction(sig, &sa, &forward_saved[sig]) != 0)
                return -errno;
            forward_saved_set[sig] = true;
        } else if (ignored(sig)) {
            signal(sig, SIG_IGN);
        }
    }
    return 0;
}

/* The program is gone: nothing to forward to any more, and memtrace
 * writing its report takes those signals as it was given them. */
static void end_forwarding(void)
{
    forward_to_pid = 0;
    for (int sig = 1; sig < NSIG; sig++)
        if (forward_saved_set[sig]) {
            sigaction(sig, &forward_saved[sig], NULL);
            forward_saved_set[sig] = false;
        }
}

/* Finds PROGRAM the way execvp would, so errors are ours and precise. */
static int find_program(struct session *s, const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
    } else {
        const char *path = getenv("PATH");
        if (!path || !*path)
            path = "/usr/local/bin:/usr/bin:/bin";
        bool found = false;
        while (*path && !found) {
            size_t n = strcspn(path, ":");
            snprintf(out, len, "%.*s/%s", (int)n, n ? path : ".", name);
            struct stat st;
            found = stat(out, &st) == 0 && S_ISREG(st.st_mode);
            path += n + (path[n] == ':');
        }
        if (!found)
            return session_fail(s, "%s: program not found in PATH", name);
    }
    struct stat st;
    if (stat(out, &st) != 0)
        return session_fail(s, "%s: %s", out, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return session_fail(s, "%s is not a regular file", out);
    if (access(out, X_OK) != 0)
        return session_fail(s, "%s is not executable: %s", out, strerror(errno));
    char why[512];
    if (elf_file_check_executable(out, why, sizeof(why)) != 0)
        return session_fail(s, "%s", why);
    return 0;
}

/* The parent's side after the fork: waits for the child's stop, seizes
 * it, installs forwarding and lets it exec. The exec error pipe's read end
 * or -1. */
static int seize_child(struct session *s, pid_t pid, int errpipe[2])
{
    close(errpipe[1]);
    int status = 0;
    pid_t got;
    while ((got = pt_wait(pid, &status, WSTOPPED)) == -EINTR)
        ;
    if (got != pid || !WIFSTOPPED(status)) {
        /* Never left behind, stopped before its exec. */
        kill(pid, SIGKILL);
        while (pt_wait(pid, &status, 0) == -EINTR)
            ;
        close(errpipe[0]);
        return session_fail(s, "child %d did not stop before exec", pid);
    }
    int err = pt_seize(pid, SEIZE_OPTIONS);
    if (err) {
        kill(pid, SIGKILL);
        pt_wait(pid, &status, 0);
        close(errpipe[0]);
        if (err == -EPERM)
            return session_fail(s, "ptrace not permitted: cannot trace pid %d (%s; check "
                        "the sysctl kernel.yama.ptrace_scope, seccomp or container policy)",
                        pid, strerror(-err));
        return session_fail(s, "cannot trace pid %d: %s", pid, strerror(-err));
    }
    s->main_pid = pid;
    struct process *p = process_create(pid, s->opt->target_argv);
    if (!p || !process_add_thread(p, pid)) {
        kill(pid, SIGKILL);
        close(errpipe[0]);
        return session_fail(s, "out of memory");
    }
    session_add_process(s, p);
    if ((err = install_forwarding(pid)) != 0) {
        kill(pid, SIGKILL);
        close(errpipe[0]);
        end_forwarding();
        return session_fail(s, "sigaction: %s", strerror(-err));
    }
    kill(pid, SIGCONT);
    /* The exec error pipe is read only if the child exits before exec. */
    fcntl(errpipe[0], F_SETFL, O_NONBLOCK);
    s->trap.on_error_arg = s;
    return errpipe[0];
}

static int launch(struct session *s)
{
    char path[PATH_MAX];
    if (find_program(s, s->opt->target_argv[0], path, sizeof(path)) != 0)
        return -1;
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0)
        return session_fail(s, "pipe: %s", strerror(errno));
    /* memtrace's signals are blocked from the fork until their handlers
     * are in, so one sent meanwhile is forwarded or ignored then, never
     * acted on by default (which would kill memtrace and the child). */
    sigset_t ours, given;
    run_signal_set(&ours);
    if (sigprocmask(SIG_BLOCK, &ours, &given) != 0) {
        close(errpipe[0]);
        close(errpipe[1]);
        return session_fail(s, "sigprocmask: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(errpipe[0]);
        /* The program starts with the mask and the dispositions memtrace
         * was given: the parent changes its dispositions only after the
         * fork. */
        sigprocmask(SIG_SETMASK, &given, NULL);
        /* Wait for the tracer to seize us, so tracing starts at exec. */
        raise(SIGSTOP);
        execv(path, s->opt->target_argv);
        int e = errno;
        if (write(errpipe[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    int fd;
    if (pid < 0) {
        fd = session_fail(s, "fork: %s", strerror(errno));
        close(errpipe[0]);
        close(errpipe[1]);
    } else {
        fd = seize_child(s, pid, errpipe);
    }
    sigprocmask(SIG_SETMASK, &given, NULL);
    return fd;
}

/* A tracing failure ends tracing, not the program: every process is
 * restored and detached and runs on untraced, and the report says what was
 * recorded until then (detach_leave says which process may not be fully
 * restored). */
static void stop_tracing_after_error(struct session *s)
{
    s->tracing_failed = true;
    for (struct process *p = s->procs; p; p = p->next)
        if (p->end == END_RUNNING && !p->tracing_error)
            p->tracing_error = strdup(s->error);
    detach_leave(s, -1);
}

int session_run(struct session *s, const struct mt_options *opt, FILE *log)
{
    session_init(s, opt, log);
    if (!(s->snap = s->trap.snap = malloc(sizeof(*s->snap))))
        return session_fail(s, "out of memory");
    int errfd = launch(s);
    if (errfd < 0)
        return -1;
    s->start_ns = mt_now_ns();
    int rc = 0;
    while (session_anything_running(s)) {
        if (session_handle_next(s, errfd) != 0) {
            rc = -1;
            break;
        }
        /* Once reaped, its pid may be anyone's: forward no more. */
        struct process *main_proc = session_main_process(s);
        bool main_alive = main_proc && (main_proc->end == END_RUNNING ||
                                        (s->main_untraced && !s->main_reaped));
        if (forward_to_pid && !main_alive)
            forward_to_pid = 0;
    }
    if (rc == 0 && s->main_untraced && !s->main_reaped) {
        /* The program runs on untraced after an exec memtrace did not
         * follow: its end is the run's end, and its status memtrace's. */
        pid_t got;
        while ((got = pt_wait(s->main_pid, &s->main_status, 0)) == -EINTR)
            ;
        if (got != s->main_pid)
            rc = session_fail(s, "waiting for pid %d, untraced since its exec: %s", s->main_pid,
                              strerror(-got));
        s->main_reaped = got == s->main_pid;
    }
    s->end_ns = mt_now_ns();
    close(errfd);
    struct process *main_proc = session_main_process(s);
    if (rc != 0 && (!main_proc || !main_proc->exec_seen || s->program_refused)) {
        /* It never became the program (exec failed), or memtrace refused
         * it before its first instruction: nothing ran yet. */
        for (struct process *p = s->procs; p; p = p->next)
            if (p->end == END_RUNNING)
                kill(p->pid, SIGKILL);
        end_forwarding();
        return -1;
    }
    if (rc != 0)
        stop_tracing_after_error(s);
    /* The program is gone or untraced: nothing more to forward, unless it
     * runs on (session_wait_untraced forwards until it ends). */
    if (!main_proc || main_proc->end != END_DETACHED)
        end_forwarding();
    /* Only now is a segment's fate final: any traced process could have
     * removed it until the last one ended. */
    map_hooks_check_segments(s->procs);
    /* The program is gone: the report may use any CPU memtrace had, and a
     * process that runs on untraced gets the affinity it had. */
    placement_restore(&s->placement);
    return 0;
}

int session_wait_untraced(struct session *s, int *status)
{
    struct process *main_proc = session_main_process(s);
    if (!s->tracing_failed || !main_proc || main_proc->end != END_DETACHED)
        return -1;
    pid_t got;
    while ((got = pt_wait(s->main_pid, status, 0)) == -EINTR)
        ;
    end_forwarding();
    return got == s->main_pid ? 0 : -1;
}
