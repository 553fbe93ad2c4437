/* System calls injected into a stopped thread (inject.h). */
#include "inject.h"
#include "ptrace_io.h"
#include "regs.h"
#include "remote.h"
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

const uint8_t inject_gadget_code[INJECT_GADGET_SIZE] = { 0x0f, 0x05, ARCH_BREAKPOINT_INSN };

/* Continues tid until it traps at the int3 its rip leads to; signals that
 * arrive meanwhile are sent again afterwards, so the target's handler never
 * runs on memtrace's gadget. */
/* Writes back code memtrace changed for a moment. Once more after a
 * failure: left undone, the change would break the program (an int3 with
 * no tracer kills it), and the causes seen (EINTR, a transient EIO) pass. */
static int undo_poke(pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    int err = remote_poke_text(&remote_ptrace, tid, addr, buf, len);
    if (err && err != -ESRCH)
        err = remote_poke_text(&remote_ptrace, tid, addr, buf, len);
    return err;
}

static int run_to_trap(pid_t tid)
{
    struct pt_held_signals held = { .n = 0 };
    int err = pt_run_until(tid, WK_TRAP, &held);
    for (int i = 0; i < held.n; i++)
        syscall(SYS_tkill, tid, held.sigs[i]);
    return err;
}

int inject_leave_syscall(pid_t tid)
{
    mt_regs regs;
    int err = pt_getregs(tid, &regs);
    if (err)
        return err;
    mt_addr pc = regs_ip(&regs);
    uint8_t saved;
    static const uint8_t int3 = ARCH_BREAKPOINT_INSN;
    if ((err = remote_read(&remote_ptrace, tid, pc, &saved, 1)) || (err = remote_poke_text(&remote_ptrace, tid, pc, &int3, 1)))
        return err;
    err = run_to_trap(tid);
    int restore = undo_poke(tid, pc, &saved, 1);
    /* Also after a failure: a thread past the int3 goes back onto the
     * restored instruction, one that never ran stays where it was. */
    int regs_err = pt_getregs(tid, &regs);
    if (regs_err && regs_err != -ESRCH)
        regs_err = pt_getregs(tid, &regs);
    if (regs_err)
        return err ? err : restore ? restore : regs_err;
    if (regs_ip(&regs) == pc + 1) {
        regs_set_ip(&regs, pc);
        int set = pt_setregs(tid, &regs);
        if (set && set != -ESRCH)
            set = pt_setregs(tid, &regs);
        if (!err && !restore)
            return set;
    } else if (!err && !restore) {
        return -EPROTO;
    }
    return err ? err : restore;
}

int inject_syscall(pid_t tid, mt_addr gadget, long nr, const uint64_t args[6], int64_t *result)
{
    mt_regs saved, regs;
    int err = pt_getregs(tid, &saved);
    if (err)
        return err;
    regs = saved;
    regs_set_syscall(&regs, nr, args);
    regs_set_ip(&regs, gadget);
    if ((err = pt_setregs(tid, &regs)))
        return err;
    if (!(err = run_to_trap(tid)) && !(err = pt_getregs(tid, &regs))) {
        if (regs_ip(&regs) == gadget + sizeof(inject_gadget_code))
            *result = (int64_t)regs_retval(&regs);
        else
            err = -EPROTO;
    }
    /* The thread's own registers come back whatever happened: on failure
     * too it must not be left to run memtrace's gadget. */
    int restore = pt_setregs(tid, &saved);
    if (restore && restore != -ESRCH)
        restore = pt_setregs(tid, &saved);
    return err ? err : restore;
}

int inject_syscall_at(pid_t tid, mt_addr pc, long nr, const uint64_t args[6],
                                        int64_t *result)
{
    uint8_t saved[sizeof(inject_gadget_code)];
    int err = remote_read(&remote_ptrace, tid, pc, saved, sizeof(saved));
    if (!err)
        err = remote_poke_text(&remote_ptrace, tid, pc, inject_gadget_code, sizeof(inject_gadget_code));
    if (err)
        return err;
    err = inject_syscall(tid, pc, nr, args, result);
    int restore = undo_poke(tid, pc, saved, sizeof(saved));
    return err ? err : restore;
}

