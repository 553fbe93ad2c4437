/* capstone-based instruction analysis for breakpoint stepping. */
#include "insn.h"
#include <capstone/capstone.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Owned by this module: one capstone handle with detail on, opened lazily. */
static csh insn_handle;
static bool insn_handle_open;

static int open_handle(void)
{
    if (insn_handle_open)
        return 0;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &insn_handle) != CS_ERR_OK)
        return -1;
    cs_option(insn_handle, CS_OPT_DETAIL, CS_OPT_ON);
    insn_handle_open = true;
    return 0;
}

static cs_insn *decode(const uint8_t *code, size_t avail, mt_addr addr)
{
    if (open_handle() != 0)
        return NULL;
    cs_insn *insn = NULL;
    if (cs_disasm(insn_handle, code, avail, addr, 1, &insn) != 1)
        return NULL;
    return insn;
}

size_t insn_padding_len(const uint8_t *code, size_t avail, mt_addr addr)
{
    size_t len = 0;
    while (len < avail) {
        cs_insn *insn = decode(code + len, avail - len, addr + len);
        if (!insn)
            break;
        bool padding = insn->id == X86_INS_NOP || insn->id == X86_INS_INT3;
        size_t size = insn->size;
        cs_free(insn, 1);
        if (!padding)
            break;
        len += size;
    }
    return len;
}

static enum mt_reg map_reg(x86_reg r, uint8_t *bytes)
{
    static const struct { x86_reg q, d, w, b; enum mt_reg mt; } table[] = {
        { X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, MT_RAX },
        { X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, MT_RBX },
        { X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, MT_RCX },
        { X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, MT_RDX },
        { X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL, MT_RSI },
        { X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL, MT_RDI },
        { X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL, MT_RBP },
        { X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL, MT_RSP },
        { X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, MT_R8 },
        { X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B, MT_R9 },
        { X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B, MT_R10 },
        { X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B, MT_R11 },
        { X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B, MT_R12 },
        { X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B, MT_R13 },
        { X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B, MT_R14 },
        { X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B, MT_R15 },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        uint8_t b = r == table[i].q ? 8 : r == table[i].d ? 4 : r == table[i].w ? 2
                  : r == table[i].b ? 1 : 0;
        if (b) {
            if (bytes)
                *bytes = b;
            return table[i].mt;
        }
    }
    return MT_REG_NONE;
}

static bool is_reg_op(const cs_x86_op *op)
{
    return op->type == X86_OP_REG;
}

/* Emulates what is trivial and safe; everything else runs out of line. */
static bool plan_emulation(const cs_insn *insn, struct step_plan *plan)
{
    const cs_x86 *x = &insn->detail->x86;
    switch (insn->id) {
    case X86_INS_NOP:
    case X86_INS_ENDBR64:
        plan->kind = STEP_SKIP;
        return true;
    case X86_INS_PUSH:
        if (x->op_count == 1 && is_reg_op(&x->operands[0])) {
            uint8_t bytes = 0;
            plan->src = map_reg(x->operands[0].reg, &bytes);
            if (plan->src != MT_REG_NONE && plan->src != MT_RSP && bytes == 8) {
                plan->kind = STEP_PUSH;
                return true;
            }
        }
        return false;
    case X86_INS_MOV:
    case X86_INS_TEST:
        if (x->op_count == 2 && is_reg_op(&x->operands[0]) && is_reg_op(&x->operands[1])) {
            uint8_t b0 = 0, b1 = 0;
            plan->dst = map_reg(x->operands[0].reg, &b0);
            plan->src = map_reg(x->operands[1].reg, &b1);
            /* High-byte registers (ah...) are not in the table and stay out of line. */
            if (plan->dst == MT_REG_NONE || plan->src == MT_REG_NONE || b0 != b1)
                return false;
            if (insn->id == X86_INS_MOV && (plan->dst == MT_RSP || b0 < 4))
                return false;
            plan->op_bytes = b0;
            plan->kind = insn->id == X86_INS_MOV ? STEP_MOV : STEP_TEST;
            return true;
        }
        return false;
    case X86_INS_SUB:
        if (x->op_count == 2 && is_reg_op(&x->operands[0]) && x->operands[0].reg == X86_REG_RSP &&
            x->operands[1].type == X86_OP_IMM) {
            plan->kind = STEP_SUB_RSP;
            plan->imm = x->operands[1].imm;
            return true;
        }
        return false;
    case X86_INS_RET:
        /* With 66h a near branch is 16-bit on AMD and 64-bit on Intel (which
         * then also reads a rel32 after 66 e9): no plan fits both. */
        if (x->op_count == 0 && x->prefix[2] != X86_PREFIX_OPSIZE) {
            plan->kind = STEP_RET;
            return true;
        }
        return false;
    case X86_INS_JMP:
        if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM &&
            x->prefix[2] != X86_PREFIX_OPSIZE) {
            plan->kind = STEP_JMP;
            plan->target = (mt_addr)x->operands[0].imm;
            return true;
        }
        return false;
    default:
        return false;
    }
}

static bool is_branch(const cs_insn *insn)
{
    for (int i = 0; i < insn->detail->groups_count; i++) {
        uint8_t g = insn->detail->groups[i];
        if (g == CS_GRP_JUMP || g == CS_GRP_CALL || g == CS_GRP_RET || g == CS_GRP_INT ||
            g == CS_GRP_IRET || g == CS_GRP_BRANCH_RELATIVE)
            return true;
    }
    return false;
}

int insn_plan_step(const uint8_t *code, size_t avail, mt_addr addr, struct step_plan *plan,
                   char *why, size_t why_len)
{
    memset(plan, 0, sizeof(*plan));
    plan->dst = plan->src = MT_REG_NONE;
    cs_insn *insn = decode(code, avail, addr);
    if (!insn) {
        snprintf(why, why_len, "cannot decode the instruction at 0x%" PRIxADDR, addr);
        return -1;
    }
    plan->len = (uint8_t)insn->size;
    int rc = 0;
    if (!plan_emulation(insn, plan)) {
        if (is_branch(insn)) {
            snprintf(why, why_len, "'%s %s' at 0x%" PRIxADDR " cannot run out of line",
                     insn->mnemonic, insn->op_str, addr);
            rc = -1;
        } else {
            plan->kind = STEP_OUT_OF_LINE;
        }
    }
    cs_free(insn, 1);
    return rc;
}

static bool find_rip_disp(const cs_insn *insn, uint8_t *disp_offset, int64_t *disp)
{
    const cs_x86 *x = &insn->detail->x86;
    for (int i = 0; i < x->op_count; i++) {
        if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP) {
            *disp_offset = x->encoding.disp_offset;
            *disp = x->operands[i].mem.disp;
            return true;
        }
    }
    return false;
}

int insn_build_slot(const uint8_t *code, size_t len, mt_addr addr, mt_addr slot_addr,
                    uint8_t out[INSN_SLOT_SIZE], char *why, size_t why_len)
{
    cs_insn *insn = decode(code, len, addr);
    if (!insn) {
        snprintf(why, why_len, "cannot decode the instruction at 0x%" PRIxADDR, addr);
        return -1;
    }
    size_t n = insn->size;
    memset(out, 0xcc, INSN_SLOT_SIZE);
    memcpy(out, code, n);
    uint8_t disp_offset;
    int64_t disp;
    if (find_rip_disp(insn, &disp_offset, &disp)) {
        /* target = addr + n + disp must equal slot_addr + n + new_disp */
        int64_t new_disp = (int64_t)(addr - slot_addr) + disp;
        if (new_disp < INT32_MIN || new_disp > INT32_MAX ||
            insn->detail->x86.encoding.disp_size != 4) {
            snprintf(why, why_len, "RIP-relative '%s %s' at 0x%" PRIxADDR
                     " is out of reach of the scratch page at 0x%" PRIxADDR,
                     insn->mnemonic, insn->op_str, addr, slot_addr);
            cs_free(insn, 1);
            return -1;
        }
        int32_t d32 = (int32_t)new_disp;
        memcpy(out + disp_offset, &d32, 4);
    }
    /* jmp *0(%rip); .quad addr + n */
    static const uint8_t jmp_abs[6] = { 0xff, 0x25, 0, 0, 0, 0 };
    memcpy(out + n, jmp_abs, sizeof(jmp_abs));
    uint64_t back = addr + n;
    memcpy(out + n + sizeof(jmp_abs), &back, 8);
    cs_free(insn, 1);
    return 0;
}

int insn_describe(const uint8_t *code, size_t avail, mt_addr addr, char *out, size_t out_len)
{
    cs_insn *insn = decode(code, avail, addr);
    if (!insn) {
        snprintf(out, out_len, "(undecodable)");
        return -1;
    }
    snprintf(out, out_len, "%s %s", insn->mnemonic, insn->op_str);
    cs_free(insn, 1);
    return 0;
}

/* A relative branch's kind, for re-encoding. */
enum rel_branch { REL_NONE, REL_JMP, REL_JCC, REL_OTHER };

static enum rel_branch rel_branch_kind(const cs_insn *insn, mt_addr *target)
{
    const cs_x86 *x = &insn->detail->x86;
    bool relative = false;
    for (int i = 0; i < insn->detail->groups_count; i++)
        relative |= insn->detail->groups[i] == CS_GRP_BRANCH_RELATIVE;
    if (!relative)
        return REL_NONE;
    if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
        return REL_OTHER;
    *target = (mt_addr)x->operands[0].imm;
    if (insn->id == X86_INS_JMP)
        return REL_JMP;
    /* jcc: 7x rel8 or 0f 8x rel32. jrcxz, loop and call are not. */
    uint8_t op = insn->bytes[x->prefix[0] || x->prefix[1] || x->prefix[2] || x->prefix[3] ? 1 : 0];
    if (insn->id != X86_INS_CALL && insn->id != X86_INS_JRCXZ && insn->id != X86_INS_JECXZ &&
        insn->id != X86_INS_LOOP && insn->id != X86_INS_LOOPE && insn->id != X86_INS_LOOPNE &&
        ((op & 0xf0) == 0x70 || op == 0x0f))
        return REL_JCC;
    return REL_OTHER;
}

static bool put_rel32(uint8_t *p, mt_addr target, mt_addr next)
{
    int64_t d = (int64_t)(target - next);
    if (d < INT32_MIN || d > INT32_MAX)
        return false;
    int32_t d32 = (int32_t)d;
    memcpy(p, &d32, 4);
    return true;
}

int insn_relocate(const uint8_t *code, size_t avail, mt_addr addr, size_t min_len, mt_addr dest,
                  uint8_t *out, size_t out_cap, struct insn_reloc *rel, char *why, size_t why_len)
{
    memset(rel, 0, sizeof(*rel));
    size_t at = 0, o = 0;
    while (at < min_len) {
        if (rel->n == INSN_RELOC_MAX) {
            snprintf(why, why_len, "too many instructions before byte %zu", min_len);
            return -1;
        }
        cs_insn *insn = at < avail ? decode(code + at, avail - at, addr + at) : NULL;
        if (!insn) {
            snprintf(why, why_len, "cannot decode the instruction at 0x%" PRIxADDR, addr + at);
            return -1;
        }
        size_t n = insn->size;
        mt_addr here = dest + o;
        mt_addr target = 0;
        enum rel_branch kind = rel_branch_kind(insn, &target);
        /* An indirect branch (or int3, syscall) cannot leave the prologue;
         * a ret can: it is copied as it is. */
        bool movable = kind != REL_NONE || !is_branch(insn) || insn->id == X86_INS_RET;
        bool ok = movable && o + n + 6 <= out_cap;
        if (ok && kind == REL_NONE) {
            memcpy(out + o, code + at, n);
            uint8_t disp_offset;
            int64_t disp;
            if (find_rip_disp(insn, &disp_offset, &disp)) {
                ok = insn->detail->x86.encoding.disp_size == 4 &&
                     put_rel32(out + o + disp_offset, addr + at + n + (mt_addr)disp, here + n);
            }
            rel->src_off[rel->n] = (uint8_t)at;
            rel->dst_off[rel->n] = (uint8_t)o;
            o += n;
        } else if (ok && (kind == REL_JMP || kind == REL_JCC)) {
            ok = !(target > addr && target < addr + min_len + INSN_MAX_LEN);
            rel->src_off[rel->n] = (uint8_t)at;
            rel->dst_off[rel->n] = (uint8_t)o;
            if (ok && kind == REL_JMP) {
                out[o] = 0xe9;
                ok = put_rel32(out + o + 1, target, here + 5);
                o += 5;
            } else if (ok) {
                uint8_t op = code[at] == 0x0f ? code[at + 1] : (uint8_t)(code[at] + 0x10);
                out[o] = 0x0f;
                out[o + 1] = op;
                ok = put_rel32(out + o + 2, target, here + 6);
                o += 6;
            }
        } else {
            ok = false;
        }
        if (!ok) {
            snprintf(why, why_len, "'%s %s' at 0x%" PRIxADDR " cannot be moved", insn->mnemonic,
                     insn->op_str, addr + at);
            cs_free(insn, 1);
            return -1;
        }
        rel->n++;
        at += n;
        cs_free(insn, 1);
    }
    if (o + 5 > out_cap) {
        snprintf(why, why_len, "the relocated prologue of 0x%" PRIxADDR " is too long", addr);
        return -1;
    }
    out[o] = 0xe9;
    if (!put_rel32(out + o + 1, addr + at, dest + o + 5)) {
        snprintf(why, why_len, "0x%" PRIxADDR " is out of reach of 0x%" PRIxADDR, addr, dest);
        return -1;
    }
    rel->src_len = at;
    rel->out_len = o + 5;
    return 0;
}

bool insn_branch_into(const uint8_t *code, size_t len, mt_addr addr, mt_addr lo, mt_addr hi)
{
    if (open_handle() != 0)
        return true;
    const uint8_t *p = code;
    size_t left = len;
    uint64_t pc = addr;
    cs_insn *insn = cs_malloc(insn_handle);
    if (!insn)
        return true;
    bool found = false;
    while (!found && cs_disasm_iter(insn_handle, &p, &left, &pc, insn)) {
        mt_addr target = 0;
        enum rel_branch kind = rel_branch_kind(insn, &target);
        found = kind != REL_NONE && target > lo && target < hi;
    }
    cs_free(insn, 1);
    return found;
}

#define MT_STR2(x) #x
#define MT_STR(x) MT_STR2(x)

const char *insn_capstone_version(void)
{
    return MT_STR(CS_VERSION_MAJOR) "." MT_STR(CS_VERSION_MINOR) "." MT_STR(CS_VERSION_EXTRA);
}
