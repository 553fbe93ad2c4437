/* The model the writers share: leak records grouped from the live blocks,
 * mappings, frames through the resolver, ages, names. */
#include "report.h"
#include "grow.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static int compare_records(const void *a, const void *b)
{
    const struct leak_record *x = a, *y = b;
    uint64_t xb = x->bytes + x->indirect_bytes, yb = y->bytes + y->indirect_bytes;
    if (xb != yb)
        return xb > yb ? -1 : 1;
    if (x->blocks != y->blocks)
        return x->blocks > y->blocks ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    return (int)x->fn - (int)y->fn;
}

const char *report_kind_name(unsigned kind)
{
    return leak_kind_name((enum leak_kind)kind);   /* "unfreed" past the four kinds */
}

/* The live blocks with the scan's verdicts: in the scan's address order
 * when it still describes the table (it indexes the table's slots, no
 * per-block lookup), else in table order with no verdict ("unfreed"). */
struct live_iter {
    const struct alloc_table *live;
    const struct leak_scan *scan;   /* NULL: no verdicts */
    size_t cursor;
};

static struct live_iter live_iter_start(const struct alloc_model *m, const struct leak_scan *scan)
{
    return (struct live_iter){
        .live = &m->live, .scan = leak_scan_current(scan, &m->live) ? scan : NULL,
    };
}

static const struct block *live_iter_next(struct live_iter *it, struct leak_verdict *v,
                                          bool *has_verdict)
{
    *has_verdict = it->scan != NULL;
    return it->scan ? leak_scan_next(it->scan, &it->cursor, v)
                    : alloc_table_next(it->live, &it->cursor);
}

/* Records grow with the number of distinct (kind, allocator, stack), not
 * with the number of blocks: a million leaks from one line are one record. */
struct record_set {
    struct leak_record *recs;
    size_t n, cap;
    size_t *index;             /* open addressing into recs; (size_t)-1 = empty */
    size_t index_cap;          /* power of two, kept at least twice n */
};

static size_t record_slot(const struct record_set *rs, unsigned kind, unsigned fn, uint32_t stack)
{
    uint64_t key = ((uint64_t)kind << 40) | ((uint64_t)fn << 32) | stack;
    size_t mask = rs->index_cap - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
    for (;; i = (i + 1) & mask) {
        if (rs->index[i] == (size_t)-1)
            return i;
        const struct leak_record *r = &rs->recs[rs->index[i]];
        if (r->kind == kind && r->fn == fn && r->stack == stack)
            return i;
    }
}

static int record_set_grow(struct record_set *rs)
{
    struct leak_record *recs = mt_grow(rs->recs, &rs->cap, rs->n + 1, sizeof(*recs));
    if (!recs)
        return -ENOMEM;
    rs->recs = recs;
    if ((rs->n + 1) * 2 <= rs->index_cap)
        return 0;
    size_t cap = rs->index_cap ? rs->index_cap * 2 : 128;
    size_t *index = malloc(cap * sizeof(*index));
    if (!index)
        return -ENOMEM;
    memset(index, 0xff, cap * sizeof(*index));
    free(rs->index);
    rs->index = index;
    rs->index_cap = cap;
    for (size_t k = 0; k < rs->n; k++) {
        const struct leak_record *r = &rs->recs[k];
        rs->index[record_slot(rs, r->kind, r->fn, r->stack)] = k;
    }
    return 0;
}

int report_collect_leaks(const struct alloc_model *m, const struct leak_scan *scan,
                         struct leak_record **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct record_set rs = { 0 };
    struct live_iter it = live_iter_start(m, scan);
    struct leak_verdict v;
    bool has_v;
    const struct block *b;
    while ((b = live_iter_next(&it, &v, &has_v))) {
        unsigned kind = has_v ? (unsigned)v.kind : REPORT_KIND_UNFREED;
        if (record_set_grow(&rs) != 0) {
            free(rs.recs);
            free(rs.index);
            return -ENOMEM;
        }
        size_t i = record_slot(&rs, kind, b->fn, b->alloc_stack);
        if (rs.index[i] == (size_t)-1) {
            rs.index[i] = rs.n;
            rs.recs[rs.n++] = (struct leak_record){
                .kind = kind, .fn = (enum alloc_fn)b->fn, .stack = b->alloc_stack,
                .oldest_seq = UINT64_MAX,
            };
        }
        struct leak_record *r = &rs.recs[rs.index[i]];
        uint64_t seq = alloc_model_block_seq(m, b);
        if (seq < r->oldest_seq)
            r->oldest_seq = seq;
        if (seq > r->newest_seq)
            r->newest_seq = seq;
        r->bytes += b->size;
        r->blocks++;
        if (has_v) {
            r->indirect_bytes += v.indirect_bytes;
            r->indirect_blocks += v.indirect_blocks;
        }
    }
    free(rs.index);
    report_sort_leaks(rs.recs, rs.n);
    *out = rs.recs;
    *n = rs.n;
    return 0;
}

void report_sort_leaks(struct leak_record *recs, size_t n)
{
    if (n > 1)
        qsort(recs, n, sizeof(*recs), compare_records);
}

void report_kind_totals(const struct alloc_model *m, const struct leak_scan *scan,
                        struct report_amount totals[LEAK_KIND_COUNT + 1])
{
    memset(totals, 0, sizeof(*totals) * (LEAK_KIND_COUNT + 1));
    struct live_iter it = live_iter_start(m, scan);
    struct leak_verdict v;
    bool has_v;
    const struct block *b;
    while ((b = live_iter_next(&it, &v, &has_v))) {
        if (has_v) {
            totals[v.kind].bytes += b->size;
            totals[v.kind].blocks++;
        }
        totals[REPORT_KIND_UNFREED].bytes += b->size;
        totals[REPORT_KIND_UNFREED].blocks++;
    }
}

void report_unfreed_totals(const struct alloc_model *m, uint64_t *bytes, uint64_t *blocks)
{
    struct report_amount t[LEAK_KIND_COUNT + 1];
    report_kind_totals(m, NULL, t);
    *bytes = t[REPORT_KIND_UNFREED].bytes;
    *blocks = t[REPORT_KIND_UNFREED].blocks;
}

void report_process_totals(const struct report_process *p,
                           struct report_amount totals[LEAK_KIND_COUNT + 1])
{
    if (!p->saved) {
        report_kind_totals(p->model, p->scan, totals);
        return;
    }
    for (unsigned k = 0; k <= LEAK_KIND_COUNT; k++)
        totals[k] = (struct report_amount){ p->saved->totals[k].bytes, p->saved->totals[k].blocks };
}

bool report_classified(const struct report_process *p)
{
    return p->saved ? p->saved->classified : p->scan != NULL;
}

unsigned report_frames(const struct report_process *p, uint32_t stack, mt_addr ip,
                       const struct sym_frame_ext **out)
{
    return p->resolve_frames(p->resolve_ctx, stack, ip, out);
}

double report_age_s(const struct report_process *p, uint64_t seq)
{
    uint64_t at = alloc_model_seq_time(p->model, seq);
    if (!p->end_ns || !at || at > p->end_ns)
        return -1;
    return (double)(p->end_ns - at) / 1e9;
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

const char *report_kind_words(unsigned kind)
{
    switch (kind) {
    case LEAK_DEFINITE: return "definitely lost";
    case LEAK_INDIRECT: return "indirectly lost";
    case LEAK_POSSIBLE: return "possibly lost";
    case LEAK_REACHABLE: return "still reachable";
    default: return "unfreed";
    }
}

static bool has_prefix(const char *s, const char *const *prefixes)
{
    for (; *prefixes; prefixes++)
        if (strncmp(s, *prefixes, strlen(*prefixes)) == 0)
            return true;
    return false;
}

bool report_frame_is_own(const struct sym_frame *fr)
{
    static const char *const system_modules[] = {
        "/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/", NULL
    };
    static const char *const system_sources[] = {
        "/usr/include/", "/usr/lib/", "/usr/src/", "/rustc/", NULL
    };
    return fr->file && fr->line > 0 && !has_prefix(fr->file, system_sources) &&
           !(fr->module && has_prefix(fr->module, system_modules));
}

void report_xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 has no place for other control characters. */
            if (c < 0x20 && c != '\t' && c != '\n')
                fputc('?', f);
            else
                fputc(c, f);
        }
    }
}

void report_leak_headline(const struct leak_record *r, size_t number, size_t total, char *buf,
                          size_t len)
{
    int at = r->indirect_bytes
                 ? snprintf(buf, len, "%" PRIu64 " (%" PRIu64 " direct, %" PRIu64
                            " indirect) bytes", r->bytes + r->indirect_bytes, r->bytes,
                            r->indirect_bytes)
                 : snprintf(buf, len, "%" PRIu64 " bytes", r->bytes);
    if (at < 0 || (size_t)at >= len)
        return;
    int more = snprintf(buf + at, len - (size_t)at, " in %" PRIu64 " blocks are %s", r->blocks,
                        report_kind_words(r->kind));
    if (more < 0 || (size_t)(at += more) >= len || number == 0)
        return;
    snprintf(buf + at, len - (size_t)at, " in loss record %zu of %zu", number, total);
}

bool report_leak_is_error(const struct report_process *p, const struct leak_record *r)
{
    unsigned kinds = p->error_kinds & REPORT_ALL_KINDS;
    if (r->suppressed_by)
        return false;
    return r->kind == REPORT_KIND_UNFREED ? kinds != 0 : (kinds & (1u << r->kind)) != 0;
}

bool report_found_problems(const struct report_process *procs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct report_process *p = &procs[i];
        if (report_error_count(p) > 0)
            return true;
        if (p->records_hidden)
            continue;
        if (p->supps && p->supps->n > 0) {
            /* Suppressed records are no errors: they must be looked at. */
            struct leak_record *recs;
            size_t nrecs;
            if (report_collect_records(p, &recs, &nrecs) != 0)
                return true;
            bool found = false;
            for (size_t k = 0; k < nrecs && !found; k++)
                found = report_leak_is_error(p, &recs[k]);
            free(recs);
            if (found)
                return true;
            continue;
        }
        struct report_amount t[LEAK_KIND_COUNT + 1];
        report_process_totals(p, t);
        for (unsigned k = 0; k <= LEAK_KIND_COUNT; k++) {
            struct leak_record r = { .kind = k };
            bool counted = report_classified(p) ? k < LEAK_KIND_COUNT : k == REPORT_KIND_UNFREED;
            if (counted && t[k].blocks > 0 && report_leak_is_error(p, &r))
                return true;
        }
    }
    return false;
}

/* Pieces of one attachment that a partial munmap split are one address. */
static bool continues_attachment(const struct map_table *t, size_t i)
{
    return i > 0 && t->regions[i - 1].shmid == t->regions[i].shmid &&
           t->regions[i - 1].hi == t->regions[i].lo;
}

/* A segment is worth a record when it outlives the process (created here,
 * never removed by anyone) or when it was still attached at the end. */
static bool segment_reported(const struct shm_segment *s, size_t nattached)
{
    return nattached > 0 || (s->created && shm_segment_persists(s));
}

int report_collect_mappings(const struct report_process *p, struct mapping_report *out)
{
    memset(out, 0, sizeof(*out));
    const struct map_table *mt = p->maps;
    const struct shm_table *st = p->shms;
    size_t nregions = mt ? mt->n : 0, nsegs = st ? st->n : 0;
    out->recs = calloc(nregions + nsegs + 1, sizeof(*out->recs));
    out->addrs = calloc(nregions + 1, sizeof(*out->addrs));
    if (!out->recs || !out->addrs) {
        report_mappings_free(out);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nregions; i++) {
        const struct map_region *r = &mt->regions[i];
        if (r->shmid >= 0)
            continue;   /* listed with its segment */
        if (r->arena) {
            out->narenas += i == 0 || !mt->regions[i - 1].arena || mt->regions[i - 1].hi != r->lo;
            out->arena_bytes += r->hi - r->lo;
            continue;
        }
        const char *path = map_table_path(mt, r);
        bool anon = (r->flags & MAP_ANONYMOUS) || (path && strcmp(path, "/dev/zero") == 0);
        out->recs[out->n++] = (struct mapping_record){
            .addr = r->lo, .bytes = r->hi - r->lo, .prot = r->prot, .flags = r->flags,
            .path = path, .backing = anon ? "anonymous" : "file",
            .shared = (r->flags & MAP_TYPE) != MAP_PRIVATE, .stack = r->stack,
        };
    }
    out->nmmaps = out->n;
    size_t naddrs = 0;
    for (size_t k = 0; k < nsegs; k++) {
        const struct shm_segment *s = &st->segs[k];
        struct mapping_record rec = {
            .sysv = true, .bytes = s->size, .flags = MAP_SHARED, .backing = "sysv",
            .shared = true, .stack = s->stack, .seg = s, .attached = &out->addrs[naddrs],
        };
        for (size_t i = 0; i < nregions; i++) {
            const struct map_region *r = &mt->regions[i];
            if (r->shmid != s->shmid || continues_attachment(mt, i))
                continue;
            if (!rec.nattached) {
                rec.addr = r->lo;
                rec.prot = r->prot;
            }
            out->addrs[naddrs++] = r->lo;
            rec.nattached++;
        }
        if (segment_reported(s, rec.nattached))
            out->recs[out->n++] = rec;
    }
    return 0;
}

void report_mappings_free(struct mapping_report *r)
{
    free(r->recs);
    free(r->addrs);
    memset(r, 0, sizeof(*r));
}

void report_prot_string(int prot, char buf[4])
{
    buf[0] = prot & PROT_READ ? 'r' : '-';
    buf[1] = prot & PROT_WRITE ? 'w' : '-';
    buf[2] = prot & PROT_EXEC ? 'x' : '-';
    buf[3] = '\0';
}

size_t report_map_flag_words(const struct mapping_record *r, const char *words[3])
{
    size_t n = 0;
    words[n++] = (r->flags & MAP_TYPE) == MAP_PRIVATE ? "private" : "shared";
    if (r->flags & MAP_ANONYMOUS)
        words[n++] = "anonymous";
    if (r->flags & MAP_FIXED)
        words[n++] = "fixed";
    return n;
}

const char *report_addr_kind_name(enum addr_kind kind)
{
    static const char *const names[] = {
        [ADDR_UNKNOWN] = "unknown", [ADDR_STACK] = "stack", [ADDR_HEAP_BLOCK] = "heap_block",
        [ADDR_FREED_BLOCK] = "freed_block", [ADDR_DATA_SYMBOL] = "data_symbol",
        [ADDR_MAPPING] = "mapping",
    };
    return kind <= ADDR_MAPPING ? names[kind] : "unknown";
}

const char *report_end_name(enum report_end end)
{
    switch (end) {
    case REPORT_EXITED: return "exited";
    case REPORT_SIGNALED: return "signaled";
    case REPORT_EXEC: return "exec";
    case REPORT_DETACHED: return "detached";
    case REPORT_RUNNING: break;
    }
    return "running";
}
