/* --fast: the stub region and the event ring in the target, set up and
 * taken down through injected system calls, and memtrace's side of the
 * ring: it maps the same memfd and consumes records in ticket order. */
#ifndef MT_FAST_RING_H
#define MT_FAST_RING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "fast_abi.h"
#include "mt_addr.h"
#include "remote.h"

struct fast_ring_params {
    size_t slice_max;          /* stack bytes per record (0: the return address alone) */
    uint64_t cap;              /* records, a power of two */
    mt_addr alloc_lo, alloc_hi;
    mt_addr stack_lo, stack_hi;
    mt_addr free_orig;         /* free's relocated prologue, for the queued frees */
    unsigned depth;            /* frames the stubs walk (at most slice_max / 8); <= 1: none */
    bool narrow;               /* records of FAST_REC_NARROW bytes: no registers, no stack */
    /* The allocator's wrappers (FAST_CTL_WRAPS): [lo, hi) each. */
    mt_addr wraps[FAST_WRAPS_MAX][2];
    unsigned nwraps;
    mt_addr scratch_lo, scratch_hi;   /* FAST_CTL_SCRATCH_LO/HI */
};

struct fast_ring {
    mt_addr region;            /* in the target: code pages + control page; 0: none */
    mt_addr ring;              /* in the target; 0: none */
    size_t ring_bytes;
    uint8_t *local;            /* memtrace's mapping of the ring */
    unsigned slot_shift;
    bool narrow;               /* the stubs write narrow records (fast_abi.h) */
    mt_addr wraps[FAST_WRAPS_MAX][2];   /* as armed: a child of fork gets the same */
    unsigned nwraps;
    /* The stack copies, one per slot, apart from the records (0: in them):
     * a record is then a few cache lines, so a large ring costs the pages
     * its records touch, and a copy's pages only when a stub copies. */
    size_t slices_off;
    unsigned slice_shift;
    uint64_t cap;
    uint64_t read;             /* next ticket to consume */
    uint64_t consumed, cut_short;
    uint64_t full_waits_seen;  /* the stubs' count of full-ring waits, as last read */
    uint64_t rel_tail;         /* frees queued for the stubs so far */
    /* The shared words as memtrace last read or wrote them: each is a cache
     * line the stubs' CPU writes or reads, so it is touched once per batch,
     * not once per record. */
    uint64_t write_seen, rel_head_seen, read_published, rel_tail_published;
    uint64_t apply_ns;         /* memtrace's time applying records, under 1 µs not yet counted */
};

/* Maps the region near hint (code pages writable until sealed, the
 * control page wiped in children of fork) with the stub at its start, and
 * the ring, through the syscall gadget at gadget run by tid (stopped).
 * Returns 0, or -errno with why. */
int fast_ring_setup(struct fast_ring *fr, const struct remote *r, pid_t tid, mt_addr gadget,
                    mt_addr hint, const struct fast_ring_params *params, pid_t tracer, char *why,
                    size_t why_len);
/* A child of fork inherited the region (its control page wiped) and the
 * parent's ring: a ring of its own takes the parent's place at the same
 * address, and the child's stubs are armed. */
int fast_ring_setup_child(struct fast_ring *fr, const struct fast_ring *parent,
                          const struct remote *r, pid_t tid, mt_addr gadget,
                          const struct fast_ring_params *params, pid_t tracer, char *why,
                          size_t why_len);
/* Makes the code pages read-execute, then fills the control block: from
 * here on the stubs record. */
int fast_ring_arm(struct fast_ring *fr, const struct remote *r, pid_t tid, mt_addr gadget,
                  const struct fast_ring_params *params, pid_t tracer);
/* The stubs pass every call through from now on. */
int fast_ring_disarm(struct fast_ring *fr, const struct remote *r, pid_t tid);
/* Unmaps the region and the ring from the target (no thread may be in the
 * stub or in a call it made), and memtrace's mapping; a ring the program
 * replaced is left alone. The system calls run through the gadget, or, with
 * gadget 0, through bytes lent at bootstrap_pc. */
int fast_ring_remove(struct fast_ring *fr, pid_t tid, mt_addr gadget, mt_addr bootstrap_pc);
/* Does the region still hold the stub memtrace put there (the program may
 * have unmapped it, or mapped something of its own over it)? */
bool fast_ring_region_intact(const struct fast_ring *fr, const struct remote *r, pid_t tid);
/* memtrace's mapping only (the target is gone, or keeps its copy). */
void fast_ring_release(struct fast_ring *fr);

/* The next complete record, or NULL. stopped: no thread of the process
 * will run again, so a record some thread began and never completed is
 * skipped and counted in cut_short. */
const uint8_t *fast_ring_peek(struct fast_ring *fr, bool stopped);
/* The stack copy of record rec (FAST_REC_SLICE_LEN bytes). */
const uint8_t *fast_ring_slice(const struct fast_ring *fr, const uint8_t *rec);
/* The record fast_ring_peek returned is done with: its slot is free once
 * published. */
void fast_ring_pop(struct fast_ring *fr);
/* Publishes the pops and the queued frees to the stubs, and wakes those
 * sleeping for room in the ring, if any. */
void fast_ring_publish(struct fast_ring *fr);
/* Records written but not consumed yet (complete or not). */
uint64_t fast_ring_pending(const struct fast_ring *fr);
uint64_t fast_ring_full_waits(const struct fast_ring *fr);
/* Whether a free memtrace queued and no stub has run yet lies in [lo, hi):
 * that memory is still the allocator's, though its block is gone. */
bool fast_ring_queued_free_in(const struct fast_ring *fr, mt_addr lo, mt_addr hi);
/* Queues a free memtrace judged good, for a stub call to run once it is
 * published. False when the queue is full (the caller keeps it for later). */
bool fast_ring_queue_free(struct fast_ring *fr, mt_addr ptr);
/* Learns that a walk from return address ra needed needed bytes of stack
 * (from the entry's rsp up): the next records from there copy about that. */
void fast_ring_hint(struct fast_ring *fr, mt_addr ra, size_t needed);
/* A frame rule for the stubs' walk: at the call before return address ra,
 * the caller's CFA is rsp + cfa_off (cfa_is_rbp: rbp + cfa_off), its rbp
 * FAST_RBP_SAME, FAST_RBP_UNDEFINED or saved at CFA + rbp_at (negative);
 * outermost: there is no caller. Returns the rule's word in the ring's
 * table, or 0 when the stubs cannot hold it (memtrace keeps walking copies
 * of those stacks). */
#define FAST_RBP_SAME 0
#define FAST_RBP_UNDEFINED 1
uint64_t fast_rule_word(mt_addr ra, bool outermost, bool cfa_is_rbp, int64_t cfa_off,
                        int64_t rbp_at);
/* Teaches the stubs a rule word (from fast_rule_word). */
void fast_ring_learn_rule(struct fast_ring *fr, mt_addr ra, uint64_t word);
/* The modules changed: an address may now hold other code. */
void fast_ring_forget_rules(struct fast_ring *fr);
/* Sleeps until a stub finds the ring full or timeout_ns pass. */
void fast_ring_wait(const struct fast_ring *fr, uint64_t timeout_ns);
/* Is [lo, hi) memtrace's (the region or the ring): never a leak root. */
bool fast_ring_owns(const struct fast_ring *fr, mt_addr lo, mt_addr hi);

static inline uint64_t fast_rec_u64(const uint8_t *rec, unsigned off)
{
    uint64_t v;
    __builtin_memcpy(&v, rec + off, 8);
    return v;
}
static inline uint32_t fast_rec_u32(const uint8_t *rec, unsigned off)
{
    uint32_t v;
    __builtin_memcpy(&v, rec + off, 4);
    return v;
}

#endif
