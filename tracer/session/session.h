/* A tracing session: memtrace run (launch.c) or memtrace attach (attach.c),
 * every process and thread it traces, and what the report is made from. */
#ifndef MT_SESSION_H
#define MT_SESSION_H
#include <signal.h>
#include <stdio.h>
#include "hooks.h"
#include "options.h"
#include "guardian.h"
#include "placement.h"
#include "process.h"
#include "report.h"
#include "leak_check.h"

struct live_view;
struct symbolizer_worker;

struct session {
    const struct mt_options *opt;
    FILE *log;                    /* text report and live errors */
    struct process *procs;        /* every process ever traced, newest first */
    pid_t main_pid;
    struct trap_stats stats;
    struct stack_snapshot *snap;  /* per-trap stack buffer, reused */
    struct trap_ctx trap;
    pid_t *early_tids;            /* first stops of tasks whose parent's clone/fork */
    size_t n_early, early_cap;    /* event is still to come: held until it arrives */
    bool attached;                /* memtrace attach: leave the process as it was */
    bool parking;                 /* every thread is being stopped and held */
    struct process *park_only;    /* ... or only this process's (handover.c) */
    /* attach: parking stops waiting for threads that do not stop (one in an
     * uninterruptible sleep never does) at park_deadline_ns (0: no limit)
     * or once *park_stop is set (a stop signal); park_gave_up says it did. */
    uint64_t park_deadline_ns;
    const volatile sig_atomic_t *park_stop;
    bool park_gave_up;
    uint64_t start_ns;            /* when tracing began */
    uint64_t end_ns;              /* when it ended (detach or exit) */
    struct live_view *view;       /* attach --interval */
    struct leak_check_series checks;   /* attach: leak checks made while attached */
    struct symbolizer_worker *view_names;  /* its names, from the symbolizer helper */
    uint64_t next_view_ns;        /* when the next view is due */
    bool view_names_asked;        /* the next view's names were asked for */
    struct placement placement;   /* CPU pinning (--no-pin: none) */
    bool pin_warned;
    /* run: the program's exec was not followed (--trace-children=no, -skip):
     * it runs on untraced; its wait status once reaped. */
    bool main_untraced, main_reaped;
    bool program_refused;         /* run: the program has no allocator; killed unrun */
    int main_status;
    uint64_t fast_idle_ns;        /* --fast: how long the next idle wait for records is */
    bool tracing_failed;          /* run: an error ended tracing early; error says why */
    struct guardian guardian;     /* attach: restores the process if memtrace dies */
    char error[1024];             /* why session_run or session_attach failed */
};

/* Runs opt->target_argv to completion. Returns 0 when the target ran (its
 * fate is in the main process record), or -1 with s->error set when
 * memtrace could not start it. When tracing fails later, every process is
 * restored and detached and runs on untraced: s->tracing_failed is set,
 * s->error says why, and the records end there (partial). */
int session_run(struct session *s, const struct mt_options *opt, FILE *log);
/* After a run whose tracing failed: waits for the program, which runs on
 * untraced, passing on memtrace's signals meanwhile. Returns 0 with its
 * wait status, or -1 when there is nothing to wait for. */
int session_wait_untraced(struct session *s, int *status);
/* Attaches to opt->attach_pid, traces it until a stop signal (SIGINT,
 * SIGTERM, SIGHUP), --duration or its end, then restores it and detaches.
 * Returns 0, or -1 with s->error set (the process is left as it was). */
int session_attach(struct session *s, const struct mt_options *opt, FILE *log);
void session_destroy(struct session *s);
/* What the report writers see of p (frames symbolized as they were when
 * each stack was taken). */
struct report_process session_report_view(const struct process *p, unsigned show_kinds);
/* The process record of the launched program's last image. */
struct process *session_main_process(const struct session *s);

#endif
