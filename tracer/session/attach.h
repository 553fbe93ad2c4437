/* Joining a running process and leaving it as it was: seizing every thread
 * (threads keep being created meanwhile), and, once every thread is parked
 * in a ptrace stop, undoing each change memtrace made. */
#ifndef MT_ATTACH_H
#define MT_ATTACH_H
#include <stddef.h>
#include <sys/types.h>
#include "hooks.h"
#include "process.h"

/* PTRACE_SEIZE with these options, never EXITKILL: if memtrace dies, the
 * process must not die with it. */
#define ATTACH_SEIZE_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
                              PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT)

/* Seizes every thread of p->pid listed in /proc/PID/task, again and again
 * until a listing brings no thread that is not traced yet, and interrupts
 * each so it parks. Threads the seized ones create meanwhile are traced by
 * the kernel (TRACECLONE) and only recorded here. Returns 0, or -1 with why
 * (nothing left traced then). */
int attach_seize_threads(struct process *p, char *why, size_t why_len);

/* Whether tid, parked in an interrupt stop, has executed one of p's int3s
 * and not yet taken the SIGTRAP: it must be let go to take it first. */
bool attach_trap_pending(const struct process *p, pid_t tid);

/* A parked thread stopped inside a return stub: its call is completed (if
 * its record was not yet published) and it is moved to where the stub
 * jumps. Before the leak scan, so the block counts. No-op elsewhere. */
int attach_finish_stub(struct thread *th);
/* Undoes memtrace's state in one parked thread: a thread between the
 * entry trap and the out-of-line slot's jump back is moved to the original
 * instruction; a thread sitting on the trampoline completes its call; every
 * return address redirected to the trampoline or a stub gets its real value
 * back. */
int attach_restore_thread(const struct trap_ctx *ctx, struct thread *th);

/* With every thread of p restored and parked: puts the original bytes
 * under every int3 and unmaps the scratch page (unless shared_memory: a
 * vfork child borrowing its parent's memory, restored through the parent). */
int attach_restore_memory(struct process *p, bool shared_memory, char *why, size_t why_len);

/* Detaches every thread of p; group-stopped threads stay stopped. */
int attach_detach_threads(struct process *p);

#endif
