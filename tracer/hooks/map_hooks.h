/* Completed calls of the mapping family, applied to a process's map table
 * (mmap, munmap, mremap, shmat, shmdt) and segment table (shmget, shmctl
 * IPC_RMID), with what only the kernel knows: the file behind an mmap'd fd
 * and a segment's size and creator from /proc/sysvipc/shm. */
#ifndef MT_MAP_HOOKS_H
#define MT_MAP_HOOKS_H
#include <stdint.h>
#include "process.h"

/* Applies call, which returned retval, when it succeeded. Returns 0 or
 * -ENOMEM (what /proc cannot tell is warned about and left out). */
int map_hooks_apply(struct process *p, const struct pending_call *call, uint64_t retval);
/* Whether shmctl's call matters (IPC_RMID): other commands need no return trap. */
bool map_hooks_shmctl_matters(uint64_t cmd);
/* After the last traced process ended: which of every process's segments
 * are still in /proc/sysvipc/shm (one removed by another process is gone). */
void map_hooks_check_segments(struct process *procs);

#endif
