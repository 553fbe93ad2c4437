/* The one choke point for ptrace(2) and waitpid(2). Every call returns 0 (or
 * a value) on success and -errno on failure, and is counted for --stats.
 * -ESRCH means "the tracee is gone", a normal outcome callers handle. */
#ifndef MT_PTRACE_IO_H
#define MT_PTRACE_IO_H
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"
#include "regs.h"
#include "wait_event.h"

struct ptrace_counters {
    uint64_t calls;        /* every ptrace request */
    uint64_t waits;        /* waitpid calls that returned a stop */
    uint64_t single_steps;
};

const struct ptrace_counters *ptrace_io_counters(void);

int pt_seize(pid_t pid, unsigned long options);
int pt_set_options(pid_t pid, unsigned long options);
int pt_interrupt(pid_t tid);
int pt_cont(pid_t tid, int sig);
int pt_listen(pid_t tid);
int pt_detach(pid_t tid, int sig);
int pt_getregs(pid_t tid, mt_regs *regs);
int pt_setregs(pid_t tid, const mt_regs *regs);
int pt_peek(pid_t tid, mt_addr addr, uint64_t *word);
int pt_poke(pid_t tid, mt_addr addr, uint64_t word);
int pt_geteventmsg(pid_t tid, unsigned long *msg);
int pt_singlestep(pid_t tid, int sig);
/* Up to max signals queued for tid alone (not yet delivered); returns
 * their number or -errno. */
int pt_peek_pending_signals(pid_t tid, siginfo_t *out, int max);
/* Waits for tid's next stop, retrying after EINTR, and classifies it.
 * Returns 0, -ESRCH when tid exited or was killed instead, or -errno. */
int pt_wait_stop(pid_t tid, struct wait_event *ev);
/* Signals a stopped task received while memtrace ran it for its own ends
 * (an injected syscall), to be sent again once it is done. */
#define PT_HELD_MAX 8
struct pt_held_signals {
    int sigs[PT_HELD_MAX];
    int n;
};
/* Continues tid (stopped) until it reports a stop of kind want; every other
 * stop is continued, a signal passed on, or kept in held when held is not
 * NULL (the task's handler must not run now). Returns 0, -ESRCH when tid
 * ended, or -errno. */
int pt_run_until(pid_t tid, enum wait_kind want, struct pt_held_signals *held);
/* waitpid(pid, &status, flags | __WALL); returns the tid or -errno. */
pid_t pt_wait(pid_t pid, int *status, int flags);

#endif
