/* The verdict cache of unwind_tables.h. A file is known by device, inode,
 * size and modification time, so processes that map the same file share one
 * verdict and a file replaced on disk is checked again. */
#include "unwind_tables.h"
#include "eh_frame_hdr.h"
#include "diag.h"
#include "grow.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct verdict {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char *unopened; /* a path that could not be opened (then no key), else NULL */
    bool usable;
};

/* Owned by this module: the verdicts of this run. */
static struct {
    struct verdict *items;
    size_t n, cap;
} cache;

static int pread_all(void *ctx, uint64_t off, void *buf, size_t len)
{
    int fd = *(const int *)ctx;
    uint8_t *p = buf;
    while (len > 0) {
        if (off > (uint64_t)INT64_MAX)
            return -1;
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static struct verdict *remember(const struct verdict *v)
{
    struct verdict *items = mt_grow(cache.items, &cache.cap, cache.n + 1, sizeof(*items));
    if (!items)
        return NULL;
    cache.items = items;
    cache.items[cache.n] = *v;
    return &cache.items[cache.n++];
}

static bool same_file(const struct verdict *v, const struct stat *st)
{
    return !v->unopened && v->dev == st->st_dev && v->ino == st->st_ino && v->size == st->st_size &&
           v->mtime.tv_sec == st->st_mtim.tv_sec && v->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* A file memtrace cannot open or stat: refused, and named once. */
static bool unopened(const char *path, const char *why)
{
    for (size_t i = 0; i < cache.n; i++)
        if (cache.items[i].unopened && strcmp(cache.items[i].unopened, path) == 0)
            return false;
    mt_warn("not unwinding through %s with its unwind tables: cannot check them: %s", path, why);
    struct verdict v = { .unopened = strdup(path) };
    if (v.unopened && !remember(&v))
        free(v.unopened);
    return false;
}

bool unwind_tables_usable(const char *path)
{
    /* O_NONBLOCK: a FIFO put where the module was must not block the trap */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT)
        return false;   /* deleted or replaced on disk: libunwind, which opens the
                         * same path, would find nothing either; no news */
    if (fd < 0)
        return unopened(path, strerror(errno));
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    if (bad) {
        close(fd);
        return unopened(path, bad);
    }
    for (size_t i = 0; i < cache.n; i++) {
        if (same_file(&cache.items[i], &st)) {
            close(fd);
            return cache.items[i].usable;
        }
    }
    char why[256];
    struct eh_file f = { .size = (uint64_t)st.st_size, .read = pread_all, .ctx = &fd };
    enum eh_verdict verdict = eh_frame_hdr_check(&f, why, sizeof(why));
    close(fd);
    if (verdict == EH_TABLES_CORRUPT)
        mt_warn("%s: corrupt unwind tables, not used (stacks through it follow frame pointers): %s",
                path, why);
    else if (verdict == EH_TABLES_UNREADABLE)
        mt_warn("not unwinding through %s with its unwind tables: %s", path, why);
    struct verdict v = { .dev = st.st_dev,
                         .ino = st.st_ino,
                         .size = st.st_size,
                         .mtime = st.st_mtim,
                         .usable = verdict == EH_TABLES_USABLE };
    remember(&v); /* out of memory: checked again next time, no worse */
    return v.usable;
}

void unwind_tables_forget(void)
{
    for (size_t i = 0; i < cache.n; i++)
        free(cache.items[i].unopened);
    free(cache.items);
    cache.items = NULL;
    cache.n = cache.cap = 0;
}
