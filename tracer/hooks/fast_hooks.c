/* --fast: the allocation family's entry points jump to the injected stub
 * (engine/fast_patch.h) instead of trapping, and the stub's records
 * (engine/fast_ring.h) become the same allocation events, bad frees and
 * stacks that hooks.c makes of traps, and the mapping family's calls the
 * same mapping events map_hooks.c makes of them. The ring is an event
 * source beside the trap path, not a second engine: the link-map hook, the
 * watch points and every entry point that cannot be moved stay on int3s. */
#include "hooks_internal.h"
#include "diag.h"
#include "elf_file.h"
#include "grow.h"
#include "map_hooks.h"
#include "mt_time.h"
#include "procfs.h"
#include "scratch.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether fn's records need the fields past the first two arguments. */
static bool fn_is_wide(enum alloc_fn fn)
{
    return fn == FN_REALLOCARRAY || fn == FN_POSIX_MEMALIGN || alloc_fn_is_mapping(fn);
}

static uint32_t fast_flags(enum alloc_fn fn, bool defer_frees)
{
    uint32_t wide = fn_is_wide(fn) ? FAST_FLAG_WIDE : 0;
    switch (fn) {
    case FN_FREE:
    case FN_DELETE:
    case FN_DELETE_ARRAY:
        return FAST_FLAG_BEFORE | (defer_frees ? FAST_FLAG_DEFER : 0);
    case FN_REALLOC:
    case FN_REALLOCARRAY:
        return FAST_FLAG_BEFORE | FAST_FLAG_AFTER | wide;
    case FN_POSIX_MEMALIGN:
        return FAST_FLAG_AFTER | FAST_FLAG_MEMPTR | FAST_FLAG_WRAPPABLE | wide;
    case FN_NEW:
    case FN_NEW_ARRAY:
        /* Its record names the block its malloc makes (FAST_PHASE_WRAPPED). */
        return FAST_FLAG_BEFORE | FAST_FLAG_TAIL;
    case FN_MALLOC:
    case FN_CALLOC:
    case FN_ALIGNED_ALLOC:
    case FN_MEMALIGN:
    case FN_VALLOC:
    case FN_PVALLOC:
        return FAST_FLAG_AFTER | FAST_FLAG_WRAPPABLE;
    default:
        /* The mapping family is called from inside malloc too, with an
         * arena locked: a queued free run there would wait for it forever. */
        return FAST_FLAG_AFTER | (alloc_fn_is_mapping(fn) ? FAST_FLAG_NO_QUEUE : 0) | wide;
    }
}

struct main_stack {
    mt_addr lo, hi;
};

static int find_main_stack(void *arg, const struct procfs_map *m)
{
    struct main_stack *st = arg;
    if (strcmp(m->name, "[stack]") != 0)
        return 0;
    st->lo = m->lo;
    st->hi = m->hi;
    return 1;
}

static int by_lo(const void *a, const void *b)
{
    const mt_addr *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The code of the C++ operators hooked in p, in at most FAST_WRAPS_MAX
 * sorted spans: a call from there (operator new's malloc) is theirs. Spans
 * closest together are joined when there are more. */
static unsigned wrapper_spans(const struct process *p, mt_addr spans[FAST_WRAPS_MAX][2])
{
    mt_addr all[64][2];
    unsigned n = 0;
    for (size_t i = 0; i < p->bps.n && n < 64; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->role == BP_HOOK_ENTRY && alloc_fn_is_cxx(bp->tag) &&
            bp->fn_size > 0 && !hooks_in_allocator_library(p, bp->addr)) {
            all[n][0] = bp->addr;
            all[n++][1] = bp->addr + bp->fn_size;
        }
    }
    qsort(all, n, sizeof(all[0]), by_lo);
    for (;;) {
        /* Join the two neighbours with the smallest gap while they touch
         * (alignment padding) or there are too many. */
        unsigned best = 0;
        mt_addr best_gap = UINT64_MAX;
        for (unsigned i = 0; i + 1 < n; i++) {
            mt_addr gap = all[i + 1][0] > all[i][1] ? all[i + 1][0] - all[i][1] : 0;
            if (gap < best_gap)
                best_gap = gap, best = i;
        }
        if (n <= 1 || (best_gap > 16 && n <= FAST_WRAPS_MAX))
            break;
        if (all[best + 1][1] > all[best][1])
            all[best][1] = all[best + 1][1];
        memmove(&all[best + 1], &all[best + 2], (n - best - 2) * sizeof(all[0]));
        n--;
    }
    memcpy(spans, all, n * sizeof(all[0]));
    return n;
}

static void ring_params(const struct process *p, const struct fast_settings *set, mt_addr alloc_lo,
                        mt_addr alloc_hi, struct fast_ring_params *out)
{
    struct main_stack st = { 0, 0 };
    if (procfs_maps(p->pid, find_main_stack, &st) < 0)
        st.lo = st.hi = 0;   /* the main thread's slices then hold its return address only */
    *out = (struct fast_ring_params){
        .slice_max = set->depth <= 1 ? 0 : FAST_SLICE_BYTES,
        .cap = set->ring_records          ? set->ring_records
               : set->depth <= 1          ? FAST_RING_RECORDS_DEPTH1
               : set->long_lived          ? FAST_RING_RECORDS_ATTACHED
                                          : FAST_RING_RECORDS,
        .alloc_lo = alloc_lo, .alloc_hi = alloc_hi,
        .stack_lo = st.lo, .stack_hi = st.hi,
        .depth = set->depth,
        .narrow = set->depth <= 1,
    };
    out->nwraps = wrapper_spans(p, out->wraps);
    if (p->scratch.base) {
        out->scratch_lo = p->scratch.base;
        out->scratch_hi = p->scratch.base + SCRATCH_SIZE;
    }
}

/* The module that defines the allocator (malloc's breakpoint). */
static const struct module *allocator_module(const struct process *p)
{
    for (size_t i = 0; i < p->bps.n; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->role == BP_HOOK_ENTRY && bp->tag == FN_MALLOC)
            return modules_at(&p->modules, bp->addr);
    }
    return NULL;
}

/* _dl_debug_state's own stub: a call becomes a record that tells memtrace
 * to read the link map. */
static void patch_link_map_hook(struct process *p, pid_t tid)
{
    for (size_t i = 0; i < p->bps.n; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->role != BP_RENDEZVOUS)
            continue;
        const struct module *m = modules_at(&p->modules, bp->addr);
        uint64_t value, size;
        uint8_t code[64];
        char why[256] = "its symbol is not found";
        if (m && m->elf && hooks_find_definition(p, m, "_dl_debug_state", &value, &size) &&
            m->bias + value == bp->addr && size > 0 && size < sizeof(code) &&
            bp_read_code(&p->bps, p->remote, tid, bp->addr, code, sizeof(code)) == 0) {
            /* glibc's is a lone `ret` (1 byte): the jump also covers the
             * alignment padding after it, which nothing branches to. */
            size_t len = (size_t)size;
            len += insn_padding_len(code + len, sizeof(code) - len, bp->addr + len);
            uint32_t flags = FAST_FLAG_AFTER | FAST_FLAG_NO_QUEUE;
            if (fast_patches_add(&p->fast_patches, p->remote, tid, bp->addr, FAST_FN_LINK_MAP,
                                 flags, code, len, why, sizeof(why)) == 0)
                return;
        }
        mt_warn("pid %d: the link-map hook stays on a breakpoint (--fast cannot move "
                "_dl_debug_state: %s)", p->pid, why);
        return;
    }
}

int hooks_fast_install(struct process *p, pid_t tid, const struct fast_settings *set, char *why,
                       size_t why_len)
{
    if (p->fast_ring.region || !p->scratch.syscall_gadget)
        return 0;
    const struct module *m = allocator_module(p);
    if (!m) {
        snprintf(why, why_len, "pid %d: no hooked malloc to put on a stub", p->pid);
        return -ENOENT;
    }
    mt_addr alloc_lo, alloc_hi;
    hooks_allocator_span(p, m, true, &alloc_lo, &alloc_hi);
    struct fast_ring_params params;
    ring_params(p, set, alloc_lo, alloc_hi, &params);
    int err = fast_ring_setup(&p->fast_ring, p->remote, tid, p->scratch.syscall_gadget,
                              scratch_hint_near(m->text_lo), &params, getpid(), why, why_len);
    if (err)
        return err;
    fast_patches_init(&p->fast_patches, p->fast_ring.region);
    for (size_t i = 0; i < p->bps.n; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        enum alloc_fn fn = (enum alloc_fn)bp->tag;
        if (bp->role != BP_HOOK_ENTRY || alloc_fn_is_watch_point(fn))
            continue;
        uint8_t code[256];
        char pwhy[256];
        if (bp->fn_size == 0) {
            mt_warn("pid %d: %s stays on a breakpoint: its symbol has no size", p->pid,
                    alloc_fn_call_name(fn));
            continue;
        }
        if (!fast_patches_in_reach(&p->fast_patches, bp->addr))
            continue;   /* a module far from the allocator's: the hooks list says so */
        size_t len = bp->fn_size < sizeof(code) ? (size_t)bp->fn_size : sizeof(code);
        uint32_t flags = fast_flags(fn, set->defer_frees);
        if ((fn == FN_NEW || fn == FN_NEW_ARRAY) && hooks_in_allocator_library(p, bp->addr))
            flags = FAST_FLAG_AFTER;   /* allocates inside its library: its result is the block */
        if (bp_read_code(&p->bps, p->remote, tid, bp->addr, code, len) != 0 ||
            fast_patches_add(&p->fast_patches, p->remote, tid, bp->addr, fn, flags, code, len,
                             pwhy, sizeof(pwhy)) != 0) {
            mt_warn("pid %d: %s stays on a breakpoint (--fast cannot move it): %s", p->pid,
                    alloc_fn_call_name(fn), pwhy);
            continue;
        }
        p->fast_patches.items[p->fast_patches.n - 1].allocator = bp->allocator;
    }
    if (set->link_map_on_stub)
        patch_link_map_hook(p, tid);
    const struct fast_patch *free_patch = fast_patches_of(&p->fast_patches, FN_FREE);
    params.free_orig = free_patch ? free_patch->relocated : 0;
    p->fast_frees_deferred = free_patch && (free_patch->flags & FAST_FLAG_DEFER);
    if ((err = fast_ring_arm(&p->fast_ring, p->remote, tid, p->scratch.syscall_gadget, &params,
                             getpid()))) {
        snprintf(why, why_len, "pid %d: arming the stubs: %s", p->pid, strerror(-err));
        fast_ring_remove(&p->fast_ring, tid, p->scratch.syscall_gadget, 0);
        fast_patches_init(&p->fast_patches, 0);
        return err;
    }
    /* The jumps replace the int3s, which leave the breakpoint table. */
    if ((err = fast_patches_write(&p->fast_patches, p->remote, tid))) {
        snprintf(why, why_len, "pid %d: writing the jumps to the stubs: %s", p->pid, strerror(-err));
        return err;
    }
    for (unsigned i = 0; i < p->fast_patches.n; i++) {
        bp_forget_range(&p->bps, p->fast_patches.items[i].addr, p->fast_patches.items[i].addr + 1);
        hook_list_set_stub(&p->hooks_seen, p->fast_patches.items[i].addr, true);
    }
    return (int)p->fast_patches.n;
}

int hooks_fast_child(struct process *child, const struct process *parent, pid_t tid,
                     const struct fast_settings *set, char *why, size_t why_len)
{
    if (!parent->fast_ring.ring || !child->scratch.syscall_gadget)
        return 0;
    struct fast_ring_params params;
    const struct module *m = allocator_module(parent);
    mt_addr alloc_lo = 0, alloc_hi = 0;
    if (m)
        hooks_allocator_span(parent, m, true, &alloc_lo, &alloc_hi);
    ring_params(child, set, alloc_lo, alloc_hi, &params);
    params.cap = parent->fast_ring.cap;
    params.nwraps = parent->fast_ring.nwraps;
    memcpy(params.wraps, parent->fast_ring.wraps, sizeof(params.wraps));
    const struct fast_patch *free_patch = fast_patches_of(&parent->fast_patches, FN_FREE);
    params.free_orig = free_patch ? free_patch->relocated : 0;
    return fast_ring_setup_child(&child->fast_ring, &parent->fast_ring, child->remote, tid,
                                 child->scratch.syscall_gadget, &params, getpid(), why, why_len);
}


/* Teaches the stubs the rules of a walk memtrace made, so the next call
 * from the same places is walked in the program. */
static void teach_rules(struct process *p, const mt_addr *ips, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const struct frame_rule *rule = frame_rule_at(&p->frame_rules, &p->modules, ips[i] - 1);
        if (!rule)
            return;
        int16_t rbp = rule->saved[1];
        int64_t rbp_at = rbp == FRAME_RULE_SAME        ? FAST_RBP_SAME
                         : rbp == FRAME_RULE_UNDEFINED ? FAST_RBP_UNDEFINED
                         : rbp < 0                     ? rbp
                                                       : -1 /* above the CFA: not for stubs */;
        fast_ring_learn_rule(&p->fast_ring, ips[i],
                             fast_rule_word(ips[i], rule->outermost,
                                            rule->cfa_reg == FRAME_REG_RBP, rule->cfa_off,
                                            rbp_at));
    }
}

/* The stack of the call: walked by the stub, else walked here from the
 * registers and the stack copy the record holds, as at the function's
 * entry. */
static uint32_t record_stack(const struct trap_ctx *ctx, struct process *p, const uint8_t *rec)
{
    mt_addr ips[256];
    unsigned max = ctx->depth < 256 ? ctx->depth : 256;
    if (ctx->depth <= 1 || p->fast_ring.narrow ||
        (fast_rec_u32(rec, FAST_REC_PHASE) & FAST_PHASE_WRAPPED)) {
        ips[0] = fast_rec_u64(rec, FAST_REC_RA);
        return ips[0] ? stack_intern_add(&process_heap(p)->stacks, ips, 1) : STACK_NONE;
    }
    uint64_t walked = fast_rec_u64(rec, FAST_REC_NFRAMES);
    if (walked > 0) {
        /* cppcheck-suppress knownConditionTrueFalse ; walked is the stub's count, read from the ring */
        unsigned n = walked > max ? max : (unsigned)walked;
        memcpy(ips, rec + FAST_REC_SLICE, n * sizeof(*ips));
        ctx->stats->fast_stub_walks++;
        return stack_intern_add(&process_heap(p)->stacks, ips, n);
    }
    uint64_t len = fast_rec_u64(rec, FAST_REC_SLICE_LEN);
    if (len < 8)
        return STACK_NONE;
    const uint8_t *slice = fast_ring_slice(&p->fast_ring, rec);
    struct stack_snapshot *snap = ctx->snap;
    if (len > FAST_SLICE_BYTES)
        len = FAST_SLICE_BYTES;
    snap->base = fast_rec_u64(rec, FAST_REC_RSP);
    snap->len = (size_t)len;
    snap->view = slice;   /* read in the ring, not copied */
    mt_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rsp = snap->base;
    regs.rbx = fast_rec_u64(rec, FAST_REC_RBX);
    regs.rbp = fast_rec_u64(rec, FAST_REC_RBP);
    regs.r12 = fast_rec_u64(rec, FAST_REC_R12);
    regs.r13 = fast_rec_u64(rec, FAST_REC_R13);
    regs.r14 = fast_rec_u64(rec, FAST_REC_R14);
    regs.r15 = fast_rec_u64(rec, FAST_REC_R15);
    size_t needed;
    unsigned n = frame_walk(&p->frame_rules, &p->modules, p->remote, p->pid, &regs, snap, ips, max,
                            &needed);
    if (n > 0) {
        fast_ring_hint(&p->fast_ring, ips[0], needed);
        teach_rules(p, ips, n);
    } else {
        n = unwinder_callers(p->unwinder, p->pid, &regs, snap, ips, max);
    }
    snap->view = NULL;
    return stack_intern_add(&process_heap(p)->stacks, ips, n);
}

static struct fast_realloc *find_realloc(struct process *p, uint64_t pair)
{
    for (size_t i = p->nfast_reallocs; i-- > 0;)
        if (p->fast_reallocs[i].pair == pair)
            return &p->fast_reallocs[i];
    return NULL;
}

/* The thread whose stack holds sp, when memtrace can tell: the main
 * thread's stack is known. */
static unsigned thread_of_sp(const struct process *p, const uint8_t *rec)
{
    (void)p;
    (void)rec;
    return 0;
}

/* A free judged good goes to the stubs' queue (the program's free runs
 * then, or the delete that patch hooks); one that finds it full waits in
 * memtrace for room. */
static int queue_free(struct process *p, mt_addr ptr, enum alloc_fn fn, unsigned patch)
{
    if (fn != FN_FREE)
        ptr |= (uint64_t)(patch + 1) << FAST_QUEUE_PATCH_SHIFT;
    if (p->nfast_unqueued == 0 && fast_ring_queue_free(&p->fast_ring, ptr))
        return 0;
    mt_addr *q = mt_grow(p->fast_unqueued, &p->fast_unqueued_cap, p->nfast_unqueued + 1,
                         sizeof(*q));
    if (!q)
        return -ENOMEM;
    p->fast_unqueued = q;
    p->fast_unqueued[p->nfast_unqueued++] = ptr;
    return 0;
}

static void flush_unqueued(struct process *p)
{
    size_t done = 0;
    while (done < p->nfast_unqueued && fast_ring_queue_free(&p->fast_ring, p->fast_unqueued[done]))
        done++;
    memmove(p->fast_unqueued, p->fast_unqueued + done,
            (p->nfast_unqueued - done) * sizeof(*p->fast_unqueued));
    p->nfast_unqueued -= done;
}

/* A free or a realloc's old block, before the allocator sees it. Returns
 * the stack of the call (when it got one) in *stack. */
static int judge(const struct trap_ctx *ctx, struct process *p, const uint8_t *rec,
                 enum alloc_fn fn, unsigned allocator, mt_addr ptr, enum free_verdict *verdict,
                 uint32_t *stack)
{
    struct alloc_model *model = &process_heap(p)->model;
    struct alloc_error bad;
    *verdict = alloc_model_check_free(model, fn, allocator, ptr, STACK_NONE, &bad);
    if (*verdict == FREE_INVALID && p->stubs.nused) {
        /* A block whose call (on a breakpoint) returned through its stub
         * and is not applied yet: the program freed it after it got it. */
        int err = hooks_drain_returns(ctx, p, p->pid, true);
        if (err && err != -ESRCH)   /* gone: what was drained is all there is */
            return err;
        *verdict = alloc_model_check_free(model, fn, allocator, ptr, STACK_NONE, &bad);
    }
    *stack = STACK_NONE;
    if (*verdict == FREE_MISMATCHED && bad.alloc_library) {
        /* Another allocator's block: a deferred free never reaches the
         * wrong allocator (not queued); a realloc, or a free under attach,
         * has. Either way the block stays the other allocator's. */
        *verdict = FREE_INVALID;
        bad.stack = record_stack(ctx, p, rec);
        bad.ran = !alloc_fn_is_free(fn) || !p->fast_frees_deferred;
        return hooks_report_bad_free(ctx, process_heap(p), &bad);
    }
    if (*verdict == FREE_MISMATCHED) {
        /* Reported, and released as the program asked. */
        *verdict = FREE_OK;
        if (hooks_mismatch_shown(ctx, p, &bad)) {
            bad.stack = *stack = record_stack(ctx, p, rec);
            return hooks_report_bad_free(ctx, process_heap(p), &bad);
        }
    }
    if (*verdict == FREE_UNTRACKED) {
        model->untracked_frees++;
        return 0;
    }
    if (*verdict != FREE_OK) {
        /* A deferred free is never run (it is not queued); a realloc, or
         * a free under attach, is: its stub does not wait for the verdict. */
        bad.stack = record_stack(ctx, p, rec);
        bad.ran = !alloc_fn_is_free(fn) || !p->fast_frees_deferred;
        hooks_describe_bad_pointer(process_heap(p), thread_of_sp(p, rec),
                                   fast_rec_u64(rec, FAST_REC_RSP), &bad);
        return hooks_report_bad_free(ctx, process_heap(p), &bad);
    }
    const struct block *b = ptr ? alloc_table_get(&model->live, ptr) : NULL;
    if (b && *stack == STACK_NONE && hooks_wants_stack(ctx, p, b->size))
        *stack = record_stack(ctx, p, rec);
    return 0;
}

/* A call of the mapping family, after it returned: the program's own
 * calls become mapping events, the C library's (a thread's stack, stdio's
 * buffers) do not, as on the trap path. */
static int apply_mapping(const struct trap_ctx *ctx, struct process *p, const uint8_t *rec,
                         struct pending_call *call)
{
    const struct fast_patch *fp = fast_patches_of(&p->fast_patches, call->fn);
    const struct module *m = fp ? modules_at(&p->modules, fp->addr) : NULL;
    mt_addr ra = fast_rec_u64(rec, FAST_REC_RA);
    if (m && ra >= m->text_lo && ra < m->text_hi && hooks_library_mapping_call(p, ra)) {
        ctx->stats->nested_calls++;
        return 0;
    }
    if (call->fn == FN_SHMCTL && !map_hooks_shmctl_matters(call->args[1]))
        return 0;
    call->args[3] = fast_rec_u64(rec, FAST_REC_ARG3);
    call->args[4] = fast_rec_u64(rec, FAST_REC_ARG4);
    call->arena = hooks_in_allocator_library(p, ra);
    call->stack_id = call->arena ? STACK_NONE : record_stack(ctx, p, rec);
    return map_hooks_apply(p, call, fast_rec_u64(rec, FAST_REC_RET));
}

static void forget_new(struct process *p, unsigned i)
{
    memmove(&p->fast_news[i], &p->fast_news[i + 1],
            (p->nfast_news - i - 1) * sizeof(p->fast_news[0]));
    p->nfast_news--;
}

/* operator new (or new[]) entered: its block comes with the malloc it
 * makes. The same frame's entry before its malloc came is new[]'s, which
 * jumped into new: the outer one names the block. */
static void begin_new(const struct trap_ctx *ctx, struct process *p, const uint8_t *rec,
                      enum alloc_fn fn, uint64_t size)
{
    mt_addr rsp = fast_rec_u64(rec, FAST_REC_RSP), ra = fast_rec_u64(rec, FAST_REC_RA);
    for (unsigned i = 0; i < p->nfast_news; i++) {
        if (p->fast_news[i].rsp != rsp)
            continue;
        if (!p->fast_news[i].used && p->fast_news[i].ra == ra)
            return;
        forget_new(p, i);   /* an earlier call from this frame, which threw */
        break;
    }
    if (p->nfast_news == FAST_NEWS_MAX)
        forget_new(p, 0);
    p->fast_news[p->nfast_news++] = (struct fast_new){
        .rsp = rsp, .ra = ra, .fn = fn,
        .stack_id = hooks_wants_stack(ctx, p, size) ? record_stack(ctx, p, rec) : STACK_NONE,
    };
}

/* The operator new a malloc made inside one belongs to: the innermost
 * entered just above the malloc's frame on the same stack, on its stub
 * (*in_thread NULL) or on a breakpoint (its thread's pending call). */
static struct fast_new *new_of(struct process *p, const uint8_t *rec,
                               struct pending_call **in_thread, struct thread **owner)
{
    mt_addr rsp = fast_rec_u64(rec, FAST_REC_RSP);
    struct fast_new *best = NULL;
    for (unsigned i = 0; i < p->nfast_news; i++) {
        struct fast_new *n = &p->fast_news[i];
        if (n->rsp > rsp && n->rsp - rsp <= 4096 && (!best || n->rsp < best->rsp))
            best = n;
    }
    *in_thread = NULL;
    *owner = NULL;
    for (struct thread *t = p->threads; t && !best; t = t->next) {
        struct pending_call *c = t->npending ? &t->pending[t->npending - 1] : NULL;
        if (c && c->new_marker && c->entry_sp > rsp && c->entry_sp - rsp <= 4096) {
            *in_thread = c;
            *owner = t;
        }
    }
    return best;
}

static int apply_record(const struct trap_ctx *ctx, struct process *p, const uint8_t *rec,
                        uint64_t ticket)
{
    uint32_t fn_word = fast_rec_u32(rec, FAST_REC_FN);
    enum alloc_fn fn = (enum alloc_fn)(fn_word & ((1u << FAST_DESC_PATCH_SHIFT) - 1));
    unsigned patch = fn_word >> FAST_DESC_PATCH_SHIFT;
    uint32_t phase = fast_rec_u32(rec, FAST_REC_PHASE);
    unsigned allocator = patch < p->fast_patches.n ? p->fast_patches.items[patch].allocator : 0;
    struct pending_call call = { .fn = fn, .stack_id = STACK_NONE };
    call.args[0] = fast_rec_u64(rec, FAST_REC_ARG0);
    call.args[1] = fast_rec_u64(rec, FAST_REC_ARG1);
    /* A narrow record's second line is an older record's. */
    call.args[2] = fn_is_wide(fn) ? fast_rec_u64(rec, FAST_REC_ARG2) : 0;
    struct alloc_model *model = &process_heap(p)->model;
    if ((unsigned)fn == FAST_FN_LINK_MAP) {
        p->fast_link_map_changed = true;   /* the session reads the link map */
        return 0;
    }
    if ((unsigned)fn > FN_SHMCTL)
        return -EPROTO;
    if (alloc_fn_is_mapping(fn))
        return apply_mapping(ctx, p, rec, &call);
    if ((fn == FN_NEW || fn == FN_NEW_ARRAY) && (phase & FAST_FLAG_BEFORE)) {
        begin_new(ctx, p, rec, fn, call.args[0]);
        return 0;
    }
    uint32_t stack;
    if (alloc_fn_is_free(fn)) {
        /* A deferred call: a bad free is never run, a good one (or one of
         * a block from before memtrace came) is queued. */
        enum free_verdict verdict;
        int err = judge(ctx, p, rec, fn, allocator, call.args[0], &verdict, &stack);
        if (err || (verdict != FREE_OK && verdict != FREE_UNTRACKED))
            return err;
        if (p->fast_frees_deferred && (err = queue_free(p, call.args[0], fn, patch)))
            return err;
        if (verdict == FREE_UNTRACKED)
            return 0;
        struct alloc_event ev = { .fn = fn, .tid = p->pid, .ptr_in = call.args[0],
                                  .stack_id = stack };
        return alloc_model_apply(model, &ev);
    }
    bool is_realloc = fn == FN_REALLOC || fn == FN_REALLOCARRAY;
    if (is_realloc && phase == FAST_FLAG_BEFORE) {
        struct fast_realloc *r = mt_grow(p->fast_reallocs, &p->fast_reallocs_cap,
                                         p->nfast_reallocs + 1, sizeof(*r));
        if (!r)
            return -ENOMEM;
        p->fast_reallocs = r;
        r = &p->fast_reallocs[p->nfast_reallocs++];
        *r = (struct fast_realloc){ .pair = ticket + 1, .stack_id = STACK_NONE };
        mt_addr old = call.args[0];
        enum free_verdict verdict;
        int err = judge(ctx, p, rec, fn, allocator, old, &verdict, &stack);
        if (err)
            return err;
        bool ok = verdict == FREE_OK;
        if (!hooks_wants_stack(ctx, p, hooks_requested_size(&call)) && stack == STACK_NONE)
            r->stack_id = STACK_NONE;
        else
            r->stack_id = stack != STACK_NONE ? stack : record_stack(ctx, p, rec);
        if (ok && old)
            r->taken = alloc_model_realloc_begin(model, old, r->stack_id, &r->old);
        return 0;
    }
    uint64_t size = hooks_requested_size(&call);
    mt_addr out = fn == FN_POSIX_MEMALIGN ? fast_rec_u64(rec, FAST_REC_BLOCK)
                                          : fast_rec_u64(rec, FAST_REC_RET);
    if (fn == FN_POSIX_MEMALIGN && fast_rec_u64(rec, FAST_REC_RET) != 0)
        out = 0;
    if (is_realloc) {
        struct fast_realloc *r = find_realloc(p, fast_rec_u64(rec, FAST_REC_PAIR));
        struct fast_realloc done = r ? *r : (struct fast_realloc){ .stack_id = STACK_NONE };
        if (r)
            *r = p->fast_reallocs[--p->nfast_reallocs];
        if (out == 0) {
            /* realloc(p, 0) freed p; any other failure left it alone. */
            return done.taken && size != 0 ? alloc_model_realloc_undo(model, &done.old) : 0;
        }
        call.stack_id = done.stack_id;
    } else if (phase & FAST_PHASE_WRAPPED) {
        struct pending_call *marker;
        struct thread *owner;
        struct fast_new *n = new_of(p, rec, &marker, &owner);
        if (n) {
            /* operator new's malloc: new's block, with new's stack. */
            n->used = true;
            fn = (enum alloc_fn)n->fn;
            call.stack_id = n->stack_id;
            if (out)
                forget_new(p, (unsigned)(n - p->fast_news));
        } else if (marker) {
            /* ... of an operator new left on a breakpoint. */
            marker->used = true;
            fn = marker->fn;
            call.stack_id = marker->stack_id;
            if (out)
                owner->npending--;
        } else if (out && hooks_wants_stack(ctx, p, size)) {
            call.stack_id = record_stack(ctx, p, rec);
        }
    } else if (out && hooks_wants_stack(ctx, p, size)) {
        call.stack_id = record_stack(ctx, p, rec);
    }
    /* malloc is the call others make, never one that makes another (and
     * the most frequent: no lookup for it). */
    struct block *made = out && !is_realloc && fn != FN_MALLOC
                             ? alloc_table_get(&model->live, out) : NULL;
    if (made) {
        /* A call that another entry point made the block for, recorded
         * first: an allocator library's new and its malloc, musl's
         * posix_memalign and its aligned_alloc, a calloc made of malloc.
         * One block, the outer call's, counted once. */
        made->fn = fn;
        made->alloc_stack = call.stack_id;
        return 0;
    }
    struct alloc_event ev = { .fn = fn, .tid = p->pid, .size = size, .stack_id = call.stack_id,
                              .ptr_out = out, .time_ns = mt_now_ns(), .allocator = allocator };
    return alloc_model_apply(model, &ev);
}

int hooks_drain_fast(const struct trap_ctx *ctx, struct process *p, bool stopped)
{
    struct fast_ring *fr = &p->fast_ring;
    uint64_t waits = fast_ring_full_waits(fr), cut = fr->cut_short;
    ctx->stats->fast_full_waits += waits - fr->full_waits_seen;
    fr->full_waits_seen = waits;
    if (p->nfast_unqueued)
        flush_unqueued(p);
    /* Only what was written before the drain began: threads that write
     * faster than memtrace applies would keep it here for ever, deaf to its
     * deadline, its signals and the program's stops. */
    uint64_t end = fr->read + fast_ring_pending(fr);
    uint64_t began = end > fr->read ? mt_now_ns() : 0;
    const uint8_t *rec;
    unsigned since_wake = 0;
    int err = 0;
    while (fr->read < end && (rec = fast_ring_peek(fr, stopped))) {
        err = apply_record(ctx, p, rec, fr->read);
        fast_ring_pop(fr);
        ctx->stats->fast_events++;
        if (err)
            break;
        /* Threads sleeping on a full ring go on once there is room. */
        if (++since_wake == 64) {
            fast_ring_publish(fr);
            since_wake = 0;
        }
    }
    fast_ring_publish(fr);
    ctx->stats->fast_cut_short += fr->cut_short - cut;
    if (began) {
        /* Kept in ns between drains: most take a few µs. */
        fr->apply_ns += mt_now_ns() - began;
        ctx->stats->fast_apply_us += fr->apply_ns / 1000;
        fr->apply_ns %= 1000;
    }
    return err;
}
