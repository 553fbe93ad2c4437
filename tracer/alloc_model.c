/* Applies allocator events to the live/freed tables with glibc's semantics. */
#include "alloc_model.h"
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
    memset(m, 0, sizeof(*m));
}

int alloc_model_copy(struct alloc_model *dst, const struct alloc_model *src)
{
    *dst = *src;
    dst->errors = NULL;
    dst->nerrors = dst->errors_cap = 0;
    dst->allocations = dst->frees = dst->bytes_allocated = 0;
    memset(&dst->freed, 0, sizeof(dst->freed));
    if (alloc_table_copy(&dst->live, &src->live) != 0)
        return -ENOMEM;
    if (alloc_table_copy(&dst->freed, &src->freed) != 0) {
        alloc_table_destroy(&dst->live);
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
    err->kind = ERR_INVALID_FREE;
    return FREE_INVALID;
}

int alloc_model_record_error(struct alloc_model *m, const struct alloc_error *err)
{
    if (m->nerrors == m->errors_cap) {
        size_t cap = m->errors_cap ? m->errors_cap * 2 : 16;
        struct alloc_error *p = realloc(m->errors, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->errors = p;
        m->errors_cap = cap;
    }
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

static int add_block(struct alloc_model *m, const struct alloc_event *ev)
{
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
