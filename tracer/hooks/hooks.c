/* Where a trap becomes an allocation event (or, for the mapping family, a
 * mapping event: map_hooks.c).
 *
 * Entry: arguments from registers, the caller's stack unwound, the call
 * pushed on the thread's pending stack and its return address on the target
 * stack replaced by a return stub of its own (return_stubs.h), or by the
 * scratch trampoline. Return through a stub: no trap; the stub records rax,
 * and hooks_drain_returns completes the event at the process's next trap.
 * Return through the trampoline: it traps, the pending call is matched by
 * stack pointer, rax completes the event and the thread resumes at the real
 * return address. free() is complete at its entry and takes one trap. */
#include "hooks.h"
#include "hooks_internal.h"
#include "diag.h"
#include "elf_file.h"
#include "map_hooks.h"
#include "mt_time.h"
#include "procfs.h"
#include "remote.h"
#include "stepover.h"
#include "symbolizer.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PAGE_SIZE_BYTES 4096u

/* name's definition in m: what the dynamic linker binds (global or weak).
 * A static program binds nothing at run time: its own definition is the
 * one its calls reach, global or not (a static-pie's malloc is a local
 * symbol of .symtab), and when it is stripped, its separate debug file's
 * symbol table says where it is. */
bool hooks_find_definition(const struct process *p, const struct module *m, const char *name,
                            uint64_t *value, uint64_t *size)
{
    return elf_file_find_function(m->elf, name, value, size) ||
           (p->r_debug == 0 && (elf_file_find_local_function(m->elf, name, value, size) ||
                                symbolizer_find_function(p->symbolizer, m->path, m->bias, name,
                                                         value, size)));
}

/* Where the allocator's own code is in m, for telling its housekeeping
 * frees (a dying thread's tcache) from the program's bad ones. A shared C
 * library holds nothing else the program calls free from. In a static
 * program the module is the program too: its allocator is the span of
 * glibc's malloc.c, whose core entry points and thread clean-up are
 * defined together. */
void hooks_allocator_span(const struct process *p, const struct module *m, bool core_only,
                          mt_addr *lo, mt_addr *hi)
{
    *lo = m->text_lo;
    *hi = m->text_hi;
    if (p->r_debug != 0 && !core_only)
        return;
    static const char *const core[] = { "malloc", "free", "calloc", "realloc",
                                        "__malloc_arena_thread_freeres" };
    mt_addr span_lo = UINT64_MAX, span_hi = 0;
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
        uint64_t value, size;
        if (!hooks_find_definition(p, m, core[i], &value, &size))
            continue;
        if (m->bias + value < span_lo)
            span_lo = m->bias + value;
        if (m->bias + value + size > span_hi)
            span_hi = m->bias + value + size;
    }
    if (span_lo < span_hi) {
        *lo = span_lo;
        *hi = span_hi;
    }
}

/* Whether some module holds Rust's standard library (its global allocator
 * shim or its unwinding personality, in .symtab): then the report cuts the
 * library's allocation wrappers from stacks. */
static bool has_rust_runtime(const struct process *p)
{
    static const char *const marks[] = { "__rust_alloc", "rust_eh_personality" };
    for (size_t i = 0; i < p->modules.n; i++) {
        const struct module *m = &p->modules.items[i];
        for (size_t k = 0; m->present && m->elf && k < sizeof(marks) / sizeof(marks[0]); k++) {
            uint64_t value, size;
            if (elf_file_find_function(m->elf, marks[k], &value, &size) ||
                elf_file_find_local_function(m->elf, marks[k], &value, &size))
                return true;
        }
    }
    return false;
}

/* Whether the function at value in m only jumps elsewhere (after an
 * endbr64): mi_free_size's "jmp mi_free@plt". */
static bool is_forwarder(const struct module *m, uint64_t value)
{
    uint8_t code[8];
    if (elf_file_read_vaddr(m->elf, value, code, sizeof(code)) != 0)
        return false;
    size_t at = 0;
    static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
    if (memcmp(code, endbr64, sizeof(endbr64)) == 0)
        at = sizeof(endbr64);
    if (code[at] == 0xf2)   /* bnd */
        at++;
    return code[at] == 0xe9 || code[at] == 0xeb || (code[at] == 0xff && code[at + 1] == 0x25);
}

/* Whether m's standard entry point for fn (valloc for FN_VALLOC) only
 * jumps on, as mimalloc's valloc to mi_valloc: its hook sees those calls,
 * and the library's own name is left alone, or one call would take two. */
static bool standard_name_forwards(const struct process *p, const struct module *m,
                                   enum alloc_fn fn)
{
    const struct alloc_fn_symbol *sym;
    for (unsigned k = 0; (sym = alloc_fn_symbol(k)) != NULL; k++) {
        uint64_t value, size;
        if (sym->fn == fn && !sym->library_api)
            return hooks_find_definition(p, m, sym->name, &value, &size) &&
                   is_forwarder(m, value);
    }
    return false;
}

/* The heap model's number of the allocator library whose entry point fn in
 * m is. C++'s operators have none: they sit on top of malloc, whichever
 * library's, and their blocks may reach free through it. */
static unsigned allocator_of(struct process *p, const struct module *m, enum alloc_fn fn)
{
    if (alloc_fn_is_mapping(fn) || alloc_fn_is_watch_point(fn) ||
        alloc_fn_is_cxx(fn))
        return 0;
    return alloc_model_allocator(&process_heap(p)->model, m->path);
}

int hooks_install(struct process *p, pid_t tid, char *why, size_t why_len)
{
    int hooked = 0, first_err = 0;
    if (!p->rust_runtime)
        p->rust_runtime = has_rust_runtime(p);
    char first_why[512] = "";
    const struct alloc_fn_symbol *sym;
    for (unsigned k = 0; (sym = alloc_fn_symbol(k)) != NULL; k++) {
        const char *name = sym->name;
        enum alloc_fn fn = sym->fn;
        for (size_t i = 0; i < p->modules.n; i++) {
            struct module *m = &p->modules.items[i];
            uint64_t value, size;
            if (!m->present || !m->elf || !hooks_find_definition(p, m, name, &value, &size))
                continue;
            if (sym->library_api && (is_forwarder(m, value) || standard_name_forwards(p, m, fn)))
                break;
            mt_addr addr = m->bias + value;
            const struct breakpoint *known = bp_find(&p->bps, addr);
            const struct fast_patch *moved = fast_patches_find(&p->fast_patches, addr);
            if (known || moved) {
                unsigned as = known ? known->tag : moved->fn;
                if (as != (unsigned)fn && alloc_fn_is_cxx(as) && alloc_fn_is_cxx(fn))
                    p->cxx_aliased = true;
                hooked += !alloc_fn_is_watch_point(fn);
                break;
            }
            /* The bytes in the target must be the file's: a wrong load bias
             * would put the int3 in the middle of another function. */
            uint8_t in_file[8], in_target[8];
            int read_err = bp_read_code(&p->bps, p->remote, p->pid, addr, in_target,
                                        sizeof(in_target));
            if (read_err) {
                /* Its memory could not be read: as for a refused write,
                 * tracing on without this entry point would answer wrongly. */
                snprintf(why, why_len, "pid %d: cannot read %s at 0x%" PRIxADDR " in %.200s: %s",
                         p->pid, name, addr, m->path, strerror(-read_err));
                return read_err;
            }
            if (elf_file_read_vaddr(m->elf, value, in_file, sizeof(in_file)) != 0 ||
                memcmp(in_file, in_target, sizeof(in_file)) != 0) {
                mt_warn("pid %d: %s at 0x%" PRIxADDR " in %s does not "
                        "match the file; not hooked", p->pid, name, addr, m->path);
                break;
            }
            struct breakpoint bp = {
                .addr = addr, .role = BP_HOOK_ENTRY, .tag = fn, .fn_size = size,
                .module_text_lo = m->text_lo, .module_text_hi = m->text_hi,
                .allocator = allocator_of(p, m, fn),
            };
            /* C++'s operators have no housekeeping: each bad call is the program's. */
            if (!alloc_fn_is_cxx(fn))
                hooks_allocator_span(p, m, false, &bp.alloc_text_lo, &bp.alloc_text_hi);
            char bp_why[512];
            int err = bp_plant(&p->bps, p->remote, tid, &p->scratch, &bp, bp_why, sizeof(bp_why));
            if (err && err != -ENOTSUP && err != -ENOSPC) {
                /* The process refused a write: with an allocator entry
                 * unhooked, its blocks would look foreign and their frees
                 * bad. Tracing must stop rather than answer wrongly. */
                snprintf(why, why_len, "cannot hook %s in %.200s: %.200s", name, m->name, bp_why);
                return err;
            }
            if (err) {
                if (!first_err) {
                    first_err = err;
                    snprintf(first_why, sizeof(first_why), "cannot hook %s in %.200s: %.200s", name,
                             m->path, bp_why);
                }
                mt_warn("cannot hook %s in %s: %s", name, m->path,
                        bp_why);
            } else {
                hooked += !alloc_fn_is_watch_point(fn);
                if (!alloc_fn_is_watch_point(fn) &&
                    hook_list_add(&p->hooks_seen, addr, fn, name, m->path) != 0) {
                    snprintf(why, why_len, "out of memory listing pid %d's hooks", p->pid);
                    return -ENOMEM;
                }
            }
            break; /* first definition in link-map order is the one calls bind to */
        }
    }
    if (hooked == 0 && first_err) {
        snprintf(why, why_len, "%s", first_why);
        return first_err;
    }
    return hooked;
}

uint64_t hooks_requested_size(const struct pending_call *c)
{
    switch (c->fn) {
    case FN_MALLOC:
    case FN_VALLOC:
    case FN_NEW:
    case FN_NEW_ARRAY:
        return c->args[0];
    case FN_CALLOC:
    case FN_REALLOCARRAY: {
        uint64_t n = c->fn == FN_CALLOC ? c->args[0] : c->args[1];
        uint64_t s = c->fn == FN_CALLOC ? c->args[1] : c->args[2];
        uint64_t total;
        return __builtin_mul_overflow(n, s, &total) ? UINT64_MAX : total;
    }
    case FN_REALLOC:
    case FN_ALIGNED_ALLOC:
    case FN_MEMALIGN:
        return c->args[1];
    case FN_POSIX_MEMALIGN:
        return c->args[2];
    case FN_PVALLOC: {
        uint64_t s = (c->args[0] + PAGE_SIZE_BYTES - 1) & ~(uint64_t)(PAGE_SIZE_BYTES - 1);
        return s ? s : PAGE_SIZE_BYTES;
    }
    default:
        return 0;
    }
}

static int step_over(struct thread *t, const struct breakpoint *bp, mt_regs *regs,
                     uint64_t stack_top, mt_addr redirect)
{
    return stepover_run(t->proc->remote, t->tid, bp, regs, stack_top, redirect);
}

/* Where the call returns to: its own stub when the return value is all it
 * needs (posix_memalign's block is read from memory at the return, and the
 * mapping family is rare), else the trampoline. */
static mt_addr choose_redirect(struct thread *t, struct pending_call *call)
{
    struct process *p = t->proc;
    call->stub = -1;
    call->redirect = p->scratch.trampoline;
    if (call->fn == FN_POSIX_MEMALIGN || alloc_fn_is_mapping(call->fn))
        return call->redirect;
    mt_addr stub_addr;
    int k = return_stubs_take(&p->stubs, p->remote, t->tid, t->tid, call->return_addr, &stub_addr);
    if (k >= 0) {
        call->stub = k;
        call->redirect = stub_addr;
    }
    return call->redirect;
}

/* Makes the call return at once without running: rax = retval. */
static void skip_call(mt_regs *regs, mt_addr return_addr, uint64_t retval)
{
    regs_set_ip(regs, return_addr);
    regs_set_sp(regs, regs_sp(regs) + REGS_RETURN_SLOT);
    regs_set_retval(regs, retval);
}

static uint32_t capture_stack(const struct trap_ctx *ctx, struct thread *t, const mt_regs *regs)
{
    struct process *p = t->proc;
    /* Outer allocator calls of this thread (a signal handler allocating
     * inside malloc) have the trampoline in their return slots. */
    for (unsigned i = 0; i < t->npending; i++)
        stack_snapshot_patch(ctx->snap, t->pending[i].entry_sp, t->pending[i].return_addr);
    mt_addr ips[256];
    unsigned max = ctx->depth < 256 ? ctx->depth : 256;
    unsigned n = unwinder_callers(p->unwinder, t->tid, regs, ctx->snap, ips, max);
    return stack_intern_add(&process_heap(p)->stacks, ips, n);
}

/* --min-size and --sample: which calls get their stack unwound. Blocks
 * are tracked either way, so frees and totals stay exact. */
bool hooks_wants_stack(const struct trap_ctx *ctx, struct process *p, uint64_t size)
{
    if (size < ctx->min_size)
        return false;
    return ctx->sample <= 1 || p->sample_tick++ % ctx->sample == 0;
}

bool hooks_mismatch_shown(const struct trap_ctx *ctx, const struct process *p,
                          const struct alloc_error *err)
{
    bool both_cxx = alloc_fn_is_cxx(err->fn) && alloc_fn_is_cxx(err->alloc_fn);
    return ctx->show_mismatched && !(both_cxx && p->cxx_aliased);
}

int hooks_report_bad_free(const struct trap_ctx *ctx, struct process *p, struct alloc_error *err)
{
    if (ctx->on_error)
        ctx->on_error(ctx->on_error_arg, p, err);
    return alloc_model_record_error(&process_heap(p)->model, err);
}

/* The mapping that holds one address, and which thread's stack it is. */
struct addr_mapping {
    mt_addr addr, sp;
    bool found, main_stack, holds_sp;
    char perms[4];
    char path[256];
};

static int find_mapping(void *arg, const struct procfs_map *m)
{
    struct addr_mapping *a = arg;
    if (a->addr < m->lo || a->addr >= m->hi)
        return 0;
    a->found = true;
    a->main_stack = strcmp(m->name, "[stack]") == 0;
    a->holds_sp = a->sp >= m->lo && a->sp < m->hi;
    snprintf(a->perms, sizeof(a->perms), "%c%c%c", m->readable ? 'r' : '-',
             m->writable ? 'w' : '-', m->executable ? 'x' : '-');
    snprintf(a->path, sizeof(a->path), "%s", m->name[0] == '/' ? m->name : "");
    return 1;
}

/* What a bad pointer is, as memcheck describes it: a block of the model,
 * a thread's stack, a module's data object, some other mapping. Runs only
 * for a bad free (an error is rare and reported at once), so reading the
 * maps file and the module's symbol table here costs nothing per event. */
void hooks_describe_bad_pointer(struct process *p, unsigned thread_number, mt_addr sp,
                                struct alloc_error *err)
{
    struct alloc_model *model = &process_heap(p)->model;
    struct addr_desc *d = &err->where;
    if (alloc_model_describe_heap(model, err->addr, d))
        return;
    *d = (struct addr_desc){ .kind = ADDR_UNKNOWN };
    struct addr_mapping a = { .addr = err->addr, .sp = sp };
    int rc = procfs_maps(p->pid, find_mapping, &a);
    if (rc < 0)
        mt_warn("pid %d: cannot read its mappings to describe 0x%" PRIxADDR ": %s", p->pid,
                err->addr, strerror(-rc));
    if (!a.found)
        return;
    if (a.holds_sp || a.main_stack) {
        /* The current thread's own stack, or the main thread's. */
        d->kind = ADDR_STACK;
        d->thread = a.holds_sp && (thread_number || !a.main_stack) ? thread_number : 1;
        return;
    }
    const struct module *m = modules_at(&p->modules, err->addr);
    const char *name;
    uint64_t value, size;
    if (m && m->elf && elf_file_object_at(m->elf, err->addr - m->bias, &name, &value, &size)) {
        d->kind = ADDR_DATA_SYMBOL;
        d->symbol = alloc_model_keep_name(model, name);
        d->path = alloc_model_keep_name(model, m->path);
        d->offset = err->addr - m->bias - value;
        d->block_size = size;
        if (d->symbol)
            return;
    }
    *d = (struct addr_desc){ .kind = ADDR_MAPPING };
    memcpy(d->perms, a.perms, sizeof(d->perms));
    d->path = a.path[0] ? alloc_model_keep_name(model, a.path) : NULL;
}

bool hooks_in_allocator_library(const struct process *p, mt_addr ra)
{
    const struct module *m = modules_at(&p->modules, ra);
    if (!m || !m->path || p->modules.n == 0 || m == &p->modules.items[0])
        return false;
    for (size_t i = 0; i < p->hooks_seen.n; i++) {
        const struct hook_record *h = &p->hooks_seen.items[i];
        if (h->fn < FN_NEW && strcmp(h->module, m->path) == 0)
            return true;
    }
    return false;
}

/* Whether ra is inside one of C++'s operators that memtrace hooks (their
 * own calls: operator new's malloc, the nothrow variants' new). */
static bool inside_cxx_operator(const struct process *p, mt_addr ra)
{
    for (size_t i = 0; i < p->bps.n && p->bps.items[i].addr <= ra; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->role == BP_HOOK_ENTRY && alloc_fn_is_cxx(bp->tag) &&
            ra < bp->addr + bp->fn_size)
            return true;
    }
    return false;
}

static struct pending_call *push_call(struct thread *t, const struct breakpoint *bp,
                                      const mt_regs *regs, mt_addr return_addr, int nargs)
{
    struct pending_call *call = thread_push_pending(t);
    if (!call)
        return NULL;
    call->fn = bp->tag;
    call->block_fn = bp->tag;
    call->allocator = bp->allocator;
    call->entry_sp = regs_sp(regs);
    call->return_addr = return_addr;
    for (int i = 0; i < nargs; i++)
        call->args[i] = regs_call_arg(regs, i + 1);
    return call;
}

/* The mapping family. Only the program's own calls are its mappings: the C
 * library maps and unmaps for itself (malloc's large blocks and arenas,
 * thread stacks), and those calls return into the library that defines the
 * function, so they are stepped over untouched. Every recorded call gets
 * its stack (they are rare) and a return trap: only a call that succeeded
 * changes anything. */
bool hooks_library_mapping_call(struct process *p, mt_addr ra)
{
    if (p->r_debug != 0)
        return true;
    const struct sym_frame_ext *frames;
    unsigned n = symbolizer_lookup(p->symbolizer, ra, symbolizer_generation(p->symbolizer), true,
                                   &frames);
    return n == 0 || frames[n - 1].f.file == NULL;
}

static int mapping_entry(const struct trap_ctx *ctx, struct thread *t, const struct breakpoint *bp,
                         mt_regs *regs, mt_addr return_addr, bool inside_library)
{
    if (inside_library)
        ctx->stats->nested_calls++;
    if (inside_library ||
        (bp->tag == FN_SHMCTL && !map_hooks_shmctl_matters(regs_call_arg(regs, 2))))
        return step_over(t, bp, regs, return_addr, 0);
    struct pending_call *call = push_call(t, bp, regs, return_addr, 6);
    if (!call)
        return -ENOMEM;
    call->arena = hooks_in_allocator_library(t->proc, return_addr);
    call->stack_id = call->arena ? STACK_NONE : capture_stack(ctx, t, regs);
    return step_over(t, bp, regs, return_addr, choose_redirect(t, call));
}

/* A delete returns through a stub of its own, so that the free it jumps
 * to (and delete[] to delete) arrives as a tail jump: the same call. */
static int step_into_delete(struct thread *t, const struct breakpoint *bp, mt_regs *regs,
                            mt_addr return_addr)
{
    struct pending_call *call = push_call(t, bp, regs, return_addr, 1);
    if (!call)
        return -ENOMEM;
    call->stack_id = STACK_NONE;
    return step_over(t, bp, regs, return_addr, choose_redirect(t, call));
}

/* The pointer a free, delete, realloc or reallocarray gets: a bad one is
 * reported and the call skipped (glibc would abort the program); one of
 * the wrong family (free of new's block) is reported and goes on; a free
 * of a known block is applied and stepped over. *done: nothing more to do
 * for the call. */
static int judge_free(const struct trap_ctx *ctx, struct thread *t, const struct breakpoint *bp,
                      mt_regs *regs, mt_addr return_addr, bool *done)
{
    struct process *p = t->proc;
    bool inside_allocator = return_addr >= bp->alloc_text_lo && return_addr < bp->alloc_text_hi;
    struct alloc_model *model = &process_heap(p)->model;
    mt_addr ptr = regs_call_arg(regs, 1);
    struct alloc_error bad;
    enum free_verdict verdict = alloc_model_check_free(model, bp->tag, bp->allocator, ptr,
                                                       STACK_NONE, &bad);
    if (verdict == FREE_MISMATCHED && !bad.ran && !inside_allocator) {
        /* Another allocator's block: reaching this one would corrupt it.
         * Reported (whatever --show-mismatched-frees says) and skipped. */
        *done = true;
        bad.stack = capture_stack(ctx, t, regs);
        int err = hooks_report_bad_free(ctx, p, &bad);
        if (!err)
            skip_call(regs, return_addr, 0);
        return err;
    }
    if (verdict == FREE_MISMATCHED && !hooks_mismatch_shown(ctx, p, &bad))
        verdict = FREE_OK;
    uint32_t stack = STACK_NONE;
    *done = true;
    if (verdict == FREE_MISMATCHED && !inside_allocator) {
        bad.stack = stack = capture_stack(ctx, t, regs);
        int err = hooks_report_bad_free(ctx, p, &bad);
        if (err)
            return err;
    } else if (verdict == FREE_UNTRACKED) {
        /* attach: a block from before memtrace came, or the allocator's
         * own housekeeping; neither is an error. */
        if (inside_allocator)
            ctx->stats->allocator_frees++;
        else
            model->untracked_frees++;
    } else if (verdict != FREE_OK && verdict != FREE_MISMATCHED) {
        if (inside_allocator) {
            /* glibc flushing a dying thread's tcache: chunks the program
             * already freed, and the cache itself, which was never
             * malloc'd through an entry point. Housekeeping, not an error. */
            ctx->stats->allocator_frees++;
            return step_over(t, bp, regs, return_addr, 0);
        }
        bad.stack = capture_stack(ctx, t, regs);
        hooks_describe_bad_pointer(p, t->number, regs_sp(regs), &bad);
        int err = hooks_report_bad_free(ctx, p, &bad);
        if (!err)
            skip_call(regs, return_addr, 0);
        return err;
    }
    if (!alloc_fn_is_free(bp->tag)) {
        *done = false;   /* realloc: its new block comes at the return */
        return 0;
    }
    const struct block *b = alloc_table_get(&model->live, ptr);
    if (b && stack == STACK_NONE && hooks_wants_stack(ctx, p, b->size))
        stack = capture_stack(ctx, t, regs);
    struct alloc_event ev = { .fn = bp->tag, .tid = t->tid, .ptr_in = ptr, .stack_id = stack };
    int err = alloc_model_apply(model, &ev);
    if (err)
        return err;
    return bp->tag == FN_FREE ? step_over(t, bp, regs, return_addr, 0)
                              : step_into_delete(t, bp, regs, return_addr);
}

int hooks_on_entry(const struct trap_ctx *ctx, struct thread *t, const struct breakpoint *bp,
                   mt_regs *regs)
{
    struct process *p = t->proc;
    ctx->stats->entry_traps++;
    regs_set_ip(regs, bp->addr);
    int err = stack_snapshot_fill(ctx->snap, p->remote, t->tid, regs_sp(regs));
    if (err)
        return err;
    uint64_t return_addr;
    if (stack_snapshot_u64(ctx->snap, regs_sp(regs), &return_addr) != 0)
        return -EFAULT;

    /* execve: the trap itself drained the stubs (session/session.c) before the
     * image and its records vanish; ptrace: the session has handed over
     * whichever process the call is about. */
    if (alloc_fn_is_watch_point(bp->tag))
        return step_over(t, bp, regs, return_addr, 0);

    /* A tail jump from one hooked function into another (realloc(NULL, n)
     * into malloc) arrives with the trampoline already in place; new[]'s
     * into new in the frame of new[]'s entry, before its malloc. */
    struct pending_call *outer = t->npending > 0 ? &t->pending[t->npending - 1] : NULL;
    bool tail_jump = return_addr == p->scratch.trampoline ||
                     return_stubs_at(&p->stubs, return_addr) >= 0 ||
                     (outer && outer->new_marker && !outer->used &&
                      outer->entry_sp == regs_sp(regs) && outer->return_addr == return_addr);
    if (!tail_jump)
        thread_prune_pending(t, regs_sp(regs) + 1);
    outer = t->npending > 0 ? &t->pending[t->npending - 1] : NULL;
    bool inside_allocator = return_addr >= bp->module_text_lo && return_addr < bp->module_text_hi;
    bool inside_new = outer && outer->new_marker && inside_cxx_operator(p, return_addr);
    if (inside_new && !tail_jump && !alloc_fn_is_free(bp->tag) && bp->tag < FN_NEW) {
        /* operator new's malloc: the block is new's, with new's stack. */
        outer->used = true;
        struct pending_call *call = push_call(t, bp, regs, return_addr, 3);
        if (!call)
            return -ENOMEM;
        call->block_fn = outer->fn;
        call->stack_id = outer->stack_id;
        return step_over(t, bp, regs, return_addr, choose_redirect(t, call));
    }
    /* A call from --fast's stubs (a deferred delete[] run, jumping on to a
     * delete left on a breakpoint), or a release made inside a hooked
     * operator delete (a program's replacement calling free): memtrace
     * judged it at the stub or at the operator's entry. */
    mt_addr region = p->fast_ring.region;
    bool from_stub = region && return_addr >= region && return_addr < region + FAST_REGION_SIZE;
    bool inside_delete = alloc_fn_is_free(bp->tag) && inside_cxx_operator(p, return_addr);
    if (tail_jump || (outer && !outer->new_marker && inside_allocator) || inside_new ||
        from_stub || inside_delete) {
        /* realloc calling malloc, nothrow new calling new, delete[] jumping
         * to delete and on to free: the allocator's business. */
        ctx->stats->nested_calls++;
        return step_over(t, bp, regs, return_addr, 0);
    }
    if (alloc_fn_is_mapping(bp->tag))
        return mapping_entry(ctx, t, bp, regs, return_addr,
                             inside_allocator && hooks_library_mapping_call(p, return_addr));

    if (alloc_fn_is_free(bp->tag) || bp->tag == FN_REALLOC || bp->tag == FN_REALLOCARRAY) {
        bool done = false;
        if ((err = judge_free(ctx, t, bp, regs, return_addr, &done)) || done)
            return err;
    }

    struct pending_call *call = push_call(t, bp, regs, return_addr, 3);
    if (!call)
        return -ENOMEM;
    call->stack_id = hooks_wants_stack(ctx, p, hooks_requested_size(call)) ? capture_stack(ctx, t, regs)
                                                                : STACK_NONE;
    if ((bp->tag == FN_NEW || bp->tag == FN_NEW_ARRAY) && !hooks_in_allocator_library(p, bp->addr)) {
        /* Its return stays the program's: operator new may throw. The
         * malloc it calls makes the block. (An allocator library's new
         * allocates inside the library, out of sight: its return is
         * redirected as malloc's is.) */
        call->new_marker = true;
        return step_over(t, bp, regs, return_addr, 0);
    }
    return step_over(t, bp, regs, return_addr, choose_redirect(t, call));
}

int hooks_complete_call(struct thread *t, const struct pending_call *call, uint64_t retval)
{
    struct process *p = t->proc;
    if (alloc_fn_is_mapping(call->fn))
        return map_hooks_apply(p, call, retval);
    if (alloc_fn_is_free(call->fn))
        return 0;   /* a delete: applied at its entry */
    struct alloc_event ev = {
        .fn = call->fn, .tid = t->tid, .size = hooks_requested_size(call), .stack_id = call->stack_id,
        .ptr_out = retval, .time_ns = mt_now_ns(), .allocator = call->allocator,
    };
    if (call->fn == FN_REALLOC || call->fn == FN_REALLOCARRAY)
        ev.ptr_in = call->args[0];
    if (call->fn == FN_POSIX_MEMALIGN) {
        /* Returns an error number; the block goes to *memptr. */
        uint64_t block = 0;
        if (retval == 0 && remote_read_u64(p->remote, t->tid, call->args[0], &block) != 0)
            block = 0;
        ev.ptr_out = retval == 0 ? block : 0;
    }
    ev.fn = call->block_fn;
    if (call->block_fn != call->fn && ev.ptr_out && t->npending > 0 &&
        t->pending[t->npending - 1].new_marker)
        t->npending--;   /* operator new has its block: it returns now */
    return alloc_model_apply(&process_heap(p)->model, &ev);
}

int hooks_on_return(const struct trap_ctx *ctx, struct thread *t, mt_regs *regs)
{
    struct process *p = t->proc;
    ctx->stats->return_traps++;
    mt_addr slot = regs_sp(regs) - REGS_RETURN_SLOT;
    thread_prune_pending(t, slot);
    if (t->npending == 0 || t->pending[t->npending - 1].entry_sp != slot) {
        mt_error("pid %d tid %d returned through the trampoline with "
                "rsp 0x%" PRIxADDR " but no allocator call is pending there",
                p->pid, t->tid, regs_sp(regs));
        return -EPROTO;
    }
    struct pending_call call = t->pending[--t->npending];
    regs_set_ip(regs, call.return_addr);
    return hooks_complete_call(t, &call, regs_retval(regs));
}

int hooks_drain_returns(const struct trap_ctx *ctx, struct process *p, pid_t tid, bool running)
{
    struct return_stub_done done[RETURN_STUBS_MAX];
    /* Other threads run meanwhile unless this is the only one (stopped). */
    bool racing = running || !(p->threads && !p->threads->next);
    int n = return_stubs_collect(&p->stubs, p->remote, tid, racing, done);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        unsigned k = done[i].stub;
        struct thread *owner = process_find_thread(p, p->stubs.owner[k]);
        struct pending_call call;
        if (!owner || !thread_take_stub_call(owner, k, &call)) {
            return_stubs_release(&p->stubs, k);   /* its thread is gone: nothing to complete */
            continue;
        }
        ctx->stats->stub_returns++;
        int err = hooks_complete_call(owner, &call, done[i].value);
        if (err)
            return err;
    }
    return 0;
}
