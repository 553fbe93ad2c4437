/* glibc's pointers into its own blocks (see glibc_heap.h): the knowledge of
 * malloc's chunk layout and of the dynamic linker's DTV that memcheck's
 * algorithm in leak_scan.c does without. */
#include "glibc_heap.h"
#include "alloc_fn.h"
#include <errno.h>
#include <stdlib.h>

#define CHUNK_CACHE 1024

struct glibc_heap {
    leak_read_fn read;
    void *read_ctx;
    /* Chunk size fields read on demand, direct-mapped by rank (rank + 1;
     * 0 empty): a per-block copy would cost 8 bytes for every block. */
    struct { uint32_t rank; uint64_t size; } chunk_cache[CHUNK_CACHE];
};

static bool read_word(const struct glibc_heap *g, mt_addr addr, uint64_t *w)
{
    return g->read(g->read_ctx, addr, w, sizeof(*w)) == (ssize_t)sizeof(*w);
}

/* The size field of block b's chunk (the word before b), or 1 (no size)
 * when it cannot be read. */
static uint64_t chunk_field(struct glibc_heap *g, size_t rank, const struct block *b)
{
    size_t c = rank % CHUNK_CACHE;
    if (g->chunk_cache[c].rank != (uint32_t)rank + 1) {
        uint64_t field = 0;
        g->chunk_cache[c].rank = (uint32_t)rank + 1;
        g->chunk_cache[c].size = read_word(g, b->addr - 8, &field) ? field : 1;
    }
    return g->chunk_cache[c].size;
}

/* glibc keeps a chunk header (prev_size, size) right after each chunk, and
 * its free lists point at those headers: stale fd/bk words left in a
 * recycled block, main_arena's top and bins. The header after block b sits
 * inside b's usable tail, at b - 16 + chunksize(b). A pointer there is the
 * allocator's, not the program's. */
static bool is_chunk_header_pointer(struct glibc_heap *g, size_t rank, const struct block *b,
                                    mt_addr ptr)
{
    uint64_t chunk = chunk_field(g, rank, b);
    uint64_t size = chunk & ~(uint64_t)7;
    bool mmapped = chunk & 2;
    return !mmapped && size >= 32 && ptr == b->addr - 16 + size;
}

/* glibc's thread descriptor points at the second entry of the thread's
 * DTV (INSTALL_DTV: dtv + 1), which _dl_allocate_tls callocs as
 * dtv_length + 2 entries of 16 bytes, dtv[0] holding dtv_length. The
 * descriptor lives in the thread's stack (kept in glibc's stack cache after
 * the thread ends): the DTV is glibc's, reachable, not a possible leak.
 * (memcheck shows it as possibly lost unless its __libc_freeres has freed
 * the stack cache; LeakSanitizer counts it reachable.) */
static bool is_dtv_pointer(const struct glibc_heap *g, const struct block *b, mt_addr ptr)
{
    uint64_t length = 0;
    return ptr == b->addr + 16 && b->fn == FN_CALLOC && b->size >= 48 && b->size % 16 == 0 &&
           read_word(g, b->addr, &length) && length == b->size / 16 - 2;
}

static enum leak_ptr_rule glibc_interior(void *state, size_t rank, const struct block *b,
                                         mt_addr ptr)
{
    struct glibc_heap *g = state;
    if (is_chunk_header_pointer(g, rank, b, ptr))
        return LEAK_PTR_IGNORE;
    if (is_dtv_pointer(g, b, ptr))
        return LEAK_PTR_START;
    return LEAK_PTR_INTERIOR;
}

int glibc_heap_rules(struct leak_rules *rules, leak_read_fn read, void *read_ctx)
{
    struct glibc_heap *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->read = read;
    g->read_ctx = read_ctx;
    *rules = (struct leak_rules){ .interior = glibc_interior, .destroy = free, .state = g };
    return 0;
}
