/* The machine-readable report, version 1. The schema is documented in
 * docs/report-format.md; names there are fixed. */
#include "report.h"
#include "json_writer.h"
#include "leak_check.h"
#include <stdlib.h>
#include <string.h>

/* "key": "0x..." when present, else "key": null. */
static void write_hex_or_null(struct json_writer *w, const char *key, bool present, mt_addr value)
{
    json_key(w, key);
    if (present)
        json_hex(w, value);
    else
        json_null(w);
}

/* The frames of stack from frame cut_frame of ips[cut_ip] on (--alloc-fn). */
static void write_stack_from(struct json_writer *w, const struct report_process *p,
                             uint32_t stack, unsigned cut_ip, unsigned cut_frame)
{
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    json_begin_array(w);
    for (unsigned i = cut_ip; i < depth; i++) {
        const struct sym_frame_ext *frames;
        unsigned n = report_frames(p, stack, ips[i], &frames);
        for (unsigned k = i == cut_ip ? cut_frame : 0; k < n; k++) {
            const struct sym_frame *fr = &frames[k].f;
            json_begin_object(w);
            json_key(w, "address");
            json_hex(w, fr->address);
            json_key(w, "function");
            json_string(w, fr->function);
            json_key(w, "file");
            json_string(w, fr->file);
            json_key(w, "line");
            if (fr->line)
                json_int(w, fr->line);
            else
                json_null(w);
            json_key(w, "module");
            json_string(w, fr->module);
            write_hex_or_null(w, "offset", fr->module != NULL, fr->module_offset);
            json_key(w, "build_id");
            json_string(w, fr->module ? frames[k].build_id : NULL);
            json_key(w, "mangled");
            json_string(w, frames[k].mangled);
            json_key(w, "inlined");
            json_bool(w, frames[k].inlined);
            json_end_object(w);
        }
    }
    json_end_array(w);
}

static void write_stack(struct json_writer *w, const struct report_process *p, uint32_t stack)
{
    write_stack_from(w, p, stack, 0, 0);
}

static void write_amount(struct json_writer *w, const char *key, uint64_t bytes, uint64_t blocks)
{
    json_key(w, key);
    json_amount(w, bytes, blocks);
}

static void write_age(struct json_writer *w, const char *key, const struct report_process *p,
                      uint64_t seq)
{
    json_key(w, key);
    double age = report_age_s(p, seq);
    if (age < 0)
        json_null(w);
    else
        json_double(w, age);
}

static void write_mapping(struct json_writer *w, const struct report_process *p,
                          const struct mapping_record *r)
{
    json_begin_object(w);
    json_key(w, "kind");
    json_string(w, r->sysv ? "sysv_shm" : "mmap");
    write_hex_or_null(w, "address", r->addr != 0, r->addr);
    json_key(w, "bytes");
    json_uint(w, r->bytes);
    json_key(w, "prot");
    char prot[4];
    report_prot_string(r->prot, prot);
    json_string(w, r->addr ? prot : NULL);
    json_key(w, "flags");
    json_begin_array(w);
    const char *words[3];
    size_t nwords = report_map_flag_words(r, words);
    for (size_t i = 0; i < nwords; i++)
        json_string(w, words[i]);
    json_end_array(w);
    json_key(w, "backing");
    json_string(w, r->backing);
    json_key(w, "path");
    json_string(w, r->path);
    json_key(w, "shared_state");
    json_bool(w, r->shared);
    if (r->sysv) {
        const struct shm_segment *s = r->seg;
        const struct { const char *name; int64_t value; bool boolean; } fields[] = {
            { "shmid", s->shmid, false }, { "key", s->key, false },
            { "created", s->created, true }, { "removed", s->removed, true },
            { "persists", shm_segment_persists(s), true },
        };
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            json_key(w, fields[i].name);
            if (fields[i].boolean)
                json_bool(w, fields[i].value != 0);
            else
                json_int(w, fields[i].value);
        }
        json_key(w, "attached");
        json_begin_array(w);
        for (size_t i = 0; i < r->nattached; i++)
            json_hex(w, r->attached[i]);
        json_end_array(w);
    }
    json_key(w, "stack");
    write_stack(w, p, r->stack);
    json_end_object(w);
}

static int write_mappings(struct json_writer *w, const struct report_process *p)
{
    struct mapping_report mr;
    if (p->records_hidden) {
        json_key(w, "mappings");
        json_begin_array(w);
        json_end_array(w);
        return 0;
    }
    if (report_collect_mappings(p, &mr) != 0)
        return -1;
    json_key(w, "mappings");
    json_begin_array(w);
    for (size_t i = 0; i < mr.n; i++)
        write_mapping(w, p, &mr.recs[i]);
    json_end_array(w);
    /* An allocator library's own mappings: counted, not listed. */
    json_key(w, "allocator_arenas");
    json_begin_object(w);
    json_key(w, "mappings");
    json_uint(w, mr.narenas);
    json_key(w, "bytes");
    json_uint(w, mr.arena_bytes);
    json_end_object(w);
    report_mappings_free(&mr);
    return 0;
}

/* "pid", "command", "end", "exit_code", "signal", "tracing_error". */
static void write_identity(struct json_writer *w, const struct report_process *p)
{
    json_key(w, "pid");
    json_int(w, p->pid);
    /* --fast: how many allocator entry points recorded through the stub
     * (0: every call trapped). */
    json_key(w, "fast_functions");
    json_int(w, p->fast_functions);
    /* What memtrace hooked: function, symbol, module, and how. */
    json_key(w, "hooks");
    json_begin_array(w);
    for (size_t i = 0; p->hooks && i < p->hooks->n; i++) {
        const struct hook_record *h = &p->hooks->items[i];
        json_begin_object(w);
        json_key(w, "function");
        json_string(w, alloc_fn_name(h->fn));
        json_key(w, "symbol");
        json_string(w, h->symbol);
        json_key(w, "module");
        json_string(w, h->module);
        json_key(w, "how");
        json_string(w, h->on_stub ? "stub" : "breakpoint");
        json_end_object(w);
    }
    json_end_array(w);
    json_key(w, "command");
    json_begin_array(w);
    for (size_t i = 0; p->argv && p->argv[i]; i++)
        json_string(w, p->argv[i]);
    json_end_array(w);
    json_key(w, "end");
    json_string(w, report_end_name(p->end));
    json_key(w, "exit_code");
    if (p->end == REPORT_EXITED)
        json_int(w, p->exit_code);
    else
        json_null(w);
    json_key(w, "signal");
    char sig[32];
    report_signal_name(p->signal, sig, sizeof(sig));
    json_string(w, p->signal ? sig : NULL);
    json_key(w, "tracing_error");
    json_string(w, p->tracing_error);
    if (p->attached) {
        json_key(w, "census");
        if (p->census_layout) {
            json_begin_object(w);
            json_key(w, "blocks");
            json_uint(w, p->census_blocks);
            json_key(w, "bytes");
            json_uint(w, p->census_bytes);
            json_key(w, "layout_from");
            json_string(w, p->census_layout);
            json_key(w, "ms");
            json_double(w, (double)p->census_ns / 1e6);
            json_end_object(w);
        } else {
            json_null(w);
        }
    }
    if (p->end != REPORT_EXEC)
        return;
    /* Only an image ended by exec has these: what it exec'd, and whether
     * its records are listed. */
    json_key(w, "exec");
    json_begin_object(w);
    json_key(w, "program");
    json_string(w, p->exec_program);
    json_key(w, "traced");
    json_bool(w, !p->exec_untraced);
    json_key(w, "records_shown");
    json_bool(w, !p->records_hidden);
    json_end_object(w);
}

/* --suppressions: what the suppressed records hold, per kind, out of the
 * kinds' totals (as memcheck's summary), and each suppression's use. */
static int write_suppressions(struct json_writer *w, const struct report_process *p,
                              struct report_amount t[LEAK_KIND_COUNT + 1])
{
    struct leak_record *recs;
    size_t n;
    if (report_collect_records(p, &recs, &n) != 0)
        return -1;
    struct report_supp_use *use = calloc(p->supps->n, sizeof(*use));
    if (!use) {
        free(recs);
        return -1;
    }
    struct report_amount total;
    report_suppression_use(p, recs, n, use, &total);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].suppressed_by) {
            t[recs[i].kind].bytes -= recs[i].bytes;
            t[recs[i].kind].blocks -= recs[i].blocks;
        }
    }
    free(recs);
    write_amount(w, "suppressed", total.bytes, total.blocks);
    json_key(w, "suppressions_used");
    json_begin_array(w);
    for (size_t k = 0; k < p->supps->n; k++) {
        if (!use[k].records)
            continue;
        json_begin_object(w);
        json_key(w, "name");
        json_string(w, use[k].supp->name);
        json_key(w, "file");
        json_string(w, use[k].supp->file);
        json_key(w, "line");
        json_uint(w, use[k].supp->line);
        json_key(w, "records");
        json_uint(w, use[k].records);
        json_key(w, "bytes");
        json_uint(w, use[k].bytes);
        json_key(w, "blocks");
        json_uint(w, use[k].blocks);
        json_end_object(w);
    }
    json_end_array(w);
    free(use);
    return 0;
}

static void write_summary(struct json_writer *w, const struct report_process *p)
{
    const struct alloc_model *m = p->model;
    struct report_amount t[LEAK_KIND_COUNT + 1];
    report_process_totals(p, t);
    json_key(w, "summary");
    json_begin_object(w);
    json_key(w, "allocations");
    json_uint(w, m->allocations);
    json_key(w, "frees");
    json_uint(w, m->frees);
    json_key(w, "bytes_allocated");
    json_uint(w, m->bytes_allocated);
    write_amount(w, "unfreed", t[REPORT_KIND_UNFREED].bytes, t[REPORT_KIND_UNFREED].blocks);
    if (p->supps && p->supps->n > 0 && !p->records_hidden && write_suppressions(w, p, t) != 0)
        write_amount(w, "suppressed", 0, 0);   /* out of memory: nothing subtracted */
    /* All zero when the process could not be scanned (its image was
     * replaced by exec): then only "unfreed" is known. */
    for (unsigned k = 0; k < LEAK_KIND_COUNT; k++)
        write_amount(w, leak_kind_name((enum leak_kind)k), t[k].bytes, t[k].blocks);
    json_key(w, "classified");
    json_bool(w, report_classified(p));
    json_key(w, "errors");
    json_uint(w, report_error_count(p));
    json_key(w, "untracked_frees");
    json_uint(w, m->untracked_frees);
    json_end_object(w);
}

static void write_leak(struct json_writer *w, const struct report_process *p,
                       const struct leak_record *r)
{
    json_begin_object(w);
    json_key(w, "kind");
    json_string(w, report_kind_name(r->kind));
    json_key(w, "bytes");
    json_uint(w, r->bytes);
    json_key(w, "blocks");
    json_uint(w, r->blocks);
    if (r->kind == LEAK_DEFINITE) {
        write_amount(w, "indirect", r->indirect_bytes, r->indirect_blocks);
    }
    json_key(w, "allocator");
    json_string(w, alloc_fn_name(r->fn));
    json_key(w, "error");
    json_bool(w, report_leak_is_error(p, r));
    if (r->suppressed_by) {
        json_key(w, "suppressed_by");
        json_string(w, r->suppressed_by->name);
    }
    write_age(w, "oldest_age_s", p, r->oldest_seq);
    write_age(w, "newest_age_s", p, r->newest_seq);
    json_key(w, "stack");
    write_stack_from(w, p, r->stack, r->cut_ip, r->cut_frame);
    json_end_object(w);
}

static int write_leaks(struct json_writer *w, const struct report_process *p)
{
    struct leak_record *recs;
    size_t n;
    if (report_collect_records(p, &recs, &n) != 0)
        return -1;
    json_key(w, "leaks");
    json_begin_array(w);
    for (size_t i = 0; i < n && !p->records_hidden; i++)
        write_leak(w, p, &recs[i]);
    json_end_array(w);
    free(recs);
    return 0;
}

/* docs/report-format.md: only the fields the kind has. */
static void write_address_description(struct json_writer *w, const struct report_process *p,
                                      const struct addr_desc *d)
{
    json_key(w, "address_description");
    json_begin_object(w);
    json_key(w, "kind");
    json_string(w, report_addr_kind_name(d->kind));
    switch (d->kind) {
    case ADDR_STACK:
        json_key(w, "thread");
        if (d->thread)
            json_uint(w, d->thread);
        else
            json_null(w);   /* --fast: a thread other than the main one, not known */
        break;
    case ADDR_HEAP_BLOCK:
    case ADDR_FREED_BLOCK:
        json_key(w, "offset");
        json_uint(w, d->offset);
        json_key(w, "block_size");
        json_uint(w, d->block_size);
        json_key(w, "alloc_stack");
        write_stack(w, p, d->alloc_stack);
        if (d->kind == ADDR_FREED_BLOCK) {
            json_key(w, "free_stack");
            write_stack(w, p, d->free_stack);
        }
        break;
    case ADDR_DATA_SYMBOL:
        json_key(w, "symbol");
        json_string(w, d->symbol ? d->symbol : "");
        json_key(w, "offset");
        json_uint(w, d->offset);
        json_key(w, "block_size");
        json_uint(w, d->block_size);
        json_key(w, "module");
        json_string(w, d->path ? d->path : "");
        break;
    case ADDR_MAPPING:
        json_key(w, "permissions");
        json_string(w, d->perms);
        json_key(w, "path");
        if (d->path)
            json_string(w, d->path);
        else
            json_null(w);
        break;
    default:
        break;
    }
    json_end_object(w);
}

static void write_error(struct json_writer *w, const struct report_process *p,
                        const struct alloc_error *e)
{
    bool dbl = e->kind == ERR_DOUBLE_FREE, mismatched = e->kind == ERR_MISMATCHED_FREE;
    json_begin_object(w);
    json_key(w, "kind");
    json_string(w, dbl ? "double_free" : mismatched ? "mismatched_free" : "invalid_free");
    json_key(w, "function");
    json_string(w, alloc_fn_name(e->fn));
    if (mismatched) {
        json_key(w, "allocator");
        json_string(w, alloc_fn_name(e->alloc_fn));
    }
    if (e->alloc_library) {
        /* Two allocator libraries: the block's and the one called. */
        json_key(w, "allocator_library");
        json_string(w, e->alloc_library);
        json_key(w, "release_library");
        json_string(w, e->release_library);
    }
    const struct suppression *s = report_error_suppression(p, e);
    if (s) {
        json_key(w, "suppressed_by");
        json_string(w, s->name);
    }
    json_key(w, "skipped");
    json_bool(w, !e->ran);
    json_key(w, "address");
    json_hex(w, e->addr);
    json_key(w, "size");
    if (dbl || mismatched)
        json_uint(w, e->block_size);
    else
        json_null(w);
    json_key(w, "stack");
    write_stack(w, p, e->stack);
    json_key(w, "alloc_stack");
    if (dbl || mismatched)
        write_stack(w, p, e->alloc_stack);
    else
        json_null(w);
    json_key(w, "free_stack");
    if (dbl)
        write_stack(w, p, e->free_stack);
    else
        json_null(w);
    write_address_description(w, p, &e->where);
    json_end_object(w);
}

static void write_errors(struct json_writer *w, const struct report_process *p)
{
    json_key(w, "errors");
    json_begin_array(w);
    for (size_t i = 0; i < p->model->nerrors; i++)
        write_error(w, p, &p->model->errors[i]);
    json_end_array(w);
}

/* One PROCESS object (docs/report-format.md), its fields in that order. */
/* The index of stack in ids[0..*n), added when new. */
static size_t timeline_stack_index(uint32_t *ids, size_t *n, uint32_t stack)
{
    for (size_t i = 0; i < *n; i++)
        if (ids[i] == stack)
            return i;
    ids[*n] = stack;
    return (*n)++;
}

/* --timeline: the samples, so that memtrace report can draw the chart;
 * each sample's top stacks are indices into "stacks". */
static int write_timeline(struct json_writer *w, const struct report_process *p)
{
    const struct alloc_model *m = p->model;
    if (!m->samples || m->nsamples == 0)
        return 0;
    uint32_t *ids = malloc(m->nsamples * ALLOC_MODEL_SAMPLE_TOP * sizeof(*ids));
    if (!ids)
        return -1;
    size_t nids = 0;
    json_key(w, "timeline");
    json_begin_object(w);
    json_key(w, "samples");
    json_begin_array(w);
    for (size_t i = 0; i < m->nsamples; i++) {
        const struct live_sample *smp = &m->samples[i];
        json_begin_object(w);
        json_key(w, "t_ns");
        json_uint(w, smp->ns - m->samples[0].ns);
        json_key(w, "live_bytes");
        json_uint(w, smp->live_bytes);
        json_key(w, "peak_bytes");
        json_uint(w, smp->peak_bytes);
        json_key(w, "top");
        json_begin_array(w);
        for (unsigned k = 0; k < smp->ntop; k++) {
            json_begin_array(w);
            json_uint(w, timeline_stack_index(ids, &nids, smp->top_stack[k]));
            json_uint(w, smp->top_bytes[k]);
            json_end_array(w);
        }
        json_end_array(w);
        json_end_object(w);
    }
    json_end_array(w);
    json_key(w, "stacks");
    json_begin_array(w);
    for (size_t i = 0; i < nids; i++)
        write_stack(w, p, ids[i]);
    json_end_array(w);
    json_end_object(w);
    free(ids);
    return 0;
}

/* One (bytes, blocks) with their changes since the previous check. */
static void write_change(struct json_writer *w, uint64_t bytes, uint64_t blocks,
                         int64_t bytes_delta, int64_t blocks_delta)
{
    json_key(w, "bytes");
    json_uint(w, bytes);
    json_key(w, "blocks");
    json_uint(w, blocks);
    json_key(w, "bytes_delta");
    json_int(w, bytes_delta);
    json_key(w, "blocks_delta");
    json_int(w, blocks_delta);
}

static void write_leak_check(struct json_writer *w, const struct report_process *p,
                             const struct leak_check *c)
{
    json_begin_object(w);
    json_key(w, "number");
    json_uint(w, c->number);
    json_key(w, "t_s");
    json_double(w, (double)c->at_ns / 1e9);
    json_key(w, "stop_the_world_ms");
    json_double(w, (double)c->pause_ns / 1e6);
    json_key(w, "blocks_scanned");
    json_uint(w, c->scanned_blocks);
    json_key(w, "records_total");
    json_uint(w, c->nrecords);
    json_key(w, "summary");
    json_begin_object(w);
    for (unsigned k = 0; k < LEAK_KIND_COUNT; k++) {
        json_key(w, report_kind_name(k));
        json_begin_object(w);
        write_change(w, c->totals[k].bytes, c->totals[k].blocks, c->bytes_delta[k],
                     c->blocks_delta[k]);
        json_end_object(w);
    }
    json_end_object(w);
    json_key(w, "records");
    json_begin_array(w);
    for (size_t i = 0; i < c->nlisted; i++) {
        const struct leak_check_entry *e = &c->listed[i];
        json_begin_object(w);
        json_key(w, "kind");
        json_string(w, report_kind_name(e->rec.kind));
        write_change(w, e->rec.bytes, e->rec.blocks, e->bytes_delta, e->blocks_delta);
        if (e->rec.kind == LEAK_DEFINITE) {
            json_key(w, "indirect_bytes");
            json_uint(w, e->rec.indirect_bytes);
            json_key(w, "indirect_bytes_delta");
            json_int(w, e->indirect_bytes_delta);
        }
        json_key(w, "new");
        json_bool(w, e->is_new);
        json_key(w, "allocator");
        json_string(w, alloc_fn_name(e->rec.fn));
        json_key(w, "stack");
        write_stack_from(w, p, e->rec.stack, e->rec.cut_ip, e->rec.cut_frame);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}

/* attach: the leak checks made while attached, oldest first. */
static void write_leak_checks(struct json_writer *w, const struct report_process *p)
{
    if (!p->checks)
        return;
    json_key(w, "leak_check_mode");
    json_string(w, leak_check_mode_name(p->checks->mode));
    json_key(w, "leak_checks");
    json_begin_array(w);
    for (size_t i = 0; i < p->checks->n; i++)
        write_leak_check(w, p, &p->checks->checks[i]);
    json_end_array(w);
}

static int write_process(struct json_writer *w, const struct report_process *p)
{
    json_begin_object(w);
    write_identity(w, p);
    write_summary(w, p);
    if (write_leaks(w, p) != 0)
        return -1;
    write_errors(w, p);
    if (write_mappings(w, p) != 0 || write_timeline(w, p) != 0)
        return -1;
    write_leak_checks(w, p);
    json_end_object(w);
    return 0;
}

int report_json_write(FILE *f, const struct report_process *procs, size_t n,
                      const struct report_stats *stats)
{
    struct json_writer w;
    json_init(&w, f);
    json_begin_object(&w);
    json_key(&w, "version");
    json_int(&w, 1);
    json_key(&w, "tool");
    json_string(&w, "memtrace " MEMTRACE_VERSION);
    json_key(&w, "mode");
    json_string(&w, n > 0 && procs[0].attached ? "attach" : "run");
    json_key(&w, "processes");
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        if (write_process(&w, &procs[i]) != 0)
            return -1;
    json_end_array(&w);
    if (stats && stats->present) {
        json_key(&w, "stats");
        json_begin_object(&w);
#define WRITE_STAT(name) json_key(&w, #name); json_uint(&w, stats->name);
        MT_STATS(WRITE_STAT)
#undef WRITE_STAT
        json_end_object(&w);
    }
    json_end_object(&w);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}
