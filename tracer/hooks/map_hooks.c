/* Mapping calls are rare, so this path may read /proc: the file behind an
 * fd when mmap returns (the program has not run since, so the fd is still
 * the one it passed) and /proc/sysvipc/shm for segments. */
#include "map_hooks.h"
#include "diag.h"
#include "procfs.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4   /* Linux 5.7; older C library headers lack it */
#endif

/* mmap and mremap return MAP_FAILED, shmat (void *)-1; the raw syscalls
 * -errno: everything in the last page of the address space is an error. */
static bool failed_address(uint64_t ret)
{
    return ret >= (uint64_t)-4095;
}

/* One line of /proc/sysvipc/shm. */
struct sysv_info {
    int key;
    uint64_t size;
    pid_t cpid;
    unsigned long nattch;
    bool doomed;        /* marked for removal, waiting for its last detach */
};

/* Looks shmid up in /proc/sysvipc/shm: 0, -ENOENT when it is not there,
 * or -errno when the file cannot be read. */
static int sysv_lookup(int shmid, struct sysv_info *out)
{
    struct procfs_shm seg;
    int err = procfs_sysv_shm(shmid, &seg);
    if (err)
        return err;
    *out = (struct sysv_info){ .key = seg.key, .size = seg.size, .cpid = seg.cpid,
                               .nattch = seg.nattch, .doomed = (seg.mode & SHM_DEST) != 0 };
    return 0;
}

struct mapped_name {
    mt_addr addr;
    char *buf;
    size_t len;
    bool found;
};

static int find_mapped_name(void *arg, const struct procfs_map *m)
{
    struct mapped_name *mn = arg;
    if (mn->addr < m->lo || mn->addr >= m->hi)
        return 0;
    static const char deleted[] = " (deleted)";
    size_t n = strlen(m->name), d = sizeof(deleted) - 1;
    if (n >= d && strcmp(m->name + n - d, deleted) == 0)
        n -= d;   /* /dev/zero mapped privately is listed as deleted */
    mn->found = m->name[0] == '/' && n < mn->len;
    if (mn->found) {
        memcpy(mn->buf, m->name, n);
        mn->buf[n] = '\0';
    }
    return 1;
}

/* The file mapped at addr, else the one fd of pid names, or NULL (warned)
 * when /proc cannot tell. An event read from the --fast ring may come after
 * the program closed the fd (or opened another file under its number). */
static const char *fd_path(pid_t pid, int fd, mt_addr addr, char *buf, size_t len)
{
    struct mapped_name mn = { addr, buf, len, false };
    if (procfs_maps(pid, find_mapped_name, &mn) >= 0 && mn.found)
        return buf;
    int err = procfs_fd_path(pid, fd, buf, len);
    if (err) {
        mt_warn("pid %d: cannot read the path of fd %d for an mmap'd file: %s", pid, fd,
                strerror(-err));
        return NULL;
    }
    return buf;
}

static int on_mmap(struct process *p, const struct pending_call *c, uint64_t addr)
{
    int flags = (int)c->args[3];
    char buf[4096];
    const char *path = (flags & MAP_ANONYMOUS) ? NULL : fd_path(p->pid, (int)c->args[4], addr,
                                                                buf, sizeof(buf));
    struct map_region r = {
        .lo = addr, .hi = addr + map_table_pages(c->args[1]), .stack = c->stack_id,
        .prot = (int)c->args[2], .flags = flags, .shmid = -1, .arena = c->arena,
    };
    int err = map_table_add(&p->maps, &r, path);
    return err == -EINVAL ? 0 : err;   /* a zero length never succeeds; be safe */
}

static int on_shmget(struct process *p, const struct pending_call *c, int shmid)
{
    struct sysv_info info = { 0 };
    int err = sysv_lookup(shmid, &info);
    if (err)
        mt_warn("pid %d: shmget returned %d but /proc/sysvipc/shm "
                "does not list it (%s); assuming this process created it", p->pid, shmid,
                strerror(-err));
    struct shm_segment *s = shm_table_add(&p->shms, shmid);
    if (!s)
        return -ENOMEM;
    if (s->created)
        return 0;   /* asked for again by key: still the first shmget's */
    s->key = (int)c->args[0];
    s->size = err ? c->args[1] : info.size;
    s->stack = c->stack_id;
    /* Found rather than created when another process made it (shmget of
     * an existing key): that process owns its removal. */
    s->created = err || info.cpid == p->pid;
    return 0;
}

static int on_shmat(struct process *p, const struct pending_call *c, uint64_t addr)
{
    int shmid = (int)c->args[0];
    struct shm_segment *s = shm_table_get(&p->shms, shmid);
    if (!s) {
        /* A segment this process never shmget'ed (its id came from
         * elsewhere): what it is comes from the kernel. */
        struct sysv_info info = { 0 };
        int err = sysv_lookup(shmid, &info);
        if (err) {
            mt_warn("pid %d: shmat(%d) at 0x%" PRIxADDR ": the segment "
                    "is not in /proc/sysvipc/shm (%s); not tracked", p->pid, shmid, addr,
                    strerror(-err));
            return 0;
        }
        if (!(s = shm_table_add(&p->shms, shmid)))
            return -ENOMEM;
        s->key = info.key;
        s->size = info.size;
        s->stack = c->stack_id;
    }
    struct map_region r = {
        .lo = addr, .hi = addr + map_table_pages(s->size), .stack = c->stack_id,
        .prot = (c->args[2] & SHM_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE,
        .flags = MAP_SHARED, .shmid = shmid,
    };
    int err = map_table_add(&p->maps, &r, NULL);
    return err == -EINVAL ? 0 : err;
}

static int on_shmdt(struct process *p, mt_addr addr)
{
    const struct map_region *r = map_table_find(&p->maps, addr);
    if (!r || r->shmid < 0 || r->lo != addr)
        return 0;
    /* Every piece of that attachment goes (it may have been split). */
    int shmid = r->shmid;
    mt_addr hi = r->hi;
    for (const struct map_region *n; (n = map_table_find(&p->maps, hi)) && n->shmid == shmid;)
        hi = n->hi;
    return map_table_remove(&p->maps, addr, hi) < 0 ? -ENOMEM : 0;
}

bool map_hooks_shmctl_matters(uint64_t cmd)
{
    return (int)cmd == IPC_RMID;
}

int map_hooks_apply(struct process *p, const struct pending_call *c, uint64_t ret)
{
    switch (c->fn) {
    case FN_MMAP:
        return failed_address(ret) ? 0 : on_mmap(p, c, ret);
    case FN_MUNMAP:
        if (ret != 0)
            return 0;
        return map_table_remove(&p->maps, c->args[0], c->args[0] + map_table_pages(c->args[1]))
               < 0 ? -ENOMEM : 0;
    case FN_MREMAP:
        if (failed_address(ret))
            return 0;
        return map_table_remap(&p->maps, c->args[0], c->args[1], ret, c->args[2],
                               c->args[1] == 0 || (c->args[3] & MREMAP_DONTUNMAP));
    case FN_SHMGET:
        return (int)ret < 0 ? 0 : on_shmget(p, c, (int)ret);
    case FN_SHMAT:
        return failed_address(ret) ? 0 : on_shmat(p, c, ret);
    case FN_SHMDT:
        return (int)ret != 0 ? 0 : on_shmdt(p, c->args[0]);
    case FN_SHMCTL:
        if ((int)ret == 0 && map_hooks_shmctl_matters(c->args[1])) {
            /* Unknown segments are not reported, removed or not. */
            struct shm_segment *s = shm_table_get(&p->shms, (int)c->args[0]);
            if (s)
                s->removed = true;
        }
        return 0;
    default:
        return 0;
    }
}

void map_hooks_check_segments(struct process *procs)
{
    for (struct process *p = procs; p; p = p->next) {
        for (size_t i = 0; i < p->shms.n; i++) {
            struct shm_segment *s = &p->shms.segs[i];
            struct sysv_info info = { 0 };
            int err = sysv_lookup(s->shmid, &info);
            if (err && err != -ENOENT) {
                mt_warn("cannot read /proc/sysvipc/shm: %s; segments "
                        "not removed by pid %d are assumed to persist", strerror(-err), p->pid);
                continue;
            }
            s->checked = true;
            /* The same id with another size or key is a new segment made
             * after ours was removed; a doomed one goes with its last
             * detach (an untraced process still has it). */
            s->exists = !err && !info.doomed && info.key == s->key && info.size == s->size;
        }
    }
}
