/* The event loop of a tracing session: every waitpid stop is classified
 * (wait_event.c) and dispatched here. Traps go to hooks/, new images and
 * link-map changes to image.c, new tasks to fork.c, parking to park.c. */
#include "session_internal.h"
#include "diag.h"
#include "leak_roots.h"
#include "live_view.h"
#include "mt_time.h"
#include "procfs.h"
#include "ptrace_io.h"
#include "remote.h"
#include "wait_event.h"
#include "stepover.h"
#include "symbolizer_worker.h"
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int session_fail(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
    return -1;
}

struct thread *session_find_thread(const struct session *s, pid_t tid)
{
    for (struct process *p = s->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        struct thread *th = process_find_thread(p, tid);
        if (th)
            return th;
    }
    return NULL;
}

struct process *session_main_process(const struct session *s)
{
    /* Newest first: the first match is the image the program ended in. */
    for (struct process *p = s->procs; p; p = p->next)
        if (p->pid == s->main_pid)
            return p;
    return NULL;
}

void session_add_process(struct session *s, struct process *p)
{
    p->model.sample_live = s->opt->timeline_path != NULL;
    p->next = s->procs;
    s->procs = p;
}

/* Lazy placement (placement.h): once its process has made
 * PLACEMENT_PIN_AFTER_TRAPS traps, a thread trapping while it is the
 * process's only thread moves to memtrace's CPU, memtrace pinning itself
 * first if it has not yet. */
static void place_busy_thread(struct session *s, struct thread *th)
{
    struct process *p = th->proc;
    if (!s->opt->pin || s->attached || p->placed)
        return;
    if (p->unplaced_traps < PLACEMENT_PIN_AFTER_TRAPS)
        p->unplaced_traps++;
    if (p->unplaced_traps < PLACEMENT_PIN_AFTER_TRAPS || p->threads != th || th->next)
        return;
    p->placed = true;
    int err = s->placement.cpu < 0 ? placement_pin_self(&s->placement) : 0;
    if (!err)
        err = placement_pin(&s->placement, th->tid);
    if (err && err != -ESRCH && !s->pin_warned) {
        s->pin_warned = true;
        mt_warn("cannot pin tid %d and memtrace to one CPU (%s); "
                "running unpinned", th->tid, strerror(-err));
    }
}

/* Calls that returned through their stubs since p's last trap take effect
 * first: any event now may depend on them (a free of their block). */
int session_drain_returns(struct session *s, struct process *p, pid_t tid)
{
    int err = p->stubs.nused ? hooks_drain_returns(&s->trap, p, tid, false) : 0;
    if (!err && p->fast_ring.local && (err = hooks_drain_fast(&s->trap, p, false)))
        return session_fail(s, "pid %d: applying its --fast records: %s", p->pid, strerror(-err));
    return err == 0 || err == -ESRCH ? 0 : session_fail(s, "pid %d: reading the return stubs through "
                                                "tid %d: %s", p->pid, tid, strerror(-err));
}

static int on_trap(struct session *s, struct thread *th)
{
    struct process *p = th->proc;
    mt_regs regs;
    int err = pt_getregs(th->tid, &regs);
    if (err == -ESRCH)
        return 0;
    if (err)
        return session_fail(s, "GETREGS of tid %d: %s", th->tid, strerror(-err));
    if (session_drain_returns(s, p, th->tid) != 0)
        return -1;
    mt_addr at = regs_trap_addr(&regs);
    const struct breakpoint *bp = NULL;
    if (p->scratch.base && at == p->scratch.trampoline) {
        s->stats.traps++;
        err = hooks_on_return(&s->trap, th, &regs);
    } else if ((bp = bp_find(&p->bps, at))) {
        s->stats.traps++;
        if (bp->role == BP_HOOK_ENTRY && bp->tag == FN_PTRACE) {
            bool caller_gone;
            if (handover_on_ptrace(s, th, &regs, &caller_gone) != 0)
                return -1;
            if (caller_gone)
                return 0;
            bp = bp_find(&p->bps, at);   /* hooks may have been planted meanwhile */
            assert(bp != NULL);
        }
        if (bp->role == BP_HOOK_ENTRY) {
            err = hooks_on_entry(&s->trap, th, bp, &regs);
        } else {
            s->stats.rendezvous_traps++;
            if (image_on_rendezvous(s, p, th->tid) != 0)
                return -1;
            /* bp may have moved while hooks were planted. */
            bp = bp_find(&p->bps, at);
            assert(bp != NULL);
            err = stepover_run_plain(p->remote, th->tid, bp, &regs);
        }
    } else if (fast_patches_find(&p->fast_patches, at)) {
        /* The int3 this entry point had before its jump to the stub: the
         * thread took it before the jump was written. It runs the jump now. */
        regs_set_ip(&regs, at);
    } else {
        /* Not ours: the program's own int3 or a SIGTRAP sent to it. If it
         * cannot be passed on now, detaching passes it on. */
        th->stop_kind = WK_SIGNAL;
        th->stop_signal = SIGTRAP;
        return session_resume(s, th->tid, SIGTRAP);
    }
    if (err == -ESRCH)
        return 0;
    if (err)
        return session_fail(s, "pid %d tid %d: handling the trap at 0x%" PRIxADDR " failed: %s", p->pid,
                    th->tid, at, strerror(-err));
    if (bp == NULL || bp->role == BP_HOOK_ENTRY)
        place_busy_thread(s, th);
    if ((err = pt_setregs(th->tid, &regs))) {
        if (err == -ESRCH)
            return 0;
        /* The trap's effects are taken (a call pushed or completed): it
         * must not run again, it resumes with these registers at detach. */
        th->resume_regs = regs;
        th->has_resume_regs = true;
        th->stop_kind = WK_EVENT_STOP;
        return session_fail(s, "resuming tid %d: %s", th->tid, strerror(-err));
    }
    /* Handled: held from here on, it resumes as it is (no rewind). */
    th->stop_kind = WK_EVENT_STOP;
    return session_resume(s, th->tid, 0);
}

int session_resume(struct session *s, pid_t tid, int sig)
{
    int err = pt_cont(tid, sig);
    if (err && err != -ESRCH)   /* still stopped: held as it is when tracing ends */
        return session_fail(s, "cannot resume tid %d: %s", tid, strerror(-err));
    struct thread *th = session_find_thread(s, tid);
    if (th)
        th->stopped = false;
    return 0;
}

static void on_process_end(struct process *p, const struct wait_event *ev)
{
    p->end_ns = mt_now_ns();
    if (ev->kind == WK_EXITED) {
        p->end = END_EXITED;
        p->exit_code = ev->value;
    } else {
        p->end = END_SIGNALED;
        p->signal = ev->value;
        p->core_dumped = ev->core;
    }
    process_release(p);
}

/* PTRACE_EVENT_EXIT: the thread's registers are kept as scan roots; when it
 * is the last thread, the address space still exists and is scanned now. */
/* Whether t will run no more: gone, a zombie, or killed by a group exit.
 * exit_group (glibc's last thread to return from its start routine calls
 * it) queues SIGKILL to every other thread before its caller's exit stop,
 * and a thread killed that way dies without a PTRACE_EVENT_EXIT stop. */
static bool thread_dying(const struct process *p, const struct thread *t)
{
    char state[64], pending[64];
    if (procfs_status_field(p->pid, t->tid, "State", state, sizeof(state)) != 0)
        return true;
    if (state[0] == 'Z' || state[0] == 'X')
        return true;
    if (procfs_status_field(p->pid, t->tid, "SigPnd", pending, sizeof(pending)) != 0)
        return false;
    unsigned long long mask = strtoull(pending, NULL, 16);
    return mask & (1ull << (SIGKILL - 1));
}

static void on_thread_exit(struct session *s, struct process *p, struct thread *th)
{
    /* The thread's own completed calls first: its record is gone once it is. */
    session_drain_returns(s, p, th->tid);
    th->exiting = true;
    th->has_exit_regs = pt_getregs(th->tid, &th->exit_regs) == 0;
    for (const struct thread *o = p->threads; o; o = o->next) {
        if (!o->exiting && !thread_dying(p, o)) {
            if (th->has_exit_regs)   /* not the last thread: its stack dies now */
                process_note_exited_sp(p, regs_sp(&th->exit_regs));
            return;
        }
    }
    if (p->fast_ring.local) {
        /* No thread runs again: what a killed thread began recording is lost. */
        int ferr = hooks_drain_fast(&s->trap, p, true);
        if (ferr)
            mt_warn("pid %d: applying its --fast records: %s", p->pid, strerror(-ferr));
    }
    int err = leak_roots_scan_process(p, th->tid, s->opt->heuristics);
    if (err)
        mt_warn("pid %d: leak scan failed: %s; blocks are reported "
                "as unfreed", p->pid, strerror(-err));
}

bool session_anything_running(const struct session *s)
{
    for (struct process *p = s->procs; p; p = p->next)
        if (p->end == END_RUNNING)
            return true;
    return false;
}

int session_dispatch(struct session *s, pid_t tid, int status, int errfd)
{
    struct wait_event ev = wait_event_classify(status);
    struct thread *th = session_find_thread(s, tid);
    if (!th) {
        if ((ev.kind == WK_EXITED || ev.kind == WK_KILLED) && tid == s->main_pid &&
            s->main_untraced && !s->main_reaped) {
            /* The program, untraced since an exec, is memtrace's child still. */
            s->main_reaped = true;
            s->main_status = status;
            return 0;
        }
        if (ev.kind == WK_EXITED || ev.kind == WK_KILLED)
            return 0;   /* a thread of an image replaced by exec */
        /* A new task stops before running any instruction; it is resumed
         * when its parent's event tells which process it belongs to. */
        return fork_hold_early(s, tid);
    }
    struct process *p = th->proc;
    if (ev.kind != WK_EXITED && ev.kind != WK_KILLED) {
        th->stopped = true;
        th->stop_kind = ev.kind;
        th->stop_signal = ev.kind == WK_SIGNAL ? ev.value : 0;
    }
    switch (ev.kind) {
    case WK_EXITED:
    case WK_KILLED:
        if (tid == p->pid) {
            if (!p->exec_seen && tid == s->main_pid) {
                int e = 0;
                if (errfd >= 0 && read(errfd, &e, sizeof(e)) == (ssize_t)sizeof(e))
                    return session_fail(s, "cannot execute %s: %s", s->opt->target_argv[0], strerror(e));
            }
            on_process_end(p, &ev);
        } else {
            process_remove_thread(p, tid);
        }
        return 0;
    case WK_TRAP:
        return on_trap(s, th);
    case WK_EXEC: {
        bool detached;
        if (image_on_exec(s, th, &detached) != 0)
            return -1;
        return detached ? 0 : session_resume(s, tid, 0);
    }
    case WK_CLONE:
    case WK_FORK:
    case WK_VFORK:
        if (fork_on_new_task(s, th, ev.kind) != 0)
            return -1;
        return session_resume(s, tid, 0);
    case WK_GROUP_STOP: {
        int err = pt_listen(tid);
        if (err && err != -ESRCH)
            return session_fail(s, "PTRACE_LISTEN tid %d: %s", tid, strerror(-err));
        th->stopped = false;
        return 0;
    }
    case WK_SIGNAL:
        return session_resume(s, tid, ev.value);
    case WK_EXIT:
        on_thread_exit(s, p, th);
        return session_resume(s, tid, 0);
    default:
        return session_resume(s, tid, 0);
    }
}

/* --fast: the link-map hook's stub recorded a call (a dlopen or dlclose):
 * with p's threads parked, memtrace reads the link map as at the int3. */
static int fast_link_map(struct session *s, struct process *p)
{
    p->fast_link_map_changed = false;
    if (park_process(s, p) != 0)
        return -1;
    pid_t tid = park_any_live_thread(p);
    if (tid && image_on_rendezvous(s, p, tid) != 0)
        return -1;
    return park_release_all(s);
}

#define FAST_IDLE_MIN_NS 5000u
#define FAST_IDLE_MAX_NS 200000u

/* --fast: with no stop to handle, the rings are drained; when they are
 * empty memtrace sleeps a little longer each time (up to 200 µs, or until
 * a stub finds its ring full), so an idle program costs it little and a
 * busy one finds its ring drained. A ptrace stop does not end the sleep:
 * the cap bounds how late one is seen (python3's ~700 mapping traps cost
 * 0.7 s with a 1 ms cap). Returns -1 with s->error set. */
static int fast_poll(struct session *s, struct process *first)
{
    uint64_t before = s->trap.stats->fast_events;
    if (s->fast_idle_ns < FAST_IDLE_MIN_NS)
        s->fast_idle_ns = FAST_IDLE_MIN_NS;
    for (struct process *p = s->procs; p; p = p->next) {
        if (p->end != END_RUNNING || !p->fast_ring.local)
            continue;
        int err = hooks_drain_fast(&s->trap, p, false);
        if (err)
            return session_fail(s, "pid %d: applying its --fast records: %s", p->pid,
                                strerror(-err));
        if (p->fast_link_map_changed && fast_link_map(s, p) != 0)
            return -1;
    }
    if (s->trap.stats->fast_events != before) {
        s->fast_idle_ns = FAST_IDLE_MIN_NS;
        return 0;
    }
    fast_ring_wait(&first->fast_ring, s->fast_idle_ns);
    s->fast_idle_ns = s->fast_idle_ns * 2 > FAST_IDLE_MAX_NS ? FAST_IDLE_MAX_NS : s->fast_idle_ns * 2;
    return 0;
}

static struct process *first_fast_process(const struct session *s)
{
    for (struct process *p = s->procs; p; p = p->next)
        if (p->end == END_RUNNING && p->fast_ring.local)
            return p;
    return NULL;
}

/* Waits for one stop and handles it (--fast: or drains the rings a while). */
int session_handle_next(struct session *s, int errfd)
{
    int status;
    struct process *fast = first_fast_process(s);
    pid_t tid = pt_wait(-1, &status, fast ? WNOHANG : 0);
    if (tid == 0)
        return fast_poll(s, fast);
    s->fast_idle_ns = FAST_IDLE_MIN_NS;   /* stops come in bursts (startup, a dlopen) */
    if (tid == -EINTR)
        return 0;
    if (tid < 0)
        return session_fail(s, "waitpid: %s", strerror(-tid));
    return s->parking ? park_or_dispatch(s, tid, status, errfd) : session_dispatch(s, tid, status, errfd);
}

void session_init(struct session *s, const struct mt_options *opt, FILE *log)
{
    memset(s, 0, sizeof(*s));
    s->opt = opt;
    s->log = log;
    s->trap = (struct trap_ctx){
        .depth = opt->depth, .sample = opt->sample, .min_size = opt->min_size,
        .show_mismatched = opt->show_mismatched,
        .stats = &s->stats,
        .on_error = report_view_live_error, .on_error_arg = s,
    };
    /* attach never pins: the process's CPU affinity is its own. */
    placement_init(&s->placement);
    s->guardian.fd = -1;
}

void session_destroy(struct session *s)
{
    while (s->procs) {
        struct process *p = s->procs;
        s->procs = p->next;
        process_destroy(p);
    }
    free(s->snap);
    s->snap = NULL;
    free(s->early_tids);
    s->early_tids = NULL;
    live_view_destroy(s->view);
    leak_check_series_destroy(&s->checks);
    s->view = NULL;
    symbolizer_worker_stop(s->view_names);
    s->view_names = NULL;
    placement_destroy(&s->placement);
}
