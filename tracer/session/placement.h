/* CPU placement: memtrace and the threads it serves share one CPU.
 *
 * Every trap is a round trip between the traced thread and memtrace. On the
 * same CPU it is a plain context switch; on different CPUs each stop is a
 * cross-CPU wake-up, which on a VM costs far more (bench/ row 2: pinned vs
 * --no-pin). So by default `memtrace run` pins a single-threaded process
 * that has made PLACEMENT_PIN_AFTER_TRAPS traps, and memtrace itself, to
 * the CPU memtrace is running on. Pinning only then spares programs that
 * allocate little: they keep every CPU, and one that sizes its parallelism
 * by its affinity at start (sort, make -j) still sees them all. A process
 * whose threads are busy is left alone: 4 allocating threads cost 61
 * us/pair unpinned, 71 with one of them on memtrace's CPU (bench row 2).
 * Processes forked from a pinned thread inherit its mask; threads it
 * creates get the original mask back (placement_release). The affinity of
 * every task pinned here is remembered so it can be given back. */
#ifndef MT_PLACEMENT_H
#define MT_PLACEMENT_H
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Traps a process pays unpinned (~75 us more each here) before it counts
 * as allocation-heavy. A C.UTF-8 locale costs ~500 traps at startup
 * (nproc: 485), /usr/bin/python3 -c pass 3,753. */
#define PLACEMENT_PIN_AFTER_TRAPS 1024u

struct placement_saved {
    pid_t tid;
    cpu_set_t mask;
};

/* --fast: memtrace is the one reader of the records every thread of the
 * program writes. On a busy machine the scheduler's fair share (one thread
 * among the program's) leaves the program waiting on a full ring: the
 * attached 8-thread churner kept 27% of its rate at memtrace's default
 * priority, 41% at nice -10 (bench row 6, one run each). */
#define PLACEMENT_FAST_NICE (-10)

struct placement {
    int cpu;                        /* -1: not pinned */
    bool boosted;                   /* memtrace's nice was lowered to PLACEMENT_FAST_NICE */
    int nice_before;
    struct placement_saved *saved;  /* tasks whose affinity we changed, memtrace first */
    size_t nsaved, cap;
};

void placement_init(struct placement *pl);
/* Pins the calling thread (memtrace) to the CPU it runs on, within its
 * allowed set; tasks it forks afterwards inherit the mask. Returns 0 or
 * -errno (the caller may go on unpinned). */
int placement_pin_self(struct placement *pl);
/* Remembers tid's current affinity (once per tid), for placement_restore.
 * Returns 0 or -errno (-ESRCH: the task is gone). */
int placement_save(struct placement *pl, pid_t tid);
/* Saves tid's affinity, then pins it to memtrace's CPU (placement_pin_self
 * first). Returns 0 or -errno. */
int placement_pin(struct placement *pl, pid_t tid);
/* Gives tid the mask memtrace had before it pinned itself: threads the
 * program creates run on every CPU it may use, so a parallel program keeps
 * its parallelism (only its first thread shares memtrace's CPU). Returns 0
 * or -errno; 0 when nothing is pinned. */
int placement_release(struct placement *pl, pid_t tid);
/* Raises the calling thread's (memtrace's) priority to PLACEMENT_FAST_NICE
 * when it is lower and memtrace may (root, CAP_SYS_NICE); processes it forks
 * afterwards inherit it, so call it once its helpers exist. Returns 0,
 * -EPERM or -EACCES when it may not (memtrace goes on as it was), or
 * another -errno. */
int placement_boost_self(struct placement *pl);
/* Gives every saved task its affinity back, memtrace's own last, and
 * memtrace its priority; tasks that have exited are skipped. Returns 0 or
 * the first -errno other than ESRCH. */
int placement_restore(struct placement *pl);
void placement_destroy(struct placement *pl);

#endif
