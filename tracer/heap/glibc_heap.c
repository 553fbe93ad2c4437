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

#define CHUNK_MMAPPED 2u
#define CHUNK_NON_MAIN_ARENA 4u
#define CHUNK_FLAGS 7u
#define PAGE_MASK 4095u

static bool read_words(leak_read_fn read, void *ctx, mt_addr addr, uint64_t *w, size_t n)
{
    return read(ctx, addr, w, n * 8) == (ssize_t)(n * 8);
}

/* An mmapped chunk: prev_size holds how far the mapping starts before the
 * chunk (memalign's correction), size the rest of it. */
static bool mmapped_extent(uint64_t prev_size, uint64_t size, mt_addr chunk, mt_addr end,
                           mt_addr map_lo, mt_addr map_hi, struct glibc_extent *out)
{
    mt_addr base = chunk - prev_size;
    uint64_t len = prev_size + size;
    if (prev_size > chunk || (base & PAGE_MASK) || (len & PAGE_MASK) || base < map_lo ||
        len > map_hi - base || end > base + len)
        return false;
    *out = (struct glibc_extent){ base, base + len };
    return true;
}

/* A non-main arena's heap: struct heap_info { ar_ptr, prev, size,
 * mprotect_size, ... } at the 64 MiB boundary below the chunk; the heap
 * is [heap, heap + mprotect_size), of which size bytes are in use. */
static bool arena_heap_extent(leak_read_fn read, void *ctx, mt_addr chunk, mt_addr end,
                              mt_addr map_lo, mt_addr map_hi, struct glibc_extent *out)
{
    mt_addr heap = chunk & ~(GLIBC_HEAP_MAX_SIZE - 1);
    uint64_t info[4];
    if (heap < map_lo || !read_words(read, ctx, heap, info, 4))
        return false;
    uint64_t used = info[2], reserved = info[3];
    if (!info[0] || used > reserved || reserved > GLIBC_HEAP_MAX_SIZE || end > heap + used)
        return false;
    mt_addr hi = heap + reserved < map_hi ? heap + reserved : map_hi;
    *out = (struct glibc_extent){ heap, hi };
    return true;
}

bool glibc_heap_extent(leak_read_fn read, void *read_ctx, mt_addr addr, uint64_t size,
                       mt_addr map_lo, mt_addr map_hi, mt_addr start_brk,
                       struct glibc_extent *out)
{
    uint64_t header[2];   /* prev_size, size | flags */
    mt_addr chunk = addr - 16;
    if (addr < map_lo + 16 || addr >= map_hi || (addr & 15) ||
        !read_words(read, read_ctx, chunk, header, 2))
        return false;
    uint64_t chunk_size = header[1] & ~(uint64_t)CHUNK_FLAGS;
    mt_addr end = addr + size;
    if (chunk_size < 32 || chunk_size > map_hi - chunk)
        return false;
    if (header[1] & CHUNK_MMAPPED)
        return end <= chunk + chunk_size &&
               mmapped_extent(header[0], chunk_size, chunk, end, map_lo, map_hi, out);
    /* An arena chunk's block may use the next chunk's prev_size word. */
    if (end > chunk + chunk_size + 8)
        return false;
    if (header[1] & CHUNK_NON_MAIN_ARENA)
        return arena_heap_extent(read, read_ctx, chunk, end, map_lo, map_hi, out);
    if (!start_brk || start_brk > chunk || start_brk < map_lo)
        return false;   /* a main arena grown by mmap where the break could not move */
    *out = (struct glibc_extent){ start_brk, map_hi };
    return true;
}
