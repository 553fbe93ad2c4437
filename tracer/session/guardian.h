/* attach: a small process that outlives memtrace. memtrace tells it every
 * int3 it planted in the attached process and the word that arms the
 * --fast stubs. If memtrace dies without saying it left (SIGKILL, the OOM
 * killer), the guardian puts the original byte back under each int3 that is
 * still there and turns the stubs into pass-throughs, through the process's
 * /proc/PID/mem opened while memtrace could: the process runs on untraced
 * instead of dying of SIGTRAP at its next hooked call. */
#ifndef MT_GUARDIAN_H
#define MT_GUARDIAN_H
#include <stdbool.h>
#include <sys/types.h>
#include "process.h"

struct guardian {
    int fd;          /* memtrace's end of the socket; -1: no guardian */
    pid_t target;    /* the attached process it watches over */
};

/* Starts the guardian of target (double-forked: never memtrace's child).
 * Returns 0, or -errno with why; memtrace then runs without one. */
int guardian_start(struct guardian *g, pid_t target, char *why, size_t why_len);
/* Tells the guardian of p's int3s and stub switch as they are now (when p
 * is its target; added to what it knew). */
void guardian_watch(struct guardian *g, const struct process *p);
/* memtrace left the process as it found it (or as well as it could, and
 * said so): the guardian exits without touching it. */
void guardian_stop(struct guardian *g);

#endif
