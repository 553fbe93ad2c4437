/* The trap counters of --stats, as one X-macro list: X(name) per counter, in
 * report order. The hooks layer and the session count them (struct
 * trap_stats in hooks/hooks.h); report/stats.h puts them first in the full
 * --stats list; cli/main.c copies them into the report from this list. They
 * live here, in the layer below both hooks and report, because neither may
 * include the other's headers. Adding a trap counter: one line here, plus
 * the line that increments it. */
#ifndef MT_TRAP_STATS_H
#define MT_TRAP_STATS_H
#include <stdint.h>

#define MT_TRAP_STATS(X)                                                              \
    X(traps)              /* every int3 of ours */                                    \
    X(entry_traps)                                                                    \
    X(return_traps)       /* calls returning through the int3 trampoline */           \
    X(stub_returns)       /* returns recorded by a return stub, without a trap */     \
    X(rendezvous_traps)   /* link-map changes */                                      \
    X(nested_calls)       /* allocator calls made by the allocator itself */          \
    X(allocator_frees)    /* frees of unknown blocks by the allocator's own code */   \
    X(fast_events)        /* --fast: records taken from the ring, without a trap */  \
    X(fast_full_waits)    /* --fast: times a call found the ring full and waited */  \
    X(fast_cut_short)     /* --fast: records a thread began and died before ending */ \
    X(fast_stub_walks)    /* --fast: records whose stack the stub walked itself */    \
    X(fast_apply_us)      /* --fast: memtrace's time applying records */

/* X for a struct of counters: one uint64_t field per name. */
#define MT_STATS_FIELD(name) uint64_t name;

#endif
