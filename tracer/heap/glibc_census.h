/* The census of glibc malloc's heap: every block allocated when memtrace
 * attaches, found by walking the allocator's own structures in the target's
 * memory (read through a callback, so tests feed synthetic heaps):
 *   - the main arena's chunks, from the start of the break heap to its top;
 *   - every other arena (main_arena.next) through its heaps (heap_info,
 *     64 MiB aligned, linked by prev), each walked to its top or its
 *     fenceposts;
 *   - mmapped chunks, one per mapping, found in the anonymous mappings and
 *     counted against malloc's own count (mp_.n_mmaps).
 * A chunk is allocated when the next chunk's PREV_INUSE bit says so and it
 * is in no fastbin and no tcache (a tcache entry's second word holds
 * tcache_key). Any size, flag or link that does not fit the layout ends the
 * census with a reason: a heap caught mid-update or corrupted must not be
 * guessed at. */
#ifndef MT_GLIBC_CENSUS_H
#define MT_GLIBC_CENSUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leak_scan.h"

/* The frames of the census's blocks: one synthetic address per group, above
 * any user-space address, so never a real frame. */
#define GLIBC_CENSUS_IP_BASE 0xfff0000000000000ull
static inline bool glibc_census_ip(uint64_t ip)
{
    return ip >= GLIBC_CENSUS_IP_BASE;
}

/* Offsets (bytes) into glibc's struct malloc_state, struct malloc_par and
 * heap_info that the census reads, and the sizes it steps over. */
struct glibc_layout {
    uint32_t arena_flags, arena_fastbins, arena_top, arena_next, arena_system_mem;
    uint32_t arena_size;        /* sizeof(struct malloc_state) */
    uint32_t mp_n_mmaps, mp_sbrk_base;
    uint32_t heap_ar_ptr, heap_prev, heap_size;
    uint32_t heap_info_size;    /* sizeof(heap_info) */
    unsigned nfastbins;
    bool safe_linking;          /* glibc >= 2.32 mangles fastbin and tcache links */
};

/* An anonymous mapping where mmapped chunks may be. */
struct glibc_region {
    uint64_t lo, hi;
};

struct glibc_census_in {
    leak_read_fn read;
    void *read_ctx;
    struct glibc_layout layout;
    uint64_t main_arena, mp;
    uint64_t tcache_key;        /* address of glibc's tcache_key; 0: no tcache */
    const struct glibc_region *anon;
    size_t nanon;
};

/* One allocated block: the pointer malloc returned, malloc_usable_size's
 * bytes, and its first word (a C++ object's vtable pointer). */
struct glibc_block {
    uint64_t addr;
    uint64_t usable;
    uint64_t first_word;
};

struct glibc_census {
    struct glibc_block *blocks;   /* by arena, then address */
    size_t n, cap;
    size_t arenas, heaps, mmapped;
    size_t free_chunks, fastbin_chunks, tcache_chunks;
};

/* Returns 0; -1 with why when the heap does not fit the layout; -ENOMEM.
 * out is filled either way; free it with glibc_census_free. */
int glibc_census_take(const struct glibc_census_in *in, struct glibc_census *out, char *why,
                      size_t why_len);
void glibc_census_free(struct glibc_census *c);

/* The layout of glibc 2.35 to 2.38 on x86-64 (heap_info gained pagesize in
 * 2.35), for a libc without debug info that memtrace knows by build-id. */
extern const struct glibc_layout glibc_layout_2_35_x86_64;

#endif
