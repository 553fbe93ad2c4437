/* Target memory access. Breakpoint-aware reads live in breakpoint.c, which
 * overlays original bytes on what these return. */
#include "target_mem.h"
#include "ptrace_io.h"
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

ssize_t target_read_partial(pid_t pid, mt_addr addr, void *buf, size_t len)
{
    struct iovec local = { .iov_base = buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return errno == EFAULT ? 0 : -errno;
    return n;
}

int target_read(pid_t pid, mt_addr addr, void *buf, size_t len)
{
    ssize_t n = target_read_partial(pid, addr, buf, len);
    if (n < 0)
        return (int)n;
    return (size_t)n == len ? 0 : -EFAULT;
}

int target_read_u64(pid_t pid, mt_addr addr, uint64_t *out)
{
    return target_read(pid, addr, out, sizeof(*out));
}

int target_write(pid_t pid, mt_addr addr, const void *buf, size_t len)
{
    struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EFAULT;
}

int target_poke_text(pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    while (len > 0) {
        mt_addr word_addr = addr & ~(mt_addr)7;
        size_t skip = (size_t)(addr - word_addr);
        size_t n = 8 - skip < len ? 8 - skip : len;
        uint64_t word = 0;
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
