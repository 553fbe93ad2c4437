/* The one place that gets a thread past an int3 memtrace keeps: entry
 * hooks, the link-map breakpoint and detach all come here. */
#include "stepover.h"
#include "emulate.h"
#include <errno.h>

int stepover_run(const struct remote *r, pid_t tid, const struct breakpoint *bp, mt_regs *regs,
                 uint64_t stack_top, mt_addr redirect)
{
    mt_addr entry_sp = regs_sp(regs);
    struct stack_store store;
    if (emulate_step(&bp->step, regs, bp->addr, stack_top, &store) != 0)
        return -EINVAL;
    if (redirect && store.valid && store.addr + REGS_RETURN_SLOT == entry_sp) {
        uint64_t words[2] = { store.value, redirect };
        return remote_write(r, tid, store.addr, words, sizeof(words));
    }
    int err = 0;
    if (store.valid)
        err = remote_write(r, tid, store.addr, &store.value, sizeof(store.value));
    if (!err && redirect)
        err = remote_write(r, tid, entry_sp, &redirect, sizeof(redirect));
    return err;
}

int stepover_run_plain(const struct remote *r, pid_t tid, const struct breakpoint *bp,
                       mt_regs *regs)
{
    uint64_t stack_top = 0;
    if (bp->step.kind == STEP_RET) {
        int err = remote_read_u64(r, tid, regs_sp(regs), &stack_top);
        if (err)
            return err;
    }
    return stepover_run(r, tid, bp, regs, stack_top, 0);
}

int stepover_locate(const struct bp_table *t, mt_addr ip, mt_addr *orig)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct breakpoint *bp = &t->items[i];
        if (bp->step.kind != STEP_OUT_OF_LINE)
            continue;
        if (ip == bp->step.target) {
            *orig = bp->addr;   /* the copied instruction has not run */
            return 0;
        }
        if (ip == bp->step.target + bp->step.len) {
            *orig = bp->addr + bp->step.len;   /* it ran; the jump back has not */
            return 0;
        }
    }
    return -EPROTO;
}
