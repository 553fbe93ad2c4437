/* Reachability scan, following memcheck's mc_leakcheck.c: mark from roots
 * (start pointers from definite places make blocks reachable, anything else
 * at most possible), then group the unreached blocks into lost structures,
 * each led by one definitely lost block that owns the rest as indirect. */
#include "leak_scan.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_BYTES (1u << 20)
#define UNASSIGNED LEAK_KIND_COUNT
enum { REACH_NONE, REACH_INTERIOR, REACH_START };

static int compare_blocks(const void *a, const void *b)
{
    const struct leak_scan_block *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Index of the block containing addr (a start pointer counts even for a
 * zero-size block), or -1. */
static long find_block(const struct leak_scan *s, mt_addr addr, bool *is_start)
{
    if (addr < s->lo || addr >= s->hi)
        return -1;
    size_t lo = 0, hi = s->n;   /* first block with addr > target */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->blocks[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const struct leak_scan_block *b = &s->blocks[lo - 1];
    *is_start = addr == b->addr;
    if (*is_start || addr < b->addr + b->size)
        return (long)(lo - 1);
    return -1;
}

static int push_edge(struct leak_scan *s, uint32_t value)
{
    if (s->nedges == s->edges_cap) {
        size_t cap = s->edges_cap ? s->edges_cap * 2 : 1024;
        uint32_t *p = realloc(s->edges, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->edges = p;
        s->edges_cap = cap;
    }
    s->edges[s->nedges++] = value;
    return 0;
}

static int push_work(struct leak_scan *s, uint32_t i)
{
    if (s->nstack == s->stack_cap) {
        size_t cap = s->stack_cap ? s->stack_cap * 2 : 1024;
        uint32_t *p = realloc(s->stack, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->stack = p;
        s->stack_cap = cap;
    }
    s->stack[s->nstack++] = i;
    return 0;
}

/* Calls visit(s, word, arg) for every aligned word of [lo, hi), reading
 * through buf in windows. */
typedef int (*word_fn)(struct leak_scan *s, uint64_t word, void *arg);

static int scan_words(struct leak_scan *s, mt_addr lo, mt_addr hi, uint8_t *buf, word_fn visit,
                      void *arg)
{
    lo = (lo + 7) & ~(mt_addr)7;
    while (lo + 8 <= hi) {
        size_t want = hi - lo > WINDOW_BYTES ? WINDOW_BYTES : (size_t)(hi - lo);
        ssize_t got = s->read(s->read_ctx, lo, buf, want);
        if (got <= 0) {
            /* An unreadable page: skip to the next one. */
            lo = (lo + 4096) & ~(mt_addr)4095;
            continue;
        }
        s->bytes_scanned += (uint64_t)got;
        for (size_t off = 0; off + 8 <= (size_t)got; off += 8) {
            uint64_t w;
            memcpy(&w, buf + off, 8);
            if (w >= s->lo && w < s->hi) {
                int err = visit(s, w, arg);
                if (err)
                    return err;
            }
        }
        lo += (mt_addr)got & ~(mt_addr)7;
    }
    return 0;
}

int leak_heuristics_parse(const char *list, unsigned *out)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "stdstring", HEUR_STDSTRING }, { "length64", HEUR_LENGTH64 },
        { "newarray", HEUR_NEWARRAY }, { "multipleinheritance", HEUR_MULTIPLE_INHERITANCE },
    };
    if (strcmp(list, "all") == 0 || strcmp(list, "none") == 0) {
        *out = strcmp(list, "all") == 0 ? HEUR_ALL : 0;
        return 0;
    }
    unsigned bits = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0)
                bit = names[i].bit;
        if (!bit)
            return -1;
        bits |= bit;
        p += len + (p[len] == ',');
    }
    *out = bits;
    return *list ? 0 : -1;
}

static bool read_word(struct leak_scan *s, mt_addr addr, uint64_t *w)
{
    return s->read(s->read_ctx, addr, w, sizeof(*w)) == (ssize_t)sizeof(*w);
}

/* Valgrind's heuristics (memcheck/mc_leakcheck.c, heuristic_reachedness):
 * is the interior pointer ptr into block b one that C++ code keeps on
 * purpose? */
static bool heuristic_match(struct leak_scan *s, const struct leak_scan_block *b, mt_addr ptr)
{
    uint64_t first = 0, second = 0;
    mt_addr off = ptr - b->addr;
    if ((s->heuristics & HEUR_STDSTRING) && off == 24 && read_word(s, b->addr, &first) &&
        read_word(s, b->addr + 8, &second) && second > 0 && second <= b->size &&
        first <= second && 24 + second + 1 == b->size)
        return true;
    if ((s->heuristics & (HEUR_LENGTH64 | HEUR_NEWARRAY)) && off == 8 &&
        read_word(s, b->addr, &first) && first > 0) {
        if ((s->heuristics & HEUR_LENGTH64) && b->size - 8 == first)
            return true;
        if ((s->heuristics & HEUR_NEWARRAY) && (b->size - 8) % first == 0)
            return true;
    }
    if ((s->heuristics & HEUR_MULTIPLE_INHERITANCE) && s->is_vtable && (ptr & 7) == 0 &&
        read_word(s, ptr, &second) && s->is_vtable(s->read_ctx, second) &&
        read_word(s, b->addr, &first) && s->is_vtable(s->read_ctx, first))
        return true;
    return false;
}

/* Block j for a pointer, or -1; *start tells whether it counts as a start
 * pointer (a heuristic can make an interior pointer one). */
/* glibc keeps a chunk header (prev_size, size) right after each chunk, and
 * its free lists point at those headers: stale fd/bk words left in a
 * recycled block, main_arena's top and bins. The header after block b sits
 * inside b's usable tail, at b - 16 + chunksize(b). A pointer there is the
 * allocator's, not the program's. */
static bool is_chunk_header_pointer(struct leak_scan *s, struct leak_scan_block *b, mt_addr ptr)
{
    if (b->chunk_size == 0) {
        uint64_t field = 0;
        b->chunk_size = read_word(s, b->addr - 8, &field) ? field : 1;
    }
    uint64_t size = b->chunk_size & ~(uint64_t)7;
    bool mmapped = b->chunk_size & 2;
    return !mmapped && size >= 32 && ptr == b->addr - 16 + size;
}

static long classify_pointer(struct leak_scan *s, mt_addr ptr, bool *start)
{
    long j = find_block(s, ptr, start);
    if (j >= 0 && !*start && is_chunk_header_pointer(s, &s->blocks[j], ptr))
        return -1;
    if (j >= 0 && !*start && s->heuristics && heuristic_match(s, &s->blocks[j], ptr)) {
        *start = true;
        s->heuristic_hits++;
    }
    return j;
}

struct edge_ctx { uint32_t from; };

static int add_edge(struct leak_scan *s, uint64_t word, void *arg)
{
    const struct edge_ctx *e = arg;
    bool start;
    long j = classify_pointer(s, word, &start);
    if (j < 0 || (uint32_t)j == e->from)
        return 0;
    return push_edge(s, (uint32_t)j << 1 | (start ? 0u : 1u));
}

int leak_scan_init(struct leak_scan *s, const struct alloc_table *live, leak_read_fn read,
                   void *read_ctx, unsigned heuristics, leak_vtable_fn is_vtable)
{
    memset(s, 0, sizeof(*s));
    s->read = read;
    s->read_ctx = read_ctx;
    s->heuristics = heuristics;
    s->is_vtable = is_vtable;
    s->n = live->count;
    s->blocks = calloc(s->n ? s->n : 1, sizeof(*s->blocks));
    s->edge_start = calloc(s->n + 1, sizeof(*s->edge_start));
    uint8_t *buf = malloc(WINDOW_BYTES);
    if (!s->blocks || !s->edge_start || !buf || s->n > UINT32_MAX / 2) {
        free(buf);
        leak_scan_destroy(s);
        return -ENOMEM;
    }
    size_t cursor = 0, k = 0;
    const struct block *b;
    while ((b = alloc_table_next(live, &cursor)) && k < s->n)
        s->blocks[k++] = (struct leak_scan_block){ .addr = b->addr, .size = b->size,
                                                   .kind = UNASSIGNED };
    s->n = k;
    qsort(s->blocks, s->n, sizeof(*s->blocks), compare_blocks);
    if (s->n) {
        s->lo = s->blocks[0].addr;
        for (size_t i = 0; i < s->n; i++) {
            mt_addr end = s->blocks[i].addr + (s->blocks[i].size ? s->blocks[i].size : 1);
            if (end > s->hi)
                s->hi = end;
        }
    }
    int err = 0;
    /* Blocks are visited in address order through one window of target
     * memory, so neighbouring small blocks cost one read, not one each. */
    mt_addr win_lo = 0, win_hi = 0;
    for (size_t i = 0; i < s->n && !err; i++) {
        s->edge_start[i] = (uint32_t)s->nedges;
        struct edge_ctx e = { .from = (uint32_t)i };
        mt_addr lo = s->blocks[i].addr, hi = lo + s->blocks[i].size;
        if (hi - lo > WINDOW_BYTES / 2) {
            win_lo = win_hi = 0;   /* large blocks go straight through scan_words */
            err = scan_words(s, lo, hi, buf, add_edge, &e);
            continue;
        }
        if (lo < win_lo || hi > win_hi) {
            ssize_t got = s->read(s->read_ctx, lo, buf, WINDOW_BYTES);
            win_lo = lo;
            win_hi = lo + (got > 0 ? (mt_addr)got : 0);
            if (got > 0)
                s->bytes_scanned += (uint64_t)got;
            if (hi > win_hi) {
                win_lo = win_hi = 0;
                err = scan_words(s, lo, hi, buf, add_edge, &e);
                continue;
            }
        }
        for (mt_addr a = (lo + 7) & ~(mt_addr)7; a + 8 <= hi && !err; a += 8) {
            uint64_t w;
            memcpy(&w, buf + (a - win_lo), 8);
            if (w >= s->lo && w < s->hi)
                err = add_edge(s, w, &e);
        }
    }
    s->edge_start[s->n] = (uint32_t)s->nedges;
    free(buf);
    if (err)
        leak_scan_destroy(s);
    return err;
}

void leak_scan_destroy(struct leak_scan *s)
{
    free(s->blocks);
    free(s->edge_start);
    free(s->edges);
    free(s->stack);
    memset(s, 0, sizeof(*s));
}

/* Upgrades block j's reach; a block reached through a possibly lost one
 * is at most possibly lost (memcheck's is_prior_definite). */
static void reach(struct leak_scan *s, uint32_t j, bool start, bool prior_definite)
{
    uint8_t level = start && prior_definite ? REACH_START : REACH_INTERIOR;
    if (s->blocks[j].reached >= level)
        return;
    s->blocks[j].reached = level;
    push_work(s, j);   /* on ENOMEM the block is still marked; only propagation is cut */
}

struct root_ctx { bool starts_only; };

static int root_word(struct leak_scan *s, uint64_t word, void *arg)
{
    const struct root_ctx *r = arg;
    bool start;
    long j = r->starts_only ? find_block(s, word, &start) : classify_pointer(s, word, &start);
    if (j >= 0 && (start || !r->starts_only))
        reach(s, (uint32_t)j, start, true);
    return 0;
}

void leak_scan_root_region(struct leak_scan *s, mt_addr lo, mt_addr hi, bool starts_only)
{
    if (s->n == 0 || hi <= lo)
        return;
    uint8_t *buf = malloc(WINDOW_BYTES);
    if (!buf)
        return;
    struct root_ctx r = { .starts_only = starts_only };
    scan_words(s, lo, hi, buf, root_word, &r);
    free(buf);
}

void leak_scan_root_words(struct leak_scan *s, const uint64_t *words, size_t n)
{
    struct root_ctx r = { .starts_only = false };
    for (size_t i = 0; i < n; i++)
        if (words[i] >= s->lo && words[i] < s->hi)
            root_word(s, words[i], &r);
}

static void propagate(struct leak_scan *s)
{
    while (s->nstack > 0) {
        uint32_t i = s->stack[--s->nstack];
        bool definite = s->blocks[i].reached == REACH_START;
        for (uint32_t e = s->edge_start[i]; e < s->edge_start[i + 1]; e++)
            reach(s, s->edges[e] >> 1, (s->edges[e] & 1) == 0, definite);
    }
}

/* Floods the lost structure led by `leader`: blocks it reaches become
 * indirect and are charged to it; an earlier leader it reaches is demoted
 * and its charge moves over. */
static void flood_clique(struct leak_scan *s, uint32_t leader)
{
    struct leak_scan_block *L = &s->blocks[leader];
    L->kind = LEAK_DEFINITE;
    push_work(s, leader);
    while (s->nstack > 0) {
        uint32_t i = s->stack[--s->nstack];
        for (uint32_t e = s->edge_start[i]; e < s->edge_start[i + 1]; e++) {
            uint32_t j = s->edges[e] >> 1;
            struct leak_scan_block *b = &s->blocks[j];
            if (j == leader || b->reached != REACH_NONE)
                continue;
            if (b->kind == LEAK_DEFINITE) {
                b->kind = LEAK_INDIRECT;
                L->indirect_bytes += b->size + b->indirect_bytes;
                L->indirect_blocks += 1 + b->indirect_blocks;
                b->indirect_bytes = 0;
                b->indirect_blocks = 0;
            } else if (b->kind == UNASSIGNED) {
                b->kind = LEAK_INDIRECT;
                L->indirect_bytes += b->size;
                L->indirect_blocks++;
                push_work(s, j);
            }
        }
    }
}

int leak_scan_finish(struct leak_scan *s)
{
    propagate(s);
    for (size_t i = 0; i < s->n; i++) {
        struct leak_scan_block *b = &s->blocks[i];
        if (b->reached == REACH_START)
            b->kind = LEAK_REACHABLE;
        else if (b->reached == REACH_INTERIOR)
            b->kind = LEAK_POSSIBLE;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->blocks[i].kind == UNASSIGNED)
            flood_clique(s, (uint32_t)i);
    return 0;
}

bool leak_scan_has_block_in(const struct leak_scan *s, mt_addr lo, mt_addr hi)
{
    size_t a = 0, b = s->n;   /* first block with addr >= lo */
    while (a < b) {
        size_t mid = (a + b) / 2;
        if (s->blocks[mid].addr < lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a < s->n && s->blocks[a].addr < hi;
}

const struct leak_scan_block *leak_scan_find(const struct leak_scan *s, mt_addr addr)
{
    bool start;
    long j = find_block(s, addr, &start);
    return j >= 0 && start ? &s->blocks[j] : NULL;
}

const char *leak_kind_name(enum leak_kind k)
{
    static const char *const names[] = {
        [LEAK_DEFINITE] = "definitely_lost", [LEAK_INDIRECT] = "indirectly_lost",
        [LEAK_POSSIBLE] = "possibly_lost", [LEAK_REACHABLE] = "still_reachable",
    };
    return (unsigned)k < LEAK_KIND_COUNT ? names[k] : "unfreed";
}
