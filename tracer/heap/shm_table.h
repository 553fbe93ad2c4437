/* SysV shared memory segments one process dealt with (shmget, shmat,
 * shmctl IPC_RMID). Unlike mappings, a segment outlives its process: one
 * created and never removed stays in the kernel until ipcrm or reboot.
 * Pure: the tracer fills in what /proc/sysvipc/shm says at the end. */
#ifndef MT_SHM_TABLE_H
#define MT_SHM_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shm_segment {
    int shmid;
    int key;                /* IPC_PRIVATE is 0 */
    uint64_t size;          /* bytes, as shmget was given */
    uint32_t stack;         /* shmget's stack when created here, else the first shmat's */
    bool created;           /* this process's shmget created it (not inherited by fork) */
    bool removed;           /* this process marked it for removal (shmctl IPC_RMID) */
    bool checked;           /* /proc/sysvipc/shm was read at the end */
    bool exists;            /* checked: the segment was still there at the end */
};

struct shm_table {
    struct shm_segment *segs;
    size_t n, cap;
};

void shm_table_init(struct shm_table *t);
void shm_table_destroy(struct shm_table *t);
/* A forked child sees its parent's segments, but did not create them. */
int shm_table_copy(struct shm_table *dst, const struct shm_table *src);
struct shm_segment *shm_table_get(const struct shm_table *t, int shmid);
/* The record of shmid, added (zeroed but for shmid) when new; NULL on ENOMEM. */
struct shm_segment *shm_table_add(struct shm_table *t, int shmid);
/* Still in the kernel after the process: not marked for removal by it,
 * and, when checked, present in /proc/sysvipc/shm at the end (another
 * process may have removed it). */
static inline bool shm_segment_persists(const struct shm_segment *s)
{
    return !s->removed && (!s->checked || s->exists);
}

#endif
