/* x86-64 register access by index and the System V argument registers. */
#include "regs.h"
#include <assert.h>
#include <stddef.h>

uint64_t *regs_slot(mt_regs *r, enum mt_reg reg)
{
    switch (reg) {
    case MT_RAX: return (uint64_t *)&r->rax;
    case MT_RBX: return (uint64_t *)&r->rbx;
    case MT_RCX: return (uint64_t *)&r->rcx;
    case MT_RDX: return (uint64_t *)&r->rdx;
    case MT_RSI: return (uint64_t *)&r->rsi;
    case MT_RDI: return (uint64_t *)&r->rdi;
    case MT_RBP: return (uint64_t *)&r->rbp;
    case MT_RSP: return (uint64_t *)&r->rsp;
    case MT_R8: return (uint64_t *)&r->r8;
    case MT_R9: return (uint64_t *)&r->r9;
    case MT_R10: return (uint64_t *)&r->r10;
    case MT_R11: return (uint64_t *)&r->r11;
    case MT_R12: return (uint64_t *)&r->r12;
    case MT_R13: return (uint64_t *)&r->r13;
    case MT_R14: return (uint64_t *)&r->r14;
    case MT_R15: return (uint64_t *)&r->r15;
    case MT_RIP: return (uint64_t *)&r->rip;
    default: return NULL;
    }
}

uint64_t regs_get(const mt_regs *r, enum mt_reg reg)
{
    uint64_t *slot = regs_slot((mt_regs *)r, reg);
    assert(slot);
    return *slot;
}

uint64_t regs_call_arg(const mt_regs *r, int n)
{
    switch (n) {
    case 1: return r->rdi;
    case 2: return r->rsi;
    case 3: return r->rdx;
    case 4: return r->rcx;
    case 5: return r->r8;
    case 6: return r->r9;
    default: assert(!"no such register argument"); return 0;
    }
}

void regs_set_syscall(mt_regs *r, long nr, const uint64_t args[6])
{
    r->rax = (uint64_t)nr;
    r->orig_rax = (uint64_t)-1; /* not restarting a syscall */
    r->rdi = args[0];
    r->rsi = args[1];
    r->rdx = args[2];
    r->r10 = args[3];
    r->r8 = args[4];
    r->r9 = args[5];
}
