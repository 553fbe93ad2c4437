/* --sarif: the report as SARIF 2.1.0 (OASIS), the format code-scanning
 * services and editors' SARIF viewers read. One run for the whole session
 * (one invocation per traced process), one result per listed leak record,
 * bad free and mapping never unmapped. A result's location is the first
 * frame in the program's own sources, so a viewer shows the leak where the
 * program allocated; the whole stack follows as related locations and as
 * a SARIF stack. Suppressed records stay, with a suppression attached. */
#include "report.h"
#include "json_writer.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum sarif_rule {
    RULE_DEFINITE, RULE_INDIRECT, RULE_POSSIBLE, RULE_REACHABLE, RULE_UNFREED,
    RULE_INVALID_FREE, RULE_DOUBLE_FREE, RULE_MISMATCHED_FREE,
    RULE_MAPPING, RULE_SYSV_SEGMENT, RULE_COUNT
};

static const struct {
    const char *id, *name, *level, *brief, *full;
} rules[RULE_COUNT] = {
    [RULE_DEFINITE] = { "memtrace/definitely-lost", "DefinitelyLost", "error",
        "Memory definitely lost",
        "A heap block nothing points to at the end: the program can never free it." },
    [RULE_INDIRECT] = { "memtrace/indirectly-lost", "IndirectlyLost", "warning",
        "Memory indirectly lost",
        "A heap block reachable only from definitely lost blocks: fixing the leak that "
        "owns it frees it too." },
    [RULE_POSSIBLE] = { "memtrace/possibly-lost", "PossiblyLost", "warning",
        "Memory possibly lost",
        "A heap block only pointers into its middle reach: lost unless the program "
        "keeps such interior pointers on purpose." },
    [RULE_REACHABLE] = { "memtrace/still-reachable", "StillReachable", "note",
        "Memory still reachable",
        "A heap block never freed that a pointer still reaches at the end." },
    [RULE_UNFREED] = { "memtrace/unfreed", "Unfreed", "warning", "Memory never freed",
        "A heap block never freed whose reachability was not classified (the process "
        "image was replaced by exec)." },
    [RULE_INVALID_FREE] = { "memtrace/invalid-free", "InvalidFree", "error",
        "Free of an address that is not a heap block",
        "free(), delete or realloc() of an address the allocator never returned." },
    [RULE_DOUBLE_FREE] = { "memtrace/double-free", "DoubleFree", "error",
        "Heap block freed twice", "A second free() or delete of a block already freed." },
    [RULE_MISMATCHED_FREE] = { "memtrace/mismatched-free", "MismatchedFree", "error",
        "Heap block released by the wrong function",
        "A block released by a function that does not match the one that allocated it "
        "(free of new, delete of new[], or another allocator library's free)." },
    [RULE_MAPPING] = { "memtrace/mapping-never-unmapped", "MappingNeverUnmapped", "warning",
        "Memory mapping never unmapped",
        "An mmap the program made and never unmapped: a leak in a long-running process, "
        "or state shared with other processes." },
    [RULE_SYSV_SEGMENT] = { "memtrace/sysv-segment-left", "SysvSegmentLeft", "warning",
        "SysV shared memory segment left behind",
        "A SysV shared memory segment still attached at the end, or never removed "
        "(it outlives the process)." },
};

struct sarif_ctx {
    struct json_writer *w;
    const char *srcroot;    /* absolute, ends with '/'; NULL: every URI absolute */
    size_t srcroot_len;
};

/* Walks a stack's frames, inlined ones included, from frame cut_frame of
 * ips[cut_ip] on. A frame returned stays valid until the next call. */
struct frame_walk {
    const struct report_process *p;
    uint32_t stack;
    const mt_addr *ips;
    unsigned depth, ip, k, n;
    const struct sym_frame_ext *frames;
};

static void walk_start(struct frame_walk *fw, const struct report_process *p, uint32_t stack,
                       unsigned cut_ip, unsigned cut_frame)
{
    memset(fw, 0, sizeof(*fw));
    fw->p = p;
    fw->stack = stack;
    fw->ips = stack_intern_get(p->stacks, stack, &fw->depth);
    fw->ip = cut_ip;
    if (cut_ip < fw->depth) {
        fw->n = report_frames(p, stack, fw->ips[cut_ip], &fw->frames);
        fw->k = cut_frame;
    }
}

static const struct sym_frame_ext *walk_next(struct frame_walk *fw)
{
    while (fw->ip < fw->depth && fw->k >= fw->n) {
        if (++fw->ip >= fw->depth)
            return NULL;
        fw->n = report_frames(fw->p, fw->stack, fw->ips[fw->ip], &fw->frames);
        fw->k = 0;
    }
    return fw->ip < fw->depth ? &fw->frames[fw->k++] : NULL;
}

/* A URI reference for a path: RFC 3986's unreserved characters and '/'
 * as they are, everything else percent-encoded. */
static void uri_encode(const char *path, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = 0;
    for (const unsigned char *c = (const unsigned char *)path; *c && at + 4 < len; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || strchr("-._~/", *c) != NULL;
        if (plain) {
            out[at++] = (char)*c;
        } else {
            out[at++] = '%';
            out[at++] = hex[*c >> 4];
            out[at++] = hex[*c & 15];
        }
    }
    out[at] = '\0';
}

/* "artifactLocation": a file under the source root relative to SRCROOT
 * (what code-scanning services match against the repository), any other
 * as a file:// URI. */
static void write_artifact(struct sarif_ctx *c, const char *path)
{
    char enc[3 * 4096 + 8];
    bool relative = path[0] != '/' ||
                    (c->srcroot && strncmp(path, c->srcroot, c->srcroot_len) == 0);
    const char *rest = path[0] != '/' ? path : path + (relative ? c->srcroot_len : 0);
    uri_encode(rest, enc, sizeof(enc));
    json_key(c->w, "artifactLocation");
    json_begin_object(c->w);
    json_key(c->w, "uri");
    if (relative) {
        json_string(c->w, enc);
        json_key(c->w, "uriBaseId");
        json_string(c->w, "SRCROOT");
    } else {
        char uri[sizeof(enc) + 8];
        snprintf(uri, sizeof(uri), "file://%s", enc);
        json_string(c->w, uri);
    }
    json_end_object(c->w);
}

/* A location object for frame fr: its file and line, else its address
 * (and its module as the artifact, when primary: a result's own location
 * needs a file to be shown at); the function as a logical location. id < 0:
 * none. */
static void write_location(struct sarif_ctx *c, const struct sym_frame_ext *fr, int id,
                           const char *message, bool primary)
{
    struct json_writer *w = c->w;
    json_begin_object(w);
    if (id >= 0) {
        json_key(w, "id");
        json_int(w, id);
    }
    json_key(w, "physicalLocation");
    json_begin_object(w);
    if (fr->f.file) {
        write_artifact(c, fr->f.file);
        if (fr->f.line > 0) {
            json_key(w, "region");
            json_begin_object(w);
            json_key(w, "startLine");
            json_int(w, fr->f.line);
            json_end_object(w);
        }
    } else {
        if (fr->f.module && primary)
            write_artifact(c, fr->f.module);
        json_key(w, "address");
        json_begin_object(w);
        json_key(w, "absoluteAddress");
        json_uint(w, fr->f.address);
        if (fr->f.module) {
            json_key(w, "relativeAddress");
            json_uint(w, fr->f.module_offset);
        }
        json_end_object(w);
    }
    json_end_object(w);
    if (fr->f.function) {
        json_key(w, "logicalLocations");
        json_begin_array(w);
        json_begin_object(w);
        json_key(w, "fullyQualifiedName");
        json_string(w, fr->f.function);
        if (fr->mangled) {
            json_key(w, "decoratedName");
            json_string(w, fr->mangled);
        }
        json_key(w, "kind");
        json_string(w, "function");
        json_end_object(w);
        json_end_array(w);
    }
    if (message) {
        json_key(w, "message");
        json_begin_object(w);
        json_key(w, "text");
        json_string(w, message);
        json_end_object(w);
    }
    json_end_object(w);
}

/* A stack of a result, and what to call it. */
struct sarif_stack {
    uint32_t id;
    unsigned cut_ip, cut_frame;
    const char *label;    /* "allocated", "freed", ... */
};

/* The result's primary frame: the first in the program's own sources of
 * its first stack, else its first with a file, else its first. Returns its
 * position in the walk (0-based); -1 when the stack is empty. */
static int primary_frame(const struct report_process *p, const struct sarif_stack *s)
{
    struct frame_walk fw;
    const struct sym_frame_ext *fr;
    int at = 0, with_file = -1;
    walk_start(&fw, p, s->id, s->cut_ip, s->cut_frame);
    for (; (fr = walk_next(&fw)) != NULL; at++) {
        if (report_frame_is_own(&fr->f))
            return at;
        if (with_file < 0 && fr->f.file)
            with_file = at;
    }
    return with_file >= 0 ? with_file : at > 0 ? 0 : -1;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; ; c++) {
        h = (h ^ *c) * 0x100000001b3ull;
        if (!*c)
            return h;
    }
}

/* FNV-1a over the function names and file names (not lines, not
 * addresses) of the stacks: the same leak has the same print across runs,
 * address-space layouts and rebuilds that move lines. */
static uint64_t fingerprint(const struct report_process *p, enum sarif_rule rule,
                            const struct sarif_stack *stacks, size_t n)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, rules[rule].id);
    for (size_t i = 0; i < n; i++) {
        struct frame_walk fw;
        const struct sym_frame_ext *fr;
        walk_start(&fw, p, stacks[i].id, stacks[i].cut_ip, stacks[i].cut_frame);
        while ((fr = walk_next(&fw)) != NULL) {
            const char *slash = fr->f.file ? strrchr(fr->f.file, '/') : NULL;
            h = fnv1a(h, fr->f.function ? fr->f.function : "?");
            h = fnv1a(h, slash ? slash + 1 : fr->f.file ? fr->f.file : "?");
        }
    }
    return h;
}

/* locations, relatedLocations, stacks and partialFingerprints of a result
 * whose stacks are stacks[0..n) (the first is where the result is). */
static void write_where(struct sarif_ctx *c, const struct report_process *p, enum sarif_rule rule,
                        const struct sarif_stack *stacks, size_t n)
{
    struct json_writer *w = c->w;
    int primary = n > 0 ? primary_frame(p, &stacks[0]) : -1;
    struct frame_walk fw;
    const struct sym_frame_ext *fr;
    char words[1024], message[1200];
    json_key(w, "locations");
    json_begin_array(w);
    if (primary >= 0) {
        walk_start(&fw, p, stacks[0].id, stacks[0].cut_ip, stacks[0].cut_frame);
        for (int at = 0; (fr = walk_next(&fw)) != NULL; at++)
            if (at == primary) {
                write_location(c, fr, -1, NULL, true);
                break;
            }
    }
    json_end_array(w);
    json_key(w, "relatedLocations");
    json_begin_array(w);
    int id = 1;
    for (size_t i = 0; i < n; i++) {
        walk_start(&fw, p, stacks[i].id, stacks[i].cut_ip, stacks[i].cut_frame);
        for (int at = 0; (fr = walk_next(&fw)) != NULL; at++) {
            if ((i == 0 && at == primary) || !fr->f.file)
                continue;   /* the stacks below have every frame */
            report_format_frame(&fr->f, words, sizeof(words));
            snprintf(message, sizeof(message), "%s, frame %d: %s", stacks[i].label, at, words);
            write_location(c, fr, id++, message, false);
        }
    }
    json_end_array(w);
    json_key(w, "stacks");
    json_begin_array(w);
    for (size_t i = 0; i < n; i++) {
        json_begin_object(w);
        json_key(w, "message");
        json_begin_object(w);
        json_key(w, "text");
        json_string(w, stacks[i].label);
        json_end_object(w);
        json_key(w, "frames");
        json_begin_array(w);
        walk_start(&fw, p, stacks[i].id, stacks[i].cut_ip, stacks[i].cut_frame);
        while ((fr = walk_next(&fw)) != NULL) {
            json_begin_object(w);
            json_key(w, "location");
            write_location(c, fr, -1, NULL, false);
            if (fr->f.module) {
                json_key(w, "module");
                json_string(w, fr->f.module);
            }
            json_end_object(w);
        }
        json_end_array(w);
        json_end_object(w);
    }
    json_end_array(w);
    char print[17];
    snprintf(print, sizeof(print), "%016" PRIx64, fingerprint(p, rule, stacks, n));
    json_key(w, "partialFingerprints");
    json_begin_object(w);
    json_key(w, "memtraceStack/v1");
    json_string(w, print);
    json_end_object(w);
}

static void begin_result(struct json_writer *w, enum sarif_rule rule, const char *level,
                         const char *text)
{
    json_begin_object(w);
    json_key(w, "ruleId");
    json_string(w, rules[rule].id);
    json_key(w, "ruleIndex");
    json_int(w, rule);
    json_key(w, "level");
    json_string(w, level);
    json_key(w, "message");
    json_begin_object(w);
    json_key(w, "text");
    json_string(w, text);
    json_end_object(w);
}

/* "suppressions": the result was matched by suppression name. */
static void write_suppressed(struct json_writer *w, const struct suppression *s)
{
    if (!s)
        return;
    char why[512];
    snprintf(why, sizeof(why), "suppressed by '%s' (%s:%u)", s->name, s->file, s->line);
    json_key(w, "suppressions");
    json_begin_array(w);
    json_begin_object(w);
    json_key(w, "kind");
    json_string(w, "external");
    json_key(w, "status");
    json_string(w, "accepted");
    json_key(w, "justification");
    json_string(w, why);
    json_end_object(w);
    json_end_array(w);
}

static void write_leak(struct sarif_ctx *c, const struct report_process *p,
                       const struct leak_record *r, size_t number, size_t total)
{
    static const enum sarif_rule by_kind[] = {
        [LEAK_DEFINITE] = RULE_DEFINITE, [LEAK_INDIRECT] = RULE_INDIRECT,
        [LEAK_POSSIBLE] = RULE_POSSIBLE, [LEAK_REACHABLE] = RULE_REACHABLE,
    };
    enum sarif_rule rule = r->kind < LEAK_KIND_COUNT ? by_kind[r->kind] : RULE_UNFREED;
    char text[512];
    report_leak_headline(r, number, total, text, sizeof(text));
    size_t at = strlen(text);
    snprintf(text + at, sizeof(text) - at, ", allocated by %s", alloc_fn_call_name(r->fn));
    const char *level = report_leak_is_error(p, r) ? "error"
                        : rule == RULE_REACHABLE  ? "note"
                                                  : "warning";
    begin_result(c->w, rule, level, text);
    struct sarif_stack s = { r->stack, r->cut_ip, r->cut_frame, "allocated" };
    write_where(c, p, rule, &s, 1);
    write_suppressed(c->w, r->suppressed_by);
    json_key(c->w, "properties");
    json_begin_object(c->w);
    json_key(c->w, "pid");
    json_int(c->w, p->pid);
    json_key(c->w, "bytes");
    json_uint(c->w, r->bytes);
    json_key(c->w, "blocks");
    json_uint(c->w, r->blocks);
    json_key(c->w, "indirectBytes");
    json_uint(c->w, r->indirect_bytes);
    json_key(c->w, "indirectBlocks");
    json_uint(c->w, r->indirect_blocks);
    json_key(c->w, "allocator");
    json_string(c->w, alloc_fn_name(r->fn));
    json_end_object(c->w);
    json_end_object(c->w);
}

static void write_bad_free(struct sarif_ctx *c, const struct report_process *p,
                           const struct alloc_error *e)
{
    enum sarif_rule rule = e->kind == ERR_DOUBLE_FREE     ? RULE_DOUBLE_FREE
                           : e->kind == ERR_MISMATCHED_FREE ? RULE_MISMATCHED_FREE
                                                            : RULE_INVALID_FREE;
    char text[1024];
    if (e->kind == ERR_MISMATCHED_FREE && e->alloc_library)
        snprintf(text, sizeof(text), "%s of %s on a block of %" PRIu64 " bytes allocated by %s "
                 "of %s", alloc_fn_call_name(e->fn), e->release_library, e->block_size,
                 alloc_fn_call_name(e->alloc_fn), e->alloc_library);
    else if (e->kind == ERR_MISMATCHED_FREE)
        snprintf(text, sizeof(text), "%s of a block of %" PRIu64 " bytes allocated by %s",
                 alloc_fn_call_name(e->fn), e->block_size, alloc_fn_call_name(e->alloc_fn));
    else if (e->kind == ERR_DOUBLE_FREE)
        snprintf(text, sizeof(text), "%s(0x%" PRIxADDR ") of a block of %" PRIu64 " bytes that "
                 "was already freed", alloc_fn_name(e->fn), e->addr, e->block_size);
    else
        snprintf(text, sizeof(text), "%s(0x%" PRIxADDR ") of an address that is not a heap "
                 "block", alloc_fn_name(e->fn), e->addr);
    begin_result(c->w, rule, "error", text);
    struct sarif_stack s[3] = { { e->stack, 0, 0, "released" } };
    size_t n = 1;
    if (e->kind == ERR_DOUBLE_FREE)
        s[n++] = (struct sarif_stack){ e->free_stack, 0, 0, "first freed" };
    if (e->kind != ERR_INVALID_FREE)
        s[n++] = (struct sarif_stack){ e->alloc_stack, 0, 0, "allocated" };
    write_where(c, p, rule, s, n);
    write_suppressed(c->w, report_error_suppression(p, e));
    json_key(c->w, "properties");
    json_begin_object(c->w);
    json_key(c->w, "pid");
    json_int(c->w, p->pid);
    json_key(c->w, "address");
    json_hex(c->w, e->addr);
    json_key(c->w, "skipped");
    json_bool(c->w, !e->ran);
    json_end_object(c->w);
    json_end_object(c->w);
}

static void write_mapping(struct sarif_ctx *c, const struct report_process *p,
                          const struct mapping_record *r)
{
    char text[1024];
    enum sarif_rule rule = r->sysv ? RULE_SYSV_SEGMENT : RULE_MAPPING;
    if (r->sysv)
        snprintf(text, sizeof(text), "%" PRIu64 " bytes in SysV shared memory segment %d "
                 "(key 0x%08x)%s%s", r->bytes, r->seg->shmid, (unsigned)r->seg->key,
                 r->nattached ? ", still attached at the end" : "",
                 shm_segment_persists(r->seg) ? ", never removed (it outlives the process)" : "");
    else
        snprintf(text, sizeof(text), "%" PRIu64 " bytes at 0x%" PRIxADDR ": %s %s mapping%s%s, "
                 "never unmapped", r->bytes, r->addr, r->shared ? "shared" : "private",
                 r->backing, r->path ? " of " : "", r->path ? r->path : "");
    begin_result(c->w, rule, rules[rule].level, text);
    struct sarif_stack s = { r->stack, 0, 0, r->sysv ? "created" : "mapped" };
    write_where(c, p, rule, &s, 1);
    json_key(c->w, "properties");
    json_begin_object(c->w);
    json_key(c->w, "pid");
    json_int(c->w, p->pid);
    json_key(c->w, "bytes");
    json_uint(c->w, r->bytes);
    json_end_object(c->w);
    json_end_object(c->w);
}

static bool listed(const struct report_process *p, const struct leak_record *r)
{
    return r->kind >= LEAK_KIND_COUNT || (p->show_kinds & (1u << r->kind));
}

static int write_results(struct sarif_ctx *c, const struct report_process *p)
{
    for (size_t i = 0; i < p->model->nerrors; i++)
        write_bad_free(c, p, &p->model->errors[i]);
    if (report_summary_only(p))
        return 0;
    struct leak_record *recs;
    size_t n, total = 0, number = 0;
    if (report_collect_records(p, &recs, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        total += listed(p, &recs[i]) && !recs[i].suppressed_by;
    for (size_t i = 0; i < n && !p->records_hidden; i++)
        if (listed(p, &recs[i]))
            write_leak(c, p, &recs[i], recs[i].suppressed_by ? 0 : ++number, total);
    free(recs);
    struct mapping_report mr;
    if (report_collect_mappings(p, &mr) != 0)
        return -1;
    for (size_t i = 0; i < mr.n; i++)
        write_mapping(c, p, &mr.recs[i]);
    report_mappings_free(&mr);
    return 0;
}

static void write_rules(struct json_writer *w)
{
    json_key(w, "rules");
    json_begin_array(w);
    for (unsigned i = 0; i < RULE_COUNT; i++) {
        json_begin_object(w);
        json_key(w, "id");
        json_string(w, rules[i].id);
        json_key(w, "name");
        json_string(w, rules[i].name);
        json_key(w, "shortDescription");
        json_begin_object(w);
        json_key(w, "text");
        json_string(w, rules[i].brief);
        json_end_object(w);
        json_key(w, "fullDescription");
        json_begin_object(w);
        json_key(w, "text");
        json_string(w, rules[i].full);
        json_end_object(w);
        json_key(w, "defaultConfiguration");
        json_begin_object(w);
        json_key(w, "level");
        json_string(w, rules[i].level);
        json_end_object(w);
        json_end_object(w);
    }
    json_end_array(w);
}

static void write_invocation(struct json_writer *w, const struct report_process *p)
{
    json_begin_object(w);
    json_key(w, "executionSuccessful");
    json_bool(w, p->tracing_error == NULL);
    char line[4096];
    size_t at = 0;
    line[0] = '\0';
    for (size_t i = 0; p->argv && p->argv[i] && at < sizeof(line); i++)
        at += (size_t)snprintf(line + at, sizeof(line) - at, "%s%s", i ? " " : "", p->argv[i]);
    json_key(w, "commandLine");
    json_string(w, line);
    json_key(w, "arguments");
    json_begin_array(w);
    for (size_t i = 0; p->argv && p->argv[i]; i++)
        json_string(w, p->argv[i]);
    json_end_array(w);
    json_key(w, "processId");
    json_int(w, p->pid);
    if (p->end == REPORT_EXITED) {
        json_key(w, "exitCode");
        json_int(w, p->exit_code);
    } else if (p->end == REPORT_SIGNALED) {
        char name[32];
        report_signal_name(p->signal, name, sizeof(name));
        json_key(w, "exitSignalName");
        json_string(w, name);
        json_key(w, "exitSignalNumber");
        json_int(w, p->signal);
    }
    if (p->tracing_error) {
        json_key(w, "toolExecutionNotifications");
        json_begin_array(w);
        json_begin_object(w);
        json_key(w, "level");
        json_string(w, "error");
        json_key(w, "message");
        json_begin_object(w);
        json_key(w, "text");
        json_string(w, p->tracing_error);
        json_end_object(w);
        json_end_object(w);
        json_end_array(w);
    }
    json_key(w, "properties");
    json_begin_object(w);
    json_key(w, "end");
    json_string(w, report_end_name(p->end));
    json_end_object(w);
    json_end_object(w);
}

int report_sarif_write(FILE *f, const struct report_process *procs, size_t n,
                       const char *srcroot)
{
    struct json_writer w;
    char root[4096 + 2];
    struct sarif_ctx c = { .w = &w };
    if (srcroot && srcroot[0] == '/') {
        size_t len = strlen(srcroot);
        if (len + 2 > sizeof(root))
            return -1;
        memcpy(root, srcroot, len + 1);
        if (root[len - 1] != '/') {
            root[len++] = '/';
            root[len] = '\0';
        }
        c.srcroot = root;
        c.srcroot_len = len;
    }
    json_init(&w, f);
    json_begin_object(&w);
    json_key(&w, "$schema");
    json_string(&w, "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/"
                    "sarif-schema-2.1.0.json");
    json_key(&w, "version");
    json_string(&w, "2.1.0");
    json_key(&w, "runs");
    json_begin_array(&w);
    json_begin_object(&w);
    json_key(&w, "tool");
    json_begin_object(&w);
    json_key(&w, "driver");
    json_begin_object(&w);
    json_key(&w, "name");
    json_string(&w, "memtrace");
    json_key(&w, "version");
    json_string(&w, MEMTRACE_VERSION);
    write_rules(&w);
    json_end_object(&w);
    json_end_object(&w);
    if (c.srcroot) {
        char enc[3 * sizeof(root) + 8], uri[sizeof(enc) + 8];
        uri_encode(c.srcroot, enc, sizeof(enc));
        snprintf(uri, sizeof(uri), "file://%s", enc);
        json_key(&w, "originalUriBaseIds");
        json_begin_object(&w);
        json_key(&w, "SRCROOT");
        json_begin_object(&w);
        json_key(&w, "uri");
        json_string(&w, uri);
        json_end_object(&w);
        json_end_object(&w);
    }
    json_key(&w, "invocations");
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        write_invocation(&w, &procs[i]);
    json_end_array(&w);
    json_key(&w, "results");
    json_begin_array(&w);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = write_results(&c, &procs[i]);
    json_end_array(&w);
    json_end_object(&w);
    json_end_array(&w);
    json_end_object(&w);
    fputc('\n', f);
    return rc == 0 && !ferror(f) ? 0 : -1;
}
