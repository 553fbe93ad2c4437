/* Parking: every thread of every traced process stopped and held in a
 * ptrace stop (attach's install and detach), and let go again. */
#include "session_internal.h"
#include "attach.h"
#include "diag.h"
#include "mt_time.h"
#include "procfs.h"
#include "ptrace_io.h"
#include "wait_event.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool park_includes(const struct session *s, const struct process *p)
{
    return s->parking && p->end == END_RUNNING && (!s->park_only || s->park_only == p);
}

/* While threads are being parked, the stop that parks each one is held:
 * an interrupt stop, a group stop, or a new thread's first stop. Any other
 * ptrace stop (a clone or exec event, a signal, a trap) clears the
 * interrupt the kernel had pending for the thread: once that stop is
 * handled and the thread let go, it is interrupted again, or it would run
 * on and never park. */
int park_or_dispatch(struct session *s, pid_t tid, int status, int errfd)
{
    struct wait_event ev = wait_event_classify(status);
    struct thread *th = session_find_thread(s, tid);
    bool to_park = th && !th->parked && park_includes(s, th->proc);
    if (to_park && (ev.kind == WK_EVENT_STOP || ev.kind == WK_GROUP_STOP)) {
        if (attach_trap_pending(th->proc, tid)) {
            /* It executed one of our int3s just before the interrupt: the
             * SIGTRAP must be taken (and handled) before it can be held,
             * or it would kill the process after detach. */
            th->reinterrupt = true;
            return session_resume(s, tid, 0);
        }
        th->parked = th->stopped = true;
        th->stop_kind = ev.kind;
        th->group_stopped = ev.kind == WK_GROUP_STOP;
        return 0;
    }
    if (session_dispatch(s, tid, status, errfd) != 0)
        return -1;
    th = session_find_thread(s, tid);
    if (!th || th->parked || th->exiting || !park_includes(s, th->proc))
        return 0;
    if (th->stopped) {
        /* Its stop was not ended (its handling failed): held as it is, as
         * park_threads holds such a thread. */
        th->parked = true;
        th->group_stopped = th->stop_kind == WK_GROUP_STOP;
        return 0;
    }
    if (!to_park && !th->reinterrupt)
        return 0;
    th->reinterrupt = false;
    int err = pt_interrupt(tid);
    if (err && err != -ESRCH)
        return session_fail(s, "PTRACE_INTERRUPT tid %d: %s", tid, strerror(-err));
    return 0;
}

static bool thread_held(const struct thread *th)
{
    /* An exiting thread runs no more user code; a zombie leader never stops. */
    return th->parked || th->exiting;
}

static bool all_parked(const struct session *s)
{
    for (const struct process *p = s->procs; p; p = p->next) {
        if (!park_includes(s, p))
            continue;
        for (const struct thread *th = p->threads; th; th = th->next)
            if (!thread_held(th))
                return false;
    }
    return true;
}

/* Whether every thread not parked yet may be left running: one that
 * cannot stop (an uninterruptible sleep, inside the kernel, where it cannot
 * be executing an out-of-line slot of the scratch page about to be
 * unmapped; a zombie), or, once memtrace is asked to stop, any thread of a
 * process with none of memtrace's code in it. A running or sleeping thread
 * stops soon: it is waited for, past a deadline too. */
static bool may_leave_running(const struct session *s, bool asked)
{
    for (const struct process *p = s->procs; p; p = p->next) {
        for (const struct thread *th = p->threads; park_includes(s, p) && th; th = th->next) {
            char state[64];
            if (thread_held(th) || (asked && !p->scratch.base))
                continue;
            if (procfs_status_field(p->pid, th->tid, "State", state, sizeof(state)) != 0 ||
                !state[0] || !strchr("DZX", state[0]))
                return false;
        }
    }
    return true;
}

/* Parking ends with threads that never stopped: a thread in an
 * uninterruptible sleep (a vfork parent waiting for its child, a wait on a
 * disk or network file system) takes no ptrace stop until it wakes. Says
 * which one in s->error; they stay traced, running, until memtrace exits. */
static int give_up(struct session *s, bool asked, uint64_t since)
{
    const struct thread *first = NULL;
    unsigned others = 0;
    for (const struct process *p = s->procs; p; p = p->next)
        for (const struct thread *th = p->threads; park_includes(s, p) && th; th = th->next)
            if (!thread_held(th))
                others += first ? 1 : !(first = th);
    if (!first)
        return 0;   /* the last one parked as the deadline passed: nothing given up */
    s->park_gave_up = true;
    char state[64];
    if (procfs_status_field(first->proc->pid, first->tid, "State", state, sizeof(state)) != 0)
        snprintf(state, sizeof(state), "unknown");
    char when[64];
    if (asked)
        snprintf(when, sizeof(when), "before memtrace was asked to stop");
    else   /* the wait the deadline allowed, not when memtrace got round to noticing */
        snprintf(when, sizeof(when), "within %.1f s",
                 (double)((s->park_deadline_ns > since ? s->park_deadline_ns : mt_now_ns()) -
                          since) / 1e9);
    char more[48] = "";
    if (others)
        snprintf(more, sizeof(more), " (and %u other thread%s)", others, others > 1 ? "s" : "");
    return session_fail(s, "thread %d of pid %d did not stop %s%s: its state is %s%s", first->tid,
                        first->proc->pid, when, more, state,
                        state[0] == 'D' ? ", an uninterruptible sleep (a vfork parent waiting "
                                          "for its child, or a wait on a disk or network file "
                                          "system) that no ptrace stop interrupts"
                                        : "");
}

/* Stops every thread of the processes being parked and holds it. Other
 * stops that come first are handled as usual. */
static int park_threads(struct session *s, struct process *only)
{
    s->parking = true;
    s->park_only = only;
    for (struct process *p = s->procs; p; p = p->next) {
        if (!park_includes(s, p))
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (thread_held(th))
                continue;
            if (th->stopped) {
                /* A stop seen and not ended (its handling failed): it is
                 * held as it is; an interrupt would never be reported. */
                th->parked = true;
                th->group_stopped = th->stop_kind == WK_GROUP_STOP;
                continue;
            }
            int err = pt_interrupt(th->tid);
            if (err && err != -ESRCH)
                return session_fail(s, "PTRACE_INTERRUPT tid %d: %s", th->tid, strerror(-err));
        }
    }
    uint64_t since = mt_now_ns();
    bool warned = false;
    s->park_gave_up = false;
    while (session_anything_running(s) && !all_parked(s)) {
        if (session_handle_next(s, -1) != 0)
            return -1;
        bool asked = s->park_stop && *s->park_stop;
        if ((asked || (s->park_deadline_ns && mt_now_ns() >= s->park_deadline_ns)) &&
            may_leave_running(s, asked))
            return give_up(s, asked, since);
        if (!warned && mt_now_ns() - since > 3000000000u) {
            warned = true;
            char tids[512] = "";
            size_t used = 0;
            for (const struct process *p = s->procs; p; p = p->next)
                for (const struct thread *th = p->threads; park_includes(s, p) && th;
                     th = th->next)
                    if (!thread_held(th) && used < sizeof(tids) - 16)
                        used += (size_t)snprintf(tids + used, sizeof(tids) - used, " %d", th->tid);
            mt_warn("waiting for threads to stop (uninterruptible sleep, or a vfork parent "
                    "waiting for its child?):%s%s", tids,
                    s->park_stop ? "; Ctrl-C or SIGTERM stops waiting" : "");
        }
    }
    return 0;
}

int park_all(struct session *s)
{
    return park_threads(s, NULL);
}

int park_process(struct session *s, struct process *p)
{
    return park_threads(s, p);
}

void park_end_detached(struct session *s)
{
    s->parking = false;
    s->park_only = NULL;
}

/* A thread of a stopped process that ran an injected system call is in a
 * SIGTRAP stop, from which PTRACE_LISTEN is refused: interrupted and
 * continued, it stops again reporting the group stop, and can listen. */
static int listen_in_group_stop(pid_t tid)
{
    int err = pt_listen(tid);
    if (err != -EIO)   /* the kernel's answer when the stop is not a group stop */
        return err;
    if ((err = pt_interrupt(tid)) || (err = pt_run_until(tid, WK_GROUP_STOP, NULL)))
        return err;
    return pt_listen(tid);
}

/* Lets every held thread go: group-stopped ones stay stopped (LISTEN). */
int park_release_all(struct session *s)
{
    s->parking = false;
    s->park_only = NULL;
    for (struct process *p = s->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (!th->parked)
                continue;
            int err = th->group_stopped ? listen_in_group_stop(th->tid) : pt_cont(th->tid, 0);
            if (err && err != -ESRCH)
                return session_fail(s, "resuming tid %d: %s", th->tid, strerror(-err));
            th->parked = th->stopped = false;
            th->group_stopped = false;
        }
    }
    return 0;
}

pid_t park_any_live_thread(const struct process *p)
{
    for (const struct thread *th = p->threads; th; th = th->next)
        if (th->parked && !th->exiting)
            return th->tid;
    return 0;
}
