/* The program's own memory mappings of one address space (mmap, mremap,
 * shmat), kept as disjoint page ranges sorted by address, so that a partial
 * munmap splits a mapping and mremap shrinks, grows or moves it the way the
 * kernel does. Pure: no ptrace, no /proc. */
#ifndef MT_MAP_TABLE_H
#define MT_MAP_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mt_addr.h"

#define MAP_TABLE_PAGE 4096u

struct map_region {
    mt_addr lo, hi;         /* page-aligned, lo < hi */
    uint32_t stack;         /* stack_intern id of the call that created it */
    int prot;               /* PROT_* */
    int flags;              /* MAP_* as passed to mmap; MAP_SHARED for shmat */
    int shmid;              /* -1: mmap; else the SysV segment attached here */
    uint32_t path;          /* map_table_path(); 0: none (anonymous) */
    bool arena;             /* made by an allocator library for itself (jemalloc's
                             * extents): memory it manages, not the program's */
};

struct map_table {
    struct map_region *regions;   /* sorted by lo, disjoint */
    size_t n, cap;
    char **paths;                 /* interned file paths; index + 1 is a region's path */
    size_t npaths, paths_cap;
};

/* Rounds a length up to whole pages, as the kernel does (0 stays 0). */
static inline uint64_t map_table_pages(uint64_t len)
{
    return len > UINT64_MAX - (MAP_TABLE_PAGE - 1) ? UINT64_MAX & ~(uint64_t)(MAP_TABLE_PAGE - 1)
                                                    : (len + MAP_TABLE_PAGE - 1) &
                                                          ~(uint64_t)(MAP_TABLE_PAGE - 1);
}

void map_table_init(struct map_table *t);
void map_table_destroy(struct map_table *t);
/* A forked child inherits its parent's mappings. Returns 0 or -ENOMEM. */
int map_table_copy(struct map_table *dst, const struct map_table *src);

/* Adds r (its path field ignored; path may be NULL), replacing whatever
 * was mapped in [r->lo, r->hi) (MAP_FIXED, SHM_REMAP). Returns 0, -EINVAL
 * for an empty or unaligned range, or -ENOMEM. */
int map_table_add(struct map_table *t, const struct map_region *r, const char *path);
/* Forgets [lo, hi), splitting regions that straddle its ends. Returns the
 * number of bytes that were tracked there, or -ENOMEM. */
int64_t map_table_remove(struct map_table *t, mt_addr lo, mt_addr hi);
/* mremap: the tracked pages of [old, old + old_len) move to
 * [new_addr, new_addr + new_len) with the attributes of the region at old
 * (keep_old: MREMAP_DONTUNMAP, or old_len 0, which duplicates a shared
 * mapping). Nothing happens when old is not tracked (not the program's).
 * Lengths in bytes, rounded up to pages. Returns 0 or -ENOMEM. */
int map_table_remap(struct map_table *t, mt_addr old, uint64_t old_len, mt_addr new_addr,
                    uint64_t new_len, bool keep_old);
/* The region containing addr, or NULL. */
const struct map_region *map_table_find(const struct map_table *t, mt_addr addr);
/* The path of r, or NULL. */
const char *map_table_path(const struct map_table *t, const struct map_region *r);

#endif
