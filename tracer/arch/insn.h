/* Instruction decoding with capstone: how to step over the instruction an
 * int3 displaces, and how to copy it out of line. The only user of capstone. */
#ifndef MT_INSN_H
#define MT_INSN_H
#include <stddef.h>
#include <stdint.h>
#include "emulate.h"

#define INSN_MAX_LEN 15
#define INSN_SLOT_SIZE 32   /* copied instruction + jmp *0(%rip) + 8-byte target */

/* Decodes the instruction at addr (code = its original bytes) and chooses an
 * emulation, or STEP_OUT_OF_LINE (plan->target left 0 for the caller to fill).
 * Returns 0, or -1 with a reason in why (e.g. "call rel32 cannot be moved"). */
int insn_plan_step(const uint8_t *code, size_t avail, mt_addr addr, struct step_plan *plan,
                   char *why, size_t why_len);

/* Writes the out-of-line slot for the instruction at addr into out
 * (INSN_SLOT_SIZE bytes): the instruction, relocated to run at slot_addr when
 * RIP-relative, then an absolute jump to addr + len. Returns 0, or -1 when the
 * relocated displacement does not fit. */
int insn_build_slot(const uint8_t *code, size_t len, mt_addr addr, mt_addr slot_addr,
                    uint8_t out[INSN_SLOT_SIZE], char *why, size_t why_len);

/* "push r12" style text for diagnostics. */
int insn_describe(const uint8_t *code, size_t avail, mt_addr addr, char *out, size_t out_len);

#endif
