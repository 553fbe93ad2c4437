/* ptrace/waitpid wrappers with counters; nothing else calls the kernel's
 * tracing interface. */
#include "ptrace_io.h"
#include "fault.h"
#include <errno.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <elf.h>

/* Owned by this module: counters for --stats. */
static struct ptrace_counters counters;

const struct ptrace_counters *ptrace_io_counters(void)
{
    return &counters;
}

static int request(enum __ptrace_request req, pid_t pid, void *addr, void *data)
{
    counters.calls++;
    int injected = fault_next(FAULT_PTRACE);
    if (injected)
        return -injected;
    errno = 0;
    long rc = ptrace(req, pid, addr, data);
    if (rc == -1 && errno)
        return -errno;
    return 0;
}

int pt_seize(pid_t pid, unsigned long options)
{
    return request(PTRACE_SEIZE, pid, NULL, (void *)options);
}

int pt_set_options(pid_t pid, unsigned long options)
{
    return request(PTRACE_SETOPTIONS, pid, NULL, (void *)options);
}

int pt_interrupt(pid_t tid)
{
    return request(PTRACE_INTERRUPT, tid, NULL, NULL);
}

int pt_cont(pid_t tid, int sig)
{
    return request(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

int pt_listen(pid_t tid)
{
    return request(PTRACE_LISTEN, tid, NULL, NULL);
}

int pt_detach(pid_t tid, int sig)
{
    return request(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
}

int pt_singlestep(pid_t tid, int sig)
{
    counters.single_steps++;
    return request(PTRACE_SINGLESTEP, tid, NULL, (void *)(long)sig);
}

int pt_getregs(pid_t tid, mt_regs *regs)
{
    return request(PTRACE_GETREGS, tid, NULL, regs);
}

int pt_setregs(pid_t tid, const mt_regs *regs)
{
    return request(PTRACE_SETREGS, tid, NULL, (void *)regs);
}

int pt_peek(pid_t tid, mt_addr addr, uint64_t *word)
{
    counters.calls++;
    int injected = fault_next(FAULT_PTRACE);
    if (injected)
        return -injected;
    errno = 0;
    long v = ptrace(PTRACE_PEEKDATA, tid, (void *)addr, NULL);
    if (v == -1 && errno)
        return -errno;
    *word = (uint64_t)v;
    return 0;
}

int pt_poke(pid_t tid, mt_addr addr, uint64_t word)
{
    return request(PTRACE_POKEDATA, tid, (void *)addr, (void *)word);
}

int pt_geteventmsg(pid_t tid, unsigned long *msg)
{
    return request(PTRACE_GETEVENTMSG, tid, NULL, msg);
}

int pt_wait_stop(pid_t tid, struct wait_event *ev)
{
    for (;;) {
        int status = 0;
        pid_t r = pt_wait(tid, &status, 0);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return r;
        *ev = wait_event_classify(status);
        return ev->kind == WK_EXITED || ev->kind == WK_KILLED ? -ESRCH : 0;
    }
}

int pt_run_until(pid_t tid, enum wait_kind want, struct pt_held_signals *held)
{
    int err = pt_cont(tid, 0);
    while (!err) {
        struct wait_event ev;
        if ((err = pt_wait_stop(tid, &ev)))
            return err;
        if (ev.kind == want)
            return 0;
        int sig = ev.kind == WK_SIGNAL ? ev.value : 0;
        if (sig && held) {
            if (held->n < PT_HELD_MAX)
                held->sigs[held->n++] = sig;
            sig = 0;
        }
        err = pt_cont(tid, sig);
    }
    return err;
}

int pt_peek_pending_signals(pid_t tid, siginfo_t *out, int max)
{
    struct __ptrace_peeksiginfo_args args = { .off = 0, .flags = 0, .nr = max };
    counters.calls++;
    long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, out);
    return n < 0 ? -errno : (int)n;
}

pid_t pt_wait(pid_t pid, int *status, int flags)
{
    for (;;) {
        int injected = fault_next(FAULT_WAIT);
        if (injected)
            return -injected;
        pid_t r = waitpid(pid, status, flags | __WALL);
        if (r >= 0) {
            if (r > 0)
                counters.waits++;
            return r;
        }
        if (errno != EINTR)
            return -errno;
        /* EINTR: a signal to memtrace itself; the caller's loop decides. */
        return -EINTR;
    }
}
