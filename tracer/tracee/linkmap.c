/* Rendezvous with ld.so (see glibc's <link.h> and elf/dl-debug.c): an int3 on
 * _dl_debug_state fires on every link-map change; RT_CONSISTENT means the
 * list can be read. */
#include "linkmap.h"
#include "diag.h"
#include "elf_file.h"
#include "grow.h"
#include "module_file.h"
#include "modules.h"
#include "symbolizer.h"
#include "procfs.h"
#include "remote.h"
#include "unwind.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* struct r_debug and struct link_map offsets on x86-64 (glibc <link.h>). */
#define R_DEBUG_MAP 8
#define R_DEBUG_STATE 24
#define LM_ADDR 0
#define LM_NAME 8
#define LM_LD 16
#define LM_NEXT 24
#define MAX_MODULES 4096

/* Where a module is loaded: a link-map entry's l_addr, or for a static
 * program the difference between its entry point in memory and in the file
 * (0 unless static-pie). */
struct placement {
    mt_addr bias;
    bool from_entry;
};

/* Opens the module whose file is mapped at addr (l_ld, or AT_ENTRY): its
 * ELF file for the hooks, the same file for the symbolizer. name: what the
 * target calls it, never opened. Returns 0, -ENOENT (no file mapped there:
 * nothing to open, no warning), or -errno with why. */
static int add_module(struct process *p, struct module_maps *maps, mt_addr addr, const char *name,
                      mt_addr lm, mt_addr dynamic, struct placement at, struct module *out,
                      char *why, size_t why_len)
{
    char path[PATH_MAX];
    int fd = module_file_open(p, maps, addr, path, sizeof(path), why, why_len);
    if (fd < 0)
        return fd;
    int sym_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (sym_fd < 0) {
        int err = -errno;
        snprintf(why, why_len, "pid %d: %s: %s", p->pid, path, strerror(errno));
        close(fd);
        return err;
    }
    struct elf_file *ef = calloc(1, sizeof(*ef));
    if (!ef) {
        close(fd);
        close(sym_fd);
        return -ENOMEM;
    }
    int err = elf_file_open_fd(ef, fd, path, why, why_len);
    if (err) {
        free(ef);
        close(sym_fd);
        return err;
    }
    mt_addr bias = at.from_entry ? p->at_entry - ef->entry : at.bias;
    memset(out, 0, sizeof(*out));
    out->name = strdup(name);
    out->path = strdup(path);
    out->link_map = lm;
    out->dynamic = dynamic;
    out->bias = bias;
    out->elf = ef;
    out->present = true;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < ef->nsegs; i++) {
        if (ef->segs[i].vaddr < lo)
            lo = ef->segs[i].vaddr;
        if (ef->segs[i].vaddr + ef->segs[i].memsz > hi)
            hi = ef->segs[i].vaddr + ef->segs[i].memsz;
    }
    out->lo = bias + (lo == UINT64_MAX ? 0 : lo);
    out->hi = bias + hi;
    uint64_t tlo, thi;
    elf_file_text_range(ef, &tlo, &thi);
    out->text_lo = bias + tlo;
    out->text_hi = bias + thi;
    /* The program as it was run (a symlink such as /usr/bin/python3 stays
     * that name in frames) when that is the file mapped. */
    char ran[PATH_MAX];
    struct stat ran_st, mapped_st;
    bool is_main = p->at_entry >= out->lo && p->at_entry < out->hi;
    const char *display = is_main && procfs_exec_filename(p->pid, ran, sizeof(ran)) == 0 &&
                                  ran[0] == '/' && stat(ran, &ran_st) == 0 &&
                                  fstat(sym_fd, &mapped_st) == 0 &&
                                  ran_st.st_dev == mapped_st.st_dev &&
                                  ran_st.st_ino == mapped_st.st_ino
                              ? ran : NULL;
    char sym_why[256];
    if (symbolizer_add_module_fd(p->symbolizer, sym_fd, path, display, bias, sym_why,
                                 sizeof(sym_why)) != 0)
        mt_warn("no symbols for %s: %s", path, sym_why);
    if (!out->name || !out->path) {
        module_close_elf(out);
        free(out->name);
        free(out->path);
        return -ENOMEM;
    }
    return 0;
}

int linkmap_read_auxv(struct process *p, char *why, size_t why_len)
{
    int err = procfs_auxv_entry(p->pid, &p->at_base, &p->at_entry);
    if (err)
        snprintf(why, why_len, "cannot read the auxiliary vector of pid %d: %s", p->pid,
                 strerror(-err));
    return err;
}

int linkmap_attach(struct process *p, pid_t tid, char *why, size_t why_len)
{
    int err;
    char exe[PATH_MAX];
    if ((err = procfs_exe(p->pid, exe, sizeof(exe)))) {
        snprintf(why, why_len, "pid %d: cannot read its executable's path: %s", p->pid,
                 strerror(-err));
        return err;
    }
    struct module_maps maps;
    module_maps_init(&maps);
    if (p->at_base == 0) {
        /* Static program: malloc lives in the executable itself, mapped
         * where its entry point is. */
        struct module m;
        err = add_module(p, &maps, p->at_entry, exe, 0, 0, (struct placement){ .from_entry = true },
                         &m, why, why_len);
        module_maps_free(&maps);
        if (err) {
            char cause[512];
            snprintf(cause, sizeof(cause), "%s", why);
            snprintf(why, why_len, "pid %d: cannot open its executable: %s", p->pid, cause);
            return err;
        }
        if ((err = modules_append(&p->modules, &m))) {
            module_close_elf(&m);
            free(m.name);
            free(m.path);
        }
        return err;
    }
    char ldso[PATH_MAX], open_why[512];
    int fd = module_file_open(p, &maps, p->at_base, ldso, sizeof(ldso), open_why, sizeof(open_why));
    module_maps_free(&maps);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open the dynamic linker of pid %d at 0x%" PRIxADDR ": %s",
                 p->pid, p->at_base, open_why);
        return fd;
    }
    struct elf_file ef;
    if ((err = elf_file_open_fd(&ef, fd, ldso, why, why_len)))
        return err;
    uint64_t brk = 0, rdebug = 0;
    bool ok = elf_file_find_function(&ef, "_dl_debug_state", &brk, NULL) &&
              elf_file_find_object(&ef, "_r_debug", &rdebug);
    elf_file_close(&ef);
    if (!ok) {
        snprintf(why, why_len, "%s has no _dl_debug_state/_r_debug: unknown dynamic linker", ldso);
        return -ENOENT;
    }
    p->r_debug = p->at_base + rdebug;
    struct breakpoint bp = { .addr = p->at_base + brk, .role = BP_RENDEZVOUS };
    return bp_plant(&p->bps, p->remote, tid, &p->scratch, &bp, why, why_len);
}

int linkmap_state(const struct process *p, int *state)
{
    int32_t s;
    int err = remote_read(p->remote, p->pid, p->r_debug + R_DEBUG_STATE, &s, sizeof(s));
    if (!err)
        *state = s;
    return err;
}

struct sync_ctx {
    struct process *p;
    struct module_maps maps; /* read at the first new entry of this change */
};

/* A new link-map entry: the file mapped where its dynamic section is
 * opened, its symbols added.
 * Its l_name is never opened: the program can write anything there. */
static int open_entry(void *ctx, const struct linkmap_entry *e, struct module *out)
{
    struct sync_ctx *sync = ctx;
    struct process *p = sync->p;
    char why[1024];
    const char *name = e->name;
    /* cppcheck-suppress variableScope ; name points into it after the if */
    char exe[PATH_MAX];
    if (e->is_main)
        name = procfs_exe(p->pid, exe, sizeof(exe)) == 0 ? exe : "";
    /* The main program without a dynamic section has its entry point. */
    mt_addr inside = e->dynamic ? e->dynamic : p->at_entry;
    int err = add_module(p, &sync->maps, inside, name, e->lm, e->dynamic,
                         (struct placement){ .bias = e->bias }, out, why, sizeof(why));
    if (err && err != -ENOENT)
        mt_warn("pid %d: %s; its code is neither hooked nor symbolized", p->pid, why);
    return err;
}

/* A module dlclose removed: its symbols stay for the stacks taken while it
 * was loaded (symbolizer generations), its breakpoints go. */
static void close_entry(void *ctx, struct module *m)
{
    struct process *p = ((struct sync_ctx *)ctx)->p;
    symbolizer_remove_module(p->symbolizer, m->path, m->bias);
    bp_forget_range(&p->bps, m->lo, m->hi);
}

void linkmap_walk_free(struct linkmap_walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        free((char *)w->entries[i].name);
    free(w->entries);
    *w = (struct linkmap_walk){ 0 };
}

/* Reads the link map from lm on: the main program, then every module with
 * a dynamic section (the vDSO's turns out not to be in a file). */
int linkmap_walk(const struct remote *r, pid_t pid, mt_addr lm, struct linkmap_walk *w)
{
    for (int count = 0; lm && count < MAX_MODULES; count++) {
        uint64_t entry[5];
        int err = remote_read(r, pid, lm, entry, sizeof(entry));
        if (err)
            return err;
        char name[PATH_MAX] = "";
        if (entry[LM_NAME / 8]) {
            ssize_t got = remote_read_partial(r, pid, entry[LM_NAME / 8], name, sizeof(name) - 1);
            name[got > 0 ? got : 0] = '\0';
        }
        bool is_main = count == 0;
        if (is_main || entry[LM_LD / 8]) {
            struct linkmap_entry *entries = mt_grow(w->entries, &w->cap, w->n + 1,
                                                    sizeof(*entries));
            char *copy = strdup(name);
            if (!entries || !copy) {
                free(copy);
                if (entries)
                    w->entries = entries;
                return -ENOMEM;
            }
            w->entries = entries;
            w->entries[w->n++] = (struct linkmap_entry){ .lm = lm,
                                                         .bias = entry[LM_ADDR / 8],
                                                         .dynamic = entry[LM_LD / 8],
                                                         .name = copy,
                                                         .is_main = is_main };
        }
        lm = entry[LM_NEXT / 8];
    }
    return 0;
}

int linkmap_sync(struct process *p, char *why, size_t why_len)
{
    if (!p->r_debug)
        return 0;
    uint64_t lm = 0;
    int err = remote_read_u64(p->remote, p->pid, p->r_debug + R_DEBUG_MAP, &lm);
    if (err) {
        snprintf(why, why_len, "cannot read _r_debug in pid %d: %s", p->pid, strerror(-err));
        return err;
    }
    /* Changes below start a symbolizer generation at the next stack id. */
    symbolizer_mark(p->symbolizer, stack_intern_count(&p->stacks) + 1);
    struct linkmap_walk w = { 0 };
    int walk_err = linkmap_walk(p->remote, p->pid, lm, &w);
    if (walk_err == -ENOMEM) {
        linkmap_walk_free(&w);
        return -ENOMEM;
    }
    /* A walk cut short (a link_map read failed) still updates what it saw. */
    struct sync_ctx sync = { .p = p };
    module_maps_init(&sync.maps);
    struct module_events ev = { .open = open_entry, .closed = close_entry, .ctx = &sync };
    int changes = modules_sync(&p->modules, w.entries, w.n, &ev);
    module_maps_free(&sync.maps);
    linkmap_walk_free(&w);
    if (changes > 0) {
        unwinder_flush(p->unwinder);
        frame_rules_flush(&p->frame_rules);
        fast_ring_forget_rules(&p->fast_ring);
    }
    if (changes < 0)
        return changes;
    if (walk_err) {
        snprintf(why, why_len, "cannot walk the link map of pid %d: %s", p->pid,
                 strerror(-walk_err));
        return walk_err;
    }
    return changes;
}
