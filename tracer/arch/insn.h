/* Instruction decoding with capstone: how to step over the instruction an
 * int3 displaces, and how to copy it out of line. The only user of capstone. */
#ifndef MT_INSN_H
#define MT_INSN_H
#include <stdbool.h>
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

/* A function's first instructions moved elsewhere so a jump can replace
 * them: where each instruction starts in the original and in the copy. */
#define INSN_RELOC_MAX 8
struct insn_reloc {
    size_t src_len;                    /* bytes displaced: whole instructions, >= min_len */
    size_t out_len;                    /* bytes of the copy, its jump back included */
    unsigned n;                        /* instructions displaced */
    uint8_t src_off[INSN_RELOC_MAX];
    uint8_t dst_off[INSN_RELOC_MAX];
};

/* Copies the instructions at addr (code: avail original bytes, the rest of
 * the function) covering at least min_len bytes to run at dest, then a
 * jmp rel32 back to addr + src_len. RIP-relative operands and relative
 * jumps are re-encoded for the new place; a call, a short loop branch, a
 * jump into the displaced bytes or a displacement out of reach refuses.
 * Returns 0, or -1 with why. */
int insn_relocate(const uint8_t *code, size_t avail, mt_addr addr, size_t min_len, mt_addr dest,
                  uint8_t *out, size_t out_cap, struct insn_reloc *rel, char *why, size_t why_len);

/* Whether a relative branch among the instructions of [addr, addr + len)
 * (code: their bytes) lands strictly inside (lo, hi): a jump there would
 * run half an instruction once [lo, hi) is replaced. Decoding stops at the
 * first byte that is not an instruction. */
bool insn_branch_into(const uint8_t *code, size_t len, mt_addr addr, mt_addr lo, mt_addr hi);

/* How many of the avail bytes at addr are alignment padding (nop forms and
 * int3s, as compilers put between functions), from the first on. */
size_t insn_padding_len(const uint8_t *code, size_t avail, mt_addr addr);

/* "push r12" style text for diagnostics. */
int insn_describe(const uint8_t *code, size_t avail, mt_addr addr, char *out, size_t out_len);

/* The capstone version memtrace was built with ("4.0.2"). */
const char *insn_capstone_version(void);

#endif
