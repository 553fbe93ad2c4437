/* The cache of inflated debug files.
 *
 * Distributions ship separate debug files with compressed sections
 * (SHF_COMPRESSED; Debian's libc6-dbg has 4 MiB of libc DWARF that inflates
 * to 10), and libdw inflates every section of a file when it first opens its
 * DWARF: ~80 ms for libc, paid while memtrace writes its report, in every
 * run whose report shows a frame in libc. So, as gdb keeps its index cache
 * and debuginfod its downloads, memtrace keeps the inflated copy of each
 * such debug file it uses, in its cache directory (~/.cache/memtrace/debug
 * by default, MEMTRACE_CACHE_DIR to change or, empty, to turn it off), named
 * by build-id, size and modification time of the original. libdw then reads
 * the copy as it would the original, uncompressed: same bytes, with each
 * inflated section appended and a new section header table after them; the
 * program headers, notes and all other sections stay where they were.
 *
 * A debug file first met in this run is inflated by a thread of memtrace's,
 * at nice 19 on any CPU, while the program runs; when the report needs it
 * before that thread is done, memtrace inflates it itself, as libdw would
 * have. The cache holds at most 1 GiB; the least recently used copies
 * go first. Only zlib (ELFCOMPRESS_ZLIB) is inflated; other compressions and
 * old-style .zdebug sections are left to libdw. */
#include "sym_internal.h"
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_CACHE_BYTES ((uint64_t)1 << 30)
/* A debug file inflating to more is left to libdw. */
#define MAX_INFLATED ((uint64_t)512 << 20)
/* Inflation stops within one chunk when asked to. */
#define CHUNK (64u << 10)

enum job_state { JOB_QUEUED, JOB_TAKEN, JOB_DONE };

struct cache_job {
    char *source; /* the debug file */
    char *cached; /* its copy's name in the cache */
    enum job_state state;
    struct cache_job *next; /* in the order asked */
};

/* Owned by this module: the cache directory, the queue of files to inflate
 * in the background and its thread. The lock guards the queue and the
 * thread's state; inflating happens without it. A forked child (the live
 * view's helper) has no thread: the fork handlers reset what it owned. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *dir; /* NULL: no cache */
    bool thread_running, stopping, atfork_registered;
    pthread_t thread;
    struct cache_job *jobs;
    unsigned long inflated;
    uint64_t limit; /* bytes the directory may hold */
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER,
            .limit = DEFAULT_CACHE_BYTES };

void sym_debug_cache_set_limit(uint64_t bytes)
{
    pthread_mutex_lock(&cache.lock);
    cache.limit = bytes ? bytes : DEFAULT_CACHE_BYTES;
    pthread_mutex_unlock(&cache.lock);
}

unsigned long symbolizer_debug_files_inflated(void)
{
    pthread_mutex_lock(&cache.lock);
    unsigned long n = cache.inflated;
    pthread_mutex_unlock(&cache.lock);
    return n;
}

/* ---- the directory ---------------------------------------------------- */

/* mkdir -p with mode 0700 for what is made. */
static bool make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return false;
    for (char *p = buf + 1;; p++) {
        bool last = *p == '\0';
        if (*p == '/' || last) {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return false;
            if (last)
                return true;
            *p = '/';
        }
    }
}

int sym_debug_cache_configure(const char *dir, char *why, size_t why_len)
{
    pthread_mutex_lock(&cache.lock);
    free(cache.dir);
    cache.dir = NULL;
    pthread_mutex_unlock(&cache.lock);
    if (!dir || !*dir)
        return 0;
    char *d = NULL;
    if (dir[0] != '/' || asprintf(&d, "%s/debug", dir) < 0) {
        snprintf(why, why_len, "cache directory %s: %s", dir,
                 dir[0] != '/' ? "not an absolute path" : "out of memory");
        return -1;
    }
    /* Copies written there are handed to libdw as the program's debug
     * info: the directory must be memtrace's user's alone. One that cannot
     * be made or is another's (a read-only home, a build directory of
     * root's used by an unprivileged run) just means no cache: memtrace
     * inflates as libdw always did. */
    struct stat st;
    if (!make_dirs(d) || lstat(d, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 022)) {
        free(d);
        return 0;
    }
    pthread_mutex_lock(&cache.lock);
    cache.dir = d;
    pthread_mutex_unlock(&cache.lock);
    return 0;
}

/* The cache name of the debug file at path, NULL when there is no cache or
 * no such regular file. */
static char *cached_name(const char *path, const char *build_id)
{
    struct stat st;
    char *name = NULL;
    pthread_mutex_lock(&cache.lock);
    if (cache.dir && build_id && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        asprintf(&name, "%s/%s.%lld.%lld.%09ld", cache.dir, build_id, (long long)st.st_size,
                 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec) < 0)
        name = NULL;
    pthread_mutex_unlock(&cache.lock);
    return name;
}

struct cache_entry {
    char *name;
    off_t size;
    struct timespec used;
};

static int by_use(const void *a, const void *b)
{
    const struct cache_entry *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

/* Removes the least recently used copies until the cache fits. */
static void evict(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct cache_entry *e = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            struct cache_entry *g = realloc(e, (cap = cap ? 2 * cap : 16) * sizeof(*e));
            if (!g)
                break;
            e = g;
        }
        e[n].name = strdup(de->d_name);
        if (!e[n].name)
            break;
        e[n].size = st.st_size;
        e[n].used = st.st_mtim;
        total += (uint64_t)st.st_size;
        n++;
    }
    pthread_mutex_lock(&cache.lock);
    uint64_t limit = cache.limit;
    pthread_mutex_unlock(&cache.lock);
    if (total > limit) {
        qsort(e, n, sizeof(*e), by_use);
        for (size_t i = 0; i < n && total > limit; i++)
            if (unlinkat(dirfd(d), e[i].name, 0) == 0)
                total -= (uint64_t)e[i].size;
    }
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
    closedir(d);
}

/* ---- inflating -------------------------------------------------------- */

static bool stop_requested(const bool *stop)
{
    return stop && __atomic_load_n(stop, __ATOMIC_RELAXED);
}

/* pread or pwrite of all len bytes (a short transfer is retried). */
static bool transfer_at(int fd, unsigned char *p, size_t len, off_t off, bool write)
{
    while (len > 0) {
        ssize_t n = write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return true;
}

static bool read_at(int fd, void *buf, size_t len, off_t off)
{
    return transfer_at(fd, buf, len, off, false);
}

static bool write_at(int fd, const void *buf, size_t len, off_t off)
{
    return transfer_at(fd, (unsigned char *)(uintptr_t)buf, len, off, true);
}

static bool is_inflatable(const Elf64_Shdr *s)
{
    return (s->sh_flags & SHF_COMPRESSED) && s->sh_type != SHT_NOBITS;
}

/* The section header table of an x86-64 ELF file of size file_size, or NULL
 * when the file is not one or its table does not fit in it. */
static Elf64_Shdr *read_section_headers(int fd, off_t file_size, Elf64_Ehdr *eh, size_t *count)
{
    if (!read_at(fd, eh, sizeof(*eh), 0) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff == 0)
        return NULL;
    uint64_t n = eh->e_shnum;
    if (n == 0) { /* extended numbering: the count is in section 0 */
        Elf64_Shdr first;
        if (!read_at(fd, &first, sizeof(first), (off_t)eh->e_shoff))
            return NULL;
        n = first.sh_size;
    }
    if (n == 0 || n > 1u << 20 || eh->e_shoff > (uint64_t)file_size ||
        n * sizeof(Elf64_Shdr) > (uint64_t)file_size - eh->e_shoff)
        return NULL;
    Elf64_Shdr *sh = malloc(n * sizeof(*sh));
    if (sh && !read_at(fd, sh, n * sizeof(*sh), (off_t)eh->e_shoff)) {
        free(sh);
        return NULL;
    }
    *count = n;
    return sh;
}

/* The inflated size of the zlib-compressed sections added up; 0 when there
 * is none, or one this code does not inflate. */
static uint64_t inflated_total(int fd, off_t file_size, const Elf64_Shdr *sh, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_inflatable(&sh[i]))
            continue;
        Elf64_Chdr ch;
        if (sh[i].sh_size < sizeof(ch) || sh[i].sh_offset > (uint64_t)file_size ||
            sh[i].sh_size > (uint64_t)file_size - sh[i].sh_offset ||
            !read_at(fd, &ch, sizeof(ch), (off_t)sh[i].sh_offset) ||
            ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size > MAX_INFLATED ||
            (ch.ch_addralign & (ch.ch_addralign - 1)) != 0 || ch.ch_addralign > 4096)
            return 0;
        total += ch.ch_size;
    }
    return total > MAX_INFLATED ? 0 : total;
}

static bool copy_bytes(int from, int to, off_t size, unsigned char *buf, const bool *stop)
{
    for (off_t off = 0; off < size;) {
        size_t len = size - off < (off_t)CHUNK ? (size_t)(size - off) : CHUNK;
        if (stop_requested(stop) || !read_at(from, buf, len, off) || !write_at(to, buf, len, off))
            return false;
        off += (off_t)len;
    }
    return true;
}

/* Inflates the zlib stream of section s of from into to at out_off; exactly
 * expect bytes must come out. */
static bool inflate_section(int from, const Elf64_Shdr *s, int to, off_t out_off, uint64_t expect,
                            unsigned char *in, unsigned char *out, const bool *stop)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit(&z) != Z_OK)
        return false;
    off_t in_off = (off_t)(s->sh_offset + sizeof(Elf64_Chdr));
    uint64_t in_left = s->sh_size - sizeof(Elf64_Chdr), produced = 0;
    int rc = Z_OK;
    bool ok = true;
    while (ok && rc != Z_STREAM_END) {
        if (z.avail_in == 0) {
            size_t len = in_left < CHUNK ? (size_t)in_left : CHUNK;
            if (len == 0 || stop_requested(stop) || !read_at(from, in, len, in_off)) {
                ok = false;
                break;
            }
            in_off += (off_t)len;
            in_left -= len;
            z.next_in = in;
            z.avail_in = (uInt)len;
        }
        z.next_out = out;
        z.avail_out = CHUNK;
        rc = inflate(&z, Z_NO_FLUSH);
        size_t got = CHUNK - z.avail_out;
        if ((rc != Z_OK && rc != Z_STREAM_END) || produced + got > expect ||
            !write_at(to, out, got, out_off + (off_t)produced))
            ok = false;
        produced += got;
    }
    inflateEnd(&z);
    return ok && produced == expect;
}

bool sym_inflate_elf(int from, int to, const bool *stop)
{
    struct stat st;
    Elf64_Ehdr eh;
    size_t n = 0;
    Elf64_Shdr *sh = fstat(from, &st) == 0 && S_ISREG(st.st_mode)
                         ? read_section_headers(from, st.st_size, &eh, &n)
                         : NULL;
    if (!sh || inflated_total(from, st.st_size, sh, n) == 0) {
        free(sh);
        return false;
    }
    unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
    bool ok = in && out && copy_bytes(from, to, st.st_size, in, stop);
    off_t end = st.st_size;
    for (size_t i = 0; ok && i < n; i++) {
        if (!is_inflatable(&sh[i]))
            continue;
        Elf64_Chdr ch;
        ok = read_at(from, &ch, sizeof(ch), (off_t)sh[i].sh_offset);
        uint64_t align = ch.ch_addralign > 1 ? ch.ch_addralign : 1;
        end = (off_t)(((uint64_t)end + align - 1) & ~(align - 1));
        ok = ok && inflate_section(from, &sh[i], to, end, ch.ch_size, in, out, stop);
        sh[i].sh_offset = (uint64_t)end;
        sh[i].sh_size = ch.ch_size;
        sh[i].sh_addralign = ch.ch_addralign;
        sh[i].sh_flags &= ~(uint64_t)SHF_COMPRESSED;
        end += (off_t)ch.ch_size;
    }
    if (ok) {
        end = (end + 7) & ~(off_t)7;
        eh.e_shoff = (uint64_t)end;
        ok = write_at(to, sh, n * sizeof(*sh), end) && write_at(to, &eh, sizeof(eh), 0);
    }
    free(in);
    free(out);
    free(sh);
    return ok;
}

/* Inflates source into the cache as cached: written under a temporary name
 * and renamed, so that a reader (another memtrace too) sees the whole copy
 * or none. */
static bool inflate_into_cache(const char *source, const char *cached, const bool *stop)
{
    const char *slash = strrchr(cached, '/');
    char dir[PATH_MAX], tmp[PATH_MAX];
    if (!slash || snprintf(dir, sizeof(dir), "%.*s", (int)(slash - cached), cached) >=
                      (int)sizeof(dir) ||
        snprintf(tmp, sizeof(tmp), "%s/.inflating.XXXXXX", dir) >= (int)sizeof(tmp))
        return false;
    int from = open(source, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (from < 0)
        return false;
    int to = mkostemp(tmp, O_CLOEXEC);
    bool ok = to >= 0 && sym_inflate_elf(from, to, stop);
    if (to >= 0) {
        ok = close(to) == 0 && ok && rename(tmp, cached) == 0;
        if (!ok)
            unlink(tmp);
    }
    close(from);
    if (ok) {
        pthread_mutex_lock(&cache.lock);
        cache.inflated++;
        pthread_mutex_unlock(&cache.lock);
        evict(dir);
    }
    return ok;
}

/* ---- the background thread -------------------------------------------- */

static struct cache_job *next_queued(void)
{
    for (struct cache_job *j = cache.jobs; j; j = j->next)
        if (j->state == JOB_QUEUED)
            return j;
    return NULL;
}

static void *inflate_thread(void *unused)
{
    (void)unused;
    /* Only time nobody else wants, on any CPU: memtrace's own thread may be
     * pinned next to the program. Both are best effort (a cpuset may forbid
     * the CPUs), and this thread must not warn: warnings are the main
     * thread's. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    cpu_set_t all;
    CPU_ZERO(&all);
    long ncpus = sysconf(_SC_NPROCESSORS_CONF);
    for (long c = 0; c < CPU_SETSIZE && c < ncpus; c++)
        CPU_SET((int)c, &all);
    sched_setaffinity(0, sizeof(all), &all);
    pthread_mutex_lock(&cache.lock);
    while (!cache.stopping) {
        struct cache_job *j = next_queued();
        if (!j) {
            pthread_cond_wait(&cache.changed, &cache.lock);
            continue;
        }
        j->state = JOB_TAKEN;
        pthread_mutex_unlock(&cache.lock);
        inflate_into_cache(j->source, j->cached, &cache.stopping);
        pthread_mutex_lock(&cache.lock);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&cache.changed);
    }
    pthread_mutex_unlock(&cache.lock);
    return NULL;
}

static void before_fork(void)
{
    pthread_mutex_lock(&cache.lock);
}

static void after_fork_in_parent(void)
{
    pthread_mutex_unlock(&cache.lock);
}

static void after_fork_in_child(void)
{
    cache.thread_running = false;
    for (struct cache_job *j = cache.jobs; j; j = j->next)
        j->state = JOB_DONE;
    pthread_mutex_unlock(&cache.lock);
}

/* With the lock held. */
static void start_thread(void)
{
    if (!cache.atfork_registered) {
        if (pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) != 0)
            return;
        cache.atfork_registered = true;
    }
    sigset_t all, given;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &given); /* memtrace's signals stay its main thread's */
    cache.stopping = false;
    int rc = pthread_create(&cache.thread, NULL, inflate_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &given, NULL);
    cache.thread_running = rc == 0;
    if (rc != 0)
        sym_warn("cannot start the debug-file thread: %s", strerror(rc));
}

/* ---- the interface ---------------------------------------------------- */

/* Whether the file at path has sections to inflate. */
static bool worth_inflating(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    struct stat st;
    Elf64_Ehdr eh;
    size_t n = 0;
    Elf64_Shdr *sh = NULL;
    bool worth = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                 (sh = read_section_headers(fd, st.st_size, &eh, &n)) != NULL &&
                 inflated_total(fd, st.st_size, sh, n) > 0;
    free(sh);
    close(fd);
    return worth;
}

void sym_debug_cache_prefetch(const char *path, const char *build_id)
{
    char *cached = cached_name(path, build_id);
    if (!cached || access(cached, F_OK) == 0 || !worth_inflating(path)) {
        free(cached);
        return;
    }
    pthread_mutex_lock(&cache.lock);
    bool known = false;
    for (const struct cache_job *j = cache.jobs; j && !known; j = j->next)
        known = strcmp(j->cached, cached) == 0;
    struct cache_job *job = known ? NULL : calloc(1, sizeof(*job));
    if (job && (job->source = strdup(path)) != NULL) {
        job->cached = cached;
        cached = NULL;
        struct cache_job **tail = &cache.jobs;
        while (*tail)
            tail = &(*tail)->next;
        *tail = job;
        if (!cache.thread_running)
            start_thread();
        if (!cache.thread_running)
            job->state = JOB_DONE;
        pthread_cond_broadcast(&cache.changed);
    } else if (job) {
        free(job);
    }
    pthread_mutex_unlock(&cache.lock);
    free(cached);
}

int sym_debug_cache_open(const char *path, const char *build_id)
{
    char *cached = cached_name(path, build_id);
    if (!cached)
        return -1;
    int fd = open(cached, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && worth_inflating(path)) {
        /* Not there yet: inflated now, as libdw would, but kept. The
         * thread, if it has started on the same file, finishes its own copy
         * or is stopped; either copy is the same. */
        pthread_mutex_lock(&cache.lock);
        for (struct cache_job *j = cache.jobs; j; j = j->next)
            if (j->state == JOB_QUEUED && strcmp(j->cached, cached) == 0)
                j->state = JOB_DONE;
        pthread_mutex_unlock(&cache.lock);
        if (inflate_into_cache(path, cached, NULL))
            fd = open(cached, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd >= 0 && futimens(fd, NULL) != 0) {
        /* the use time orders eviction; a copy that cannot be touched is
         * still a good copy */
    }
    free(cached);
    return fd;
}

void sym_debug_cache_shutdown(void)
{
    pthread_mutex_lock(&cache.lock);
    bool join = cache.thread_running;
    __atomic_store_n(&cache.stopping, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&cache.changed);
    pthread_mutex_unlock(&cache.lock);
    if (join)
        pthread_join(cache.thread, NULL);
    pthread_mutex_lock(&cache.lock);
    cache.thread_running = false;
    cache.stopping = false;
    while (cache.jobs) {
        struct cache_job *j = cache.jobs;
        cache.jobs = j->next;
        free(j->source);
        free(j->cached);
        free(j);
    }
    pthread_mutex_unlock(&cache.lock);
}
