/* Roots of the leak scan, from /proc/PID/maps and the threads' registers.
 * Heap memory (glibc's heaps around the tracked blocks: the brk heap,
 * malloc's arenas of other threads, its large mmapped chunks) is never a
 * root: it is scanned only through live blocks, so stale pointers in free
 * chunks cannot hide a leak. The allocator's own data (glibc's main_arena: top, bins)
 * points at chunk headers inside user blocks; from there only start
 * pointers count. */
#include "leak_roots.h"
#include "progress.h"
#include "leak_scan.h"
#include "glibc_heap.h"
#include "elf_file.h"
#include "unwind.h"
#include "mt_time.h"
#include "grow.h"
#include "procfs.h"
#include "remote.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* One line of /proc/PID/maps. */
struct mapping {
    mt_addr lo, hi;
    bool readable, writable, file;
    bool special;              /* [vvar], [vsyscall]: not memory to scan */
};

struct read_ctx {
    const struct remote *remote;
    pid_t tid;
    struct mt_progress progress;   /* a heap of gigabytes takes seconds */
    uint64_t bytes_read;
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
    struct read_ctx *r = ctx;
    ssize_t n = remote_read_partial(r->remote, r->tid, addr, buf, len);
    if (n > 0)
        mt_progress_update(&r->progress, r->bytes_read += (uint64_t)n);
    return n < 0 ? 0 : n;
}

/* The thread that called exit_group, seen from the frame that called
 * the C library's exit path (exit, _exit): its stack pointer and the
 * callee-saved registers unwinding restored there. */
struct exit_caller {
    pid_t tid;                  /* 0: none found (every thread is scanned as it stopped) */
    mt_regs regs;
};

/* Where the live part of a stack in [lo, hi) begins: the lowest stack
 * pointer there of a thread alive at the end (below it only the red
 * zone), else of a thread that exited earlier (glibc keeps its stack for
 * reuse); 0 when [lo, hi) is no stack. For the thread that called exit,
 * the stack pointer of exit's caller: the frames of the exit path below
 * it are the C library's, and what they did not overwrite is stale (a
 * returned main's locals): memcheck counts only words the program defined,
 * and a new frame's slots are undefined until written. */
static mt_addr stack_live_from(const struct process *p, const struct exit_caller *ec, mt_addr lo,
                               mt_addr hi)
{
    mt_addr best = 0;
    for (const struct thread *t = p->threads; t; t = t->next) {
        if (!t->has_exit_regs)
            continue;
        mt_addr sp = regs_sp(&t->exit_regs);
        mt_addr from = sp - ARCH_RED_ZONE;
        if (ec->tid == t->tid) {
            sp = regs_sp(&ec->regs);
            from = sp;   /* a frame that called: it keeps nothing below its sp */
        }
        if (sp >= lo && sp < hi && (!best || from < best))
            best = from;
    }
    if (best)
        return best > lo ? best : lo;   /* a stack reused by a thread alive at the end */
    for (size_t i = 0; i < p->nexited_sps; i++) {
        mt_addr sp = p->exited_sps[i];
        if (sp >= lo && sp < hi && (!best || sp - ARCH_RED_ZONE < best))
            best = sp - ARCH_RED_ZONE;
    }
    return best > lo ? best : lo;
}

/* Roots [lo, hi) of a mapping, except memtrace's own return-stub records,
 * which hold the blocks' addresses (the page may have merged with a
 * neighbour). */
static void root_range(const struct process *p, struct leak_scan *s, mt_addr lo, mt_addr hi,
                       mt_addr alloc_lo, mt_addr alloc_hi)
{
    bool allocator_data = lo < alloc_hi && hi > alloc_lo;
    mt_addr own_lo = p->scratch.stubs_data, own_hi = own_lo + SCRATCH_PAGE;
    if (own_lo && own_lo < hi && own_hi > lo) {
        if (lo < own_lo)
            leak_scan_root_region(s, lo, own_lo, allocator_data);
        if (own_hi < hi)
            leak_scan_root_region(s, own_hi, hi, allocator_data);
        return;
    }
    leak_scan_root_region(s, lo, hi, allocator_data);
}

/* A mapping holding tracked blocks. The kernel merges a program's own
 * anonymous mapping with an adjacent one of malloc's (a large block's
 * chunk, an arena's heap) into one VMA, so the roots are decided by
 * address: the glibc heap extents around the blocks are heap, scanned only
 * through the blocks; the rest of the mapping is the program's, a root.
 * Where a block's headers do not fit glibc's layout, the whole mapping is
 * taken for heap (no roots), as when nothing was known. */
static void root_heap_mapping(const struct process *p, struct leak_scan *s,
                              const struct read_ctx *r, const struct mapping *m,
                              mt_addr start_brk, mt_addr alloc_lo, mt_addr alloc_hi)
{
    struct glibc_extent extents[64];
    size_t n = 0;
    const struct block *b;
    for (size_t rank = leak_scan_rank_from(s, m->lo);
         (b = leak_scan_block_at(s, rank)) && b->addr < m->hi;) {
        struct glibc_extent e;
        if (n == sizeof(extents) / sizeof(extents[0]) ||
            !glibc_heap_extent(read_target, (void *)r, b->addr, b->size, m->lo, m->hi, start_brk,
                               &e))
            return;
        if (n && e.lo < extents[n - 1].hi)
            return;   /* overlapping extents: not glibc's layout */
        extents[n++] = e;
        rank = leak_scan_rank_from(s, e.hi);   /* the blocks inside e are e's */
    }
    mt_addr at = m->lo;
    for (size_t i = 0; i < n; i++) {
        if (extents[i].lo > at)
            root_range(p, s, at, extents[i].lo, alloc_lo, alloc_hi);
        at = extents[i].hi;
    }
    if (at < m->hi)
        root_range(p, s, at, m->hi, alloc_lo, alloc_hi);
}

/* --fast under run: a free runs once a stub call picks it from memtrace's
 * queue, so at exit the last ones may not have run. A large block's chunk
 * is then still a mapping of its own, with no tracked block in it: it is
 * the allocator's memory, never a root (the program freed it). */
static bool queued_free_in(const struct process *p, mt_addr lo, mt_addr hi)
{
    for (size_t i = 0; i < p->nfast_unqueued; i++)
        if (p->fast_unqueued[i] >= lo && p->fast_unqueued[i] < hi)
            return true;
    return fast_ring_queued_free_in(&p->fast_ring, lo, hi);
}

static void scan_maps(struct process *p, struct leak_scan *s, const struct read_ctx *r,
                      const struct exit_caller *ec)
{
    mt_addr alloc_lo, alloc_hi;
    process_allocator_range(p, &alloc_lo, &alloc_hi);
    unsigned long start_brk = 0;
    if (procfs_stat_field(r->tid, PROCFS_STAT_START_BRK, &start_brk) != 0)
        start_brk = 0;   /* then no main-arena extent is trusted */
    for (size_t i = 0; i < r->nmaps; i++) {
        const struct mapping *m = &r->maps[i];
        mt_addr lo = m->lo, hi = m->hi;
        if (!m->readable || !m->writable || m->special)
            continue;
        /* --fast's ring holds the addresses of blocks freed long ago. */
        if (p->fast_ring.ring && lo >= p->fast_ring.ring &&
            hi <= p->fast_ring.ring + p->fast_ring.ring_bytes)
            continue;
        bool has_blocks = leak_scan_has_block_in(s, lo, hi);
        if (!has_blocks && queued_free_in(p, lo, hi))
            continue;
        if (has_blocks) {
            if (p->model.untracked_ok && !p->census.taken)   /* blocks from before: roots */
                leak_scan_root_gaps(s, lo, hi);
            else
                root_heap_mapping(p, s, r, m, start_brk, alloc_lo, alloc_hi);
            continue;
        }
        root_range(p, s, stack_live_from(p, ec, lo, hi), hi, alloc_lo, alloc_hi);
    }
}

/* RELRO data: written at start-up (the dynamic linker's relocations, and
 * in a static program the start-up code's variables, such as the library
 * search paths it mallocs), then made read-only, so the writable-mapping
 * rule above misses it. A pointer stored there before the mprotect is the
 * program's as much as one in .data. */
static void scan_relro(const struct process *p, struct leak_scan *s, const struct read_ctx *r)
{
    for (size_t i = 0; i < p->modules.n; i++) {
        const struct module *mod = &p->modules.items[i];
        if (!mod->present || !mod->elf || !mod->elf->relro_memsz)
            continue;
        mt_addr lo = mod->bias + mod->elf->relro_vaddr, hi = lo + mod->elf->relro_memsz;
        for (size_t j = 0; j < r->nmaps; j++) {
            const struct mapping *m = &r->maps[j];
            if (!m->readable || m->writable || m->special || m->hi <= lo || m->lo >= hi)
                continue;   /* writable parts are roots already */
            leak_scan_root_region(s, m->lo > lo ? m->lo : lo, m->hi < hi ? m->hi : hi, false);
        }
    }
}

static void root_regs(struct leak_scan *s, const mt_regs *regs)
{
    /* user_regs_struct is a sequence of 64-bit registers. */
    uint64_t words[sizeof(mt_regs) / 8];
    memcpy(words, regs, sizeof(words));
    leak_scan_root_words(s, words, sizeof(words) / 8);
}

/* Every thread's registers as it stopped (memcheck's rule: the exit
 * path's registers are defined values), and for the thread that called
 * exit the callee-saved registers of exit's caller, which the exit path
 * may have spilled into the frames scan_maps leaves out. */
static void scan_registers(const struct process *p, struct leak_scan *s,
                           const struct exit_caller *ec)
{
    for (const struct thread *t = p->threads; t; t = t->next)
        if (t->has_exit_regs)
            root_regs(s, &t->exit_regs);
    if (ec->tid)
        root_regs(s, &ec->regs);
}

/* The C library's exit path: exit (atexit handlers, stdio flushing) and
 * _exit, the exit_group system call. Looked up in the module that holds
 * malloc (glibc's libc, or a static program). */
static const char *const exit_functions[] = { "exit", "_exit", "_Exit", "quick_exit" };
#define NEXIT (sizeof(exit_functions) / sizeof(exit_functions[0]))

struct exit_walk {
    struct { mt_addr lo, hi; } fns[NEXIT];
    size_t nfns;
    bool in_exit_path;          /* the frames so far are all the exit path's */
    bool found;
    mt_regs caller;
};

static bool in_exit_function(const struct exit_walk *w, mt_addr ip)
{
    for (size_t i = 0; i < w->nfns; i++)
        if (ip >= w->fns[i].lo && ip < w->fns[i].hi)
            return true;
    return false;
}

/* Frames from the innermost: the exit path's own (exit's internal helpers
 * between exit and _exit have no exported name, so any frame counts until
 * the outermost exit function), then its caller. */
static bool visit_exit_frame(void *ctx, unsigned depth, const mt_regs *frame)
{
    struct exit_walk *w = ctx;
    mt_addr ip = depth ? regs_call_site(frame) : regs_ip(frame);
    if (in_exit_function(w, ip)) {
        w->in_exit_path = true;
        w->found = false;
        return true;
    }
    if (depth == 0)
        return false;   /* not stopped inside the exit path (a raw exit_group) */
    if (w->in_exit_path && !w->found) {
        w->found = true;
        w->caller = *frame;
    }
    return true;   /* on: an outer exit function (exit calling _exit) restarts the search */
}

#define EXIT_WALK_MAX_FRAMES 64

static void find_exit_caller(const struct process *p, struct exit_caller *ec)
{
    memset(ec, 0, sizeof(*ec));
    if (!p->unwinder)
        return;
    const struct thread *caller = NULL;
    for (const struct thread *t = p->threads; t; t = t->next)
        if (t->has_exit_regs && regs_syscall_nr(&t->exit_regs) == SYS_exit_group)
            caller = t;
    mt_addr alloc_lo, alloc_hi;
    process_allocator_range(p, &alloc_lo, &alloc_hi);
    const struct module *libc = alloc_lo ? modules_at(&p->modules, alloc_lo) : NULL;
    if (!caller || !libc || !libc->elf)
        return;
    struct exit_walk w = { .nfns = 0 };
    for (size_t i = 0; i < NEXIT; i++) {
        uint64_t value, size;
        if (elf_file_find_function(libc->elf, exit_functions[i], &value, &size) && size) {
            w.fns[w.nfns].lo = libc->bias + value;
            w.fns[w.nfns].hi = libc->bias + value + size;
            w.nfns++;
        }
    }
    if (!w.nfns)
        return;
    unwinder_walk(p->unwinder, caller->tid, &caller->exit_regs, visit_exit_frame, &w,
                  EXIT_WALK_MAX_FRAMES);
    if (w.found && regs_sp(&w.caller) > regs_sp(&caller->exit_regs)) {
        ec->tid = caller->tid;
        ec->regs = w.caller;
    }
}

int leak_roots_scan_process(struct process *p, pid_t tid, unsigned heuristics)
{
    uint64_t start = mt_now_ns();
    struct read_ctx rc = { .remote = p->remote, .tid = tid };
    char what[64];
    snprintf(what, sizeof(what), "scanning the memory of pid %d", (int)p->pid);
    mt_progress_begin(&rc.progress, what, 0);
    struct leak_scan *s = calloc(1, sizeof(*s));
    int err = s ? read_maps(&rc, p->maps_fd) : -ENOMEM;
    if (!err)
        err = leak_scan_init(s, &p->model.live, read_target, &rc, heuristics, is_vtable_addr);
    if (err) {
        free(rc.maps);
        free(s);
        return err;
    }
    struct exit_caller ec;
    find_exit_caller(p, &ec);
    scan_maps(p, s, &rc, &ec);
    scan_relro(p, s, &rc);
    scan_registers(p, s, &ec);
    err = leak_scan_finish(s);
    mt_progress_end(&rc.progress);
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
