/* Following new tasks: threads join their process; fork and vfork children
 * get a process record of their own (a copy of the parent's blocks), or
 * with --no-follow-forks their memory back and no tracer. */
#include "session_internal.h"
#include "diag.h"
#include "inject.h"
#include "ptrace_io.h"
#include "remote.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "grow.h"

int fork_hold_early(struct session *s, pid_t tid)
{
    pid_t *held = mt_grow(s->early_tids, &s->early_cap, s->n_early + 1, sizeof(*held));
    if (!held)
        return session_fail(s, "out of memory holding new task %d", tid);
    s->early_tids = held;
    s->early_tids[s->n_early++] = tid;
    return 0;
}

static bool take_early(struct session *s, pid_t tid)
{
    for (size_t i = 0; i < s->n_early; i++) {
        if (s->early_tids[i] == tid) {
            s->early_tids[i] = s->early_tids[--s->n_early];
            return true;
        }
    }
    return false;
}

/* Waits for a new tracee's first stop, unless it already arrived. */
static void await_first_stop(struct session *s, pid_t tid)
{
    if (take_early(s, tid))
        return;
    int status;
    while (pt_wait(tid, &status, 0) == -EINTR)
        ;
}

/* --no-follow-forks: the child of fork gets its memory back as it would be
 * without memtrace (original code bytes, real return addresses of the
 * forking thread's pending calls, no scratch page), then runs untraced. */
static int release_forked_child(struct session *s, struct thread *parent_thread, pid_t child)
{
    struct process *p = parent_thread->proc;
    int err = 0;
    for (unsigned i = 0; i < parent_thread->npending && !err; i++) {
        const struct pending_call *c = &parent_thread->pending[i];
        err = remote_write(&remote_ptrace, child, c->entry_sp, &c->return_addr, sizeof(c->return_addr));
    }
    if (!err)
        err = bp_unplant_all(&p->bps, &remote_ptrace, child);
    struct fast_patches fast = p->fast_patches;
    if (!err)
        err = fast_patches_restore(&fast, &remote_ptrace, child);
    if (!err)
        err = inject_leave_syscall(child);
    /* The stub region and the parent's ring, which the child inherited. */
    struct fast_ring ring = { .region = p->fast_ring.region, .ring = p->fast_ring.ring,
                              .ring_bytes = p->fast_ring.ring_bytes };
    if (!err && ring.region)
        err = fast_ring_remove(&ring, child, p->scratch.syscall_gadget, 0);
    struct scratch copy = p->scratch;
    if (!err)
        err = scratch_unmap(&copy, child, p->at_entry);
    int detach = pt_detach(child, 0);
    if (err || detach)
        return session_fail(s, "cannot release forked child %d of pid %d: %s", child, p->pid,
                    strerror(-(err ? err : detach)));
    return 0;
}

/* --fast: the child of fork inherited the stubs with its control page
 * wiped, so they pass its calls through until it has a ring of its own. */
static void fast_follow_child(struct session *s, struct process *child,
                              const struct process *parent, pid_t tid)
{
    char why[512] = "";
    struct fast_settings set = { .depth = s->opt->depth, .ring_records = s->opt->fast_ring,
                                 .defer_frees = s->opt->command != CMD_ATTACH,
                                 .long_lived = s->opt->command == CMD_ATTACH,
                                 .link_map_on_stub = s->opt->command == CMD_ATTACH };
    int err = inject_leave_syscall(tid);
    if (!err)
        err = hooks_fast_child(child, parent, tid, &set, why, sizeof(why));
    if (err)
        mt_warn("pid %d: no --fast ring for this child of fork (%s): its allocator calls are "
                "not seen", tid, why[0] ? why : strerror(-err));
}

int fork_on_new_task(struct session *s, struct thread *th, enum wait_kind kind)
{
    unsigned long msg;
    int err = pt_geteventmsg(th->tid, &msg);
    if (err)
        return err == -ESRCH ? 0 : session_fail(s, "GETEVENTMSG tid %d: %s", th->tid, strerror(-err));
    pid_t child = (pid_t)msg;
    if (kind == WK_CLONE) {
        struct thread *nt = process_find_thread(th->proc, child);
        if (!nt && !(nt = process_add_thread(th->proc, child)))   /* attach may know it */
            return session_fail(s, "out of memory");
        /* Placement: a pinned thread shares memtrace's CPU; the threads it
         * creates may run anywhere, so a parallel program keeps its
         * parallelism (bench: 4 threads 55-62 us/pair released, 66-67
         * with every thread pinned; 1 thread 73-80 pinned, 98-107 not). */
        if (s->opt->pin && !s->attached) {
            int unpin_err = placement_release(&s->placement, child);
            if (unpin_err && unpin_err != -ESRCH)
                mt_warn("cannot unpin thread %d: %s", child,
                        strerror(-unpin_err));
        }
        if (take_early(s, child)) {
            if (park_includes(s, th->proc))
                nt->parked = true;   /* its first stop, held */
            else
                return session_resume(s, child, 0);
        }
        return 0;
    }
    /* Calls that returned through stubs leave the pending stacks (which
     * release_forked_child undoes in the child), and the child's copy of the
     * allocation table must hold every block the parent's threads got. */
    if (session_drain_returns(s, th->proc, th->tid) != 0)
        return -1;
    if (!s->opt->follow_forks && kind == WK_FORK) {
        await_first_stop(s, child);
        return release_forked_child(s, th, child);
    }
    struct process *np = process_fork(th->proc, child);
    if (!np || !process_add_thread(np, child))
        return session_fail(s, "out of memory following fork of pid %d", th->proc->pid);
    np->fork_image = true;
    /* A vfork child runs in its parent's memory, whose stubs are the
     * parent's threads' to use: its calls return through the trampoline.
     * Its heap is the parent's too (dash allocates in a vfork child and
     * frees in the parent): its calls change the parent's blocks, and its
     * own record holds none. */
    if (kind == WK_VFORK) {
        return_stubs_init(&np->stubs, 0, 0);
        np->vfork_parent = th->proc;
        np->vfork_child = true;
        alloc_model_destroy(&np->model);
        if (alloc_model_init(&np->model) != 0) {
            process_destroy(np);
            return session_fail(s, "out of memory following vfork of pid %d", th->proc->pid);
        }
    }
    /* A vfork child shares its parent's memory, int3s included: it stays
     * traced until exec even when forks are not followed. */
    np->untraced_child = !s->opt->follow_forks;
    session_add_process(s, np);
    await_first_stop(s, child);
    if (kind == WK_FORK && th->proc->fast_ring.ring) {
        if (th->proc->fast_ring.local) {
            fast_follow_child(s, np, th->proc, child);
        } else {
            /* Forked while memtrace leaves (it reads the parent's ring no
             * more): the child's stubs stay off, its control page wiped;
             * the parent's ring it inherited goes at detach. */
            np->fast_ring.ring = th->proc->fast_ring.ring;
            np->fast_ring.ring_bytes = th->proc->fast_ring.ring_bytes;
        }
    }
    return session_resume(s, child, 0);
}
