/* memtrace diff OLD.json NEW.json: the leak records new, gone, grown or
 * shrunk between two runs. A record is known by its kind, its allocator
 * and its stack's function and file names (not addresses, not lines), so
 * address-space layout and edits that move lines do not break the match;
 * records of several processes with the same key are added up. */
#include "report_diff.h"
#include "json_writer.h"
#include "grow.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* One key's records on both sides. */
struct diff_entry {
    char *key;
    uint64_t bytes[2], blocks[2];    /* [0] old, [1] new */
    const struct jv *record[2];      /* one of its records per side, for the stack */
    enum diff_change change;
};

struct diff_set {
    struct diff_entry *items;
    size_t n, cap;
};

const char *report_diff_change_name(enum diff_change c)
{
    static const char *const names[] = {
        [DIFF_NEW] = "new", [DIFF_GROWN] = "grown", [DIFF_GONE] = "gone",
        [DIFF_SHRUNK] = "shrunk", [DIFF_UNCHANGED] = "unchanged",
    };
    return c <= DIFF_UNCHANGED ? names[c] : "unchanged";
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

/* Kinds compared: what is lost, and what could not be classified. */
static bool compared_kind(const char *kind)
{
    return kind && (strcmp(kind, "definitely_lost") == 0 || strcmp(kind, "indirectly_lost") == 0 ||
                    strcmp(kind, "possibly_lost") == 0 || strcmp(kind, "unfreed") == 0);
}

/* "kind|allocator|function@file|..." with 0x1f between the parts. */
static char *record_key(const struct jv *leak)
{
    size_t cap = 256, n = 0;
    char *key = malloc(cap);
    const struct jv *stack = jv_member(leak, "stack");
    size_t nframes = stack && stack->type == JV_ARRAY ? stack->n : 0;
    for (size_t i = 0; key && i < nframes + 2; i++) {
        char part[1024];
        if (i == 0) {
            snprintf(part, sizeof(part), "%s", jv_string(leak, "kind"));
        } else if (i == 1) {
            const char *alloc = jv_string(leak, "allocator");
            snprintf(part, sizeof(part), "\x1f%s", alloc ? alloc : "?");
        } else {
            const struct jv *fr = &stack->items[i - 2];
            const char *fn = jv_string(fr, "function"), *file = jv_string(fr, "file");
            const char *module = jv_string(fr, "module");
            /* A frame without a name is known by its module, not its offset. */
            const char *where = file ? base_name(file) : !fn && module ? base_name(module) : "";
            snprintf(part, sizeof(part), "\x1f%s@%s", fn ? fn : "?", where);
        }
        size_t len = strlen(part);
        char *grown = mt_grow(key, &cap, n + len + 1, 1);
        if (!grown) {
            free(key);
            return NULL;
        }
        key = grown;
        memcpy(key + n, part, len + 1);
        n += len;
    }
    return key;
}

static int add_records(struct diff_set *set, const struct jv *report, int side)
{
    const struct jv *procs = jv_member(report, "processes");
    for (size_t p = 0; p < procs->n; p++) {
        const struct jv *leaks = jv_member(&procs->items[p], "leaks");
        for (size_t i = 0; leaks && leaks->type == JV_ARRAY && i < leaks->n; i++) {
            const struct jv *leak = &leaks->items[i];
            if (!compared_kind(jv_string(leak, "kind")) || jv_member(leak, "suppressed_by"))
                continue;
            char *key = record_key(leak);
            if (!key)
                return -1;
            struct diff_entry *e = NULL;
            for (size_t k = 0; k < set->n && !e; k++)
                if (strcmp(set->items[k].key, key) == 0)
                    e = &set->items[k];
            if (e) {
                free(key);
            } else {
                struct diff_entry *grown = mt_grow(set->items, &set->cap, set->n + 1,
                                                   sizeof(*grown));
                if (!grown) {
                    free(key);
                    return -1;
                }
                set->items = grown;
                e = &set->items[set->n++];
                memset(e, 0, sizeof(*e));
                e->key = key;
            }
            e->bytes[side] += jv_uint(leak, "bytes", 0);
            e->blocks[side] += jv_uint(leak, "blocks", 0);
            if (!e->record[side])
                e->record[side] = leak;
        }
    }
    return 0;
}

static bool is_report(const struct jv *doc)
{
    const struct jv *procs = jv_member(doc, "processes");
    return jv_uint(doc, "version", 0) == 1 && procs && procs->type == JV_ARRAY;
}

static int by_change(const void *a, const void *b)
{
    const struct diff_entry *x = a, *y = b;
    if (x->change != y->change)
        return x->change < y->change ? -1 : 1;
    uint64_t xb = x->bytes[x->change == DIFF_GONE ? 0 : 1];
    uint64_t yb = y->bytes[y->change == DIFF_GONE ? 0 : 1];
    return xb > yb ? -1 : xb < yb ? 1 : strcmp(x->key, y->key);
}

static void print_stack(FILE *f, const struct jv *leak)
{
    const struct jv *stack = jv_member(leak, "stack");
    for (size_t i = 0; stack && stack->type == JV_ARRAY && i < stack->n; i++) {
        const struct jv *fr = &stack->items[i];
        const char *fn = jv_string(fr, "function"), *file = jv_string(fr, "file");
        const char *module = jv_string(fr, "module");
        fprintf(f, "   %s %s", i ? "by" : "at", fn ? fn : "???");
        if (file && jv_uint(fr, "line", 0))
            fprintf(f, " (%s:%" PRIu64 ")\n", base_name(file), jv_uint(fr, "line", 0));
        else if (module)
            fprintf(f, " (in %s)\n", module);
        else
            fputc('\n', f);
        if (fn && strcmp(fn, "main") == 0)
            break;
    }
}

/* "malloc()", "operator new[]": the allocator as the text report says it. */
static void allocator_words(const char *alloc, char *buf, size_t len)
{
    if (!alloc)
        snprintf(buf, len, "?");
    else if (strncmp(alloc, "new", 3) == 0 || strncmp(alloc, "delete", 6) == 0)
        snprintf(buf, len, "operator %s", alloc);
    else
        snprintf(buf, len, "%s()", alloc);
}

static void print_entry(FILE *f, const struct diff_entry *e)
{
    const struct jv *rec = e->record[e->change == DIFF_GONE ? 0 : 1];
    const char *kind = jv_string(rec, "kind");
    char words[64], alloc[64];
    allocator_words(jv_string(rec, "allocator"), alloc, sizeof(alloc));
    snprintf(words, sizeof(words), "%s", kind ? kind : "?");
    for (char *c = words; *c; c++)
        if (*c == '_')
            *c = ' ';
    const char *tag = e->change == DIFF_NEW ? "NEW" : e->change == DIFF_GONE ? "GONE"
                      : e->change == DIFF_GROWN ? "GROWN" : "SHRUNK";
    fputc('\n', f);   /* a blank line before each record, as in the text report */
    if (e->change == DIFF_NEW || e->change == DIFF_GONE) {
        int side = e->change == DIFF_GONE ? 0 : 1;
        fprintf(f, "%s: %" PRIu64 " bytes in %" PRIu64 " blocks %s, allocated by %s\n", tag,
                e->bytes[side], e->blocks[side], words, alloc);
    } else {
        fprintf(f, "%s: %" PRIu64 " -> %" PRIu64 " bytes, %" PRIu64 " -> %" PRIu64 " blocks %s, "
                "allocated by %s\n", tag, e->bytes[0], e->bytes[1], e->blocks[0], e->blocks[1],
                words, alloc);
    }
    print_stack(f, rec);
}

static void write_json_stack(struct json_writer *w, const struct jv *leak)
{
    const struct jv *stack = jv_member(leak, "stack");
    json_begin_array(w);
    for (size_t i = 0; stack && stack->type == JV_ARRAY && i < stack->n; i++) {
        const struct jv *fr = &stack->items[i];
        json_begin_object(w);
        json_key(w, "function");
        json_string(w, jv_string(fr, "function"));
        json_key(w, "file");
        json_string(w, jv_string(fr, "file"));
        json_key(w, "line");
        if (jv_uint(fr, "line", 0))
            json_uint(w, jv_uint(fr, "line", 0));
        else
            json_null(w);
        json_key(w, "module");
        json_string(w, jv_string(fr, "module"));
        json_end_object(w);
    }
    json_end_array(w);
}

static void write_amount_or_null(struct json_writer *w, const char *key, bool present,
                                 uint64_t bytes, uint64_t blocks)
{
    json_key(w, key);
    if (present)
        json_amount(w, bytes, blocks);
    else
        json_null(w);
}

static void write_json(FILE *f, const char *old_name, const char *new_name,
                       const struct diff_set *set, const struct diff_counts *c)
{
    struct json_writer w;
    json_init(&w, f);
    json_begin_object(&w);
    json_key(&w, "version");
    json_int(&w, 1);
    json_key(&w, "old");
    json_string(&w, old_name);
    json_key(&w, "new");
    json_string(&w, new_name);
    json_key(&w, "summary");
    json_begin_object(&w);
    for (int k = DIFF_NEW; k <= DIFF_UNCHANGED; k++) {
        json_key(&w, report_diff_change_name((enum diff_change)k));
        json_begin_object(&w);
        json_key(&w, "records");
        json_uint(&w, c->records[k]);
        json_key(&w, "bytes");
        json_uint(&w, c->bytes[k]);
        json_end_object(&w);
    }
    json_end_object(&w);
    json_key(&w, "changes");
    json_begin_array(&w);
    for (size_t i = 0; i < set->n; i++) {
        const struct diff_entry *e = &set->items[i];
        if (e->change == DIFF_UNCHANGED)
            continue;
        const struct jv *rec = e->record[e->change == DIFF_GONE ? 0 : 1];
        json_begin_object(&w);
        json_key(&w, "change");
        json_string(&w, report_diff_change_name(e->change));
        json_key(&w, "kind");
        json_string(&w, jv_string(rec, "kind"));
        json_key(&w, "allocator");
        json_string(&w, jv_string(rec, "allocator"));
        write_amount_or_null(&w, "old", e->record[0] != NULL, e->bytes[0], e->blocks[0]);
        write_amount_or_null(&w, "new", e->record[1] != NULL, e->bytes[1], e->blocks[1]);
        json_key(&w, "stack");
        write_json_stack(&w, rec);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    fputc('\n', f);
}

int report_diff(FILE *text, FILE *json, const char *old_name, const struct jv *old_doc,
                const char *new_name, const struct jv *new_doc, struct diff_counts *counts,
                char *why, size_t why_len)
{
    memset(counts, 0, sizeof(*counts));
    if (!is_report(old_doc) || !is_report(new_doc)) {
        snprintf(why, why_len, "%s: not a memtrace JSON report (version 1)",
                 is_report(old_doc) ? new_name : old_name);
        return -1;
    }
    struct diff_set set = { 0 };
    int rc = add_records(&set, old_doc, 0) == 0 && add_records(&set, new_doc, 1) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(why, why_len, "out of memory comparing %s and %s", old_name, new_name);
    for (size_t i = 0; rc == 0 && i < set.n; i++) {
        struct diff_entry *e = &set.items[i];
        e->change = !e->record[0] ? DIFF_NEW : !e->record[1] ? DIFF_GONE
                    : e->bytes[1] > e->bytes[0] ? DIFF_GROWN
                    : e->bytes[1] < e->bytes[0] ? DIFF_SHRUNK : DIFF_UNCHANGED;
        counts->records[e->change]++;
        uint64_t b = e->bytes[e->change == DIFF_GONE ? 0 : 1];
        counts->bytes[e->change] += e->change == DIFF_GROWN ? b - e->bytes[0]
                                    : e->change == DIFF_SHRUNK ? e->bytes[0] - b : b;
    }
    if (rc == 0) {
        if (set.n)
            qsort(set.items, set.n, sizeof(*set.items), by_change);
        fprintf(text, "memtrace diff %s %s: %" PRIu64 " new, %" PRIu64 " grown, %" PRIu64
                " gone, %" PRIu64 " shrunk, %" PRIu64 " unchanged leak records\n", old_name,
                new_name, counts->records[DIFF_NEW], counts->records[DIFF_GROWN],
                counts->records[DIFF_GONE], counts->records[DIFF_SHRUNK],
                counts->records[DIFF_UNCHANGED]);
        for (size_t i = 0; i < set.n; i++)
            if (set.items[i].change != DIFF_UNCHANGED)
                print_entry(text, &set.items[i]);
        if (json)
            write_json(json, old_name, new_name, &set, counts);
    }
    for (size_t i = 0; i < set.n; i++)
        free(set.items[i].key);
    free(set.items);
    return rc;
}
