/* A leak check while attached (--leak-check-every, SIGUSR1): stop the
 * world, bring the model up to date, scan, keep the records, let the
 * process go, and only then print them (symbolizing may wait for debug
 * info; the process must not). */
#include "session_internal.h"
#include "diag.h"
#include "hooks.h"
#include "leak_check.h"
#include "leak_roots.h"
#include "live_check.h"
#include "mt_time.h"
#include "ptrace_io.h"
#include <errno.h>
#include <string.h>

/* How long a check waits for every thread to stop before it is skipped. */
#define LIVE_CHECK_PARK_NS 1000000000u

/* The threads' registers are roots, as at exit: each parked thread's own.
 * An exiting thread keeps what its exit event recorded. */
static void take_registers(struct process *p, bool on)
{
    for (struct thread *th = p->threads; th; th = th->next)
        if (th->parked && !th->exiting)
            th->has_exit_regs = on && pt_getregs(th->tid, &th->exit_regs) == 0;
}

/* Scans p with every thread parked; the scan is p->scan until the records
 * are kept. */
static int scan_parked(struct session *s, struct process *p)
{
    pid_t tid = park_any_live_thread(p);
    if (!tid)
        return -ESRCH;
    if (session_drain_returns(s, p, tid) != 0)
        return -EIO;
    if (p->fast_ring.local && hooks_drain_fast(&s->trap, p, false) != 0)
        return -EIO;
    take_registers(p, true);
    int err = leak_roots_scan_process(p, tid, s->opt->heuristics);
    take_registers(p, false);
    return err;
}

int live_check_run(struct session *s, struct process *p)
{
    uint64_t t0 = mt_now_ns();
    uint64_t deadline = s->park_deadline_ns;
    s->park_deadline_ns = t0 + LIVE_CHECK_PARK_NS;
    int park = park_all(s);
    s->park_deadline_ns = deadline;
    if (!session_anything_running(s))
        return 0;   /* the process ended meanwhile: its end is the report */
    if (park != 0) {
        if (!s->park_gave_up)
            return -1;
        mt_warn("leak check skipped: %s", s->error);
        s->error[0] = '\0';
        s->park_gave_up = false;
        return park_release_all(s);
    }
    int err = scan_parked(s, p);
    const struct leak_check *c = NULL;
    if (!err) {
        struct report_process rp = session_report_view(p, s->opt->show_kinds);
        rp.error_kinds = s->opt->error_kinds;
        rp.alloc_fns = s->opt->alloc_fns;
        rp.nalloc_fns = s->opt->nalloc_fns;
        rp.supps = &s->opt->suppressions;
        c = leak_check_add(&s->checks, &rp, t0 - s->start_ns, mt_now_ns() - t0);
    }
    /* The scan describes this moment only: the final one is made at detach. */
    process_drop_scan(p);
    if (park_release_all(s) != 0)
        return -1;
    if (err) {
        mt_warn("pid %d: leak check failed: %s", p->pid, strerror(-err));
        return 0;
    }
    if (!c)
        return session_fail(s, "out of memory keeping a leak check of pid %d", p->pid);
    struct report_process rp = session_report_view(p, s->opt->show_kinds);
    report_text_leak_check(s->log, &rp, c, s->checks.mode);
    return 0;
}
