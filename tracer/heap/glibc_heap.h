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

/* Fills rules with glibc's, reading target memory through read(read_ctx).
 * Returns 0 or -ENOMEM; rules->destroy(rules->state) frees them. */
int glibc_heap_rules(struct leak_rules *rules, leak_read_fn read, void *read_ctx);

#endif
