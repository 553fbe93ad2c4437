/* The contract between memtrace and the --fast stubs it injects: where the
 * stubs find their settings (the control block), how the shared event ring
 * is laid out, and what one event record holds. Included by the stub's
 * assembly source as well as by C, so only #defines live here. */
#ifndef MT_FAST_ABI_H
#define MT_FAST_ABI_H

/* The injected region: stub code pages, then the control page. The control
 * page is private and MADV_WIPEONFORK: in a child of fork it reads all
 * zero, so the stubs there pass every call through until memtrace gives the
 * child a ring of its own. */
#define FAST_CODE_PAGES 2
#define FAST_PAGE 4096
#define FAST_CTL_OFFSET (FAST_CODE_PAGES * FAST_PAGE)
#define FAST_REGION_SIZE (FAST_CTL_OFFSET + FAST_PAGE)

/* Control block fields (8 bytes each), from the control page's start. */
#define FAST_CTL_RING 0          /* the ring's address; 0: pass calls through */
#define FAST_CTL_TRACER_PID 8    /* memtrace's pid, asked whether alive when the ring is full */
#define FAST_CTL_ALLOC_LO 16     /* the allocator's own code: calls from there are */
#define FAST_CTL_ALLOC_HI 24     /* its business (realloc calling malloc), not events */
#define FAST_CTL_STUB_LO 32      /* the stub code: a tail call out of a stub is nested too */
#define FAST_CTL_STUB_HI 40
#define FAST_CTL_STACK_LO 48     /* the main thread's stack mapping, for bounding the */
#define FAST_CTL_STACK_HI 56     /* stack slice copied into a record */
#define FAST_CTL_SLICE_MAX 64    /* stack bytes copied per event (0: none) */
#define FAST_CTL_SLOT_SHIFT 72   /* log2 of a record's size */
#define FAST_CTL_CAP 80          /* records in the ring, a power of two */
#define FAST_CTL_CAP_MASK 88
#define FAST_CTL_FREE_ORIG 96    /* free's relocated prologue: the stubs run deferred frees */
#define FAST_CTL_DEPTH 104       /* frames per record; above 1, the stub walks the stack */
#define FAST_CTL_SLICES 112      /* the stack copies, from the ring's start: one per slot, */
#define FAST_CTL_SLICE_STRIDE 120 /* this many bytes apart; 0: in the record, at FAST_REC_SLICE */
#define FAST_CTL_NARROW 128      /* 1: narrow records (--depth 1), FAST_REC_NARROW bytes */
/* Wrappers of the allocator (operator new calling malloc, its nothrow
 * variant calling it): a call from their code is theirs, not an event.
 * Their spans' bounding box first, then each span's [lo, hi). */
#define FAST_CTL_WRAP_BOX_LO 136
#define FAST_CTL_WRAP_BOX_HI 144
#define FAST_CTL_WRAPS 152
#define FAST_WRAPS_MAX 6
/* memtrace's scratch pages, where it redirects the return of a function
 * left on a breakpoint: a call returning there is that function's tail
 * jump (a delete on a breakpoint into a free on a stub), passed through. */
#define FAST_CTL_SCRATCH_LO (FAST_CTL_WRAPS + FAST_WRAPS_MAX * 16)
#define FAST_CTL_SCRATCH_HI (FAST_CTL_SCRATCH_LO + 8)
#define FAST_CTL_NAME (FAST_CTL_SCRATCH_HI + 8)   /* scratch: the ring memfd's name */

/* Per hooked function, in the code pages after the shared stub: a thunk,
 * its descriptor and its relocated prologue. */
#define FAST_THUNKS_OFFSET 2048
#define FAST_THUNK_SIZE 96       /* thunk 16, descriptor 16, relocated prologue 64 */
#define FAST_THUNK_DESC 16
#define FAST_DESC_FN 0           /* 4 bytes: the hooks layer's enum alloc_fn, and above */
#define FAST_DESC_PATCH_SHIFT 16 /* it the patch's number */
#define FAST_DESC_FLAGS 4        /* FAST_FLAG_* (4 bytes) */
#define FAST_DESC_ORIG 8         /* the relocated prologue: calling it calls the function */

#define FAST_FLAG_BEFORE 1       /* a record before the call (free, realloc's old block) */
#define FAST_FLAG_AFTER 2        /* a record after it returns (every allocation) */
#define FAST_FLAG_MEMPTR 4       /* posix_memalign: the block is at *rdi on success */
#define FAST_FLAG_DEFER 8        /* free: recorded, not run; memtrace queues it once judged */
#define FAST_FLAG_NO_QUEUE 16    /* runs no queued free: called with the allocator's lock
                                  * held (malloc's own mmap) or the loader's */
#define FAST_FLAG_WIDE 32        /* needs the record's second line (ARG2-4, BLOCK) */
#define FAST_FLAG_TAIL 64        /* recorded before, then jumped into, never called: its
                                  * frame holds no stub (operator new may throw) */
#define FAST_FLAG_WRAPPABLE 128  /* called from a wrapper (operator new's malloc), still
                                  * recorded, phase FAST_PHASE_WRAPPED; others pass */
#define FAST_PHASE_WRAPPED 256   /* in a record's phase: made inside a wrapper, whose
                                  * own record carries the stack */

/* The ring's header, each counter on a cache line of its own. */
#define FAST_RING_WRITE 0        /* next ticket to hand out */
#define FAST_RING_READ 64        /* tickets below this are consumed (memtrace writes it) */
#define FAST_RING_FULL_WAITS 128 /* times a stub found the ring full */
#define FAST_RING_DOORBELL 192   /* futex word: a stub found the ring full */
#define FAST_RING_WAITERS 384    /* stubs sleeping on READ (futex) for room */
/* The frees memtrace judged good, for the stubs to run: memtrace appends
 * at the tail, any stub takes from the head (lock cmpxchg). A bad free is
 * never queued, so the program's allocator never sees it. A word is the
 * pointer, and above FAST_QUEUE_PATCH_SHIFT the number + 1 of the patch
 * whose function releases it (a delete); 0 there: free. */
#define FAST_RING_REL_HEAD 256
#define FAST_RING_REL_TAIL 320
#define FAST_RING_REL_SLOTS 4096
#define FAST_RING_REL_CAP 1024   /* a power of two */
#define FAST_QUEUE_PATCH_SHIFT 48
/* How many bytes of stack the walks from each return address needed, as
 * memtrace learns them: (ra << 16) | bytes / 16 per word, indexed by a hash
 * of ra. A stub copies that much (never more than the slice maximum); a
 * return address with no hint gets the whole slice. */
#define FAST_RING_HINTS (FAST_RING_REL_SLOTS + FAST_RING_REL_CAP * 8)
#define FAST_HINT_BITS 12
/* The frame rules memtrace learned, for the stubs to walk the stack with:
 * one word per return address, indexed by a hash of it (the slot or the
 * next). The word holds the return address and the rule at its call site,
 * so a stub never pairs an address with another's rule. memtrace writes,
 * the stubs only read; a return address with no rule here ends the stub's
 * walk, and the record carries a stack copy for memtrace to walk instead. */
#define FAST_RING_RULES (FAST_RING_HINTS + (1 << FAST_HINT_BITS) * 8)
#define FAST_RULE_BITS 14
#define FAST_RULE_RA_BITS 47         /* a user-space address */
#define FAST_RULE_OUTERMOST 47       /* bit: no caller */
#define FAST_RULE_CFA_RBP 48         /* bit: CFA = rbp + offset, else rsp + offset */
#define FAST_RULE_CFA_OFF 49         /* 11 bits: the offset / 8 */
#define FAST_RULE_CFA_OFF_MAX 2047
#define FAST_RULE_RBP_AT 60          /* 4 bits: 0 rbp unchanged, 15 undefined, */
#define FAST_RULE_RBP_UNDEFINED 15   /* else saved at CFA - 8 * it */
#define FAST_RING_SLOTS (FAST_RING_RULES + (1 << FAST_RULE_BITS) * 8)   /* record 0 */

/* One record. A record is complete when its seq is its ticket + 1. All a
 * malloc, calloc, realloc or free needs is in its first cache line, so a
 * narrow record (--depth 1) is that line alone, and the second too for a
 * function flagged FAST_FLAG_WIDE: one line for the stub's CPU to hand to
 * memtrace's per event, the ring's floor (bench row 1b). */
#define FAST_REC_SEQ 0
#define FAST_REC_FN 8            /* 4 bytes: enum alloc_fn */
#define FAST_REC_PHASE 12        /* 4 bytes: FAST_FLAG_BEFORE or FAST_FLAG_AFTER */
#define FAST_REC_ARG0 16
#define FAST_REC_ARG1 24
#define FAST_REC_RET 32          /* rax after the call */
#define FAST_REC_PAIR 40         /* an after record: its before record's ticket + 1, or 0 */
#define FAST_REC_RSP 48          /* at the function's entry: [rsp] is the return address */
#define FAST_REC_RA 56           /* that return address */
#define FAST_REC_ARG2 64
#define FAST_REC_ARG3 72         /* rcx and r8 at the entry: mmap's flags and fd, */
#define FAST_REC_ARG4 80         /* mremap's flags and new address */
#define FAST_REC_BLOCK 88        /* posix_memalign: *memptr after a success */
#define FAST_REC_NARROW 128      /* a narrow record's slot: the fields above */
#define FAST_REC_RBX 96          /* callee-saved registers at the entry, for unwinding */
#define FAST_REC_RBP 104
#define FAST_REC_R12 112
#define FAST_REC_R13 120
#define FAST_REC_R14 128
#define FAST_REC_R15 136
#define FAST_REC_NFRAMES 144     /* return addresses the stub walked, that follow; */
#define FAST_REC_SLICE_LEN 152   /* else 0, and this many bytes of stack from rsp, in the */
#define FAST_REC_SLICE 160       /* slot's slice (FAST_CTL_SLICES) or here */
#define FAST_REC_HEADER 160
/* A stack copy up to this long stays in its record (--depth 1: the return
 * address); longer ones go to the slot's slice. */
#define FAST_SLICE_INLINE_MAX 256

#endif
