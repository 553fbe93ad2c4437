/* What memtrace knows of x86-64 outside the register file (regs.h) and the
 * instruction decoder (insn.c): the breakpoint instruction, where a trap
 * leaves rip, and how a call's return address sits on the stack. */
#ifndef MT_X86_64_H
#define MT_X86_64_H
#include <stdint.h>
#include "mt_addr.h"

/* int3: one byte, so it fits over any instruction. */
#define ARCH_BREAKPOINT_INSN 0xccu
#define ARCH_BREAKPOINT_LEN 1u
/* Bytes a return address takes on the stack; at a function's first
 * instruction it is the word at rsp. */
#define ARCH_RETURN_SLOT 8u
/* The System V red zone: 128 bytes below rsp a leaf function may use
 * without moving rsp, so nothing may be written there behind its back. */
#define ARCH_RED_ZONE 128u

/* Where the int3 a thread just executed is: a trap leaves rip after it. */
static inline mt_addr arch_trap_addr(mt_addr rip_after_trap)
{
    return rip_after_trap - ARCH_BREAKPOINT_LEN;
}

/* A return address's call: the caller's CFI row and line are the call's,
 * one byte before the address it returns to. */
static inline mt_addr arch_call_site(mt_addr return_addr)
{
    return return_addr - 1;
}

#endif
