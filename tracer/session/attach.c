/* Seizing a live process thread by thread, and putting it back. */
#include "attach.h"
#include "attach_check.h"
#include "ptrace_io.h"
#include "target_mem.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

/* One pass over /proc/PID/task: seizes the threads not traced yet. Returns
 * how many were new, or -errno with why. */
static int seize_pass(struct process *p, char *why, size_t why_len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
    DIR *d = opendir(path);
    if (!d) {
        int err = errno;
        snprintf(why, why_len, "cannot list the threads of pid %d (%s): %s", p->pid, path,
                 strerror(err));
        return err == ENOENT ? -ESRCH : -err;
    }
    int added = 0, err = 0;
    struct dirent *e;
    while (!err && (e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || process_find_thread(p, tid))
            continue;
        int rc = pt_seize(tid, ATTACH_SEIZE_OPTIONS);
        if (rc == -ESRCH)
            continue;   /* it exited between the listing and now */
        if (rc == -EPERM && p->threads && attach_tracer_of(p->pid, tid) == getpid()) {
            /* Created by a thread seized earlier: the kernel traced it for
             * us, and its first stop parks it. */
            rc = 0;
        } else if (rc == 0) {
            rc = pt_interrupt(tid);
            if (rc == -ESRCH)
                rc = 0;
        }
        if (rc == -EPERM && !p->threads) {
            attach_explain_eperm(p->pid, why, why_len);
            err = rc;
        } else if (rc) {
            snprintf(why, why_len, "cannot attach to thread %d of pid %d: %s", tid, p->pid,
                     strerror(-rc));
            err = rc;
        } else if (!process_add_thread(p, tid)) {
            snprintf(why, why_len, "out of memory recording thread %d", tid);
            err = -ENOMEM;
        } else {
            added++;
        }
    }
    closedir(d);
    return err ? err : added;
}

int attach_seize_threads(struct process *p, char *why, size_t why_len)
{
    /* Threads created by a thread not seized yet appear only in a later
     * listing; those created by a seized one are traced by the kernel. A
     * pass that finds nothing new means every thread is traced. */
    for (;;) {
        int added = seize_pass(p, why, why_len);
        if (added < 0)
            return -1;
        if (added == 0)
            break;
    }
    if (!p->threads) {
        snprintf(why, why_len, "pid %d has no thread left to attach to", p->pid);
        return -1;
    }
    return 0;
}

bool attach_trap_pending(const struct process *p, pid_t tid)
{
    mt_regs regs;
    if (pt_getregs(tid, &regs) != 0)
        return false;
    mt_addr at = regs_ip(&regs) - 1;
    if (!bp_find(&p->bps, at) && !(p->scratch.base && at == p->scratch.trampoline))
        return false;
    siginfo_t queued[8];
    int n = pt_peek_pending_signals(tid, queued, 8);
    for (int i = 0; i < n; i++)
        if (queued[i].si_signo == SIGTRAP && queued[i].si_code == SI_KERNEL)
            return true;
    return false;
}

/* Where a thread inside an out-of-line slot would be in the original code. */
static int slot_to_original(const struct process *p, mt_addr ip, mt_addr *out)
{
    for (size_t i = 0; i < p->bps.n; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->step.kind != STEP_OUT_OF_LINE)
            continue;
        if (ip == bp->step.target) {
            *out = bp->addr;   /* the copied instruction has not run */
            return 0;
        }
        if (ip == bp->step.target + bp->step.len) {
            *out = bp->addr + bp->step.len;   /* it ran; the jump back has not */
            return 0;
        }
    }
    return -EPROTO;
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
    uint64_t target = regs.r10;
    if ((ip - p->stubs.code) % RETURN_STUB_SIZE < RETURN_STUB_TARGET_LOADED &&
        (err = return_stubs_read_target(&p->stubs, th->tid, k, &target)))
        return err;
    regs_set_ip(&regs, target);
    return pt_setregs(th->tid, &regs);
}

int attach_restore_thread(const struct trap_ctx *ctx, struct thread *th)
{
    struct process *p = th->proc;
    mt_regs regs;
    int err = pt_getregs(th->tid, &regs);
    if (err)
        return err;
    bool changed = false;
    mt_addr ip = regs_ip(&regs);
    if (p->scratch.base && ip >= p->scratch.base && ip < p->scratch.base + SCRATCH_SIZE) {
        if (ip == p->scratch.trampoline) {
            /* Returned from the allocator, the trampoline's int3 not yet
             * executed: complete the call as its trap would. */
            regs_set_ip(&regs, ip + 1);
            if ((err = hooks_on_return(ctx, th, &regs)))
                return err;
        } else {
            mt_addr orig;
            if ((err = slot_to_original(p, ip, &orig))) {
                fprintf(stderr, "memtrace: error: tid %d stopped at 0x%" PRIxADDR " in the scratch "
                        "page, in no slot\n", th->tid, ip);
                return err;
            }
            regs_set_ip(&regs, orig);
        }
        changed = true;
    }
    /* Calls whose frames are gone (longjmp) have slots that belong to
     * someone else now: only those at or above the stack pointer are ours. */
    thread_prune_pending(th, regs_sp(&regs));
    for (unsigned i = th->npending; i-- > 0;) {
        const struct pending_call *c = &th->pending[i];
        uint64_t slot;
        if ((err = target_read_u64(th->tid, c->entry_sp, &slot)))
            return err;
        if (slot == c->redirect &&
            (err = target_write(th->tid, c->entry_sp, &c->return_addr, sizeof(c->return_addr))))
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

int attach_restore_memory(struct process *p, bool shared_memory, char *why, size_t why_len)
{
    if (shared_memory)
        return 0;
    pid_t tid = injection_thread(p);
    if (!tid) {
        snprintf(why, why_len, "pid %d: no stopped thread to restore its memory through", p->pid);
        return -ESRCH;
    }
    int err = bp_unplant_all(&p->bps, tid);
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
        if (!t->parked)
            continue;   /* exiting: the kernel lets it go when it dies */
        int err = pt_detach(t->tid, 0);
        if (err && err != -ESRCH && !first_err)
            first_err = err;
        t->parked = false;
    }
    return first_err;
}
