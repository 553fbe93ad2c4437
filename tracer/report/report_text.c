/* The human report, shaped like Valgrind's so its users feel at home:
 * "==PID==" prefixes, "at"/"by" frames, a heap summary. */
#include "report.h"
#include "glibc_census.h"
#include "leak_check.h"
#include "json_writer.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Strings from the program (its argv, file and function names, paths) go
 * through here so they cannot drive the terminal the report is read on:
 * C0 control characters and DEL become \xNN, bytes that are not part of
 * well-formed UTF-8 \xNN too, UTF-8 C1 controls (U+0080..U+009F, which
 * some terminals obey) \u00NN; other text, UTF-8 included, stays as is.
 * Writes the text of the character at p to out (at most 6 bytes), sets
 * *in to the number of bytes of p it stands for, returns its length. */
static size_t safe_char(const char *s, char out[8], size_t *in)
{
    const unsigned char *p = (const unsigned char *)s;
    *in = 1;
    if (*p >= 0x20 && *p < 0x7f) {
        out[0] = (char)*p;
        return 1;
    }
    size_t n = *p < 0x80 ? 0 : utf8_sequence_length(s);
    if (n == 0)
        return (size_t)snprintf(out, 8, "\\x%02x", *p);
    *in = n;
    if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
        return (size_t)snprintf(out, 8, "\\u%04x", p[1]);
    memcpy(out, p, n);
    return n;
}

static void print_escaped(FILE *f, const char *s)
{
    while (*s) {
        char out[8];
        size_t in, n = safe_char(s, out, &in);
        fwrite(out, 1, n, f);
        s += in;
    }
}

/* A bounded, always NUL-terminated line being built; once something did not
 * fit, nothing more is added (an escape is never cut). */
struct line_buf {
    char *buf;
    size_t len, used;
    bool full;
};

static void line_add(struct line_buf *b, const char *text, size_t n)
{
    if (b->full || b->used + n >= b->len) {
        b->full = true;
        return;
    }
    memcpy(b->buf + b->used, text, n);
    b->used += n;
    b->buf[b->used] = '\0';
}

/* memtrace's own text: cut anywhere, like snprintf. */
static void line_raw(struct line_buf *b, const char *text)
{
    for (; *text && !b->full; text++)
        line_add(b, text, 1);
}

static void line_escaped(struct line_buf *b, const char *text)
{
    while (*text && !b->full) {
        char out[8];
        size_t in, n = safe_char(text, out, &in);
        line_add(b, out, n);
        text += in;
    }
}

void report_format_frame(const struct sym_frame *fr, char *buf, size_t len)
{
    if (len == 0)
        return;
    struct line_buf b = { buf, len, 0, false };
    char num[48];
    buf[0] = '\0';
    if (fr->function) {
        line_escaped(&b, fr->function);
    } else if (fr->module) {
        line_escaped(&b, basename_of(fr->module));
        snprintf(num, sizeof(num), "+0x%" PRIxADDR, fr->module_offset);
        line_raw(&b, num);
    } else {
        line_raw(&b, "???");
    }
    if (fr->file && fr->line) {
        line_raw(&b, " (");
        line_escaped(&b, basename_of(fr->file));
        snprintf(num, sizeof(num), ":%d)", fr->line);
        line_raw(&b, num);
    } else if (fr->module && fr->function) {
        line_raw(&b, " (in ");
        line_escaped(&b, fr->module);
        line_raw(&b, ")");
    }
}

/* Prints the frames of one address (several when it is inside inlined
 * code: Valgrind shows them all at the same address); returns true when the
 * last is main(), below which Valgrind users do not expect frames (the JSON
 * report keeps them). */
static bool print_frames(FILE *f, const struct report_process *p, uint32_t stack, mt_addr ip,
                         bool first, unsigned skip)
{
    const struct sym_frame_ext *frames;
    unsigned n = report_frames(p, stack, ip, &frames);
    for (unsigned i = skip; i < n; i++) {
        const struct sym_frame *fr = &frames[i].f;
        char text[1024];
        report_format_frame(fr, text, sizeof(text));
        if (glibc_census_ip(fr->address))   /* allocated before attach: no address */
            fprintf(f, "==%d==    %s %s\n", p->pid, first && i == skip ? "at" : "by", text);
        else
            fprintf(f, "==%d==    %s 0x%" PRIxADDR ": %s\n", p->pid,
                    first && i == skip ? "at" : "by", fr->address, text);
    }
    return n > 0 && frames[n - 1].f.function && strcmp(frames[n - 1].f.function, "main") == 0;
}

/* The frames of stack from frame cut_frame of ips[cut_ip] on (--alloc-fn). */
static void print_stack_from(FILE *f, const struct report_process *p, uint32_t stack,
                             unsigned cut_ip, unsigned cut_frame)
{
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    if (depth == 0)
        fprintf(f, "==%d==    (no stack recorded: --sample or --min-size)\n", p->pid);
    for (unsigned i = cut_ip; i < depth; i++)
        if (print_frames(f, p, stack, ips[i], i == cut_ip, i == cut_ip ? cut_frame : 0))
            break;
}

static void print_stack(FILE *f, const struct report_process *p, uint32_t stack)
{
    print_stack_from(f, p, stack, 0, 0);
}

/* Symbolizes a stack before any of it is printed, so that warnings about
 * debug files (printed the first time a module is needed) do not land in
 * the middle of a record. */
static void prefetch_stack(const struct report_process *p, uint32_t stack)
{
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    const struct sym_frame_ext *frames;
    for (unsigned i = 0; i < depth; i++)
        report_frames(p, stack, ips[i], &frames);
}

void report_text_banner(FILE *f, const struct report_process *p)
{
    fprintf(f, "==%d== memtrace %s, an external memory-leak tracer\n", p->pid, MEMTRACE_VERSION);
    fprintf(f, "==%d== Command:", p->pid);
    for (size_t i = 0; p->argv && p->argv[i]; i++) {
        fputc(' ', f);
        print_escaped(f, p->argv[i]);
    }
    fprintf(f, "\n==%d==\n", p->pid);
}

/* memcheck's "Address 0x... is ..." line, and the stacks it names. */
static void print_address(FILE *f, const struct report_process *p, const struct alloc_error *e)
{
    const struct addr_desc *d = &e->where;
    fprintf(f, "==%d==  Address 0x%" PRIxADDR " is ", p->pid, e->addr);
    switch (d->kind) {
    case ADDR_STACK:
        if (d->thread)
            fprintf(f, "on thread %u's stack\n", d->thread);
        else
            fprintf(f, "on a thread's stack\n");   /* --fast records no thread */
        break;
    case ADDR_HEAP_BLOCK:
        fprintf(f, "%" PRIu64 " bytes inside a block of size %" PRIu64 " alloc'd\n", d->offset,
                d->block_size);
        print_stack(f, p, d->alloc_stack);
        break;
    case ADDR_FREED_BLOCK:
        fprintf(f, "%" PRIu64 " bytes inside a block of size %" PRIu64 " free'd\n", d->offset,
                d->block_size);
        print_stack(f, p, d->free_stack);
        fprintf(f, "==%d==  Block was alloc'd at\n", p->pid);
        print_stack(f, p, d->alloc_stack);
        break;
    case ADDR_DATA_SYMBOL:
        fprintf(f, "%" PRIu64 " bytes inside data symbol \"", d->offset);
        print_escaped(f, d->symbol ? d->symbol : "?");
        fputs("\"\n", f);
        break;
    case ADDR_MAPPING:
        if (d->path) {
            fprintf(f, "in a %s mapped file ", d->perms);
            print_escaped(f, d->path);
            fputs(" segment\n", f);
        } else {
            fprintf(f, "in a %s anonymous segment\n", d->perms);
        }
        break;
    default:
        fputs("not stack'd, malloc'd or (recently) free'd\n", f);
        break;
    }
}

static void print_error(FILE *f, const struct report_process *p, const struct alloc_error *e);

void report_text_error(FILE *f, const struct report_process *p, const struct alloc_error *e)
{
    if (report_error_suppression(p, e))
        return;
    print_error(f, p, e);
    if (p->gen_suppressions) {
        report_write_error_suppression(f, p, e);
        fflush(f);
    }
}

static void print_error(FILE *f, const struct report_process *p, const struct alloc_error *e)
{
    const char *fn = alloc_fn_name(e->fn);
    prefetch_stack(p, e->stack);
    prefetch_stack(p, e->where.alloc_stack);
    prefetch_stack(p, e->where.free_stack);
    if (e->kind == ERR_MISMATCHED_FREE && e->alloc_library) {
        /* Two allocators in one process: the libraries are the news. */
        fprintf(f, "==%d== Mismatched free() / delete / delete []: %s of %s on a block of %" PRIu64
                " bytes allocated by %s of %s\n", p->pid, alloc_fn_call_name(e->fn),
                e->release_library, e->block_size, alloc_fn_call_name(e->alloc_fn),
                e->alloc_library);
        print_stack(f, p, e->stack);
        print_address(f, p, e);
    } else if (e->kind == ERR_MISMATCHED_FREE) {
        /* memcheck's words, then what memtrace knows of the pair. */
        fprintf(f, "==%d== Mismatched free() / delete / delete []: %s of a block of %" PRIu64
                " bytes allocated by %s\n", p->pid, alloc_fn_call_name(e->fn), e->block_size,
                alloc_fn_call_name(e->alloc_fn));
        print_stack(f, p, e->stack);
        print_address(f, p, e);
        fprintf(f, "==%d==\n", p->pid);
        fflush(f);
        return;
    }
    if (e->kind == ERR_DOUBLE_FREE)
        fprintf(f, "==%d== Double free: %s(0x%" PRIxADDR ") of a block of %" PRIu64
                " bytes that was already freed\n", p->pid, fn, e->addr, e->block_size);
    else if (e->kind == ERR_INVALID_FREE)
        fprintf(f, "==%d== Invalid free: %s(0x%" PRIxADDR ")\n", p->pid, fn, e->addr);
    if (e->kind != ERR_MISMATCHED_FREE) {
        print_stack(f, p, e->stack);
        print_address(f, p, e);
    }
    if (e->ran)
        fprintf(f, "==%d==  memtrace could not skip this %s() (--fast): the program's allocator "
                "got it.\n==%d==\n", p->pid, fn, p->pid);
    else
        fprintf(f, "==%d==  memtrace skipped this %s() so the program can go on.\n==%d==\n",
                p->pid, fn, p->pid);
    fflush(f);
}

static bool shown(const struct report_process *p, unsigned kind)
{
    return !report_classified(p) || (p->show_kinds & (1u << kind));
}

/* The suppressions used: Valgrind's -v used_suppression: lines for its
 * blocks, LeakSanitizer's "Suppressions used" table for its lines. */
static void print_suppressions_used(FILE *f, const struct report_process *p,
                                    const struct report_supp_use *use, size_t nused)
{
    int pid = p->pid;
    size_t nlsan = 0;
    for (size_t k = 0; use && nused && k < p->supps->n; k++) {
        const struct report_supp_use *u = &use[k];
        if (!u->records)
            continue;
        if (u->supp->format == SUPP_LSAN)
            nlsan++;
        else if (u->supp->kind == SUPP_LEAK)
            fprintf(f, "==%d== used_suppression: %6" PRIu64 " %s %s:%u suppressed: %" PRIu64
                    " bytes in %" PRIu64 " blocks\n", pid, u->records, u->supp->name,
                    u->supp->file, u->supp->line, u->bytes, u->blocks);
        else
            fprintf(f, "==%d== used_suppression: %6" PRIu64 " %s %s:%u\n", pid, u->records,
                    u->supp->name, u->supp->file, u->supp->line);
    }
    if (nlsan == 0)
        return;
    fprintf(f, "==%d== Suppressions used:\n==%d==   count      bytes template\n", pid, pid);
    for (size_t k = 0; k < p->supps->n; k++) {
        const struct report_supp_use *u = &use[k];
        if (u->records && u->supp->format == SUPP_LSAN)
            fprintf(f, "==%d== %7" PRIu64 " %10" PRIu64 " %s\n", pid, u->records, u->bytes,
                    u->supp->name + strlen("leak:"));
    }
}

/* suppressed: per kind, what suppressed records hold (NULL: nothing). */
static void print_leak_summary(FILE *f, const struct report_process *p,
                               const struct report_amount *suppressed)
{
    pid_t pid = p->pid;
    struct report_amount t[LEAK_KIND_COUNT + 1];
    report_process_totals(p, t);
    struct report_amount all_suppressed = { 0, 0 };
    for (unsigned k = 0; suppressed && k < LEAK_KIND_COUNT; k++) {
        t[k].bytes -= suppressed[k].bytes;
        t[k].blocks -= suppressed[k].blocks;
        all_suppressed.bytes += suppressed[k].bytes;
        all_suppressed.blocks += suppressed[k].blocks;
    }
    fprintf(f, "==%d== LEAK SUMMARY:\n", pid);
    if (!report_classified(p)) {
        fprintf(f, "==%d==    unfreed: %" PRIu64 " bytes in %" PRIu64 " blocks\n", pid,
                t[REPORT_KIND_UNFREED].bytes, t[REPORT_KIND_UNFREED].blocks);
        fprintf(f, "==%d==    (not classified: the address space was gone before it could be "
                "scanned)\n", pid);
        return;
    }
    static const unsigned order[] = { LEAK_DEFINITE, LEAK_INDIRECT, LEAK_POSSIBLE, LEAK_REACHABLE };
    for (size_t i = 0; i < 4; i++)
        fprintf(f, "==%d==    %15s: %" PRIu64 " bytes in %" PRIu64 " blocks\n", pid,
                report_kind_words(order[i]), t[order[i]].bytes, t[order[i]].blocks);
    if (suppressed)
        fprintf(f, "==%d==    %15s: %" PRIu64 " bytes in %" PRIu64 " blocks\n", pid,
                "suppressed", all_suppressed.bytes, all_suppressed.blocks);
    if (!shown(p, LEAK_REACHABLE) && t[LEAK_REACHABLE].blocks)
        fprintf(f, "==%d== Reachable blocks (those to which a pointer was found) are not shown.\n"
                "==%d== To see them, rerun with: --show-reachable\n", pid, pid);
}

static void print_mmap_record(FILE *f, const struct report_process *p,
                              const struct mapping_record *r)
{
    char prot[4];
    report_prot_string(r->prot, prot);
    fprintf(f, "==%d== %" PRIu64 " bytes at 0x%" PRIxADDR ": %s %s mapping", p->pid, r->bytes,
            r->addr, r->shared ? "shared" : "private", r->backing);
    if (r->path) {
        fputs(" of ", f);
        print_escaped(f, r->path);
    }
    fprintf(f, " (%s), never unmapped: %s\n", prot,
            r->shared ? "holds state shared with other processes"
                      : "memory never released (a leak in a long-running process)");
    print_stack(f, p, r->stack);
}

static void print_sysv_record(FILE *f, const struct report_process *p,
                              const struct mapping_record *r)
{
    const struct shm_segment *s = r->seg;
    fprintf(f, "==%d== %" PRIu64 " bytes in SysV shared memory segment %d (key 0x%08x), %s", p->pid,
            r->bytes, s->shmid, (unsigned)s->key, s->created ? "created by this process" : "created by another process");
    if (r->nattached) {
        fprintf(f, ", still attached at");
        for (size_t i = 0; i < r->nattached; i++)
            fprintf(f, "%s 0x%" PRIxADDR, i ? "," : "", r->attached[i]);
    } else {
        fprintf(f, ", not attached at exit");
    }
    fputc('\n', f);
    print_stack(f, p, r->stack);
    if (shm_segment_persists(s))
        fprintf(f, "==%d==  Never removed (shmctl IPC_RMID): it persists after the process "
                "ends; remove it with: ipcrm -m %d\n", p->pid, s->shmid);
    else
        fprintf(f, "==%d==  Marked for removal: the kernel frees it when nothing has it "
                "attached.\n", p->pid);
}

/* The program's mappings and SysV segments, after the leaks. */
static int print_mappings(FILE *f, const struct report_process *p)
{
    struct mapping_report mr;
    if (report_collect_mappings(p, &mr) != 0)
        return -1;
    pid_t pid = p->pid;
    if (mr.narenas)
        fprintf(f, "==%d==\n==%d== Allocator arenas: %zu mapping%s (%" PRIu64 " bytes) made by the "
                "allocator library's own calls: memory it manages, not leaks\n", pid, pid,
                mr.narenas, mr.narenas == 1 ? "" : "s", mr.arena_bytes);
    if (mr.n == 0) {
        report_mappings_free(&mr);
        return 0;
    }
    uint64_t shared = 0, private = 0, sysv = 0;
    size_t npersist = 0;
    for (size_t i = 0; i < mr.n; i++) {
        const struct mapping_record *r = &mr.recs[i];
        prefetch_stack(p, r->stack);
        if (r->sysv) {
            npersist += shm_segment_persists(r->seg);
            sysv += shm_segment_persists(r->seg) ? r->bytes : 0;
        } else {
            *(r->shared ? &shared : &private) += r->bytes;
        }
    }
    fprintf(f, "==%d==\n==%d== MAPPINGS: %zu mapping%s never unmapped (%" PRIu64 " bytes shared, %"
            PRIu64 " bytes private), %zu SysV segment%s left in the kernel (%" PRIu64 " bytes)\n",
            pid, pid, mr.nmmaps, mr.nmmaps == 1 ? "" : "s", shared, private, npersist,
            npersist == 1 ? "" : "s", sysv);
    fprintf(f, "==%d==  The kernel unmaps every mapping when the process ends: private ones are "
            "memory it never released, a leak while it runs; shared ones hold state shared with "
            "other processes. A SysV segment is not freed with the process.\n", pid);
    for (size_t i = 0; i < mr.n; i++) {
        fprintf(f, "==%d==\n", pid);
        if (mr.recs[i].sysv)
            print_sysv_record(f, p, &mr.recs[i]);
        else
            print_mmap_record(f, p, &mr.recs[i]);
    }
    report_mappings_free(&mr);
    return 0;
}

/* An image ended by exec, without its records: one line. */
static void print_exec_summary(FILE *f, const struct report_process *p)
{
    const struct alloc_model *m = p->model;
    uint64_t bytes, blocks;
    struct report_amount totals[LEAK_KIND_COUNT + 1];
    report_process_totals(p, totals);
    bytes = totals[REPORT_KIND_UNFREED].bytes;
    blocks = totals[REPORT_KIND_UNFREED].blocks;
    fprintf(f, "==%d== Image", p->pid);
    for (size_t i = 0; p->argv && p->argv[i]; i++) {
        fputc(' ', f);
        print_escaped(f, p->argv[i]);
    }
    fputs(" ended by exec", f);
    if (p->exec_program) {
        fputs(" of ", f);
        print_escaped(f, p->exec_program);
    }
    fprintf(f, "%s: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRIu64 " bytes in %" PRIu64
            " blocks live at exec (not leaks; --show-exec-leaks lists them)", p->exec_untraced
            ? " (not traced)" : "", m->allocations, m->frees, bytes, blocks);
    if (m->nerrors)
        fprintf(f, ", %zu error%s", m->nerrors, m->nerrors == 1 ? "" : "s");
    fputc('\n', f);
}

int report_text_process(FILE *f, const struct report_process *p)
{
    if (report_summary_only(p)) {
        print_exec_summary(f, p);
        return 0;
    }
    const struct alloc_model *m = p->model;
    uint64_t bytes, blocks;
    struct report_amount totals[LEAK_KIND_COUNT + 1];
    report_process_totals(p, totals);
    bytes = totals[REPORT_KIND_UNFREED].bytes;
    blocks = totals[REPORT_KIND_UNFREED].blocks;
    pid_t pid = p->pid;
    struct leak_record *recs;
    size_t n;
    if (report_collect_records(p, &recs, &n) != 0)
        return -1;
    size_t nshown = 0, nleak_errors = 0;
    bool suppressing = p->supps && p->supps->n > 0;
    struct report_amount suppressed[LEAK_KIND_COUNT] = { { 0, 0 } };
    struct report_supp_use *use = suppressing ? calloc(p->supps->n, sizeof(*use)) : NULL;
    struct report_amount supp_total;
    size_t nused = use ? report_suppression_use(p, recs, n, use, &supp_total) : 0;
    for (size_t i = 0; i < n; i++) {
        nleak_errors += report_leak_is_error(p, &recs[i]);
        if (recs[i].suppressed_by) {
            suppressed[recs[i].kind].bytes += recs[i].bytes;
            suppressed[recs[i].kind].blocks += recs[i].blocks;
            continue;
        }
        if (shown(p, recs[i].kind)) {
            recs[nshown++] = recs[i];
            prefetch_stack(p, recs[i].stack);
        }
    }
    bool detached = p->end == REPORT_DETACHED;
    if (p->census_layout)
        fprintf(f, "==%d== HEAP SUMMARY (since attach, and the %" PRIu64 " blocks of %" PRIu64
                " bytes the census found at attach):\n", pid, p->census_blocks, p->census_bytes);
    else
        fprintf(f, "==%d== HEAP SUMMARY%s:\n", pid, p->attached ? " (since attach)" : "");
    fprintf(f, "==%d==     in use at %s: %" PRIu64 " bytes in %" PRIu64 " blocks\n", pid,
            detached ? "detach" : "exit", bytes, blocks);
    fprintf(f, "==%d==   total heap usage: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRIu64
            " bytes allocated\n", pid, m->allocations, m->frees, m->bytes_allocated);
    if (p->attached)
        fprintf(f, "==%d==   untracked frees: %" PRIu64 " (blocks allocated before attach; not "
                "errors)\n", pid, m->untracked_frees);
    fprintf(f, "==%d==\n", pid);
    for (size_t i = 0; i < nshown; i++) {
        const struct leak_record *r = &recs[i];
        fprintf(f, "==%d== ", pid);
        if (r->indirect_bytes)
            fprintf(f, "%" PRIu64 " (%" PRIu64 " direct, %" PRIu64 " indirect) bytes", r->bytes +
                    r->indirect_bytes, r->bytes, r->indirect_bytes);
        else
            fprintf(f, "%" PRIu64 " bytes", r->bytes);
        fprintf(f, " in %" PRIu64 " blocks are %s in loss record %zu of %zu, allocated by %s",
                r->blocks, report_kind_words(r->kind), i + 1, nshown, alloc_fn_call_name(r->fn));
        double oldest = report_age_s(p, r->oldest_seq), newest = report_age_s(p, r->newest_seq);
        if (p->attached && oldest >= 0 && newest >= 0)
            fprintf(f, ", aged %.1f s (oldest) to %.1f s (newest)", oldest, newest);
        fputc('\n', f);
        print_stack_from(f, p, r->stack, r->cut_ip, r->cut_frame);
        if (p->gen_suppressions)
            report_write_suppression(f, p, r);
        fprintf(f, "==%d==\n", pid);
    }
    free(recs);
    print_leak_summary(f, p, suppressing ? suppressed : NULL);
    print_suppressions_used(f, p, use, nused);
    free(use);
    if (print_mappings(f, p) != 0)
        return -1;
    size_t doubles = 0, mismatched = 0, nerrors = 0;
    for (size_t i = 0; i < m->nerrors; i++) {
        if (report_error_suppression(p, &m->errors[i]))
            continue;
        nerrors++;
        doubles += m->errors[i].kind == ERR_DOUBLE_FREE;
        mismatched += m->errors[i].kind == ERR_MISMATCHED_FREE;
    }
    /* Like Valgrind, a loss record of a kind --errors-for-leak-kinds names
     * is one error, shown or not. */
    fprintf(f, "==%d==\n==%d== ERROR SUMMARY: %zu errors (%zu double free, %zu invalid free, ",
            pid, pid, nerrors + nleak_errors, doubles, nerrors - doubles - mismatched);
    if (mismatched)
        fprintf(f, "%zu mismatched free, ", mismatched);
    fprintf(f, "%zu loss records)\n", nleak_errors);
    if (p->end == REPORT_SIGNALED) {
        char sig[32];
        report_signal_name(p->signal, sig, sizeof(sig));
        fprintf(f, "==%d== Process terminated by %s%s\n", pid, sig,
                p->core_dumped ? " (core dumped)" : "");
    } else if (p->end == REPORT_EXITED) {
        fprintf(f, "==%d== Process exited with status %d\n", pid, p->exit_code);
    } else if (detached && p->tracing_error) {
        fprintf(f, "==%d== Tracing stopped early (%s): this report is partial; pid %d runs on "
                "untraced, every byte memtrace changed restored\n", pid, p->tracing_error, pid);
    } else if (detached) {
        fprintf(f, "==%d== Detached: pid %d runs on as before, every byte memtrace changed "
                "restored\n", pid, pid);
    } else {
        fprintf(f, "==%d== Process state at %s\n", pid, report_end_name(p->end));
    }
    return 0;
}

/* One line, written at once (stderr is unbuffered: one write, as other
 * output may share the terminal). */
void report_text_stats(FILE *f, const struct report_stats *s)
{
    /* Room for " name=" and 20 digits per counter. */
    /* NOLINTNEXTLINE(bugprone-macro-parentheses): a term of the sum below */
#define STAT_ROOM(name) + sizeof(" " #name "=") + 20
    char line[sizeof("memtrace: stats:\n") MT_STATS(STAT_ROOM)];
#undef STAT_ROOM
    size_t used = (size_t)snprintf(line, sizeof(line), "memtrace: stats:");
#define PRINT_STAT(name) \
    used += (size_t)snprintf(line + used, sizeof(line) - used, " " #name "=%" PRIu64, s->name);
    /* cppcheck-suppress unreadVariable ; the last counter's sum is not needed */
    MT_STATS(PRINT_STAT)
#undef PRINT_STAT
    fprintf(f, "%s\n", line);
}

/* Per module: "memtrace: hooks of pid N in libc.so.6: malloc calloc ...
 * on stubs; mmap on breakpoints". */
void report_text_hooks(FILE *f, const struct report_process *p)
{
    const struct hook_list *l = p->hooks;
    for (size_t i = 0; l && i < l->n; i++) {
        size_t j = 0;
        while (j < i && strcmp(l->items[j].module, l->items[i].module) != 0)
            j++;
        if (j < i)
            continue;   /* its module was listed */
        const char *slash = strrchr(l->items[i].module, '/');
        fprintf(f, "memtrace: hooks of pid %d in %s:", p->pid,
                slash ? slash + 1 : l->items[i].module);
        bool listed = false;
        for (int stub = 1; stub >= 0; stub--) {
            bool any = false;
            for (size_t k = i; k < l->n; k++) {
                const struct hook_record *h = &l->items[k];
                if (h->on_stub != stub || strcmp(h->module, l->items[i].module) != 0)
                    continue;
                fprintf(f, "%s %s", !any && listed ? ";" : "", h->symbol);
                any = true;
            }
            if (any)
                fputs(stub ? " on stubs" : " on breakpoints", f);
            listed = listed || any;
        }
        fputc('\n', f);
    }
}

/* "+N" or "-N". */
static void signed_text(char *buf, size_t len, int64_t v)
{
    snprintf(buf, len, "%s%" PRId64, v >= 0 ? "+" : "", v);
}

void report_text_leak_check(FILE *f, const struct report_process *p, const struct leak_check *c,
                            enum leak_check_mode mode)
{
    pid_t pid = p->pid;
    for (size_t i = 0; i < c->nlisted; i++)
        prefetch_stack(p, c->listed[i].rec.stack);
    fprintf(f, "==%d== leak check %u after %.1f s (%s): stop-the-world %.1f ms for %" PRIu64
            " blocks; %zu of %zu loss records listed\n", pid, c->number, (double)c->at_ns / 1e9,
            leak_check_mode_name(mode), (double)c->pause_ns / 1e6, c->scanned_blocks, c->nlisted,
            c->nrecords);
    for (size_t i = 0; i < c->nlisted; i++) {
        const struct leak_check_entry *e = &c->listed[i];
        const struct leak_record *r = &e->rec;
        char dbytes[32], dblocks[32];
        /* As memcheck: the total, then how much of it is direct and indirect. */
        signed_text(dbytes, sizeof(dbytes), e->bytes_delta + e->indirect_bytes_delta);
        signed_text(dblocks, sizeof(dblocks), e->blocks_delta);
        fprintf(f, "==%d== %" PRIu64 " (%s) ", pid, r->bytes + r->indirect_bytes, dbytes);
        if (r->indirect_bytes)
            fprintf(f, "(%" PRIu64 " direct, %" PRIu64 " indirect) ", r->bytes, r->indirect_bytes);
        fprintf(f, "bytes in %" PRIu64 " (%s) blocks are %s in loss record %zu of %zu%s, "
                "allocated by %s\n", r->blocks, dblocks, report_kind_words(r->kind), i + 1,
                c->nlisted, e->is_new ? " (new)" : "", alloc_fn_call_name(r->fn));
        print_stack_from(f, p, r->stack, r->cut_ip, r->cut_frame);
        fprintf(f, "==%d==\n", pid);
    }
    static const unsigned order[] = { LEAK_DEFINITE, LEAK_INDIRECT, LEAK_POSSIBLE, LEAK_REACHABLE };
    fprintf(f, "==%d== LEAK SUMMARY (check %u):\n", pid, c->number);
    for (size_t i = 0; i < 4; i++) {
        unsigned k = order[i];
        char dbytes[32], dblocks[32];
        signed_text(dbytes, sizeof(dbytes), c->bytes_delta[k]);
        signed_text(dblocks, sizeof(dblocks), c->blocks_delta[k]);
        fprintf(f, "==%d==    %15s: %" PRIu64 " (%s) bytes in %" PRIu64 " (%s) blocks\n", pid,
                report_kind_words(k), c->totals[k].bytes, dbytes, c->totals[k].blocks, dblocks);
    }
    fprintf(f, "==%d==\n", pid);
    fflush(f);
}
