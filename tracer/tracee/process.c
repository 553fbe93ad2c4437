/* Process and thread records. */
#include "process.h"
#include "procfs.h"
#include "grow.h"
#include "elf_file.h"
#include "leak_scan.h"
#include "symbolizer.h"
#include "unwind.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/resource.h>

static void free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

void process_replace_argv(struct process *p, char **argv)
{
    if (!argv)
        return;
    free_argv(p->argv);
    p->argv = argv;
}

static char **copy_argv(char *const *argv)
{
    size_t n = 0;
    while (argv && argv[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(argv[i]);
        if (!out[i]) {
            free_argv(out);
            return NULL;
        }
    }
    return out;
}

/* Memory as the program's own code sees it: original bytes under int3s. */
static int read_original(void *ctx, pid_t tid, mt_addr addr, void *buf, size_t len)
{
    const struct process *p = ctx;
    return bp_read_code(&p->bps, p->remote, tid, addr, buf, len);
}

/* For the unwinder's per-module cache of unwind tables. */
static bool module_range(void *ctx, mt_addr ip, mt_addr *lo, mt_addr *hi, const char **path)
{
    const struct module *m = modules_at(&((const struct process *)ctx)->modules, ip);
    if (!m)
        return false;
    *lo = m->lo;
    *hi = m->hi;
    *path = m->path;
    return true;
}

struct process *process_create(pid_t pid, char *const *argv)
{
    struct process *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->pid = pid;
    p->maps_fd = -1;
    if (remote_ptrace_init(&p->own_remote) != 0) {
        free(p);
        return NULL;
    }
    p->remote = &p->own_remote;
    process_reopen_proc_files(p);
    p->argv = copy_argv(argv);
    bp_table_init(&p->bps);
    map_table_init(&p->maps);
    shm_table_init(&p->shms);
    if (!p->argv || alloc_model_init(&p->model) != 0 || stack_intern_init(&p->stacks) != 0) {
        process_destroy(p);
        return NULL;
    }
    p->unwinder = unwinder_create(pid, read_original, module_range, p);
    frame_rules_init(&p->frame_rules);
    p->symbolizer = symbolizer_create();
    if (!p->unwinder || !p->symbolizer) {
        process_destroy(p);
        return NULL;
    }
    return p;
}

void process_destroy(struct process *p)
{
    if (!p)
        return;
    while (p->threads)
        process_remove_thread(p, p->threads->tid);
    modules_destroy(&p->modules);
    process_close_proc_files(p);
    remote_ptrace_close(&p->own_remote);
    free_argv(p->argv);
    bp_table_destroy(&p->bps);
    alloc_model_destroy(&p->model);
    map_table_destroy(&p->maps);
    shm_table_destroy(&p->shms);
    stack_intern_destroy(&p->stacks);
    heap_census_destroy(&p->census);
    free(p->tracing_error);
    free(p->exec_program);
    if (p->unwinder)
        unwinder_destroy(p->unwinder);
    frame_rules_destroy(&p->frame_rules);
    process_drop_scan(p);
    free(p->exited_sps);
    free(p->fast_reallocs);
    free(p->fast_unqueued);
    hook_list_destroy(&p->hooks_seen);
    if (p->symbolizer)
        symbolizer_destroy(p->symbolizer);
    free(p);
}

struct thread *process_add_thread(struct process *p, pid_t tid)
{
    struct thread *t = process_find_thread(p, tid);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->tid = tid;
    t->proc = p;
    t->number = ++p->threads_seen;
    t->next = p->threads;
    p->threads = t;
    return t;
}

void process_remove_thread(struct process *p, pid_t tid)
{
    for (struct thread **pp = &p->threads; *pp; pp = &(*pp)->next) {
        if ((*pp)->tid == tid) {
            struct thread *t = *pp;
            *pp = t->next;
            free(t->pending);
            free(t);
            return;
        }
    }
}

struct thread *process_find_thread(const struct process *p, pid_t tid)
{
    for (struct thread *t = p->threads; t; t = t->next)
        if (t->tid == tid)
            return t;
    return NULL;
}

/* Owned by this module: how many process records keep their /proc files
 * open. Those descriptors matter only for a process that makes itself
 * non-dumpable later; a wide process tree must not spend memtrace's
 * descriptors on them, so past a share of RLIMIT_NOFILE a process goes
 * without (its memory is still read through process_vm_readv, then
 * PEEKDATA, like any process's). */
static size_t proc_file_holders;

/* Two descriptors a holder: a quarter of the limit, the rest for what
 * memtrace opens and closes (auxv, ELF files, debug files, reports). */
static bool may_hold_proc_files(void)
{
    struct rlimit rl;
    size_t budget = 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        budget = (size_t)rl.rlim_cur / 8;
    return proc_file_holders < budget;
}

void process_reopen_proc_files(struct process *p)
{
    process_close_proc_files(p);
    if (!may_hold_proc_files())
        return;
    p->holds_proc_files = true;
    proc_file_holders++;
    remote_ptrace_reopen(&p->own_remote, p->pid);
    p->maps_fd = procfs_open_maps(p->pid);
}

void process_close_proc_files(struct process *p)
{
    remote_ptrace_close_mem(&p->own_remote);
    if (p->maps_fd >= 0)
        close(p->maps_fd);
    p->maps_fd = -1;
    if (p->holds_proc_files) {
        p->holds_proc_files = false;
        proc_file_holders--;
    }
}

void process_release(struct process *p)
{
    while (p->threads)
        process_remove_thread(p, p->threads->tid);
    process_close_proc_files(p);
    modules_destroy(&p->modules);
    bp_table_destroy(&p->bps);
    if (p->unwinder)
        unwinder_retire(p->unwinder);
    frame_rules_destroy(&p->frame_rules);
    alloc_model_end(&p->model);
    /* Out of memory leaves the table (and the scan) as they were: only
     * the spare room stays. */
    int err = p->scan ? leak_scan_settle(p->scan, &p->model.live)
                      : alloc_table_shrink_to_fit(&p->model.live);
    (void)err;
    stack_intern_trim(&p->stacks);
    free(p->exited_sps);
    p->exited_sps = NULL;
    p->nexited_sps = p->exited_sps_cap = 0;
    fast_ring_release(&p->fast_ring);
    free(p->fast_reallocs);
    p->fast_reallocs = NULL;
    p->nfast_reallocs = p->fast_reallocs_cap = 0;
    p->nfast_news = 0;
    free(p->fast_unqueued);
    p->fast_unqueued = NULL;
    p->nfast_unqueued = p->fast_unqueued_cap = 0;
}

void process_note_exited_sp(struct process *p, mt_addr sp)
{
    mt_addr *sps = mt_grow(p->exited_sps, &p->exited_sps_cap, p->nexited_sps + 1, sizeof(*sps));
    if (!sps)
        return;   /* the stack is then scanned whole: conservative */
    p->exited_sps = sps;
    p->exited_sps[p->nexited_sps++] = sp;
}

struct process *process_fork(const struct process *parent, pid_t child)
{
    struct process *p = process_create(child, parent->argv);
    if (!p)
        return NULL;
    alloc_model_destroy(&p->model);
    stack_intern_destroy(&p->stacks);
    bp_table_destroy(&p->bps);
    bool ok = alloc_model_copy(&p->model, &parent->model) == 0;
    ok = (stack_intern_copy(&p->stacks, &parent->stacks) == 0) && ok;
    ok = (heap_census_copy(&p->census, &parent->census) == 0) && ok;
    ok = (bp_table_copy(&p->bps, &parent->bps) == 0) && ok;
    ok = (map_table_copy(&p->maps, &parent->maps) == 0) && ok;
    ok = (shm_table_copy(&p->shms, &parent->shms) == 0) && ok;
    ok = (hook_list_copy(&p->hooks_seen, &parent->hooks_seen) == 0) && ok;
    p->scratch = parent->scratch;
    /* The child's threads have no call in flight through a stub of its own
     * (a parent's thread mid-call has no copy in the child). */
    return_stubs_init(&p->stubs, parent->stubs.code, parent->stubs.data);
    /* The stub code and the patched functions are the child's too; its
     * control page is wiped (no ring) until it gets a ring of its own. */
    p->fast_patches = parent->fast_patches;
    p->fast_frees_deferred = parent->fast_frees_deferred;
    p->fast_ring.region = parent->fast_ring.region;
    p->at_entry = parent->at_entry;
    p->at_base = parent->at_base;
    p->r_debug = parent->r_debug;
    p->exec_seen = parent->exec_seen;
    p->hooks_ready = parent->hooks_ready;
    p->rust_runtime = parent->rust_runtime;
    p->cxx_aliased = parent->cxx_aliased;
    ok = ok && modules_copy(&p->modules, &parent->modules) == 0;
    /* The parent's modules with their lifetimes: inherited stacks resolve
     * as they did in the parent. */
    if (ok) {
        symbolizer_destroy(p->symbolizer);
        p->symbolizer = symbolizer_clone(parent->symbolizer);
        ok = p->symbolizer != NULL;
    }
    if (!ok) {
        process_destroy(p);
        return NULL;
    }
    return p;
}

void process_drop_scan(struct process *p)
{
    if (p->scan) {
        leak_scan_destroy(p->scan);
        free(p->scan);
        p->scan = NULL;
    }
}

void process_allocator_range(const struct process *p, mt_addr *lo, mt_addr *hi)
{
    *lo = *hi = 0;
    const struct fast_patch *fast = fast_patches_of(&p->fast_patches, FN_MALLOC);
    mt_addr malloc_at = fast ? fast->addr : 0;
    for (size_t i = 0; i < p->bps.n && !malloc_at; i++) {
        const struct breakpoint *bp = &p->bps.items[i];
        if (bp->role == BP_HOOK_ENTRY && bp->tag == FN_MALLOC)
            malloc_at = bp->addr;
    }
    const struct module *m = malloc_at ? modules_at(&p->modules, malloc_at) : NULL;
    if (m) {
        *lo = m->lo;
        *hi = m->hi;
    }
}
