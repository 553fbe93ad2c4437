/* Leaving an attached process as it was: with every thread parked, the
 * live blocks are classified, each thread's state is undone (out-of-line
 * slots, return stubs, redirected return addresses), the int3 bytes and
 * scratch pages are removed, and every thread is detached. */
#include "session_internal.h"
#include "diag.h"
#include "attach.h"
#include "leak_roots.h"
#include "mt_time.h"
#include "ptrace_io.h"
#include "remote.h"
#include "stepover.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

/* A thread that never stopped (parking gave up on it): its registers are
 * out of reach, but the return addresses memtrace redirected on its stack
 * are put back through a parked thread of the same memory. */
static int restore_unstopped_thread(struct thread *th)
{
    pid_t via = park_any_live_thread(th->proc);
    int first_err = 0;
    for (unsigned i = th->npending; via && i-- > 0;) {
        const struct pending_call *c = &th->pending[i];
        uint64_t slot;
        int err = remote_read_u64(th->proc->remote, via, c->entry_sp, &slot);
        if (!err && slot == c->redirect)
            err = remote_write(th->proc->remote, via, c->entry_sp, &c->return_addr,
                               sizeof(c->return_addr));
        if (err && !first_err)
            first_err = err;
    }
    th->npending = 0;
    return first_err;
}

/* Whether p is one of the processes being left (only: p alone, or all). */
static bool leaving(const struct process *p, const struct process *only)
{
    return p->end == END_RUNNING && (!only || p == only);
}

/* How long leaving waits for a thread to stop before it restores the
 * process through the others: a thread in a short uninterruptible sleep
 * (a disk read) stops within it. */
#define LEAVE_PARK_WAIT_NS 3000000000u

static bool in_stub(const struct process *p, const struct thread *th);

/* --fast: the stubs pass every call through and the functions get their
 * bytes back. A region the program unmapped or replaced is left alone. */
static int fast_stop_stubs(struct process *p, pid_t tid)
{
    if (p->fast_ring.region && !fast_ring_region_intact(&p->fast_ring, p->remote, tid)) {
        mt_warn("pid %d: memtrace's --fast stub region at 0x%" PRIxADDR " is no longer what "
                "memtrace put there (the program unmapped or replaced it); left as it is",
                p->pid, p->fast_ring.region);
        p->fast_ring.region = 0;
    }
    int err = fast_ring_disarm(&p->fast_ring, p->remote, tid);
    int err2 = fast_patches_restore(&p->fast_patches, p->remote, tid);
    return err ? err : err2;
}

/* --fast: once the leak scan has run, the stubs stop recording and the
 * functions get their bytes back; then threads still inside a call made
 * through a stub (a malloc waiting for its arena's lock, a wait for room in
 * the ring) run until they are out of it: the process is let go and parked
 * again, so the stub code can be unmapped. The pause grows each time: with
 * more runnable threads than CPUs, a thread may not run at all in a short
 * one. */
#define FAST_QUIESCE_NS 3000000000u
#define FAST_QUIESCE_PAUSE_NS 1000000u
#define FAST_QUIESCE_PAUSE_MAX_NS 64000000u

/* Turns off the stubs of every process whose ring memtrace still reads:
 * all of them at first, then any a fork added while threads ran. Returns
 * whether there was one. */
static bool stop_reading_rings(struct session *s)
{
    bool any = false;
    for (struct process *p = s->procs; p; p = p->next) {
        pid_t tid = park_any_live_thread(p);
        if (p->end != END_RUNNING || !p->fast_ring.region || !p->fast_ring.local ||
            p->untraced_child || !tid)
            continue;
        session_drain_returns(s, p, tid);
        if (fast_stop_stubs(p, tid) != 0)
            mt_warn("pid %d: cannot turn the --fast stubs off before leaving", p->pid);
        /* The report is the scan's: a record completed from here on (a
         * call in flight) is not applied. */
        fast_ring_release(&p->fast_ring);
        any = true;
    }
    return any;
}

/* Lets the released threads run for pause_ns, handling their stops as
 * usual. An interrupt that reached a thread already stopped (for a signal,
 * not yet waited for) stays pending in the kernel: resumed, the thread
 * stops again at once. Waiting for stops and resuming them lets it run; a
 * pause that only slept held it there, interrupt after interrupt, for
 * good (a program that forks, whose SIGCHLDs came during the parking). */
static int run_released(struct session *s, uint64_t pause_ns)
{
    uint64_t until = mt_now_ns() + pause_ns;
    while (mt_now_ns() < until) {
        int status;
        pid_t tid = pt_wait(-1, &status, WNOHANG);
        if (tid == -EINTR)
            continue;
        if (tid == -ECHILD)
            return 0;
        if (tid < 0)
            return session_fail(s, "waitpid: %s", strerror(-tid));
        if (tid > 0) {
            if (session_dispatch(s, tid, status, -1) != 0)
                return -1;
            continue;
        }
        struct timespec nap = { 0, 200000 };
        nanosleep(&nap, NULL);
    }
    return 0;
}

static void fast_quiesce(struct session *s)
{
    uint64_t give_up = mt_now_ns() + FAST_QUIESCE_NS;
    bool any = stop_reading_rings(s);
    uint64_t pause_ns = FAST_QUIESCE_PAUSE_NS;
    while (any && mt_now_ns() < give_up) {
        bool busy = false;
        for (struct process *p = s->procs; p && !busy; p = p->next)
            for (struct thread *th = p->threads; th && !busy && p->fast_ring.region; th = th->next)
                busy = p->end == END_RUNNING && th->parked && !th->exiting && in_stub(p, th);
        if (!busy || park_release_all(s) != 0 || run_released(s, pause_ns) != 0)
            return;
        pause_ns = pause_ns * 2 > FAST_QUIESCE_PAUSE_MAX_NS ? FAST_QUIESCE_PAUSE_MAX_NS : pause_ns * 2;
        s->park_deadline_ns = mt_now_ns() + LEAVE_PARK_WAIT_NS;
        if (park_all(s) != 0)
            return;
        stop_reading_rings(s);
    }
}

/* With every thread of the processes being left parked: classify what is
 * live (memory outside tracked blocks is a root), then undo every change and
 * detach. Each step is done for every process before the next: a vfork
 * child's pending calls live in its parent's memory, restored last. */
static int restore_and_detach(struct session *s, const struct process *only, uint64_t end_ns)
{
    int rc = 0;
    char why[1024];
    for (struct process *p = s->procs; p; p = p->next) {
        pid_t tid = park_any_live_thread(p);
        if (!leaving(p, only) || p->untraced_child || !tid)
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (!th->parked || th->exiting)
                continue;
            int err = attach_finish_stub(th);
            if (err && err != -ESRCH && !rc)
                rc = session_fail(s, "cannot complete the return of tid %d of pid %d: %s", th->tid,
                          p->pid, strerror(-err));
            th->has_exit_regs = pt_getregs(th->tid, &th->exit_regs) == 0;
        }
        if (session_drain_returns(s, p, tid) != 0 && !rc)
            rc = -1;
        /* --fast: every complete record counts; one a parked thread is in
         * the middle of is a call in flight, which the report leaves out
         * (as a trap path call in flight at detach). */
        if (p->fast_ring.local && hooks_drain_fast(&s->trap, p, true) != 0 && !rc)
            rc = session_fail(s, "pid %d: applying its --fast records", p->pid);
        /* Calls completed while the threads were being parked were applied
         * just now, stamped with the time they were: the processes end no
         * earlier, so no block is younger than its process's end. The scan
         * that follows is not part of the program's time. */
        uint64_t applied_ns = mt_now_ns();
        if (applied_ns > end_ns)
            end_ns = applied_ns;
        int err = leak_roots_scan_process(p, tid, s->opt->heuristics);
        if (err)
            mt_warn("pid %d: leak scan failed: %s; blocks are "
                    "reported as live", p->pid, strerror(-err));
    }
    if (!only && !s->park_gave_up)
        fast_quiesce(s);
    for (struct process *p = s->procs; p; p = p->next) {
        if (!leaving(p, only))
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (th->exiting)
                continue;
            int err = th->parked ? attach_restore_thread(&s->trap, th)
                                 : restore_unstopped_thread(th);
            if (err && err != -ESRCH && !rc)
                rc = session_fail(s, "cannot restore tid %d of pid %d: %s", th->tid, p->pid,
                          strerror(-err));
        }
    }
    for (struct process *p = s->procs; p; p = p->next) {
        if (!leaving(p, only))
            continue;
        if (attach_restore_memory(p, p->untraced_child, why, sizeof(why)) != 0 && !rc)
            rc = session_fail(s, "%s", why);
    }
    for (struct process *p = s->procs; p; p = p->next) {
        if (!leaving(p, only))
            continue;
        int err = attach_detach_threads(p);
        if (err && !rc)
            rc = session_fail(s, "cannot detach from pid %d: %s", p->pid, strerror(-err));
        p->end = END_DETACHED;
        p->end_ns = end_ns;
        process_close_proc_files(p);
        while (p->threads)
            process_remove_thread(p, p->threads->tid);
    }
    return rc;
}


int detach_leave(struct session *s, int rc)
{
    char first_error[sizeof(s->error)];
    snprintf(first_error, sizeof(first_error), "%s", s->error);
    /* Threads that would not stop when tracing began are not waited for
     * again; others get LEAVE_PARK_WAIT_NS, or until another stop signal. */
    bool stuck_before = s->park_gave_up;
    s->park_deadline_ns = mt_now_ns() + LEAVE_PARK_WAIT_NS;
    int park = stuck_before ? 0 : park_all(s);
    if (park && s->park_gave_up) {
        /* Every stopped thread is restored, and the memory through them:
         * the stuck thread runs on in restored code once it wakes. */
        mt_warn("%s; memtrace restored the process through its other threads", s->error);
        park = 0;
    }
    int restore = session_anything_running(s) ? detach_restore_all(s) : 0;
    if (rc == 0 && (park || restore))
        rc = -1;
    else if (rc != 0)
        snprintf(s->error, sizeof(s->error), "%s", first_error);
    if (park || restore) {
        for (const struct process *p = s->procs; p; p = p->next)
            if (p->end == END_RUNNING || p->end == END_DETACHED)
                mt_error("pid %d may not be fully restored: %s", p->pid, s->error);
    }
    return rc;
}

int detach_restore_all(struct session *s)
{
    return restore_and_detach(s, NULL, s->end_ns);
}

int detach_restore_process(struct session *s, struct process *p)
{
    return restore_and_detach(s, p, mt_now_ns());
}

int attach_finish_stub(struct thread *th)
{
    struct process *p = th->proc;
    mt_regs regs;
    int err = pt_getregs(th->tid, &regs);
    if (err)
        return err;
    mt_addr ip = regs_ip(&regs);
    if (!return_stubs_contains(&p->stubs, ip))
        return 0;
    unsigned k = (unsigned)((ip - p->stubs.code) / RETURN_STUB_SIZE);
    /* Still in flight (its sequence number not stored): complete it with
     * rax, which the stub never changes. */
    struct pending_call call;
    if (thread_take_stub_call(th, k, &call) &&
        (err = hooks_complete_call(th, &call, regs_retval(&regs))))
        return err;
    /* Where the stub would jump: r10 once loaded (the record may serve
     * another call by now), else the record, still this call's. */
    uint64_t target = regs_stub_target(&regs);
    if ((ip - p->stubs.code) % RETURN_STUB_SIZE < RETURN_STUB_TARGET_LOADED &&
        (err = return_stubs_read_target(&p->stubs, p->remote, th->tid, k, &target)))
        return err;
    regs_set_ip(&regs, target);
    return pt_setregs(th->tid, &regs);
}

/* A thread whose trap on one of memtrace's int3s was never handled (an
 * error ended tracing first) goes back onto the int3's address: once the
 * original byte is there it runs the original instruction; on the
 * trampoline, the code below completes its call. */
static void rewind_unhandled_trap(struct thread *th, mt_regs *regs)
{
    struct process *p = th->proc;
    mt_addr at = regs_trap_addr(regs);
    if (bp_find(&p->bps, at) || (p->scratch.base && at == p->scratch.trampoline))
        regs_set_ip(regs, at);
    th->stopped = false;   /* handled now */
}

int attach_restore_thread(const struct trap_ctx *ctx, struct thread *th)
{
    struct process *p = th->proc;
    mt_regs regs;
    int err = pt_getregs(th->tid, &regs);
    if (err)
        return err;
    mt_addr trapped_at = regs_ip(&regs);
    if (th->stopped && th->stop_kind == WK_TRAP)
        rewind_unhandled_trap(th, &regs);
    bool changed = regs_ip(&regs) != trapped_at;
    if (th->has_resume_regs) {
        regs = th->resume_regs;
        th->has_resume_regs = false;
        changed = true;
    }
    mt_addr ip = regs_ip(&regs);
    if (p->scratch.base && ip >= p->scratch.base && ip < p->scratch.base + SCRATCH_SIZE) {
        if (ip == p->scratch.trampoline) {
            /* Returned from the allocator, the trampoline's int3 not yet
             * executed: complete the call as its trap would. */
            regs_set_ip(&regs, ip + 1);
            if (!th->npending || hooks_on_return(ctx, th, &regs) != 0) {
                /* No call pending there: the program jumped to the
                 * trampoline itself. It stays at that address, which faults
                 * once the scratch pages are gone, as the jump does natively. */
                regs_set_ip(&regs, ip);
            }
        } else {
            mt_addr orig;
            if ((err = stepover_locate(&p->bps, ip, &orig))) {
                mt_error("tid %d stopped at 0x%" PRIxADDR " in the scratch "
                        "page, in no slot", th->tid, ip);
                return err;
            }
            regs_set_ip(&regs, orig);
        }
        changed = true;
    }
    /* --fast: a thread inside a relocated prologue goes back to the
     * original instruction, which is about to be restored. */
    mt_addr moved = fast_patches_move_ip(&p->fast_patches, regs_ip(&regs), false);
    if (moved != regs_ip(&regs)) {
        regs_set_ip(&regs, moved);
        changed = true;
    }
    /* Calls whose frames are gone (longjmp) have slots that belong to
     * someone else now: only those at or above the stack pointer are ours. */
    thread_prune_pending(th, regs_sp(&regs));
    for (unsigned i = th->npending; i-- > 0;) {
        const struct pending_call *c = &th->pending[i];
        uint64_t slot;
        if ((err = remote_read_u64(th->proc->remote, th->tid, c->entry_sp, &slot)))
            return err;
        if (slot == c->redirect &&
            (err = remote_write(th->proc->remote, th->tid, c->entry_sp, &c->return_addr, sizeof(c->return_addr))))
            return err;
    }
    th->npending = 0;
    return changed ? pt_setregs(th->tid, &regs) : 0;
}

/* A parked thread that can run an injected system call. */
static pid_t injection_thread(const struct process *p)
{
    pid_t fallback = 0;
    for (const struct thread *t = p->threads; t; t = t->next) {
        if (!t->parked || t->exiting)
            continue;
        if (!t->group_stopped)
            return t->tid;
        fallback = t->tid;
    }
    return fallback;
}

/* Whether th may still run stub code: it is in it, or a frame of its
 * stack returns into it (a call the stub made is in progress). */
struct stub_frames {
    const struct fast_patches *fp;
    bool found;
};

static bool frame_in_stub(void *arg, unsigned depth, const mt_regs *frame)
{
    (void)depth;
    struct stub_frames *sf = arg;
    sf->found = fast_patches_in_code(sf->fp, regs_ip(frame));
    return !sf->found;
}

static bool in_stub(const struct process *p, const struct thread *th)
{
    mt_regs regs;
    if (pt_getregs(th->tid, &regs) != 0)
        return false;   /* gone: it runs nothing any more */
    struct stub_frames sf = { .fp = &p->fast_patches, .found = false };
    if (!p->unwinder)
        return fast_patches_in_code(sf.fp, regs_ip(&regs));
    unwinder_walk(p->unwinder, th->tid, &regs, frame_in_stub, &sf, 256);
    return sf.found;
}

/* --fast: the stubs pass calls through, the functions get their bytes
 * back, the ring and the stub code go, unless a thread is still in a call
 * a stub made: it returns into the stub, now inert, and one waiting for
 * room in the ring touches the ring once it wakes, so both then stay. */
static int fast_leave(struct process *p, pid_t tid, mt_addr gadget, char *why, size_t why_len)
{
    int err = fast_stop_stubs(p, tid);
    if (err) {
        snprintf(why, why_len, "pid %d: cannot restore the functions --fast patched: %s", p->pid,
                 strerror(-err));
        return err;
    }
    bool busy = false;
    for (const struct thread *t = p->threads; t && !busy && p->fast_ring.region; t = t->next)
        busy = t->parked && !t->exiting && in_stub(p, t);
    if (busy) {
        mt_warn("pid %d: a thread is inside an allocator call made through memtrace's stub; "
                "its %u KiB of code and its %zu KiB ring stay mapped, passing calls through",
                p->pid, FAST_REGION_SIZE / 1024, p->fast_ring.ring_bytes / 1024);
        return 0;
    }
    err = fast_ring_remove(&p->fast_ring, tid, gadget, p->at_entry);
    if (err) {
        snprintf(why, why_len, "pid %d: cannot unmap memtrace's --fast ring: %s", p->pid,
                 strerror(-err));
        return err;
    }
    return 0;
}

int attach_restore_memory(struct process *p, bool shared_memory, char *why, size_t why_len)
{
    if (shared_memory)
        return 0;
    pid_t tid = injection_thread(p);
    if (!tid) {
        bool dying = true;   /* every thread past its last instruction: nothing to restore */
        for (const struct thread *t = p->threads; t; t = t->next)
            dying = dying && t->exiting;
        if (dying)
            return 0;
        snprintf(why, why_len, "pid %d: no stopped thread to restore its memory through", p->pid);
        return -ESRCH;
    }
    /* The program may have replaced the scratch page: its gadget is then
     * no way to run a system call. */
    mt_addr gadget = scratch_intact(&p->scratch, tid) ? p->scratch.syscall_gadget : 0;
    int err = p->fast_ring.region || p->fast_ring.ring ? fast_leave(p, tid, gadget, why, why_len) : 0;
    if (err)
        return err;
    err = bp_unplant_all(&p->bps, p->remote, tid);
    if (err) {
        snprintf(why, why_len, "pid %d: cannot restore the code under memtrace's breakpoints: %s",
                 p->pid, strerror(-err));
        return err;
    }
    if ((err = scratch_unmap(&p->scratch, tid, p->at_entry))) {
        snprintf(why, why_len, "pid %d: cannot unmap memtrace's scratch page: %s", p->pid,
                 strerror(-err));
        return err;
    }
    return 0;
}

int attach_detach_threads(struct process *p)
{
    int first_err = 0;
    for (struct thread *t = p->threads; t; t = t->next) {
        /* An exiting thread runs to its end by itself, unless it is held
         * in its exit stop (its resume failed): then it is let go too. */
        if (!t->parked && !(t->exiting && t->stopped))
            continue;
        /* A signal-delivery stop that was never ended: the signal goes on. */
        int sig = t->stopped && t->stop_kind == WK_SIGNAL ? t->stop_signal : 0;
        int err = pt_detach(t->tid, sig);
        if (err && err != -ESRCH && !first_err)
            first_err = err;
        t->parked = false;
    }
    return first_err;
}
