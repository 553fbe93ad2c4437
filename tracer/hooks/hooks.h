/* Hooks on the allocation and mapping families: resolving the functions the
 * dynamic linker binds, planting their entry breakpoints, and turning entry
 * and return traps into allocation events, bad-free errors and mapping
 * events. */
#ifndef MT_HOOKS_H
#define MT_HOOKS_H
#include <stddef.h>
#include <stdint.h>
#include "process.h"
#include "trap_stats.h"
#include "unwind.h"

/* The trap counters, for --stats: the list is in base/trap_stats.h. */
struct trap_stats {
    MT_TRAP_STATS(MT_STATS_FIELD)
};

/* What a trap handler needs from the tracer. */
struct trap_ctx {
    unsigned depth;                         /* frames to keep per stack */
    unsigned sample;                        /* --sample N: unwind 1 call in N (0, 1: all) */
    uint64_t min_size;                      /* --min-size: no stack for smaller blocks */
    struct trap_stats *stats;
    struct stack_snapshot *snap;            /* reused buffer */
    /* Called for each bad free, before the call is skipped. */
    void (*on_error)(void *arg, struct process *p, const struct alloc_error *err);
    void *on_error_arg;
};

/* Resolves each family member in link-map order (first definition wins,
 * as the dynamic linker binds it) and plants entry breakpoints on the ones
 * not planted yet. Returns the number of functions hooked, or -errno with
 * why when nothing could be hooked. */
int hooks_install(struct process *p, pid_t tid, char *why, size_t why_len);

/* Trap at the entry breakpoint bp. regs are the trap's registers; on
 * return they are what the thread must resume with. Returns 0 or -errno. */
int hooks_on_entry(const struct trap_ctx *ctx, struct thread *t, const struct breakpoint *bp,
                   mt_regs *regs);
/* Trap on the return trampoline. */
int hooks_on_return(const struct trap_ctx *ctx, struct thread *t, mt_regs *regs);
/* Completes, in order, the calls of p that returned through their stubs
 * since the last drain, reading through tid (stopped). Call it before
 * handling any trap of p and before its memory is scanned or left. */
int hooks_drain_returns(const struct trap_ctx *ctx, struct process *p, pid_t tid);
/* Completes call (already off t's pending stack) as returning retval:
 * detach uses it for a thread stopped inside a stub. */
int hooks_complete_call(struct thread *t, const struct pending_call *call, uint64_t retval);

#endif
