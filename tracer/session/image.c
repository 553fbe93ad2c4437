/* Setting up a process image: after an exec (launch or a traced process's
 * own exec) and when attaching to a live process: the scratch pages, the
 * link map, the return stubs and the hooks; then every link-map change. */
#include "session_internal.h"
#include "diag.h"
#include "linkmap.h"
#include "procfs.h"
#include "inject.h"
#include "ptrace_io.h"
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The set-up every image gets, through a stopped thread tid: its auxv, the
 * scratch pages, the link map's address and the return stubs (unless
 * --return-traps asked for the trampoline). */
static int image_setup(struct session *s, struct process *p, pid_t tid)
{
    char why[1024];
    /* A new address space, still dumpable: memory access that survives the
     * program making itself non-dumpable later (remote.h). */
    process_reopen_proc_files(p);
    process_replace_argv(p, procfs_cmdline(p->pid));
    if (linkmap_read_auxv(p, why, sizeof(why)) != 0 ||
        scratch_map(&p->scratch, tid, p->at_entry,
                    /* A static program's allocator is in the executable; a
                     * dynamic one's is loaded next to ld.so, where the
                     * kernel puts the page by itself. */
                    p->at_base ? 0 : scratch_hint_near(p->at_entry), why, sizeof(why)) != 0 ||
        linkmap_attach(p, tid, why, sizeof(why)) != 0)
        return session_fail(s, "%s", why);
    if (s->opt->return_stubs)
        return_stubs_init(&p->stubs, p->scratch.stubs_code, p->scratch.stubs_data);
    else
        return_stubs_init(&p->stubs, 0, 0);
    return 0;
}

/* --fast: once p's allocator is hooked, its entry points move from int3s
 * to the stub (every thread of p is stopped: the only one of a new image,
 * or all of them parked by attach). Where that fails, p keeps its traps. */
static void image_go_fast(struct session *s, struct process *p, pid_t tid)
{
    if (!s->opt->fast || p->fast_ring.region || !p->hooks_ready)
        return;
    char why[512];
    struct fast_settings set = { .depth = s->opt->depth, .ring_records = s->opt->fast_ring,
                                 .defer_frees = s->opt->command != CMD_ATTACH,
                                 .long_lived = s->opt->command == CMD_ATTACH,
                                 .link_map_on_stub = s->opt->command == CMD_ATTACH };
    int n = hooks_fast_install(p, tid, &set, why, sizeof(why));
    if (n < 0) {
        mt_warn("--fast is not available for pid %d (%s); its allocator calls trap", p->pid, why);
        return;
    }
    /* memtrace is now the reader every thread of p waits for when the ring
     * is full. Unprivileged, it goes on at the priority it has. */
    int err = placement_boost_self(&s->placement);
    if (err && err != -EPERM && err != -EACCES)
        mt_warn("cannot raise memtrace's priority: %s", strerror(-err));
    /* A stopped thread inside the bytes a jump replaced resumes at the same
     * instruction of the relocated copy. */
    for (struct thread *th = p->threads; th; th = th->next) {
        mt_regs regs;
        if (!(th->parked || th->stopped) || th->exiting || pt_getregs(th->tid, &regs) != 0)
            continue;
        mt_addr ip = fast_patches_move_ip(&p->fast_patches, regs_ip(&regs), true);
        if (ip != regs_ip(&regs)) {
            regs_set_ip(&regs, ip);
            if (pt_setregs(th->tid, &regs) != 0)
                mt_warn("pid %d: cannot move tid %d out of a patched prologue", p->pid, th->tid);
        }
    }
}

/* Under a user shadow stack (x86 CET) a return that does not go back to
 * its call site is a control-protection fault: the process dies. The
 * default mode sends the returns of allocation functions through memtrace
 * (return stubs, the trampoline); --fast's stubs call the function and
 * return where they were called from. So p is traced only when every
 * function whose result memtrace reads is on a stub. */
static int refuse_shadow_stack(struct session *s, const struct process *p)
{
    if (!procfs_shadow_stack(p->pid, 0))
        return 0;
    for (size_t i = 0; i < p->bps.n; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        enum alloc_fn fn = (enum alloc_fn)bp->tag;
        if (bp->role != BP_HOOK_ENTRY || alloc_fn_is_watch_point(fn) || !alloc_fn_needs_return(fn))
            continue;
        return session_fail(s, "pid %d runs with a shadow stack (x86_Thread_features: shstk), "
                            "which forbids the return redirection %s needs%s", p->pid,
                            alloc_fn_name(fn),
                            s->opt->fast ? ": --fast could not move it to a stub"
                                         : "; trace it with --fast");
    }
    return 0;
}

/* Whether p's malloc carries an entry hook. */
static bool malloc_hooked(const struct process *p)
{
    for (size_t i = 0; i < p->bps.n; i++)
        if (p->bps.items[i].role == BP_HOOK_ENTRY && p->bps.items[i].tag == FN_MALLOC)
            return true;
    return fast_patches_of(&p->fast_patches, FN_MALLOC) != NULL;
}

/* Once per image: a process that allocates through a malloc memtrace did
 * not hook would show nothing, and must not look like a program that
 * allocates nothing. The program run names is refused (nothing of it
 * would be traced); a later image (a child's exec) is warned about and
 * runs on untraced. Returns -1 with s->error set when refused. */
static int check_malloc_hooked(struct session *s, struct process *p)
{
    if (p->hook_warned || malloc_hooked(p))
        return 0;
    p->hook_warned = true;
    const char *image = p->modules.n > 0 && p->modules.items[0].present
                            ? p->modules.items[0].path
                            : (p->argv && p->argv[0] ? p->argv[0] : "the program");
    if (!s->attached && p->pid == s->main_pid && !p->next) {
        s->program_refused = true;
        return session_fail(s, "pid %d: no allocator found in %s%s (searched its symbol "
                            "tables, and separate debug files for a static program, for malloc, "
                            "C++'s operator new, jemalloc's mallocx, tcmalloc's tc_malloc and "
                            "mimalloc's mi_malloc): nothing to trace", p->pid, image,
                            p->r_debug ? " or its libraries" : "");
    }
    mt_warn("pid %d: no malloc found in %s%s; its allocations are not traced", p->pid, image,
            p->r_debug ? " or its libraries" : "");
    return 0;
}

/* The credential a set-ID file gives and the one the process has. */
static bool status_id_differs(pid_t pid, const char *key, unsigned file_id)
{
    char ids[128];
    unsigned real, effective;
    return procfs_status_field(pid, 0, key, ids, sizeof(ids)) == 0 &&
           sscanf(ids, "%u %u", &real, &effective) == 2 && effective != file_id;
}

/* The kernel ignores the set-user-ID and set-group-ID bits of a program
 * whose tracer has no privilege over the credentials they give: traced by
 * an unprivileged memtrace, such a program runs as its caller, and may
 * fail in ways it never does natively. Said once per exec. */
static void warn_setid_ignored(pid_t pid)
{
    struct stat st;
    bool nosuid;
    if (procfs_exe_stat(pid, &st, &nosuid) != 0 || nosuid)
        return;   /* nosuid: natively unprivileged too */
    bool uid = (st.st_mode & S_ISUID) && status_id_differs(pid, "Uid", st.st_uid);
    /* Set-group-ID without group execute is mandatory locking, not a privilege. */
    bool gid = (st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP) &&
               status_id_differs(pid, "Gid", st.st_gid);
    if (!uid && !gid)
        return;
    char path[PATH_MAX];
    if (procfs_exe(pid, path, sizeof(path)) != 0)
        snprintf(path, sizeof(path), "its program");
    mt_warn("pid %d: %s is %s; traced, it runs without its privileges", pid, path,
            uid && gid ? "set-user-ID and set-group-ID" : uid ? "set-user-ID" : "set-group-ID");
}

/* Whether s matches one glob of a comma-separated list (Valgrind's
 * --trace-children-skip syntax). */
static bool matches_any(const char *patterns, const char *s)
{
    char pat[PATH_MAX];
    for (const char *p = patterns; p && *p; p += *p == ',') {
        size_t len = strcspn(p, ",");
        if (len < sizeof(pat)) {
            memcpy(pat, p, len);
            pat[len] = '\0';
            if (fnmatch(pat, s, 0) == 0)
                return true;
        }
        p += len;
    }
    return false;
}

/* Which of Valgrind's child controls keeps an exec untraced, or NULL when
 * it is followed: --trace-children=no, --trace-children-skip (the file
 * name execve was given, or its base name) or --trace-children-skip-by-arg
 * (any element of the new argv). */
static const char *exec_not_followed(const struct mt_options *o, const char *program,
                                     char *const *argv)
{
    if (!o->trace_children)
        return "--trace-children=no";
    if (o->skip_exe && *program) {
        const char *base = strrchr(program, '/');
        if (matches_any(o->skip_exe, program) || (base && matches_any(o->skip_exe, base + 1)))
            return "--trace-children-skip";
    }
    for (size_t i = 0; o->skip_arg && argv && argv[i]; i++)
        if (matches_any(o->skip_arg, argv[i]))
            return "--trace-children-skip-by-arg";
    return NULL;
}

/* An exec that is not followed: the old image's record ends at exec, and
 * the new image, which holds none of memtrace's bytes (no int3, no scratch
 * page, no stub: the old address space is gone), runs on untraced, and so
 * does all it forks. */
static int exec_hand_over(struct session *s, struct process *p)
{
    pid_t pid = p->pid;
    p->end = END_EXEC;
    p->exec_untraced = true;
    process_release(p);
    if (pid == s->main_pid)
        s->main_untraced = true;
    /* The affinity of a pinned image outlives exec: the new program gets
     * every CPU it may use. */
    if (s->opt->pin && !s->attached) {
        int err = placement_release(&s->placement, pid);
        if (err && err != -ESRCH)
            mt_warn("cannot unpin pid %d: %s", pid, strerror(-err));
    }
    int err = pt_detach(pid, 0);
    return err && err != -ESRCH ? session_fail(s, "cannot detach pid %d at its exec of %s: %s",
                                               pid, p->exec_program ? p->exec_program : "a program",
                                               strerror(-err))
                                : 0;
}

/* The program an exec ran: the file name execve was given, else the
 * executable's path; "" when neither can be read (the process is dying). */
static void exec_program(pid_t pid, char *out, size_t len)
{
    if (procfs_exec_filename(pid, out, len) != 0 && procfs_exe(pid, out, len) != 0)
        out[0] = '\0';
}

/* A new image in p (the first exec, or an exec that replaced an image). */
int image_on_exec(struct session *s, struct thread *th, bool *detached)
{
    struct process *p = th->proc;
    pid_t pid = p->pid;
    *detached = false;
    if (p->untraced_child) {
        /* The new image has none of our bytes: let it go. */
        p->end = END_EXEC;
        process_release(p);
        *detached = true;
        int err = pt_detach(pid, 0);
        return err && err != -ESRCH ? session_fail(s, "cannot detach pid %d: %s", pid, strerror(-err))
                                    : 0;
    }
    if (p->exec_seen) {
        char program[PATH_MAX];
        exec_program(pid, program, sizeof(program));
        if (*program && !(p->exec_program = strdup(program)))
            return session_fail(s, "out of memory");
        char **argv = procfs_cmdline(pid);
        const char *why = exec_not_followed(s->opt, program, argv);
        for (size_t i = 0; argv && argv[i]; i++)
            free(argv[i]);
        free(argv);
        if (why) {
            *detached = true;
            return exec_hand_over(s, p);
        }
        /* The old image's state is closed as it was at exec; a fresh record
         * follows the new one. */
        p->end = END_EXEC;
        process_close_proc_files(p);
        struct process *np = process_create(pid, p->argv);
        if (!np)
            return session_fail(s, "out of memory");
        /* th goes with its process's threads (the kernel has already
         * reaped the others). */
        process_release(p);
        if (!process_add_thread(np, pid))
            return session_fail(s, "out of memory");
        session_add_process(s, np);
        p = np;
    }
    p->exec_seen = true;
    int err = inject_leave_syscall(pid);
    if (err)
        return session_fail(s, "pid %d: cannot stop after exec: %s", pid, strerror(-err));
    if (image_setup(s, p, pid) != 0)
        return -1;
    warn_setid_ignored(pid);
    report_view_banner(s, p);
    if (p->r_debug == 0) {
        char why[1024];
        int n = hooks_install(p, pid, why, sizeof(why));
        if (n < 0)
            return session_fail(s, "%s", why);
        p->hooks_ready = n > 0;
        if (check_malloc_hooked(s, p) != 0)
            return -1;
        image_go_fast(s, p, pid);
        return refuse_shadow_stack(s, p);
    }
    return 0;
}

int image_on_rendezvous(struct session *s, struct process *p, pid_t tid)
{
    int state;
    char why[1024];
    if (linkmap_state(p, &state) != 0 || state != RT_CONSISTENT)
        return 0;
    int changes = linkmap_sync(p, why, sizeof(why));
    if (changes < 0)
        return session_fail(s, "%s", why);
    if (changes == 0 && p->hooks_ready)
        return 0;
    int n = hooks_install(p, tid, why, sizeof(why));
    if (n < 0)
        return session_fail(s, "%s", why);
    if (n > 0)
        p->hooks_ready = true;
    if (check_malloc_hooked(s, p) != 0)
        return -1;
    image_go_fast(s, p, tid);
    guardian_watch(&s->guardian, p);
    return refuse_shadow_stack(s, p);
}

/* Maps the scratch page, reads the link map and plants the hooks, with
 * every thread of p parked. */
int image_install_live(struct session *s, struct process *p)
{
    pid_t tid = park_any_live_thread(p);
    if (!tid)
        return session_fail(s, "pid %d has no thread left", p->pid);
    if (image_setup(s, p, tid) != 0)
        return -1;
    char why[1024];
    if (p->r_debug && linkmap_sync(p, why, sizeof(why)) < 0)
        return session_fail(s, "%s", why);
    int n = hooks_install(p, tid, why, sizeof(why));
    if (n < 0)
        return session_fail(s, "%s", why);
    if (n == 0)
        return session_fail(s, "pid %d: no malloc found in %s or its libraries: nothing to trace",
                            p->pid, p->argv && p->argv[0] ? p->argv[0] : "the program");
    if (check_malloc_hooked(s, p) != 0)
        return -1;
    p->hooks_ready = true;
    p->exec_seen = true;
    image_go_fast(s, p, tid);
    guardian_watch(&s->guardian, p);
    return refuse_shadow_stack(s, p);
}
