/* A handful of segments per process at most: a plain array. */
#include "shm_table.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void shm_table_init(struct shm_table *t)
{
    memset(t, 0, sizeof(*t));
}

void shm_table_destroy(struct shm_table *t)
{
    free(t->segs);
    memset(t, 0, sizeof(*t));
}

int shm_table_copy(struct shm_table *dst, const struct shm_table *src)
{
    shm_table_init(dst);
    if (!src->n)
        return 0;
    dst->segs = malloc(src->n * sizeof(*dst->segs));
    if (!dst->segs)
        return -ENOMEM;
    memcpy(dst->segs, src->segs, src->n * sizeof(*dst->segs));
    dst->n = dst->cap = src->n;
    for (size_t i = 0; i < dst->n; i++)
        dst->segs[i].created = false;   /* the parent reports what it created */
    return 0;
}

struct shm_segment *shm_table_get(const struct shm_table *t, int shmid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->segs[i].shmid == shmid)
            return &t->segs[i];
    return NULL;
}

struct shm_segment *shm_table_add(struct shm_table *t, int shmid)
{
    struct shm_segment *s = shm_table_get(t, shmid);
    if (s)
        return s;
    struct shm_segment *p = mt_grow(t->segs, &t->cap, t->n + 1, sizeof(*p));
    if (!p)
        return NULL;
    t->segs = p;
    s = &t->segs[t->n++];
    memset(s, 0, sizeof(*s));
    s->shmid = shmid;
    return s;
}
