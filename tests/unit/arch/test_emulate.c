/* emulate: stepping over a displaced instruction on made-up registers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include "emulate.h"

#define PC 0x7ffff7e5a0c0ULL
#define STACK 0x7ffffffde000ULL
#define FLAG_RESERVED 0x002u   /* bit 1 always reads as 1 */
#define FLAG_IF 0x200u
#define ALL_ARITH (REGS_FLAG_CF | REGS_FLAG_PF | REGS_FLAG_AF | REGS_FLAG_ZF | \
                   REGS_FLAG_SF | REGS_FLAG_OF)

/* Registers with a distinct value in each, interrupts enabled. */
static mt_regs sample_regs(void)
{
    mt_regs r;
    memset(&r, 0, sizeof(r));
    r.rax = 0x1111111111111111; r.rbx = 0x2222222222222222; r.rcx = 0x3333333333333333;
    r.rdx = 0x4444444444444444; r.rsi = 0x5555555555555555; r.rdi = 0x6666666666666666;
    r.rbp = 0x7777777777777777; r.rsp = STACK;
    r.r8 = 0x88; r.r9 = 0x99; r.r10 = 0x1010; r.r11 = 0x1111;
    r.r12 = 0x000055555555c2a0; r.r13 = 0x1313; r.r14 = 0x1414; r.r15 = 0x1515;
    r.rip = PC;
    r.eflags = FLAG_RESERVED | FLAG_IF;
    r.cs = 0x33; r.ss = 0x2b;
    return r;
}

static struct step_plan plan(enum step_kind kind, uint8_t len)
{
    struct step_plan p = { .kind = kind, .len = len, .op_bytes = 8,
                           .dst = MT_REG_NONE, .src = MT_REG_NONE };
    return p;
}

static struct step_plan test_plan(enum mt_reg dst, enum mt_reg src, uint8_t op_bytes)
{
    struct step_plan p = plan(STEP_TEST, op_bytes == 8 ? 3 : 2);
    p.dst = dst;
    p.src = src;
    p.op_bytes = op_bytes;
    return p;
}

static struct step_plan mov_plan(enum mt_reg dst, enum mt_reg src, uint8_t op_bytes)
{
    struct step_plan p = plan(STEP_MOV, 3);
    p.dst = dst;
    p.src = src;
    p.op_bytes = op_bytes;
    return p;
}

static struct step_plan sub_rsp_plan(int64_t imm)
{
    struct step_plan p = plan(STEP_SUB_RSP, 4);
    p.imm = imm;
    return p;
}

/* Runs the step, expecting success and no stack store. */
static void step(const struct step_plan *p, mt_regs *r, uint64_t stack_top)
{
    struct stack_store store = { .valid = true, .addr = 1, .value = 1 };
    assert_int_equal(emulate_step(p, r, PC, stack_top, &store), 0);
    assert_false(store.valid);
}

/* Flags of "test dst,src" on a value, starting with every arithmetic flag set.
 * AF is undefined after TEST (Intel SDM), so it is masked out. */
static uint64_t flags_after_test(uint64_t value, uint8_t op_bytes)
{
    mt_regs r = sample_regs();
    r.rdi = value;
    r.eflags |= ALL_ARITH;
    struct step_plan p = test_plan(MT_RDI, MT_RDI, op_bytes);
    step(&p, &r, 0);
    assert_int_equal(r.rdi, value);           /* TEST writes no register */
    assert_int_equal(r.rip, PC + p.len);
    return r.eflags & ~(uint64_t)REGS_FLAG_AF;
}

/* Flags of "sub rsp,imm" from rsp, starting with the given arithmetic flags. */
static uint64_t flags_after_sub_rsp(uint64_t rsp, int64_t imm, uint64_t start_flags)
{
    mt_regs r = sample_regs();
    r.rsp = rsp;
    r.eflags = FLAG_RESERVED | FLAG_IF | start_flags;
    struct step_plan p = sub_rsp_plan(imm);
    step(&p, &r, 0);
    assert_int_equal(r.rsp, rsp - (uint64_t)imm);
    return r.eflags;
}

static void test_skip_advances_rip_only(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = plan(STEP_SKIP, 4);   /* endbr64 */
    step(&p, &r, 0);
    want.rip = PC + 4;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_push_r12_stores_below_rsp(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = plan(STEP_PUSH, 2);
    p.src = MT_R12;
    struct stack_store store;
    assert_int_equal(emulate_step(&p, &r, PC, 0, &store), 0);

    assert_true(store.valid);
    assert_int_equal(store.addr, STACK - 8);
    assert_int_equal(store.value, 0x000055555555c2a0);
    want.rsp = STACK - 8;
    want.rip = PC + 2;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_push_rsp_stores_the_old_rsp(void **state)
{
    (void)state;
    mt_regs r = sample_regs();
    struct step_plan p = plan(STEP_PUSH, 1);
    p.src = MT_RSP;
    struct stack_store store;
    assert_int_equal(emulate_step(&p, &r, PC, 0, &store), 0);
    assert_int_equal(store.addr, STACK - 8);
    assert_int_equal(store.value, STACK);
    assert_int_equal(r.rsp, STACK - 8);
}

static void test_test_of_zero_sets_zf_and_pf(void **state)
{
    (void)state;
    /* ZF=1 PF=1 (zero bits set is even), CF=OF=SF=0. */
    assert_int_equal(flags_after_test(0, 8),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_ZF | REGS_FLAG_PF);
}

static void test_test_of_negative_sets_sf(void **state)
{
    (void)state;
    /* Low byte 0x01 has one bit set: PF=0. */
    assert_int_equal(flags_after_test(0x8000000000000001ULL, 8),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_SF);
}

static void test_test_of_positive_clears_flags(void **state)
{
    (void)state;
    /* 0x03: two bits set, PF=1. */
    assert_int_equal(flags_after_test(0x0000000000000103ULL, 8),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_PF);
}

static void test_test_32_bit_ignores_high_half(void **state)
{
    (void)state;
    /* test edi,edi: the high 32 bits do not count. */
    assert_int_equal(flags_after_test(0xffffffff00000000ULL, 4),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_ZF | REGS_FLAG_PF);
}

static void test_test_32_bit_sign_is_bit_31(void **state)
{
    (void)state;
    assert_int_equal(flags_after_test(0x0000000080000000ULL, 4),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_SF | REGS_FLAG_PF);
    /* The same value tested as 64 bits is positive. */
    assert_int_equal(flags_after_test(0x0000000080000000ULL, 8),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_PF);
}

static void test_test_8_and_16_bit_operands(void **state)
{
    (void)state;
    assert_int_equal(flags_after_test(0x100, 1),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_ZF | REGS_FLAG_PF);
    assert_int_equal(flags_after_test(0x18001, 2),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_SF);
}

static void test_test_of_two_registers_uses_their_and(void **state)
{
    (void)state;
    mt_regs r = sample_regs();
    r.rdi = 0xf0;
    r.rsi = 0x0f;
    struct step_plan p = test_plan(MT_RDI, MT_RSI, 8);
    step(&p, &r, 0);
    assert_int_equal(r.eflags, FLAG_RESERVED | FLAG_IF | REGS_FLAG_ZF | REGS_FLAG_PF);
}

static void test_mov_64_copies_register(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = mov_plan(MT_RBP, MT_RSP, 8);   /* mov rbp,rsp */
    step(&p, &r, 0);
    want.rbp = STACK;
    want.rip = PC + 3;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_mov_32_zero_extends(void **state)
{
    (void)state;
    mt_regs r = sample_regs();
    r.rax = 0xffffffffffffffffULL;
    r.rdi = 0x1122334455667788ULL;
    struct step_plan p = mov_plan(MT_RAX, MT_RDI, 4);   /* mov eax,edi */
    step(&p, &r, 0);
    assert_int_equal(r.rax, 0x0000000055667788ULL);
    assert_int_equal(r.rdi, 0x1122334455667788ULL);
}

static void test_mov_16_and_8_keep_upper_bits(void **state)
{
    (void)state;
    mt_regs r = sample_regs();
    r.rax = 0xffffffffffffffffULL;
    r.rdi = 0x1122334455667788ULL;
    struct step_plan p = mov_plan(MT_RAX, MT_RDI, 2);   /* mov ax,di */
    step(&p, &r, 0);
    assert_int_equal(r.rax, 0xffffffffffff7788ULL);

    r.rax = 0xffffffffffffffffULL;
    p = mov_plan(MT_RAX, MT_RDI, 1);                     /* mov al,dil */
    step(&p, &r, 0);
    assert_int_equal(r.rax, 0xffffffffffffff88ULL);
}

static void test_mov_and_push_leave_flags_alone(void **state)
{
    (void)state;
    mt_regs r = sample_regs();
    r.eflags = FLAG_RESERVED | FLAG_IF | REGS_FLAG_CF | REGS_FLAG_ZF;
    struct step_plan p = mov_plan(MT_RBP, MT_RSP, 8);
    step(&p, &r, 0);
    assert_int_equal(r.eflags, FLAG_RESERVED | FLAG_IF | REGS_FLAG_CF | REGS_FLAG_ZF);

    struct stack_store store;
    p = plan(STEP_PUSH, 1);
    p.src = MT_RBP;
    assert_int_equal(emulate_step(&p, &r, PC, 0, &store), 0);
    assert_int_equal(r.eflags, FLAG_RESERVED | FLAG_IF | REGS_FLAG_CF | REGS_FLAG_ZF);
}

static void test_sub_rsp_0x18(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    r.eflags |= REGS_FLAG_CF | REGS_FLAG_ZF | REGS_FLAG_SF | REGS_FLAG_OF;
    struct step_plan p = sub_rsp_plan(0x18);
    step(&p, &r, 0);
    /* 0x...e000 - 0x18 = 0x...dfe8: borrow out of bit 3 (AF=1), no carry
     * (CF=0), 0xe8 has four bits set (PF=1), positive, no overflow. */
    want.rsp = STACK - 0x18;
    want.rip = PC + 4;
    want.eflags = FLAG_RESERVED | FLAG_IF | REGS_FLAG_AF | REGS_FLAG_PF;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_sub_rsp_without_nibble_borrow(void **state)
{
    (void)state;
    /* 0x1008 - 8 = 0x1000: AF=0, PF=1 (0x00), ZF=0. */
    assert_int_equal(flags_after_sub_rsp(0x7ffffffde008ULL, 8, ALL_ARITH),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_PF);
}

static void test_sub_rsp_to_zero(void **state)
{
    (void)state;
    assert_int_equal(flags_after_sub_rsp(0x18, 0x18, 0),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_ZF | REGS_FLAG_PF);
}

static void test_sub_rsp_with_borrow(void **state)
{
    (void)state;
    /* 0x10 - 0x20 = 0xfffffffffffffff0: CF=1, SF=1, PF=1 (0xf0), AF=0, OF=0. */
    assert_int_equal(flags_after_sub_rsp(0x10, 0x20, 0),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_CF | REGS_FLAG_SF | REGS_FLAG_PF);
}

static void test_sub_rsp_with_signed_overflow(void **state)
{
    (void)state;
    /* INT64_MIN - 1 = INT64_MAX: OF=1, AF=1 (0x0 - 0x1), PF=1 (0xff). */
    assert_int_equal(flags_after_sub_rsp(0x8000000000000000ULL, 1, 0),
                     FLAG_RESERVED | FLAG_IF | REGS_FLAG_OF | REGS_FLAG_AF | REGS_FLAG_PF);
}

static void test_ret_pops_return_address(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = plan(STEP_RET, 1);
    step(&p, &r, 0x401234);
    want.rip = 0x401234;
    want.rsp = STACK + 8;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_jmp_goes_to_target(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = plan(STEP_JMP, 5);
    p.target = 0x7ffff7e5b000ULL;
    step(&p, &r, 0);
    want.rip = 0x7ffff7e5b000ULL;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_out_of_line_goes_to_scratch_slot(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = plan(STEP_OUT_OF_LINE, 7);
    p.target = 0x7ffff7ff0040ULL;
    step(&p, &r, 0);
    want.rip = 0x7ffff7ff0040ULL;
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_unknown_plan_is_rejected(void **state)
{
    (void)state;
    mt_regs r = sample_regs(), want = sample_regs();
    struct step_plan p = plan((enum step_kind)99, 1);
    struct stack_store store;
    assert_int_equal(emulate_step(&p, &r, PC, 0, &store), -1);
    assert_false(store.valid);
    assert_memory_equal(&r, &want, sizeof(r));
}

static void test_step_kind_names(void **state)
{
    (void)state;
    assert_string_equal(step_kind_name(STEP_SKIP), "skip");
    assert_string_equal(step_kind_name(STEP_PUSH), "push");
    assert_string_equal(step_kind_name(STEP_SUB_RSP), "sub-rsp");
    assert_string_equal(step_kind_name(STEP_OUT_OF_LINE), "out-of-line");
    assert_string_equal(step_kind_name((enum step_kind)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_advances_rip_only),
        cmocka_unit_test(test_push_r12_stores_below_rsp),
        cmocka_unit_test(test_push_rsp_stores_the_old_rsp),
        cmocka_unit_test(test_test_of_zero_sets_zf_and_pf),
        cmocka_unit_test(test_test_of_negative_sets_sf),
        cmocka_unit_test(test_test_of_positive_clears_flags),
        cmocka_unit_test(test_test_32_bit_ignores_high_half),
        cmocka_unit_test(test_test_32_bit_sign_is_bit_31),
        cmocka_unit_test(test_test_8_and_16_bit_operands),
        cmocka_unit_test(test_test_of_two_registers_uses_their_and),
        cmocka_unit_test(test_mov_64_copies_register),
        cmocka_unit_test(test_mov_32_zero_extends),
        cmocka_unit_test(test_mov_16_and_8_keep_upper_bits),
        cmocka_unit_test(test_mov_and_push_leave_flags_alone),
        cmocka_unit_test(test_sub_rsp_0x18),
        cmocka_unit_test(test_sub_rsp_without_nibble_borrow),
        cmocka_unit_test(test_sub_rsp_to_zero),
        cmocka_unit_test(test_sub_rsp_with_borrow),
        cmocka_unit_test(test_sub_rsp_with_signed_overflow),
        cmocka_unit_test(test_ret_pops_return_address),
        cmocka_unit_test(test_jmp_goes_to_target),
        cmocka_unit_test(test_out_of_line_goes_to_scratch_slot),
        cmocka_unit_test(test_unknown_plan_is_rejected),
        cmocka_unit_test(test_step_kind_names),
    };
    return cmocka_run_group_tests_name("emulate", tests, NULL, NULL);
}
