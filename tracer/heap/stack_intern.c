/* Stack interning with an FNV-style hash and an open-addressing id index. */
#include "stack_intern.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_ips(const mt_addr *ips, unsigned depth)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ depth;
    for (unsigned i = 0; i < depth; i++) {
        h ^= ips[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h | 1;
}

static size_t rec_offset(const struct stack_rec *r)
{
    return (size_t)r->offset_lo | ((size_t)r->offset_hi << 32);
}

int stack_intern_init(struct stack_intern *si)
{
    memset(si, 0, sizeof(*si));
    si->recs_cap = 256;
    si->recs = calloc(si->recs_cap, sizeof(*si->recs));
    si->nbuckets = 512;
    si->buckets = calloc(si->nbuckets, sizeof(*si->buckets));
    si->ips_cap = 4096;
    si->ips = malloc(si->ips_cap * sizeof(*si->ips));
    if (!si->recs || !si->buckets || !si->ips) {
        stack_intern_destroy(si);
        return -ENOMEM;
    }
    si->nrecs = 1; /* STACK_NONE */
    return 0;
}

void stack_intern_destroy(struct stack_intern *si)
{
    free(si->ips);
    free(si->recs);
    free(si->buckets);
    memset(si, 0, sizeof(*si));
}

static void *dup_array(const void *src, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p)
        memcpy(p, src, bytes);
    return p;
}

int stack_intern_copy(struct stack_intern *dst, const struct stack_intern *src)
{
    *dst = *src;
    dst->ips = dup_array(src->ips, src->ips_cap * sizeof(*src->ips));
    dst->recs = dup_array(src->recs, src->recs_cap * sizeof(*src->recs));
    dst->buckets = dup_array(src->buckets, src->nbuckets * sizeof(*src->buckets));
    if (!dst->ips || !dst->recs || !dst->buckets) {
        stack_intern_destroy(dst);
        return -ENOMEM;
    }
    return 0;
}

/* Rebuilds the id index with n buckets (a power of two). */
static int reindex(struct stack_intern *si, size_t n)
{
    uint32_t *b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (uint32_t id = 1; id < si->nrecs; id++) {
        size_t i = si->recs[id].hash & (n - 1);
        while (b[i])
            i = (i + 1) & (n - 1);
        b[i] = id;
    }
    free(si->buckets);
    si->buckets = b;
    si->nbuckets = n;
    return 0;
}

static int rehash(struct stack_intern *si)
{
    return reindex(si, si->nbuckets * 2);
}

uint32_t stack_intern_add(struct stack_intern *si, const mt_addr *ips, unsigned depth)
{
    if (depth == 0)
        return STACK_NONE;
    if (si->nbuckets == 0) {   /* trimmed */
        size_t n = 512;
        while (si->nrecs * 2 > n)
            n *= 2;
        if (reindex(si, n) != 0)
            goto oom;
    }
    if (depth > UINT16_MAX)
        depth = UINT16_MAX;
    uint64_t h = hash_ips(ips, depth);
    size_t mask = si->nbuckets - 1;
    size_t i = h & mask;
    for (; si->buckets[i]; i = (i + 1) & mask) {
        const struct stack_rec *r = &si->recs[si->buckets[i]];
        if (r->hash == h && r->depth == depth &&
            memcmp(&si->ips[rec_offset(r)], ips, depth * sizeof(*ips)) == 0)
            return si->buckets[i];
    }
    mt_addr *ips_grown = mt_grow(si->ips, &si->ips_cap, si->nips + depth, sizeof(*ips_grown));
    if (!ips_grown)
        goto oom;
    si->ips = ips_grown;
    struct stack_rec *recs_grown = mt_grow(si->recs, &si->recs_cap, si->nrecs + 1,
                                           sizeof(*recs_grown));
    if (!recs_grown)
        goto oom;
    si->recs = recs_grown;
    uint32_t id = (uint32_t)si->nrecs++;
    struct stack_rec *r = &si->recs[id];
    r->hash = h;
    r->depth = (uint16_t)depth;
    r->offset_lo = (uint32_t)si->nips;
    r->offset_hi = (uint16_t)(si->nips >> 32);
    memcpy(&si->ips[si->nips], ips, depth * sizeof(*ips));
    si->nips += depth;
    si->buckets[i] = id;
    if (si->nrecs * 2 > si->nbuckets && rehash(si) != 0)
        goto oom;
    return id;
oom:
    errno = ENOMEM;
    return 0;
}

const mt_addr *stack_intern_get(const struct stack_intern *si, uint32_t id, unsigned *depth)
{
    if (id == STACK_NONE || id >= si->nrecs) {
        *depth = 0;
        return NULL;
    }
    const struct stack_rec *r = &si->recs[id];
    *depth = r->depth;
    return &si->ips[rec_offset(r)];
}

size_t stack_intern_count(const struct stack_intern *si)
{
    return si->nrecs - 1;
}

/* Shrinking realloc; keeps the old block when the allocator cannot move it. */
static void *shrink(void *p, size_t n, size_t size, size_t *cap)
{
    void *smaller = realloc(p, (n ? n : 1) * size);
    if (!smaller)
        return p;
    *cap = n;
    return smaller;
}

void stack_intern_trim(struct stack_intern *si)
{
    if (!si->recs)
        return;
    si->ips = shrink(si->ips, si->nips, sizeof(*si->ips), &si->ips_cap);
    si->recs = shrink(si->recs, si->nrecs, sizeof(*si->recs), &si->recs_cap);
    free(si->buckets);
    si->buckets = NULL;
    si->nbuckets = 0;
}
