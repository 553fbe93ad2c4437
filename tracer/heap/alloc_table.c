/* Live-block table: linear probing, grown by half at 70% load. A removal
 * shifts the entries after it back into the gap (no tombstones), so a table
 * of churning blocks never needs rebuilding and a miss stops at the first
 * empty slot. Growing by 1.5 rather than 2 keeps the load between 47% and
 * 70% (34-51 bytes of table per live block, not 34-69): the table is
 * memtrace's biggest memory cost. Any capacity works: a slot is picked by
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

static size_t next_slot(const struct alloc_table *t, size_t i)
{
    return i + 1 == t->capacity ? 0 : i + 1;
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

/* addr's slot, or (NULL) the empty slot where it would go. */
static struct block *find_slot(const struct alloc_table *t, mt_addr addr, struct block **insert_at)
{
    for (size_t i = home_slot(t, addr);; i = next_slot(t, i)) {
        struct block *s = &t->slots[i];
        if (s->addr == addr)
            return s;
        if (s->addr == 0) {
            if (insert_at)
                *insert_at = s;
            return NULL;
        }
    }
}

static int grow(struct alloc_table *t)
{
    struct alloc_table bigger = {
        /* A destroyed table starts again at the initial size. */
        .capacity = t->capacity == 0 ? 1024 : t->capacity + t->capacity / 2,
    };
    bigger.slots = calloc(bigger.capacity, sizeof(*bigger.slots));
    if (!bigger.slots)
        return -ENOMEM;
    for (size_t i = 0; i < t->capacity; i++) {
        struct block *s = &t->slots[i];
        struct block *dst = NULL;
        if (s->addr && !find_slot(&bigger, s->addr, &dst) && dst) {   /* each address once */
            *dst = *s;
            bigger.count++;
        }
    }
    bigger.generation = t->generation;
    free(t->slots);
    *t = bigger;
    return 0;
}

int alloc_table_put(struct alloc_table *t, const struct block *b)
{
    t->generation++;
    if ((t->count + 1) * 10 > t->capacity * 7) {
        int err = grow(t);
        if (err)
            return err;
    }
    struct block *dst;
    struct block *existing = find_slot(t, b->addr, &dst);
    if (existing) {
        *existing = *b;
        return 0;
    }
    *dst = *b;
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
    t->count--;
    /* Each entry after the gap, up to the next empty slot, moves into it
     * unless its home lies cyclically after the gap (it would then be
     * before its home, where no probe looks). */
    size_t gap = (size_t)(s - t->slots);
    for (size_t j = next_slot(t, gap); t->slots[j].addr; j = next_slot(t, j)) {
        size_t home = home_slot(t, t->slots[j].addr);
        bool stays = gap <= j ? (gap < home && home <= j) : (gap < home || home <= j);
        if (stays)
            continue;
        t->slots[gap] = t->slots[j];
        gap = j;
    }
    memset(&t->slots[gap], 0, sizeof(t->slots[gap]));
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
        if (s->addr)
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
