/* --suppressions on the records: each record's symbolized allocation stack
 * matched against the suppressions (suppress.c), and how they were used. */
#include "report.h"
#include <stdlib.h>

/* How memcheck names an allocation function in its stacks: a suppression
 * written from Valgrind's output starts with it (fun:malloc, fun:_Znwm). */
static struct supp_frame allocation_frame(enum alloc_fn fn)
{
    static const char *const cxx[] = { "_Znwm", "_Znam", "_ZdlPv", "_ZdaPv" };
    struct supp_frame f = { .function = alloc_fn_name(fn) };
    if (alloc_fn_is_cxx(fn)) {
        f.function = alloc_fn_call_name(fn);
        f.mangled = cxx[fn - FN_NEW];
    }
    return f;
}

/* The frames of a whole stack, led by the allocator function called (the
 * one that allocated, or the one a bad free called). Returns their number,
 * or 0 when out of memory. */
static size_t stack_frames(const struct report_process *p, enum alloc_fn fn, uint32_t stack,
                           struct supp_frame **out)
{
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    size_t cap = 16, n = 0;
    struct supp_frame *f = malloc(cap * sizeof(*f));
    if (!f)
        return 0;
    f[n++] = allocation_frame(fn);
    for (unsigned i = 0; i < depth; i++) {
        const struct sym_frame_ext *frames;
        unsigned k = report_frames(p, stack, ips[i], &frames);
        if (n + k > cap) {
            cap = (n + k) * 2;
            struct supp_frame *grown = realloc(f, cap * sizeof(*f));
            if (!grown) {
                free(f);
                return 0;
            }
            f = grown;
        }
        for (unsigned j = 0; j < k; j++)
            f[n++] = (struct supp_frame){ .function = frames[j].f.function,
                                          .mangled = frames[j].mangled,
                                          .module = frames[j].f.module,
                                          .file = frames[j].f.file };
    }
    *out = f;
    return n;
}

/* A block for the stack id of a call of fn: Memcheck:Leak with its kind
 * (leak_kind < LEAK_KIND_COUNT), else Memcheck:Free. */
static void write_block(FILE *f, const struct report_process *p, enum alloc_fn fn, uint32_t id,
                        unsigned leak_kind, bool leak)
{
    struct supp_frame *frames;
    size_t n = stack_frames(p, fn, id, &frames);
    if (n == 0)
        return;
    fprintf(f, "{\n   <insert_a_suppression_name_here>\n   Memcheck:%s\n", leak ? "Leak" : "Free");
    if (leak && leak_kind < LEAK_KIND_COUNT)
        fprintf(f, "   match-leak-kinds: %s\n", supp_leak_kind_word(leak_kind));
    /* memcheck's limit; the mangled name where there is one (no spaces). */
    for (size_t i = 0; i < n && i < 24; i++) {
        const struct supp_frame *fr = &frames[i];
        if (fr->mangled || fr->function)
            fprintf(f, "   fun:%s\n", fr->mangled ? fr->mangled : fr->function);
        else
            fprintf(f, "   obj:%s\n", fr->module ? fr->module : "*");
    }
    fputs("}\n", f);
    free(frames);
}

void report_write_suppression(FILE *f, const struct report_process *p,
                              const struct leak_record *r)
{
    write_block(f, p, r->fn, r->stack, r->kind, true);
}

void report_write_error_suppression(FILE *f, const struct report_process *p,
                                    const struct alloc_error *e)
{
    write_block(f, p, e->fn, e->stack, LEAK_KIND_COUNT, false);
}

void report_apply_suppressions(const struct report_process *p, struct leak_record *recs,
                               size_t n)
{
    if (!p->supps || p->supps->n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct leak_record *r = &recs[i];
        r->suppressed_by = NULL;
        if (r->kind >= LEAK_KIND_COUNT)
            continue;   /* not classified: no kind to match */
        struct supp_frame *frames;
        size_t nf = stack_frames(p, r->fn, r->stack, &frames);
        if (nf == 0)
            continue;   /* out of memory: shown rather than hidden */
        r->suppressed_by = supp_match(p->supps, SUPP_LEAK, r->kind, frames, nf);
        free(frames);
    }
}

size_t report_suppression_use(const struct report_process *p, const struct leak_record *recs,
                              size_t n, struct report_supp_use *use, struct report_amount *total)
{
    *total = (struct report_amount){ 0, 0 };
    size_t nsupps = p->supps ? p->supps->n : 0, used = 0;
    for (size_t k = 0; k < nsupps; k++)
        use[k] = (struct report_supp_use){ .supp = &p->supps->items[k] };
    for (size_t i = 0; i < n; i++) {
        const struct suppression *s = recs[i].suppressed_by;
        if (!s || nsupps == 0)
            continue;
        struct report_supp_use *u = &use[s - p->supps->items];
        used += u->records == 0;
        u->records++;
        u->bytes += recs[i].bytes;
        u->blocks += recs[i].blocks;
        total->bytes += recs[i].bytes;
        total->blocks += recs[i].blocks;
    }
    for (size_t i = 0; nsupps && i < p->model->nerrors; i++) {
        const struct suppression *s = report_error_suppression(p, &p->model->errors[i]);
        if (s) {
            used += use[s - p->supps->items].records == 0;
            use[s - p->supps->items].records++;   /* bad frees hold no heap */
        }
    }
    return used;
}

const struct suppression *report_error_suppression(const struct report_process *p,
                                                   const struct alloc_error *e)
{
    if (!p->supps || p->supps->n == 0)
        return NULL;
    struct supp_frame *frames;
    size_t n = stack_frames(p, e->fn, e->stack, &frames);
    if (n == 0)
        return NULL;
    const struct suppression *s = supp_match(p->supps, SUPP_FREE, 0, frames, n);
    free(frames);
    return s;
}

size_t report_error_count(const struct report_process *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->model->nerrors; i++)
        n += report_error_suppression(p, &p->model->errors[i]) == NULL;
    return n;
}
