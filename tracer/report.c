/* Grouping live blocks into leak records. */
#include "report.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int compare_records(const void *a, const void *b)
{
    const struct leak_record *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->blocks != y->blocks)
        return x->blocks > y->blocks ? -1 : 1;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    return (int)x->fn - (int)y->fn;
}

int report_collect_leaks(const struct alloc_model *m, struct leak_record **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t count = m->live.count;
    if (count == 0)
        return 0;
    /* Open addressing on (fn, stack): at most one record per live block. */
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2;
    struct leak_record *recs = calloc(count, sizeof(*recs));
    size_t *index = malloc(cap * sizeof(*index));
    if (!recs || !index) {
        free(recs);
        free(index);
        return -ENOMEM;
    }
    memset(index, 0xff, cap * sizeof(*index));
    size_t nrecs = 0, cursor = 0;
    const struct block *b;
    while ((b = alloc_table_next(&m->live, &cursor))) {
        uint64_t key = ((uint64_t)b->fn << 32) | b->alloc_stack;
        size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
        for (;; i = (i + 1) & (cap - 1)) {
            if (index[i] == (size_t)-1) {
                index[i] = nrecs;
                recs[nrecs++] = (struct leak_record){
                    .kind = "unfreed", .fn = (enum alloc_fn)b->fn, .stack = b->alloc_stack,
                };
                break;
            }
            struct leak_record *r = &recs[index[i]];
            if (r->fn == b->fn && r->stack == b->alloc_stack)
                break;
        }
        struct leak_record *r = &recs[index[i]];
        r->bytes += b->size;
        r->blocks++;
    }
    free(index);
    qsort(recs, nrecs, sizeof(*recs), compare_records);
    *out = recs;
    *n = nrecs;
    return 0;
}

void report_unfreed_totals(const struct alloc_model *m, uint64_t *bytes, uint64_t *blocks)
{
    *bytes = *blocks = 0;
    size_t cursor = 0;
    const struct block *b;
    while ((b = alloc_table_next(&m->live, &cursor))) {
        *bytes += b->size;
        (*blocks)++;
    }
}

void report_signal_name(int sig, char *buf, size_t len)
{
    const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;
    /* sigabbrev_np gives "SEGV"; users know "SIGSEGV". */
    if (abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else
        snprintf(buf, len, "signal %d", sig);
}

bool report_found_problems(const struct report_process *procs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (procs[i].model->live.count > 0 || procs[i].model->nerrors > 0)
            return true;
    return false;
}
