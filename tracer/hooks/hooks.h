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
    bool show_mismatched;                   /* --show-mismatched-frees: report free of
                                             * new's block and the like */
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
 * since the last drain, reading through tid (stopped; running: while p
 * runs, from a --fast drain). Call it before handling any trap of p and
 * before its memory is scanned or left. */
int hooks_drain_returns(const struct trap_ctx *ctx, struct process *p, pid_t tid, bool running);
/* Completes call (already off t's pending stack) as returning retval:
 * detach uses it for a thread stopped inside a stub. */
int hooks_complete_call(struct thread *t, const struct pending_call *call, uint64_t retval);

/* --fast (fast_hooks.c). */
#define FAST_SLICE_BYTES 16384u   /* stack copied per event at most */
/* Records in the ring. A program that allocates faster than memtrace
 * applies waits when the ring is full; a longer ring absorbs the moments
 * memtrace is not scheduled. Each record's page is touched once (its stack
 * copy's only when it has one), at ~10 µs a page fault on a VM: a short
 * `run` gets a short ring, an attached server a long one. */
#define FAST_RING_RECORDS 1024u
#define FAST_RING_RECORDS_ATTACHED 16384u
#define FAST_RING_RECORDS_DEPTH1 32768u
struct fast_settings {
    unsigned depth;
    uint64_t ring_records;    /* 0: the default for depth and long_lived */
    bool long_lived;          /* attach: a running server, not a program started here */
    /* A free is held back until memtrace judged it (a bad one never runs).
     * Attach does not: a free waiting in the stubs' queue when memtrace
     * leaves (or dies) would never run. */
    bool defer_frees;
    /* The link-map hook (_dl_debug_state) records into the ring too, and
     * memtrace reads the link map when it drains that record: no int3 is
     * left in the process (attach: a memtrace killed leaves none behind). */
    bool link_map_on_stub;
};
/* The descriptor number of the link-map hook's stub (not an alloc_fn). */
#define FAST_FN_LINK_MAP 0x100u
/* Puts the hooked allocation family of p on the stub: the region and the
 * ring are injected through tid (every thread stopped), each movable entry
 * point gets its jump and leaves the breakpoint table. Returns how many
 * functions moved, or -errno with why (p then stays on breakpoints). */
int hooks_fast_install(struct process *p, pid_t tid, const struct fast_settings *set, char *why,
                       size_t why_len);
/* A child of fork (stopped, out of its fork syscall): a ring of its own. */
int hooks_fast_child(struct process *child, const struct process *parent, pid_t tid,
                     const struct fast_settings *set, char *why, size_t why_len);
/* Applies, in order, p's complete records written before the call.
 * stopped: no thread of p runs again (records left incomplete are skipped
 * and counted). */
int hooks_drain_fast(const struct trap_ctx *ctx, struct process *p, bool stopped);

#endif
