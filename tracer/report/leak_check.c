/* Leak checks while attached (leak_check.h). */
#include "leak_check.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = { "increased", "changed", "full" };

bool leak_check_mode_from_name(const char *name, enum leak_check_mode *out)
{
    for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *out = (enum leak_check_mode)i;
            return true;
        }
    }
    return false;
}

const char *leak_check_mode_name(enum leak_check_mode mode)
{
    return (unsigned)mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : "?";
}

/* Records are matched by (kind, allocator, stack): the stack ids of one
 * process never change. */
static int compare_keys(const void *a, const void *b)
{
    const struct leak_record *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->fn != y->fn)
        return x->fn < y->fn ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static bool listed(enum leak_check_mode mode, const struct leak_check_entry *e)
{
    switch (mode) {
    case LEAK_CHECK_FULL:
        return true;
    case LEAK_CHECK_CHANGED:
        return e->is_new || e->bytes_delta || e->blocks_delta || e->indirect_bytes_delta;
    case LEAK_CHECK_INCREASED:
        break;
    }
    return e->is_new || e->bytes_delta > 0 || e->blocks_delta > 0 || e->indirect_bytes_delta > 0;
}

static int fill(struct leak_check_series *s, const struct report_process *p, struct leak_check *c,
                struct leak_record *recs, size_t n)
{
    c->nrecords = n;
    if (n && !(c->listed = calloc(n, sizeof(*c->listed))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct leak_record *r = &recs[i];
        if (r->suppressed_by || r->kind >= LEAK_KIND_COUNT)
            continue;
        c->totals[r->kind].bytes += r->bytes;
        c->totals[r->kind].blocks += r->blocks;
        bool shown = (p->show_kinds & (1u << r->kind)) != 0;   /* --show-leak-kinds */
        const struct leak_record *before =
            s->nprev ? bsearch(r, s->prev, s->nprev, sizeof(*r), compare_keys) : NULL;
        struct leak_check_entry e = {
            .rec = *r, .is_new = before == NULL,
            .bytes_delta = (int64_t)r->bytes - (before ? (int64_t)before->bytes : 0),
            .blocks_delta = (int64_t)r->blocks - (before ? (int64_t)before->blocks : 0),
            .indirect_bytes_delta = (int64_t)r->indirect_bytes -
                                    (before ? (int64_t)before->indirect_bytes : 0),
        };
        if (shown && listed(s->mode, &e))
            c->listed[c->nlisted++] = e;
    }
    for (unsigned k = 0; k < LEAK_KIND_COUNT; k++) {
        c->bytes_delta[k] = (int64_t)c->totals[k].bytes - (int64_t)s->prev_totals[k].bytes;
        c->blocks_delta[k] = (int64_t)c->totals[k].blocks - (int64_t)s->prev_totals[k].blocks;
    }
    return 0;
}

const struct leak_check *leak_check_add(struct leak_check_series *s,
                                        const struct report_process *p, uint64_t at_ns,
                                        uint64_t pause_ns)
{
    struct leak_check *checks = mt_grow(s->checks, &s->cap, s->n + 1, sizeof(*checks));
    if (!checks)
        return NULL;
    s->checks = checks;
    struct leak_record *recs;
    size_t n;
    if (report_collect_records(p, &recs, &n) != 0)
        return NULL;
    struct leak_check *c = &s->checks[s->n];
    *c = (struct leak_check){ .number = (unsigned)s->n + 1, .at_ns = at_ns, .pause_ns = pause_ns,
                              .scanned_blocks = p->model->live.count };
    if (fill(s, p, c, recs, n) != 0) {
        free(recs);
        free(c->listed);
        return NULL;
    }
    /* The next check compares with this one. */
    if (n > 1)
        qsort(recs, n, sizeof(*recs), compare_keys);
    free(s->prev);
    s->prev = recs;
    s->nprev = n;
    memcpy(s->prev_totals, c->totals, sizeof(c->totals));
    return &s->checks[s->n++];
}

void leak_check_series_destroy(struct leak_check_series *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->checks[i].listed);
    free(s->checks);
    free(s->prev);
    memset(s, 0, sizeof(*s));
}
