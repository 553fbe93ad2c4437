/* Reachability of live blocks, by Valgrind memcheck's rules: a conservative
 * scan of root memory and registers, then of reached blocks' contents.
 *   still reachable  a start pointer to it is found from a root, directly or
 *                    through reachable blocks
 *   possibly lost    only interior pointers reach it
 *   definitely lost  nothing reaches it, and it is the first block of its lost
 *                    structure (tree or cycle) to be examined
 *   indirectly lost  nothing reaches it but another lost block points to it
 * Pure: target memory is read through a callback, so tests feed synthetic
 * memory. */
#ifndef MT_LEAK_SCAN_H
#define MT_LEAK_SCAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "alloc_table.h"

enum leak_kind { LEAK_DEFINITE, LEAK_INDIRECT, LEAK_POSSIBLE, LEAK_REACHABLE, LEAK_KIND_COUNT };

/* Reads up to len bytes at addr; returns the number read (0 when unmapped). */
typedef ssize_t (*leak_read_fn)(void *ctx, mt_addr addr, void *buf, size_t len);
/* Whether addr can be a vtable: inside read-only data of a module. */
typedef bool (*leak_vtable_fn)(void *ctx, mt_addr addr);

/* Valgrind's interior-pointer heuristics (--leak-check-heuristics): an
 * interior pointer that matches one counts as a start pointer. */
enum leak_heuristic {
    HEUR_STDSTRING = 1u << 0,            /* old-ABI std::string: ptr at 3 words, length <= capacity */
    HEUR_LENGTH64 = 1u << 1,             /* ptr at 8, first word = bytes after it */
    HEUR_NEWARRAY = 1u << 2,             /* new[] cookie: ptr at 8, first word = element count */
    HEUR_MULTIPLE_INHERITANCE = 1u << 3, /* ptr at a second vtable pointer of the object */
    HEUR_ALL = (1u << 4) - 1,
};

/* The allocator's rules. Memory the allocator manages holds pointers into
 * its blocks that the program never made. Before memcheck's rules (and the
 * heuristics above) judge an interior pointer ptr into block b, the scan asks
 * interior(state, rank, b, ptr), rank being b's position by address (stable
 * for the scan: a cache key). The scan's rules are glibc's (glibc_heap.h). */
enum leak_ptr_rule {
    LEAK_PTR_INTERIOR,   /* no rule: an interior pointer, as memcheck counts it */
    LEAK_PTR_IGNORE,     /* the allocator's own bookkeeping: no reference at all */
    LEAK_PTR_START,      /* the allocator's reference to its own block: a start pointer */
};
struct leak_rules {
    enum leak_ptr_rule (*interior)(void *state, size_t rank, const struct block *b, mt_addr ptr);
    void (*destroy)(void *state);   /* frees state; may be NULL */
    void *state;
};

/* What the scan concluded about one block. */
struct leak_verdict {
    enum leak_kind kind;
    uint64_t indirect_bytes;    /* definite leaders: bytes of the blocks they own */
    uint32_t indirect_blocks;
};

/* A definitely lost block that owns others: few, so kept apart (sparse). */
struct leak_owner {
    uint32_t rank;              /* UINT32_MAX: empty slot */
    uint32_t indirect_blocks;
    uint64_t indirect_bytes;
};

/* The scan does not copy the live blocks: it indexes the live table's slots
 * (order[] holds slot numbers by address), so it costs ~9 bytes per block on
 * top of the table (order 4, edge_start 4, state 1) plus 4 per pointer
 * between blocks. The table must not change while the scan is used; the
 * readers check its generation and give no verdict if it did. */
struct leak_scan {
    const struct alloc_table *live;
    uint64_t live_generation;
    uint32_t *order;                  /* slot index of the rank-th block by address */
    uint8_t *state;                   /* per rank: kind (bits 0-2) | reached << 3 */
    size_t n;
    mt_addr *fence;                   /* address of every LEAK_FENCE-th rank: a cache-sized
                                       * first step for lookups */
    size_t nfence;
    mt_addr lo, hi;                   /* [lowest block start, highest block end) */
    uint32_t *edge_start;             /* CSR: edges of block i are edges[edge_start[i]..[i+1]) */
    uint32_t *edges;                  /* target index << 1 | interior */
    size_t nedges, edges_cap;
    uint32_t *stack;                  /* mark worklist */
    size_t nstack, stack_cap;
    struct leak_owner *owners;        /* open addressing by rank, power-of-two capacity */
    size_t nowners, owners_cap;
    struct leak_rules rules;          /* the allocator's (glibc's) */
    leak_read_fn read;
    void *read_ctx;
    unsigned heuristics;              /* enum leak_heuristic bits */
    leak_vtable_fn is_vtable;         /* for HEUR_MULTIPLE_INHERITANCE; may be NULL */
    uint64_t bytes_scanned;
    uint64_t heuristic_hits;
};

/* Indexes live by address and reads every block's contents once to find the
 * pointers between blocks. live must outlive the scan. Returns 0 or -ENOMEM. */
int leak_scan_init(struct leak_scan *s, const struct alloc_table *live, leak_read_fn read,
                   void *read_ctx, unsigned heuristics, leak_vtable_fn is_vtable);
void leak_scan_destroy(struct leak_scan *s);

/* Roots. A region [lo, hi) of target memory, read in large chunks; with
 * starts_only, interior pointers found there are ignored (the allocator's
 * own data points at chunk headers inside user blocks: not a program
 * reference). */
void leak_scan_root_region(struct leak_scan *s, mt_addr lo, mt_addr hi, bool starts_only);
void leak_scan_root_words(struct leak_scan *s, const uint64_t *words, size_t n);

/* Whether any block starts in [lo, hi): such a mapping holds heap, which is
 * scanned only through the blocks themselves (leak_roots.c decides which
 * part of it is heap). */
bool leak_scan_has_block_in(const struct leak_scan *s, mt_addr lo, mt_addr hi);

/* Blocks by address: the rank of the first block starting at or above addr,
 * and the block of a rank (NULL past the last):
 * for (size_t r = leak_scan_rank_from(s, lo); (b = leak_scan_block_at(s, r)) && b->addr < hi; r++) */
size_t leak_scan_rank_from(const struct leak_scan *s, mt_addr addr);
const struct block *leak_scan_block_at(const struct leak_scan *s, size_t rank);

/* Roots the parts of [lo, hi) no block covers (attach: heap memory holding
 * blocks allocated before memtrace came, which may point at tracked ones). */
void leak_scan_root_gaps(struct leak_scan *s, mt_addr lo, mt_addr hi);

/* Propagates from the roots and classifies every block. */
int leak_scan_finish(struct leak_scan *s);
/* The scan is final and live will not change again (its process is gone):
 * what only the scan's work needed goes (the pointers between blocks, the
 * work list, the allocator's rules), and live is rebuilt at the size its
 * blocks need, the scan following them to their new slots. live must be
 * the table the scan indexes; when the scan no longer describes it, only
 * the table shrinks. Returns 0 or -ENOMEM (then both are as they were). */
int leak_scan_settle(struct leak_scan *s, struct alloc_table *live);
/* Whether the scan still describes live (same table, unchanged since init). */
bool leak_scan_current(const struct leak_scan *s, const struct alloc_table *live);
/* The verdict on the block whose start is addr; false when there is none. */
bool leak_scan_verdict(const struct leak_scan *s, mt_addr addr, struct leak_verdict *out);
/* Iteration in address order with verdicts, only while leak_scan_current:
 * for (size_t i = 0; (b = leak_scan_next(s, &i, &v)); ) */
const struct block *leak_scan_next(const struct leak_scan *s, size_t *cursor,
                                   struct leak_verdict *out);
const char *leak_kind_name(enum leak_kind k);   /* "definitely_lost", ... */

#endif
