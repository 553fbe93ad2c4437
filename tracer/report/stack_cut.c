/* --alloc-fn: allocator wrappers (xmalloc, g_malloc) cut off the top of
 * allocation stacks, as Valgrind massif's --alloc-fn does, so records
 * group by the wrappers' callers; in a Rust program, the standard library's
 * own wrappers too. Names exist only once frames are symbolized, so this
 * runs on the records, at report time. */
#include "report.h"
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* Rust's allocation path between the line that allocates and malloc: the
 * alloc crate (Box::new, Vec::with_capacity, RawVec, Global's Allocator
 * impl; legacy and v0 demangled spellings), the global allocator's shims,
 * and std's System allocator. */
static const char *const rust_std_alloc_frames[] = {
    "alloc::*", "<alloc::*", "<* as alloc::*", "__rust_alloc*", "__rust_realloc",
    "__rdl_*", "__rg_*", "std::alloc::*", "<std::alloc::System as *",
};

static bool is_rust_std_alloc_frame(const char *name)
{
    for (size_t i = 0; i < sizeof(rust_std_alloc_frames) / sizeof(rust_std_alloc_frames[0]); i++)
        if (fnmatch(rust_std_alloc_frames[i], name, 0) == 0)
            return true;
    return false;
}

bool report_is_alloc_fn(const struct report_process *p, const struct sym_frame_ext *fr)
{
    if (p->cut_std_alloc_frames && fr->f.function && is_rust_std_alloc_frame(fr->f.function))
        return true;
    /* C++ users may know either spelling: the report shows the demangled
     * one, nm and perf the mangled one. */
    const char *names[2] = { fr->f.function, fr->mangled };
    for (size_t i = 0; i < p->nalloc_fns; i++)
        for (size_t k = 0; k < 2; k++)
            if (names[k] && fnmatch(p->alloc_fns[i], names[k], 0) == 0)
                return true;
    return false;
}

void report_cut_stack(const struct report_process *p, uint32_t stack, unsigned *cut_ip,
                      unsigned *cut_frame)
{
    *cut_ip = 0;
    *cut_frame = 0;
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    for (unsigned i = 0; i < depth; i++) {
        const struct sym_frame_ext *frames;
        unsigned n = report_frames(p, stack, ips[i], &frames);
        for (unsigned k = 0; k < n; k++) {
            if (!report_is_alloc_fn(p, &frames[k]))
                return;
            /* Every frame a wrapper: the last one stays, a record has a place. */
            if (i + 1 == depth && k + 1 == n)
                return;
            *cut_ip = k + 1 < n ? i : i + 1;
            *cut_frame = k + 1 < n ? k + 1 : 0;
        }
    }
}

/* A record with what is left of its stack after the cut. */
struct cut_rec {
    struct leak_record r;
    const mt_addr *ips;   /* from the cut on */
    unsigned n;
};

static int compare_cut(const void *a, const void *b)
{
    const struct cut_rec *x = a, *y = b;
    if (x->r.kind != y->r.kind)
        return x->r.kind < y->r.kind ? -1 : 1;
    if (x->r.fn != y->r.fn)
        return x->r.fn < y->r.fn ? -1 : 1;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    if (x->r.cut_frame != y->r.cut_frame)
        return x->r.cut_frame < y->r.cut_frame ? -1 : 1;
    int c = x->n ? memcmp(x->ips, y->ips, x->n * sizeof(*x->ips)) : 0;
    if (c)
        return c;
    /* The lowest stack id represents the group: stable from view to view. */
    return x->r.stack < y->r.stack ? -1 : x->r.stack > y->r.stack;
}

static void merge_into(struct leak_record *to, const struct leak_record *from)
{
    to->bytes += from->bytes;
    to->blocks += from->blocks;
    to->indirect_bytes += from->indirect_bytes;
    to->indirect_blocks += from->indirect_blocks;
    if (from->oldest_seq < to->oldest_seq)
        to->oldest_seq = from->oldest_seq;
    if (from->newest_seq > to->newest_seq)
        to->newest_seq = from->newest_seq;
}

int report_cut_alloc_fns(const struct report_process *p, struct leak_record *recs, size_t *n)
{
    if ((p->nalloc_fns == 0 && !p->cut_std_alloc_frames) || *n == 0)
        return 0;
    struct cut_rec *cr = calloc(*n, sizeof(*cr));
    if (!cr)
        return -ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        struct cut_rec *c = &cr[i];
        c->r = recs[i];
        report_cut_stack(p, c->r.stack, &c->r.cut_ip, &c->r.cut_frame);
        unsigned depth;
        const mt_addr *ips = stack_intern_get(p->stacks, c->r.stack, &depth);
        c->ips = ips + c->r.cut_ip;
        c->n = depth - c->r.cut_ip;
    }
    qsort(cr, *n, sizeof(*cr), compare_cut);
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        /* Equal but for the stack id: one record, where the same kind
         * came from the same caller through the wrappers. */
        if (out > 0) {
            struct cut_rec key = cr[i];
            key.r.stack = cr[out - 1].r.stack;
            if (compare_cut(&cr[out - 1], &key) == 0) {
                merge_into(&cr[out - 1].r, &cr[i].r);
                continue;
            }
        }
        cr[out++] = cr[i];
    }
    for (size_t i = 0; i < out; i++)
        recs[i] = cr[i].r;
    free(cr);
    *n = out;
    report_sort_leaks(recs, out);
    return 0;
}

/* A copy of the saved report's records. */
static int saved_records(const struct saved_heap *saved, struct leak_record **out, size_t *n)
{
    *n = saved->n;
    *out = malloc((saved->n ? saved->n : 1) * sizeof(**out));
    if (!*out)
        return -ENOMEM;
    if (saved->n)
        memcpy(*out, saved->records, saved->n * sizeof(**out));
    return 0;
}

int report_collect_records(const struct report_process *p, struct leak_record **out, size_t *n)
{
    int rc = p->saved ? saved_records(p->saved, out, n) : report_collect_leaks(p->model, p->scan,
                                                                               out, n);
    if (rc == 0 && (rc = report_cut_alloc_fns(p, *out, n)) != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    if (rc == 0)
        report_apply_suppressions(p, *out, *n);
    return rc;
}
