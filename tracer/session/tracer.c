/* The event loop: every waitpid stop is classified (wait_event.c) and
 * dispatched here. Traps go to hooks.c; link-map changes to linkmap.c. */
#include "tracer.h"
#include "attach.h"
#include "attach_check.h"
#include "elf_file.h"
#include "live_view.h"
#include "mt_time.h"
#include "leak_roots.h"
#include "linkmap.h"
#include "map_hooks.h"
#include "ptrace_io.h"
#include "report.h"
#include "symbolizer.h"
#include "target_mem.h"
#include "wait_event.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEIZE_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
                       PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)

/* Owned by this module: where SIGTERM/SIGHUP sent to memtrace go (the
 * launched program), written before the handlers are installed. */
static volatile pid_t forward_to_pid;

static void forward_signal(int sig)
{
    /* kill() is async-signal-safe; the program decides what the signal means. */
    if (forward_to_pid > 0)
        kill(forward_to_pid, sig);
}

static int install_forwarding(pid_t pid)
{
    forward_to_pid = pid;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
        return -errno;
    /* Ctrl-C and Ctrl-\ reach the program from the terminal; memtrace stays
     * to write the report. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    return 0;
}

static int fail(struct tracer *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof(t->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* Finds PROGRAM the way execvp would, so errors are ours and precise. */
static int find_program(struct tracer *t, const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
    } else {
        const char *path = getenv("PATH");
        if (!path || !*path)
            path = "/usr/local/bin:/usr/bin:/bin";
        bool found = false;
        while (*path && !found) {
            size_t n = strcspn(path, ":");
            snprintf(out, len, "%.*s/%s", (int)n, n ? path : ".", name);
            struct stat st;
            found = stat(out, &st) == 0 && S_ISREG(st.st_mode);
            path += n + (path[n] == ':');
        }
        if (!found)
            return fail(t, "%s: program not found in PATH", name);
    }
    struct stat st;
    if (stat(out, &st) != 0)
        return fail(t, "%s: %s", out, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(t, "%s is not a regular file", out);
    if (access(out, X_OK) != 0)
        return fail(t, "%s is not executable: %s", out, strerror(errno));
    char why[512];
    if (elf_file_check_executable(out, why, sizeof(why)) != 0)
        return fail(t, "%s", why);
    return 0;
}

static struct thread *find_thread(const struct tracer *t, pid_t tid)
{
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        struct thread *th = process_find_thread(p, tid);
        if (th)
            return th;
    }
    return NULL;
}

struct process *tracer_main_process(const struct tracer *t)
{
    /* Newest first: the first match is the image the program ended in. */
    for (struct process *p = t->procs; p; p = p->next)
        if (p->pid == t->main_pid)
            return p;
    return NULL;
}

static void add_process(struct tracer *t, struct process *p)
{
    p->next = t->procs;
    t->procs = p;
}

static void report_live_error(void *arg, struct process *p, const struct alloc_error *err);
static void show_banner(struct tracer *t, struct process *p);

static int launch(struct tracer *t)
{
    char path[PATH_MAX];
    if (find_program(t, t->opt->target_argv[0], path, sizeof(path)) != 0)
        return -1;
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0)
        return fail(t, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return fail(t, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(errpipe[0]);
        /* Wait for the tracer to seize us, so tracing starts at exec. */
        raise(SIGSTOP);
        execv(path, t->opt->target_argv);
        int e = errno;
        if (write(errpipe[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    close(errpipe[1]);
    int status;
    if (waitpid(pid, &status, WSTOPPED) != pid || !WIFSTOPPED(status)) {
        close(errpipe[0]);
        return fail(t, "child %d did not stop before exec", pid);
    }
    int err = pt_seize(pid, SEIZE_OPTIONS);
    if (err) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        close(errpipe[0]);
        if (err == -EPERM)
            return fail(t, "ptrace not permitted: cannot trace pid %d (%s; check "
                        "/proc/sys/kernel/yama/ptrace_scope, seccomp or container policy)",
                        pid, strerror(-err));
        return fail(t, "cannot trace pid %d: %s", pid, strerror(-err));
    }
    t->main_pid = pid;
    struct process *p = process_create(pid, t->opt->target_argv);
    if (!p || !process_add_thread(p, pid)) {
        kill(pid, SIGKILL);
        close(errpipe[0]);
        return fail(t, "out of memory");
    }
    add_process(t, p);
    if ((err = install_forwarding(pid)) != 0) {
        kill(pid, SIGKILL);
        close(errpipe[0]);
        return fail(t, "sigaction: %s", strerror(-err));
    }
    kill(pid, SIGCONT);
    /* The exec error pipe is read only if the child exits before exec. */
    fcntl(errpipe[0], F_SETFL, O_NONBLOCK);
    t->trap.on_error_arg = t;
    return errpipe[0];
}

/* argv of a process from /proc/PID/cmdline (after exec). */
static char **read_cmdline(pid_t pid)
{
    char path[64], buf[8192];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    size_t count = 0;
    for (ssize_t i = 0; i < n; i++)
        count += buf[i] == '\0';
    if (buf[n - 1] != '\0')
        count++;
    char **argv = calloc(count + 1, sizeof(*argv));
    if (!argv)
        return NULL;
    size_t k = 0;
    for (char *s = buf; s < buf + n && k < count; s += strlen(s) + 1)
        argv[k++] = s;
    char **copy = calloc(count + 1, sizeof(*copy));
    for (size_t i = 0; copy && i < k; i++)
        copy[i] = strdup(argv[i]);
    free(argv);
    return copy;
}

static void replace_argv(struct process *p, char **argv)
{
    if (!argv)
        return;
    for (size_t i = 0; p->argv && p->argv[i]; i++)
        free(p->argv[i]);
    free(p->argv);
    p->argv = argv;
}

/* After the scratch pages are mapped: calls return through stubs unless
 * --return-traps asked for the trampoline (or the stubs could not be set up). */
static void setup_return_stubs(const struct tracer *t, struct process *p)
{
    if (t->opt->return_stubs)
        return_stubs_init(&p->stubs, p->scratch.stubs_code, p->scratch.stubs_data);
    else
        return_stubs_init(&p->stubs, 0, 0);
}

/* A new image in p (the first exec, or an exec that replaced an image). */
static int on_exec(struct tracer *t, struct thread *th)
{
    struct process *p = th->proc;
    pid_t pid = p->pid;
    if (p->untraced_child) {
        /* The new image has none of our bytes: let it go. */
        p->end = END_EXEC;
        while (p->threads)
            process_remove_thread(p, p->threads->tid);
        int err = pt_detach(pid, 0);
        return err && err != -ESRCH ? fail(t, "cannot detach pid %d: %s", pid, strerror(-err)) : 0;
    }
    if (p->exec_seen) {
        /* The old image's state is closed as it was at exec; a fresh record
         * follows the new one. */
        p->end = END_EXEC;
        struct process *np = process_create(pid, p->argv);
        if (!np)
            return fail(t, "out of memory");
        process_remove_thread(p, th->tid);
        while (p->threads)   /* the kernel has already reaped the others */
            process_remove_thread(p, p->threads->tid);
        if (!process_add_thread(np, pid))
            return fail(t, "out of memory");
        add_process(t, np);
        p = np;
    }
    replace_argv(p, read_cmdline(pid));
    p->exec_seen = true;
    show_banner(t, p);
    char why[1024];
    int err = inject_leave_syscall(pid);
    if (err)
        return fail(t, "pid %d: cannot stop after exec: %s", pid, strerror(-err));
    if (linkmap_read_auxv(p, why, sizeof(why)) != 0 ||
        scratch_map(&p->scratch, pid, p->at_entry,
                    /* A static program's allocator is in the executable; a
                     * dynamic one's is loaded next to ld.so, where the
                     * kernel puts the page by itself. */
                    p->at_base ? 0 : scratch_hint_near(p->at_entry), why, sizeof(why)) != 0 ||
        linkmap_attach(p, pid, why, sizeof(why)) != 0)
        return fail(t, "%s", why);
    setup_return_stubs(t, p);
    if (p->r_debug == 0) {
        int n = hooks_install(p, pid, why, sizeof(why));
        if (n < 0)
            return fail(t, "%s", why);
        p->hooks_ready = n > 0;
        if (n == 0)
            fprintf(stderr, "memtrace: warning: pid %d: no malloc found in the static program; "
                    "nothing will be traced\n", pid);
    }
    return 0;
}

static int on_rendezvous(struct tracer *t, struct process *p, pid_t tid)
{
    int state;
    char why[1024];
    if (linkmap_state(p, &state) != 0 || state != RT_CONSISTENT)
        return 0;
    int changes = linkmap_sync(p, why, sizeof(why));
    if (changes < 0)
        return fail(t, "%s", why);
    if (changes == 0 && p->hooks_ready)
        return 0;
    int n = hooks_install(p, tid, why, sizeof(why));
    if (n < 0)
        return fail(t, "%s", why);
    if (n > 0)
        p->hooks_ready = true;
    else if (!p->hook_warned) {
        p->hook_warned = true;
        fprintf(stderr, "memtrace: warning: pid %d: no malloc in any loaded module yet\n", p->pid);
    }
    return 0;
}

/* Lazy placement (placement.h): once its process has made
 * PLACEMENT_PIN_AFTER_TRAPS traps, a thread trapping while it is the
 * process's only thread moves to memtrace's CPU, memtrace pinning itself
 * first if it has not yet. */
static void place_busy_thread(struct tracer *t, struct thread *th)
{
    struct process *p = th->proc;
    if (!t->opt->pin || t->attached || p->placed)
        return;
    if (p->unplaced_traps < PLACEMENT_PIN_AFTER_TRAPS)
        p->unplaced_traps++;
    if (p->unplaced_traps < PLACEMENT_PIN_AFTER_TRAPS || p->threads != th || th->next)
        return;
    p->placed = true;
    int err = t->placement.cpu < 0 ? placement_pin_self(&t->placement) : 0;
    if (!err)
        err = placement_pin(&t->placement, th->tid);
    if (err && err != -ESRCH && !t->pin_warned) {
        t->pin_warned = true;
        fprintf(stderr, "memtrace: warning: cannot pin tid %d and memtrace to one CPU (%s); "
                "running unpinned\n", th->tid, strerror(-err));
    }
}

/* Calls that returned through their stubs since p's last trap take effect
 * first: any event now may depend on them (a free of their block). */
static int drain_returns(struct tracer *t, struct process *p, pid_t tid)
{
    int err = p->stubs.nused ? hooks_drain_returns(&t->trap, p, tid) : 0;
    return err == 0 || err == -ESRCH ? 0 : fail(t, "pid %d: reading the return stubs through "
                                                "tid %d: %s", p->pid, tid, strerror(-err));
}

static int on_trap(struct tracer *t, struct thread *th)
{
    struct process *p = th->proc;
    mt_regs regs;
    int err = pt_getregs(th->tid, &regs);
    if (err == -ESRCH)
        return 0;
    if (err)
        return fail(t, "GETREGS of tid %d: %s", th->tid, strerror(-err));
    if (drain_returns(t, p, th->tid) != 0)
        return -1;
    mt_addr at = regs_ip(&regs) - 1;
    const struct breakpoint *bp = NULL;
    if (p->scratch.base && at == p->scratch.trampoline) {
        t->stats.traps++;
        err = hooks_on_return(&t->trap, th, &regs);
    } else if ((bp = bp_find(&p->bps, at))) {
        t->stats.traps++;
        if (bp->role == BP_HOOK_ENTRY) {
            err = hooks_on_entry(&t->trap, th, bp, &regs);
        } else {
            t->stats.rendezvous_traps++;
            if (on_rendezvous(t, p, th->tid) != 0)
                return -1;
            /* bp may have moved while hooks were planted. */
            bp = bp_find(&p->bps, at);
            uint64_t stack_top = 0;
            struct stack_store store;
            if (bp->step.kind == STEP_RET && target_read_u64(th->tid, regs_sp(&regs), &stack_top))
                return fail(t, "cannot read the stack of tid %d", th->tid);
            emulate_step(&bp->step, &regs, at, stack_top, &store);
            if (store.valid)
                err = target_write(th->tid, store.addr, &store.value, sizeof(store.value));
        }
    } else {
        /* Not ours: the program's own int3 or a SIGTRAP sent to it. */
        err = pt_cont(th->tid, SIGTRAP);
        return err == -ESRCH || !err ? 0 : fail(t, "PTRACE_CONT tid %d: %s", th->tid, strerror(-err));
    }
    if (err == -ESRCH)
        return 0;
    if (err)
        return fail(t, "pid %d tid %d: handling the trap at 0x%" PRIxADDR " failed: %s", p->pid,
                    th->tid, at, strerror(-err));
    if (bp == NULL || bp->role == BP_HOOK_ENTRY)
        place_busy_thread(t, th);
    if ((err = pt_setregs(th->tid, &regs)) || (err = pt_cont(th->tid, 0)))
        return err == -ESRCH ? 0 : fail(t, "resuming tid %d: %s", th->tid, strerror(-err));
    return 0;
}

static void resume(pid_t tid, int sig)
{
    int err = pt_cont(tid, sig);
    if (err && err != -ESRCH)
        fprintf(stderr, "memtrace: warning: cannot resume tid %d: %s\n", tid, strerror(-err));
}

static bool take_early(struct tracer *t, pid_t tid)
{
    for (size_t i = 0; i < t->nearly; i++) {
        if (t->early_tids[i] == tid) {
            t->early_tids[i] = t->early_tids[--t->nearly];
            return true;
        }
    }
    return false;
}

/* Waits for a new tracee's first stop, unless it already arrived. */
static void await_first_stop(struct tracer *t, pid_t tid)
{
    if (take_early(t, tid))
        return;
    int status;
    while (pt_wait(tid, &status, 0) == -EINTR)
        ;
}

/* --no-follow-forks: the child of fork gets its memory back as it would be
 * without memtrace (original code bytes, real return addresses of the
 * forking thread's pending calls, no scratch page), then runs untraced. */
static int detach_clean(struct tracer *t, struct thread *parent_thread, pid_t child)
{
    struct process *p = parent_thread->proc;
    int err = 0;
    for (unsigned i = 0; i < parent_thread->npending && !err; i++) {
        const struct pending_call *c = &parent_thread->pending[i];
        err = target_write(child, c->entry_sp, &c->return_addr, sizeof(c->return_addr));
    }
    if (!err)
        err = bp_unplant_all(&p->bps, child);
    if (!err)
        err = inject_leave_syscall(child);
    struct scratch copy = p->scratch;
    if (!err)
        err = scratch_unmap(&copy, child, p->at_entry);
    int detach = pt_detach(child, 0);
    if (err || detach)
        return fail(t, "cannot release forked child %d of pid %d: %s", child, p->pid,
                    strerror(-(err ? err : detach)));
    return 0;
}

static int on_new_task(struct tracer *t, struct thread *th, enum wait_kind kind)
{
    unsigned long msg;
    int err = pt_geteventmsg(th->tid, &msg);
    if (err)
        return err == -ESRCH ? 0 : fail(t, "GETEVENTMSG tid %d: %s", th->tid, strerror(-err));
    pid_t child = (pid_t)msg;
    if (kind == WK_CLONE) {
        struct thread *nt = process_find_thread(th->proc, child);
        if (!nt && !(nt = process_add_thread(th->proc, child)))   /* attach may know it */
            return fail(t, "out of memory");
        /* Placement: a pinned thread shares memtrace's CPU; the threads it
         * creates may run anywhere, so a parallel program keeps its
         * parallelism (bench: 4 threads 55-62 us/pair released, 66-67
         * with every thread pinned; 1 thread 73-80 pinned, 98-107 not). */
        if (t->opt->pin && !t->attached) {
            int err = placement_release(&t->placement, child);
            if (err && err != -ESRCH)
                fprintf(stderr, "memtrace: warning: cannot unpin thread %d: %s\n", child,
                        strerror(-err));
        }
        if (take_early(t, child)) {
            if (t->parking)
                nt->parked = true;   /* its first stop, held */
            else
                resume(child, 0);
        }
        return 0;
    }
    /* Calls that returned through stubs leave the pending stacks (which
     * detach_clean undoes in the child), and the child's copy of the
     * allocation table must hold every block the parent's threads got. */
    if (drain_returns(t, th->proc, th->tid) != 0)
        return -1;
    if (!t->opt->follow_forks && kind == WK_FORK) {
        await_first_stop(t, child);
        return detach_clean(t, th, child);
    }
    struct process *np = process_fork(th->proc, child);
    if (!np || !process_add_thread(np, child))
        return fail(t, "out of memory following fork of pid %d", th->proc->pid);
    /* A vfork child runs in its parent's memory, whose stubs are the
     * parent's threads' to use: its calls return through the trampoline. */
    if (kind == WK_VFORK)
        return_stubs_init(&np->stubs, 0, 0);
    /* A vfork child shares its parent's memory, int3s included: it stays
     * traced until exec even when forks are not followed. */
    np->untraced_child = !t->opt->follow_forks;
    add_process(t, np);
    await_first_stop(t, child);
    resume(child, 0);
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
    while (p->threads)
        process_remove_thread(p, p->threads->tid);
}

/* PTRACE_EVENT_EXIT: the thread's registers are kept as scan roots; when it
 * is the last thread, the address space still exists and is scanned now. */
static void on_thread_exit(struct tracer *t, struct process *p, struct thread *th)
{
    /* The thread's own completed calls first: its record is gone once it is. */
    drain_returns(t, p, th->tid);
    th->exiting = true;
    th->has_exit_regs = pt_getregs(th->tid, &th->exit_regs) == 0;
    for (const struct thread *o = p->threads; o; o = o->next) {
        if (!o->exiting) {
            if (th->has_exit_regs)   /* not the last thread: its stack dies now */
                process_note_exited_sp(p, regs_sp(&th->exit_regs));
            return;
        }
    }
    int err = leak_roots_scan_process(p, th->tid, t->opt->heuristics);
    if (err)
        fprintf(stderr, "memtrace: warning: pid %d: leak scan failed: %s; blocks are reported "
                "as unfreed\n", p->pid, strerror(-err));
}

static bool anything_running(const struct tracer *t)
{
    for (struct process *p = t->procs; p; p = p->next)
        if (p->end == END_RUNNING)
            return true;
    return false;
}

static int dispatch(struct tracer *t, pid_t tid, int status, int errfd)
{
    struct wait_event ev = wait_event_classify(status);
    struct thread *th = find_thread(t, tid);
    if (!th) {
        if (ev.kind == WK_EXITED || ev.kind == WK_KILLED)
            return 0;   /* a thread of an image replaced by exec */
        /* A new task stops before running any instruction; it is resumed
         * when its parent's event tells which process it belongs to. */
        if (t->nearly == t->early_cap) {
            size_t cap = t->early_cap ? t->early_cap * 2 : 16;
            pid_t *p = realloc(t->early_tids, cap * sizeof(*p));
            if (!p)
                return fail(t, "out of memory holding new task %d", tid);
            t->early_tids = p;
            t->early_cap = cap;
        }
        t->early_tids[t->nearly++] = tid;
        return 0;
    }
    struct process *p = th->proc;
    switch (ev.kind) {
    case WK_EXITED:
    case WK_KILLED:
        if (tid == p->pid) {
            if (!p->exec_seen && tid == t->main_pid) {
                int e = 0;
                if (errfd >= 0 && read(errfd, &e, sizeof(e)) == (ssize_t)sizeof(e))
                    return fail(t, "cannot execute %s: %s", t->opt->target_argv[0], strerror(e));
            }
            on_process_end(p, &ev);
        } else {
            process_remove_thread(p, tid);
        }
        return 0;
    case WK_TRAP:
        return on_trap(t, th);
    case WK_EXEC: {
        bool detached = p->untraced_child;
        if (on_exec(t, th) != 0)
            return -1;
        if (!detached)
            resume(tid, 0);
        return 0;
    }
    case WK_CLONE:
    case WK_FORK:
    case WK_VFORK:
        if (on_new_task(t, th, ev.kind) != 0)
            return -1;
        resume(tid, 0);
        return 0;
    case WK_GROUP_STOP: {
        int err = pt_listen(tid);
        if (err && err != -ESRCH)
            return fail(t, "PTRACE_LISTEN tid %d: %s", tid, strerror(-err));
        return 0;
    }
    case WK_SIGNAL:
        resume(tid, ev.value);
        return 0;
    case WK_EXIT:
        on_thread_exit(t, p, th);
        resume(tid, 0);
        return 0;
    default:
        resume(tid, 0);
        return 0;
    }
}

static void report_live_error(void *arg, struct process *p, const struct alloc_error *err);

/* While threads are being parked, the stop that parks each one is held:
 * an interrupt stop, a group stop, or a new thread's first stop. */
static int park_or_dispatch(struct tracer *t, pid_t tid, int status, int errfd)
{
    struct wait_event ev = wait_event_classify(status);
    struct thread *th = find_thread(t, tid);
    if (th && !th->parked && (ev.kind == WK_EVENT_STOP || ev.kind == WK_GROUP_STOP)) {
        if (attach_trap_pending(th->proc, tid)) {
            /* It executed one of our int3s just before the interrupt: the
             * SIGTRAP must be taken (and handled) before it can be held,
             * or it would kill the process after detach. */
            th->reinterrupt = true;
            resume(tid, 0);
            return 0;
        }
        th->parked = true;
        th->group_stopped = ev.kind == WK_GROUP_STOP;
        return 0;
    }
    if (dispatch(t, tid, status, errfd) != 0)
        return -1;
    if ((th = find_thread(t, tid)) && th->reinterrupt && !th->parked) {
        th->reinterrupt = false;
        int err = pt_interrupt(tid);
        if (err && err != -ESRCH)
            return fail(t, "PTRACE_INTERRUPT tid %d: %s", tid, strerror(-err));
    }
    return 0;
}

/* Waits for one stop and handles it. */
static int handle_next(struct tracer *t, int errfd)
{
    int status;
    pid_t tid = pt_wait(-1, &status, 0);
    if (tid == -EINTR)
        return 0;
    if (tid < 0)
        return fail(t, "waitpid: %s", strerror(-tid));
    return t->parking ? park_or_dispatch(t, tid, status, errfd) : dispatch(t, tid, status, errfd);
}

static void init_tracer(struct tracer *t, const struct mt_options *opt, FILE *log)
{
    memset(t, 0, sizeof(*t));
    t->opt = opt;
    t->log = log;
    t->trap = (struct trap_ctx){
        .depth = opt->depth, .sample = opt->sample, .min_size = opt->min_size,
        .stats = &t->stats,
        .on_error = report_live_error, .on_error_arg = t,
    };
    /* attach never pins: the process's CPU affinity is its own. */
    placement_init(&t->placement);
}

int tracer_run(struct tracer *t, const struct mt_options *opt, FILE *log)
{
    init_tracer(t, opt, log);
    if (!(t->snap = t->trap.snap = malloc(sizeof(*t->snap))))
        return fail(t, "out of memory");
    int errfd = launch(t);
    if (errfd < 0)
        return -1;
    t->start_ns = mt_now_ns();
    int rc = 0;
    while (anything_running(t)) {
        if (handle_next(t, errfd) != 0) {
            rc = -1;
            break;
        }
    }
    t->end_ns = mt_now_ns();
    close(errfd);
    /* Only now is a segment's fate final: any traced process could have
     * removed it until the last one ended. */
    map_hooks_check_segments(t->procs);
    if (rc != 0) {
        /* Never leave a target running with our int3s in it. */
        for (struct process *p = t->procs; p; p = p->next)
            if (p->end == END_RUNNING)
                kill(p->pid, SIGKILL);
    }
    /* The program is gone: the report may use any CPU memtrace had. */
    placement_restore(&t->placement);
    return rc;
}

/* attach: what asked memtrace to stop, owned by this module and written
 * only by the handlers below. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void on_tick(int sig)
{
    (void)sig;   /* only interrupts waitpid, so deadlines and views are seen */
}

#define TICK_US 100000

/* SIGINT, SIGTERM and SIGHUP end the attach; SIGALRM every TICK_US wakes
 * the event loop. No SA_RESTART: they must interrupt waitpid. */
static int install_attach_signals(bool on)
{
    struct sigaction stop = { .sa_handler = on ? on_stop_signal : SIG_DFL };
    struct sigaction tick = { .sa_handler = on ? on_tick : SIG_DFL };
    sigemptyset(&stop.sa_mask);
    sigemptyset(&tick.sa_mask);
    struct itimerval timer = { .it_interval = { 0, on ? TICK_US : 0 },
                               .it_value = { 0, on ? TICK_US : 0 } };
    if (!on && setitimer(ITIMER_REAL, &timer, NULL) != 0)
        return -errno;
    if (sigaction(SIGINT, &stop, NULL) != 0 || sigaction(SIGTERM, &stop, NULL) != 0 ||
        sigaction(SIGHUP, &stop, NULL) != 0 || sigaction(SIGALRM, &tick, NULL) != 0)
        return -errno;
    if (on && setitimer(ITIMER_REAL, &timer, NULL) != 0)
        return -errno;
    return 0;
}

static bool thread_held(const struct thread *th)
{
    /* An exiting thread runs no more user code; a zombie leader never stops. */
    return th->parked || th->exiting;
}

static bool all_parked(const struct tracer *t)
{
    for (const struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        for (const struct thread *th = p->threads; th; th = th->next)
            if (!thread_held(th))
                return false;
    }
    return true;
}

/* Stops every thread of every running process and holds it. Other stops
 * that come first are handled as usual. */
static int park_all(struct tracer *t)
{
    t->parking = true;
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (thread_held(th))
                continue;
            int err = pt_interrupt(th->tid);
            if (err && err != -ESRCH)
                return fail(t, "PTRACE_INTERRUPT tid %d: %s", th->tid, strerror(-err));
        }
    }
    uint64_t since = mt_now_ns();
    bool warned = false;
    while (anything_running(t) && !all_parked(t)) {
        if (handle_next(t, -1) != 0)
            return -1;
        if (!warned && mt_now_ns() - since > 3000000000u) {
            warned = true;
            fprintf(stderr, "memtrace: waiting for threads to stop (uninterruptible sleep, or a "
                    "vfork parent waiting for its child?):");
            for (const struct process *p = t->procs; p; p = p->next)
                for (const struct thread *th = p->threads; p->end == END_RUNNING && th;
                     th = th->next)
                    if (!thread_held(th))
                        fprintf(stderr, " %d", th->tid);
            fputc('\n', stderr);
        }
    }
    return 0;
}

/* A thread of a stopped process that ran an injected system call is in a
 * SIGTRAP stop, from which PTRACE_LISTEN is refused: interrupted and
 * continued, it stops again reporting the group stop, and can listen. */
static int listen_in_group_stop(pid_t tid)
{
    int err = pt_listen(tid);
    if (err != -EIO)   /* the kernel's answer when the stop is not a group stop */
        return err;
    if ((err = pt_interrupt(tid)) || (err = pt_cont(tid, 0)))
        return err;
    for (;;) {
        struct wait_event ev;
        if ((err = pt_wait_stop(tid, &ev)))
            return err;
        if (ev.kind == WK_GROUP_STOP)
            return pt_listen(tid);
        if ((err = pt_cont(tid, ev.kind == WK_SIGNAL ? ev.value : 0)))
            return err;
    }
}

/* Lets every held thread go: group-stopped ones stay stopped (LISTEN). */
static int unpark_all(struct tracer *t)
{
    t->parking = false;
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (!th->parked)
                continue;
            int err = th->group_stopped ? listen_in_group_stop(th->tid) : pt_cont(th->tid, 0);
            if (err && err != -ESRCH)
                return fail(t, "resuming tid %d: %s", th->tid, strerror(-err));
            th->parked = false;
            th->group_stopped = false;
        }
    }
    return 0;
}

static pid_t any_live_thread(const struct process *p)
{
    for (const struct thread *th = p->threads; th; th = th->next)
        if (th->parked && !th->exiting)
            return th->tid;
    return 0;
}

/* With every thread parked: classify what is live (memory outside tracked
 * blocks is a root), then undo every change and detach. */
static int restore_and_detach(struct tracer *t)
{
    int rc = 0;
    char why[1024];
    for (struct process *p = t->procs; p; p = p->next) {
        pid_t tid = any_live_thread(p);
        if (p->end != END_RUNNING || p->untraced_child || !tid)
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (!th->parked || th->exiting)
                continue;
            int err = attach_finish_stub(th);
            if (err && err != -ESRCH && !rc)
                rc = fail(t, "cannot complete the return of tid %d of pid %d: %s", th->tid,
                          p->pid, strerror(-err));
            th->has_exit_regs = pt_getregs(th->tid, &th->exit_regs) == 0;
        }
        if (drain_returns(t, p, tid) != 0 && !rc)
            rc = -1;
        int err = leak_roots_scan_process(p, tid, t->opt->heuristics);
        if (err)
            fprintf(stderr, "memtrace: warning: pid %d: leak scan failed: %s; blocks are "
                    "reported as live\n", p->pid, strerror(-err));
    }
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        for (struct thread *th = p->threads; th; th = th->next) {
            if (!th->parked || th->exiting)
                continue;
            int err = attach_restore_thread(&t->trap, th);
            if (err && err != -ESRCH && !rc)
                rc = fail(t, "cannot restore tid %d of pid %d: %s", th->tid, p->pid,
                          strerror(-err));
        }
    }
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        if (attach_restore_memory(p, p->untraced_child, why, sizeof(why)) != 0 && !rc)
            rc = fail(t, "%s", why);
    }
    for (struct process *p = t->procs; p; p = p->next) {
        if (p->end != END_RUNNING)
            continue;
        int err = attach_detach_threads(p);
        if (err && !rc)
            rc = fail(t, "cannot detach from pid %d: %s", p->pid, strerror(-err));
        p->end = END_DETACHED;
        p->end_ns = t->end_ns;
        while (p->threads)
            process_remove_thread(p, p->threads->tid);
    }
    return rc;
}

/* Maps the scratch page, reads the link map and plants the hooks, with
 * every thread of p parked. */
static int install_in_live_process(struct tracer *t, struct process *p)
{
    char why[1024];
    pid_t tid = any_live_thread(p);
    if (!tid)
        return fail(t, "pid %d has no thread left", p->pid);
    replace_argv(p, read_cmdline(p->pid));
    if (linkmap_read_auxv(p, why, sizeof(why)) != 0 ||
        scratch_map(&p->scratch, tid, p->at_entry,
                    p->at_base ? 0 : scratch_hint_near(p->at_entry), why, sizeof(why)) != 0 ||
        linkmap_attach(p, tid, why, sizeof(why)) != 0)
        return fail(t, "%s", why);
    setup_return_stubs(t, p);
    if (p->r_debug && linkmap_sync(p, why, sizeof(why)) < 0)
        return fail(t, "%s", why);
    int n = hooks_install(p, tid, why, sizeof(why));
    if (n < 0)
        return fail(t, "%s", why);
    if (n == 0)
        return fail(t, "pid %d: no malloc found in %s or its libraries: nothing to trace",
                    p->pid, p->argv && p->argv[0] ? p->argv[0] : "the program");
    p->hooks_ready = true;
    p->exec_seen = true;
    return 0;
}

int tracer_attach(struct tracer *t, const struct mt_options *opt, FILE *log)
{
    init_tracer(t, opt, log);
    if (!(t->snap = t->trap.snap = malloc(sizeof(*t->snap))))
        return fail(t, "out of memory");
    char why[1024];
    pid_t pid;
    if (attach_check(opt->attach_pid, &pid, why, sizeof(why)) != 0)
        return fail(t, "%s", why);
    char *argv[] = { (char *)opt->attach_pid, NULL };
    struct process *p = process_create(pid, argv);
    if (!p)
        return fail(t, "out of memory");
    p->model.untracked_ok = true;
    p->attached = true;
    add_process(t, p);
    t->main_pid = pid;
    t->attached = true;
    t->view = live_view_create(opt->top);
    if (!t->view)
        return fail(t, "out of memory");
    stop_signal = 0;
    int err = install_attach_signals(true);
    if (err)
        return fail(t, "cannot install signal handlers: %s", strerror(-err));
    /* From the first seize on, every way out goes through restore_and_detach. */
    int rc = attach_seize_threads(p, why, sizeof(why)) != 0 ? fail(t, "%s", why) : 0;
    bool nothing_seized = p->threads == NULL;
    if (rc == 0 && park_all(t) == 0 && anything_running(t)) {
        rc = install_in_live_process(t, p);
        if (rc == 0) {
            show_banner(t, p);
            fprintf(t->log, "==%d== attached to pid %d (%s threads): tracking allocations from "
                    "now on\n", pid, pid, "all its");
            fflush(t->log);
            rc = unpark_all(t);
        }
    } else if (rc == 0) {
        rc = anything_running(t) ? -1 : fail(t, "pid %d ended while memtrace attached", pid);
    }
    t->start_ns = mt_now_ns();
    uint64_t deadline = opt->duration_ms ? t->start_ns + opt->duration_ms * 1000000u : 0;
    uint64_t next_view = opt->interval_ms ? t->start_ns + opt->interval_ms * 1000000u : 0;
    uint64_t next_status = isatty(STDERR_FILENO) ? t->start_ns + 1000000000u : 0;
    while (rc == 0 && anything_running(t) && !stop_signal) {
        uint64_t now = mt_now_ns();
        if (deadline && now >= deadline)
            break;
        if (next_view && now >= next_view) {
            struct report_process rp = tracer_report_view(p, REPORT_DEFAULT_KINDS);
            live_view_status_clear(t->view, stderr);
            live_view_print(t->view, stderr, &rp, now, now - t->start_ns);
            next_view = now + opt->interval_ms * 1000000u;
        }
        if (next_status && now >= next_status) {
            struct report_process rp = tracer_report_view(p, REPORT_DEFAULT_KINDS);
            live_view_status(t->view, stderr, &rp, now, now - t->start_ns);
            next_status = now + 1000000000u;
        }
        if (handle_next(t, -1) != 0)
            rc = -1;
    }
    live_view_status_clear(t->view, stderr);
    t->end_ns = mt_now_ns();
    if (!nothing_seized && anything_running(t)) {
        /* Also after an error: leaving our int3s in a live process would
         * kill it at its next malloc. */
        char first_error[sizeof(t->error)];
        snprintf(first_error, sizeof(first_error), "%s", t->error);
        int park = park_all(t);
        int restore = anything_running(t) ? restore_and_detach(t) : 0;
        if (rc == 0 && (park || restore))
            rc = -1;
        else if (rc != 0)
            snprintf(t->error, sizeof(t->error), "%s", first_error);
        if (park || restore)
            fprintf(stderr, "memtrace: error: pid %d may not be fully restored: %s\n", pid,
                    t->error);
    }
    map_hooks_check_segments(t->procs);
    install_attach_signals(false);
    return rc;
}

void tracer_destroy(struct tracer *t)
{
    while (t->procs) {
        struct process *p = t->procs;
        t->procs = p->next;
        process_destroy(p);
    }
    free(t->snap);
    t->snap = NULL;
    free(t->early_tids);
    t->early_tids = NULL;
    live_view_destroy(t->view);
    t->view = NULL;
    placement_destroy(&t->placement);
}

static unsigned resolve_frames(void *ctx, uint32_t stack, mt_addr ip,
                               const struct sym_frame_ext **out)
{
    /* Every recorded frame is a return address: look up the call, ip - 1,
     * in the module list of when the stack was taken (ids grow with time). */
    return symbolizer_lookup(ctx, ip, symbolizer_generation_at(ctx, stack), true, out);
}

static const char *end_name(enum process_end e)
{
    switch (e) {
    case END_EXITED: return "exited";
    case END_SIGNALED: return "signaled";
    case END_EXEC: return "exec";
    case END_DETACHED: return "detached";
    default: return "running";
    }
}

struct report_process tracer_report_view(const struct process *p, unsigned show_kinds)
{
    return (struct report_process){
        .pid = p->pid, .argv = p->argv, .end = end_name(p->end), .exit_code = p->exit_code,
        .attached = p->attached, .end_ns = p->end_ns,
        .signal = p->signal, .core_dumped = p->core_dumped, .model = &p->model,
        .scan = p->scan, .show_kinds = show_kinds, .stacks = &p->stacks,
        .maps = &p->maps, .shms = &p->shms,
        .resolve_frames = resolve_frames, .resolve_ctx = p->symbolizer,
    };
}

/* Bad frees are reported as they happen, like Valgrind does. */
static struct report_process live_view(struct process *p)
{
    return tracer_report_view(p, REPORT_DEFAULT_KINDS);
}

static void show_banner(struct tracer *t, struct process *p)
{
    if (p->banner_shown)
        return;
    struct report_process rp = live_view(p);
    report_text_banner(t->log, &rp);
    fflush(t->log);
    p->banner_shown = true;
}

static void report_live_error(void *arg, struct process *p, const struct alloc_error *err)
{
    struct tracer *t = arg;
    live_view_status_clear(t->view, stderr);
    show_banner(t, p);
    struct report_process rp = live_view(p);
    report_text_error(t->log, &rp, err);
}
