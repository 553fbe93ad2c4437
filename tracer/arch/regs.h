/* The only place that knows x86-64 register names and the System V calling
 * convention. Everything else asks for "argument 2" or "the stack pointer". */
#ifndef MT_REGS_H
#define MT_REGS_H
#include <stdint.h>
#include <sys/user.h>
#include "mt_addr.h"
#include "x86_64.h"

typedef struct user_regs_struct mt_regs;

enum mt_reg {
    MT_RAX, MT_RBX, MT_RCX, MT_RDX, MT_RSI, MT_RDI, MT_RBP, MT_RSP,
    MT_R8, MT_R9, MT_R10, MT_R11, MT_R12, MT_R13, MT_R14, MT_R15,
    MT_RIP, MT_REG_COUNT, MT_REG_NONE = -1
};

uint64_t *regs_slot(mt_regs *r, enum mt_reg reg);
uint64_t regs_get(const mt_regs *r, enum mt_reg reg);

static inline mt_addr regs_ip(const mt_regs *r) { return r->rip; }
static inline void regs_set_ip(mt_regs *r, mt_addr ip) { r->rip = ip; }
static inline mt_addr regs_sp(const mt_regs *r) { return r->rsp; }
/* An outer frame's ip is a return address: inside the call is the byte before it. */
static inline mt_addr regs_call_site(const mt_regs *frame) { return arch_call_site(frame->rip); }
/* The system call a thread stopped in (at a syscall or exit stop). */
static inline long regs_syscall_nr(const mt_regs *r) { return (long)r->orig_rax; }
static inline void regs_set_sp(mt_regs *r, mt_addr sp) { r->rsp = sp; }
/* The address of the int3 a thread trapped on. */
static inline mt_addr regs_trap_addr(const mt_regs *r) { return arch_trap_addr(r->rip); }
/* r10: a return stub's register for the call's real return address. */
static inline uint64_t regs_stub_target(const mt_regs *r) { return r->r10; }
static inline uint64_t regs_retval(const mt_regs *r) { return r->rax; }
static inline void regs_set_retval(mt_regs *r, uint64_t v) { r->rax = v; }
/* Integer argument n (1-based) of a call, read at the callee's entry. */
uint64_t regs_call_arg(const mt_regs *r, int n);
/* Prepares r to execute a syscall instruction with nr and args[0..5]. */
void regs_set_syscall(mt_regs *r, long nr, const uint64_t args[6]);
/* Bytes a return address takes on the stack. */
#define REGS_RETURN_SLOT ARCH_RETURN_SLOT
/* Value of eflags bits the emulator needs. */
#define REGS_FLAG_CF 0x001u
#define REGS_FLAG_PF 0x004u
#define REGS_FLAG_AF 0x010u
#define REGS_FLAG_ZF 0x040u
#define REGS_FLAG_SF 0x080u
#define REGS_FLAG_OF 0x800u

#endif
