/* Applies allocator events to the live/freed tables with glibc's semantics. */
#include "alloc_model.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int alloc_model_init(struct alloc_model *m)
{
    memset(m, 0, sizeof(*m));
    int err = alloc_table_init(&m->live);
    if (!err)
        err = alloc_table_init(&m->freed);
    if (err)
        alloc_model_destroy(m);
    return err;
}

void alloc_model_destroy(struct alloc_model *m)
{
    alloc_table_destroy(&m->live);
    alloc_table_destroy(&m->freed);
    free(m->errors);
    free(m->timeline);
    memset(m, 0, sizeof(*m));
}

void alloc_model_end(struct alloc_model *m)
{
    alloc_table_destroy(&m->freed);
}

int alloc_model_copy(struct alloc_model *dst, const struct alloc_model *src)
{
    *dst = *src;
    dst->errors = NULL;
    dst->nerrors = dst->errors_cap = 0;
    dst->timeline = NULL;
    dst->ntimeline = dst->timeline_cap = 0;
    if (src->ntimeline) {
        dst->timeline = malloc(src->ntimeline * sizeof(*dst->timeline));
        if (!dst->timeline)
            return -ENOMEM;
        memcpy(dst->timeline, src->timeline, src->ntimeline * sizeof(*dst->timeline));
        dst->ntimeline = dst->timeline_cap = src->ntimeline;
    }
    dst->allocations = dst->frees = dst->bytes_allocated = 0;
    memset(&dst->freed, 0, sizeof(dst->freed));
    if (alloc_table_copy(&dst->live, &src->live) != 0) {
        free(dst->timeline);
        return -ENOMEM;
    }
    if (alloc_table_copy(&dst->freed, &src->freed) != 0) {
        alloc_table_destroy(&dst->live);
        free(dst->timeline);
        return -ENOMEM;
    }
    return 0;
}

enum free_verdict alloc_model_check_free(const struct alloc_model *m, enum alloc_fn fn,
                                         mt_addr ptr, uint32_t stack, struct alloc_error *err)
{
    if (ptr == 0 || alloc_table_get(&m->live, ptr))
        return FREE_OK;
    memset(err, 0, sizeof(*err));
    err->fn = fn;
    err->addr = ptr;
    err->stack = stack;
    const struct block *old = alloc_table_get(&m->freed, ptr);
    if (old) {
        err->kind = ERR_DOUBLE_FREE;
        err->block_size = old->size;
        err->alloc_stack = old->alloc_stack;
        err->free_stack = old->free_stack;
        return FREE_DOUBLE;
    }
    if (m->untracked_ok)
        return FREE_UNTRACKED;
    err->kind = ERR_INVALID_FREE;
    return FREE_INVALID;
}

int alloc_model_record_error(struct alloc_model *m, const struct alloc_error *err)
{
    struct alloc_error *p = mt_grow(m->errors, &m->errors_cap, m->nerrors + 1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    m->errors = p;
    m->errors[m->nerrors++] = *err;
    return 0;
}

static int release(struct alloc_model *m, mt_addr ptr, uint32_t free_stack)
{
    struct block b;
    if (!alloc_table_remove(&m->live, ptr, &b))
        return 0; /* not ours (allocated before tracing began); already judged */
    m->frees++;
    b.free_stack = free_stack;
    return alloc_table_put(&m->freed, &b);
}

#define CHECKPOINT_NS 1000000u

static int note_time(struct alloc_model *m, uint64_t seq, uint64_t ns)
{
    if (ns == 0)
        return 0;
    if (m->ntimeline && ns < m->timeline[m->ntimeline - 1].ns + CHECKPOINT_NS)
        return 0;
    struct seq_time *t = mt_grow(m->timeline, &m->timeline_cap, m->ntimeline + 1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    m->timeline = t;
    m->timeline[m->ntimeline++] = (struct seq_time){ .seq = seq, .ns = ns };
    return 0;
}

uint64_t alloc_model_seq_time(const struct alloc_model *m, uint64_t seq)
{
    /* The last checkpoint at or before seq: events between two checkpoints
     * happened less than CHECKPOINT_NS after the first. */
    size_t lo = 0, hi = m->ntimeline;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->timeline[mid].seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? m->timeline[lo - 1].ns : 0;
}

uint64_t alloc_model_block_seq(const struct alloc_model *m, const struct block *b)
{
    uint64_t full = (m->next_seq & ~(uint64_t)UINT32_MAX) | b->seq;
    return full >= m->next_seq && full >= (uint64_t)1 << 32 ? full - ((uint64_t)1 << 32) : full;
}

static int add_block(struct alloc_model *m, const struct alloc_event *ev)
{
    if (note_time(m, m->next_seq, ev->time_ns) != 0)
        return -ENOMEM;
    struct block b = {
        .addr = ev->ptr_out,
        .size = ev->size,
        .seq = (uint32_t)m->next_seq++,
        .alloc_stack = ev->stack_id,
        .fn = (uint8_t)ev->fn,
    };
    alloc_table_remove(&m->freed, ev->ptr_out, NULL);
    m->allocations++;
    m->bytes_allocated += ev->size;
    return alloc_table_put(&m->live, &b);
}

int alloc_model_apply(struct alloc_model *m, const struct alloc_event *ev)
{
    switch (ev->fn) {
    case FN_FREE:
        return ev->ptr_in ? release(m, ev->ptr_in, ev->stack_id) : 0;
    case FN_REALLOC:
    case FN_REALLOCARRAY:
        if (ev->ptr_out == 0) {
            /* realloc(p, 0) frees p and returns NULL; any other failure leaves p alone. */
            if (ev->size == 0 && ev->ptr_in)
                return release(m, ev->ptr_in, ev->stack_id);
            return 0;
        }
        if (ev->ptr_in) {
            int err = release(m, ev->ptr_in, ev->stack_id);
            if (err)
                return err;
        }
        return add_block(m, ev);
    default:
        return ev->ptr_out ? add_block(m, ev) : 0;
    }
}
