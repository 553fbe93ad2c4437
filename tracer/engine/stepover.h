/* Getting a thread past an int3 that stays in memory: the instruction it
 * displaced is emulated on the trap's registers, or the thread is sent to
 * the instruction's out-of-line copy, which jumps back. Never a single
 * step, and never a moment without the int3. */
#ifndef MT_STEPOVER_H
#define MT_STEPOVER_H
#include <sys/types.h>
#include "breakpoint.h"
#include "remote.h"

/* Moves the thread tid, trapped on bp (regs: the trap's registers, rip
 * already at bp->addr or past the int3), past bp's displaced instruction.
 * stack_top is the word at rsp (a ret needs it). When redirect is not 0,
 * the return-address slot at rsp gets it, in the same write as the step's
 * own stack store if there is one. regs are what the thread must resume
 * with; memory is written through r. Returns 0 or -errno. */
int stepover_run(const struct remote *r, pid_t tid, const struct breakpoint *bp, mt_regs *regs,
                 uint64_t stack_top, mt_addr redirect);
/* stepover_run with no redirect, reading the word at rsp itself. */
int stepover_run_plain(const struct remote *r, pid_t tid, const struct breakpoint *bp,
                       mt_regs *regs);
/* Where a thread stopped at ip in one of t's out-of-line slots belongs in
 * the original code: bp->addr when the copy has not run, the instruction
 * after it when only the jump back has not. -EPROTO when ip is in no slot. */
int stepover_locate(const struct bp_table *t, mt_addr ip, mt_addr *orig);

#endif
