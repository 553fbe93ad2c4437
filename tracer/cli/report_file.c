/* Report files (report_file.h). */
#include "report_file.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t out_write(void *cookie, const char *buf, size_t len)
{
    struct out_file *o = cookie;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(o->fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (!o->err)
                o->err = n < 0 ? errno : EIO;
            break;   /* a short count: the stream marks the error */
        }
    }
    return (ssize_t)done;
}

static int out_close_fd(void *cookie)
{
    struct out_file *o = cookie;
    if (o->own_fd && close(o->fd) != 0 && !o->err)
        o->err = errno;
    return 0;
}

bool out_path_per_process(const char *path)
{
    for (const char *c = path; (c = strchr(c, '%')) != NULL; c += 2) {
        if (c[1] == 'p' || c[1] == 'n')
            return true;
        if (c[1] == '\0')
            break;
    }
    return false;
}

int out_path_check(const char *option, const char *path, char *err, size_t err_len)
{
    for (const char *c = path; (c = strchr(c, '%')) != NULL; c += 2) {
        if (c[1] != 'p' && c[1] != 'n' && c[1] != '%') {
            snprintf(err, err_len, "%s '%s': %%%c is not %%p (the pid), %%n (the process's "
                     "number) or %%%%", option, path, c[1] ? c[1] : ' ');
            return -1;
        }
    }
    return 0;
}

int out_path_expand(const char *path, int pid, unsigned seq, char *out, size_t out_len)
{
    size_t at = 0;
    for (const char *c = path; *c; c++) {
        int n;
        if (c[0] == '%' && c[1] == 'p')
            n = snprintf(out + at, out_len - at, "%d", pid);
        else if (c[0] == '%' && c[1] == 'n')
            n = snprintf(out + at, out_len - at, "%u", seq);
        else if (c[0] == '%' && c[1] == '%')
            n = snprintf(out + at, out_len - at, "%%");
        else
            n = snprintf(out + at, out_len - at, "%c", *c);
        if (n < 0 || (size_t)n >= out_len - at)
            return -1;
        at += (size_t)n;
        c += c[0] == '%' && c[1] != '\0';
    }
    return 0;
}

void say_cannot_write(const char *name, const char *why)
{
    fprintf(stderr, "memtrace: error: cannot write %s: %s\n", name, why);
}

/* An open that failed; ELOOP from O_NOFOLLOW: the path is a symlink. */
static int open_failed(const char *path, int err)
{
    struct stat st;
    if (err == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        say_cannot_write(path, "it is a symbolic link (memtrace does not follow one)");
    else
        say_cannot_write(path, strerror(err));
    return -1;
}

static int out_stream(struct out_file *o, int fd, bool own_fd)
{
    o->fd = fd;
    o->own_fd = own_fd;
    o->f = fopencookie(o, "w", (cookie_io_functions_t){ .write = out_write,
                                                         .close = out_close_fd });
    if (!o->f) {
        int err = errno;
        if (own_fd)
            close(fd);
        return open_failed(o->name, err);
    }
    return 0;
}

/* -o FILE: created or truncated now, as before the run. */
int out_open_log(struct out_file *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    o->name = o->path = path;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return open_failed(path, errno);
    return out_stream(o, fd, true);
}

/* --json FILE: a temporary file beside FILE (same directory: the rename is
 * atomic), so a report that cannot be written whole leaves FILE as it was.
 * A device or a pipe (/dev/null, a FIFO) is written in place, and so is a
 * file in a directory memtrace may not create files in. */
int out_open_json(struct out_file *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    if (strcmp(path, "-") == 0) {
        o->name = "standard output";
        fflush(stdout);
        return out_stream(o, STDOUT_FILENO, false);
    }
    o->name = o->path = path;
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    if (!exists && errno != ENOENT)
        return open_failed(path, errno);
    if (exists && S_ISLNK(st.st_mode))
        return open_failed(path, ELOOP);
    int fd;
    if (exists && !S_ISREG(st.st_mode)) {
        if ((fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return open_failed(path, errno);
        return out_stream(o, fd, true);
    }
    if (exists) {   /* writable? (the rename would replace it regardless) */
        if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return open_failed(path, errno);
        close(fd);
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    if (path[dirlen] == '\0')
        return open_failed(path, EISDIR);
    size_t room = strlen(path) + sizeof("..XXXXXX");
    if (!(o->tmp = malloc(room)))
        return open_failed(path, ENOMEM);
    snprintf(o->tmp, room, "%.*s.%s.XXXXXX", dirlen, path, path + dirlen);
    fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd >= 0) {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, exists ? st.st_mode & 07777 : 0666 & ~mask) != 0) {
            int err = errno;
            close(fd);
            unlink(o->tmp);
            return open_failed(path, err);
        }
        return out_stream(o, fd, true);
    }
    free(o->tmp);
    o->tmp = NULL;
    o->truncate = true;
    o->created = !exists;
    if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666)) < 0)
        return open_failed(path, errno);
    return out_stream(o, fd, true);
}

/* Closes the stream; true when everything written reached the file. */
bool out_finish(struct out_file *o)
{
    if (fclose(o->f) != 0 && !o->err)
        o->err = EIO;
    o->f = NULL;
    return o->err == 0;
}

/* The run failed: no report, and no file memtrace made for one. */
void out_discard(struct out_file *o)
{
    if (!o->f)
        return;
    fclose(o->f);
    o->f = NULL;
    if (o->tmp)
        unlink(o->tmp);
    else if (o->created)
        unlink(o->path);
    free(o->tmp);
    o->tmp = NULL;
}

int out_begin(struct out_file *o)
{
    if (o->truncate && ftruncate(o->fd, 0) != 0)
        o->err = errno;
    return o->err ? -1 : 0;
}

int out_commit(struct out_file *o, int write_rc)
{
    bool ok = out_finish(o);
    if (ok && write_rc != 0)
        o->err = ENOMEM;   /* not a write error: the report could not be built */
    else if (ok && o->tmp && rename(o->tmp, o->path) != 0)
        o->err = errno;
    if (o->tmp && o->err)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
    if (o->err) {
        say_cannot_write(o->name, strerror(o->err));
        return -1;
    }
    return 0;
}
