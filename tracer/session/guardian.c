/* The guardian of an attached process (see guardian.h). */
#include "guardian.h"
#include "diag.h"
#include "fast_abi.h"
#include "procfs.h"
#include "ptrace_io.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum guard_kind {
    GUARD_INT3 = 1,    /* addr held orig before memtrace's int3 */
    GUARD_ZERO,        /* addr is an 8-byte word to clear: the stubs' switch */
    GUARD_DONE,        /* memtrace left: touch nothing */
};

struct guard_msg {
    uint32_t kind;
    uint8_t orig;
    uint8_t pad[3];
    uint64_t addr;
};

/* Far more than memtrace plants: one int3 per hooked function. */
#define GUARD_MAX 1024

struct guard_table {
    struct guard_msg items[GUARD_MAX];
    size_t n;
};

static void remember(struct guard_table *t, const struct guard_msg *m)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].addr == m->addr && t->items[i].kind == m->kind)
            return;
    if (t->n < GUARD_MAX)
        t->items[t->n++] = *m;
}

/* Only async-signal-safe calls from here on: memtrace may have threads. */
static void put_back(int mem, const struct guard_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct guard_msg *m = &t->items[i];
        if (m->kind != GUARD_INT3)
            continue;
        uint8_t now;
        /* Only over memtrace's int3: an address memtrace restored, or the
         * program changed since, keeps what it has. */
        if (pread(mem, &now, 1, (off_t)m->addr) == 1 && now == 0xcc)
            (void)!pwrite(mem, &m->orig, 1, (off_t)m->addr);
    }
    const uint64_t zero = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].kind == GUARD_ZERO)
            (void)!pwrite(mem, &zero, sizeof(zero), (off_t)t->items[i].addr);
}

static _Noreturn void guard(int in, int mem)
{
    static struct guard_table table;
    for (;;) {
        struct guard_msg m = { 0 };
        size_t got = 0;
        while (got < sizeof(m)) {
            ssize_t n = read(in, (char *)&m + got, sizeof(m) - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got < sizeof(m))
            break;   /* memtrace is gone without a word */
        if (m.kind == GUARD_DONE)
            _exit(0);
        remember(&table, &m);
    }
    put_back(mem, &table);
    _exit(0);
}

/* Without close_range (a kernel before 5.9, a seccomp filter), one by one
 * up to the descriptor limit. */
static void close_fds(unsigned first, unsigned last)
{
    if (close_range(first, last, 0) == 0)
        return;
    long limit = sysconf(_SC_OPEN_MAX);
    if (limit < 0 || limit > 65536)
        limit = 65536;
    for (unsigned fd = first; fd <= last && fd < (unsigned)limit; fd++)
        close((int)fd);
}

int guardian_start(struct guardian *g, pid_t target, char *why, size_t why_len)
{
    g->fd = -1;
    g->target = target;
    int mem = procfs_open_mem(target);
    if (mem < 0) {
        snprintf(why, why_len, "cannot open the memory of pid %d: %s", target, strerror(-mem));
        return mem;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        int err = -errno;
        snprintf(why, why_len, "socketpair: %s", strerror(errno));
        close(mem);
        return err;
    }
    pid_t child = fork();
    if (child < 0) {
        int err = -errno;
        snprintf(why, why_len, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        close(mem);
        return err;
    }
    if (child == 0) {
        /* The middle process: its child, the guardian, goes to init. */
        if (fork() != 0)
            _exit(0);
        setsid();   /* a Ctrl-C meant for memtrace does not reach it */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        /* Out of the way first: either may be 3 or 4 now. */
        int in = fcntl(sv[1], F_DUPFD, 100), mem_high = fcntl(mem, F_DUPFD, 100);
        if (in < 0 || mem_high < 0 || dup2(in, 3) < 0 || dup2(mem_high, 4) < 0)
            _exit(1);
        /* Nothing else of memtrace's: an open pipe of its stderr would keep
         * whoever reads it waiting for the guardian. */
        close_fds(0, 2);
        close_fds(5, ~0u);
        guard(3, 4);
    }
    close(sv[1]);
    close(mem);
    int status;
    while (pt_wait(child, &status, 0) == -EINTR)
        ;
    g->fd = sv[0];
    return 0;
}

static void send_msg(struct guardian *g, const struct guard_msg *m)
{
    if (g->fd < 0)
        return;
    size_t done = 0;
    while (done < sizeof(*m)) {
        ssize_t n = send(g->fd, (const char *)m + done, sizeof(*m) - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mt_warn("the guardian of pid %d is gone (%s): if memtrace is killed, the process "
                    "may die at its next hooked call", g->target,
                    n < 0 ? strerror(errno) : "closed");
            close(g->fd);
            g->fd = -1;
            return;
        }
        done += (size_t)n;
    }
}

void guardian_watch(struct guardian *g, const struct process *p)
{
    if (g->fd < 0 || p->pid != g->target)
        return;
    for (size_t i = 0; i < p->bps.n; i++) {
        struct guard_msg m = { .kind = GUARD_INT3, .orig = p->bps.items[i].orig[0],
                               .addr = p->bps.items[i].addr };
        send_msg(g, &m);
    }
    if (p->fast_ring.region) {
        struct guard_msg m = { .kind = GUARD_ZERO,
                               .addr = p->fast_ring.region + FAST_CTL_OFFSET + FAST_CTL_RING };
        send_msg(g, &m);
    }
}

void guardian_stop(struct guardian *g)
{
    struct guard_msg m = { .kind = GUARD_DONE };
    send_msg(g, &m);
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}
