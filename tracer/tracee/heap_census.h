/* attach: the blocks glibc's malloc had handed out before memtrace came,
 * taken from the target's heap (glibc_census.h) while every thread is
 * parked, and put in the allocation model so the leak scan classifies
 * them and their frees are known. They have no allocation stack: each
 * group of them (same size, same C++ class when the first word points into
 * a vtable) gets a one-frame stack whose address is synthetic
 * (HEAP_CENSUS_IP_BASE + group), which heap_census_frame names. */
#ifndef MT_HEAP_CENSUS_H
#define MT_HEAP_CENSUS_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "glibc_census.h"
#include "symbolizer.h"

struct process;

#define HEAP_CENSUS_IP_BASE GLIBC_CENSUS_IP_BASE

struct census_group {
    uint64_t size;                /* malloc_usable_size of each block */
    uint64_t first_addr;          /* its first block */
    const char *type;             /* demangled class name, or NULL */
    char *label;                  /* the frame's function text (owned) */
    struct sym_frame_ext frame;
    uint64_t blocks;
};

struct heap_census {
    bool taken;                   /* the model holds the blocks from before attach */
    const char *layout_from;      /* "debug info" or "known build-id" */
    struct census_group *groups;
    size_t ngroups, groups_cap;
    char **types;                 /* class names the groups point to (owned) */
    size_t ntypes, types_cap;
    uint64_t blocks, bytes;
    size_t arenas, mmapped;
    uint64_t ns;                  /* how long it took, all threads parked */
};

/* Takes p's census through tid (all threads parked) and adds its blocks
 * to p's model; with show_contents, a group without a class is labelled
 * with the first bytes of one of its blocks. Returns 0, -1 with why (no census: the heap or the C
 * library is not one memtrace can read; the caller warns and goes on as
 * without one) or -ENOMEM. */
int heap_census_take(struct process *p, pid_t tid, bool show_contents, char *why,
                     size_t why_len);
/* The frame of a synthetic address, NULL for any other. */
const struct sym_frame_ext *heap_census_frame(const struct heap_census *c, uint64_t ip);
/* A forked child's copy (its model holds the same blocks). */
int heap_census_copy(struct heap_census *dst, const struct heap_census *src);
void heap_census_destroy(struct heap_census *c);

#endif
