/* Handing a process over to the program's own tracer. A process has one
 * tracer: a followed child that calls ptrace(PTRACE_TRACEME), or a parent
 * that calls PTRACE_ATTACH or PTRACE_SEIZE on a process memtrace traces,
 * would get EPERM and wait forever for stops that never come. At the entry
 * of ptrace, that process is parked, restored and detached as attach leaves
 * a process, so the call succeeds as it does without memtrace; its report
 * ends there, as detached. */
#include "session_internal.h"
#include "diag.h"
#include <sys/ptrace.h>

/* The traced process a ptrace call at this trap asks for, or NULL. */
static struct process *wanted_process(const struct session *s, const struct thread *caller,
                                      const mt_regs *regs, int *request, pid_t *target)
{
    /* ptrace(enum __ptrace_request, pid_t, void *, void *): int-sized first
     * two arguments, whose registers' upper halves are undefined. */
    *request = (int)(uint32_t)regs_call_arg(regs, 1);
    *target = (pid_t)(uint32_t)regs_call_arg(regs, 2);
    if (*request == PTRACE_TRACEME)
        return caller->proc;
    if (*request != PTRACE_ATTACH && *request != PTRACE_SEIZE)
        return NULL;
    const struct thread *th = session_find_thread(s, *target);
    /* Its own threads: the kernel refuses that call anyway. */
    return th && th->proc != caller->proc ? th->proc : NULL;
}

/* Why p cannot be handed over now, or NULL. */
static const char *why_not_now(const struct session *s, const struct process *p, int request)
{
    /* Detached, a vfork child would run into the int3s of the memory it
     * shares with its parent, whose calling thread cannot stop meanwhile. */
    if (p->vfork_child || p->untraced_child)
        return "it is a vfork child, running in its parent's memory and breakpoints until it "
               "execs";
    /* Its parent is memtrace: PTRACE_TRACEME would make memtrace its
     * tracer again, without the options tracing needs. */
    if (request == PTRACE_TRACEME && p->pid == s->main_pid && !s->attached)
        return "its parent is memtrace itself";
    if (s->parking)
        return "memtrace is stopping the processes it traces";
    return NULL;
}

int handover_on_ptrace(struct session *s, struct thread *th, const mt_regs *regs, bool *caller_gone)
{
    *caller_gone = false;
    int request;
    pid_t target;
    struct process *p = wanted_process(s, th, regs, &request, &target);
    if (!p)
        return 0;
    pid_t caller_pid = th->proc->pid, pid = p->pid;
    const char *name = request == PTRACE_TRACEME  ? "PTRACE_TRACEME"
                       : request == PTRACE_ATTACH ? "PTRACE_ATTACH"
                                                  : "PTRACE_SEIZE";
    const char *cannot = why_not_now(s, p, request);
    if (cannot) {
        mt_warn("pid %d asks for %s on pid %d, which memtrace traces and cannot hand over: %s; "
                "the call fails with EPERM",
                caller_pid, name, pid, cannot);
        return 0;
    }
    bool own = p == th->proc;
    if (park_process(s, p) != 0)
        return -1;
    bool ended = p->end != END_RUNNING; /* killed meanwhile: nothing to hand over */
    int rc = ended ? 0 : detach_restore_process(s, p);
    park_end_detached(s);
    *caller_gone = own;
    if (rc != 0 || ended)
        return rc;
    if (own)
        mt_warn("pid %d is traced by its parent (%s); memtrace detached from it and no "
                "longer traces it",
                pid, name);
    else
        mt_warn("pid %d is traced by pid %d (%s); memtrace detached from it and no longer "
                "traces it",
                pid, caller_pid, name);
    return 0;
}
