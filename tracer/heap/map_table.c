/* Page ranges of the program's mappings. Mapping calls are rare (not the
 * malloc hot path), so a sorted array with memmove is enough. */
#include "map_table.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void map_table_init(struct map_table *t)
{
    memset(t, 0, sizeof(*t));
}

void map_table_destroy(struct map_table *t)
{
    for (size_t i = 0; t->paths && i < t->npaths; i++)
        free(t->paths[i]);
    free(t->paths);
    free(t->regions);
    memset(t, 0, sizeof(*t));
}

int map_table_copy(struct map_table *dst, const struct map_table *src)
{
    map_table_init(dst);
    if (src->n) {
        dst->regions = malloc(src->n * sizeof(*dst->regions));
        if (!dst->regions)
            return -ENOMEM;
        memcpy(dst->regions, src->regions, src->n * sizeof(*dst->regions));
        dst->n = dst->cap = src->n;
    }
    if (src->npaths) {
        dst->paths = calloc(src->npaths, sizeof(*dst->paths));
        if (!dst->paths) {
            map_table_destroy(dst);
            return -ENOMEM;
        }
        dst->paths_cap = src->npaths;
        for (size_t i = 0; i < src->npaths; i++) {
            if (!(dst->paths[i] = strdup(src->paths[i]))) {
                map_table_destroy(dst);
                return -ENOMEM;
            }
            dst->npaths++;
        }
    }
    return 0;
}

/* Index of the first region ending above addr (n when none). */
static size_t first_above(const struct map_table *t, mt_addr addr)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->regions[mid].hi <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int reserve(struct map_table *t, size_t extra)
{
    struct map_region *r = mt_grow(t->regions, &t->cap, t->n + extra, sizeof(*r));
    if (!r)
        return -ENOMEM;
    t->regions = r;
    return 0;
}

static void insert_at(struct map_table *t, size_t i, const struct map_region *r)
{
    memmove(&t->regions[i + 1], &t->regions[i], (t->n - i) * sizeof(*r));
    t->regions[i] = *r;
    t->n++;
}

/* Paths are few (one per mapped file): a linear search is fine. */
static int intern_path(struct map_table *t, const char *path, uint32_t *out)
{
    *out = 0;
    if (!path)
        return 0;
    for (size_t i = 0; i < t->npaths; i++) {
        if (strcmp(t->paths[i], path) == 0) {
            *out = (uint32_t)(i + 1);
            return 0;
        }
    }
    char **p = mt_grow(t->paths, &t->paths_cap, t->npaths + 1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    t->paths = p;
    if (!(t->paths[t->npaths] = strdup(path)))
        return -ENOMEM;
    *out = (uint32_t)++t->npaths;
    return 0;
}

int64_t map_table_remove(struct map_table *t, mt_addr lo, mt_addr hi)
{
    if (lo >= hi)
        return 0;
    /* A region straddling both ends becomes two: room for one more. */
    if (reserve(t, 1) != 0)
        return -ENOMEM;
    int64_t removed = 0;
    size_t i = first_above(t, lo);
    while (i < t->n && t->regions[i].lo < hi) {
        struct map_region *r = &t->regions[i];
        mt_addr cut_lo = r->lo > lo ? r->lo : lo;
        mt_addr cut_hi = r->hi < hi ? r->hi : hi;
        removed += (int64_t)(cut_hi - cut_lo);
        if (r->lo < lo && r->hi > hi) {          /* the middle goes: split */
            struct map_region tail = *r;
            tail.lo = hi;
            r->hi = lo;
            insert_at(t, i + 1, &tail);
            break;
        }
        if (r->lo < lo) {                        /* the end goes */
            r->hi = lo;
            i++;
        } else if (r->hi > hi) {                 /* the start goes */
            r->lo = hi;
            break;
        } else {                                 /* all of it goes */
            memmove(r, r + 1, (t->n - i - 1) * sizeof(*r));
            t->n--;
        }
    }
    return removed;
}

int map_table_add(struct map_table *t, const struct map_region *r, const char *path)
{
    if (r->lo >= r->hi || (r->lo | r->hi) % MAP_TABLE_PAGE)
        return -EINVAL;
    struct map_region nr = *r;
    if (intern_path(t, path, &nr.path) != 0 || map_table_remove(t, r->lo, r->hi) < 0 ||
        reserve(t, 1) != 0)
        return -ENOMEM;
    insert_at(t, first_above(t, r->lo), &nr);
    return 0;
}

int map_table_remap(struct map_table *t, mt_addr old, uint64_t old_len, mt_addr new_addr,
                    uint64_t new_len, bool keep_old)
{
    const struct map_region *at = map_table_find(t, old);
    if (!at)
        return 0;
    struct map_region moved = *at;
    old_len = map_table_pages(old_len);
    new_len = map_table_pages(new_len);
    if (!keep_old && old_len && map_table_remove(t, old, old + old_len) < 0)
        return -ENOMEM;
    if (new_len == 0)
        return 0;
    moved.lo = new_addr;
    moved.hi = new_addr + new_len;
    /* The path index is the table's own: re-adding by index keeps it. */
    uint32_t path = moved.path;
    int err = map_table_add(t, &moved, NULL);
    if (!err) {
        struct map_region *placed = (struct map_region *)map_table_find(t, new_addr);
        placed->path = path;
    }
    return err;
}

const struct map_region *map_table_find(const struct map_table *t, mt_addr addr)
{
    size_t i = first_above(t, addr);
    return i < t->n && t->regions[i].lo <= addr ? &t->regions[i] : NULL;
}

const char *map_table_path(const struct map_table *t, const struct map_region *r)
{
    return r->path && r->path <= t->npaths ? t->paths[r->path - 1] : NULL;
}
