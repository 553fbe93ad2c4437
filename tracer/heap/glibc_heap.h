/* glibc's own pointers into the blocks it hands out, as leak-scan rules
 * (struct leak_rules in leak_scan.h). memcheck's algorithm takes every word
 * that points into a block for a program reference; in a glibc process some
 * are glibc's bookkeeping:
 *   - malloc's free lists and main_arena point at chunk headers, which sit in
 *     the usable tail of the block before them: not a reference at all;
 *   - a thread descriptor points 16 bytes into the thread's DTV, a block the
 *     dynamic linker calloc'd: a start pointer (the DTV is reachable).
 * These are the scan's default rules: the allocator memtrace hooks is glibc's. */
#ifndef MT_GLIBC_HEAP_H
#define MT_GLIBC_HEAP_H
#include "leak_scan.h"

/* Where glibc keeps a block: the heap memory around it that only the
 * allocator owns (free chunks, bins, stale words), as opposed to memory the
 * program mapped itself, which the kernel may merge into the same VMA. */
#define GLIBC_HEAP_MAX_SIZE (64ull << 20)   /* a non-main arena's heap, aligned to it */
struct glibc_extent {
    mt_addr lo, hi;
};
/* The extent inside the mapping [map_lo, map_hi) of the block at addr
 * (size bytes): its mmapped chunk (the whole mapping glibc made for it),
 * its non-main arena's heap (from the heap_info at the heap's 64 MiB
 * boundary), or for the main arena [start_brk, map_hi) (start_brk from
 * /proc/PID/stat; the break's current end is not known to the kernel's
 * files, so a mapping merged above it stays heap). Returns false when the
 * chunk headers do not fit glibc's layout: the caller must then take the
 * whole mapping for heap. */
bool glibc_heap_extent(leak_read_fn read, void *read_ctx, mt_addr addr, uint64_t size,
                       mt_addr map_lo, mt_addr map_hi, mt_addr start_brk,
                       struct glibc_extent *out);

/* Fills rules with glibc's, reading target memory through read(read_ctx).
 * Returns 0 or -ENOMEM; rules->destroy(rules->state) frees them. */
int glibc_heap_rules(struct leak_rules *rules, leak_read_fn read, void *read_ctx);

#endif
