/* A traced thread: its pending allocator calls (a shadow stack of the calls
 * between their entry trap and their return) and its state in a session. */
#ifndef MT_THREAD_H
#define MT_THREAD_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "alloc_fn.h"
#include "mt_addr.h"
#include "regs.h"
#include "wait_event.h"

struct process;

/* An allocator call between its entry trap and its return trap. */
struct pending_call {
    enum alloc_fn fn;
    mt_addr entry_sp;       /* slot that held the return address (now redirect) */
    mt_addr return_addr;    /* the real return address */
    mt_addr redirect;       /* what the slot holds: the trampoline or a return stub */
    int stub;               /* the return stub's number, -1: the trampoline */
    uint64_t args[6];       /* malloc family: 3 are read; the mapping family: up to 6 */
    uint32_t stack_id;
    /* What the block is: fn, or the operator new whose malloc this is. */
    enum alloc_fn block_fn;
    /* operator new's own entry, whose return is never redirected (an
     * exception may leave through it): it names the block its malloc
     * makes. used: a malloc of its own came, so a new call in the same
     * frame is another call, not its tail jump (new[] to new). */
    bool new_marker, used;
    bool arena;             /* a mapping call of an allocator library (its arenas) */
    unsigned allocator;     /* the entry point's allocator library, 0: any */
};

struct thread {
    pid_t tid;
    unsigned number;                /* memcheck's thread number: 1 = the first memtrace saw */
    struct process *proc;
    struct pending_call *pending;   /* shadow stack, innermost last */
    unsigned npending, pending_cap;
    bool exiting;
    bool parked;                    /* held in a ptrace stop for attach or detach */
    bool group_stopped;             /* parked in a group stop (SIGSTOP): LISTEN, not CONT */
    bool reinterrupt;               /* let go to take a pending trap; park it again after */
    /* In a ptrace stop memtrace has seen and not ended: a stop whose
     * handling failed stays so, and parking must hold it as it is, never
     * wait for another (it would never come). */
    bool stopped;
    enum wait_kind stop_kind;
    int stop_signal;                /* WK_SIGNAL: the signal it stopped with */
    bool has_resume_regs;           /* a trap handled whose registers could not be set: */
    mt_regs resume_regs;            /* what it resumes with (detach sets them) */
    bool has_exit_regs;
    mt_regs exit_regs;              /* at PTRACE_EVENT_EXIT: roots for the leak scan */
    struct thread *next;
};

/* Pending-call stack of a thread. */
struct pending_call *thread_push_pending(struct thread *t);
/* Drops calls whose frames are gone (longjmp out of an allocator call,
 * e.g. from a signal handler): those with entry_sp below sp. */
void thread_prune_pending(struct thread *t, mt_addr sp);
/* Takes t's pending call that returns through stub into *out (the
 * innermost, or one a signal handler's call sits on) and frees the stub.
 * Returns false when t has none there. */
bool thread_take_stub_call(struct thread *t, unsigned stub, struct pending_call *out);

#endif
