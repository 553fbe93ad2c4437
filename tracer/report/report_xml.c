/* --xml-file: Valgrind memcheck's XML, protocol version 4, so the tools
 * that read memcheck's results (IDE integrations, CI plugins) read
 * memtrace's. Bad frees are InvalidFree and MismatchedFree errors, leak
 * records of the kinds --show-leak-kinds lists Leak_* errors; every stack
 * starts with the allocator function called, as memcheck's do. */
#include "report.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void element(FILE *f, const char *indent, const char *name, const char *text)
{
    fprintf(f, "%s<%s>", indent, name);
    report_xml_text(f, text);
    fprintf(f, "</%s>\n", name);
}

/* The frame of the allocator function itself: where memtrace hooked it. */
static void allocator_frame(FILE *f, const struct report_process *p, enum alloc_fn fn)
{
    const struct hook_record *h = NULL;
    for (size_t i = 0; p->hooks && i < p->hooks->n && !h; i++)
        if (p->hooks->items[i].fn == fn)
            h = &p->hooks->items[i];
    fprintf(f, "    <frame>\n      <ip>0x%" PRIX64 "</ip>\n", h ? h->addr : 0);
    if (h)
        element(f, "      ", "obj", h->module);
    element(f, "      ", "fn", alloc_fn_is_cxx(fn) ? alloc_fn_call_name(fn) : alloc_fn_name(fn));
    fputs("    </frame>\n", f);
}

static void frame(FILE *f, const struct sym_frame_ext *fr)
{
    fprintf(f, "    <frame>\n      <ip>0x%" PRIX64 "</ip>\n", fr->f.address);
    if (fr->f.module)
        element(f, "      ", "obj", fr->f.module);
    if (fr->f.function)
        element(f, "      ", "fn", fr->f.function);
    if (fr->f.file) {
        const char *slash = strrchr(fr->f.file, '/');
        if (slash) {
            char *dir = strndup(fr->f.file, (size_t)(slash - fr->f.file));
            element(f, "      ", "dir", dir && *dir ? dir : "/");
            free(dir);
        }
        element(f, "      ", "file", slash ? slash + 1 : fr->f.file);
        if (fr->f.line > 0)
            fprintf(f, "      <line>%d</line>\n", fr->f.line);
    }
    fputs("    </frame>\n", f);
}

/* A stack from frame cut_frame of ips[cut_ip] on, led by the allocator
 * function fn (FN_COUNT: none). */
static void stack(FILE *f, const struct report_process *p, uint32_t id, unsigned cut_ip,
                  unsigned cut_frame, enum alloc_fn fn)
{
    fputs("  <stack>\n", f);
    if (fn != FN_COUNT)
        allocator_frame(f, p, fn);
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, id, &depth);
    for (unsigned i = cut_ip; i < depth; i++) {
        const struct sym_frame_ext *frames;
        unsigned n = report_frames(p, id, ips[i], &frames);
        for (unsigned k = i == cut_ip ? cut_frame : 0; k < n; k++)
            frame(f, &frames[k]);
    }
    fputs("  </stack>\n", f);
}

static void bad_free(FILE *f, const struct report_process *p, const struct alloc_error *e,
                     unsigned unique)
{
    bool mismatched = e->kind == ERR_MISMATCHED_FREE;
    fprintf(f, "<error>\n  <unique>0x%x</unique>\n  <tid>1</tid>\n", unique);
    element(f, "  ", "kind", mismatched ? "MismatchedFree" : "InvalidFree");
    element(f, "  ", "what", mismatched ? "Mismatched free() / delete / delete []"
                                        : "Invalid free() / delete / delete[] / realloc()");
    stack(f, p, e->stack, 0, 0, e->fn);
    const struct addr_desc *d = &e->where;
    char what[256];
    if (d->kind == ADDR_HEAP_BLOCK || d->kind == ADDR_FREED_BLOCK) {
        snprintf(what, sizeof(what), "Address 0x%" PRIxADDR " is %" PRIu64 " bytes inside a "
                 "block of size %" PRIu64 " %s", e->addr, d->offset, d->block_size,
                 d->kind == ADDR_HEAP_BLOCK ? "alloc'd" : "free'd");
        element(f, "  ", "auxwhat", what);
        stack(f, p, d->kind == ADDR_HEAP_BLOCK ? d->alloc_stack : d->free_stack, 0, 0, FN_COUNT);
        if (d->kind == ADDR_FREED_BLOCK) {
            element(f, "  ", "auxwhat", "Block was alloc'd at");
            stack(f, p, d->alloc_stack, 0, 0, FN_COUNT);
        }
    } else {
        snprintf(what, sizeof(what), "Address 0x%" PRIxADDR " is not stack'd, malloc'd or "
                 "(recently) free'd", e->addr);
        element(f, "  ", "auxwhat", what);
    }
    fputs("</error>\n\n", f);
}

static const char *leak_kind_xml(unsigned kind)
{
    static const char *const names[] = {
        [LEAK_DEFINITE] = "Leak_DefinitelyLost", [LEAK_INDIRECT] = "Leak_IndirectlyLost",
        [LEAK_POSSIBLE] = "Leak_PossiblyLost", [LEAK_REACHABLE] = "Leak_StillReachable",
    };
    return kind < LEAK_KIND_COUNT ? names[kind] : "Leak_DefinitelyLost";
}

static bool listed(const struct report_process *p, const struct leak_record *r)
{
    return !r->suppressed_by && (r->kind >= LEAK_KIND_COUNT || (p->show_kinds & (1u << r->kind)));
}

static int leaks(FILE *f, const struct report_process *p, unsigned *unique)
{
    struct leak_record *recs;
    size_t n;
    if (report_collect_records(p, &recs, &n) != 0)
        return -1;
    size_t total = 0, number = 0;
    for (size_t i = 0; i < n; i++)
        total += listed(p, &recs[i]);
    for (size_t i = 0; i < n && !p->records_hidden; i++) {
        const struct leak_record *r = &recs[i];
        if (!listed(p, r))
            continue;
        char text[256];
        report_leak_headline(r, ++number, total, text, sizeof(text));
        fprintf(f, "<error>\n  <unique>0x%x</unique>\n  <tid>1</tid>\n", (*unique)++);
        element(f, "  ", "kind", leak_kind_xml(r->kind));
        fprintf(f, "  <xwhat>\n");
        element(f, "    ", "text", text);
        fprintf(f, "    <leakedbytes>%" PRIu64 "</leakedbytes>\n    <leakedblocks>%" PRIu64
                "</leakedblocks>\n  </xwhat>\n", r->bytes + r->indirect_bytes, r->blocks);
        stack(f, p, r->stack, r->cut_ip, r->cut_frame, r->fn);
        fputs("</error>\n\n", f);
    }
    free(recs);
    return 0;
}

int report_xml_write(FILE *f, const struct report_process *procs, size_t n)
{
    if (n == 0)
        return -1;   /* a run always has its program's process */
    const struct report_process *first = &procs[0];
    fputs("<?xml version=\"1.0\"?>\n\n<valgrindoutput>\n\n<protocolversion>4</protocolversion>\n"
          "<protocoltool>memcheck</protocoltool>\n\n<preamble>\n", f);
    fprintf(f, "  <line>memtrace %s, an external memory-leak tracer (memcheck's XML)</line>\n",
            MEMTRACE_VERSION);
    fputs("  <line>Command:", f);
    for (size_t i = 0; first->argv && first->argv[i]; i++) {
        fputc(' ', f);
        report_xml_text(f, first->argv[i]);
    }
    fprintf(f, "</line>\n</preamble>\n\n<pid>%d</pid>\n<ppid>%d</ppid>\n<tool>memcheck</tool>\n\n",
            (int)first->pid, (int)getpid());
    fputs("<args>\n  <vargv>\n    <exe>memtrace</exe>\n  </vargv>\n  <argv>\n", f);
    for (size_t i = 0; first->argv && first->argv[i]; i++)
        element(f, "    ", i == 0 ? "exe" : "arg", first->argv[i]);
    fputs("  </argv>\n</args>\n\n<status>\n  <state>RUNNING</state>\n"
          "  <time>00:00:00:00.000 </time>\n</status>\n\n", f);
    unsigned unique = 0;
    unsigned *counted = NULL;   /* the bad frees' unique numbers, for errorcounts */
    size_t ncounted = 0;
    for (size_t i = 0; i < n; i++) {
        const struct alloc_model *m = procs[i].model;
        unsigned *grown = realloc(counted, (ncounted + m->nerrors + 1) * sizeof(*grown));
        if (!grown) {
            free(counted);
            return -1;
        }
        counted = grown;
        for (size_t k = 0; k < m->nerrors; k++) {
            if (report_error_suppression(&procs[i], &m->errors[k]))
                continue;
            counted[ncounted++] = unique;
            bad_free(f, &procs[i], &m->errors[k], unique++);
        }
    }
    fputs("<status>\n  <state>FINISHED</state>\n  <time>00:00:00:00.000 </time>\n</status>\n\n",
          f);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!report_summary_only(&procs[i]))
            rc = leaks(f, &procs[i], &unique);
    /* memcheck counts each error context once; leaks are not counted here. */
    fputs("<errorcounts>\n", f);
    for (size_t i = 0; i < ncounted; i++)
        fprintf(f, "  <pair>\n    <count>1</count>\n    <unique>0x%x</unique>\n  </pair>\n",
                counted[i]);
    fputs("</errorcounts>\n\n<suppcounts>\n", f);
    free(counted);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct report_process *p = &procs[i];
        if (!p->supps || p->supps->n == 0)
            continue;
        struct leak_record *recs;
        size_t nrecs;
        struct report_supp_use *use = calloc(p->supps->n, sizeof(*use));
        if (!use || report_collect_records(p, &recs, &nrecs) != 0) {
            free(use);
            rc = -1;
            break;
        }
        struct report_amount total;
        report_suppression_use(p, recs, nrecs, use, &total);
        for (size_t k = 0; k < p->supps->n; k++) {
            if (!use[k].records)
                continue;
            fprintf(f, "  <pair>\n    <count>%" PRIu64 "</count>\n", use[k].records);
            element(f, "    ", "name", use[k].supp->name);
            fputs("  </pair>\n", f);
        }
        free(recs);
        free(use);
    }
    fputs("</suppcounts>\n\n</valgrindoutput>\n\n", f);
    return rc == 0 && !ferror(f) ? 0 : -1;
}
