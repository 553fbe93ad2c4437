/* Top stacks by live bytes, with growth against the previous view. */
#include "live_view.h"
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Live bytes of one (allocator, stack) at the previous view. */
struct seen {
    uint32_t stack;
    uint32_t fn;
    uint64_t bytes;
};

struct live_view {
    unsigned top;
    struct seen *prev;        /* sorted by (stack, fn) */
    size_t nprev;
    uint64_t prev_ns;         /* 0 before the first view */
    uint64_t prev_events;
    uint64_t status_ns, status_events;   /* at the last status line */
    bool status_shown;                   /* a status line is on the terminal */
};

struct live_view *live_view_create(unsigned top)
{
    struct live_view *v = calloc(1, sizeof(*v));
    if (v)
        v->top = top;
    return v;
}

void live_view_destroy(struct live_view *v)
{
    if (!v)
        return;
    free(v->prev);
    free(v);
}

static uint64_t events_of(const struct alloc_model *m)
{
    return m->allocations + m->frees + m->untracked_frees;
}

void live_view_status(struct live_view *v, FILE *f, const struct report_process *p,
                      uint64_t now_ns, uint64_t traced_ns)
{
    uint64_t events = events_of(p->model);
    double dt = v->status_ns ? (double)(now_ns - v->status_ns) / 1e9 : (double)traced_ns / 1e9;
    double rate = dt > 0 ? (double)(events - v->status_events) / dt : 0;
    fprintf(f, "\r==%d== traced %.0f s, %.0f events/s, %zu live blocks\033[K", p->pid,
            (double)traced_ns / 1e9, rate, p->model->live.count);
    fflush(f);
    v->status_shown = true;
    v->status_ns = now_ns;
    v->status_events = events;
}

void live_view_status_clear(struct live_view *v, FILE *f)
{
    if (!v || !v->status_shown)
        return;
    fputs("\r\033[K", f);
    fflush(f);
    v->status_shown = false;
}

static int compare_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    return x->fn < y->fn ? -1 : x->fn > y->fn;
}

static uint64_t previous_bytes(const struct live_view *v, uint32_t stack, unsigned fn)
{
    struct seen key = { .stack = stack, .fn = fn };
    const struct seen *s = v->nprev ? bsearch(&key, v->prev, v->nprev, sizeof(key), compare_seen)
                                    : NULL;
    return s ? s->bytes : 0;
}

/* "12.5 KiB" style, for a column. */
static void human_bytes(double bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    unsigned u = 0;
    double v = bytes < 0 ? -bytes : bytes;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    const char *sign = bytes < 0 ? "-" : "";
    if (u == 0)
        snprintf(buf, len, "%s%.0f %s", sign, v, units[u]);
    else
        snprintf(buf, len, "%s%.1f %s", sign, v, units[u]);
}

/* Frames of each stack a view shows. */
#define FRAMES_SHOWN 2

/* The first two frames of a record's stack, after the --alloc-fn cut:
 * "f (a.c:3) < g (a.c:9)". */
static void describe_stack(const struct report_process *p, const struct leak_record *r,
                           char *buf, size_t len)
{
    uint32_t stack = r->stack;
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    size_t used = 0;
    buf[0] = '\0';
    if (depth == 0) {
        snprintf(buf, len, "(no stack recorded)");
        return;
    }
    unsigned skip = r->cut_frame;
    for (unsigned i = r->cut_ip, shown = 0; i < depth && shown < FRAMES_SHOWN && used + 1 < len;
         i++, shown++, skip = 0) {
        const struct sym_frame_ext *frames;
        unsigned nframes = report_frames(p, stack, ips[i], &frames);
        char frame[512];
        report_format_frame(&frames[skip < nframes ? skip : 0].f, frame, sizeof(frame));
        int n = snprintf(buf + used, len - used, "%s%s", shown ? " < " : "", frame);
        if (n < 0)
            break;
        used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
}

/* Live blocks by (allocator, stack) with no kinds (no scan while the
 * process runs), grouped by their stacks after the --alloc-fn cut. A name
 * the symbolizer helper has not sent yet matches no pattern: until it
 * comes, that stack keeps its wrapper frames. */
static int live_records(const struct report_process *p, struct leak_record **recs, size_t *n)
{
    struct report_process unscanned = *p;
    unscanned.scan = NULL;
    return report_collect_records(&unscanned, recs, n);
}

void live_view_ask_names(const struct live_view *v, const struct report_process *p)
{
    struct leak_record *recs;
    size_t n;
    /* With --alloc-fn, the cut asks for the wrappers' names of every record. */
    if (live_records(p, &recs, &n) != 0)
        return; /* the view itself will ask */
    for (size_t i = 0; i < n && i < v->top; i++) {
        unsigned depth;
        const mt_addr *ips = stack_intern_get(p->stacks, recs[i].stack, &depth);
        for (unsigned k = recs[i].cut_ip; k < depth && k < recs[i].cut_ip + FRAMES_SHOWN; k++) {
            const struct sym_frame_ext *frames;
            report_frames(p, recs[i].stack, ips[k], &frames);
        }
    }
    free(recs);
}

int live_view_print(struct live_view *v, FILE *f, const struct report_process *p,
                    uint64_t now_ns, uint64_t traced_ns)
{
    struct leak_record *recs;
    size_t n;
    if (live_records(p, &recs, &n) != 0)
        return -ENOMEM;
    uint64_t events = events_of(p->model);
    double dt = v->prev_ns ? (double)(now_ns - v->prev_ns) / 1e9 : (double)traced_ns / 1e9;
    double rate = dt > 0 ? (double)(events - v->prev_events) / dt : 0;
    uint64_t live_bytes = 0, live_blocks = 0;
    for (size_t i = 0; i < n; i++) {
        live_bytes += recs[i].bytes;
        live_blocks += recs[i].blocks;
    }
    char total[32];
    human_bytes((double)live_bytes, total, sizeof(total));
    fprintf(f, "==%d== live view after %.1f s: %" PRIu64 " blocks (%s) live, %.0f events/s\n",
            p->pid, (double)traced_ns / 1e9, live_blocks, total, rate);
    if (n > 0)
        fprintf(f, "==%d==   %12s %8s %14s  %s\n", p->pid, "live bytes", "blocks", "growth",
                "allocated at");
    for (size_t i = 0; i < n && i < v->top; i++) {
        const struct leak_record *r = &recs[i];
        double growth = dt > 0 ? ((double)r->bytes -
                                  (double)previous_bytes(v, r->stack, r->fn)) / dt : 0;
        char bytes[32], grow[40], where[1200];
        human_bytes((double)r->bytes, bytes, sizeof(bytes));
        human_bytes(growth, grow + 1, sizeof(grow) - 3);
        grow[0] = growth >= 0 ? '+' : ' ';
        strcat(grow, "/s");   /* NOLINT(clang-analyzer-security.insecureAPI.strcpy): room kept */
        describe_stack(p, r, where, sizeof(where));
        fprintf(f, "==%d==   %12s %8" PRIu64 " %14s  %s\n", p->pid, bytes, r->blocks, grow, where);
    }
    fflush(f);

    struct seen *seen = malloc((n ? n : 1) * sizeof(*seen));
    if (!seen) {
        free(recs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        seen[i] = (struct seen){ .stack = recs[i].stack, .fn = recs[i].fn, .bytes = recs[i].bytes };
    free(recs);
    if (n > 1)
        qsort(seen, n, sizeof(*seen), compare_seen);
    free(v->prev);
    v->prev = seen;
    v->nprev = n;
    v->prev_ns = now_ns;
    v->prev_events = events;
    return 0;
}
