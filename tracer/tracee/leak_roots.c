/* Roots of the leak scan, from /proc/PID/maps and the threads' registers.
 * Heap memory (any mapping holding a tracked block: the brk heap, malloc's
 * arenas of other threads, its large mmapped chunks) is never a root: it is
 * scanned only through live blocks, so stale pointers in free chunks cannot
 * hide a leak. The allocator's own data (glibc's main_arena: top, bins)
 * points at chunk headers inside user blocks; from there only start
 * pointers count. */
#include "leak_roots.h"
#include "leak_scan.h"
#include "mt_time.h"
#include "grow.h"
#include "procfs.h"
#include "remote.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Red zone below rsp that x86-64 leaf functions may use (System V ABI). */
#define RED_ZONE 128

/* One line of /proc/PID/maps. */
struct mapping {
    mt_addr lo, hi;
    bool readable, writable, file;
    bool special;              /* [vvar], [vsyscall]: not memory to scan */
};

struct read_ctx {
    const struct remote *remote;
    pid_t tid;
    struct mapping *maps;
    size_t nmaps, maps_cap;
};

/* Read-only data of a file mapping: where vtables live. */
static bool is_vtable_addr(void *ctx, mt_addr addr)
{
    const struct read_ctx *r = ctx;
    if (addr < 4096 || (addr & 7))
        return false;
    for (size_t i = 0; i < r->nmaps; i++)
        if (addr >= r->maps[i].lo && addr < r->maps[i].hi)
            return r->maps[i].file && r->maps[i].readable && !r->maps[i].writable;
    return false;
}

static int add_mapping(void *ctx, const struct procfs_map *m)
{
    struct read_ctx *r = ctx;
    struct mapping *maps = mt_grow(r->maps, &r->maps_cap, r->nmaps + 1, sizeof(*maps));
    if (!maps)
        return -ENOMEM;
    r->maps = maps;
    r->maps[r->nmaps++] = (struct mapping){
        .lo = m->lo, .hi = m->hi, .readable = m->readable, .writable = m->writable,
        .file = m->inode != 0,
        .special = strncmp(m->name, "[vvar", 5) == 0 || strncmp(m->name, "[vsyscall", 9) == 0,
    };
    return 0;
}

/* Through the descriptor opened at exec when /proc refuses a new open
 * (the process made itself non-dumpable). */
static int read_maps(struct read_ctx *r, int maps_fd)
{
    int err = procfs_maps(r->tid, add_mapping, r);
    if ((err == -EACCES || err == -EPERM) && maps_fd >= 0 && r->nmaps == 0)
        err = procfs_maps_fd(maps_fd, add_mapping, r);
    return err;
}

static ssize_t read_target(void *ctx, mt_addr addr, void *buf, size_t len)
{
    const struct read_ctx *r = ctx;
    ssize_t n = remote_read_partial(r->remote, r->tid, addr, buf, len);
    return n < 0 ? 0 : n;
}

/* [lo, hi) of the module that defines malloc, 0/0 when unknown. */
static void allocator_range(const struct process *p, mt_addr *lo, mt_addr *hi)
{
    *lo = *hi = 0;
    for (size_t i = 0; i < p->bps.n; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->role != BP_HOOK_ENTRY || bp->tag != FN_MALLOC)
            continue;
        const struct module *m = modules_at(&p->modules, bp->addr);
        if (m) {
            *lo = m->lo;
            *hi = m->hi;
        }
        return;
    }
}

/* Where the live part of a stack in [lo, hi) begins: the lowest stack
 * pointer there of a thread alive at the end, else of a thread that exited
 * earlier (glibc keeps its stack for reuse); 0 when [lo, hi) is no stack. */
static mt_addr stack_pointer_in(const struct process *p, mt_addr lo, mt_addr hi)
{
    mt_addr best = 0;
    for (const struct thread *t = p->threads; t; t = t->next) {
        if (!t->has_exit_regs)
            continue;
        mt_addr sp = regs_sp(&t->exit_regs);
        if (sp >= lo && sp < hi && (!best || sp < best))
            best = sp;
    }
    if (best)
        return best;   /* a stack reused by a thread alive at the end */
    for (size_t i = 0; i < p->nexited_sps; i++) {
        mt_addr sp = p->exited_sps[i];
        if (sp >= lo && sp < hi && (!best || sp < best))
            best = sp;
    }
    return best;
}

static void scan_maps(struct process *p, struct leak_scan *s, const struct read_ctx *r)
{
    mt_addr alloc_lo, alloc_hi;
    allocator_range(p, &alloc_lo, &alloc_hi);
    for (size_t i = 0; i < r->nmaps; i++) {
        const struct mapping *m = &r->maps[i];
        mt_addr lo = m->lo, hi = m->hi;
        if (!m->readable || !m->writable || m->special)
            continue;
        if (leak_scan_has_block_in(s, lo, hi)) {   /* heap */
            if (p->model.untracked_ok)   /* attach: blocks from before are roots */
                leak_scan_root_gaps(s, lo, hi);
            continue;
        }
        mt_addr sp = stack_pointer_in(p, lo, hi);
        if (sp)
            lo = sp - RED_ZONE > lo ? sp - RED_ZONE : lo;   /* a stack: only its live part */
        bool allocator_data = lo < alloc_hi && hi > alloc_lo;
        /* memtrace's own return-stub records hold the blocks' addresses:
         * never roots (the page may have merged with a neighbour). */
        mt_addr own_lo = p->scratch.stubs_data, own_hi = own_lo + SCRATCH_PAGE;
        if (own_lo && own_lo < hi && own_hi > lo) {
            if (lo < own_lo)
                leak_scan_root_region(s, lo, own_lo, allocator_data);
            if (own_hi < hi)
                leak_scan_root_region(s, own_hi, hi, allocator_data);
            continue;
        }
        leak_scan_root_region(s, lo, hi, allocator_data);
    }
}

static void scan_registers(const struct process *p, struct leak_scan *s)
{
    for (const struct thread *t = p->threads; t; t = t->next) {
        if (!t->has_exit_regs)
            continue;
        /* user_regs_struct is a sequence of 64-bit registers. */
        uint64_t words[sizeof(mt_regs) / 8];
        memcpy(words, &t->exit_regs, sizeof(words));
        leak_scan_root_words(s, words, sizeof(words) / 8);
    }
}

int leak_roots_scan_process(struct process *p, pid_t tid, unsigned heuristics)
{
    uint64_t start = mt_now_ns();
    struct read_ctx rc = { .remote = p->remote, .tid = tid };
    struct leak_scan *s = calloc(1, sizeof(*s));
    int err = s ? read_maps(&rc, p->maps_fd) : -ENOMEM;
    if (!err)
        err = leak_scan_init(s, &p->model.live, read_target, &rc, heuristics, is_vtable_addr);
    if (err) {
        free(rc.maps);
        free(s);
        return err;
    }
    scan_maps(p, s, &rc);
    scan_registers(p, s);
    err = leak_scan_finish(s);
    free(rc.maps);
    s->read = NULL;       /* rc goes out of scope */
    s->read_ctx = NULL;
    s->is_vtable = NULL;
    if (p->scan) {
        leak_scan_destroy(p->scan);
        free(p->scan);
    }
    p->scan = s;
    p->scan_ns = mt_now_ns() - start;
    return err;
}
