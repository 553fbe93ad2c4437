/* Which file a module is (module_file.h). */
#include "module_file.h"
#include "elf_file.h"
#include "grow.h"
#include "procfs.h"
#include "remote.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIRST_PAGE 4096u
#define DELETED_SUFFIX " (deleted)"

struct module_mapping {
    mt_addr lo, hi;
    uint64_t offset, dev, inode;
    char *path;
};

void module_maps_init(struct module_maps *maps)
{
    memset(maps, 0, sizeof(*maps));
}

void module_maps_free(struct module_maps *maps)
{
    for (size_t i = 0; i < maps->n; i++)
        free(maps->items[i].path);
    free(maps->items);
    module_maps_init(maps);
}

static int keep_mapping(void *ctx, const struct procfs_map *m)
{
    struct module_maps *maps = ctx;
    struct module_mapping *items = mt_grow(maps->items, &maps->cap, maps->n + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    maps->items = items;
    char *path = strdup(m->name);
    if (!path)
        return -ENOMEM;
    maps->items[maps->n++] = (struct module_mapping){
        .lo = m->lo,
        .hi = m->hi,
        .offset = m->offset,
        .dev = m->dev,
        .inode = m->inode,
        .path = path,
    };
    return 0;
}

static int load_maps(struct module_maps *maps, const struct process *p)
{
    if (maps->loaded)
        return 0;
    int err = procfs_maps(p->pid, keep_mapping, maps);
    /* A process that made itself non-dumpable: the descriptor opened at exec. */
    if ((err == -EACCES || err == -EPERM) && maps->n == 0 && p->maps_fd >= 0)
        err = procfs_maps_fd(p->maps_fd, keep_mapping, maps);
    if (err) {
        module_maps_free(maps);
        return err;
    }
    maps->loaded = true;
    return 0;
}

static const struct module_mapping *mapping_at(const struct module_maps *maps, mt_addr addr)
{
    for (size_t i = 0; i < maps->n; i++)
        if (addr >= maps->items[i].lo && addr < maps->items[i].hi)
            return &maps->items[i];
    return NULL;
}

/* Whether the first page of the file at fd is what the process maps at the
 * mapping of the same file at offset 0 (with memtrace's breakpoints read as
 * the original bytes). */
static bool first_page_matches(const struct process *p, const struct module_maps *maps,
                               const struct module_mapping *m, int fd)
{
    const struct module_mapping *head = NULL;
    for (size_t i = 0; i < maps->n && !head; i++)
        if (maps->items[i].offset == 0 && maps->items[i].dev == m->dev &&
            maps->items[i].inode == m->inode && strcmp(maps->items[i].path, m->path) == 0)
            head = &maps->items[i];
    if (!head)
        return false;
    uint8_t in_file[FIRST_PAGE], in_target[FIRST_PAGE];
    size_t len = head->hi - head->lo < FIRST_PAGE ? head->hi - head->lo : FIRST_PAGE;
    ssize_t got = pread(fd, in_file, len, 0);
    if (got <= 0)
        return false;
    return bp_read_code(&p->bps, p->remote, p->pid, head->lo, in_target, (size_t)got) == 0 &&
           memcmp(in_file, in_target, (size_t)got) == 0;
}

/* Without /proc/PID/map_files: the path /proc/PID/maps shows, accepted only
 * when it still names the mapped file. */
static int open_by_maps_path(const struct process *p, const struct module_maps *maps,
                             const struct module_mapping *m, char *why, size_t why_len)
{
    size_t len = strlen(m->path), suffix = strlen(DELETED_SUFFIX);
    if (len > suffix && strcmp(m->path + len - suffix, DELETED_SUFFIX) == 0) {
        snprintf(why, why_len,
                 "%.*s was deleted or replaced on disk after the process mapped it; the mapped "
                 "copy can only be read through /proc/%d/map_files/, which needs root "
                 "(CAP_SYS_ADMIN)",
                 (int)(len - suffix), m->path, p->pid);
        return -ESTALE;
    }
    char host_path[PATH_MAX];
    procfs_host_path(p->pid, m->path, host_path, sizeof(host_path));
    struct stat st;
    int fd = elf_file_open_regular(host_path, &st);
    if (fd < 0) {
        snprintf(why, why_len, "%s: %s", m->path,
                 fd == -EINVAL ? "not a regular file" : strerror(-fd));
        return fd;
    }
    /* btrfs subvolumes and overlayfs show another device in maps than stat
     * does: the same inode and the same first page are the same file. */
    bool same = st.st_ino == m->inode &&
                (st.st_dev == m->dev || first_page_matches(p, maps, m, fd));
    if (!same) {
        close(fd);
        snprintf(why, why_len,
                 "%s was replaced on disk after the process mapped it (another file is there "
                 "now); the mapped copy can only be read through /proc/%d/map_files/, which "
                 "needs root (CAP_SYS_ADMIN)",
                 m->path, p->pid);
        return -ESTALE;
    }
    return fd;
}

int module_file_open(const struct process *p, struct module_maps *maps, mt_addr addr, char *shown,
                     size_t shown_len, char *why, size_t why_len)
{
    int err = load_maps(maps, p);
    if (err) {
        snprintf(why, why_len, "cannot read its mappings: %s", strerror(-err));
        return err;
    }
    const struct module_mapping *m = mapping_at(maps, addr);
    if (!m || m->path[0] != '/' || m->inode == 0) {
        snprintf(why, why_len, "no file is mapped at 0x%" PRIxADDR, addr);
        return -ENOENT;
    }
    snprintf(shown, shown_len, "%s", m->path);
    char map_file[96];
    procfs_map_file_path(map_file, sizeof(map_file), p->pid, m->lo, m->hi);
    struct stat st;
    int fd = elf_file_open_regular(map_file, &st);
    if (fd >= 0)
        return fd;
    if (fd == -EINVAL) {
        snprintf(why, why_len, "%s (mapped at 0x%" PRIxADDR "): not a regular file", m->path, addr);
        return fd;
    }
    if (fd != -EPERM && fd != -EACCES) {
        snprintf(why, why_len, "cannot open %s (%s): %s", map_file, m->path, strerror(-fd));
        return fd;
    }
    return open_by_maps_path(p, maps, m, why, why_len);
}
