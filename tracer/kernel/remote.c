/* The real target behind struct remote: process_vm_readv/writev for data and
 * stacks, PTRACE_PEEKDATA/POKEDATA where those are refused (a target that
 * made itself non-dumpable, traced by a user without CAP_SYS_PTRACE),
 * POKEDATA for read-only code pages. Breakpoint-aware reads live in
 * breakpoint.c, which overlays original bytes on what these return. */
#include "remote.h"
#include "procfs.h"
#include "ptrace_io.h"
#include "fault.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/uio.h>

/* A process's own backend state: its /proc/PID/mem, or -1. */
struct ptrace_state {
    int mem_fd;
};

static int mem_fd_of(void *ctx)
{
    return ctx ? ((const struct ptrace_state *)ctx)->mem_fd : -1;
}

/* Word by word, as strace's umoven_peekdata does: slow, but it works where
 * process_vm_readv does not (the kernel checks ptrace access for both, yet
 * a non-dumpable target or a seccomp filter can refuse the latter alone). */
static ssize_t peek_partial(pid_t tid, mt_addr addr, void *buf, size_t len)
{
    uint8_t *out = buf;
    size_t done = 0;
    while (done < len) {
        mt_addr at = addr + done;
        if (at < addr)
            break;   /* wrapped past the top of the address space */
        mt_addr word_addr = at & ~(mt_addr)7;
        size_t skip = (size_t)(at - word_addr);
        size_t n = 8 - skip < len - done ? 8 - skip : len - done;
        uint64_t word;
        int err = pt_peek(tid, word_addr, &word);
        if (err == -EIO || err == -EFAULT)
            break;   /* unmapped: the read ends here */
        if (err)
            return done ? (ssize_t)done : err;
        memcpy(out + done, (uint8_t *)&word + skip, n);
        done += n;
    }
    return (ssize_t)done;
}

static ssize_t ptrace_read(void *ctx, pid_t tid, mt_addr addr, void *buf, size_t len)
{
    struct iovec local = { .iov_base = buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    int injected = fault_next(FAULT_VM);
    ssize_t n = injected ? (errno = injected, -1) : process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n >= 0)
        return n;
    if (errno == EFAULT)
        return 0;
    if (errno != EPERM && errno != ENOSYS)
        return -errno;
    int fd = mem_fd_of(ctx);
    if (fd >= 0) {
        ssize_t got = pread(fd, buf, len, (off_t)addr);
        return got >= 0 ? got : errno == EIO ? 0 : -errno;
    }
    return peek_partial(tid, addr, buf, len);
}


static int ptrace_poke_text(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    (void)ctx;
    const uint8_t *src = buf;
    while (len > 0) {
        mt_addr word_addr = addr & ~(mt_addr)7;
        size_t skip = (size_t)(addr - word_addr);
        size_t n = 8 - skip < len ? 8 - skip : len;
        uint64_t word = 0;
        /* cppcheck-suppress knownConditionTrueFalse ; n is 8 when skip is 0 and len >= 8 */
        if (skip != 0 || n != 8) {
            int err = pt_peek(tid, word_addr, &word);
            if (err)
                return err;
        }
        memcpy((uint8_t *)&word + skip, src, n);
        int err = pt_poke(tid, word_addr, word);
        if (err)
            return err;
        addr += n;
        src += n;
        len -= n;
    }
    return 0;
}

static int ptrace_write(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    int injected = fault_next(FAULT_VM);
    ssize_t n = injected ? (errno = injected, -1) : process_vm_writev(tid, &local, 1, &remote, 1, 0);
    if (n < 0 && (errno == EPERM || errno == ENOSYS)) {   /* as the read falls back */
        int fd = mem_fd_of(ctx);
        if (fd < 0)
            return ptrace_poke_text(ctx, tid, addr, buf, len);
        ssize_t put = pwrite(fd, buf, len, (off_t)addr);
        return put < 0 ? -errno : (size_t)put == len ? 0 : -EFAULT;
    }
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EFAULT;
}

static int ptrace_get_regs(void *ctx, pid_t tid, mt_regs *regs)
{
    (void)ctx;
    return pt_getregs(tid, regs);
}

static int ptrace_set_regs(void *ctx, pid_t tid, const mt_regs *regs)
{
    (void)ctx;
    return pt_setregs(tid, regs);
}

static const struct remote_ops ptrace_ops = {
    .read = ptrace_read,
    .write = ptrace_write,
    .poke_text = ptrace_poke_text,
    .get_regs = ptrace_get_regs,
    .set_regs = ptrace_set_regs,
};

const struct remote remote_ptrace = { .ops = &ptrace_ops, .ctx = NULL };

int remote_read(const struct remote *r, pid_t tid, mt_addr addr, void *buf, size_t len)
{
    ssize_t n = remote_read_partial(r, tid, addr, buf, len);
    if (n < 0)
        return (int)n;
    return (size_t)n == len ? 0 : -EFAULT;
}

int remote_read_u64(const struct remote *r, pid_t tid, mt_addr addr, uint64_t *out)
{
    return remote_read(r, tid, addr, out, sizeof(*out));
}

static int open_mem(pid_t pid)
{
    int fd = procfs_open_mem(pid);
    return fd >= 0 ? fd : -1;
}

int remote_ptrace_init(struct remote *r)
{
    struct ptrace_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->mem_fd = -1;
    *r = (struct remote){ .ops = &ptrace_ops, .ctx = st };
    return 0;
}

int remote_ptrace_open(struct remote *r, pid_t pid)
{
    int err = remote_ptrace_init(r);
    if (!err)
        remote_ptrace_reopen(r, pid);
    return err;
}

void remote_ptrace_reopen(struct remote *r, pid_t pid)
{
    struct ptrace_state *st = r->ctx;
    if (!st)
        return;
    if (st->mem_fd >= 0)
        close(st->mem_fd);
    st->mem_fd = open_mem(pid);
}

void remote_ptrace_close_mem(struct remote *r)
{
    struct ptrace_state *st = r->ctx;
    if (st && st->mem_fd >= 0) {
        close(st->mem_fd);
        st->mem_fd = -1;
    }
}

void remote_ptrace_close(struct remote *r)
{
    struct ptrace_state *st = r->ctx;
    if (st && st->mem_fd >= 0)
        close(st->mem_fd);
    free(st);
    r->ctx = NULL;
}
