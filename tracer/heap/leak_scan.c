/* Reachability scan, following memcheck's mc_leakcheck.c: mark from roots
 * (start pointers from definite places make blocks reachable, anything else
 * at most possible), then group the unreached blocks into lost structures,
 * each led by one definitely lost block that owns the rest as indirect. */
#include "leak_scan.h"
#include "glibc_heap.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_BYTES (1u << 20)
#define UNASSIGNED LEAK_KIND_COUNT
#define LEAK_FENCE 32
enum { REACH_NONE, REACH_INTERIOR, REACH_START };

static const struct block *blk(const struct leak_scan *s, size_t rank)
{
    return &s->live->slots[s->order[rank]];
}

static mt_addr addr_of(const struct leak_scan *s, size_t rank)
{
    return blk(s, rank)->addr;
}

static uint64_t size_of(const struct leak_scan *s, size_t rank)
{
    return blk(s, rank)->size;
}

static unsigned kind_of(const struct leak_scan *s, size_t rank)
{
    return s->state[rank] & 7u;
}

static void set_kind(struct leak_scan *s, size_t rank, unsigned kind)
{
    s->state[rank] = (uint8_t)((s->state[rank] & ~7u) | kind);
}

static unsigned reached_of(const struct leak_scan *s, size_t rank)
{
    return s->state[rank] >> 3;
}

static void set_reached(struct leak_scan *s, size_t rank, unsigned level)
{
    s->state[rank] = (uint8_t)((s->state[rank] & 7u) | level << 3);
}

/* Number of blocks whose start is <= a. The fence (every LEAK_FENCE-th
 * address, contiguous and small) narrows the search to LEAK_FENCE ranks
 * before the table's slots, scattered in memory, are touched. */
static size_t rank_upper(const struct leak_scan *s, mt_addr a)
{
    size_t lo = 0, hi = s->nfence;   /* fences <= a */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->fence[mid] <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    size_t r_lo = (lo - 1) * LEAK_FENCE + 1, r_hi = lo * LEAK_FENCE < s->n ? lo * LEAK_FENCE : s->n;
    while (r_lo < r_hi) {
        size_t mid = (r_lo + r_hi) / 2;
        if (addr_of(s, mid) <= a)
            r_lo = mid + 1;
        else
            r_hi = mid;
    }
    return r_lo;
}

/* Index of the block containing addr (a start pointer counts even for a
 * zero-size block), or -1. */
static long find_block(const struct leak_scan *s, mt_addr addr, bool *is_start)
{
    if (addr < s->lo || addr >= s->hi)
        return -1;
    size_t r = rank_upper(s, addr);
    if (r == 0)
        return -1;
    const struct block *b = blk(s, r - 1);
    *is_start = addr == b->addr;
    if (*is_start || addr < b->addr + b->size)
        return (long)(r - 1);
    return -1;
}

/* In-place quicksort (median of three, insertion sort below 16, loop on the
 * larger part): no temporary array, so the scan's peak memory stays at the
 * address list itself. */
static void sort_addrs(uint64_t *a, size_t n)
{
    while (n > 16) {
        uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
        uint64_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i >= j)
                break;
            uint64_t t = a[i];
            a[i++] = a[j];
            a[j--] = t;
        }
        size_t left = j + 1;   /* a[0..j] <= pivot <= a[j+1..] */
        if (left < n - left) {
            sort_addrs(a, left);
            a += left;
            n -= left;
        } else {
            sort_addrs(a + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

/* order[]: the live slots by address. Addresses are gathered and sorted in
 * one 8-byte-per-block buffer that is then turned, in place, into the 4-byte
 * slot numbers (order[r] overwrites bytes that address r has already given). */
static int build_order(struct leak_scan *s)
{
    const struct alloc_table *live = s->live;
    uint64_t *addrs = malloc((live->count ? live->count : 1) * sizeof(*addrs));
    if (!addrs)
        return -ENOMEM;
    size_t cursor = 0, n = 0;
    const struct block *b;
    while ((b = alloc_table_next(live, &cursor)) && n < live->count)
        addrs[n++] = b->addr;
    sort_addrs(addrs, n);
    for (size_t r = 0; r < n; r++) {
        uint64_t a;
        memcpy(&a, (char *)addrs + r * 8, 8);
        uint32_t slot = (uint32_t)(alloc_table_get(live, a) - live->slots);
        memcpy((char *)addrs + r * 4, &slot, 4);
    }
    uint32_t *order = realloc(addrs, (n ? n : 1) * sizeof(*order));
    s->order = order ? order : (uint32_t *)(void *)addrs;
    s->n = n;
    s->nfence = (n + LEAK_FENCE - 1) / LEAK_FENCE;
    s->fence = malloc((s->nfence ? s->nfence : 1) * sizeof(*s->fence));
    if (!s->fence)
        return -ENOMEM;
    for (size_t k = 0; k < s->nfence; k++)
        s->fence[k] = addr_of(s, k * LEAK_FENCE);
    return 0;
}

/* Definite leaders' indirect amounts, by rank (open addressing). */
static struct leak_owner *owner_find(const struct leak_scan *s, uint32_t rank)
{
    if (!s->owners_cap)
        return NULL;
    size_t mask = s->owners_cap - 1;
    for (size_t i = (rank * 0x9e3779b1u) & mask;; i = (i + 1) & mask) {
        if (s->owners[i].rank == rank)
            return &s->owners[i];
        if (s->owners[i].rank == UINT32_MAX)
            return NULL;
    }
}

/* Doubles the owner table and re-inserts every owner: an open-addressing
 * table is rebuilt, not copied, so mt_grow does not fit. */
static int owners_grow(struct leak_scan *s)
{
    size_t cap = s->owners_cap ? s->owners_cap * 2 : 64;
    struct leak_owner *p = malloc(cap * sizeof(*p));
    if (!p)
        return -ENOMEM;
    for (size_t i = 0; i < cap; i++)
        p[i].rank = UINT32_MAX;
    for (size_t i = 0; i < s->owners_cap; i++) {
        if (s->owners[i].rank == UINT32_MAX)
            continue;
        size_t j = (s->owners[i].rank * 0x9e3779b1u) & (cap - 1);
        /* Every p[j] is set above; the analyzer follows one turn of that loop. */
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
        while (p[j].rank != UINT32_MAX)
            j = (j + 1) & (cap - 1);
        p[j] = s->owners[i];
    }
    free(s->owners);
    s->owners = p;
    s->owners_cap = cap;
    return 0;
}

static int owner_add(struct leak_scan *s, uint32_t rank, uint64_t bytes, uint32_t blocks)
{
    struct leak_owner *o = owner_find(s, rank);
    if (!o) {
        if ((s->nowners + 1) * 2 > s->owners_cap && owners_grow(s) != 0)
            return -ENOMEM;
        size_t mask = s->owners_cap - 1, i = (rank * 0x9e3779b1u) & mask;
        while (s->owners[i].rank != UINT32_MAX)
            i = (i + 1) & mask;
        o = &s->owners[i];
        *o = (struct leak_owner){ .rank = rank };
        s->nowners++;
    }
    o->indirect_bytes += bytes;
    o->indirect_blocks += blocks;
    return 0;
}

static int push_edge(struct leak_scan *s, uint32_t value)
{
    uint32_t *p = mt_grow(s->edges, &s->edges_cap, s->nedges + 1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    s->edges = p;
    s->edges[s->nedges++] = value;
    return 0;
}

static int push_work(struct leak_scan *s, uint32_t i)
{
    uint32_t *p = mt_grow(s->stack, &s->stack_cap, s->nstack + 1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    s->stack = p;
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

static bool read_word(struct leak_scan *s, mt_addr addr, uint64_t *w)
{
    return s->read(s->read_ctx, addr, w, sizeof(*w)) == (ssize_t)sizeof(*w);
}

/* Valgrind's heuristics (memcheck/mc_leakcheck.c, heuristic_reachedness):
 * is the interior pointer ptr into block b one that C++ code keeps on
 * purpose? */
static bool heuristic_match(struct leak_scan *s, const struct block *b, mt_addr ptr)
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
 * pointer. An interior pointer is put first to the allocator's rules, which
 * may dismiss it as the allocator's own or make it a start pointer, then to
 * Valgrind's heuristics, which may make it a start pointer. */
static long classify_pointer(struct leak_scan *s, mt_addr ptr, bool *start)
{
    long j = find_block(s, ptr, start);
    if (j < 0 || *start)
        return j;
    const struct block *b = blk(s, (size_t)j);
    switch (s->rules.interior(s->rules.state, (size_t)j, b, ptr)) {
    case LEAK_PTR_IGNORE:
        return -1;
    case LEAK_PTR_START:
        *start = true;
        return j;
    case LEAK_PTR_INTERIOR:
        break;
    }
    if (s->heuristics && heuristic_match(s, b, ptr)) {
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

/* edges[]: the pointers in every block's contents, by block (CSR). Blocks
 * are visited in address order through one window of target memory (buf,
 * WINDOW_BYTES), so neighbouring small blocks cost one read, not one each. */
static int build_edges(struct leak_scan *s, uint8_t *buf)
{
    int err = 0;
    mt_addr win_lo = 0, win_hi = 0;
    for (size_t i = 0; i < s->n && !err; i++) {
        s->edge_start[i] = (uint32_t)s->nedges;
        struct edge_ctx e = { .from = (uint32_t)i };
        mt_addr lo = addr_of(s, i), hi = lo + size_of(s, i);
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
    return err;
}

int leak_scan_init(struct leak_scan *s, const struct alloc_table *live, leak_read_fn read,
                   void *read_ctx, unsigned heuristics, leak_vtable_fn is_vtable)
{
    memset(s, 0, sizeof(*s));
    s->live = live;
    s->live_generation = live->generation;
    s->read = read;
    s->read_ctx = read_ctx;
    s->heuristics = heuristics;
    s->is_vtable = is_vtable;
    if (live->count > UINT32_MAX / 2 || live->capacity > UINT32_MAX)
        return -ENOMEM;
    int err = build_order(s);
    if (!err)   /* the allocator memtrace hooks is glibc's */
        err = glibc_heap_rules(&s->rules, read, read_ctx);
    s->state = err ? NULL : malloc(s->n ? s->n : 1);
    s->edge_start = s->state ? calloc(s->n + 1, sizeof(*s->edge_start)) : NULL;
    uint8_t *buf = s->edge_start ? malloc(WINDOW_BYTES) : NULL;
    if (!buf) {
        leak_scan_destroy(s);
        return -ENOMEM;
    }
    memset(s->state, UNASSIGNED, s->n);   /* reached = REACH_NONE */
    if (s->n) {
        s->lo = addr_of(s, 0);
        for (size_t i = 0; i < s->n; i++) {
            const struct block *bl = blk(s, i);
            mt_addr end = bl->addr + (bl->size ? bl->size : 1);
            if (end > s->hi)
                s->hi = end;
        }
    }
    err = build_edges(s, buf);
    free(buf);
    if (err)
        leak_scan_destroy(s);
    return err;
}

void leak_scan_destroy(struct leak_scan *s)
{
    if (s->rules.destroy)
        s->rules.destroy(s->rules.state);
    free(s->order);
    free(s->state);
    free(s->fence);
    free(s->owners);
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
    if (reached_of(s, j) >= level)
        return;
    set_reached(s, j, level);
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
        bool definite = reached_of(s, i) == REACH_START;
        for (uint32_t e = s->edge_start[i]; e < s->edge_start[i + 1]; e++)
            reach(s, s->edges[e] >> 1, (s->edges[e] & 1) == 0, definite);
    }
}

/* Floods the lost structure led by `leader`: blocks it reaches become
 * indirect and are charged to it; an earlier leader it reaches is demoted
 * and its charge moves over. */
static int flood_clique(struct leak_scan *s, uint32_t leader)
{
    int err = 0;
    set_kind(s, leader, LEAK_DEFINITE);
    push_work(s, leader);
    while (s->nstack > 0) {
        uint32_t i = s->stack[--s->nstack];
        for (uint32_t e = s->edge_start[i]; e < s->edge_start[i + 1] && !err; e++) {
            uint32_t j = s->edges[e] >> 1;
            if (j == leader || reached_of(s, j) != REACH_NONE)
                continue;
            if (kind_of(s, j) == LEAK_DEFINITE) {
                set_kind(s, j, LEAK_INDIRECT);
                struct leak_owner *o = owner_find(s, j);
                uint64_t bytes = size_of(s, j) + (o ? o->indirect_bytes : 0);
                uint32_t blocks = 1 + (o ? o->indirect_blocks : 0);
                if (o)
                    o->indirect_bytes = o->indirect_blocks = 0;
                err = owner_add(s, leader, bytes, blocks);
            } else if (kind_of(s, j) == UNASSIGNED) {
                set_kind(s, j, LEAK_INDIRECT);
                err = owner_add(s, leader, size_of(s, j), 1);
                push_work(s, j);
            }
        }
    }
    s->nstack = 0;
    return err;
}

int leak_scan_finish(struct leak_scan *s)
{
    propagate(s);
    for (size_t i = 0; i < s->n; i++) {
        if (reached_of(s, i) == REACH_START)
            set_kind(s, i, LEAK_REACHABLE);
        else if (reached_of(s, i) == REACH_INTERIOR)
            set_kind(s, i, LEAK_POSSIBLE);
    }
    int err = 0;
    for (size_t i = 0; i < s->n && !err; i++)
        if (kind_of(s, i) == UNASSIGNED)
            err = flood_clique(s, (uint32_t)i);
    return err;
}

int leak_scan_settle(struct leak_scan *s, struct alloc_table *live)
{
    if (!leak_scan_current(s, live))
        return alloc_table_shrink_to_fit(live);
    struct alloc_table small;
    if (alloc_table_init_fitting(&small, live->count) != 0)
        return -ENOMEM;
    if (small.capacity < live->capacity) {
        for (size_t rank = 0; rank < s->n; rank++) {
            const struct block *b = blk(s, rank);
            alloc_table_put(&small, b);   /* cannot grow: room for every block */
            s->order[rank] = (uint32_t)(alloc_table_get(&small, b->addr) - small.slots);
        }
        small.generation = live->generation + 1;
        alloc_table_destroy(live);
        *live = small;
        s->live_generation = live->generation;
    } else {
        alloc_table_destroy(&small);
    }
    if (s->rules.destroy)
        s->rules.destroy(s->rules.state);
    s->rules = (struct leak_rules){ 0 };
    free(s->edge_start);
    free(s->edges);
    free(s->stack);
    s->edge_start = s->edges = s->stack = NULL;
    s->nedges = s->edges_cap = s->nstack = s->stack_cap = 0;
    s->read = NULL;
    s->read_ctx = NULL;
    return 0;
}

bool leak_scan_has_block_in(const struct leak_scan *s, mt_addr lo, mt_addr hi)
{
    size_t a = lo ? rank_upper(s, lo - 1) : 0;   /* first block with addr >= lo */
    return a < s->n && addr_of(s, a) < hi;
}

size_t leak_scan_rank_from(const struct leak_scan *s, mt_addr addr)
{
    return addr ? rank_upper(s, addr - 1) : 0;
}

const struct block *leak_scan_block_at(const struct leak_scan *s, size_t rank)
{
    return rank < s->n ? blk(s, rank) : NULL;
}

void leak_scan_root_gaps(struct leak_scan *s, mt_addr lo, mt_addr hi)
{
    /* Blocks do not overlap, so in address order only the one before the
     * first start in [lo, hi) can reach into it. */
    size_t rank = rank_upper(s, lo);
    mt_addr at = lo;
    if (rank > 0 && addr_of(s, rank - 1) + size_of(s, rank - 1) > at)
        at = addr_of(s, rank - 1) + size_of(s, rank - 1);
    for (; rank < s->n && addr_of(s, rank) < hi; rank++) {
        if (addr_of(s, rank) > at)
            leak_scan_root_region(s, at, addr_of(s, rank), false);
        if (addr_of(s, rank) + size_of(s, rank) > at)
            at = addr_of(s, rank) + size_of(s, rank);
    }
    if (at < hi)
        leak_scan_root_region(s, at, hi, false);
}

bool leak_scan_current(const struct leak_scan *s, const struct alloc_table *live)
{
    return s && s->live == live && s->state && live->generation == s->live_generation;
}

static void verdict_of(const struct leak_scan *s, size_t rank, struct leak_verdict *out)
{
    const struct leak_owner *o = owner_find(s, (uint32_t)rank);
    *out = (struct leak_verdict){
        .kind = (enum leak_kind)kind_of(s, rank),
        .indirect_bytes = o ? o->indirect_bytes : 0,
        .indirect_blocks = o ? o->indirect_blocks : 0,
    };
}

bool leak_scan_verdict(const struct leak_scan *s, mt_addr addr, struct leak_verdict *out)
{
    bool start;
    if (!leak_scan_current(s, s->live))
        return false;
    long j = find_block(s, addr, &start);
    if (j < 0 || !start)
        return false;
    verdict_of(s, (size_t)j, out);
    return true;
}

const struct block *leak_scan_next(const struct leak_scan *s, size_t *cursor,
                                   struct leak_verdict *out)
{
    if (*cursor >= s->n || !leak_scan_current(s, s->live))
        return NULL;
    verdict_of(s, *cursor, out);
    return blk(s, (*cursor)++);
}

const char *leak_kind_name(enum leak_kind k)
{
    static const char *const names[] = {
        [LEAK_DEFINITE] = "definitely_lost", [LEAK_INDIRECT] = "indirectly_lost",
        [LEAK_POSSIBLE] = "possibly_lost", [LEAK_REACHABLE] = "still_reachable",
    };
    return (unsigned)k < LEAK_KIND_COUNT ? names[k] : "unfreed";
}
