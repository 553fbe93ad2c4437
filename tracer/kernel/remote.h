/* A stopped task's memory and registers, as memtrace sees them: the seam
 * between the trap path (breakpoints, stepping, return stubs, hooks, link
 * map, leak roots) and the kernel. remote_ptrace is the real target; unit
 * tests plug in a fake (tests/unit/fake_remote.c). Every call returns 0 (a
 * partial read: the bytes read) or -errno; -ESRCH means the task is gone. */
#ifndef MT_REMOTE_H
#define MT_REMOTE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"
#include "regs.h"

struct remote_ops {
    /* As much of [addr, addr+len) as is mapped, from addr up: the number
     * of bytes read (0 when addr itself is unmapped) or -errno. */
    ssize_t (*read)(void *ctx, pid_t tid, mt_addr addr, void *buf, size_t len);
    int (*write)(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len);
    /* Writes into pages the target cannot write (code, the scratch page). */
    int (*poke_text)(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len);
    int (*get_regs)(void *ctx, pid_t tid, mt_regs *regs);
    int (*set_regs)(void *ctx, pid_t tid, const mt_regs *regs);
};

struct remote {
    const struct remote_ops *ops;
    void *ctx;
};

/* process_vm_readv/writev (PTRACE_PEEKDATA where process_vm_readv is
 * refused: a non-dumpable target, some seccomp profiles), POKEDATA for
 * text, GETREGS/SETREGS. */
extern const struct remote remote_ptrace;

/* The same for one process, with its /proc/PID/mem open as a further
 * fallback: opened while the process is still dumpable (at exec, at
 * attach), the descriptor keeps working after it makes itself
 * non-dumpable, when PEEKDATA/POKEDATA are refused too. Only for tids of
 * that process (the descriptor is its address space). Returns 0 (without
 * the descriptor when /proc refuses it) or -ENOMEM. */
int remote_ptrace_open(struct remote *r, pid_t pid);
/* The same without the descriptor (remote_ptrace_reopen opens it). */
int remote_ptrace_init(struct remote *r);
/* Opens the descriptor again: the process exec'd a new address space. */
void remote_ptrace_reopen(struct remote *r, pid_t pid);
void remote_ptrace_close(struct remote *r);
/* Closes the descriptor only (the process's image ended). */
void remote_ptrace_close_mem(struct remote *r);

static inline ssize_t remote_read_partial(const struct remote *r, pid_t tid, mt_addr addr,
                                          void *buf, size_t len)
{
    return r->ops->read(r->ctx, tid, addr, buf, len);
}
/* All of [addr, addr+len) or -EFAULT. */
int remote_read(const struct remote *r, pid_t tid, mt_addr addr, void *buf, size_t len);
int remote_read_u64(const struct remote *r, pid_t tid, mt_addr addr, uint64_t *out);
static inline int remote_write(const struct remote *r, pid_t tid, mt_addr addr, const void *buf,
                               size_t len)
{
    return r->ops->write(r->ctx, tid, addr, buf, len);
}
static inline int remote_poke_text(const struct remote *r, pid_t tid, mt_addr addr,
                                   const void *buf, size_t len)
{
    return r->ops->poke_text(r->ctx, tid, addr, buf, len);
}
static inline int remote_get_regs(const struct remote *r, pid_t tid, mt_regs *regs)
{
    return r->ops->get_regs(r->ctx, tid, regs);
}
static inline int remote_set_regs(const struct remote *r, pid_t tid, const mt_regs *regs)
{
    return r->ops->set_regs(r->ctx, tid, regs);
}

#endif
