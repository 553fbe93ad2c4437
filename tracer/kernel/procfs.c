/* The /proc parsers (procfs.h). */
#include "procfs.h"
#include "fault.h"
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Every /proc file memtrace reads is opened through these (fault.h). */
static FILE *proc_fopen(const char *path, const char *mode)
{
    int injected = fault_next(FAULT_PROC);
    if (injected) {
        errno = injected;
        return NULL;
    }
    return fopen(path, mode);
}

static int proc_open(const char *path, int flags)
{
    int injected = fault_next(FAULT_PROC);
    if (injected) {
        errno = injected;
        return -1;
    }
    return open(path, flags);
}

void procfs_path(char *out, size_t len, pid_t pid, const char *what)
{
    snprintf(out, len, "/proc/%d/%s", pid, what);
}

static int maps_lines(FILE *f, int (*fn)(void *ctx, const struct procfs_map *m), void *ctx);

void procfs_map_file_path(char *out, size_t len, pid_t pid, mt_addr lo, mt_addr hi)
{
    snprintf(out, len, "/proc/%d/map_files/%" PRIxADDR "-%" PRIxADDR, pid, lo, hi);
}

int procfs_maps(pid_t pid, int (*fn)(void *ctx, const struct procfs_map *m), void *ctx)
{
    char path[64];
    procfs_path(path, sizeof(path), pid, "maps");
    FILE *f = proc_fopen(path, "re");
    if (!f)
        return -errno;
    int rc = maps_lines(f, fn, ctx);
    fclose(f);
    return rc;
}

/* /proc/PID/WHAT opened with flags (O_CLOEXEC added): the fd or -errno. */
static int open_proc_file(pid_t pid, const char *what, int flags)
{
    char path[64];
    procfs_path(path, sizeof(path), pid, what);
    int fd = proc_open(path, flags | O_CLOEXEC);
    /* cppcheck-suppress resourceLeak ; the descriptor is returned to the caller */
    return fd >= 0 ? fd : -errno;
}

int procfs_open_maps(pid_t pid)
{
    return open_proc_file(pid, "maps", O_RDONLY);
}

int procfs_maps_fd(int fd, int (*fn)(void *ctx, const struct procfs_map *m), void *ctx)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        return -errno;
    FILE *f = fdopen(copy, "r");
    if (!f) {
        int err = -errno;
        close(copy);
        return err;
    }
    int rc = fseek(f, 0, SEEK_SET) == 0 ? maps_lines(f, fn, ctx) : -errno;
    fclose(f);
    return rc;
}

bool procfs_parse_maps_line(char *line, struct procfs_map *out)
{
    unsigned long lo, hi, offset, inode = 0;
    unsigned dev_major, dev_minor;
    char perms[8];
    int name_at = 0;
    /* lo-hi perms offset major:minor inode name */
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms, &offset, &dev_major,
               &dev_minor, &inode, &name_at) < 7 ||
        !name_at)
        return false;
    char *name = line + name_at;
    name[strcspn(name, "\n")] = '\0';
    *out = (struct procfs_map){
        .lo = lo,
        .hi = hi,
        .readable = perms[0] == 'r',
        .writable = perms[1] == 'w',
        .executable = perms[2] == 'x',
        .shared = perms[3] == 's',
        .offset = offset,
        .inode = inode,
        .dev = makedev(dev_major, dev_minor),
        .name = name,
    };
    return true;
}

static int maps_lines(FILE *f, int (*fn)(void *ctx, const struct procfs_map *m), void *ctx)
{
    char line[PATH_MAX + 128];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        struct procfs_map m;
        if (procfs_parse_maps_line(line, &m))
            rc = fn(ctx, &m);
    }
    return rc;
}

mt_addr procfs_auxv_value(const void *buf, size_t len, uint64_t type)
{
    uint64_t pair[2];
    for (size_t off = 0; len - off >= sizeof(pair); off += sizeof(pair)) {
        memcpy(pair, (const char *)buf + off, sizeof(pair));
        if (pair[0] == AT_NULL)
            break;
        if (pair[0] == type)
            return pair[1];
    }
    return 0;
}

int procfs_parse_auxv(const void *buf, size_t len, mt_addr *at_base, mt_addr *at_entry)
{
    *at_base = procfs_auxv_value(buf, len, AT_BASE);
    *at_entry = procfs_auxv_value(buf, len, AT_ENTRY);
    return *at_entry ? 0 : -ENOENT;
}

/* The whole of an fd's contents (a /proc file whose size stat cannot tell),
 * NUL-terminated, in a malloc'd buffer; its length in *len. NULL on error. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            char *grown = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        if (got == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        n += (size_t)got;
    }
    free(buf);
    return NULL;
}

/* Reads up to len bytes of a small /proc file (the kernel hands such files
 * out in short reads). Returns the count or -errno. */
static ssize_t read_small_file(const char *path, char *buf, size_t len)
{
    int fd = proc_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    while (n < len) {
        ssize_t got = read(fd, buf + n, len - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    return (ssize_t)n;
}

/* a few dozen pairs: AT_VECTOR_SIZE is far below this */
#define AUXV_WORDS 512

static ssize_t read_auxv(pid_t pid, uint64_t buf[AUXV_WORDS])
{
    char path[64];
    procfs_path(path, sizeof(path), pid, "auxv");
    return read_small_file(path, (char *)buf, AUXV_WORDS * sizeof(buf[0]));
}

int procfs_auxv_entry(pid_t pid, mt_addr *at_base, mt_addr *at_entry)
{
    uint64_t buf[AUXV_WORDS];
    ssize_t n = read_auxv(pid, buf);
    if (n < 0)
        return (int)n;
    return procfs_parse_auxv(buf, (size_t)n, at_base, at_entry);
}

char **procfs_parse_cmdline(const char *buf, size_t n)
{
    /* A process that retitled itself (redis-server, nginx, postgres) pads
     * the rest of its old arguments with NULs: no arguments of its own. */
    while (n > 1 && buf[n - 1] == '\0' && buf[n - 2] == '\0')
        n--;
    if (n == 0)
        return NULL;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += buf[i] == '\0';
    if (buf[n - 1] != '\0')
        count++;
    char **argv = calloc(count + 1, sizeof(*argv));
    if (!argv)
        return NULL;
    size_t k = 0;
    for (const char *arg = buf; arg < buf + n && k < count;
         arg += strnlen(arg, (size_t)(buf + n - arg)) + 1) {
        if (!(argv[k++] = strndup(arg, (size_t)(buf + n - arg)))) {
            for (size_t i = 0; i < k; i++)
                free(argv[i]);
            free(argv);
            return NULL;
        }
    }
    return argv;
}

char **procfs_cmdline(pid_t pid)
{
    char path[64];
    procfs_path(path, sizeof(path), pid, "cmdline");
    int fd = proc_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    /* Read whole: an argument list may be megabytes long. */
    size_t n = 0;
    char *buf = read_all(fd, &n);
    close(fd);
    char **argv = buf ? procfs_parse_cmdline(buf, n) : NULL;
    free(buf);
    return argv;
}

int procfs_open_mem(pid_t pid)
{
    return open_proc_file(pid, "mem", O_RDWR);
}

static int read_link(const char *link, char *out, size_t len)
{
    ssize_t n = readlink(link, out, len - 1);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    return 0;
}

int procfs_exe(pid_t pid, char *out, size_t len)
{
    char link[64];
    procfs_path(link, sizeof(link), pid, "exe");
    return read_link(link, out, len);
}

int procfs_exec_filename(pid_t pid, char *out, size_t len)
{
    uint64_t buf[AUXV_WORDS];
    ssize_t n = read_auxv(pid, buf);
    if (n < 0)
        return (int)n;
    mt_addr at = procfs_auxv_value(buf, (size_t)n, AT_EXECFN);
    if (!at || len == 0)
        return -ENOENT;
    int fd = procfs_open_mem(pid);
    if (fd < 0)
        return fd;
    ssize_t got = pread(fd, out, len - 1, (off_t)at);
    int err = got < 0 ? -errno : 0;
    close(fd);
    if (got <= 0)
        return err ? err : -EIO;
    out[got] = '\0';
    /* The string ends at its NUL, before the end of the stack. */
    return strnlen(out, (size_t)got) < (size_t)got ? 0 : -ENAMETOOLONG;
}

int procfs_exe_stat(pid_t pid, struct stat *st, bool *nosuid_mount)
{
    char link[64];
    procfs_path(link, sizeof(link), pid, "exe");
    struct statvfs fs;
    if (stat(link, st) != 0 || statvfs(link, &fs) != 0)
        return -errno;
    *nosuid_mount = (fs.f_flag & ST_NOSUID) != 0;
    return 0;
}

int procfs_fd_path(pid_t pid, int fd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid, fd);
    return read_link(link, out, len);
}

void procfs_host_path(pid_t pid, const char *target_path, char *out, size_t len)
{
    char link[64], root[PATH_MAX];
    procfs_path(link, sizeof(link), pid, "root");
    if (read_link(link, root, sizeof(root)) == 0 && strcmp(root, "/") == 0)
        snprintf(out, len, "%s", target_path);
    else
        snprintf(out, len, "/proc/%d/root%s", pid, target_path);
}

bool procfs_parse_status_line(const char *line, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    if (strncmp(line, key, klen) != 0 || line[klen] != ':')
        return false;
    const char *v = line + klen + 1;
    v += strspn(v, " \t");
    snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
    return true;
}

int procfs_status_field(pid_t pid, pid_t tid, const char *key, char *out, size_t len)
{
    char path[96], line[512];
    if (tid)
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
    else
        procfs_path(path, sizeof(path), pid, "status");
    FILE *f = proc_fopen(path, "re");
    if (!f)
        return -errno;
    int rc = -ENOENT;
    while (fgets(line, sizeof(line), f)) {
        if (procfs_parse_status_line(line, key, out, len)) {
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

bool procfs_words_have(const char *words, const char *word)
{
    size_t n = strlen(word);
    for (const char *w = words; *w;) {
        w += strspn(w, " \t\n");
        size_t len = strcspn(w, " \t\n");
        if (len == n && n > 0 && strncmp(w, word, n) == 0)
            return true;
        w += len;
    }
    return false;
}

bool procfs_shadow_stack(pid_t pid, pid_t tid)
{
    char features[256] = "";
    return procfs_status_field(pid, tid, "x86_Thread_features", features, sizeof(features)) == 0 &&
           procfs_words_have(features, "shstk");
}

int procfs_parse_stat_field(const char *buf, unsigned field, unsigned long *value)
{
    /* The comm field (2) may hold spaces and parentheses: count fields
     * after the last ')'. Field 3, the state, is a letter. */
    const char *p = strrchr(buf, ')');
    if (!p || field < 4)
        return -EINVAL;
    p++;
    for (unsigned f = 3; f < field; f++) {
        p += strspn(p, " ");
        if (!*p)
            return -EINVAL;
        p += strcspn(p, " ");
    }
    p += strspn(p, " ");
    if (*p < '0' || *p > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (errno || (*end && *end != ' ' && *end != '\n'))
        return -EINVAL;
    *value = v;
    return 0;
}

int procfs_stat_field(pid_t pid, unsigned field, unsigned long *value)
{
    char path[64], buf[2048];
    procfs_path(path, sizeof(path), pid, "stat");
    FILE *f = proc_fopen(path, "re");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return procfs_parse_stat_field(buf, field, value);
}

int procfs_yama_ptrace_scope(void)
{
    FILE *f = proc_fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (!f)
        return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

int procfs_tasks(pid_t pid, int (*fn)(void *ctx, pid_t tid), void *ctx)
{
    char path[64];
    procfs_path(path, sizeof(path), pid, "task");
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? -ESRCH : -errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0)
            rc = fn(ctx, tid);
    }
    closedir(d);
    return rc;
}

bool procfs_parse_shm_line(const char *line, struct procfs_shm *out)
{
    int key, id, cpid, lpid;
    unsigned mode;
    unsigned long long size;
    unsigned long nattch;
    /* key shmid perms size cpid lpid nattch ...; the header does not parse. */
    if (sscanf(line, "%d %d %o %llu %d %d %lu", &key, &id, &mode, &size, &cpid, &lpid, &nattch) !=
        7)
        return false;
    *out = (struct procfs_shm){ .key = key,
                                .shmid = id,
                                .mode = mode,
                                .size = size,
                                .cpid = cpid,
                                .lpid = lpid,
                                .nattch = nattch };
    return true;
}

int procfs_sysv_shm(int shmid, struct procfs_shm *out)
{
    FILE *f = proc_fopen("/proc/sysvipc/shm", "re");
    if (!f)
        return -errno;
    char line[512];
    int err = -ENOENT;
    while (err == -ENOENT && fgets(line, sizeof(line), f)) {
        struct procfs_shm seg;
        if (procfs_parse_shm_line(line, &seg) && seg.shmid == shmid) {
            *out = seg;
            err = 0;
        }
    }
    fclose(f);
    return err;
}

int procfs_open_fd(pid_t pid, int fd, int flags)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
    int out = open(path, flags | O_CLOEXEC);
    if (out >= 0)
        return out;   /* the caller's to close */
    return -errno;
}
