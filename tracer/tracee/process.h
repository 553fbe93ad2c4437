/* The traced world: a process is an address space (modules, breakpoints,
 * scratch page, allocation model, interned stacks); a thread owns its
 * registers-level state (the shadow stack of pending allocator calls). */
#ifndef MT_PROCESS_H
#define MT_PROCESS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "alloc_model.h"
#include "breakpoint.h"
#include "map_table.h"
#include "modules.h"
#include "return_stubs.h"
#include "scratch.h"
#include "shm_table.h"
#include "regs.h"
#include "stack_intern.h"

struct unwinder;
struct symbolizer;
struct elf_file;
struct leak_scan;

/* An allocator call between its entry trap and its return trap. */
struct pending_call {
    enum alloc_fn fn;
    mt_addr entry_sp;       /* slot that held the return address (now redirect) */
    mt_addr return_addr;    /* the real return address */
    mt_addr redirect;       /* what the slot holds: the trampoline or a return stub */
    int stub;               /* the return stub's number, -1: the trampoline */
    uint64_t args[6];       /* malloc family: 3 are read; the mapping family: up to 6 */
    uint32_t stack_id;
};

struct thread {
    pid_t tid;
    struct process *proc;
    struct pending_call *pending;   /* shadow stack, innermost last */
    unsigned npending, pending_cap;
    bool exiting;
    bool parked;                    /* held in a ptrace stop for attach or detach */
    bool group_stopped;             /* parked in a group stop (SIGSTOP): LISTEN, not CONT */
    bool reinterrupt;               /* let go to take a pending trap; park it again after */
    bool has_exit_regs;
    mt_regs exit_regs;              /* at PTRACE_EVENT_EXIT: roots for the leak scan */
    struct thread *next;
};

enum process_end { END_RUNNING, END_EXITED, END_SIGNALED, END_EXEC, END_DETACHED };

struct process {
    pid_t pid;
    const struct remote *remote;   /* its memory and registers: remote_ptrace, or a test's fake */
    char **argv;            /* the command, owned */
    enum process_end end;
    int exit_code, signal;
    bool core_dumped;
    struct thread *threads;
    struct module_table modules;
    struct bp_table bps;
    struct scratch scratch;
    struct return_stubs stubs;      /* calls returning through stubs, to drain */
    struct alloc_model model;
    struct map_table maps;          /* the program's own mappings (mmap, shmat) */
    struct shm_table shms;          /* SysV segments it created or attached */
    struct stack_intern stacks;
    struct unwinder *unwinder;
    struct symbolizer *symbolizer;
    struct leak_scan *scan;         /* leak kinds, once the exit scan ran */
    uint64_t scan_ns;               /* time the scan took */
    mt_addr *exited_sps;            /* stack pointers of threads that exited before the end */
    size_t nexited_sps, exited_sps_cap;
    mt_addr at_entry, at_base;
    mt_addr r_debug;        /* ld.so's _r_debug, 0 for static programs */
    bool exec_seen;         /* this record's image has been set up */
    bool banner_shown;      /* the text report's header is out */
    bool untraced_child;    /* --no-follow-forks: a vfork child traced only until exec */
    bool hooks_ready;       /* the allocator's hooks are planted */
    uint64_t sample_tick;   /* --sample: calls seen since the last unwind */
    bool hook_warned;
    bool attached;          /* memtrace attach: blocks from before are untracked */
    uint32_t unplaced_traps; /* allocator traps before one of its threads was pinned */
    bool placed;            /* a thread of it shares memtrace's CPU (placement) */
    uint64_t end_ns;        /* CLOCK_MONOTONIC when tracing it ended (block ages) */
    struct process *next;
};

/* Creates a process record for pid with a copy of argv. */
struct process *process_create(pid_t pid, char *const *argv);
void process_destroy(struct process *p);
/* The record of a child forked from parent: a copy of its breakpoints,
 * scratch page, modules, allocation state and mappings (inherited blocks and
 * mappings are the child's to free or leak; segments stay the creator's). */
struct process *process_fork(const struct process *parent, pid_t child);
struct thread *process_add_thread(struct process *p, pid_t tid);
void process_remove_thread(struct process *p, pid_t tid);
struct thread *process_find_thread(const struct process *p, pid_t tid);

/* glibc keeps an exited thread's stack mapped for reuse: the leak scan reads
 * it only above the stack pointer the thread had when it exited. */
void process_note_exited_sp(struct process *p, mt_addr sp);

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
