/* --fast region and ring (see fast_ring.h). */
#include "fast_ring.h"
#include "diag.h"
#include "fast_patch.h"
#include "inject.h"
#include "procfs.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

static int call(pid_t tid, mt_addr gadget, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
                uint64_t a3, uint64_t a4, uint64_t a5, int64_t *result)
{
    const uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
    int err = inject_syscall(tid, gadget, nr, args, result);
    if (err)
        return err;
    return *result < 0 && *result > -4096 ? (int)*result : 0;
}

static volatile uint64_t *ring_word(const struct fast_ring *fr, unsigned off)
{
    return (volatile uint64_t *)(fr->local + off);
}

/* memfd in the target, mapped shared there and here. */
static int map_ring(struct fast_ring *fr, const struct remote *r, pid_t tid, mt_addr gadget,
                    mt_addr fixed, const struct fast_ring_params *params, char *why,
                    size_t why_len)
{
    /* A record holds the frames the stub walks, and a short copy (the
     * return address alone); longer copies have slots of their own. */
    size_t frames = params->depth > 1 ? (size_t)params->depth * 8 : 0;
    bool split = !params->narrow && params->slice_max > FAST_SLICE_INLINE_MAX;
    size_t in_record = split ? frames : (frames > params->slice_max ? frames : params->slice_max);
    size_t record = params->narrow ? FAST_REC_NARROW : FAST_REC_HEADER + in_record;
    fr->narrow = params->narrow;
    fr->slot_shift = 6;
    while (((size_t)1 << fr->slot_shift) < record)
        fr->slot_shift++;
    fr->cap = params->cap;
    fr->ring_bytes = FAST_RING_SLOTS + ((size_t)fr->cap << fr->slot_shift);
    fr->slices_off = 0;
    fr->slice_shift = 0;
    if (split) {
        fr->slice_shift = 12;
        while (((size_t)1 << fr->slice_shift) < params->slice_max)
            fr->slice_shift++;
        fr->slices_off = (fr->ring_bytes + FAST_PAGE - 1) & ~(size_t)(FAST_PAGE - 1);
        fr->ring_bytes = fr->slices_off + ((size_t)fr->cap << fr->slice_shift);
    }
    static const char name[] = "memtrace-ring";
    mt_addr name_at = fr->region + FAST_CTL_OFFSET + FAST_CTL_NAME;
    int64_t fd = -1, res;
    int err = remote_write(r, tid, name_at, name, sizeof(name));
    if (!err)
        err = call(tid, gadget, SYS_memfd_create, name_at, MFD_CLOEXEC, 0, 0, 0, 0, &fd);
    if (err) {
        snprintf(why, why_len, "memfd_create in pid %d: %s", tid, strerror(-err));
        return err;
    }
    err = call(tid, gadget, SYS_ftruncate, (uint64_t)fd, fr->ring_bytes, 0, 0, 0, 0, &res);
    if (!err)
        err = call(tid, gadget, SYS_mmap, fixed, fr->ring_bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | (fixed ? MAP_FIXED : 0), (uint64_t)fd, 0, &res);
    if (err) {
        snprintf(why, why_len, "mapping the event ring in pid %d: %s", tid, strerror(-err));
        call(tid, gadget, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &res);
        return err;
    }
    fr->ring = (mt_addr)res;
    int local_fd = procfs_open_fd(tid, (int)fd, O_RDWR);
    err = local_fd < 0 ? local_fd : 0;
    if (!err) {
        void *m = mmap(NULL, fr->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, local_fd, 0);
        err = m == MAP_FAILED ? -errno : 0;
        fr->local = m == MAP_FAILED ? NULL : m;
        close(local_fd);
    }
    call(tid, gadget, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &res);
    if (err) {
        snprintf(why, why_len, "cannot map the ring (memfd %d of pid %d): %s", (int)fd, tid,
                 strerror(-err));
        if (!fixed)
            call(tid, gadget, SYS_munmap, fr->ring, fr->ring_bytes, 0, 0, 0, 0, &res);
        fr->ring = 0;
        return err;
    }
    fr->read = 0;
    return 0;
}

/* The region must be within a jump of the code it serves: free places
 * below hint, then above it, a MiB apart, each asked for exactly
 * (MAP_FIXED_NOREPLACE never takes a mapping's place). */
#define PLACE_TRIES 64
#define PLACE_STEP (1u << 20)

static int place_region(pid_t tid, mt_addr gadget, mt_addr hint, int64_t *res)
{
    /* Where the kernel puts it by itself (top-down, next to the libraries,
     * leaving no hole that would change where the program's own mappings
     * go) is usually within reach already. */
    int err = call(tid, gadget, SYS_mmap, 0, FAST_REGION_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0, res);
    if (err)
        return err;
    int64_t distance = (int64_t)((mt_addr)*res - hint);
    if (distance > -(int64_t)(1u << 30) && distance < (int64_t)(1u << 30))
        return 0;
    call(tid, gadget, SYS_munmap, (uint64_t)*res, FAST_REGION_SIZE, 0, 0, 0, 0, res);
    for (int i = 0; i < 2 * PLACE_TRIES; i++) {
        mt_addr step = (mt_addr)(i % PLACE_TRIES) * PLACE_STEP;
        mt_addr at = i < PLACE_TRIES ? hint - step : hint + (256u << 20) + step;
        if (i < PLACE_TRIES && (hint < step + PLACE_STEP))
            continue;
        err = call(tid, gadget, SYS_mmap, at, FAST_REGION_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, res);
        if (!err && (mt_addr)*res == at)
            return 0;
        if (!err)   /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
            call(tid, gadget, SYS_munmap, (uint64_t)*res, FAST_REGION_SIZE, 0, 0, 0, 0, res);
    }
    return err ? err : -ENOMEM;
}

int fast_ring_setup(struct fast_ring *fr, const struct remote *r, pid_t tid, mt_addr gadget,
                    mt_addr hint, const struct fast_ring_params *params, pid_t tracer, char *why,
                    size_t why_len)
{
    (void)tracer;
    memset(fr, 0, sizeof(*fr));
    /* Two labels of one assembled blob (fast_stub.S). */
    size_t stub_len = (uintptr_t)memtrace_fast_stub_end - (uintptr_t)memtrace_fast_stub_begin;
    if (stub_len > FAST_THUNKS_OFFSET) {   /* unit_fast_stub checks it too */
        snprintf(why, why_len, "the --fast stub (%zu bytes) overlaps its thunks", stub_len);
        return -ENOSPC;
    }
    int64_t res;
    int err = place_region(tid, gadget, hint, &res);
    if (err) {
        snprintf(why, why_len, "mapping the stub region in pid %d near 0x%" PRIxADDR ": %s", tid,
                 hint, strerror(-err));
        return err;
    }
    fr->region = (mt_addr)res;
    err = call(tid, gadget, SYS_madvise, fr->region + FAST_CTL_OFFSET, FAST_PAGE, MADV_WIPEONFORK,
               0, 0, 0, &res);
    if (err)
        snprintf(why, why_len, "MADV_WIPEONFORK in pid %d: %s", tid, strerror(-err));
    else if ((err = remote_write(r, tid, fr->region, memtrace_fast_stub_begin, stub_len)))
        snprintf(why, why_len, "writing the stub into pid %d: %s", tid, strerror(-err));
    else
        err = map_ring(fr, r, tid, gadget, 0, params, why, why_len);
    if (err) {
        call(tid, gadget, SYS_munmap, fr->region, FAST_REGION_SIZE, 0, 0, 0, 0, &res);
        fr->region = 0;
    }
    return err;
}

static int write_ctl(struct fast_ring *fr, const struct remote *r, pid_t tid,
                     const struct fast_ring_params *params, pid_t tracer)
{
    uint64_t ctl[FAST_CTL_NAME / 8] = { 0 };
    ctl[FAST_CTL_TRACER_PID / 8] = (uint64_t)tracer;
    ctl[FAST_CTL_ALLOC_LO / 8] = params->alloc_lo;
    ctl[FAST_CTL_ALLOC_HI / 8] = params->alloc_hi;
    ctl[FAST_CTL_STUB_LO / 8] = fr->region;
    ctl[FAST_CTL_STUB_HI / 8] = fr->region + FAST_CTL_OFFSET;
    ctl[FAST_CTL_STACK_LO / 8] = params->stack_lo;
    ctl[FAST_CTL_STACK_HI / 8] = params->stack_hi;
    ctl[FAST_CTL_SLICE_MAX / 8] = params->slice_max;
    ctl[FAST_CTL_SLOT_SHIFT / 8] = fr->slot_shift;
    ctl[FAST_CTL_CAP / 8] = fr->cap;
    ctl[FAST_CTL_CAP_MASK / 8] = fr->cap - 1;
    ctl[FAST_CTL_FREE_ORIG / 8] = params->free_orig;
    size_t room = fr->narrow ? 1 : (((size_t)1 << fr->slot_shift) - FAST_REC_HEADER) / 8;
    ctl[FAST_CTL_DEPTH / 8] = params->depth < room ? params->depth : room;
    ctl[FAST_CTL_NARROW / 8] = fr->narrow;
    fr->nwraps = params->nwraps < FAST_WRAPS_MAX ? params->nwraps : FAST_WRAPS_MAX;
    for (unsigned i = 0; i < fr->nwraps; i++) {
        fr->wraps[i][0] = params->wraps[i][0];
        fr->wraps[i][1] = params->wraps[i][1];
        ctl[FAST_CTL_WRAPS / 8 + 2 * i] = fr->wraps[i][0];
        ctl[FAST_CTL_WRAPS / 8 + 2 * i + 1] = fr->wraps[i][1];
    }
    ctl[FAST_CTL_SCRATCH_LO / 8] = params->scratch_lo;
    ctl[FAST_CTL_SCRATCH_HI / 8] = params->scratch_hi;
    if (fr->nwraps) {
        ctl[FAST_CTL_WRAP_BOX_LO / 8] = fr->wraps[0][0];
        ctl[FAST_CTL_WRAP_BOX_HI / 8] = fr->wraps[fr->nwraps - 1][1];
    }
    ctl[FAST_CTL_SLICES / 8] = fr->slices_off;
    ctl[FAST_CTL_SLICE_STRIDE / 8] = fr->slices_off ? (uint64_t)1 << fr->slice_shift : 0;
    mt_addr at = fr->region + FAST_CTL_OFFSET;
    int err = remote_write(r, tid, at + 8, &ctl[1], sizeof(ctl) - 8);
    /* The ring's address last: it turns recording on. */
    return err ? err : remote_write(r, tid, at + FAST_CTL_RING, &fr->ring, 8);
}

int fast_ring_setup_child(struct fast_ring *fr, const struct fast_ring *parent,
                          const struct remote *r, pid_t tid, mt_addr gadget,
                          const struct fast_ring_params *params, pid_t tracer, char *why,
                          size_t why_len)
{
    memset(fr, 0, sizeof(*fr));
    fr->region = parent->region;
    int err = map_ring(fr, r, tid, gadget, parent->ring, params, why, why_len);
    if (!err && (err = write_ctl(fr, r, tid, params, tracer)))
        snprintf(why, why_len, "arming the stubs of pid %d: %s", tid, strerror(-err));
    return err;
}

int fast_ring_arm(struct fast_ring *fr, const struct remote *r, pid_t tid, mt_addr gadget,
                  const struct fast_ring_params *params, pid_t tracer)
{
    int64_t res;
    int err = call(tid, gadget, SYS_mprotect, fr->region, FAST_CTL_OFFSET, PROT_READ | PROT_EXEC,
                   0, 0, 0, &res);
    return err ? err : write_ctl(fr, r, tid, params, tracer);
}

int fast_ring_disarm(struct fast_ring *fr, const struct remote *r, pid_t tid)
{
    const uint64_t zero = 0;
    return fr->region ? remote_write(r, tid, fr->region + FAST_CTL_OFFSET + FAST_CTL_RING, &zero, 8)
                      : 0;
}

void fast_ring_release(struct fast_ring *fr)
{
    if (fr->local)
        munmap(fr->local, fr->ring_bytes);
    fr->local = NULL;
}

bool fast_ring_region_intact(const struct fast_ring *fr, const struct remote *r, pid_t tid)
{
    size_t len = (uintptr_t)memtrace_fast_stub_end - (uintptr_t)memtrace_fast_stub_begin;
    uint8_t seen[FAST_THUNKS_OFFSET];
    return fr->region && len <= sizeof(seen) &&
           remote_read(r, tid, fr->region, seen, len) == 0 &&
           memcmp(seen, memtrace_fast_stub_begin, len) == 0;
}

struct ring_mapping {
    mt_addr lo, hi;
    bool found;
};

static int find_ring_mapping(void *arg, const struct procfs_map *m)
{
    struct ring_mapping *rm = arg;
    if (m->lo != rm->lo)
        return 0;
    rm->found = m->hi == rm->hi && strstr(m->name, "memtrace-ring") != NULL;
    return 1;
}

/* Runs one munmap in tid: through the gadget, or with gadget 0 (the
 * scratch page is gone) through bytes lent at bootstrap_pc. */
static int unmap_in(pid_t tid, mt_addr gadget, mt_addr bootstrap_pc, mt_addr lo, size_t len)
{
    const uint64_t args[6] = { lo, len, 0, 0, 0, 0 };
    int64_t res = 0;
    int err = gadget ? inject_syscall(tid, gadget, SYS_munmap, args, &res)
                     : inject_syscall_at(tid, bootstrap_pc, SYS_munmap, args, &res);
    if (err)
        return err;
    return res < 0 && res > -4096 ? (int)res : 0;
}

int fast_ring_remove(struct fast_ring *fr, pid_t tid, mt_addr gadget, mt_addr bootstrap_pc)
{
    int err = 0;
    struct ring_mapping rm = { fr->ring, fr->ring + fr->ring_bytes, false };
    if (fr->ring && procfs_maps(tid, find_ring_mapping, &rm) >= 0 && !rm.found)
        mt_warn("pid %d: memtrace's --fast ring at 0x%" PRIxADDR " is no longer what memtrace "
                "put there (the program unmapped or replaced it); left as it is", tid, fr->ring);
    else if (fr->ring)
        err = unmap_in(tid, gadget, bootstrap_pc, fr->ring, fr->ring_bytes);
    if (!err && fr->region)
        err = unmap_in(tid, gadget, bootstrap_pc, fr->region, FAST_REGION_SIZE);
    fast_ring_release(fr);
    if (!err)
        fr->ring = fr->region = 0;
    return err;
}

const uint8_t *fast_ring_peek(struct fast_ring *fr, bool stopped)
{
    if (!fr->local)
        return NULL;
    for (;;) {
        if (fr->read >= fr->write_seen) {
            fr->write_seen = __atomic_load_n(ring_word(fr, FAST_RING_WRITE), __ATOMIC_ACQUIRE);
            if (fr->read >= fr->write_seen)
                return NULL;
        }
        const uint8_t *rec = fr->local + FAST_RING_SLOTS + ((fr->read & (fr->cap - 1)) << fr->slot_shift);
        uint64_t seq = __atomic_load_n((const uint64_t *)rec, __ATOMIC_ACQUIRE);
        if (seq == fr->read + 1)
            return rec;
        if (!stopped)
            return NULL;
        /* Begun by a thread that died (exit_group) before publishing it. */
        fr->cut_short++;
        fast_ring_pop(fr);
        fr->consumed--;
    }
}

const uint8_t *fast_ring_slice(const struct fast_ring *fr, const uint8_t *rec)
{
    if (!fr->slices_off)
        return rec + FAST_REC_SLICE;
    size_t slot = (size_t)(rec - (fr->local + FAST_RING_SLOTS)) >> fr->slot_shift;
    return fr->local + fr->slices_off + (slot << fr->slice_shift);
}

void fast_ring_pop(struct fast_ring *fr)
{
    fr->read++;
    fr->consumed++;
}

void fast_ring_publish(struct fast_ring *fr)
{
    if (!fr->local)
        return;
    if (fr->rel_tail != fr->rel_tail_published) {
        __atomic_store_n(ring_word(fr, FAST_RING_REL_TAIL), fr->rel_tail, __ATOMIC_RELEASE);
        fr->rel_tail_published = fr->rel_tail;
    }
    if (fr->read == fr->read_published)
        return;
    __atomic_store_n(ring_word(fr, FAST_RING_READ), fr->read, __ATOMIC_RELEASE);
    fr->read_published = fr->read;
    /* READ is stored; a stub counts itself as a waiter, then reads READ. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(ring_word(fr, FAST_RING_WAITERS), __ATOMIC_RELAXED) != 0)
        syscall(SYS_futex, (uint32_t *)(fr->local + FAST_RING_READ), FUTEX_WAKE, INT32_MAX, NULL,
                NULL, 0);
}

uint64_t fast_ring_pending(const struct fast_ring *fr)
{
    return fr->local ? __atomic_load_n(ring_word(fr, FAST_RING_WRITE), __ATOMIC_ACQUIRE) - fr->read
                     : 0;
}

bool fast_ring_queued_free_in(const struct fast_ring *fr, mt_addr lo, mt_addr hi)
{
    if (!fr->local)
        return false;
    const uint64_t *slots = (const uint64_t *)(fr->local + FAST_RING_REL_SLOTS);
    uint64_t head = __atomic_load_n(ring_word(fr, FAST_RING_REL_HEAD), __ATOMIC_ACQUIRE);
    for (uint64_t t = head; t < fr->rel_tail; t++) {
        mt_addr ptr = __atomic_load_n(&slots[t & (FAST_RING_REL_CAP - 1)], __ATOMIC_RELAXED);
        if (ptr >= lo && ptr < hi)
            return true;
    }
    return false;
}

bool fast_ring_queue_free(struct fast_ring *fr, mt_addr ptr)
{
    if (!fr->local)
        return true;   /* nobody to run it: the process is gone */
    if (fr->rel_tail - fr->rel_head_seen >= FAST_RING_REL_CAP) {
        fr->rel_head_seen = __atomic_load_n(ring_word(fr, FAST_RING_REL_HEAD), __ATOMIC_ACQUIRE);
        if (fr->rel_tail - fr->rel_head_seen >= FAST_RING_REL_CAP)
            return false;
    }
    uint64_t *slot = (uint64_t *)(fr->local + FAST_RING_REL_SLOTS) +
                     (fr->rel_tail & (FAST_RING_REL_CAP - 1));
    __atomic_store_n(slot, ptr, __ATOMIC_RELAXED);
    fr->rel_tail++;
    return true;
}

void fast_ring_hint(struct fast_ring *fr, mt_addr ra, size_t needed)
{
    if (!fr->local || ra >= ((uint64_t)1 << 48) || needed == 0)
        return;
    /* Twice what this walk needed: calls from one return address (operator
     * new's malloc) come from chains of many depths, and a copy that falls
     * short leaves the outer frames to be read from the live stack, which
     * may have moved on by the time memtrace walks it. */
    uint64_t units = (2 * needed + 256 + 15) / 16;
    if (units > 0xffff)
        units = 0xffff;
    uint64_t *slot = (uint64_t *)(fr->local + FAST_RING_HINTS) +
                     ((ra * 0x9e3779b97f4a7c15ull) >> (64 - FAST_HINT_BITS));
    uint64_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (old >> 16 == ra && (old & 0xffff) >= units)
        return;   /* as much or more known already: stacks from one place vary */
    __atomic_store_n(slot, ra << 16 | units, __ATOMIC_RELAXED);
}

uint64_t fast_rule_word(mt_addr ra, bool outermost, bool cfa_is_rbp, int64_t cfa_off,
                        int64_t rbp_at)
{
    if (ra == 0 || ra >> FAST_RULE_RA_BITS)
        return 0;
    uint64_t w = ra;
    if (outermost)
        return w | 1ull << FAST_RULE_OUTERMOST;
    if (cfa_off < 0 || cfa_off % 8 || cfa_off / 8 > FAST_RULE_CFA_OFF_MAX)
        return 0;
    uint64_t rbp;
    if (rbp_at == FAST_RBP_SAME || rbp_at == FAST_RBP_UNDEFINED)
        rbp = rbp_at == FAST_RBP_UNDEFINED ? FAST_RULE_RBP_UNDEFINED : 0;
    else if (rbp_at < 0 && -rbp_at % 8 == 0 && -rbp_at / 8 < FAST_RULE_RBP_UNDEFINED)
        rbp = (uint64_t)(-rbp_at / 8);
    else
        return 0;
    return w | (uint64_t)cfa_is_rbp << FAST_RULE_CFA_RBP | (uint64_t)(cfa_off / 8) << FAST_RULE_CFA_OFF |
           rbp << FAST_RULE_RBP_AT;
}

static size_t rule_slot(mt_addr ra)
{
    return (size_t)((ra * 0x9e3779b97f4a7c15ull) >> (64 - FAST_RULE_BITS));
}

void fast_ring_learn_rule(struct fast_ring *fr, mt_addr ra, uint64_t word)
{
    if (!fr->local || !word)
        return;
    uint64_t *rules = (uint64_t *)(fr->local + FAST_RING_RULES);
    const uint64_t ra_mask = (1ull << FAST_RULE_RA_BITS) - 1;
    size_t home = rule_slot(ra), next = (home + 1) & ((1u << FAST_RULE_BITS) - 1);
    /* One word each: a stub reads a rule whole, with its own address. */
    uint64_t at_home = __atomic_load_n(&rules[home], __ATOMIC_RELAXED);
    uint64_t at_next = __atomic_load_n(&rules[next], __ATOMIC_RELAXED);
    if (at_home == word || at_next == word)
        return;
    size_t slot = home;
    if (at_home != 0 && (at_home & ra_mask) != ra &&
        (at_next == 0 || (at_next & ra_mask) == ra))
        slot = next;
    __atomic_store_n(&rules[slot], word, __ATOMIC_RELAXED);
}

void fast_ring_forget_rules(struct fast_ring *fr)
{
    if (fr->local)
        memset(fr->local + FAST_RING_RULES, 0, (size_t)8 << FAST_RULE_BITS);
}

uint64_t fast_ring_full_waits(const struct fast_ring *fr)
{
    return fr->local ? __atomic_load_n(ring_word(fr, FAST_RING_FULL_WAITS), __ATOMIC_RELAXED) : 0;
}

void fast_ring_wait(const struct fast_ring *fr, uint64_t timeout_ns)
{
    struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000u),
                           .tv_nsec = (long)(timeout_ns % 1000000000u) };
    if (!fr->local) {
        nanosleep(&ts, NULL);
        return;
    }
    /* A stub rings the doorbell (FUTEX_WAKE) only when it finds the ring full. */
    syscall(SYS_futex, (uint32_t *)(fr->local + FAST_RING_DOORBELL), FUTEX_WAIT, 0, &ts, NULL, 0);
}

bool fast_ring_owns(const struct fast_ring *fr, mt_addr lo, mt_addr hi)
{
    return (fr->region && lo < fr->region + FAST_REGION_SIZE && hi > fr->region) ||
           (fr->ring && lo < fr->ring + fr->ring_bytes && hi > fr->ring);
}
