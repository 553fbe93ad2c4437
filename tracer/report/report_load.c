/* memtrace report: a saved JSON report loaded back into the report model,
 * so that every writer renders it as it would a run's: its records as a
 * saved heap (struct saved_heap), its frames as a symbol table the
 * resolver reads (one synthetic address per frame), its bad frees as the
 * model's errors. The JSON document must outlive what is loaded: frames
 * point into its strings. */
#include "report_load.h"
#include "grow.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct loaded_process {
    struct alloc_model model;
    struct map_table maps;
    struct shm_table shms;
    struct stack_intern stacks;
    struct sym_frame_ext *frames;     /* the frame of synthetic address i + 1 */
    size_t nframes, frames_cap;
    struct leak_record *records;
    size_t nrecords, records_cap;
    struct saved_heap saved;
    char **argv;
};

static unsigned loaded_frames(void *ctx, uint32_t stack, mt_addr ip,
                              const struct sym_frame_ext **out)
{
    (void)stack;
    const struct loaded_process *lp = ctx;
    static const struct sym_frame_ext none;
    *out = ip >= 1 && ip <= lp->nframes ? &lp->frames[ip - 1] : &none;
    return 1;
}

static uint64_t hex_value(const struct jv *o, const char *key)
{
    const char *s = jv_string(o, key);
    return s ? strtoull(s, NULL, 16) : 0;
}

/* A JSON stack (array of FRAME) interned, at most depth frames (0: all). */
static int intern_stack(struct loaded_process *lp, const struct jv *stack, unsigned depth,
                        uint32_t *id)
{
    size_t n = stack && stack->type == JV_ARRAY ? stack->n : 0;
    if (depth && n > depth)
        n = depth;
    mt_addr ips[256] = { 0 };
    if (n > sizeof(ips) / sizeof(ips[0]))
        n = sizeof(ips) / sizeof(ips[0]);
    for (size_t i = 0; i < n; i++) {
        const struct jv *fr = &stack->items[i];
        struct sym_frame_ext *grown = mt_grow(lp->frames, &lp->frames_cap, lp->nframes + 1,
                                              sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        lp->frames = grown;
        const struct jv *inl = jv_member(fr, "inlined");
        lp->frames[lp->nframes] = (struct sym_frame_ext){
            .f = { .address = hex_value(fr, "address"), .function = jv_string(fr, "function"),
                   .file = jv_string(fr, "file"), .line = (int)jv_uint(fr, "line", 0),
                   .module = jv_string(fr, "module"), .module_offset = hex_value(fr, "offset") },
            .mangled = jv_string(fr, "mangled"), .build_id = jv_string(fr, "build_id"),
            .inlined = inl && inl->type == JV_BOOL && inl->b,
        };
        ips[i] = ++lp->nframes;
    }
    *id = stack_intern_add(&lp->stacks, ips, (unsigned)n);
    return *id == 0 && n > 0 ? -ENOMEM : 0;   /* 0 is also the empty stack's id */
}

static int fn_by_name(const char *name, enum alloc_fn *out)
{
    for (int f = 0; name && f < FN_COUNT; f++) {
        if (strcmp(alloc_fn_name((enum alloc_fn)f), name) == 0) {
            *out = (enum alloc_fn)f;
            return 0;
        }
    }
    return -1;
}

static int kind_by_name(const char *name, unsigned *out)
{
    for (unsigned k = 0; name && k <= LEAK_KIND_COUNT; k++) {
        if (strcmp(report_kind_name(k), name) == 0) {
            *out = k;
            return 0;
        }
    }
    return -1;
}

static int load_leaks(struct loaded_process *lp, const struct jv *proc,
                      const struct report_load_options *o, char *why, size_t why_len)
{
    const struct jv *leaks = jv_member(proc, "leaks");
    for (size_t i = 0; leaks && leaks->type == JV_ARRAY && i < leaks->n; i++) {
        const struct jv *l = &leaks->items[i];
        struct leak_record r = { 0 };
        enum alloc_fn fn;
        if (kind_by_name(jv_string(l, "kind"), &r.kind) != 0 ||
            fn_by_name(jv_string(l, "allocator"), &fn) != 0) {
            snprintf(why, why_len, "leak record %zu of pid %" PRIu64 ": unknown kind or "
                     "allocator", i + 1, jv_uint(proc, "pid", 0));
            return -EINVAL;
        }
        r.fn = fn;
        r.bytes = jv_uint(l, "bytes", 0);
        r.blocks = jv_uint(l, "blocks", 0);
        const struct jv *ind = jv_member(l, "indirect");
        r.indirect_bytes = jv_uint(ind, "bytes", 0);
        r.indirect_blocks = jv_uint(ind, "blocks", 0);
        r.oldest_seq = UINT64_MAX;   /* ages are not re-rendered */
        if (intern_stack(lp, jv_member(l, "stack"), o->depth, &r.stack) != 0)
            return -ENOMEM;
        struct leak_record *grown = mt_grow(lp->records, &lp->records_cap, lp->nrecords + 1,
                                            sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        lp->records = grown;
        lp->records[lp->nrecords++] = r;
        if (jv_member(l, "suppressed_by") && r.kind < LEAK_KIND_COUNT) {
            /* The summary left it out; the totals are those before suppression. */
            lp->saved.totals[r.kind].bytes += r.bytes;
            lp->saved.totals[r.kind].blocks += r.blocks;
        }
    }
    report_sort_leaks(lp->records, lp->nrecords);
    lp->saved.records = lp->records;
    lp->saved.n = lp->nrecords;
    return 0;
}

static int load_errors(struct loaded_process *lp, const struct jv *proc,
                       const struct report_load_options *o)
{
    const struct jv *errors = jv_member(proc, "errors");
    for (size_t i = 0; errors && errors->type == JV_ARRAY && i < errors->n; i++) {
        const struct jv *e = &errors->items[i];
        const char *kind = jv_string(e, "kind");
        struct alloc_error err = {
            .kind = kind && strcmp(kind, "double_free") == 0       ? ERR_DOUBLE_FREE
                    : kind && strcmp(kind, "mismatched_free") == 0 ? ERR_MISMATCHED_FREE
                                                                   : ERR_INVALID_FREE,
            .addr = hex_value(e, "address"),
            .block_size = jv_uint(e, "size", 0),
            .alloc_library = jv_string(e, "allocator_library"),
            .release_library = jv_string(e, "release_library"),
        };
        const struct jv *skipped = jv_member(e, "skipped");
        err.ran = skipped && skipped->type == JV_BOOL && !skipped->b;
        enum alloc_fn fn = FN_FREE;
        fn_by_name(jv_string(e, "function"), &fn);
        err.fn = fn;
        fn = FN_MALLOC;
        fn_by_name(jv_string(e, "allocator"), &fn);
        err.alloc_fn = fn;
        if (intern_stack(lp, jv_member(e, "stack"), o->depth, &err.stack) != 0 ||
            intern_stack(lp, jv_member(e, "alloc_stack"), o->depth, &err.alloc_stack) != 0 ||
            intern_stack(lp, jv_member(e, "free_stack"), o->depth, &err.free_stack) != 0)
            return -ENOMEM;
        const struct jv *d = jv_member(e, "address_description");
        const char *dk = jv_string(d, "kind");
        for (unsigned k = ADDR_UNKNOWN; dk && k <= ADDR_MAPPING; k++)
            if (strcmp(report_addr_kind_name((enum addr_kind)k), dk) == 0)
                err.where.kind = (enum addr_kind)k;
        err.where.thread = (unsigned)jv_uint(d, "thread", 0);
        err.where.offset = jv_uint(d, "offset", 0);
        err.where.block_size = jv_uint(d, "block_size", 0);
        err.where.symbol = jv_string(d, "symbol");
        err.where.path = jv_string(d, err.where.kind == ADDR_DATA_SYMBOL ? "module" : "path");
        const char *perms = jv_string(d, "permissions");
        snprintf(err.where.perms, sizeof(err.where.perms), "%s", perms ? perms : "---");
        if (intern_stack(lp, jv_member(d, "alloc_stack"), o->depth, &err.where.alloc_stack) != 0 ||
            intern_stack(lp, jv_member(d, "free_stack"), o->depth, &err.where.free_stack) != 0 ||
            alloc_model_record_error(&lp->model, &err) != 0)
            return -ENOMEM;
    }
    return 0;
}

static int prot_of(const char *s)
{
    if (!s || strlen(s) != 3)
        return PROT_NONE;
    return (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) |
           (s[2] == 'x' ? PROT_EXEC : 0);
}

static int flags_of(const struct jv *words)
{
    int flags = MAP_PRIVATE;
    for (size_t i = 0; words && words->type == JV_ARRAY && i < words->n; i++) {
        const char *w = words->items[i].type == JV_STRING ? words->items[i].str : "";
        if (strcmp(w, "shared") == 0)
            flags = (flags & ~MAP_PRIVATE) | MAP_SHARED;
        else if (strcmp(w, "anonymous") == 0)
            flags |= MAP_ANONYMOUS;
        else if (strcmp(w, "fixed") == 0)
            flags |= MAP_FIXED;
    }
    return flags;
}

static bool is_true(const struct jv *o, const char *key)
{
    const struct jv *v = jv_member(o, key);
    return v && v->type == JV_BOOL && v->b;
}

/* A region of the rebuilt mapping table; bytes rounded up to pages, as the
 * table keeps them. */
static int add_region(struct loaded_process *lp, mt_addr lo, uint64_t bytes,
                      struct map_region r, const char *path)
{
    r.lo = lo;
    r.hi = lo + ((bytes + 4095) & ~(uint64_t)4095);
    return r.hi > r.lo && map_table_add(&lp->maps, &r, path) != 0 ? -ENOMEM : 0;
}

/* The JSON's "mappings" and "allocator_arenas" as the mapping and SysV
 * tables, so that the writers list them as the run did. Arenas are only
 * counted: they get places of their own, apart, below the program's. */
static int load_mappings(struct loaded_process *lp, const struct jv *proc,
                         const struct report_load_options *o)
{
    const struct jv *maps = jv_member(proc, "mappings");
    for (size_t i = 0; maps && maps->type == JV_ARRAY && i < maps->n; i++) {
        const struct jv *m = &maps->items[i];
        uint32_t stack;
        if (intern_stack(lp, jv_member(m, "stack"), o->depth, &stack) != 0)
            return -ENOMEM;
        const char *kind = jv_string(m, "kind");
        uint64_t bytes = jv_uint(m, "bytes", 0);
        struct map_region r = { .stack = stack, .prot = prot_of(jv_string(m, "prot")),
                                .flags = flags_of(jv_member(m, "flags")), .shmid = -1 };
        if (kind && strcmp(kind, "mmap") == 0) {
            if (add_region(lp, hex_value(m, "address"), bytes, r, jv_string(m, "path")) != 0)
                return -ENOMEM;
            continue;
        }
        int shmid = (int)jv_uint(m, "shmid", 0);
        struct shm_segment *seg = shm_table_add(&lp->shms, shmid);
        if (!seg)
            return -ENOMEM;
        seg->key = (int)jv_uint(m, "key", 0);
        seg->size = bytes;
        seg->stack = stack;
        seg->created = is_true(m, "created");
        seg->removed = is_true(m, "removed");
        seg->checked = true;
        seg->exists = is_true(m, "persists");
        const struct jv *at = jv_member(m, "attached");
        r.shmid = shmid;
        r.flags = MAP_SHARED;
        for (size_t k = 0; at && at->type == JV_ARRAY && k < at->n; k++) {
            mt_addr addr = at->items[k].type == JV_STRING ? strtoull(at->items[k].str, NULL, 16)
                                                         : 0;
            if (add_region(lp, addr, bytes, r, NULL) != 0)
                return -ENOMEM;
        }
    }
    const struct jv *arenas = jv_member(proc, "allocator_arenas");
    uint64_t narenas = jv_uint(arenas, "mappings", 0), bytes = jv_uint(arenas, "bytes", 0);
    mt_addr at = 0x10000;
    for (uint64_t i = 0; i < narenas && i < 4096; i++) {
        uint64_t each = bytes / narenas + (i == 0 ? bytes % narenas : 0);
        struct map_region r = { .prot = PROT_READ | PROT_WRITE, .shmid = -1, .arena = true,
                                .flags = MAP_PRIVATE | MAP_ANONYMOUS };
        if (add_region(lp, at, each, r, NULL) != 0)
            return -ENOMEM;
        at += ((each + 4095) & ~(uint64_t)4095) + 4096;   /* apart: not merged */
    }
    return 0;
}

/* The JSON's "timeline" (--timeline) as the model's samples, its stacks
 * interned. */
static int load_timeline(struct loaded_process *lp, const struct jv *proc,
                         const struct report_load_options *o)
{
    const struct jv *tl = jv_member(proc, "timeline");
    const struct jv *samples = jv_member(tl, "samples"), *stacks = jv_member(tl, "stacks");
    if (!samples || samples->type != JV_ARRAY || samples->n == 0 || !stacks ||
        stacks->type != JV_ARRAY)
        return 0;
    uint32_t *ids = calloc(stacks->n ? stacks->n : 1, sizeof(*ids));
    lp->model.samples = calloc(ALLOC_MODEL_SAMPLES, sizeof(*lp->model.samples));
    if (!ids || !lp->model.samples) {
        free(ids);
        return -ENOMEM;
    }
    for (size_t i = 0; i < stacks->n; i++) {
        if (intern_stack(lp, &stacks->items[i], o->depth, &ids[i]) != 0) {
            free(ids);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < samples->n && lp->model.nsamples < ALLOC_MODEL_SAMPLES; i++) {
        const struct jv *js = &samples->items[i];
        struct live_sample *smp = &lp->model.samples[lp->model.nsamples++];
        smp->ns = jv_uint(js, "t_ns", 0);
        smp->live_bytes = jv_uint(js, "live_bytes", 0);
        smp->peak_bytes = jv_uint(js, "peak_bytes", 0);
        const struct jv *top = jv_member(js, "top");
        for (size_t k = 0; top && top->type == JV_ARRAY && k < top->n &&
                           smp->ntop < ALLOC_MODEL_SAMPLE_TOP; k++) {
            const struct jv *pair = &top->items[k];
            if (pair->type != JV_ARRAY || pair->n != 2 || !pair->items[0].is_uint ||
                !pair->items[1].is_uint || pair->items[0].u >= stacks->n)
                continue;   /* not what memtrace writes: left out */
            smp->top_stack[smp->ntop] = ids[pair->items[0].u];
            smp->top_bytes[smp->ntop++] = pair->items[1].u;
        }
    }
    free(ids);
    return 0;
}

static enum report_end end_by_name(const char *name)
{
    static const enum report_end ends[] = { REPORT_RUNNING, REPORT_EXITED, REPORT_SIGNALED,
                                            REPORT_EXEC, REPORT_DETACHED };
    for (size_t i = 0; name && i < sizeof(ends) / sizeof(ends[0]); i++)
        if (strcmp(report_end_name(ends[i]), name) == 0)
            return ends[i];
    return REPORT_RUNNING;
}

static int load_process(struct loaded_process *lp, struct report_process *rp,
                        const struct jv *proc, bool attached,
                        const struct report_load_options *o, char *why, size_t why_len)
{
    map_table_init(&lp->maps);
    shm_table_init(&lp->shms);
    if (alloc_model_init(&lp->model) != 0 || stack_intern_init(&lp->stacks) != 0)
        return -ENOMEM;
    const struct jv *cmd = jv_member(proc, "command");
    size_t argc = cmd && cmd->type == JV_ARRAY ? cmd->n : 0;
    if (!(lp->argv = calloc(argc + 1, sizeof(*lp->argv))))
        return -ENOMEM;
    static char unknown[] = "?";   /* never written: argv's type wants char * */
    for (size_t i = 0; i < argc; i++)
        lp->argv[i] = cmd->items[i].type == JV_STRING ? cmd->items[i].str : unknown;
    const struct jv *sum = jv_member(proc, "summary");
    lp->model.allocations = jv_uint(sum, "allocations", 0);
    lp->model.frees = jv_uint(sum, "frees", 0);
    lp->model.bytes_allocated = jv_uint(sum, "bytes_allocated", 0);
    lp->model.untracked_frees = jv_uint(sum, "untracked_frees", 0);
    for (unsigned k = 0; k <= LEAK_KIND_COUNT; k++) {
        const struct jv *amount = jv_member(sum, k < LEAK_KIND_COUNT ? leak_kind_name(k)
                                                                     : "unfreed");
        lp->saved.totals[k].bytes = jv_uint(amount, "bytes", 0);
        lp->saved.totals[k].blocks = jv_uint(amount, "blocks", 0);
    }
    const struct jv *classified = jv_member(sum, "classified");
    lp->saved.classified = classified && classified->type == JV_BOOL && classified->b;
    int err = load_leaks(lp, proc, o, why, why_len);
    if (err == 0)
        err = load_errors(lp, proc, o);
    if (err == 0)
        err = load_timeline(lp, proc, o);
    if (err == 0)
        err = load_mappings(lp, proc, o);
    if (err)
        return err;
    const struct jv *signal = jv_member(proc, "signal");
    const struct jv *shown = jv_member(proc, "records_shown");
    *rp = (struct report_process){
        .pid = (pid_t)jv_uint(proc, "pid", 0), .argv = lp->argv,
        .end = end_by_name(jv_string(proc, "end")), .attached = attached,
        .exit_code = (int)jv_uint(proc, "exit_code", 0),
        .signal = signal && signal->type == JV_NUMBER ? (int)signal->num : 0,
        .tracing_error = jv_string(proc, "tracing_error"),
        .records_hidden = jv_string(proc, "end") && strcmp(jv_string(proc, "end"), "exec") == 0 &&
                          !(shown && shown->type == JV_BOOL && shown->b),
        .exec_program = jv_string(proc, "exec_program"),
        .model = &lp->model, .show_kinds = o->show_kinds, .error_kinds = o->error_kinds,
        .supps = o->supps, .gen_suppressions = o->gen_suppressions, .stacks = &lp->stacks,
        .resolve_frames = loaded_frames, .resolve_ctx = lp, .saved = &lp->saved,
        .maps = &lp->maps, .shms = &lp->shms,
    };
    return 0;
}

int report_load(const struct jv *doc, const struct report_load_options *o,
                struct loaded_report *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    const struct jv *procs = jv_member(doc, "processes");
    if (jv_uint(doc, "version", 0) != 1 || !procs || procs->type != JV_ARRAY) {
        snprintf(why, why_len, "not a memtrace JSON report (version 1)");
        return -EINVAL;
    }
    const char *mode = jv_string(doc, "mode");
    bool attached = mode && strcmp(mode, "attach") == 0;
    out->procs = calloc(procs->n ? procs->n : 1, sizeof(*out->procs));
    out->loaded = calloc(procs->n ? procs->n : 1, sizeof(*out->loaded));
    if (!out->procs || !out->loaded) {
        report_load_free(out);
        snprintf(why, why_len, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < procs->n; i++) {
        out->n = i + 1;   /* so that a failure frees what this one holds */
        int err = load_process(&out->loaded[i], &out->procs[i], &procs->items[i], attached, o,
                               why, why_len);
        if (err) {
            if (err == -ENOMEM)
                snprintf(why, why_len, "out of memory");
            report_load_free(out);
            return err;
        }
    }
    return 0;
}

void report_load_free(struct loaded_report *r)
{
    for (size_t i = 0; r->loaded && i < r->n; i++) {
        struct loaded_process *lp = &r->loaded[i];
        alloc_model_destroy(&lp->model);
        map_table_destroy(&lp->maps);
        shm_table_destroy(&lp->shms);
        stack_intern_destroy(&lp->stacks);
        free(lp->frames);
        free(lp->records);
        free(lp->argv);
    }
    free(r->loaded);
    free(r->procs);
    memset(r, 0, sizeof(*r));
}
