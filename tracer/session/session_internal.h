/* What the files of the session layer share among themselves; the rest of
 * memtrace sees session.h only. */
#ifndef MT_SESSION_INTERNAL_H
#define MT_SESSION_INTERNAL_H
#include "session.h"
#include "wait_event.h"

/* session.c: the event loop */
void session_init(struct session *s, const struct mt_options *opt, FILE *log);
/* Sets s->error; returns -1. */
int session_fail(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct thread *session_find_thread(const struct session *s, pid_t tid);
void session_add_process(struct session *s, struct process *p);
bool session_anything_running(const struct session *s);
/* PTRACE_CONT; a task that is gone is not an error. Returns 0, or -1 with
 * s->error set (the task stays stopped, marked so). */
int session_resume(struct session *s, pid_t tid, int sig);
/* Calls that returned through their stubs since p's last trap take effect
 * first: any event now may depend on them (a free of their block). */
int session_drain_returns(struct session *s, struct process *p, pid_t tid);
int session_dispatch(struct session *s, pid_t tid, int status, int errfd);
/* Waits for one stop and handles it (errfd: launch's exec error pipe, or -1). */
int session_handle_next(struct session *s, int errfd);

/* image.c: a new image, a link-map change, a live process's set-up */
/* *detached: the process is no longer traced (its new image runs untraced). */
int image_on_exec(struct session *s, struct thread *th, bool *detached);
int image_on_rendezvous(struct session *s, struct process *p, pid_t tid);
int image_install_live(struct session *s, struct process *p);

/* fork.c: new tasks */
/* A task whose first stop came before its parent's clone/fork event. */
int fork_hold_early(struct session *s, pid_t tid);
int fork_on_new_task(struct session *s, struct thread *th, enum wait_kind kind);

/* park.c: every thread stopped and held, and let go */
int park_all(struct session *s);
/* Whether p's threads are being parked now (all processes', or p's alone). */
bool park_includes(const struct session *s, const struct process *p);
/* Parks p's threads only; the others run on. */
int park_process(struct session *s, struct process *p);
/* Parking is over: what was parked has been detached. */
void park_end_detached(struct session *s);
int park_release_all(struct session *s);
int park_or_dispatch(struct session *s, pid_t tid, int status, int errfd);
pid_t park_any_live_thread(const struct process *p);

/* detach.c */
int detach_restore_all(struct session *s);
/* Parks every thread again, classifies what is live and leaves every
 * running process as it was; also after an error, since int3s left in a
 * live process would kill it at its next malloc. rc: the session's result
 * so far; an error that came first stays the one in s->error. */
int detach_leave(struct session *s, int rc);
/* The same for p alone, parked by park_process, while the others run on. */
int detach_restore_process(struct session *s, struct process *p);

/* handover.c: a traced process that the program itself wants to trace */
/* At the entry trap of ptrace in th: a PTRACE_TRACEME, or a PTRACE_ATTACH
 * or PTRACE_SEIZE of a process memtrace traces, has that process detached
 * first, so the call succeeds as it would without memtrace. *caller_gone:
 * th's own process was detached (th is no more). 0 or -1 with s->error. */
int handover_on_ptrace(struct session *s, struct thread *th, const mt_regs *regs,
                       bool *caller_gone);

/* report_view.c */
void report_view_banner(struct session *s, struct process *p);
void report_view_live_error(void *arg, struct process *p, const struct alloc_error *err);
/* attach --interval, at each turn of the event loop: asks for the names of
 * the next view ahead of it, and prints it when it is due and its names
 * are in, or a little later with module+offset where they are not. */
void report_view_live_tick(struct session *s, struct process *p, uint64_t now_ns);

#endif
