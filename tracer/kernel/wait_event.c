/* Wait-status classification (see ptrace(2), "Stopped states"). */
#include "wait_event.h"
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

struct wait_event wait_event_classify(int status)
{
    struct wait_event ev = { .kind = WK_UNKNOWN };
    if (WIFEXITED(status)) {
        ev.kind = WK_EXITED;
        ev.value = WEXITSTATUS(status);
        return ev;
    }
    if (WIFSIGNALED(status)) {
        ev.kind = WK_KILLED;
        ev.value = WTERMSIG(status);
        ev.core = WCOREDUMP(status) ? 1 : 0;
        return ev;
    }
    if (!WIFSTOPPED(status))
        return ev;
    int sig = WSTOPSIG(status);
    int event = (int)((unsigned)status >> 16);
    switch (event) {
    case 0:
        break;
    case PTRACE_EVENT_CLONE: ev.kind = WK_CLONE; return ev;
    case PTRACE_EVENT_FORK: ev.kind = WK_FORK; return ev;
    case PTRACE_EVENT_VFORK: ev.kind = WK_VFORK; return ev;
    case PTRACE_EVENT_VFORK_DONE: ev.kind = WK_VFORK_DONE; return ev;
    case PTRACE_EVENT_EXEC: ev.kind = WK_EXEC; return ev;
    case PTRACE_EVENT_EXIT: ev.kind = WK_EXIT; return ev;
    case PTRACE_EVENT_STOP:
        ev.value = sig;
        ev.kind = (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
                      ? WK_GROUP_STOP : WK_EVENT_STOP;
        return ev;
    default:
        return ev;
    }
    if (sig == (SIGTRAP | 0x80)) {
        ev.kind = WK_SYSCALL;
    } else if (sig == SIGTRAP) {
        ev.kind = WK_TRAP;
        ev.value = SIGTRAP;
    } else {
        ev.kind = WK_SIGNAL;
        ev.value = sig;
    }
    return ev;
}

const char *wait_kind_name(enum wait_kind k)
{
    static const char *const names[] = {
        [WK_EXITED] = "exited", [WK_KILLED] = "killed", [WK_TRAP] = "trap",
        [WK_SIGNAL] = "signal", [WK_GROUP_STOP] = "group-stop", [WK_EVENT_STOP] = "event-stop",
        [WK_CLONE] = "clone", [WK_FORK] = "fork", [WK_VFORK] = "vfork",
        [WK_VFORK_DONE] = "vfork-done", [WK_EXEC] = "exec", [WK_EXIT] = "exit",
        [WK_SYSCALL] = "syscall", [WK_UNKNOWN] = "unknown",
    };
    return (unsigned)k <= WK_UNKNOWN ? names[k] : "?";
}
