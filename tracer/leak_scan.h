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
/* Parses "none", "all" or a comma-separated list of stdstring, length64,
 * newarray, multipleinheritance. Returns 0 or -1. */
int leak_heuristics_parse(const char *list, unsigned *out);

struct leak_scan_block {
    mt_addr addr;
    uint64_t size;
    uint64_t indirect_bytes;   /* definite leaders: bytes of the blocks they own */
    uint64_t chunk_size;       /* glibc's size field before the block, read on demand (0: not yet) */
    uint32_t indirect_blocks;
    uint8_t kind;              /* enum leak_kind, final after leak_scan_finish */
    uint8_t reached;           /* internal: 0 none, 1 interior only, 2 start */
};

struct leak_scan {
    struct leak_scan_block *blocks;   /* sorted by addr */
    size_t n;
    mt_addr lo, hi;                   /* [lowest block start, highest block end) */
    uint32_t *edge_start;             /* CSR: edges of block i are edges[edge_start[i]..[i+1]) */
    uint32_t *edges;                  /* target index << 1 | interior */
    size_t nedges, edges_cap;
    uint32_t *stack;                  /* mark worklist */
    size_t nstack, stack_cap;
    leak_read_fn read;
    void *read_ctx;
    unsigned heuristics;              /* enum leak_heuristic bits */
    leak_vtable_fn is_vtable;         /* for HEUR_MULTIPLE_INHERITANCE; may be NULL */
    uint64_t bytes_scanned;
    uint64_t heuristic_hits;
};

/* Takes a snapshot of live (sorted) and reads every block's contents once to
 * find the pointers between blocks. Returns 0 or -ENOMEM. */
int leak_scan_init(struct leak_scan *s, const struct alloc_table *live, leak_read_fn read,
                   void *read_ctx, unsigned heuristics, leak_vtable_fn is_vtable);
void leak_scan_destroy(struct leak_scan *s);

/* Roots. A region [lo, hi) of target memory, read in large chunks; with
 * starts_only, interior pointers found there are ignored (the allocator's
 * own data points at chunk headers inside user blocks: not a program
 * reference). */
void leak_scan_root_region(struct leak_scan *s, mt_addr lo, mt_addr hi, bool starts_only);
void leak_scan_root_words(struct leak_scan *s, const uint64_t *words, size_t n);

/* Whether any block starts in [lo, hi): such memory is heap, scanned only
 * through the blocks themselves. */
bool leak_scan_has_block_in(const struct leak_scan *s, mt_addr lo, mt_addr hi);

/* Propagates from the roots and classifies every block. */
int leak_scan_finish(struct leak_scan *s);
/* The block whose start is addr, or NULL. */
const struct leak_scan_block *leak_scan_find(const struct leak_scan *s, mt_addr addr);
const char *leak_kind_name(enum leak_kind k);   /* "definitely_lost", ... */

#endif
