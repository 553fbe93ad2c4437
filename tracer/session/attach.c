/* memtrace attach: seize every thread of a running process, park them,
 * install the hooks, trace until a stop signal, --duration or the process's
 * end, with a live view; then park again, restore and detach (detach.c). */
#include "session_internal.h"
#include "diag.h"
#include "attach.h"
#include "attach_check.h"
#include "heap_census.h"
#include "live_check.h"
#include "live_view.h"
#include "map_hooks.h"
#include "mt_time.h"
#include "procfs.h"
#include "ptrace_io.h"
#include "symbolizer_worker.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <unistd.h>

struct seize_pass {
    struct process *p;
    char *why;
    size_t why_len;
    int added;
    bool failed;   /* seize_one failed and said why */
};

/* A thread that is gone from /proc or a zombie: PTRACE_SEIZE refuses an
 * exiting thread with EPERM, which is no reason to give up the attach. */
static bool thread_exiting(pid_t pid, pid_t tid)
{
    char state[32];
    if (procfs_status_field(pid, tid, "State", state, sizeof(state)) != 0)
        return true;
    return state[0] == 'Z' || state[0] == 'X';
}

/* Seizes tid unless it is traced already; 0 or -errno with why. */
static int seize_tid(struct seize_pass *pass, pid_t tid)
{
    struct process *p = pass->p;
    if (process_find_thread(p, tid))
        return 0;
    int rc = pt_seize(tid, ATTACH_SEIZE_OPTIONS);
    if (rc == -ESRCH || (rc == -EPERM && p->threads && thread_exiting(p->pid, tid)))
        return 0;   /* it exited, or is exiting (the kernel refuses those), since the listing */
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
        attach_explain_eperm(p->pid, pass->why, pass->why_len);
        return rc;
    }
    if (rc) {
        snprintf(pass->why, pass->why_len, "cannot attach to thread %d of pid %d: %s", tid,
                 p->pid, strerror(-rc));
        return rc;
    }
    if (!process_add_thread(p, tid)) {
        snprintf(pass->why, pass->why_len, "out of memory recording thread %d", tid);
        return -ENOMEM;
    }
    pass->added++;
    return 0;
}

static int seize_one(void *ctx, pid_t tid)
{
    struct seize_pass *pass = ctx;
    int err = seize_tid(pass, tid);
    pass->failed = err != 0;
    return err;
}

/* One pass over /proc/PID/task: seizes the threads not traced yet. Returns
 * how many were new, or -errno with why. */
static int seize_pass(struct process *p, char *why, size_t why_len)
{
    struct seize_pass pass = { .p = p, .why = why, .why_len = why_len };
    int err = procfs_tasks(p->pid, seize_one, &pass);
    if (err && !pass.failed)
        snprintf(why, why_len, "cannot list the threads of pid %d: %s", p->pid, strerror(-err));
    return err ? err : pass.added;
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
    mt_addr at = regs_trap_addr(&regs);
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

/* attach: what asked memtrace to stop, owned by this module and written
 * only by the handlers below. */
static volatile sig_atomic_t stop_signal;
/* SIGUSR1 asks for a leak check now, owned as stop_signal is. */
static volatile sig_atomic_t check_asked;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void on_check_signal(int sig)
{
    (void)sig;
    check_asked = 1;
}

static void on_tick(int sig)
{
    (void)sig;   /* only interrupts waitpid, so deadlines and views are seen */
}

#define TICK_US 100000

/* Every catchable signal whose default action would end memtrace ends the
 * attach instead, through the restore and detach: dying with its int3s
 * planted would leave the process to die of SIGTRAP. Not the faults
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) nor SIGABRT: those are
 * memtrace's own bugs, and a handler that returns would fault again. The
 * real-time signals are added at run time (SIGRTMIN is not a constant). */
static const int attach_stop_signals[] = {
    SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2, SIGXCPU, SIGXFSZ,
    SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,
};

/* Owned by this module: the actions memtrace had before the attach, given
 * back when it ends. */
static struct sigaction attach_saved[NSIG];
static bool attach_saved_set[NSIG];

static int attach_set_action(int sig, bool on, const struct sigaction *sa)
{
    if (on) {
        if (sigaction(sig, sa, &attach_saved[sig]) != 0)
            return -errno;
        attach_saved_set[sig] = true;
    } else if (attach_saved_set[sig]) {
        attach_saved_set[sig] = false;
        if (sigaction(sig, &attach_saved[sig], NULL) != 0)
            return -errno;
    }
    return 0;
}

/* The signals above end the attach; SIGUSR1 asks for a leak check; SIGALRM
 * every TICK_US wakes the event loop. No SA_RESTART: they must interrupt waitpid. SIGPIPE is ignored for
 * the rest of memtrace's life: a closed stderr only loses what is written
 * to it (EPIPE), it never ends tracing nor kills memtrace while it reports.
 * Off: the timer stops and memtrace gets back the actions it had. */
static int install_attach_signals(bool on)
{
    struct sigaction stop = { .sa_handler = on_stop_signal };
    struct sigaction tick = { .sa_handler = on_tick };
    struct sigaction check = { .sa_handler = on_check_signal };
    sigemptyset(&stop.sa_mask);
    sigemptyset(&tick.sa_mask);
    sigemptyset(&check.sa_mask);
    struct itimerval timer = { .it_interval = { 0, on ? TICK_US : 0 },
                               .it_value = { 0, on ? TICK_US : 0 } };
    if (!on && setitimer(ITIMER_REAL, &timer, NULL) != 0)
        return -errno;
    int err = 0;
    for (size_t i = 0; i < sizeof(attach_stop_signals) / sizeof(attach_stop_signals[0]); i++)
        if (!err)
            err = attach_set_action(attach_stop_signals[i], on, &stop);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX && sig < NSIG; sig++)
        if (!err)
            err = attach_set_action(sig, on, &stop);
    if (!err)
        err = attach_set_action(SIGALRM, on, &tick);
    if (!err)
        err = attach_set_action(SIGUSR1, on, &check);
    if (err) {
        if (on)
            install_attach_signals(false);   /* give back what was set */
        return err;
    }
    if (on && signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return -errno;
    if (on && setitimer(ITIMER_REAL, &timer, NULL) != 0)
        return -errno;
    return 0;
}

/* Traces p until a stop signal, the deadline or its end, printing the live
 * view every --interval, a leak check every --leak-check-every and on
 * SIGUSR1, and a status line on a terminal. */
static int watch(struct session *s, struct process *p)
{
    const struct mt_options *opt = s->opt;
    uint64_t deadline = opt->duration_ms ? s->start_ns + opt->duration_ms * 1000000u : 0;
    uint64_t next_status = isatty(STDERR_FILENO) ? s->start_ns + 1000000000u : 0;
    uint64_t every = opt->leak_check_every_ms * 1000000u;
    uint64_t next_check = every ? s->start_ns + every : 0;
    while (session_anything_running(s) && !stop_signal) {
        uint64_t now = mt_now_ns();
        if (deadline && now >= deadline)
            break;
        if (check_asked || (next_check && now >= next_check)) {
            check_asked = 0;
            live_view_status_clear(s->view, stderr);
            if (live_check_run(s, p) != 0)
                return -1;
            if (next_check)
                next_check = mt_now_ns() + every;
            continue;
        }
        if (opt->interval_ms)
            report_view_live_tick(s, p, now);
        if (next_status && now >= next_status) {
            struct report_process rp = session_report_view(p, REPORT_DEFAULT_KINDS);
            live_view_status(s->view, stderr, &rp, now, now - s->start_ns);
            next_status = now + 1000000000u;
        }
        if (session_handle_next(s, -1) != 0)
            return -1;
    }
    return 0;
}

/* The heap census, with every thread parked: the blocks from before
 * attach join the model. A heap memtrace cannot read (another allocator, a
 * glibc it does not know, a heap caught mid-update or corrupted) costs the
 * census only, never the attach. */
static int take_census(struct session *s, struct process *p)
{
    if (s->opt->no_census)
        return 0;
    char why[512];
    int err = heap_census_take(p, p->threads->tid, s->opt->show_contents, why, sizeof(why));
    if (err == -ENOMEM)
        return session_fail(s, "out of memory taking the census of pid %d's heap", p->pid);
    if (err) {
        mt_warn("pid %d: no census of the heap: %s; blocks allocated before attach are not "
                "reported", p->pid, why);
        return 0;
    }
    const struct heap_census *c = &p->census;
    fprintf(s->log, "==%d== heap census: %" PRIu64 " blocks (%" PRIu64 " bytes) allocated before "
            "attach, in %zu arena%s and %zu mmapped chunk%s (layout from %s), %.1f ms\n",
            p->pid, c->blocks, c->bytes, c->arenas, c->arenas == 1 ? "" : "s", c->mmapped,
            c->mmapped == 1 ? "" : "s", c->layout_from, (double)c->ns / 1e6);
    return 0;
}

/* The record of the process memtrace attaches to. */
static struct process *attach_record(struct session *s, pid_t pid)
{
    char *argv[] = { (char *)s->opt->attach_pid, NULL };
    struct process *p = process_create(pid, argv);
    if (!p)
        return NULL;
    p->model.untracked_ok = true;
    p->attached = true;
    session_add_process(s, p);
    s->main_pid = pid;
    s->attached = true;
    return p;
}

int session_attach(struct session *s, const struct mt_options *opt, FILE *log)
{
    session_init(s, opt, log);
    if (!(s->snap = s->trap.snap = malloc(sizeof(*s->snap))))
        return session_fail(s, "out of memory");
    char why[1024];
    pid_t pid;
    if (attach_check(opt->attach_pid, opt->force, &pid, why, sizeof(why)) != 0)
        return session_fail(s, "%s", why);
    if (guardian_start(&s->guardian, pid, why, sizeof(why)) != 0)
        mt_warn("no guardian for pid %d (%s): if memtrace is killed, the process may die at "
                "its next hooked call", pid, why);
    struct process *p = attach_record(s, pid);
    if (!p || !(s->view = live_view_create(opt->top)))
        return session_fail(s, "out of memory");
    /* Forked before the signal handlers and the first seize: the helper
     * starts with none of them. */
    if (opt->interval_ms && !(s->view_names = symbolizer_worker_start(why, sizeof(why))))
        return session_fail(s, "out of memory");
    if (opt->interval_ms && why[0])
        mt_warn("%s; the live view shows module+offset", why);
    stop_signal = 0;
    check_asked = 0;
    s->checks.mode = (enum leak_check_mode)opt->leak_check_mode;
    int err = install_attach_signals(true);
    if (err)
        return session_fail(s, "cannot install signal handlers: %s", strerror(-err));
    /* A thread that cannot stop must not hold memtrace past --duration or
     * a stop signal. */
    s->park_stop = &stop_signal;
    s->park_deadline_ns = opt->duration_ms ? mt_now_ns() + opt->duration_ms * 1000000u : 0;
    /* From the first seize on, every way out goes through leave(). */
    int rc = attach_seize_threads(p, why, sizeof(why)) != 0 ? session_fail(s, "%s", why) : 0;
    bool nothing_seized = p->threads == NULL;
    if (rc == 0 && park_all(s) == 0 && session_anything_running(s)) {
        rc = image_install_live(s, p);
        if (rc == 0) {
            report_view_banner(s, p);
            rc = take_census(s, p);
        }
        if (rc == 0) {
            fprintf(s->log, "==%d== attached to pid %d (%s threads): tracking allocations from "
                    "now on\n", pid, pid, "all its");
            fflush(s->log);
            rc = park_release_all(s);
        }
    } else if (rc == 0 && s->park_gave_up) {
        char why_stuck[sizeof(s->error)];
        snprintf(why_stuck, sizeof(why_stuck), "%s", s->error);
        rc = session_fail(s, "%.900s; memtrace let pid %d go without tracing it", why_stuck, pid);
    } else if (rc == 0) {
        rc = session_anything_running(s) ? -1
                                          : session_fail(s, "pid %d ended while memtrace attached",
                                                         pid);
    }
    s->start_ns = mt_now_ns();
    if (rc == 0)
        rc = watch(s, p);
    symbolizer_worker_stop(s->view_names);
    s->view_names = NULL;
    live_view_status_clear(s->view, stderr);
    s->end_ns = mt_now_ns();
    if (!nothing_seized && session_anything_running(s)) {
        stop_signal = 0;   /* another one ends the wait for stuck threads */
        rc = detach_leave(s, rc);
    }
    map_hooks_check_segments(s->procs);
    install_attach_signals(false);
    guardian_stop(&s->guardian);
    return rc;
}
