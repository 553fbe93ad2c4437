/* The heap census at attach (heap_census.h): finds glibc's malloc state in
 * the allocator's module, takes the census, names C++ objects by their
 * vtables and files the blocks into the model by group. */
#include "heap_census.h"
#include "glibc_census.h"
#include "elf_file.h"
#include "grow.h"
#include "mt_time.h"
#include "procfs.h"
#include "process.h"
#include "remote.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glibc builds memtrace knows without debug info: where main_arena, mp_
 * and tcache_key are (link-time addresses) and the structures' layout. */
struct known_glibc {
    const char *build_id;
    uint64_t main_arena, mp, tcache_key;
    const struct glibc_layout *layout;
};

static const struct known_glibc known_glibcs[] = {
    /* Debian 12, 2.36-9+deb12u14 */
    { "93ac61ec5a8eb1396f9fbd350e3169a558528a40", 0x1d3c60, 0x1d3340, 0x1da478,
      &glibc_layout_2_35_x86_64 },
};

struct census_ctx {
    struct process *p;
    pid_t tid;
};

static ssize_t read_target(void *ctx, mt_addr addr, void *buf, size_t len)
{
    const struct census_ctx *c = ctx;
    ssize_t n = remote_read_partial(c->p->remote, c->tid, addr, buf, len);
    return n < 0 ? 0 : n;
}

static bool find_object(const struct process *p, const struct module *m, const char *name,
                        uint64_t *addr)
{
    uint64_t value, size;
    if (!symbolizer_find_object(p->symbolizer, m->path, m->bias, name, &value, &size))
        return false;
    *addr = value + m->bias;
    return true;
}

static bool layout_member(const struct process *p, const struct module *m, uint64_t cu_code,
                          const char *type, const char *const *names, size_t n, uint32_t **dst,
                          uint32_t *size)
{
    uint64_t offsets[8], bytes;
    if (!symbolizer_struct_layout(p->symbolizer, m->path, m->bias, cu_code, type, names, n,
                                  offsets, &bytes))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (offsets[i] >= bytes)
            return false;
        *dst[i] = (uint32_t)offsets[i];
    }
    if (size)
        *size = (uint32_t)bytes;
    return true;
}

/* From libc's debug info (libc6-dbg): the symbols and malloc.c's structs. */
static bool from_debug_info(const struct process *p, const struct module *m,
                            struct glibc_census_in *in)
{
    uint64_t cu_code, size;
    if (!find_object(p, m, "main_arena", &in->main_arena) || !find_object(p, m, "mp_", &in->mp) ||
        !find_object(p, m, "tcache_key", &in->tcache_key) ||
        !symbolizer_find_function(p->symbolizer, m->path, m->bias, "__libc_malloc", &cu_code,
                                  &size))
        return false;
    struct glibc_layout *l = &in->layout;
    static const char *const arena[] = { "flags", "fastbinsY", "top", "next", "system_mem" };
    uint32_t *arena_at[] = { &l->arena_flags, &l->arena_fastbins, &l->arena_top,
                             &l->arena_next, &l->arena_system_mem };
    static const char *const par[] = { "n_mmaps", "sbrk_base" };
    uint32_t *par_at[] = { &l->mp_n_mmaps, &l->mp_sbrk_base };
    static const char *const heap[] = { "ar_ptr", "prev", "size" };
    uint32_t *heap_at[] = { &l->heap_ar_ptr, &l->heap_prev, &l->heap_size };
    l->nfastbins = 10;
    l->safe_linking = true;   /* tcache_key came with 2.34; safe-linking with 2.32 */
    return layout_member(p, m, cu_code, "malloc_state", arena, 5, arena_at, &l->arena_size) &&
           layout_member(p, m, cu_code, "malloc_par", par, 2, par_at, NULL) &&
           layout_member(p, m, cu_code, "_heap_info", heap, 3, heap_at, &l->heap_info_size);
}

static bool from_known_build(const struct module *m, struct glibc_census_in *in, char *build_id,
                             size_t len)
{
    if (!m->elf || !elf_file_build_id(m->elf, build_id, len))
        return false;
    for (size_t i = 0; i < sizeof(known_glibcs) / sizeof(known_glibcs[0]); i++) {
        const struct known_glibc *k = &known_glibcs[i];
        if (strcmp(k->build_id, build_id) == 0) {
            in->main_arena = k->main_arena + m->bias;
            in->mp = k->mp + m->bias;
            in->tcache_key = k->tcache_key + m->bias;
            in->layout = *k->layout;
            return true;
        }
    }
    return false;
}

/* MEMTRACE_CENSUS_LAYOUT=table: the tests' way to take the known-build
 * path on a machine with libc6-dbg. */
static bool debug_info_wanted(void)
{
    const char *how = getenv("MEMTRACE_CENSUS_LAYOUT");
    return !how || strcmp(how, "table") != 0;
}

struct regions {
    struct glibc_region *items;
    size_t n, cap;
};

static int add_region(void *ctx, const struct procfs_map *m)
{
    struct regions *r = ctx;
    if (!m->readable || !m->writable || m->shared || m->inode || m->name[0])
        return 0;
    struct glibc_region *items = mt_grow(r->items, &r->cap, r->n + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    r->items = items;
    r->items[r->n++] = (struct glibc_region){ m->lo, m->hi };
    return 0;
}

/* ---- naming and grouping ---------------------------------------------- */

/* The class of each first word seen (open addressing, kept under half
 * full): a heap holds a few distinct vtable words many times over. */
struct memo_slot {
    uint64_t word;
    const char *type;
    bool used;
};
struct vtable_memo {
    struct memo_slot *slots;
    size_t cap, n;
};

static const char *keep_type(struct heap_census *c, const char *name)
{
    for (size_t i = 0; i < c->ntypes; i++)
        if (strcmp(c->types[i], name) == 0)
            return c->types[i];
    char **types = mt_grow(c->types, &c->types_cap, c->ntypes + 1, sizeof(*types));
    if (!types)
        return NULL;
    c->types = types;
    return (c->types[c->ntypes] = strdup(name)) ? c->types[c->ntypes++] : NULL;
}

/* The class whose vtable word points into: the word a C++ object with
 * virtual methods starts with points into "vtable for T" (_ZTV), in a
 * module's read-only data. */
static const char *class_of_word(struct heap_census *c, const struct process *p, uint64_t word)
{
    const struct module *m = word & 7 ? NULL : modules_at(&p->modules, word);
    const char *sym;
    uint64_t value, size;
    if (!m || !m->elf || !elf_file_object_at(m->elf, word - m->bias, &sym, &value, &size) ||
        strncmp(sym, "_ZTV", 4) != 0 || word - m->bias - value < 16)
        return NULL;
    char *name = symbolizer_clean_name(sym);
    const char *prefix = "vtable for ";
    const char *type = NULL;
    if (name && strncmp(name, prefix, strlen(prefix)) == 0)
        type = keep_type(c, name + strlen(prefix));
    free(name);
    return type;
}

static struct memo_slot *memo_probe(struct memo_slot *slots, size_t cap, uint64_t word)
{
    size_t k = (word * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
    while (slots[k].used && slots[k].word != word)
        k = (k + 1) & (cap - 1);
    return &slots[k];
}

static bool memo_grow(struct vtable_memo *memo)
{
    size_t cap = memo->cap ? memo->cap * 2 : 1024;
    struct memo_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < memo->cap; i++)
        if (memo->slots[i].used)
            *memo_probe(slots, cap, memo->slots[i].word) = memo->slots[i];
    free(memo->slots);
    memo->slots = slots;
    memo->cap = cap;
    return true;
}

static const char *memo_class(struct vtable_memo *memo, struct heap_census *c,
                              const struct process *p, uint64_t word)
{
    if (word < 4096)
        return NULL;
    if (memo->n * 2 >= memo->cap && !memo_grow(memo))
        return class_of_word(c, p, word);
    struct memo_slot *slot = memo_probe(memo->slots, memo->cap, word);
    if (!slot->used) {
        *slot = (struct memo_slot){ .word = word, .type = class_of_word(c, p, word),
                                    .used = true };
        memo->n++;
    }
    return slot->type;
}

/* The group of (size, type), added when new; SIZE_MAX when out of memory. */
static size_t group_of(struct heap_census *c, size_t **index, size_t *index_cap, uint64_t size,
                       const char *type)
{
    if (c->ngroups * 2 >= *index_cap) {
        size_t cap = *index_cap ? *index_cap * 2 : 256;
        size_t *bigger = malloc(cap * sizeof(*bigger));
        if (!bigger)
            return SIZE_MAX;
        memset(bigger, 0xff, cap * sizeof(*bigger));
        free(*index);
        *index = bigger;
        *index_cap = cap;
        for (size_t g = 0; g < c->ngroups; g++) {
            uint64_t h = (c->groups[g].size ^ (uintptr_t)c->groups[g].type) * 0x9e3779b97f4a7c15ull;
            size_t k = (h >> 20) & (cap - 1);
            while (bigger[k] != SIZE_MAX)
                k = (k + 1) & (cap - 1);
            bigger[k] = g;
        }
    }
    uint64_t h = (size ^ (uintptr_t)type) * 0x9e3779b97f4a7c15ull;
    size_t k = (h >> 20) & (*index_cap - 1);
    for (; (*index)[k] != SIZE_MAX; k = (k + 1) & (*index_cap - 1)) {
        const struct census_group *g = &c->groups[(*index)[k]];
        if (g->size == size && g->type == type)
            return (*index)[k];
    }
    struct census_group *groups = mt_grow(c->groups, &c->groups_cap, c->ngroups + 1,
                                          sizeof(*groups));
    if (!groups)
        return SIZE_MAX;
    c->groups = groups;
    c->groups[c->ngroups] = (struct census_group){ .size = size, .type = type };
    (*index)[k] = c->ngroups;
    return c->ngroups++;
}

#define PREVIEW_BYTES 16

/* --show-contents: "; one starts 74 68 65 20 |the |": the first bytes of
 * the group's first block, in hex and as text. */
static void preview(const struct process *p, pid_t tid, const struct census_group *grp,
                    char *out, size_t len)
{
    unsigned char bytes[PREVIEW_BYTES];
    size_t want = grp->size < PREVIEW_BYTES ? (size_t)grp->size : PREVIEW_BYTES;
    ssize_t n = remote_read_partial(p->remote, tid, grp->first_addr, bytes, want);
    out[0] = '\0';
    if (n <= 0)
        return;
    size_t at = (size_t)snprintf(out, len, "; one starts");
    for (ssize_t i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(out + at, len - at, " %02x", bytes[i]);
    if (at < len)
        at += (size_t)snprintf(out + at, len - at, " |");
    static const char printable[] = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "[\\]^_`abcdefghijklmnopqrstuvwxyz{.}~";   /* '|' as '.' */
    for (ssize_t i = 0; i < n && at + 2 < len; i++) {
        char shown = '.';
        if (bytes[i] >= 0x20 && bytes[i] < 0x7f)
            shown = printable[bytes[i] - 0x20];
        out[at++] = shown;
    }
    if (at + 2 < len) {
        out[at++] = '|';
        out[at] = '\0';
    }
}

static int label_groups(struct heap_census *c, const struct process *p, pid_t tid,
                        bool show_contents)
{
    for (size_t g = 0; g < c->ngroups; g++) {
        struct census_group *grp = &c->groups[g];
        char text[512], contents[128] = "";
        if (show_contents && !grp->type)
            preview(p, tid, grp, contents, sizeof(contents));
        if (grp->type)
            snprintf(text, sizeof(text), "%s (%" PRIu64 "-byte objects, allocated before attach)",
                     grp->type, grp->size);
        else
            snprintf(text, sizeof(text), "%" PRIu64 "-byte blocks (allocated before attach%s)",
                     grp->size, contents);
        if (!(grp->label = strdup(text)))
            return -ENOMEM;
        grp->frame = (struct sym_frame_ext){
            .f = { .address = HEAP_CENSUS_IP_BASE + g, .function = grp->label },
        };
    }
    return 0;
}

/* Files the census's blocks into p's model, a stack per group. */
static int file_blocks(struct heap_census *c, struct process *p, pid_t tid,
                       const struct module *m, const struct glibc_census *gc, bool show_contents)
{
    struct vtable_memo memo = { 0 };
    size_t *index = NULL, index_cap = 0;
    uint32_t *group_of_block = calloc(gc->n ? gc->n : 1, sizeof(*group_of_block));
    int err = group_of_block ? 0 : -ENOMEM;
    for (size_t i = 0; i < gc->n && !err; i++) {
        const struct glibc_block *b = &gc->blocks[i];
        size_t g = group_of(c, &index, &index_cap, b->usable,
                            memo_class(&memo, c, p, b->first_word));
        if (g == SIZE_MAX || g > UINT32_MAX - 1)
            err = -ENOMEM;
        else
            group_of_block[i] = (uint32_t)g;
        if (!err && !c->groups[g].first_addr)
            c->groups[g].first_addr = b->addr;
    }
    free(memo.slots);
    free(index);
    uint32_t *stacks = err ? NULL : calloc(c->ngroups ? c->ngroups : 1, sizeof(*stacks));
    if (!err && (!stacks || label_groups(c, p, tid, show_contents) != 0))
        err = -ENOMEM;
    for (size_t g = 0; g < c->ngroups && !err; g++) {
        mt_addr ip = HEAP_CENSUS_IP_BASE + g;
        if (!(stacks[g] = stack_intern_add(&p->stacks, &ip, 1)))
            err = -ENOMEM;
    }
    unsigned allocator = err ? 0 : alloc_model_allocator(&p->model, m->path);
    for (size_t i = 0; i < gc->n && !err; i++) {
        const struct glibc_block *b = &gc->blocks[i];
        struct census_group *grp = &c->groups[group_of_block[i]];
        err = alloc_model_add_existing(&p->model, b->addr, b->usable, stacks[group_of_block[i]],
                                       allocator);
        grp->blocks++;
        c->blocks++;
        c->bytes += b->usable;
    }
    free(stacks);
    free(group_of_block);
    return err;
}

/* The module whose malloc memtrace hooked. */
static const struct module *allocator_module(const struct process *p)
{
    mt_addr lo, hi;
    process_allocator_range(p, &lo, &hi);
    return lo ? modules_at(&p->modules, lo) : NULL;
}

int heap_census_take(struct process *p, pid_t tid, bool show_contents, char *why,
                     size_t why_len)
{
    struct heap_census *c = &p->census;
    uint64_t t0 = mt_now_ns();
    const struct module *m = allocator_module(p);
    if (!m) {
        snprintf(why, why_len, "memtrace found no allocator module");
        return -1;
    }
    struct glibc_census_in in = { .read = read_target };
    char build_id[128] = "none";
    if (debug_info_wanted() && from_debug_info(p, m, &in)) {
        c->layout_from = "debug info";
    } else if (from_known_build(m, &in, build_id, sizeof(build_id))) {
        c->layout_from = "known build-id";
    } else {
        uint64_t value, size;
        bool glibc = symbolizer_find_function(p->symbolizer, m->path, m->bias, "__libc_malloc",
                                              &value, &size) ||
                     (m->elf && elf_file_find_function(m->elf, "__libc_malloc", &value, &size));
        if (glibc)
            snprintf(why, why_len, "%s (build-id %s) is a glibc memtrace does not know, and has "
                     "no debug info with malloc's layout (Debian: apt install libc6-dbg)",
                     m->path, build_id);
        else
            snprintf(why, why_len, "%s is not glibc's malloc, the only one memtrace can take a "
                     "census of", m->path);
        return -1;
    }
    struct regions regions = { 0 };
    int err = procfs_maps(p->pid, add_region, &regions);
    if (err) {
        free(regions.items);
        snprintf(why, why_len, "cannot read the mappings of pid %d: %s", p->pid, strerror(-err));
        return err == -ENOMEM ? err : -1;
    }
    struct census_ctx ctx = { p, tid };
    in.read_ctx = &ctx;
    in.anon = regions.items;
    in.nanon = regions.n;
    struct glibc_census gc;
    err = glibc_census_take(&in, &gc, why, why_len);
    free(regions.items);
    if (err == 0) {
        c->arenas = gc.arenas;
        c->mmapped = gc.mmapped;
        err = file_blocks(c, p, tid, m, &gc, show_contents);
        if (err == 0)
            c->taken = true;
    }
    glibc_census_free(&gc);
    c->ns = mt_now_ns() - t0;
    return err;
}

const struct sym_frame_ext *heap_census_frame(const struct heap_census *c, uint64_t ip)
{
    if (!glibc_census_ip(ip) || ip - HEAP_CENSUS_IP_BASE >= c->ngroups)
        return NULL;
    return &c->groups[ip - HEAP_CENSUS_IP_BASE].frame;
}

int heap_census_copy(struct heap_census *dst, const struct heap_census *src)
{
    *dst = (struct heap_census){ .taken = src->taken, .layout_from = src->layout_from,
                                 .blocks = src->blocks, .bytes = src->bytes,
                                 .arenas = src->arenas, .mmapped = src->mmapped, .ns = src->ns };
    if (!src->ngroups)
        return 0;
    if (!(dst->groups = calloc(src->ngroups, sizeof(*dst->groups))))
        return -ENOMEM;
    dst->groups_cap = src->ngroups;
    for (size_t g = 0; g < src->ngroups; g++) {
        struct census_group *grp = &dst->groups[g];
        *grp = src->groups[g];
        grp->type = NULL;   /* kept in the label: the copy needs no names of its own */
        if (!(grp->label = strdup(src->groups[g].label))) {
            heap_census_destroy(dst);
            return -ENOMEM;
        }
        dst->ngroups = g + 1;
        grp->frame.f.function = grp->label;
    }
    return 0;
}

void heap_census_destroy(struct heap_census *c)
{
    for (size_t g = 0; g < c->ngroups; g++)
        free(c->groups[g].label);
    for (size_t i = 0; i < c->ntypes; i++)
        free(c->types[i]);
    free(c->groups);
    free(c->types);
    memset(c, 0, sizeof(*c));
}
