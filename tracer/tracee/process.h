/* The traced world: a process is an address space (modules, breakpoints,
 * scratch page, allocation model, interned stacks); a thread owns its
 * registers-level state (the shadow stack of pending allocator calls). */
#ifndef MT_PROCESS_H
#define MT_PROCESS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "alloc_model.h"
#include "hook_list.h"
#include "breakpoint.h"
#include "map_table.h"
#include "modules.h"
#include "thread.h"
#include "return_stubs.h"
#include "fast_patch.h"
#include "fast_ring.h"
#include "frame_walk.h"
#include "scratch.h"
#include "shm_table.h"
#include "regs.h"
#include "stack_intern.h"
#include "heap_census.h"

struct unwinder;
struct symbolizer;
struct elf_file;
struct leak_scan;

enum process_end { END_RUNNING, END_EXITED, END_SIGNALED, END_EXEC, END_DETACHED };

/* --fast: a realloc between its two records (the old block, freed at the
 * first, comes back if the call fails). */
struct fast_realloc {
    uint64_t pair;          /* its first record's ticket + 1 */
    uint32_t stack_id;
    bool taken;             /* old holds the block freed at the first record */
    struct block old;
};

/* --fast: an operator new entered and not yet given its block, as its
 * record said (the stub jumps into new, so an exception can leave it). */
struct fast_new {
    mt_addr rsp;            /* at its entry */
    mt_addr ra;             /* its return address */
    unsigned fn;            /* FN_NEW or FN_NEW_ARRAY */
    uint32_t stack_id;
    bool used;              /* a malloc of its own came (it may try again) */
};
#define FAST_NEWS_MAX 64

struct process {
    pid_t pid;
    const struct remote *remote;   /* its memory and registers: own_remote, or a test's fake */
    struct remote own_remote;      /* the ptrace backend with this process's /proc/PID/mem */
    int maps_fd;                   /* its /proc/PID/maps, opened while dumpable; -1: none */
    bool holds_proc_files;         /* counts against the budget for them (process.c) */
    char **argv;            /* the command, owned */
    enum process_end end;
    int exit_code, signal;
    bool core_dumped;
    struct thread *threads;
    struct module_table modules;
    struct bp_table bps;
    struct scratch scratch;
    struct return_stubs stubs;      /* calls returning through stubs, to drain */
    struct fast_patches fast_patches;   /* --fast: functions that jump to the stub */
    struct fast_ring fast_ring;         /* --fast: their events */
    struct fast_realloc *fast_reallocs; /* --fast: reallocs between their two records */
    size_t nfast_reallocs, fast_reallocs_cap;
    struct hook_list hooks_seen;        /* what memtrace hooked, for the report */
    bool rust_runtime;                  /* a module holds Rust's standard library */
    bool cxx_aliased;                   /* new and new[] (or the deletes) are one function
                                         * (tcmalloc): memtrace cannot tell them apart */
    struct fast_new fast_news[FAST_NEWS_MAX];   /* --fast: operator news in progress, */
    unsigned nfast_news;                /* oldest first (one that threw is pushed out) */
    mt_addr *fast_unqueued;             /* --fast: judged frees waiting for queue room */
    size_t nfast_unqueued, fast_unqueued_cap;
    bool fast_link_map_changed;         /* --fast: the link-map hook's stub recorded a call */
    bool fast_frees_deferred;           /* --fast: the free stub holds frees for the verdict */
    struct alloc_model model;
    struct heap_census census;      /* attach: the blocks from before, when taken */
    struct map_table maps;          /* the program's own mappings (mmap, shmat) */
    struct shm_table shms;          /* SysV segments it created or attached */
    struct stack_intern stacks;
    struct unwinder *unwinder;
    struct frame_rules frame_rules; /* --fast: stack walks by learned .eh_frame rules */
    struct symbolizer *symbolizer;
    struct leak_scan *scan;         /* leak kinds, once the exit scan ran */
    uint64_t scan_ns;               /* time the scan took */
    mt_addr *exited_sps;            /* stack pointers of threads that exited before the end */
    size_t nexited_sps, exited_sps_cap;
    mt_addr at_entry, at_base;
    unsigned threads_seen;  /* threads added so far: the next one's number */
    mt_addr r_debug;        /* ld.so's _r_debug, 0 for static programs */
    bool exec_seen;         /* this record's image has been set up */
    bool banner_shown;      /* the text report's header is out */
    bool untraced_child;    /* --no-follow-forks: a vfork child traced only until exec */
    bool vfork_child;       /* runs in its parent's memory until it execs or exits */
    bool hooks_ready;       /* the allocator's hooks are planted */
    uint64_t sample_tick;   /* --sample: calls seen since the last unwind */
    bool hook_warned;
    bool attached;          /* memtrace attach: blocks from before are untracked */
    uint32_t unplaced_traps; /* allocator traps before one of its threads was pinned */
    bool placed;            /* a thread of it shares memtrace's CPU (placement) */
    uint64_t end_ns;        /* CLOCK_MONOTONIC when tracing it ended (block ages) */
    char *tracing_error;    /* why tracing it stopped before its end (owned), else NULL */
    bool fork_image;        /* a child of fork, in the image it shares with its parent */
    bool exec_untraced;     /* its exec was not followed: the new image runs untraced */
    char *exec_program;     /* the program its exec ran (owned), else NULL */
    /* A vfork child until its exec or exit runs in its parent's memory:
     * the blocks it allocates and frees are its parent's (see process_heap). */
    struct process *vfork_parent;
    struct process *next;
};

/* The record whose heap and stacks p's allocator calls change: p's own,
 * or its vfork parent's while they share memory and the parent's record is
 * open (its other threads may end it meanwhile: then the child keeps its
 * own). */
static inline struct process *process_heap(struct process *p)
{
    return p->vfork_parent && p->vfork_parent->end == END_RUNNING ? p->vfork_parent : p;
}

/* Creates a process record for pid with a copy of argv. */
/* [lo, hi) of the module that defines the malloc memtrace hooked, 0/0 when
 * unknown. Its entry point has an int3, or with --fast a jump to the stub. */
void process_allocator_range(const struct process *p, mt_addr *lo, mt_addr *hi);
/* Frees p's leak scan, if any (a check while attached is over). */
void process_drop_scan(struct process *p);
struct process *process_create(pid_t pid, char *const *argv);
void process_destroy(struct process *p);
/* Takes argv (malloc'd strings, NULL-terminated) as p's command; NULL
 * keeps the one p has. */
void process_replace_argv(struct process *p, char **argv);
/* The record of a child forked from parent: a copy of its breakpoints,
 * scratch page, modules, allocation state and mappings (inherited blocks and
 * mappings are the child's to free or leak; segments stay the creator's). */
struct process *process_fork(const struct process *parent, pid_t child);
struct thread *process_add_thread(struct process *p, pid_t tid);
void process_remove_thread(struct process *p, pid_t tid);
struct thread *process_find_thread(const struct process *p, pid_t tid);

/* A new address space (exec): its /proc/PID/mem and maps opened again,
 * while the process is still dumpable; not when the processes alive hold
 * a quarter of RLIMIT_NOFILE already. */
void process_reopen_proc_files(struct process *p);

/* The process's image ended (exit, exec, detach): its descriptors go, so
 * a long process tree never runs memtrace out of them. */
void process_close_proc_files(struct process *p);

/* The process's image ended for good (exit, death, exec replaced it, or it
 * left untraced): everything that served tracing goes (threads,
 * descriptors, modules with their ELF files, breakpoints, the unwinder's
 * caches, the recently freed blocks, spare capacity); what its report
 * needs stays (command, fate, live blocks, errors, leak scan, interned
 * stacks and the symbolizer's module list), so memtrace's resources follow
 * the processes alive, not every process it ever traced. */
void process_release(struct process *p);

/* glibc keeps an exited thread's stack mapped for reuse: the leak scan reads
 * it only above the stack pointer the thread had when it exited. */
void process_note_exited_sp(struct process *p, mt_addr sp);

#endif
