/* The supervisor: launches the target under ptrace, runs the event loop
 * (classify each stop, dispatch it), and keeps every traced process. */
#ifndef MT_TRACER_H
#define MT_TRACER_H
#include <stdio.h>
#include "options.h"
#include "hooks.h"
#include "placement.h"
#include "process.h"
#include "report.h"

struct live_view;

struct tracer {
    const struct mt_options *opt;
    FILE *log;                    /* text report and live errors */
    struct process *procs;        /* every process ever traced, newest first */
    pid_t main_pid;
    struct trap_stats stats;
    struct stack_snapshot *snap;  /* per-trap stack buffer, reused */
    struct trap_ctx trap;
    pid_t *early_tids;            /* first stops of tasks whose parent's clone/fork */
    size_t nearly, early_cap;     /* event is still to come: held until it arrives */
    bool attached;                /* memtrace attach: leave the process as it was */
    bool parking;                 /* every thread is being stopped and held */
    uint64_t start_ns;            /* when tracing began */
    uint64_t end_ns;              /* when it ended (detach or exit) */
    struct live_view *view;       /* attach --interval */
    struct placement placement;   /* CPU pinning (--no-pin: none) */
    bool pin_warned;
    char error[1024];             /* why tracer_run failed */
};

/* Runs opt->target_argv to completion. Returns 0 when the target ran (its
 * fate is in the main process record), or -1 with t->error set when
 * memtrace could not start or trace it. */
int tracer_run(struct tracer *t, const struct mt_options *opt, FILE *log);
/* Attaches to opt->attach_pid, traces it until a stop signal (SIGINT,
 * SIGTERM, SIGHUP), --duration or its end, then restores it and detaches.
 * Returns 0, or -1 with t->error set (the process is left as it was). */
int tracer_attach(struct tracer *t, const struct mt_options *opt, FILE *log);
void tracer_destroy(struct tracer *t);
/* What the report writers see of p (frames symbolized as they were when
 * each stack was taken). */
struct report_process tracer_report_view(const struct process *p, unsigned show_kinds);
/* The process record of the launched program's last image. */
struct process *tracer_main_process(const struct tracer *t);

#endif
