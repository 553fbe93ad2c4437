/* Where a trap becomes an allocation event, against a fake target: a malloc
 * entry leaves a pending call and a return stub, the stub's record drained
 * makes the block; free of an unknown pointer is reported and skipped; a
 * tail jump between hooked functions is the allocator's business; a longjmp
 * past pending calls prunes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "fake_remote.h"
#include "hooks.h"

#define TID 0x7ffffff0             /* above pid_max: no real process */
#define MALLOC_AT 0x7f0000001000u  /* "libc" text */
#define FREE_AT 0x7f0000002000u
#define LIBC_LO 0x7f0000000000u
#define LIBC_HI 0x7f0000100000u
#define CALLER 0x401234u           /* the program's code */
#define SCRATCH 0x7f0000200000u
#define STACK 0x7ffe0000u
#define SP (STACK + 0x1000)

struct fixture {
    struct fake_target f;
    struct process *p;
    struct thread *t;
    struct trap_stats stats;
    struct stack_snapshot snap;
    struct trap_ctx ctx;
    struct breakpoint malloc_bp, free_bp;
    unsigned errors_seen;
};

static void on_error(void *arg, struct process *p, const struct alloc_error *err)
{
    (void)p;
    (void)err;
    ((struct fixture *)arg)->errors_seen++;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fake_init(&fx->f);
    fake_map(&fx->f, MALLOC_AT, 2 * FAKE_PAGE, true);
    fake_map(&fx->f, SCRATCH, 2 * SCRATCH_PAGE, true);   /* trampoline, slots, stub code */
    fake_map(&fx->f, SCRATCH + 2 * SCRATCH_PAGE, SCRATCH_PAGE, false);   /* stub records */
    fake_map(&fx->f, STACK, 2 * FAKE_PAGE, false);
    static const uint8_t push_r12[] = { 0x41, 0x54 }, test_rdi[] = { 0x48, 0x85, 0xff };
    fake_put(&fx->f, MALLOC_AT, push_r12, sizeof(push_r12));
    fake_put(&fx->f, FREE_AT, test_rdi, sizeof(test_rdi));
    char *argv[] = { "fake", NULL };
    fx->p = process_create(TID, argv);
    assert_non_null(fx->p);
    fx->p->remote = &fx->f.remote;
    fx->p->scratch = (struct scratch){ .base = SCRATCH, .trampoline = SCRATCH,
                                       .next_slot = SCRATCH + 64,
                                       .stubs_code = SCRATCH + SCRATCH_PAGE,
                                       .stubs_data = SCRATCH + 2 * SCRATCH_PAGE };
    return_stubs_init(&fx->p->stubs, fx->p->scratch.stubs_code, fx->p->scratch.stubs_data);
    fx->t = process_add_thread(fx->p, TID);
    assert_non_null(fx->t);
    char why[256];
    fx->malloc_bp = (struct breakpoint){ .addr = MALLOC_AT, .role = BP_HOOK_ENTRY,
                                         .tag = FN_MALLOC, .module_text_lo = LIBC_LO,
                                         .module_text_hi = LIBC_HI, .alloc_text_lo = LIBC_LO,
                                         .alloc_text_hi = LIBC_HI };
    fx->free_bp = fx->malloc_bp;
    fx->free_bp.addr = FREE_AT;
    fx->free_bp.tag = FN_FREE;
    assert_int_equal(bp_plant(&fx->p->bps, fx->p->remote, TID, &fx->p->scratch, &fx->malloc_bp,
                              why, sizeof(why)), 0);
    assert_int_equal(bp_plant(&fx->p->bps, fx->p->remote, TID, &fx->p->scratch, &fx->free_bp,
                              why, sizeof(why)), 0);
    fx->ctx = (struct trap_ctx){ .depth = 16, .stats = &fx->stats, .snap = &fx->snap,
                                 .on_error = on_error, .on_error_arg = fx };
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    process_destroy(fx->p);
    fake_destroy(&fx->f);
    free(fx);
    return 0;
}

/* A thread arriving at bp's int3 called from `from` with rsp = sp. */
static mt_regs call_into(struct fixture *fx, mt_addr at, mt_addr sp, mt_addr from, uint64_t arg1)
{
    fake_put_u64(&fx->f, sp, from);
    return (mt_regs){ .rip = at + 1, .rsp = sp, .rdi = arg1, .r12 = 0x1212 };
}

static int enter(struct fixture *fx, const struct breakpoint *bp, mt_regs *regs)
{
    return hooks_on_entry(&fx->ctx, fx->t, bp_find(&fx->p->bps, bp->addr), regs);
}

/* What a return stub does when the call returns: record value, then seq. */
static void stub_returns(struct fixture *fx, int stub, uint64_t value, uint64_t seq)
{
    mt_addr rec = fx->p->scratch.stubs_data + RETURN_STUB_RECORDS_OFFSET +
                  (mt_addr)stub * RETURN_STUB_RECORD_SIZE;
    fake_put_u64(&fx->f, rec + offsetof(struct return_stub_record, value), value);
    fake_put_u64(&fx->f, rec + offsetof(struct return_stub_record, seq), seq);
}

static void test_malloc_entry_stub_drain_block(void **state)
{
    struct fixture *fx = *state;
    mt_regs regs = call_into(fx, MALLOC_AT, SP, CALLER, 100);
    assert_int_equal(enter(fx, &fx->malloc_bp, &regs), 0);
    /* push r12 emulated: rsp moved, r12 stored, the return slot redirected. */
    assert_int_equal(regs.rip, MALLOC_AT + 2);
    assert_int_equal(regs.rsp, SP - 8);
    assert_int_equal(fake_u64(&fx->f, SP - 8), 0x1212);
    assert_int_equal(fx->t->npending, 1);
    const struct pending_call *c = &fx->t->pending[0];
    assert_int_equal(c->fn, FN_MALLOC);
    assert_int_equal(c->args[0], 100);
    assert_int_equal(c->return_addr, CALLER);
    assert_int_equal(c->entry_sp, SP);
    assert_int_equal(c->stub, 0);
    assert_int_equal(fake_u64(&fx->f, SP), fx->p->scratch.stubs_code);
    assert_int_equal(fx->stats.entry_traps, 1);
    assert_true(c->stack_id != STACK_NONE);

    /* Not returned yet: draining completes nothing. */
    assert_int_equal(hooks_drain_returns(&fx->ctx, fx->p, TID, false), 0);
    assert_int_equal(fx->t->npending, 1);
    stub_returns(fx, 0, 0x5000, 1);
    assert_int_equal(hooks_drain_returns(&fx->ctx, fx->p, TID, false), 0);
    assert_int_equal(fx->t->npending, 0);
    assert_int_equal(fx->stats.stub_returns, 1);
    assert_int_equal(fx->p->stubs.nused, 0);
    const struct block *b = alloc_table_get(&fx->p->model.live, 0x5000);
    assert_non_null(b);
    assert_int_equal(b->size, 100);
    assert_int_equal(fx->p->model.allocations, 1);

    /* free of it: gone from the model, no error, the call runs. */
    regs = call_into(fx, FREE_AT, SP, CALLER + 8, 0x5000);
    assert_int_equal(enter(fx, &fx->free_bp, &regs), 0);
    assert_null(alloc_table_get(&fx->p->model.live, 0x5000));
    assert_int_equal(fx->p->model.frees, 1);
    assert_int_equal(regs.rip, FREE_AT + 3);
    assert_int_equal(fx->errors_seen, 0);
}

static void test_free_of_unknown_pointer_is_skipped(void **state)
{
    struct fixture *fx = *state;
    mt_regs regs = call_into(fx, FREE_AT, SP, CALLER, 0x9990);
    assert_int_equal(enter(fx, &fx->free_bp, &regs), 0);
    assert_int_equal(fx->errors_seen, 1);
    assert_int_equal(fx->p->model.nerrors, 1);
    assert_int_equal(fx->p->model.errors[0].kind, ERR_INVALID_FREE);
    assert_int_equal(fx->p->model.errors[0].addr, 0x9990);
    /* Skipped: the thread is back at its caller as if free had returned. */
    assert_int_equal(regs.rip, CALLER);
    assert_int_equal(regs.rsp, SP + 8);
    assert_int_equal(regs.rax, 0);
    /* The same pointer freed from inside the allocator is housekeeping. */
    regs = call_into(fx, FREE_AT, SP, LIBC_LO + 0x500, 0x9990);
    assert_int_equal(enter(fx, &fx->free_bp, &regs), 0);
    assert_int_equal(fx->errors_seen, 1);
    assert_int_equal(fx->stats.allocator_frees, 1);
    assert_int_equal(regs.rip, FREE_AT + 3);
}

static void test_tail_jump_is_the_allocators(void **state)
{
    struct fixture *fx = *state;
    mt_regs regs = call_into(fx, MALLOC_AT, SP, CALLER, 64);
    assert_int_equal(enter(fx, &fx->malloc_bp, &regs), 0);
    assert_int_equal(fx->t->npending, 1);
    /* realloc(NULL, n) jumping into malloc: its return slot already holds
     * the stub; no second call is recorded. */
    mt_regs again = call_into(fx, MALLOC_AT, SP, fx->p->scratch.stubs_code, 64);
    assert_int_equal(enter(fx, &fx->malloc_bp, &again), 0);
    assert_int_equal(fx->t->npending, 1);
    assert_int_equal(fx->stats.nested_calls, 1);
    assert_int_equal(fake_u64(&fx->f, SP), fx->p->scratch.stubs_code);
}

static void test_longjmp_prunes_pending_calls(void **state)
{
    struct fixture *fx = *state;
    /* A call deep in the stack that never returns (its frame is longjmp'd
     * away, or a signal handler's malloc was abandoned). */
    mt_regs regs = call_into(fx, MALLOC_AT, SP - 0x400, CALLER, 32);
    assert_int_equal(enter(fx, &fx->malloc_bp, &regs), 0);
    assert_int_equal(fx->t->npending, 1);
    /* A new call from higher up the stack: the old one is gone. */
    regs = call_into(fx, MALLOC_AT, SP, CALLER + 16, 48);
    assert_int_equal(enter(fx, &fx->malloc_bp, &regs), 0);
    assert_int_equal(fx->t->npending, 1);
    assert_int_equal(fx->t->pending[0].args[0], 48);
    assert_int_equal(fx->t->pending[0].entry_sp, SP);
    assert_int_equal(fx->p->stubs.nused, 1);   /* the abandoned stub went back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_malloc_entry_stub_drain_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_of_unknown_pointer_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_jump_is_the_allocators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longjmp_prunes_pending_calls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
