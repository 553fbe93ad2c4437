/* libunwind-ptrace with memtrace's own register and memory accessors:
 * registers from the trap's GETREGS, stack words from the per-trap snapshot,
 * unwind tables through _UPT_find_proc_info. */
#include "unwind.h"
#include "remote.h"
#include "unwind_tables.h"
#include <libunwind-ptrace.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* _UPT_find_proc_info keeps the unwind tables of one ELF image per UPT
 * handle and re-reads /proc/PID/maps and maps the file again whenever the
 * ip is outside it: with stacks that cross the program and libc, every
 * frame could reload a module. One handle per module (LRU over a few)
 * makes that a once-per-module cost. */
#define UNWIND_MODULE_SLOTS 16

struct upt_slot {
    mt_addr lo, hi;        /* module range this handle serves; lo == hi: free */
    void *upt;
    uint64_t used;         /* LRU clock */
    bool tables_refused;   /* the module's unwind tables failed their check */
};

/* libunwind parses CIEs and FDEs by reading the target's memory a word at
 * a time through access_mem: ~8 reads per frame, each a process_vm_readv
 * (bench/: 30 us per frame in python3 before this cache). Pages are read
 * whole. Pages inside a module are kept until the modules change (unwind
 * tables are read-only; breakpoints are read as original bytes); any other
 * page (stack below the snapshot, heap) only for the current unwind. */
#define UNWIND_PAGE_SLOTS 64
#define UNWIND_PAGE 4096u

struct page_slot {
    mt_addr page;          /* 0: empty */
    uint64_t valid_in;     /* 0: until flush; else the unwind number it belongs to */
    uint8_t bytes[UNWIND_PAGE];
};

struct unwinder {
    pid_t pid;
    struct page_slot *pages;   /* UNWIND_PAGE_SLOTS, allocated on first use */
    unw_addr_space_t as;
    void *upt;             /* for ips outside every known module */
    struct upt_slot slots[UNWIND_MODULE_SLOTS];
    uint64_t clock;
    unwind_module_fn module_range;
    unwind_read_fn read;
    void *read_ctx;
    uint64_t unwinds;
    uint64_t epoch;        /* one per walk: pages outside modules are kept for one */
    uint64_t frames;       /* return addresses found by unw_step */
    uint64_t ns;           /* time spent in unwinder_callers */
    /* the trap being unwound */
    pid_t tid;
    const mt_regs *regs;
    const struct stack_snapshot *snap;
};

/* Owned by this module: the unwinder serving the current unw_step.
 * _UPT_find_proc_info calls access_mem with its own UPT handle as 'arg', so
 * the trap context cannot travel through that argument. */
static struct unwinder *active;

int stack_snapshot_fill(struct stack_snapshot *s, const struct remote *r, pid_t tid, mt_addr sp)
{
    s->base = sp;
    s->len = 0;
    s->view = NULL;
    ssize_t n = remote_read_partial(r, tid, sp, s->buf, sizeof(s->buf));
    if (n < 0)
        return (int)n;
    s->len = (size_t)n;
    return 0;
}

/* Whether the word at addr lies in the snapshot. addr is the target's (a
 * register, a saved frame pointer): no sum with it may wrap. */
static bool snapshot_holds(const struct stack_snapshot *s, mt_addr addr)
{
    return addr >= s->base && s->len >= 8 && addr - s->base <= s->len - 8;
}

int stack_snapshot_u64(const struct stack_snapshot *s, mt_addr addr, uint64_t *out)
{
    if (!snapshot_holds(s, addr))
        return -1;
    memcpy(out, (s->view ? s->view : s->buf) + (addr - s->base), 8);
    return 0;
}

void stack_snapshot_patch(struct stack_snapshot *s, mt_addr addr, uint64_t value)
{
    if (snapshot_holds(s, addr) && !s->view)
        memcpy(s->buf + (addr - s->base), &value, 8);
}

/* The UPT handle that caches ip's module, claiming the least recently used
 * one on a miss; *refused: that module's unwind tables must not be used. */
static void *upt_for(struct unwinder *u, mt_addr ip, bool *refused)
{
    struct upt_slot *victim = &u->slots[0];
    *refused = false;
    for (size_t i = 0; i < UNWIND_MODULE_SLOTS; i++) {
        struct upt_slot *s = &u->slots[i];
        if (ip >= s->lo && ip < s->hi) {
            s->used = ++u->clock;
            *refused = s->tables_refused;
            return s->upt;
        }
        if (s->used < victim->used)
            victim = s;
    }
    mt_addr lo, hi;
    const char *path = NULL;
    if (!u->module_range || !u->module_range(u->read_ctx, ip, &lo, &hi, &path))
        return u->upt;
    if (!victim->upt && !(victim->upt = _UPT_create(u->pid)))
        return u->upt;
    /* A reused handle drops its old image on its first lookup outside it. */
    victim->lo = lo;
    victim->hi = hi;
    victim->used = ++u->clock;
    /* Checked once per file (the verdicts are cached), here on a slot miss,
     * not per frame. */
    victim->tables_refused = path && !unwind_tables_usable(path);
    *refused = victim->tables_refused;
    return victim->upt;
}

/* libunwind trusts a module's .eh_frame_hdr (it aborts or reads wild
 * memory on a corrupt one): a module whose tables failed their check gets
 * no unwind info, and libunwind follows the frame-pointer chain instead. */
static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
                          int need_unwind_info, void *arg)
{
    (void)arg;
    bool refused;
    void *upt = upt_for(active, ip, &refused);
    if (refused)
        return -UNW_ENOINFO;
    return _UPT_find_proc_info(as, ip, pi, need_unwind_info, upt);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
    (void)arg;
    _UPT_put_unwind_info(as, pi, active->upt);   /* only frees pi's buffer */
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
    (void)as, (void)addr, (void)arg;
    return -UNW_ENOINFO;   /* no JIT-registered unwind info */
}

/* The cached page holding [addr, addr + 8), or NULL (then read directly). */
static const struct page_slot *cached_page(struct unwinder *u, mt_addr addr)
{
    mt_addr page = addr & ~(mt_addr)(UNWIND_PAGE - 1);
    if (page == 0 || addr - page > UNWIND_PAGE - 8)
        return NULL;   /* a word across two pages: rare, read directly */
    if (!u->pages && !(u->pages = calloc(UNWIND_PAGE_SLOTS, sizeof(*u->pages))))
        return NULL;
    struct page_slot *s = &u->pages[(page / UNWIND_PAGE) % UNWIND_PAGE_SLOTS];
    if (s->page == page && (s->valid_in == 0 || s->valid_in == u->epoch))
        return s;
    mt_addr lo, hi;
    const char *path;
    bool in_module = u->module_range && u->module_range(u->read_ctx, page, &lo, &hi, &path) &&
                     hi > page && hi - page >= UNWIND_PAGE;
    s->page = 0;
    if (u->read(u->read_ctx, u->tid, page, s->bytes, UNWIND_PAGE) != 0)
        return NULL;   /* partly unmapped: the word itself may still be readable */
    s->page = page;
    s->valid_in = in_module ? 0 : u->epoch;
    return s;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
    (void)as, (void)arg;
    if (write)
        return -UNW_EINVAL;
    uint64_t v;
    if (active->snap && stack_snapshot_u64(active->snap, addr, &v) == 0) {
        *val = v;
        return 0;
    }
    const struct page_slot *pg = cached_page(active, addr);
    if (pg) {
        memcpy(val, pg->bytes + (addr - pg->page), sizeof(*val));
        return 0;
    }
    if (addr > UINT64_MAX - sizeof(v) ||
        active->read(active->read_ctx, active->tid, addr, &v, sizeof(v)) != 0)
        return -UNW_EINVAL;   /* a word past the top of the address space is no word */
    *val = v;
    return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
    (void)as, (void)arg;
    if (write)
        return -UNW_EREADONLYREG;
    const mt_regs *r = active->regs;
    switch (reg) {
    case UNW_X86_64_RAX: *val = r->rax; break;
    case UNW_X86_64_RDX: *val = r->rdx; break;
    case UNW_X86_64_RCX: *val = r->rcx; break;
    case UNW_X86_64_RBX: *val = r->rbx; break;
    case UNW_X86_64_RSI: *val = r->rsi; break;
    case UNW_X86_64_RDI: *val = r->rdi; break;
    case UNW_X86_64_RBP: *val = r->rbp; break;
    case UNW_X86_64_RSP: *val = r->rsp; break;
    case UNW_X86_64_R8: *val = r->r8; break;
    case UNW_X86_64_R9: *val = r->r9; break;
    case UNW_X86_64_R10: *val = r->r10; break;
    case UNW_X86_64_R11: *val = r->r11; break;
    case UNW_X86_64_R12: *val = r->r12; break;
    case UNW_X86_64_R13: *val = r->r13; break;
    case UNW_X86_64_R14: *val = r->r14; break;
    case UNW_X86_64_R15: *val = r->r15; break;
    case UNW_X86_64_RIP: *val = r->rip; break;
    default: return -UNW_EBADREG;
    }
    return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
                        void *arg)
{
    (void)as, (void)reg, (void)val, (void)write, (void)arg;
    return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
    (void)as, (void)c, (void)arg;
    return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
                         unw_word_t *off, void *arg)
{
    (void)as, (void)addr, (void)buf, (void)len, (void)off, (void)arg;
    return -UNW_ENOINFO;   /* symbols are memtrace's business, at report time */
}

static unw_accessors_t accessors = {
    .find_proc_info = find_proc_info,
    .put_unwind_info = put_unwind_info,
    .get_dyn_info_list_addr = get_dyn_info_list_addr,
    .access_mem = access_mem,
    .access_reg = access_reg,
    .access_fpreg = access_fpreg,
    .resume = resume,
    .get_proc_name = get_proc_name,
};

struct unwinder *unwinder_create(pid_t pid, unwind_read_fn read, unwind_module_fn module_range,
                                 void *read_ctx)
{
    struct unwinder *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->pid = pid;
    u->read = read;
    u->module_range = module_range;
    u->read_ctx = read_ctx;
    u->as = unw_create_addr_space(&accessors, 0);
    u->upt = _UPT_create(pid);
    if (!u->as || !u->upt) {
        unwinder_destroy(u);
        return NULL;
    }
    /* Per-thread caching: the global policy takes a lock with two rt_sigprocmask
     * calls per step (memtrace is single-threaded, so nothing is lost). */
    unw_set_caching_policy(u->as, UNW_CACHE_PER_THREAD);
    return u;
}

void unwinder_retire(struct unwinder *u)
{
    if (u->as)
        unw_destroy_addr_space(u->as);
    u->as = NULL;
    if (u->upt)
        _UPT_destroy(u->upt);
    u->upt = NULL;
    for (size_t i = 0; i < UNWIND_MODULE_SLOTS; i++) {
        if (u->slots[i].upt)
            _UPT_destroy(u->slots[i].upt);
        u->slots[i] = (struct upt_slot){ 0 };
    }
    free(u->pages);
    u->pages = NULL;
}

void unwinder_destroy(struct unwinder *u)
{
    if (!u)
        return;
    unwinder_retire(u);
    free(u);
}

void unwinder_flush(struct unwinder *u)
{
    if (!u->as)
        return;   /* retired */
    unw_flush_cache(u->as, 0, 0);
    /* Another module may now sit where an unloaded one was: drop every
     * handle's image, not only the ranges. */
    for (size_t i = 0; i < UNWIND_MODULE_SLOTS; i++) {
        if (u->slots[i].upt)
            _UPT_destroy(u->slots[i].upt);
        u->slots[i] = (struct upt_slot){ 0 };
    }
    if (u->pages)
        for (size_t i = 0; i < UNWIND_PAGE_SLOTS; i++)
            u->pages[i].page = 0;
}

unsigned unwinder_callers(struct unwinder *u, pid_t tid, const mt_regs *regs,
                          const struct stack_snapshot *snap, mt_addr *ips, unsigned max)
{
    uint64_t ret;
    if (max == 0 || !u->as || stack_snapshot_u64(snap, regs->rsp, &ret) != 0 || ret == 0)
        return 0;
    u->unwinds++;
    u->epoch++;
    /* Timed for --stats (unwind cost per frame in bench/): two vDSO clock
     * reads, ~50 ns against microseconds of unwinding. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* At a function's first instruction the caller's state is known exactly:
     * it resumes at [rsp] with rsp + 8 and every callee-saved register as it
     * is. Unwinding starts there, so the allocator's own unwind info (absent
     * in static programs without .eh_frame_hdr, in hand-written allocators)
     * does not matter. rip is set inside the call instruction, ret - 1, so
     * the caller's CFI row is the one of the call, not of what follows it
     * (a call to a noreturn function can end a function). */
    mt_regs caller = *regs;
    caller.rip = ret - 1;
    caller.rsp = regs->rsp + 8;
    u->tid = tid;
    u->regs = &caller;
    u->snap = snap;
    active = u;
    unsigned n = 0;
    ips[n++] = ret;
    unw_cursor_t c;
    if (unw_init_remote(&c, u->as, u) == 0) {
        while (n < max && unw_step(&c) > 0) {
            unw_word_t ip;
            if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || ip == 0)
                break;
            ips[n++] = ip;
        }
    }
    active = NULL;
    u->regs = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    u->frames += n - 1;
    u->ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec));
    return n;
}

/* The registers unw_step restored for the cursor's frame: the ones a
 * caller can rely on after a call (the System V callee-saved set), the
 * stack pointer and the ip. */
static void frame_regs(unw_cursor_t *c, mt_regs *out)
{
    static const struct { unw_regnum_t reg; size_t off; } saved[] = {
        { UNW_X86_64_RBX, offsetof(mt_regs, rbx) }, { UNW_X86_64_RBP, offsetof(mt_regs, rbp) },
        { UNW_X86_64_R12, offsetof(mt_regs, r12) }, { UNW_X86_64_R13, offsetof(mt_regs, r13) },
        { UNW_X86_64_R14, offsetof(mt_regs, r14) }, { UNW_X86_64_R15, offsetof(mt_regs, r15) },
        { UNW_X86_64_RSP, offsetof(mt_regs, rsp) }, { UNW_X86_64_RIP, offsetof(mt_regs, rip) },
    };
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(saved) / sizeof(saved[0]); i++) {
        unw_word_t v;
        if (unw_get_reg(c, saved[i].reg, &v) == 0)
            memcpy((char *)out + saved[i].off, &v, sizeof(v));
    }
}

unsigned unwinder_walk(struct unwinder *u, pid_t tid, const mt_regs *regs, unwind_frame_fn visit,
                       void *ctx, unsigned max)
{
    if (max == 0 || !u->as)
        return 0;
    u->epoch++;
    u->tid = tid;
    u->regs = regs;
    u->snap = NULL;
    active = u;
    unsigned n = 0;
    unw_cursor_t c;
    if (unw_init_remote(&c, u->as, u) == 0) {
        mt_regs frame = *regs;   /* the innermost frame: every register is known */
        while (n < max && visit(ctx, n, &frame)) {
            n++;
            if (unw_step(&c) <= 0)
                break;
            frame_regs(&c, &frame);
            if (frame.rip == 0)
                break;
        }
    }
    active = NULL;
    u->regs = NULL;
    return n;
}

uint64_t unwinder_count(const struct unwinder *u)
{
    return u->unwinds;
}

void unwinder_cost(const struct unwinder *u, uint64_t *frames, uint64_t *ns)
{
    *frames = u->frames;
    *ns = u->ns;
}

#define MT_STR2(x) #x
#define MT_STR(x) MT_STR2(x)

const char *unwind_libunwind_version(void)
{
    return MT_STR(UNW_VERSION_MAJOR) "." MT_STR(UNW_VERSION_MINOR) "." MT_STR(UNW_VERSION_EXTRA);
}
