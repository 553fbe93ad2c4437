/* Open-addressing hash table: target address -> block record. Used for the
 * live blocks and for the recently freed ones (double-free detection). */
#ifndef MT_ALLOC_TABLE_H
#define MT_ALLOC_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "mt_addr.h"
#include "alloc_fn.h"

/* 24 bytes: the table is memtrace's biggest memory cost (one slot per live
 * block, kept under 70% full). */
struct block {
    mt_addr addr;              /* 0 marks an empty slot; free(NULL) never gets here */
    uint64_t size : 44;        /* requested bytes (16 TiB at most) */
    uint64_t fn : 4;           /* enum alloc_fn that made the block */
    uint64_t allocator : 4;    /* alloc_model's allocator library that made it, 0: any */
    uint32_t alloc_stack;      /* stack_intern id */
    union {
        uint32_t seq;          /* live table: allocation order (wraps at 2^32) */
        uint32_t free_stack;   /* freed table: where it was freed */
    };
};

_Static_assert(FN_UNKNOWN < 16, "a block's fn has 4 bits");
_Static_assert(sizeof(struct block) == 24, "struct block grew: memtrace's RSS per block follows it");

struct alloc_table {
    struct block *slots;
    size_t capacity;       /* any size >= 16 (1024 to start); grows by half */
    size_t count;          /* live entries */
    uint64_t generation;   /* bumped by every put and remove: views of the slots
                            * (leak_scan) check it to know they are still valid */
};

int alloc_table_init(struct alloc_table *t);
/* An empty table with room for count blocks and no spare (a table that is
 * final: its process is gone). */
int alloc_table_init_fitting(struct alloc_table *t, size_t count);
/* Rebuilds t at the size its blocks need (alloc_table_init_fitting).
 * Returns 0, or -ENOMEM with t unchanged. Slot numbers change. */
int alloc_table_shrink_to_fit(struct alloc_table *t);
void alloc_table_destroy(struct alloc_table *t);
/* Inserts or replaces the record for b->addr. Returns 0 or -ENOMEM. */
int alloc_table_put(struct alloc_table *t, const struct block *b);
struct block *alloc_table_get(const struct alloc_table *t, mt_addr addr);
/* Removes addr; copies the record to *out when out is not NULL. */
bool alloc_table_remove(struct alloc_table *t, mt_addr addr, struct block *out);
int alloc_table_copy(struct alloc_table *dst, const struct alloc_table *src);

/* Iteration: for (size_t i = 0; (b = alloc_table_next(t, &i)); ) */
struct block *alloc_table_next(const struct alloc_table *t, size_t *cursor);

#endif
