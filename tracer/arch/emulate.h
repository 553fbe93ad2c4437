/* Stepping over the instruction an int3 displaced, without single-stepping:
 * either emulate it on the saved registers or jump to an out-of-line copy.
 * Pure: the caller reads and writes target memory. */
#ifndef MT_EMULATE_H
#define MT_EMULATE_H
#include <stdbool.h>
#include <stdint.h>
#include "mt_addr.h"
#include "regs.h"

enum step_kind {
    STEP_SKIP,          /* endbr64, nop: rip += len */
    STEP_PUSH,          /* push src (64-bit) */
    STEP_MOV,           /* mov dst, src (register to register) */
    STEP_TEST,          /* test dst, src */
    STEP_SUB_RSP,       /* sub rsp, imm */
    STEP_RET,           /* ret */
    STEP_JMP,           /* jmp target (relative, resolved) */
    STEP_OUT_OF_LINE,   /* rip = target, a scratch slot that jumps back */
};

struct step_plan {
    enum step_kind kind;
    uint8_t len;             /* length of the original instruction */
    uint8_t op_bytes;        /* operand size for MOV/TEST: 1, 2, 4 or 8 */
    enum mt_reg dst, src;
    int64_t imm;
    mt_addr target;
};

/* A stack store the step implies (push). */
struct stack_store {
    bool valid;
    mt_addr addr;
    uint64_t value;
};

/* Advances r past the instruction at pc. stack_top is the 8 bytes at rsp
 * (needed by RET only). Returns 0, or -1 for an unknown plan. */
int emulate_step(const struct step_plan *p, mt_regs *r, mt_addr pc, uint64_t stack_top,
                 struct stack_store *store);
const char *step_kind_name(enum step_kind k);

#endif
