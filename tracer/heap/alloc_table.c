/* Live-block table: linear probing with tombstones, grown by half at 70%
 * load. Growing by 1.5 rather than 2 keeps the load between 47% and 70%
 * (34-51 bytes of table per live block, not 34-69): the table is memtrace's
 * biggest memory cost. Any capacity works: a slot is picked by
 * multiply-shift (hash * capacity >> 64), not by masking. */
#include "alloc_table.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The home slot of a: heap addresses share high bits and are 16-aligned,
 * so they are mixed over all 64 bits, then scaled to the capacity. */
static size_t home_slot(const struct alloc_table *t, mt_addr a)
{
    uint64_t x = a >> 4;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)(((unsigned __int128)x * t->capacity) >> 64);
}

int alloc_table_init(struct alloc_table *t)
{
    memset(t, 0, sizeof(*t));
    t->capacity = 1024;
    t->slots = calloc(t->capacity, sizeof(*t->slots));
    return t->slots ? 0 : -ENOMEM;
}

int alloc_table_init_fitting(struct alloc_table *t, size_t count)
{
    memset(t, 0, sizeof(*t));
    t->capacity = count < 8 ? 16 : count * 2;   /* load at most 50% */
    t->slots = calloc(t->capacity, sizeof(*t->slots));
    return t->slots ? 0 : -ENOMEM;
}

void alloc_table_destroy(struct alloc_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static struct block *find_slot(const struct alloc_table *t, mt_addr addr, struct block **insert_at)
{
    struct block *first_tomb = NULL;
    for (size_t i = home_slot(t, addr);; i = i + 1 == t->capacity ? 0 : i + 1) {
        struct block *s = &t->slots[i];
        if (s->addr == 0 && !s->tombstone) {
            if (insert_at)
                *insert_at = first_tomb ? first_tomb : s;
            return NULL;
        }
        if (s->tombstone) {
            if (!first_tomb)
                first_tomb = s;
        } else if (s->addr == addr) {
            return s;
        }
    }
}

static int grow(struct alloc_table *t)
{
    struct alloc_table bigger = {
        /* Mostly tombstones (malloc/free churn): same size, just cleaned.
         * A destroyed table starts again at the initial size. */
        .capacity = t->capacity == 0              ? 1024
                    : t->count * 4 > t->capacity ? t->capacity + t->capacity / 2
                                                 : t->capacity,
    };
    bigger.slots = calloc(bigger.capacity, sizeof(*bigger.slots));
    if (!bigger.slots)
        return -ENOMEM;
    for (size_t i = 0; i < t->capacity; i++) {
        struct block *s = &t->slots[i];
        if (s->addr && !s->tombstone) {
            struct block *dst;
            find_slot(&bigger, s->addr, &dst);
            *dst = *s;
            bigger.count++;
        }
    }
    bigger.used = bigger.count;
    bigger.generation = t->generation;
    free(t->slots);
    *t = bigger;
    return 0;
}

int alloc_table_put(struct alloc_table *t, const struct block *b)
{
    t->generation++;
    if ((t->used + 1) * 10 > t->capacity * 7) {
        int err = grow(t);
        if (err)
            return err;
    }
    struct block *dst;
    struct block *existing = find_slot(t, b->addr, &dst);
    if (existing) {
        *existing = *b;
        existing->tombstone = 0;
        return 0;
    }
    if (!dst->tombstone)
        t->used++;
    *dst = *b;
    dst->tombstone = 0;
    t->count++;
    return 0;
}

struct block *alloc_table_get(const struct alloc_table *t, mt_addr addr)
{
    if (addr == 0 || t->capacity == 0)   /* 0: destroyed, holds nothing */
        return NULL;
    return find_slot(t, addr, NULL);
}

bool alloc_table_remove(struct alloc_table *t, mt_addr addr, struct block *out)
{
    struct block *s = alloc_table_get(t, addr);
    if (!s)
        return false;
    if (out)
        *out = *s;
    t->generation++;
    memset(s, 0, sizeof(*s));
    s->tombstone = 1;
    t->count--;
    return true;
}

int alloc_table_copy(struct alloc_table *dst, const struct alloc_table *src)
{
    *dst = *src;
    dst->slots = malloc(src->capacity * sizeof(*src->slots));
    if (!dst->slots)
        return -ENOMEM;
    memcpy(dst->slots, src->slots, src->capacity * sizeof(*src->slots));
    return 0;
}

struct block *alloc_table_next(const struct alloc_table *t, size_t *cursor)
{
    while (*cursor < t->capacity) {
        struct block *s = &t->slots[(*cursor)++];
        if (s->addr && !s->tombstone)
            return s;
    }
    return NULL;
}

int alloc_table_shrink_to_fit(struct alloc_table *t)
{
    struct alloc_table small;
    if (alloc_table_init_fitting(&small, t->count) != 0)
        return -ENOMEM;
    if (small.capacity >= t->capacity) {
        alloc_table_destroy(&small);
        return 0;
    }
    const struct block *b;
    for (size_t i = 0; (b = alloc_table_next(t, &i));)
        alloc_table_put(&small, b);   /* cannot grow: room for every block */
    small.generation = t->generation + 1;
    alloc_table_destroy(t);
    *t = small;
    return 0;
}
