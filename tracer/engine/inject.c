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
    int restore = remote_poke_text(&remote_ptrace, tid, pc, &saved, 1);
    if (err || (err = restore) || (err = pt_getregs(tid, &regs)))
        return err;
    if (regs_ip(&regs) != pc + 1)
        return -EPROTO;
    regs_set_ip(&regs, pc);
    return pt_setregs(tid, &regs);
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
    if ((err = pt_setregs(tid, &regs)) || (err = run_to_trap(tid)))
        return err;
    if ((err = pt_getregs(tid, &regs)))
        return err;
    if (regs_ip(&regs) != gadget + sizeof(inject_gadget_code))
        return -EPROTO;
    *result = (int64_t)regs_retval(&regs);
    return pt_setregs(tid, &saved);
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
    int restore = remote_poke_text(&remote_ptrace, tid, pc, saved, sizeof(saved));
    return err ? err : restore;
}

