/* insn: the step plan for the instruction an int3 displaces, and the
 * out-of-line slot it runs from. Expected plans are derived from the
 * encodings here, not from capstone; capstone is used only to decode the
 * generated slots back. Relocated slots are also run for real, and the
 * entries of this machine's glibc are planned from the file's bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <capstone/capstone.h>
#include <gelf.h>
#include <libelf.h>

#include "emulate.h"
#include "insn.h"

#define ADDR 0x7ffff7e5a0c0ULL   /* where the displaced instruction "is" */
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

/* x86 register number (ModRM/opcode encoding, REX bit 3 included) to mt_reg. */
static const enum mt_reg ENC[16] = {
    MT_RAX, MT_RCX, MT_RDX, MT_RBX, MT_RSP, MT_RBP, MT_RSI, MT_RDI,
    MT_R8, MT_R9, MT_R10, MT_R11, MT_R12, MT_R13, MT_R14, MT_R15,
};

/* Names by mt_reg and operand size, for checking capstone's text. */
static const char *const REG_NAME[16][4] = {
    [MT_RAX] = { "rax", "eax", "ax", "al" },     [MT_RBX] = { "rbx", "ebx", "bx", "bl" },
    [MT_RCX] = { "rcx", "ecx", "cx", "cl" },     [MT_RDX] = { "rdx", "edx", "dx", "dl" },
    [MT_RSI] = { "rsi", "esi", "si", "sil" },    [MT_RDI] = { "rdi", "edi", "di", "dil" },
    [MT_RBP] = { "rbp", "ebp", "bp", "bpl" },    [MT_RSP] = { "rsp", "esp", "sp", "spl" },
    [MT_R8] = { "r8", "r8d", "r8w", "r8b" },     [MT_R9] = { "r9", "r9d", "r9w", "r9b" },
    [MT_R10] = { "r10", "r10d", "r10w", "r10b" }, [MT_R11] = { "r11", "r11d", "r11w", "r11b" },
    [MT_R12] = { "r12", "r12d", "r12w", "r12b" }, [MT_R13] = { "r13", "r13d", "r13w", "r13b" },
    [MT_R14] = { "r14", "r14d", "r14w", "r14b" }, [MT_R15] = { "r15", "r15d", "r15w", "r15b" },
};

static const char *reg_name(enum mt_reg r, unsigned bytes)
{
    assert_true(r >= MT_RAX && r <= MT_R15);
    return REG_NAME[r][bytes == 8 ? 0 : bytes == 4 ? 1 : bytes == 2 ? 2 : 3];
}

static struct step_plan want(enum step_kind kind, uint8_t len)
{
    struct step_plan p;
    memset(&p, 0, sizeof(p));
    p.kind = kind;
    p.len = len;
    p.dst = p.src = MT_REG_NONE;
    return p;
}

static struct step_plan plan_ok(const uint8_t *code, size_t avail, mt_addr addr)
{
    struct step_plan p;
    memset(&p, 0x5a, sizeof(p));
    char why[256] = "";
    int rc = insn_plan_step(code, avail, addr, &p, why, sizeof(why));
    if (rc != 0)
        fail_msg("plan of %02x %02x...: rc %d (%s)", code[0], avail > 1 ? code[1] : 0, rc, why);
    return p;
}

/* Every field of an emulated plan is exact. */
static void expect_emulated(const uint8_t *code, size_t avail, struct step_plan w)
{
    struct step_plan p = plan_ok(code, avail, ADDR);
    assert_int_equal(p.kind, w.kind);
    assert_int_equal(p.len, w.len);
    assert_int_equal(p.op_bytes, w.op_bytes);
    assert_int_equal(p.dst, w.dst);
    assert_int_equal(p.src, w.src);
    assert_int_equal(p.imm, w.imm);
    assert_int_equal(p.target, w.target);
}

/* An out-of-line plan: kind, length, and target left 0 for the caller. Its
 * register fields are not part of the contract (see the report). */
static void expect_out_of_line(const uint8_t *code, size_t avail, uint8_t len)
{
    struct step_plan p = plan_ok(code, avail, ADDR);
    assert_int_equal(p.kind, STEP_OUT_OF_LINE);
    assert_int_equal(p.len, len);
    assert_int_equal(p.imm, 0);
    assert_int_equal(p.target, 0);
}

static void expect_refused(const uint8_t *code, size_t avail)
{
    struct step_plan p;
    char why[256];
    memset(why, 0, sizeof(why));
    int rc = insn_plan_step(code, avail, ADDR, &p, why, sizeof(why));
    if (rc != -1)
        fail_msg("%02x %02x... (%zu bytes) planned as %s len %u", avail ? code[0] : 0,
                 avail > 1 ? code[1] : 0, avail, step_kind_name(p.kind), p.len);
    /* The reason names the address. */
    assert_non_null(strstr(why, "0x7ffff7e5a0c0"));
}

/* ---- emulated classes ------------------------------------------------- */

static void test_endbr64_and_nops_are_skipped(void **state)
{
    (void)state;
    expect_emulated(BYTES(0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x54), want(STEP_SKIP, 4));   /* endbr64 */
    expect_emulated(BYTES(0x90, 0x55), want(STEP_SKIP, 1));
    expect_emulated(BYTES(0x66, 0x90), want(STEP_SKIP, 2));                   /* xchg ax,ax */
    expect_emulated(BYTES(0x48, 0x90), want(STEP_SKIP, 2));                   /* xchg rax,rax */
    expect_emulated(BYTES(0x0f, 0x1f, 0x00), want(STEP_SKIP, 3));
    expect_emulated(BYTES(0x0f, 0x1f, 0x40, 0x00), want(STEP_SKIP, 4));
    expect_emulated(BYTES(0x0f, 0x1f, 0x44, 0x00, 0x00), want(STEP_SKIP, 5));
    expect_emulated(BYTES(0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00), want(STEP_SKIP, 6));
    expect_emulated(BYTES(0x0f, 0x1f, 0x80, 0, 0, 0, 0), want(STEP_SKIP, 7));
    expect_emulated(BYTES(0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0), want(STEP_SKIP, 8));
    expect_emulated(BYTES(0x66, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0), want(STEP_SKIP, 9));
    expect_emulated(BYTES(0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0), want(STEP_SKIP, 10));
    /* A nop's memory operand is never accessed, RIP-relative or not. */
    expect_emulated(BYTES(0x0f, 0x1f, 0x05, 0x01, 0x02, 0x03, 0x04), want(STEP_SKIP, 7));
    /* Look-alikes that are not nops. */
    expect_out_of_line(BYTES(0x41, 0x90), 2);    /* xchg eax, r8d */
    expect_out_of_line(BYTES(0x49, 0x90), 2);    /* xchg rax, r8 */
    expect_out_of_line(BYTES(0x87, 0xc0), 2);    /* xchg eax,eax zero-extends rax */
    expect_out_of_line(BYTES(0xf3, 0x90), 2);    /* pause */
}

static void test_push_of_every_64bit_register(void **state)
{
    (void)state;
    for (unsigned enc = 0; enc < 16; enc++) {
        uint8_t code[3] = { 0 };
        size_t n = 0;
        if (enc >= 8)
            code[n++] = 0x41;                 /* REX.B */
        code[n++] = (uint8_t)(0x50 + (enc & 7));
        code[n] = 0xcc;
        if (ENC[enc] == MT_RSP) {
            expect_out_of_line(code, n + 1, 1);   /* push rsp stays out of line */
            continue;
        }
        struct step_plan w = want(STEP_PUSH, (uint8_t)n);
        w.src = ENC[enc];
        expect_emulated(code, n + 1, w);
    }
    struct step_plan w = want(STEP_PUSH, 2);
    w.src = MT_RBP;
    expect_emulated(BYTES(0x48, 0x55), w);                 /* REX.W push rbp */
    w = want(STEP_PUSH, 2);
    w.src = MT_R15;
    expect_emulated(BYTES(0x49, 0x57), w);                 /* REX.WB push r15 */
    expect_out_of_line(BYTES(0x66, 0x41, 0x54), 3);        /* push r12w: 2 bytes */
    expect_out_of_line(BYTES(0x66, 0x55), 2);              /* push bp */
    expect_out_of_line(BYTES(0x6a, 0x01), 2);              /* push 1 */
    expect_out_of_line(BYTES(0x68, 0x00, 0x10, 0, 0), 5);  /* push 0x1000 */
    expect_out_of_line(BYTES(0xff, 0x74, 0x24, 0x08), 4);  /* push [rsp+8] */
}

/* mov/test r/m, reg (opcode 89/85, and 88/84 for bytes) between registers
 * enc_rm and enc_reg, at the given width. */
static size_t encode_rr(uint8_t *code, uint8_t opcode, unsigned bytes, unsigned enc_rm,
                        unsigned enc_reg, uint8_t rex_always)
{
    size_t n = 0;
    if (bytes == 2)
        code[n++] = 0x66;
    uint8_t rex = rex_always | (bytes == 8 ? 0x48 : 0) | (enc_reg >= 8 ? 0x44 : 0) |
                  (enc_rm >= 8 ? 0x41 : 0);
    if (rex)
        code[n++] = rex | 0x40;
    code[n++] = opcode;
    code[n++] = (uint8_t)(0xc0 | (enc_reg & 7) << 3 | (enc_rm & 7));
    code[n] = 0xc3;   /* what follows is not part of it */
    return n;
}

static void test_mov_between_registers(void **state)
{
    (void)state;
    uint8_t code[8];
    for (unsigned bytes = 2; bytes <= 8; bytes *= 2) {
        for (unsigned rm = 0; rm < 16; rm++) {
            for (unsigned reg = 0; reg < 16; reg++) {
                size_t n = encode_rr(code, 0x89, bytes, rm, reg, 0);
                /* 16-bit moves and writes to rsp run out of line. */
                if (bytes == 2 || ENC[rm] == MT_RSP) {
                    expect_out_of_line(code, n + 1, (uint8_t)n);
                    continue;
                }
                struct step_plan w = want(STEP_MOV, (uint8_t)n);
                w.op_bytes = (uint8_t)bytes;
                w.dst = ENC[rm];
                w.src = ENC[reg];
                expect_emulated(code, n + 1, w);
            }
        }
    }
    /* The 8b form, mov reg, r/m: the ModRM reg field is the destination. */
    struct step_plan w = want(STEP_MOV, 3);
    w.op_bytes = 8;
    w.dst = MT_RAX;
    w.src = MT_RDI;
    expect_emulated(BYTES(0x48, 0x8b, 0xc7), w);   /* mov rax, rdi */
    w.dst = MT_R12;
    w.src = MT_RDX;
    expect_emulated(BYTES(0x49, 0x89, 0xd4), w);   /* mov r12, rdx (posix_memalign) */
    w.op_bytes = 4;
    w.dst = MT_R10;
    w.src = MT_RCX;
    expect_emulated(BYTES(0x41, 0x89, 0xca), w);   /* mov r10d, ecx (mmap) */
    expect_out_of_line(BYTES(0x88, 0xd8), 2);                       /* mov al, bl */
    expect_out_of_line(BYTES(0x40, 0x88, 0xf7), 3);                 /* mov dil, sil */
    expect_out_of_line(BYTES(0x88, 0xdc), 2);                       /* mov ah, bl */
    expect_out_of_line(BYTES(0xb8, 0x0b, 0, 0, 0), 5);              /* mov eax, 0xb */
    expect_out_of_line(BYTES(0x48, 0xc7, 0xc0, 0x01, 0, 0, 0), 7);  /* mov rax, 1 */
    expect_out_of_line(BYTES(0x48, 0x8b, 0x44, 0x24, 0x08), 5);     /* mov rax, [rsp+8] */
    expect_out_of_line(BYTES(0x8c, 0xd8), 2);                       /* mov eax, ds */
}

static void test_test_between_registers(void **state)
{
    (void)state;
    uint8_t code[8];
    for (unsigned bytes = 1; bytes <= 8; bytes *= 2) {
        for (unsigned rm = 0; rm < 16; rm++) {
            for (unsigned reg = 0; reg < 16; reg++) {
                /* A REX prefix makes encodings 4-7 spl..dil rather than ah..bh. */
                size_t n = encode_rr(code, bytes == 1 ? 0x84 : 0x85, bytes, rm, reg,
                                     bytes == 1 ? 0x40 : 0);
                struct step_plan w = want(STEP_TEST, (uint8_t)n);
                w.op_bytes = (uint8_t)bytes;
                w.dst = ENC[rm];
                w.src = ENC[reg];
                expect_emulated(code, n + 1, w);
            }
        }
    }
    struct step_plan w = want(STEP_TEST, 2);
    w.op_bytes = 1;
    w.dst = w.src = MT_RAX;
    expect_emulated(BYTES(0x84, 0xc0), w);                          /* test al, al */
    expect_out_of_line(BYTES(0x84, 0xe4), 2);                       /* test ah, ah */
    expect_out_of_line(BYTES(0x84, 0xfc), 2);                       /* test ah, bh */
    expect_out_of_line(BYTES(0x41, 0xf7, 0xc1, 0xff, 0x0f, 0, 0), 7);   /* test r9d, 0xfff */
    expect_out_of_line(BYTES(0x48, 0x85, 0x3c, 0x24), 4);           /* test [rsp], rdi */
}

static void test_sub_rsp_immediates_are_sign_extended(void **state)
{
    (void)state;
    static const struct { uint8_t code[8]; uint8_t len; int64_t imm; } cases[] = {
        { { 0x48, 0x83, 0xec, 0x58 }, 4, 0x58 },                           /* mremap */
        { { 0x48, 0x83, 0xec, 0x08 }, 4, 8 },
        { { 0x48, 0x83, 0xec, 0x7f }, 4, 127 },
        { { 0x48, 0x83, 0xec, 0x80 }, 4, -128 },
        { { 0x48, 0x83, 0xec, 0xf8 }, 4, -8 },
        { { 0x48, 0x81, 0xec, 0x00, 0x10, 0x00, 0x00 }, 7, 0x1000 },
        { { 0x48, 0x81, 0xec, 0x98, 0x00, 0x00, 0x00 }, 7, 0x98 },
        { { 0x48, 0x81, 0xec, 0x45, 0x23, 0x01, 0x00 }, 7, 0x12345 },
        { { 0x48, 0x81, 0xec, 0x00, 0xf0, 0xff, 0xff }, 7, -0x1000 },
        { { 0x48, 0x81, 0xec, 0xff, 0xff, 0xff, 0x7f }, 7, INT32_MAX },
        { { 0x48, 0x81, 0xec, 0x00, 0x00, 0x00, 0x80 }, 7, INT32_MIN },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct step_plan w = want(STEP_SUB_RSP, cases[i].len);
        w.imm = cases[i].imm;
        expect_emulated(cases[i].code, cases[i].len, w);
        /* And the plan moves rsp the way the CPU would. */
        struct step_plan p = plan_ok(cases[i].code, cases[i].len, ADDR);
        mt_regs r;
        memset(&r, 0, sizeof(r));
        r.rsp = 0x7ffffffde000;
        struct stack_store store;
        assert_int_equal(emulate_step(&p, &r, ADDR, 0, &store), 0);
        assert_int_equal(r.rsp, 0x7ffffffde000 - cases[i].imm);
        assert_int_equal(r.rip, ADDR + cases[i].len);
    }
    expect_out_of_line(BYTES(0x83, 0xec, 0x08), 3);            /* sub esp, 8 */
    expect_out_of_line(BYTES(0x66, 0x83, 0xec, 0x08), 4);      /* sub sp, 8 */
    expect_out_of_line(BYTES(0x48, 0x29, 0xc4), 3);            /* sub rsp, rax */
    expect_out_of_line(BYTES(0x48, 0x83, 0xef, 0x08), 4);      /* sub rdi, 8 */
    expect_out_of_line(BYTES(0x48, 0x83, 0xc4, 0x08), 4);      /* add rsp, 8 */
}

static void test_ret(void **state)
{
    (void)state;
    expect_emulated(BYTES(0xc3, 0xcc), want(STEP_RET, 1));
    expect_emulated(BYTES(0xf3, 0xc3), want(STEP_RET, 2));   /* repz ret */
    expect_emulated(BYTES(0xf2, 0xc3), want(STEP_RET, 2));   /* bnd ret */
}

static void test_relative_jmp_targets(void **state)
{
    (void)state;
    static const struct { uint8_t code[8]; uint8_t len; int32_t rel; } cases[] = {
        { { 0xeb, 0x05 }, 2, 5 },
        { { 0xeb, 0x00 }, 2, 0 },
        { { 0xeb, 0xfe }, 2, -2 },                          /* to itself */
        { { 0xeb, 0x7f }, 2, 127 },
        { { 0xeb, 0x80 }, 2, -128 },
        { { 0xe9, 0x00, 0x01, 0x00, 0x00 }, 5, 0x100 },
        { { 0xe9, 0x00, 0xf0, 0xff, 0xff }, 5, -0x1000 },
        { { 0xe9, 0x78, 0x56, 0x34, 0x12 }, 5, 0x12345678 },
        { { 0xe9, 0x00, 0x00, 0x00, 0x80 }, 5, INT32_MIN },
        { { 0xf2, 0xe9, 0x10, 0x00, 0x00, 0x00 }, 6, 0x10 },  /* bnd jmp */
        { { 0xf2, 0xeb, 0xf0 }, 3, -0x10 },                   /* bnd jmp rel8 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct step_plan w = want(STEP_JMP, cases[i].len);
        w.target = ADDR + cases[i].len + (mt_addr)(int64_t)cases[i].rel;
        expect_emulated(cases[i].code, sizeof(cases[i].code), w);
    }
}

/* ---- out of line ------------------------------------------------------ */

/* The slot's tail after the n instruction bytes: jmp *0(%rip) to back, then
 * int3 filler. */
static void check_slot_tail(const uint8_t slot[INSN_SLOT_SIZE], size_t n, mt_addr back)
{
    static const uint8_t jmp_abs[6] = { 0xff, 0x25, 0, 0, 0, 0 };
    assert_memory_equal(slot + n, jmp_abs, 6);
    uint64_t t;
    memcpy(&t, slot + n + 6, 8);
    assert_int_equal(t, back);
    for (size_t i = n + 14; i < INSN_SLOT_SIZE; i++)
        assert_int_equal(slot[i], 0xcc);
}

static csh open_cs(void)
{
    csh cs;
    assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
    assert_int_equal(cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON), CS_ERR_OK);
    return cs;
}

/* Absolute address of the RIP-relative memory operand, or 0. */
static mt_addr cs_rip_target(const cs_insn *insn)
{
    const cs_x86 *x = &insn->detail->x86;
    for (int i = 0; i < x->op_count; i++)
        if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP)
            return insn->address + insn->size + (mt_addr)x->operands[i].mem.disp;
    return 0;
}

/* Decodes a slot at slot_addr: the instruction, then the jump back. */
static void decode_slot(csh cs, const uint8_t slot[INSN_SLOT_SIZE], mt_addr slot_addr,
                        size_t n, cs_insn **insn)
{
    assert_int_equal(cs_disasm(cs, slot, INSN_SLOT_SIZE, slot_addr, 2, insn), 2);
    assert_int_equal((*insn)[0].size, n);
    assert_string_equal((*insn)[1].mnemonic, "jmp");
    assert_string_equal((*insn)[1].op_str, "qword ptr [rip]");
}

static void test_out_of_line_copies_verbatim(void **state)
{
    (void)state;
    static const struct { uint8_t code[15]; uint8_t len; const char *text; } cases[] = {
        { { 0x45, 0x31, 0xd2 }, 3, "xor r10d, r10d" },                          /* shmget */
        { { 0xb8, 0x0b, 0x00, 0x00, 0x00 }, 5, "mov eax, 0xb" },                /* munmap */
        { { 0x48, 0xf7, 0xe2 }, 3, "mul rdx" },
        { { 0x48, 0x8b, 0x44, 0x24, 0x08 }, 5, "mov rax, qword ptr [rsp + 8]" },
        { { 0x48, 0x8d, 0x47, 0x08 }, 4, "lea rax, [rdi + 8]" },
        { { 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0 }, 9, "mov rax, qword ptr fs:[0x28]" },
        { { 0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 }, 10, "movabs rax, qword ptr [0x807060504030201]" },
        { { 0x6a, 0x01 }, 2, "push 1" },
        { { 0x80, 0x3f, 0x00 }, 3, "cmp byte ptr [rdi], 0" },
        { { 0x41, 0xf7, 0xc1, 0xff, 0x0f, 0, 0 }, 7, "test r9d, 0xfff" },        /* mmap */
        { { 0x0f, 0x0b }, 2, "ud2" },
        /* 15 bytes: the longest instruction still leaves room for the jump back. */
        { { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x2e, 0x48, 0x8b, 0x84, 0x24, 0, 1, 0, 0 }, 15,
          "mov rax, qword ptr cs:[rsp + 0x100]" },
    };
    csh cs = open_cs();
    const mt_addr slots[] = { ADDR + MIB, ADDR - MIB, ADDR + 64 * GIB, 0x1000 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_out_of_line(cases[i].code, sizeof(cases[i].code), cases[i].len);
        for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
            uint8_t slot[INSN_SLOT_SIZE];
            char why[256] = "";
            assert_int_equal(insn_build_slot(cases[i].code, cases[i].len, ADDR, slots[s], slot,
                                             why, sizeof(why)), 0);
            assert_memory_equal(slot, cases[i].code, cases[i].len);
            check_slot_tail(slot, cases[i].len, ADDR + cases[i].len);
            cs_insn *insn;
            decode_slot(cs, slot, slots[s], cases[i].len, &insn);
            char text[256];
            snprintf(text, sizeof(text), "%s%s%s", insn[0].mnemonic, insn[0].op_str[0] ? " " : "",
                     insn[0].op_str);
            assert_string_equal(text, cases[i].text);
            cs_free(insn, 2);
        }
    }
    cs_close(&cs);
}

/* RIP-relative instructions; disp_at is where their disp32 is (from the
 * encoding, not from capstone). */
static const struct rip_case {
    uint8_t code[15];
    uint8_t len, disp_at;
    const char *mnemonic;
    bool plannable;   /* insn_plan_step runs it out of line (not a branch) */
} RIP_CASES[] = {
    { { 0x48, 0x8b, 0x05, 0x10, 0x32, 0x00, 0x00 }, 7, 3, "mov", true },
    { { 0x48, 0x8d, 0x3d, 0x00, 0xf0, 0xff, 0xff }, 7, 3, "lea", true },
    { { 0x4c, 0x8d, 0x2d, 0x00, 0x00, 0x00, 0x80 }, 7, 3, "lea", true },   /* disp INT32_MIN */
    { { 0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00 }, 7, 2, "cmp", true },   /* posix_memalign */
    { { 0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x5a }, 7, 2, "cmp", true },
    { { 0x48, 0x83, 0x3d, 0xf0, 0xff, 0xff, 0xff, 0x00 }, 8, 3, "cmp", true },
    { { 0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12 }, 10, 2, "mov", true },
    { { 0xf6, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01 }, 7, 2, "test", true },
    { { 0x64, 0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00 }, 8, 4, "mov", true },
    { { 0xc5, 0xfe, 0x6f, 0x05, 0x10, 0x00, 0x00, 0x00 }, 8, 4, "vmovdqu", true },
    { { 0xf0, 0x01, 0x05, 0x10, 0x00, 0x00, 0x00 }, 7, 3, "lock add", true },
    { { 0xff, 0x35, 0x10, 0x00, 0x00, 0x00 }, 6, 2, "push", true },
    { { 0x66, 0x48, 0x0f, 0x6e, 0x05, 0x10, 0, 0, 0 }, 9, 5, "movq", true },
    { { 0xff, 0x25, 0x10, 0x00, 0x00, 0x00 }, 6, 2, "jmp", false },        /* refused by the planner */
};

static void test_rip_relative_is_relocated(void **state)
{
    (void)state;
    csh cs = open_cs();
    for (size_t i = 0; i < sizeof(RIP_CASES) / sizeof(RIP_CASES[0]); i++) {
        const struct rip_case *c = &RIP_CASES[i];
        if (c->plannable)
            expect_out_of_line(c->code, sizeof(c->code), c->len);
        else
            expect_refused(c->code, sizeof(c->code));
        int32_t disp;
        memcpy(&disp, c->code + c->disp_at, 4);
        const mt_addr target = ADDR + c->len + (mt_addr)(int64_t)disp;
        /* Slots from 4 KiB to almost 2 GiB away. */
        const mt_addr slots[] = { ADDR + MIB, ADDR - MIB, ADDR + 4096, target + 0x7fff0000ULL,
                                  target - 0x7fff0000ULL };
        for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
            uint8_t slot[INSN_SLOT_SIZE];
            char why[256] = "";
            int rc = insn_build_slot(c->code, c->len, ADDR, slots[s], slot, why, sizeof(why));
            int64_t need = (int64_t)(target - (slots[s] + c->len));
            if (need < INT32_MIN || need > INT32_MAX) {   /* disp INT32_MIN from ADDR + 4 KiB on */
                assert_int_equal(rc, -1);
                assert_non_null(strstr(why, "out of reach"));
                continue;
            }
            if (rc != 0)
                fail_msg("case %zu slot 0x%lx: %s", i, (unsigned long)slots[s], why);
            /* Only the displacement changed, and it points at the same target. */
            assert_memory_equal(slot, c->code, c->disp_at);
            assert_memory_equal(slot + c->disp_at + 4, c->code + c->disp_at + 4,
                                c->len - c->disp_at - 4u);
            int32_t new_disp;
            memcpy(&new_disp, slot + c->disp_at, 4);
            assert_int_equal(slots[s] + c->len + (mt_addr)(int64_t)new_disp, target);
            check_slot_tail(slot, c->len, ADDR + c->len);
            /* capstone agrees: same instruction, same absolute operand. */
            cs_insn *orig, *insn;
            assert_int_equal(cs_disasm(cs, c->code, c->len, ADDR, 1, &orig), 1);
            decode_slot(cs, slot, slots[s], c->len, &insn);
            assert_string_equal(insn[0].mnemonic, c->mnemonic);
            assert_int_equal(cs_rip_target(orig), target);
            assert_int_equal(cs_rip_target(&insn[0]), target);
            assert_int_equal(insn[0].detail->x86.op_count, orig->detail->x86.op_count);
            if (orig->detail->x86.op_count == 2 && orig->detail->x86.operands[1].type == X86_OP_IMM)
                assert_int_equal(insn[0].detail->x86.operands[1].imm,
                                 orig->detail->x86.operands[1].imm);
            cs_free(orig, 1);
            cs_free(insn, 2);
        }
    }
    cs_close(&cs);
}

static void test_relocation_out_of_reach_is_refused(void **state)
{
    (void)state;
    /* mov rax, [rip+0x1000]: target ADDR + 7 + 0x1000. The new displacement is
     * ADDR - slot + 0x1000, which must fit in an int32. */
    const uint8_t code[] = { 0x48, 0x8b, 0x05, 0x00, 0x10, 0x00, 0x00 };
    const mt_addr ok[] = {
        ADDR + 0x1000 - (mt_addr)INT32_MAX,        /* new disp INT32_MAX */
        ADDR + 0x1000 + (1ULL << 31),              /* new disp INT32_MIN */
    };
    const mt_addr far[] = {
        ADDR + 0x1000 - (mt_addr)INT32_MAX - 1,    /* new disp 2^31 */
        ADDR + 0x1000 + (1ULL << 31) + 1,          /* new disp -2^31 - 1 */
        ADDR + 4 * GIB, ADDR - 4 * GIB, 0x10000, 0xffffffffff600000ULL,
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint8_t slot[INSN_SLOT_SIZE];
        char why[256] = "";
        assert_int_equal(insn_build_slot(code, sizeof(code), ADDR, ok[i], slot, why, sizeof(why)), 0);
        int32_t d;
        memcpy(&d, slot + 3, 4);
        assert_int_equal(ok[i] + 7 + (mt_addr)(int64_t)d, ADDR + 7 + 0x1000);
    }
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        uint8_t slot[INSN_SLOT_SIZE];
        char why[256] = "";
        assert_int_equal(insn_build_slot(code, sizeof(code), ADDR, far[i], slot, why, sizeof(why)), -1);
        assert_non_null(strstr(why, "out of reach"));
        assert_non_null(strstr(why, "0x7ffff7e5a0c0"));
    }
    /* The same distance is no obstacle for an instruction without RIP. */
    uint8_t slot[INSN_SLOT_SIZE];
    char why[256] = "";
    assert_int_equal(insn_build_slot(BYTES(0x41, 0x54), ADDR, ADDR + 4 * GIB, slot, why,
                                     sizeof(why)), 0);
    /* Undecodable bytes give no slot. */
    assert_int_equal(insn_build_slot(BYTES(0x06), ADDR, ADDR + MIB, slot, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "cannot decode"));
}

/* ---- refusals --------------------------------------------------------- */

static void test_branches_and_traps_are_refused(void **state)
{
    (void)state;
    expect_refused(BYTES(0xe8, 0x00, 0x10, 0x00, 0x00));           /* call rel32 */
    expect_refused(BYTES(0xff, 0x15, 0x10, 0x00, 0x00, 0x00));     /* call [rip+0x10] */
    expect_refused(BYTES(0xff, 0xd0));                             /* call rax */
    expect_refused(BYTES(0xff, 0x25, 0x10, 0x00, 0x00, 0x00));     /* jmp [rip+0x10] */
    expect_refused(BYTES(0xff, 0xe0));                             /* jmp rax */
    expect_refused(BYTES(0x3e, 0xff, 0xe0));                       /* notrack jmp rax */
    expect_refused(BYTES(0x74, 0x07));                             /* je rel8 */
    expect_refused(BYTES(0x0f, 0x84, 0xbf, 0x00, 0x00, 0x00));     /* je rel32 (free) */
    expect_refused(BYTES(0xe2, 0xfe));                             /* loop */
    expect_refused(BYTES(0xe3, 0x10));                             /* jrcxz */
    expect_refused(BYTES(0xc7, 0xf8, 0x00, 0x00, 0x00, 0x00));     /* xbegin */
    expect_refused(BYTES(0xc2, 0x08, 0x00));                       /* ret 8 */
    expect_refused(BYTES(0xcb));                                   /* retf */
    expect_refused(BYTES(0xcc));                                   /* int3 (another debugger) */
    expect_refused(BYTES(0xcd, 0x03));                             /* int 3 */
    expect_refused(BYTES(0xcd, 0x80));                             /* int 0x80 */
}

/* With an operand-size prefix a near branch is 16-bit on AMD (the new rip is
 * truncated to 16 bits) and 64-bit on Intel (the prefix is ignored, and a
 * rel32 follows a 66 e9). No single plan is right on both. */
static void test_operand_size_prefixed_branches_are_refused(void **state)
{
    (void)state;
    expect_refused(BYTES(0x66, 0xe9, 0x00, 0x01, 0x00, 0x00));     /* jmp rel16 / rel32 */
    expect_refused(BYTES(0x66, 0xeb, 0x10));                       /* jmp rel8, 16-bit rip */
    expect_refused(BYTES(0x66, 0xc3));                             /* ret, 2-byte pop on AMD */
}

static void test_undecodable_and_truncated_are_refused(void **state)
{
    (void)state;
    const uint8_t mov_rip[] = { 0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00 };
    for (size_t avail = 0; avail < sizeof(mov_rip); avail++)
        expect_refused(mov_rip, avail);                            /* cut anywhere */
    expect_out_of_line(mov_rip, sizeof(mov_rip), 7);               /* whole: fine */
    const uint8_t jmp32[] = { 0xe9, 0x00, 0x01, 0x00, 0x00 };
    for (size_t avail = 0; avail < sizeof(jmp32); avail++)
        expect_refused(jmp32, avail);
    expect_refused(BYTES(0x41));                                   /* REX alone */
    expect_refused(BYTES(0xf3, 0x0f, 0x1e));                       /* endbr64 cut short */
    expect_refused(BYTES(0x06));                                   /* push es: invalid in 64-bit */
    expect_refused(BYTES(0xf0, 0x90));                             /* lock nop */
    /* 16 bytes: longer than any instruction may be. */
    expect_refused(BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                         0x66, 0x66, 0x66, 0x66, 0x90));
    expect_emulated(BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                          0x66, 0x66, 0x66, 0x90), want(STEP_SKIP, 15));
}

static void test_describe(void **state)
{
    (void)state;
    char text[64];
    assert_int_equal(insn_describe(BYTES(0x41, 0x54, 0x55), ADDR, text, sizeof(text)), 0);
    assert_string_equal(text, "push r12");
    assert_int_equal(insn_describe(BYTES(0xeb, 0xfe), ADDR, text, sizeof(text)), 0);
    assert_string_equal(text, "jmp 0x7ffff7e5a0c0");
    assert_int_equal(insn_describe(BYTES(0x06), ADDR, text, sizeof(text)), -1);
    assert_string_equal(text, "(undecodable)");
}

/* ---- relocated slots, run ----------------------------------------------- */

/* Calls fn with rax = 0xdead; returns rax. Below the red zone, as in
 * test_return_stubs. */
static uint64_t call_rax(mt_addr fn)
{
    uint64_t rax = 0xdead;
    __asm__ volatile("sub $128, %%rsp\n\tcall *%[fn]\n\tadd $128, %%rsp"
                     : "+a"(rax)
                     : [fn] "r"(fn)
                     : "cc", "memory");
    return rax;
}

/* A code page with the original instruction and what follows it, a data page
 * it refers to, and a slot page 1 MiB away. Running the original in place and
 * the relocated copy from the slot must give the same rax and data. */
static void test_relocated_slots_run(void **state)
{
    (void)state;
    const uint64_t RAX_IS_TARGET = 0xfeedfacecafef00d;
    static const struct {
        uint8_t head[8];      /* the instruction up to its disp32 */
        uint8_t head_len;
        uint8_t tail[4];      /* after the disp32 (immediates) */
        uint8_t tail_len;
        uint8_t cont[8];      /* the code after it, ending in ret */
        uint8_t cont_len;
        uint64_t data;        /* the qword the instruction refers to */
        uint64_t rax;         /* rax after it (or RAX_IS_TARGET), then that qword */
        uint64_t stored;
    } cases[] = {
        /* mov rax, [rip]; ret */
        { { 0x48, 0x8b, 0x05 }, 3, { 0 }, 0, { 0xc3 }, 1, 0x1122334455667788,
          0x1122334455667788, 0x1122334455667788 },
        /* lea rax, [rip]; ret */
        { { 0x48, 0x8d, 0x05 }, 3, { 0 }, 0, { 0xc3 }, 1, 7, RAX_IS_TARGET, 7 },
        /* cmp byte [rip], 0; sete al; movzx eax, al; ret */
        { { 0x80, 0x3d }, 2, { 0x00 }, 1, { 0x0f, 0x94, 0xc0, 0x0f, 0xb6, 0xc0, 0xc3 }, 7,
          0x100, 1, 0x100 },
        { { 0x80, 0x3d }, 2, { 0x00 }, 1, { 0x0f, 0x94, 0xc0, 0x0f, 0xb6, 0xc0, 0xc3 }, 7,
          0x101, 0, 0x101 },
        /* mov dword [rip], 0x12345678; ret */
        { { 0xc7, 0x05 }, 2, { 0x78, 0x56, 0x34, 0x12 }, 4, { 0xc3 }, 1, 0xffffffffffffffff,
          0xdead, 0xffffffff12345678 },
        /* push qword [rip]; pop rax; ret */
        { { 0xff, 0x35 }, 2, { 0 }, 0, { 0x58, 0xc3 }, 2, 0x0badc0ffee, 0x0badc0ffee, 0x0badc0ffee },
    };
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *region = mmap(NULL, MIB + page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(region != MAP_FAILED);
    uint8_t *code = region, *data = region + page, *slot = region + MIB;
    assert_int_equal(mprotect(data, page, PROT_READ | PROT_WRITE), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t result[2], stored[2];
        for (int run = 0; run < 2; run++) {
            uint8_t *target = data + 0x100;
            memcpy(target, &cases[i].data, 8);
            size_t n = cases[i].head_len + 4u + cases[i].tail_len;
            int32_t disp = (int32_t)(target - (code + n));
            uint8_t insn[16];
            memcpy(insn, cases[i].head, cases[i].head_len);
            memcpy(insn + cases[i].head_len, &disp, 4);
            memcpy(insn + cases[i].head_len + 4, cases[i].tail, cases[i].tail_len);

            assert_int_equal(mprotect(code, page, PROT_READ | PROT_WRITE), 0);
            memset(code, 0xcc, page);
            memcpy(code, insn, n);
            memcpy(code + n, cases[i].cont, cases[i].cont_len);
            assert_int_equal(mprotect(code, page, PROT_READ | PROT_EXEC), 0);
            mt_addr entry = (mt_addr)code;
            if (run == 1) {
                expect_out_of_line(insn, n, (uint8_t)n);
                uint8_t built[INSN_SLOT_SIZE];
                char why[256] = "";
                assert_int_equal(insn_build_slot(insn, n, (mt_addr)code, (mt_addr)slot, built,
                                                 why, sizeof(why)), 0);
                assert_int_equal(mprotect(slot, page, PROT_READ | PROT_WRITE), 0);
                memcpy(slot, built, sizeof(built));
                assert_int_equal(mprotect(slot, page, PROT_READ | PROT_EXEC), 0);
                entry = (mt_addr)slot;
            }
            result[run] = call_rax(entry);
            memcpy(&stored[run], target, 8);
        }
        /* In place and relocated alike, and as expected. */
        uint64_t rax = cases[i].rax == RAX_IS_TARGET ? (uint64_t)(data + 0x100) : cases[i].rax;
        assert_int_equal(result[0], rax);
        assert_int_equal(result[1], rax);
        assert_int_equal(stored[0], cases[i].stored);
        assert_int_equal(stored[1], cases[i].stored);
    }
    assert_int_equal(munmap(region, MIB + page), 0);
}

/* ---- glibc's entries ---------------------------------------------------- */

static const char *const ALLOC_FNS[] = {
    "malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "reallocarray", "mmap", "munmap", "mremap", "shmget", "shmat",
    "shmdt", "shmctl",
};
#define N_ALLOC_FNS (sizeof(ALLOC_FNS) / sizeof(ALLOC_FNS[0]))

/* The file bytes at vaddr, through the PT_LOAD that maps it. */
static size_t read_at_vaddr(Elf *elf, int fd, GElf_Addr vaddr, uint8_t *buf, size_t len)
{
    size_t nph;
    assert_int_equal(elf_getphdrnum(elf, &nph), 0);
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        assert_non_null(gelf_getphdr(elf, (int)i, &ph));
        if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || vaddr >= ph.p_vaddr + ph.p_filesz)
            continue;
        assert_true(ph.p_flags & PF_X);
        size_t n = ph.p_vaddr + ph.p_filesz - vaddr < len ? ph.p_vaddr + ph.p_filesz - vaddr : len;
        ssize_t got = pread(fd, buf, n, (off_t)(ph.p_offset + (vaddr - ph.p_vaddr)));
        assert_int_equal(got, (ssize_t)n);
        return n;
    }
    fail_msg("0x%lx is in no PT_LOAD", (unsigned long)vaddr);
    return 0;
}

/* The plan agrees with capstone's reading of the same bytes. */
static void check_glibc_plan(csh cs, const char *name, const uint8_t *code, size_t n,
                                    mt_addr addr)
{
    struct step_plan p;
    char why[256] = "";
    if (insn_plan_step(code, n, addr, &p, why, sizeof(why)) != 0)
        fail_msg("%s: %s", name, why);
    cs_insn *insn;
    assert_int_equal(cs_disasm(cs, code, n, addr, 1, &insn), 1);
    assert_int_equal(p.len, insn->size);
    char ops[160];
    const char *cls = step_kind_name(p.kind);
    switch (p.kind) {
    case STEP_SKIP:
        assert_true(strcmp(insn->mnemonic, "nop") == 0 || strcmp(insn->mnemonic, "endbr64") == 0);
        break;
    case STEP_PUSH:
        assert_string_equal(insn->mnemonic, "push");
        assert_string_equal(insn->op_str, reg_name(p.src, 8));
        break;
    case STEP_MOV:
    case STEP_TEST:
        assert_string_equal(insn->mnemonic, p.kind == STEP_MOV ? "mov" : "test");
        snprintf(ops, sizeof(ops), "%s, %s", reg_name(p.dst, p.op_bytes), reg_name(p.src, p.op_bytes));
        assert_string_equal(insn->op_str, ops);
        break;
    case STEP_SUB_RSP:
        assert_string_equal(insn->mnemonic, "sub");
        assert_int_equal(insn->detail->x86.operands[0].reg, X86_REG_RSP);
        assert_int_equal(p.imm, insn->detail->x86.operands[1].imm);
        break;
    case STEP_RET:
        assert_string_equal(insn->mnemonic, "ret");
        break;
    case STEP_JMP:
        assert_string_equal(insn->mnemonic, "jmp");
        assert_int_equal(p.target, (mt_addr)insn->detail->x86.operands[0].imm);
        break;
    case STEP_OUT_OF_LINE: {
        uint8_t slot[INSN_SLOT_SIZE];
        mt_addr slot_addr = addr + MIB;
        assert_int_equal(insn_build_slot(code, p.len, addr, slot_addr, slot, why, sizeof(why)), 0);
        check_slot_tail(slot, p.len, addr + p.len);
        mt_addr target = cs_rip_target(insn);
        cs_insn *moved;
        decode_slot(cs, slot, slot_addr, p.len, &moved);
        assert_string_equal(moved[0].mnemonic, insn->mnemonic);
        if (target) {
            cls = "out-of-line, RIP-relative";
            assert_int_equal(cs_rip_target(&moved[0]), target);
            assert_memory_not_equal(slot, code, p.len);
        } else {
            assert_memory_equal(slot, code, p.len);
            assert_string_equal(moved[0].op_str, insn->op_str);
        }
        cs_free(moved, 2);
        break;
    }
    default:
        fail_msg("%s: unknown plan kind %d", name, p.kind);
    }
    print_message("    %-15s 0x%06lx  %-26s %s %s\n", name, (unsigned long)addr, cls,
                  insn->mnemonic, insn->op_str);
    cs_free(insn, 1);
}

static void test_glibc_allocator_entries(void **state)
{
    (void)state;
    int fd = open(LIBC, O_RDONLY);
    if (fd < 0) {
        print_message("    %s not found\n", LIBC);
        skip();
    }
    assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    assert_non_null(elf);
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        assert_non_null(gelf_getshdr(scn, &sh));
        if (sh.sh_type == SHT_DYNSYM)
            break;
    }
    assert_non_null(scn);
    Elf_Data *syms = elf_getdata(scn, NULL);
    assert_non_null(syms);
    csh cs = open_cs();
    unsigned found[N_ALLOC_FNS] = { 0 };
    size_t nsym = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < nsym; i++) {
        GElf_Sym sym;
        assert_non_null(gelf_getsym(syms, (int)i, &sym));
        const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (!name || sym.st_shndx == SHN_UNDEF || sym.st_value == 0 ||
            (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC))
            continue;
        for (size_t k = 0; k < N_ALLOC_FNS; k++) {
            if (strcmp(name, ALLOC_FNS[k]) != 0)
                continue;
            uint8_t code[INSN_MAX_LEN];
            size_t n = read_at_vaddr(elf, fd, sym.st_value, code, sizeof(code));
            check_glibc_plan(cs, name, code, n, sym.st_value);
            found[k]++;
        }
    }
    for (size_t k = 0; k < N_ALLOC_FNS; k++)
        if (!found[k])
            fail_msg("%s is not in the .dynsym of %s", ALLOC_FNS[k], LIBC);
    cs_close(&cs);
    elf_end(elf);
    close(fd);
}

/* ld.so's _dl_debug_state: a lone ret, then padding to the next function. */
static void test_padding_len(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0xc3,                                                             /* ret */
        0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, /* data16 cs nopw */
        0x0f, 0x1f, 0x40, 0x00,                                           /* nopl 0(%rax) */
        0x48, 0x8d, 0x05, 0xa1, 0x20, 0x03, 0x00,                         /* lea: code again */
    };
    assert_int_equal(insn_padding_len(code + 1, sizeof(code) - 1, 0x2061), 15);
    assert_int_equal(insn_padding_len(code, sizeof(code), 0x2060), 0);
    static const uint8_t traps[] = { 0xcc, 0xcc, 0x90, 0x55 };   /* int3 int3 nop push */
    assert_int_equal(insn_padding_len(traps, sizeof(traps), 0x1000), 3);
    assert_int_equal(insn_padding_len(traps, 0, 0x1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endbr64_and_nops_are_skipped),
        cmocka_unit_test(test_push_of_every_64bit_register),
        cmocka_unit_test(test_mov_between_registers),
        cmocka_unit_test(test_test_between_registers),
        cmocka_unit_test(test_sub_rsp_immediates_are_sign_extended),
        cmocka_unit_test(test_ret),
        cmocka_unit_test(test_relative_jmp_targets),
        cmocka_unit_test(test_out_of_line_copies_verbatim),
        cmocka_unit_test(test_rip_relative_is_relocated),
        cmocka_unit_test(test_relocation_out_of_reach_is_refused),
        cmocka_unit_test(test_branches_and_traps_are_refused),
        cmocka_unit_test(test_operand_size_prefixed_branches_are_refused),
        cmocka_unit_test(test_undecodable_and_truncated_are_refused),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_relocated_slots_run),
        cmocka_unit_test(test_glibc_allocator_entries),
        cmocka_unit_test(test_padding_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
