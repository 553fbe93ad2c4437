/* Register-level emulation of the few instructions allocator entries start
 * with. Flags follow the Intel SDM definitions of TEST and SUB. */
#include "emulate.h"
#include <string.h>

static uint64_t width_mask(unsigned bytes)
{
    return bytes >= 8 ? ~0ULL : ((1ULL << (bytes * 8)) - 1);
}

static uint64_t parity_flag(uint64_t result)
{
    return (__builtin_popcount((unsigned)(result & 0xff)) % 2 == 0) ? REGS_FLAG_PF : 0;
}

static uint64_t sign_bit(uint64_t v, unsigned bytes)
{
    return (v >> (bytes * 8 - 1)) & 1;
}

static void set_logic_flags(mt_regs *r, uint64_t result, unsigned bytes)
{
    uint64_t f = r->eflags & ~(uint64_t)(REGS_FLAG_CF | REGS_FLAG_PF | REGS_FLAG_ZF |
                                         REGS_FLAG_SF | REGS_FLAG_OF);
    result &= width_mask(bytes);
    f |= parity_flag(result);
    if (result == 0)
        f |= REGS_FLAG_ZF;
    if (sign_bit(result, bytes))
        f |= REGS_FLAG_SF;
    r->eflags = f;
}

static void set_sub_flags(mt_regs *r, uint64_t a, uint64_t b, uint64_t res)
{
    uint64_t f = r->eflags & ~(uint64_t)(REGS_FLAG_CF | REGS_FLAG_PF | REGS_FLAG_AF |
                                         REGS_FLAG_ZF | REGS_FLAG_SF | REGS_FLAG_OF);
    if (a < b)
        f |= REGS_FLAG_CF;
    f |= parity_flag(res);
    if ((a ^ b ^ res) & 0x10)
        f |= REGS_FLAG_AF;
    if (res == 0)
        f |= REGS_FLAG_ZF;
    if (res >> 63)
        f |= REGS_FLAG_SF;
    if (((a ^ b) & (a ^ res)) >> 63)
        f |= REGS_FLAG_OF;
    r->eflags = f;
}

int emulate_step(const struct step_plan *p, mt_regs *r, mt_addr pc, uint64_t stack_top,
                 struct stack_store *store)
{
    memset(store, 0, sizeof(*store));
    mt_addr next = pc + p->len;
    switch (p->kind) {
    case STEP_SKIP:
        break;
    case STEP_PUSH:
        store->valid = true;
        store->value = regs_get(r, p->src);
        r->rsp -= 8;
        store->addr = r->rsp;
        break;
    case STEP_MOV: {
        uint64_t v = regs_get(r, p->src) & width_mask(p->op_bytes);
        uint64_t *d = regs_slot(r, p->dst);
        if (p->op_bytes == 8 || p->op_bytes == 4)
            *d = v;                 /* 32-bit writes zero-extend */
        else
            *d = (*d & ~width_mask(p->op_bytes)) | v;
        break;
    }
    case STEP_TEST:
        set_logic_flags(r, regs_get(r, p->dst) & regs_get(r, p->src), p->op_bytes);
        break;
    case STEP_SUB_RSP: {
        uint64_t a = r->rsp, b = (uint64_t)p->imm, res = a - b;
        set_sub_flags(r, a, b, res);
        r->rsp = res;
        break;
    }
    case STEP_RET:
        next = stack_top;
        r->rsp += 8;
        break;
    case STEP_JMP:
    case STEP_OUT_OF_LINE:
        next = p->target;
        break;
    default:
        return -1;
    }
    r->rip = next;
    return 0;
}

const char *step_kind_name(enum step_kind k)
{
    static const char *const names[] = {
        [STEP_SKIP] = "skip", [STEP_PUSH] = "push", [STEP_MOV] = "mov", [STEP_TEST] = "test",
        [STEP_SUB_RSP] = "sub-rsp", [STEP_RET] = "ret", [STEP_JMP] = "jmp",
        [STEP_OUT_OF_LINE] = "out-of-line",
    };
    return (unsigned)k <= STEP_OUT_OF_LINE ? names[k] : "?";
}
