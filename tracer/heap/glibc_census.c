/* The census of glibc malloc's heap (glibc_census.h): chunk walks over the
 * target's memory, read through a window so a heap of a million chunks
 * costs a few hundred reads, not a million. */
#include "glibc_census.h"
#include "grow.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct glibc_layout glibc_layout_2_35_x86_64 = {
    .arena_flags = 4, .arena_fastbins = 16, .arena_top = 96, .arena_next = 2160,
    .arena_system_mem = 2184, .arena_size = 2200,
    .mp_n_mmaps = 60, .mp_sbrk_base = 96,
    .heap_ar_ptr = 0, .heap_prev = 8, .heap_size = 16, .heap_info_size = 48,
    .nfastbins = 10, .safe_linking = true,
};

#define PREV_INUSE 1u
#define IS_MMAPPED 2u
#define NON_MAIN_ARENA 4u
#define SIZE_FLAGS 7u
#define MIN_CHUNK 32u
#define CHUNK_ALIGN 16u
#define FENCEPOST 16u
#define PAGE 4096u
#define HEAP_MAX (64ull << 20)
#define NONCONTIGUOUS 2u
#define MAX_ARENAS 4096u
#define MAX_HEAPS_PER_ARENA 65536u
#define MAX_FASTBIN_CHAIN (1u << 24)
#define WINDOW 65536u

struct walker {
    const struct glibc_census_in *in;
    struct glibc_census *out;
    uint64_t *fast;               /* chunks in fastbins, sorted before the walks */
    size_t nfast, fast_cap;
    uint64_t tcache_key;          /* its value; 0: no tcache check */
    uint64_t win_lo;              /* [win_lo, win_lo + win_len) is in win */
    size_t win_len;
    unsigned char win[WINDOW];
    char *why;
    size_t why_len;
};

static int fail(struct walker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct walker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, w->why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static bool word_at(struct walker *w, uint64_t addr, uint64_t *out)
{
    if (addr < w->win_lo || addr - w->win_lo + 8 > w->win_len) {
        ssize_t n = w->in->read(w->in->read_ctx, addr, w->win, WINDOW);
        w->win_lo = addr;
        w->win_len = n > 0 ? (size_t)n : 0;
        if (w->win_len < 8)
            return false;
    }
    memcpy(out, w->win + (addr - w->win_lo), 8);
    return true;
}

/* A word read outside the window, which stays where the walk is. */
static bool word_once(const struct walker *w, uint64_t addr, uint64_t *out)
{
    return w->in->read(w->in->read_ctx, addr, out, 8) == 8;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool in_fastbin(const struct walker *w, uint64_t chunk)
{
    return w->nfast && bsearch(&chunk, w->fast, w->nfast, sizeof(*w->fast), compare_u64);
}

static uint64_t reveal(const struct walker *w, uint64_t slot, uint64_t stored)
{
    return w->in->layout.safe_linking ? (slot >> 12) ^ stored : stored;
}

/* Every chunk on arena's fastbins, into w->fast. */
static int collect_fastbins(struct walker *w, uint64_t arena)
{
    const struct glibc_layout *l = &w->in->layout;
    for (unsigned i = 0; i < l->nfastbins; i++) {
        uint64_t chunk;
        if (!word_once(w, arena + l->arena_fastbins + 8ull * i, &chunk))
            return fail(w, "cannot read fastbin %u of the arena at 0x%" PRIx64, i, arena);
        for (unsigned steps = 0; chunk; steps++) {
            uint64_t stored;
            if ((chunk & (CHUNK_ALIGN - 1)) || steps == MAX_FASTBIN_CHAIN ||
                !word_once(w, chunk + 16, &stored))
                return fail(w, "fastbin %u of the arena at 0x%" PRIx64 " has a bad link "
                            "0x%" PRIx64, i, arena, chunk);
            uint64_t *fast = mt_grow(w->fast, &w->fast_cap, w->nfast + 1, sizeof(*fast));
            if (!fast)
                return -ENOMEM;
            w->fast = fast;
            w->fast[w->nfast++] = chunk;
            chunk = reveal(w, chunk + 16, stored);
        }
    }
    return 0;
}

static int add_block(struct walker *w, uint64_t addr, uint64_t usable, uint64_t first_word)
{
    struct glibc_census *c = w->out;
    struct glibc_block *b = mt_grow(c->blocks, &c->cap, c->n + 1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    c->blocks = b;
    c->blocks[c->n++] = (struct glibc_block){ addr, usable, first_word };
    return 0;
}

/* Walks the chunks of one heap from first. The walk ends at top (the
 * arena's top chunk, which must reach end exactly) or, in an older heap of
 * a non-main arena (top 0), at the two fenceposts sysmalloc left when it
 * moved to a new heap. */
static int walk_heap(struct walker *w, uint64_t first, uint64_t end, uint64_t top, bool non_main)
{
    uint64_t p = first, size_field;
    while (p != top) {
        if (p + 16 > end || !word_at(w, p + 8, &size_field))
            return fail(w, "the chunk at 0x%" PRIx64 " is outside its heap [0x%" PRIx64
                        ", 0x%" PRIx64 ")", p, first, end);
        uint64_t size = size_field & ~(uint64_t)SIZE_FLAGS;
        if (!top && size == FENCEPOST) {
            uint64_t next = 0;
            if (p + 2 * FENCEPOST > end || !word_at(w, p + FENCEPOST + 8, &next) ||
                (next & ~(uint64_t)SIZE_FLAGS) != FENCEPOST || end - (p + 2 * FENCEPOST) >= 16)
                return fail(w, "the heap [0x%" PRIx64 ", 0x%" PRIx64 ") does not end in "
                            "glibc's fenceposts", first, end);
            return 0;
        }
        if (size < MIN_CHUNK || (size & (CHUNK_ALIGN - 1)) || (size_field & IS_MMAPPED) ||
            size > end - p || (top && size > top - p))
            return fail(w, "the chunk at 0x%" PRIx64 " has a bad size field 0x%" PRIx64, p,
                        size_field);
        uint64_t next = p + size, next_field = 0;
        if (next + 16 <= end && !word_at(w, next + 8, &next_field))
            return fail(w, "cannot read the chunk at 0x%" PRIx64, next);
        bool in_use = next + 16 <= end && (next_field & PREV_INUSE);
        if (!in_use) {
            w->out->free_chunks++;
        } else if (in_fastbin(w, p)) {
            w->out->fastbin_chunks++;
        } else {
            if (((size_field & NON_MAIN_ARENA) != 0) != non_main)
                return fail(w, "the chunk at 0x%" PRIx64 " says it is of %s arena", p,
                            non_main ? "the main" : "another");
            uint64_t first_word = 0, second_word = 0;
            if (!word_at(w, p + 16, &first_word) || !word_at(w, p + 24, &second_word))
                return fail(w, "cannot read the block at 0x%" PRIx64, p + 16);
            if (w->tcache_key && second_word == w->tcache_key) {
                w->out->tcache_chunks++;
            } else {
                int err = add_block(w, p + 16, size - 8, first_word);
                if (err)
                    return err;
            }
        }
        p = next;
    }
    uint64_t top_field;
    if (!word_at(w, top + 8, &top_field) ||
        (top_field & ~(uint64_t)SIZE_FLAGS) != end - top)
        return fail(w, "the top chunk at 0x%" PRIx64 " does not end its heap at 0x%" PRIx64,
                    top, end);
    return 0;
}

static uint64_t chunk_start(uint64_t addr)
{
    return (addr + CHUNK_ALIGN - 1) & ~(uint64_t)(CHUNK_ALIGN - 1);
}

static int walk_main_arena(struct walker *w)
{
    const struct glibc_census_in *in = w->in;
    const struct glibc_layout *l = &in->layout;
    uint64_t sbrk_base, top, flags, system_mem;
    if (!word_once(w, in->mp + l->mp_sbrk_base, &sbrk_base) ||
        !word_once(w, in->main_arena + l->arena_top, &top) ||
        !word_once(w, in->main_arena + l->arena_flags, &flags) ||
        !word_once(w, in->main_arena + l->arena_system_mem, &system_mem))
        return fail(w, "cannot read main_arena at 0x%" PRIx64, in->main_arena);
    if (!sbrk_base)
        return 0;   /* malloc never used the break */
    if ((uint32_t)flags & NONCONTIGUOUS)
        return fail(w, "the main arena is not contiguous (the break could not grow)");
    w->out->heaps++;
    return walk_heap(w, chunk_start(sbrk_base), sbrk_base + system_mem, top, false);
}

struct heap_info {
    uint64_t at, ar_ptr, prev, size;
};

static bool read_heap_info(const struct walker *w, uint64_t at, struct heap_info *h)
{
    const struct glibc_layout *l = &w->in->layout;
    h->at = at;
    return word_once(w, at + l->heap_ar_ptr, &h->ar_ptr) &&
           word_once(w, at + l->heap_prev, &h->prev) && word_once(w, at + l->heap_size, &h->size);
}

/* A non-main arena: its heaps from the one holding top back to its first,
 * which holds the arena itself after its heap_info. */
static int walk_arena(struct walker *w, uint64_t arena)
{
    const struct glibc_layout *l = &w->in->layout;
    uint64_t top;
    if (!word_once(w, arena + l->arena_top, &top))
        return fail(w, "cannot read the arena at 0x%" PRIx64, arena);
    struct heap_info h;
    uint64_t at = top & ~(HEAP_MAX - 1);
    for (unsigned n = 0; at; n++) {
        if (n == MAX_HEAPS_PER_ARENA || !read_heap_info(w, at, &h) || h.ar_ptr != arena ||
            h.size > HEAP_MAX || (h.prev & (HEAP_MAX - 1)))
            return fail(w, "the heap at 0x%" PRIx64 " is not one of the arena at 0x%" PRIx64,
                        at, arena);
        uint64_t first = h.prev ? chunk_start(at + l->heap_info_size)
                                : chunk_start(arena + l->arena_size);
        if (!h.prev && arena != at + l->heap_info_size)
            return fail(w, "the arena at 0x%" PRIx64 " is not in its first heap", arena);
        w->out->heaps++;
        int err = walk_heap(w, first, at + h.size, at == (top & ~(HEAP_MAX - 1)) ? top : 0,
                            true);
        if (err)
            return err;
        at = h.prev;
    }
    return 0;
}

/* Whether [lo, hi) is a heap of a non-main arena (64 MiB aligned, with a
 * heap_info naming an arena on the list). */
static bool in_arena_heap(const uint64_t *arenas, size_t narenas, const struct walker *w,
                          uint64_t addr)
{
    struct heap_info h;
    uint64_t at = addr & ~(HEAP_MAX - 1);
    if (!read_heap_info(w, at, &h))
        return false;
    for (size_t i = 0; i < narenas; i++)
        if (h.ar_ptr == arenas[i])
            return true;
    return false;
}

/* Mmapped chunks: a mapping each, its chunk at the start, prev_size 0 and
 * the mapping's length | IS_MMAPPED in size. Adjacent ones share a VMA. */
static int find_mmapped(struct walker *w, const uint64_t *arenas, size_t narenas)
{
    const struct glibc_census_in *in = w->in;
    for (size_t i = 0; i < in->nanon; i++) {
        uint64_t lo = in->anon[i].lo, hi = in->anon[i].hi;
        if (narenas && in_arena_heap(arenas, narenas, w, lo))
            continue;
        for (uint64_t p = lo; p + PAGE <= hi;) {
            uint64_t header[3];
            if (in->read(in->read_ctx, p, header, sizeof(header)) != (ssize_t)sizeof(header)) {
                p += PAGE;
                continue;
            }
            uint64_t size = header[1] & ~(uint64_t)SIZE_FLAGS;
            if (header[0] == 0 && (header[1] & SIZE_FLAGS) == IS_MMAPPED && size &&
                !(size & (PAGE - 1)) && size <= hi - p) {
                int err = add_block(w, p + 16, size - 16, header[2]);
                if (err)
                    return err;
                w->out->mmapped++;
                p += size;
            } else {
                p += PAGE;
            }
        }
    }
    uint64_t n_mmaps = 0;
    if (!word_once(w, in->mp + in->layout.mp_n_mmaps, &n_mmaps))
        return fail(w, "cannot read mp_ at 0x%" PRIx64, in->mp);
    if ((uint32_t)n_mmaps != w->out->mmapped)
        return fail(w, "malloc counts %u mmapped chunks, memtrace found %zu", (uint32_t)n_mmaps,
                    w->out->mmapped);
    return 0;
}

static int take(struct walker *w)
{
    const struct glibc_census_in *in = w->in;
    uint64_t arenas[MAX_ARENAS];
    size_t narenas = 0;
    uint64_t a = in->main_arena;
    do {
        if (narenas == MAX_ARENAS || (a & 7))
            return fail(w, "the list of arenas from main_arena does not come back to it");
        int err = collect_fastbins(w, a);
        if (err)
            return err;
        arenas[narenas++] = a;
        if (!word_once(w, a + in->layout.arena_next, &a))
            return fail(w, "cannot read the arena at 0x%" PRIx64, arenas[narenas - 1]);
    } while (a != in->main_arena);
    w->out->arenas = narenas;
    if (w->nfast > 1)
        qsort(w->fast, w->nfast, sizeof(*w->fast), compare_u64);
    if (in->tcache_key && !word_once(w, in->tcache_key, &w->tcache_key))
        return fail(w, "cannot read tcache_key at 0x%" PRIx64, in->tcache_key);
    int err = walk_main_arena(w);
    for (size_t i = 1; i < narenas && !err; i++)
        err = walk_arena(w, arenas[i]);
    return err ? err : find_mmapped(w, arenas + 1, narenas - 1);
}

int glibc_census_take(const struct glibc_census_in *in, struct glibc_census *out, char *why,
                      size_t why_len)
{
    memset(out, 0, sizeof(*out));
    struct walker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->in = in;
    w->out = out;
    w->why = why;
    w->why_len = why_len;
    int err = take(w);
    free(w->fast);
    free(w);
    return err;
}

void glibc_census_free(struct glibc_census *c)
{
    free(c->blocks);
    memset(c, 0, sizeof(*c));
}
