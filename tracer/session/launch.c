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

/* Owned by this module: where SIGTERM/SIGHUP sent to memtrace go (the
 * launched program), written before the handlers are installed. */
static volatile pid_t forward_to_pid;

static void forward_signal(int sig)
{
    /* kill() is async-signal-safe; the program decides what the signal means. */
    if (forward_to_pid > 0)
        kill(forward_to_pid, sig);
}

static int install_forwarding(pid_t pid)
{
    forward_to_pid = pid;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
        return -errno;
    /* Ctrl-C and Ctrl-\ reach the program from the terminal; memtrace stays
     * to write the report. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    return 0;
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

static int launch(struct session *s)
{
    char path[PATH_MAX];
    if (find_program(s, s->opt->target_argv[0], path, sizeof(path)) != 0)
        return -1;
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0)
        return session_fail(s, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return session_fail(s, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(errpipe[0]);
        /* Wait for the tracer to seize us, so tracing starts at exec. */
        raise(SIGSTOP);
        execv(path, s->opt->target_argv);
        int e = errno;
        if (write(errpipe[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    close(errpipe[1]);
    int status;
    if (pt_wait(pid, &status, WSTOPPED) != pid || !WIFSTOPPED(status)) {
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
        return session_fail(s, "sigaction: %s", strerror(-err));
    }
    kill(pid, SIGCONT);
    /* The exec error pipe is read only if the child exits before exec. */
    fcntl(errpipe[0], F_SETFL, O_NONBLOCK);
    s->trap.on_error_arg = s;
    return errpipe[0];
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
    }
    s->end_ns = mt_now_ns();
    close(errfd);
    /* Only now is a segment's fate final: any traced process could have
     * removed it until the last one ended. */
    map_hooks_check_segments(s->procs);
    if (rc != 0) {
        /* Never leave a target running with our int3s in it. */
        for (struct process *p = s->procs; p; p = p->next)
            if (p->end == END_RUNNING)
                kill(p->pid, SIGKILL);
    }
    /* The program is gone: the report may use any CPU memtrace had. */
    placement_restore(&s->placement);
    return rc;
}
