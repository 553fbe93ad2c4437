/* Breakpoints and stepping over them against a fake target: planting and
 * reading through the overlay, refusing a foreign int3, unplanting; emulated
 * and out-of-line steps, on made-up code and on this machine's real glibc
 * entry points (copied from the test's own libc into the fake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "breakpoint.h"
#include "fake_remote.h"
#include "scratch.h"
#include "stepover.h"

#define TID 0x7ffffff0
#define CODE 0x401000u
#define SCRATCH_BASE 0x500000u
#define STACK 0x7ffe0000u

struct fixture {
    struct fake_target f;
    struct bp_table bps;
    struct scratch scratch;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fake_init(&fx->f);
    fake_map(&fx->f, CODE, FAKE_PAGE, true);
    fake_map(&fx->f, SCRATCH_BASE, FAKE_PAGE, true);
    fake_map(&fx->f, STACK, 2 * FAKE_PAGE, false);
    bp_table_init(&fx->bps);
    fx->scratch = (struct scratch){ .base = SCRATCH_BASE, .trampoline = SCRATCH_BASE,
                                    .next_slot = SCRATCH_BASE + 64 };
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    bp_table_destroy(&fx->bps);
    fake_destroy(&fx->f);
    free(fx);
    return 0;
}

static int plant(struct fixture *fx, mt_addr addr, char *why, size_t why_len)
{
    struct breakpoint bp = { .addr = addr, .role = BP_HOOK_ENTRY, .tag = 7 };
    return bp_plant(&fx->bps, &fx->f.remote, TID, &fx->scratch, &bp, why, why_len);
}

static void test_plant_overlay_unplant(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t code[] = { 0x41, 0x54,               /* push r12 */
                                    0x48, 0x89, 0xfd,         /* mov rbp, rdi */
                                    0xc3 };
    fake_put(&fx->f, CODE, code, sizeof(code));
    char why[256] = "";
    assert_int_equal(plant(fx, CODE, why, sizeof(why)), 0);
    assert_int_equal(plant(fx, CODE + 2, why, sizeof(why)), 0);
    assert_int_equal(plant(fx, CODE, why, sizeof(why)), 0);   /* again: no-op */
    assert_int_equal(fx->bps.n, 2);
    assert_int_equal(*fake_at(&fx->f, CODE), 0xcc);
    assert_int_equal(*fake_at(&fx->f, CODE + 2), 0xcc);

    const struct breakpoint *bp = bp_find(&fx->bps, CODE);
    assert_non_null(bp);
    assert_int_equal(bp->tag, 7);
    assert_int_equal(bp->step.kind, STEP_PUSH);
    assert_int_equal(bp->step.src, MT_R12);
    assert_int_equal(bp_find(&fx->bps, CODE + 2)->step.kind, STEP_MOV);
    assert_null(bp_find(&fx->bps, CODE + 1));

    uint8_t seen[sizeof(code)];
    assert_int_equal(bp_read_code(&fx->bps, &fx->f.remote, TID, CODE, seen, sizeof(seen)), 0);
    assert_memory_equal(seen, code, sizeof(code));
    /* A read starting between the two int3s sees originals too. */
    assert_int_equal(bp_read_code(&fx->bps, &fx->f.remote, TID, CODE + 1, seen, 3), 0);
    assert_memory_equal(seen, code + 1, 3);

    assert_int_equal(bp_unplant_all(&fx->bps, &fx->f.remote, TID), 0);
    assert_memory_equal(fake_at(&fx->f, CODE), code, sizeof(code));
    bp_forget_range(&fx->bps, CODE, CODE + 2);
    assert_int_equal(fx->bps.n, 1);
    assert_non_null(bp_find(&fx->bps, CODE + 2));
}

/* A program that rewrote code under one of memtrace's int3s while traced
 * (an inline hook of malloc) keeps its bytes at detach; the others are
 * restored. */
static void test_unplant_leaves_code_the_program_patched(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t code[] = { 0x41, 0x54, 0x48, 0x89, 0xfd, 0xc3 };
    fake_put(&fx->f, CODE, code, sizeof(code));
    char why[256] = "";
    assert_int_equal(plant(fx, CODE, why, sizeof(why)), 0);
    assert_int_equal(plant(fx, CODE + 2, why, sizeof(why)), 0);
    static const uint8_t jmp = 0xe9;   /* the program's own patch over the first int3 */
    fake_put(&fx->f, CODE, &jmp, 1);
    assert_int_equal(bp_unplant_all(&fx->bps, &fx->f.remote, TID), 0);
    assert_int_equal(*fake_at(&fx->f, CODE), 0xe9);
    assert_memory_equal(fake_at(&fx->f, CODE + 1), code + 1, sizeof(code) - 1);
}

static void test_foreign_int3_refused(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t code[] = { 0xcc, 0x90 };   /* a debugger's int3 */
    fake_put(&fx->f, CODE + 0x100, code, sizeof(code));
    char why[256] = "";
    assert_int_equal(plant(fx, CODE + 0x100, why, sizeof(why)), -EBUSY);
    assert_non_null(strstr(why, "already holds an int3"));
    assert_int_equal(fx->bps.n, 0);
    assert_int_equal(fx->f.pokes, 0);
    /* Unmapped code: a clear error, nothing written. */
    assert_int_equal(plant(fx, 0x900000, why, sizeof(why)), -EFAULT);
    assert_non_null(strstr(why, "cannot read code at 0x900000"));
    /* A call cannot be stepped over without a trap of its own. */
    static const uint8_t call[] = { 0xe8, 0x00, 0x01, 0x00, 0x00 };
    fake_put(&fx->f, CODE + 0x200, call, sizeof(call));
    assert_int_equal(plant(fx, CODE + 0x200, why, sizeof(why)), -ENOTSUP);
    assert_int_equal(*fake_at(&fx->f, CODE + 0x200), 0xe8);
}

static void test_emulated_push_with_redirect(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t code[] = { 0x41, 0x54 };   /* push r12 */
    fake_put(&fx->f, CODE, code, sizeof(code));
    char why[256];
    assert_int_equal(plant(fx, CODE, why, sizeof(why)), 0);
    const struct breakpoint *bp = bp_find(&fx->bps, CODE);
    mt_regs regs = { .rip = CODE + 1, .rsp = STACK + 0x800, .r12 = 0x1212 };
    fake_put_u64(&fx->f, STACK + 0x800, 0x401234);   /* the return address */
    unsigned writes = fx->f.writes;
    assert_int_equal(stepover_run(&fx->f.remote, TID, bp, &regs, 0x401234, 0x500100), 0);
    assert_int_equal(regs.rip, CODE + 2);
    assert_int_equal(regs.rsp, STACK + 0x7f8);
    assert_int_equal(fake_u64(&fx->f, STACK + 0x7f8), 0x1212);
    assert_int_equal(fake_u64(&fx->f, STACK + 0x800), 0x500100);
    assert_int_equal(fx->f.writes - writes, 1);   /* one write for both words */
}

static void test_ret_reads_the_stack(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t code[] = { 0xc3 };
    fake_put(&fx->f, CODE + 0x40, code, sizeof(code));
    char why[256];
    assert_int_equal(plant(fx, CODE + 0x40, why, sizeof(why)), 0);
    const struct breakpoint *bp = bp_find(&fx->bps, CODE + 0x40);
    assert_int_equal(bp->step.kind, STEP_RET);
    fake_put_u64(&fx->f, STACK + 0x100, 0x402000);
    mt_regs regs = { .rip = CODE + 0x41, .rsp = STACK + 0x100 };
    assert_int_equal(stepover_run_plain(&fx->f.remote, TID, bp, &regs), 0);
    assert_int_equal(regs.rip, 0x402000);
    assert_int_equal(regs.rsp, STACK + 0x108);
    /* A stack that cannot be read: the error, not a guess. */
    regs = (mt_regs){ .rip = CODE + 0x41, .rsp = 0x10 };
    assert_int_equal(stepover_run_plain(&fx->f.remote, TID, bp, &regs), -EFAULT);
}

/* The slot holds the instruction, then jmp *0(%rip) and the address after it. */
static void check_slot(struct fixture *fx, const struct breakpoint *bp)
{
    mt_addr slot = bp->step.target;
    assert_true(slot >= SCRATCH_BASE && slot < SCRATCH_BASE + FAKE_PAGE);
    static const uint8_t jmp[] = { 0xff, 0x25, 0, 0, 0, 0 };
    assert_memory_equal(fake_at(&fx->f, slot + bp->step.len), jmp, sizeof(jmp));
    assert_int_equal(fake_u64(&fx->f, slot + bp->step.len + sizeof(jmp)), bp->addr + bp->step.len);
    mt_addr orig;
    assert_int_equal(stepover_locate(&fx->bps, slot, &orig), 0);
    assert_int_equal(orig, bp->addr);
    assert_int_equal(stepover_locate(&fx->bps, slot + bp->step.len, &orig), 0);
    assert_int_equal(orig, bp->addr + bp->step.len);
    assert_int_equal(stepover_locate(&fx->bps, slot + 1, &orig), -EPROTO);
}

static void test_out_of_line_rip_relative(void **state)
{
    struct fixture *fx = *state;
    /* cmp byte [rip+0x140e71], 0: glibc 2.36's memalign entry. */
    static const uint8_t code[] = { 0x80, 0x3d, 0x71, 0x0e, 0x14, 0x00, 0x00 };
    fake_put(&fx->f, CODE + 0x80, code, sizeof(code));
    char why[256];
    assert_int_equal(plant(fx, CODE + 0x80, why, sizeof(why)), 0);
    const struct breakpoint *bp = bp_find(&fx->bps, CODE + 0x80);
    assert_int_equal(bp->step.kind, STEP_OUT_OF_LINE);
    check_slot(fx, bp);
    /* The relocated displacement reaches the same byte from the slot. */
    int32_t disp;
    memcpy(&disp, fake_at(&fx->f, bp->step.target + 2), sizeof(disp));
    assert_int_equal(bp->step.target + 7 + (int64_t)disp, CODE + 0x80 + 7 + 0x140e71);
    mt_regs regs = { .rip = CODE + 0x81, .rsp = STACK + 0x100 };
    assert_int_equal(stepover_run(&fx->f.remote, TID, bp, &regs, 0, 0), 0);
    assert_int_equal(regs.rip, bp->step.target);
    assert_int_equal(regs.rsp, STACK + 0x100);
}

/* Each hooked glibc function's real first bytes, at their real address. */
static void test_real_glibc_entries(void **state)
{
    (void)state;
    static const char *names[] = { "malloc", "free", "calloc", "realloc", "reallocarray",
                                    "posix_memalign", "aligned_alloc", "memalign", "valloc",
                                    "pvalloc", "mmap", "munmap", "mremap", "shmget", "shmat",
                                    "shmdt", "shmctl" };
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(libc);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const uint8_t *fn = dlsym(libc, names[i]);
        assert_non_null(fn);
        struct fake_target f;
        fake_init(&f);
        mt_addr addr = (mt_addr)fn;
        fake_map(&f, addr, 2 * FAKE_PAGE, true);
        fake_put(&f, addr, fn, 32);
        mt_addr scratch_at = (addr & ~(mt_addr)(FAKE_PAGE - 1)) + 0x100000;
        fake_map(&f, scratch_at, FAKE_PAGE, true);
        fake_map(&f, STACK, FAKE_PAGE, false);
        struct bp_table bps;
        bp_table_init(&bps);
        struct scratch sc = { .base = scratch_at, .next_slot = scratch_at + 64 };
        struct breakpoint bp = { .addr = addr, .role = BP_HOOK_ENTRY };
        char why[256] = "";
        int err = bp_plant(&bps, &f.remote, TID, &sc, &bp, why, sizeof(why));
        if (err)
            fail_msg("%s: %s", names[i], why);
        const struct breakpoint *got = bp_find(&bps, addr);
        assert_int_equal(*fake_at(&f, addr), 0xcc);
        mt_regs regs = { .rip = addr + 1, .rsp = STACK + 0x800 };
        fake_put_u64(&f, STACK + 0x800, 0x401234);
        assert_int_equal(stepover_run_plain(&f.remote, TID, got, &regs), 0);
        if (got->step.kind == STEP_OUT_OF_LINE) {
            assert_int_equal(regs.rip, got->step.target);
            assert_int_equal(fake_u64(&f, got->step.target + got->step.len + 6), addr + got->step.len);
        } else if (got->step.kind != STEP_JMP) {
            assert_int_equal(regs.rip, addr + got->step.len);
        }
        printf("    %-15s %-12s %u bytes\n", names[i], step_kind_name(got->step.kind),
               got->step.len);
        assert_int_equal(bp_unplant_all(&bps, &f.remote, TID), 0);
        assert_memory_equal(fake_at(&f, addr), fn, 16);
        bp_table_destroy(&bps);
        fake_destroy(&f);
    }
    dlclose(libc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plant_overlay_unplant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unplant_leaves_code_the_program_patched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_foreign_int3_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emulated_push_with_redirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ret_reads_the_stack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_line_rip_relative, setup, teardown),
        cmocka_unit_test(test_real_glibc_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
