/* Applies allocator events to the live/freed tables with glibc's semantics. */
#include "alloc_model.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int alloc_model_init(struct alloc_model *m)
{
    memset(m, 0, sizeof(*m));
    m->freelist_vol = ALLOC_MODEL_FREELIST_VOL;
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
    free(m->fifo.items);
    for (size_t i = 0; i < m->nnames; i++)
        free(m->names[i]);
    free(m->names);
    free(m->errors);
    free(m->timeline);
    free(m->costs);
    free(m->samples);
    for (unsigned i = 0; i < m->nallocators; i++)
        free(m->allocators[i]);
    memset(m, 0, sizeof(*m));
}

void alloc_model_end(struct alloc_model *m)
{
    alloc_table_destroy(&m->freed);
    free(m->fifo.items);
    memset(&m->fifo, 0, sizeof(m->fifo));
}

int alloc_model_copy(struct alloc_model *dst, const struct alloc_model *src)
{
    *dst = *src;
    memset(dst->allocators, 0, sizeof(dst->allocators));
    dst->nallocators = 0;
    dst->errors = NULL;
    dst->nerrors = dst->errors_cap = 0;
    dst->timeline = NULL;
    dst->ntimeline = dst->timeline_cap = 0;
    dst->names = NULL;
    dst->nnames = dst->names_cap = 0;
    memset(&dst->fifo, 0, sizeof(dst->fifo));
    size_t nfifo = src->fifo.tail - src->fifo.head;
    if (nfifo) {
        dst->fifo.items = malloc(nfifo * sizeof(*dst->fifo.items));
        if (!dst->fifo.items)
            return -ENOMEM;
        memcpy(dst->fifo.items, src->fifo.items + src->fifo.head, nfifo * sizeof(*dst->fifo.items));
        dst->fifo.tail = dst->fifo.cap = nfifo;
        dst->fifo.bytes = src->fifo.bytes;
    }
    if (src->ntimeline) {
        dst->timeline = malloc(src->ntimeline * sizeof(*dst->timeline));
        if (!dst->timeline) {
            free(dst->fifo.items);
            return -ENOMEM;
        }
        memcpy(dst->timeline, src->timeline, src->ntimeline * sizeof(*dst->timeline));
        dst->ntimeline = dst->timeline_cap = src->ntimeline;
    }
    dst->allocations = dst->frees = dst->bytes_allocated = 0;
    dst->costs = NULL;
    dst->costs_cap = 0;
    dst->samples = NULL;   /* the child's timeline starts at the fork */
    dst->nsamples = 0;
    dst->next_sample_ns = 0;
    if (src->costs) {
        /* The child's own: what it inherited is live, it allocated nothing yet. */
        if (!(dst->costs = malloc(src->costs_cap * sizeof(*dst->costs)))) {
            free(dst->timeline);
            free(dst->fifo.items);
            return -ENOMEM;
        }
        dst->costs_cap = src->costs_cap;
        for (size_t i = 0; i < src->costs_cap; i++)
            dst->costs[i] = (struct stack_cost){ .live_bytes = src->costs[i].live_bytes,
                                                 .peak_bytes = src->costs[i].live_bytes };
    }
    memset(&dst->freed, 0, sizeof(dst->freed));
    if (alloc_table_copy(&dst->live, &src->live) != 0) {
        free(dst->costs);
        free(dst->timeline);
        free(dst->fifo.items);
        return -ENOMEM;
    }
    if (alloc_table_copy(&dst->freed, &src->freed) != 0) {
        alloc_table_destroy(&dst->live);
        free(dst->costs);
        free(dst->timeline);
        free(dst->fifo.items);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < src->nallocators; i++) {
        if (!(dst->allocators[i] = strdup(src->allocators[i]))) {
            alloc_model_destroy(dst);
            return -ENOMEM;
        }
        dst->nallocators = i + 1;
    }
    return 0;
}

/* Builds the freed table from the fifo, oldest first, so each address
 * keeps its latest free; a block allocated again since is not there. */
static int index_freed(struct alloc_model *m)
{
    if (m->freed_indexed)
        return 0;
    if (!m->freed.slots && alloc_table_init(&m->freed) != 0)
        return -ENOMEM;
    for (size_t i = m->fifo.head; i < m->fifo.tail; i++) {
        const struct block *b = &m->fifo.items[i];
        if (!alloc_table_get(&m->live, b->addr) && alloc_table_put(&m->freed, b) != 0) {
            alloc_table_destroy(&m->freed);
            return -ENOMEM;
        }
    }
    m->freed_indexed = true;
    return 0;
}

const struct block *alloc_model_freed_block(struct alloc_model *m, mt_addr addr)
{
    return index_freed(m) == 0 ? alloc_table_get(&m->freed, addr) : NULL;
}

size_t alloc_model_freed_count(struct alloc_model *m)
{
    return index_freed(m) == 0 ? m->freed.count : 0;
}

unsigned alloc_model_allocator(struct alloc_model *m, const char *path)
{
    for (unsigned i = 0; i < m->nallocators; i++)
        if (strcmp(m->allocators[i], path) == 0)
            return i + 1;
    if (m->nallocators == ALLOC_MODEL_MAX_ALLOCATORS)
        return 0;
    char *copy = strdup(path);
    if (!copy)
        return 0;
    m->allocators[m->nallocators++] = copy;
    return m->nallocators;
}

static bool other_allocator(const struct alloc_model *m, const struct block *live,
                            unsigned allocator)
{
    return live->allocator && allocator && live->allocator != allocator &&
           live->allocator <= m->nallocators && allocator <= m->nallocators;
}

enum free_verdict alloc_model_check_free(struct alloc_model *m, enum alloc_fn fn,
                                         unsigned allocator, mt_addr ptr, uint32_t stack,
                                         struct alloc_error *err)
{
    const struct block *live = ptr ? alloc_table_get(&m->live, ptr) : NULL;
    bool foreign = live && other_allocator(m, live, allocator);
    if (ptr == 0 || (live && !foreign && alloc_fn_pair_matches(live->fn, fn)))
        return FREE_OK;
    memset(err, 0, sizeof(*err));
    err->fn = fn;
    err->addr = ptr;
    err->stack = stack;
    if (live) {
        if (foreign) {
            err->alloc_library = m->allocators[live->allocator - 1];
            err->release_library = m->allocators[allocator - 1];
        }
        err->kind = ERR_MISMATCHED_FREE;
        err->alloc_fn = (enum alloc_fn)live->fn;
        err->block_size = live->size;
        err->alloc_stack = live->alloc_stack;
        err->ran = !foreign;
        err->where = (struct addr_desc){ .kind = ADDR_HEAP_BLOCK, .block_size = live->size,
                                         .alloc_stack = live->alloc_stack };
        return FREE_MISMATCHED;
    }
    const struct block *old = alloc_model_freed_block(m, ptr);
    if (old) {
        err->kind = ERR_DOUBLE_FREE;
        err->block_size = old->size;
        err->alloc_stack = old->alloc_stack;
        err->free_stack = old->free_stack;
        err->where = (struct addr_desc){ .kind = ADDR_FREED_BLOCK, .block_size = old->size,
                                         .alloc_stack = old->alloc_stack,
                                         .free_stack = old->free_stack };
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

static bool same_block(const struct block *a, const struct block *b)
{
    return a->addr == b->addr && a->size == b->size && a->alloc_stack == b->alloc_stack &&
           a->free_stack == b->free_stack;
}

/* Appends b, then lets the oldest go while the others outweigh the volume.
 * An entry whose address was allocated again (or freed again) since is no
 * longer the table's: only its bytes go. */
static int fifo_push(struct alloc_model *m, const struct block *b)
{
    struct freed_fifo *q = &m->fifo;
    if (q->tail == q->cap && q->head > 0) {
        memmove(q->items, q->items + q->head, (q->tail - q->head) * sizeof(*q->items));
        q->tail -= q->head;
        q->head = 0;
    }
    struct block *items = mt_grow(q->items, &q->cap, q->tail + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    q->items = items;
    q->items[q->tail++] = *b;
    q->bytes += b->size;
    while (q->tail - q->head > 1 && (q->bytes - q->items[q->head].size >= m->freelist_vol ||
                                     q->tail - q->head > ALLOC_MODEL_FREELIST_MAX_BLOCKS)) {
        const struct block *old = &q->items[q->head++];
        q->bytes -= old->size;
        if (!m->freed_indexed)
            continue;
        const struct block *in_table = alloc_table_get(&m->freed, old->addr);
        if (in_table && same_block(in_table, old))
            alloc_table_remove(&m->freed, old->addr, NULL);
    }
    return 0;
}

/* The cost record of stack, grown to hold it; NULL once out of memory. */
static struct stack_cost *cost_of(struct alloc_model *m, uint32_t stack)
{
    if (stack >= m->costs_cap && !m->costs_lost) {
        size_t old = m->costs_cap;
        struct stack_cost *grown = mt_grow(m->costs, &m->costs_cap, (size_t)stack + 1,
                                           sizeof(*grown));
        if (!grown) {
            m->costs_lost = true;   /* the pictures say so; tracking goes on */
            return NULL;
        }
        memset(grown + old, 0, (m->costs_cap - old) * sizeof(*grown));
        m->costs = grown;
    }
    return stack < m->costs_cap ? &m->costs[stack] : NULL;
}

static void cost_release(struct alloc_model *m, const struct block *b)
{
    m->live_bytes -= m->live_bytes >= b->size ? b->size : m->live_bytes;
    struct stack_cost *c = cost_of(m, b->alloc_stack);
    if (c)
        c->live_bytes -= c->live_bytes >= b->size ? b->size : c->live_bytes;
}

static void cost_live(struct alloc_model *m, const struct block *b)
{
    if ((m->live_bytes += b->size) > m->peak_since_sample)
        m->peak_since_sample = m->live_bytes;
    struct stack_cost *c = cost_of(m, b->alloc_stack);
    if (c && (c->live_bytes += b->size) > c->peak_bytes)
        c->peak_bytes = c->live_bytes;
}

int alloc_model_sample(struct alloc_model *m, uint64_t ns)
{
    if (!m->samples) {
        if (!(m->samples = calloc(ALLOC_MODEL_SAMPLES, sizeof(*m->samples))))
            return -ENOMEM;
        m->sample_every_ns = ALLOC_MODEL_FIRST_SAMPLE_NS;
    }
    if (m->nsamples == ALLOC_MODEL_SAMPLES) {
        /* Full: keep every other one (the first and the latest stay). */
        size_t kept = 0;
        for (size_t i = 0; i < m->nsamples; i += 2) {
            uint64_t peak = m->samples[i].peak_bytes;
            if (i + 1 < m->nsamples && m->samples[i + 1].peak_bytes > peak)
                peak = m->samples[i + 1].peak_bytes;   /* a peak is never lost */
            m->samples[kept] = m->samples[i];
            m->samples[kept++].peak_bytes = peak;
        }
        m->samples[kept - 1] = m->samples[m->nsamples - 1];
        m->nsamples = kept;
        m->sample_every_ns *= 2;
    }
    struct live_sample *smp = &m->samples[m->nsamples++];
    memset(smp, 0, sizeof(*smp));
    smp->ns = ns;
    smp->live_bytes = m->live_bytes;
    smp->peak_bytes = m->peak_since_sample > m->live_bytes ? m->peak_since_sample : m->live_bytes;
    m->peak_since_sample = m->live_bytes;
    for (size_t id = 0; id < m->costs_cap; id++) {
        uint64_t live = m->costs[id].live_bytes;
        if (!live || (smp->ntop == ALLOC_MODEL_SAMPLE_TOP &&
                      live <= smp->top_bytes[ALLOC_MODEL_SAMPLE_TOP - 1]))
            continue;
        unsigned at = smp->ntop < ALLOC_MODEL_SAMPLE_TOP ? smp->ntop++
                                                         : ALLOC_MODEL_SAMPLE_TOP - 1;
        while (at > 0 && smp->top_bytes[at - 1] < live) {
            smp->top_bytes[at] = smp->top_bytes[at - 1];
            smp->top_stack[at] = smp->top_stack[at - 1];
            at--;
        }
        smp->top_bytes[at] = live;
        smp->top_stack[at] = (uint32_t)id;
    }
    m->next_sample_ns = ns + m->sample_every_ns;
    return 0;
}

/* A sample when one is due (the event's time is known and past the next). */
static void maybe_sample(struct alloc_model *m, uint64_t ns)
{
    if (m->sample_live && ns && ns >= m->next_sample_ns)
        alloc_model_sample(m, ns);   /* out of memory: the chart has fewer points */
}

const struct stack_cost *alloc_model_stack_cost(const struct alloc_model *m, uint32_t stack)
{
    return stack < m->costs_cap && m->costs[stack].allocations ? &m->costs[stack] : NULL;
}

static int release(struct alloc_model *m, mt_addr ptr, uint32_t free_stack)
{
    struct block b;
    if (!alloc_table_remove(&m->live, ptr, &b))
        return 0; /* not ours (allocated before tracing began); already judged */
    m->frees++;
    cost_release(m, &b);
    b.free_stack = free_stack;
    int err = m->freed_indexed ? alloc_table_put(&m->freed, &b) : 0;
    return err ? err : fifo_push(m, &b);
}

bool alloc_model_realloc_begin(struct alloc_model *m, mt_addr ptr, uint32_t stack,
                               struct block *taken)
{
    const struct block *b = ptr ? alloc_table_get(&m->live, ptr) : NULL;
    if (!b)
        return false;
    *taken = *b;
    return release(m, ptr, stack) == 0;
}

int alloc_model_realloc_undo(struct alloc_model *m, const struct block *taken)
{
    if (alloc_table_get(&m->live, taken->addr))
        return 0;
    if (m->freed_indexed)
        alloc_table_remove(&m->freed, taken->addr, NULL);
    m->frees--;
    cost_live(m, taken);
    return alloc_table_put(&m->live, taken);
}

static bool block_at_or_before(const struct alloc_table *t, mt_addr addr, const struct block **out)
{
    mt_addr lowest = addr > ALLOC_MODEL_DESCRIBE_WINDOW ? addr - ALLOC_MODEL_DESCRIBE_WINDOW : 1;
    /* glibc's blocks start 16-byte aligned; other allocators' at least 8. */
    for (mt_addr a = addr & ~(mt_addr)7; a >= lowest; a -= 8) {
        const struct block *b = alloc_table_get(t, a);
        if (b) {
            /* The nearest start before addr: a block further back cannot
             * hold it unless they overlap, which blocks never do. */
            if (addr - b->addr < (b->size ? b->size : 1)) {
                *out = b;
                return true;
            }
            return false;
        }
        if (a < 8)
            break;
    }
    return false;
}

bool alloc_model_describe_heap(struct alloc_model *m, mt_addr addr, struct addr_desc *d)
{
    const struct block *b;
    if (m->live.slots && block_at_or_before(&m->live, addr, &b)) {
        *d = (struct addr_desc){ .kind = ADDR_HEAP_BLOCK, .offset = addr - b->addr,
                                 .block_size = b->size, .alloc_stack = b->alloc_stack };
        return true;
    }
    if (index_freed(m) == 0 && block_at_or_before(&m->freed, addr, &b)) {
        *d = (struct addr_desc){ .kind = ADDR_FREED_BLOCK, .offset = addr - b->addr,
                                 .block_size = b->size, .alloc_stack = b->alloc_stack,
                                 .free_stack = b->free_stack };
        return true;
    }
    return false;
}

const char *alloc_model_keep_name(struct alloc_model *m, const char *s)
{
    for (size_t i = 0; i < m->nnames; i++)
        if (strcmp(m->names[i], s) == 0)
            return m->names[i];
    char **names = mt_grow(m->names, &m->names_cap, m->nnames + 1, sizeof(*names));
    if (!names)
        return NULL;
    m->names = names;
    char *copy = strdup(s);
    if (copy)
        m->names[m->nnames++] = copy;
    return copy;
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
        .allocator = ev->allocator <= ALLOC_MODEL_MAX_ALLOCATORS ? ev->allocator : 0,
    };
    if (m->freed_indexed)
        alloc_table_remove(&m->freed, ev->ptr_out, NULL);
    m->allocations++;
    m->bytes_allocated += ev->size;
    struct stack_cost *c = cost_of(m, b.alloc_stack);
    if (c) {
        c->allocations++;
        c->allocated_bytes += ev->size;
    }
    cost_live(m, &b);
    return alloc_table_put(&m->live, &b);
}

int alloc_model_add_existing(struct alloc_model *m, mt_addr addr, uint64_t size, uint32_t stack,
                             unsigned allocator)
{
    struct block b = {
        .addr = addr, .size = size, .seq = (uint32_t)m->next_seq++, .alloc_stack = stack,
        .fn = FN_UNKNOWN,
        .allocator = allocator <= ALLOC_MODEL_MAX_ALLOCATORS ? allocator : 0,
    };
    cost_live(m, &b);
    return alloc_table_put(&m->live, &b);
}

int alloc_model_apply(struct alloc_model *m, const struct alloc_event *ev)
{
    maybe_sample(m, ev->time_ns);
    switch (ev->fn) {
    case FN_FREE:
    case FN_DELETE:
    case FN_DELETE_ARRAY:
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
