/* Remote stack unwinding with libunwind-ptrace. Registers come from the trap's
 * GETREGS; stack memory from one process_vm_readv per trap (stack_snapshot).
 * The only user of libunwind. */
#ifndef MT_UNWIND_H
#define MT_UNWIND_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"
#include "regs.h"
#include "remote.h"

#define STACK_SNAPSHOT_BYTES 8192

/* The top of a thread's stack as it was at the trap. */
struct stack_snapshot {
    mt_addr base;          /* = rsp at the trap */
    size_t len;            /* bytes valid in buf (or in view) */
    const uint8_t *view;   /* NULL: the bytes are buf; else a copy made elsewhere
                            * (a --fast record), read in place */
    uint8_t buf[STACK_SNAPSHOT_BYTES];
};

/* One read of the stack above sp. Returns 0 or -errno. */
int stack_snapshot_fill(struct stack_snapshot *s, const struct remote *r, pid_t tid, mt_addr sp);
/* Reads a word from the snapshot; returns 0, or -1 when outside it. */
int stack_snapshot_u64(const struct stack_snapshot *s, mt_addr addr, uint64_t *out);
/* Replaces a word in the snapshot (for return slots memtrace redirected). */
void stack_snapshot_patch(struct stack_snapshot *s, mt_addr addr, uint64_t value);

struct unwinder;

/* How the unwinder reads target memory outside the stack snapshot: it must
 * show original bytes where int3s are planted. Returns 0 or -errno. */
typedef int (*unwind_read_fn)(void *ctx, pid_t tid, mt_addr addr, void *buf, size_t len);

/* The runtime range [lo, hi) of the module holding ip and the path of its
 * file (its unwind tables are checked before libunwind reads them); false
 * when no module holds ip. */
typedef bool (*unwind_module_fn)(void *ctx, mt_addr ip, mt_addr *lo, mt_addr *hi,
                                 const char **path);

/* read and module_range get read_ctx; module_range may be NULL (every
 * module then shares one unwind-info cache). */
struct unwinder *unwinder_create(pid_t pid, unwind_read_fn read, unwind_module_fn module_range,
                                 void *read_ctx);
void unwinder_destroy(struct unwinder *u);
/* The process is gone: its libunwind address space, its UPT handles (each
 * holds a mapped ELF image) and its page cache go; only the counters stay,
 * for --stats. unwinder_callers then finds nothing. */
void unwinder_retire(struct unwinder *u);
/* Forgets cached unwind info (modules were loaded or unloaded). */
void unwinder_flush(struct unwinder *u);
/* Walks the stack of a thread stopped at the first instruction of a
 * function and stores the return addresses of up to max callers: ips[0] is
 * the address the function will return to. Returns the count (>= 1 when
 * the return address could be read), never fails hard. */
unsigned unwinder_callers(struct unwinder *u, pid_t tid, const mt_regs *regs,
                          const struct stack_snapshot *snap, mt_addr *ips, unsigned max);
/* Called for each frame of a walk, innermost first (depth 0: regs as
 * given); outer frames carry the ip, the stack pointer and the
 * callee-saved registers as unwinding restored them, the others 0. Returns
 * false to stop the walk. */
typedef bool (*unwind_frame_fn)(void *ctx, unsigned depth, const mt_regs *frame);
/* Walks the stack of a thread stopped anywhere (at its exit, in a
 * syscall), up to max frames. Returns the number of frames visited. Not
 * counted in unwinder_count: it is no allocation's stack. */
unsigned unwinder_walk(struct unwinder *u, pid_t tid, const mt_regs *regs, unwind_frame_fn visit,
                       void *ctx, unsigned max);
uint64_t unwinder_count(const struct unwinder *u);
/* Frames found by stepping (the return address at [rsp] is not one: it
 * costs no unwinding) and the time spent unwinding, for --stats. */
void unwinder_cost(const struct unwinder *u, uint64_t *frames, uint64_t *ns);

/* The libunwind version memtrace was built with ("1.6.2"). */
const char *unwind_libunwind_version(void);

#endif
