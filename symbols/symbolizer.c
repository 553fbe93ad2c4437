/* The per-process side of symbolization: the module table with lifetimes,
 * generations and their sequence marks, and the per-address memo. The
 * libdw work is in sym_file.c, debuginfo.c and names.c (see symbolizer.h
 * for the design). */
#include "symbolizer.h"
#include "sym_internal.h"
#include <elfutils/version.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sym_module {
    struct sym_file *file;
    char *path;
    char *name;              /* in frames */
    mt_addr bias, lo, hi;    /* runtime range [lo, hi) */
    uint32_t added, removed; /* alive in generations [added, removed) */
};

struct gen_mark {
    uint64_t seq; /* first sequence number of ... */
    uint32_t gen; /* ... this generation */
};

struct memo_entry {
    mt_addr ip;
    int module; /* index in modules, -1 = none */
    bool used, return_address;
    unsigned n;
    struct sym_frame_ext *frames;
};

struct symbolizer {
    struct sym_module *modules;
    size_t nmodules, modules_cap;
    struct gen_mark *marks; /* seq ascending, gen ascending; marks[0] = {0, 0} */
    size_t nmarks, marks_cap;
    uint32_t gen;
    bool mark_pending;
    bool batch_open; /* changes join the generation of the last mark */
    uint64_t pending_seq;
    struct memo_entry *memo;
    size_t memo_cap, memo_count;
    unsigned long lookups;
};

static int push_mark(struct symbolizer *s, uint64_t seq, uint32_t gen)
{
    struct gen_mark *m = mt_grow(s->marks, &s->marks_cap, s->nmarks + 1, sizeof(*m));
    if (!m)
        return -1;
    s->marks = m;
    s->marks[s->nmarks++] = (struct gen_mark){ seq, gen };
    return 0;
}

struct symbolizer *symbolizer_create(void)
{
    struct symbolizer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    sym_cache_acquire();
    if (push_mark(s, 0, 0) != 0) {
        symbolizer_destroy(s);
        return NULL;
    }
    return s;
}

struct symbolizer *symbolizer_clone(const struct symbolizer *src)
{
    struct symbolizer *s = symbolizer_create();
    if (!s)
        return NULL;
    s->modules = calloc(src->nmodules + 1, sizeof(*s->modules));
    struct gen_mark *marks = realloc(s->marks, (src->nmarks + 1) * sizeof(*s->marks));
    if (marks)
        s->marks = marks;   /* else the old block stays for symbolizer_destroy to free */
    if (!s->modules || !marks) {
        symbolizer_destroy(s);
        return NULL;
    }
    s->modules_cap = src->nmodules + 1;
    for (size_t i = 0; i < src->nmodules; i++) {
        s->modules[i] = src->modules[i];
        s->modules[i].path = strdup(src->modules[i].path);
        s->modules[i].name = strdup(src->modules[i].name);
        s->nmodules++;
        if (!s->modules[i].path || !s->modules[i].name) {
            symbolizer_destroy(s);
            return NULL;
        }
    }
    memcpy(s->marks, src->marks, src->nmarks * sizeof(*s->marks));
    s->nmarks = src->nmarks;
    s->marks_cap = src->nmarks + 1;
    s->gen = src->gen;
    s->mark_pending = src->mark_pending;
    s->batch_open = src->batch_open;
    s->pending_seq = src->pending_seq;
    return s;
}

void symbolizer_destroy(struct symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->modules && i < s->nmodules; i++) {
        free(s->modules[i].path);
        free(s->modules[i].name);
    }
    free(s->modules);
    free(s->marks);
    for (size_t i = 0; s->memo && i < s->memo_cap; i++)
        free(s->memo[i].frames);
    free(s->memo);
    free(s);
    sym_cache_release();
}

void symbolizer_mark(struct symbolizer *s, uint64_t seq)
{
    s->mark_pending = true;
    s->pending_seq = seq;
}

/* A change of the module list: the first after a mark opens a generation
 * starting at the marked sequence number; an unmarked change opens one of its
 * own at the latest sequence number. */
static void begin_change(struct symbolizer *s)
{
    uint64_t last = s->marks[s->nmarks - 1].seq;
    if (s->mark_pending) {
        s->mark_pending = false;
        s->gen++;
        push_mark(s, s->pending_seq > last ? s->pending_seq : last, s->gen);
        s->batch_open = true;
    } else if (!s->batch_open) {
        s->gen++;
        push_mark(s, last, s->gen);
    }
}

uint32_t symbolizer_generation(const struct symbolizer *s)
{
    return s->gen;
}

uint32_t symbolizer_generation_at(const struct symbolizer *s, uint64_t seq)
{
    /* The last mark with mark.seq <= seq. */
    size_t lo = 0, hi = s->nmarks;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->marks[mid].seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    return s->marks[lo].gen;
}

int symbolizer_add_module(struct symbolizer *s, const char *path, mt_addr bias, char *why,
                          size_t why_len)
{
    /* O_NONBLOCK: a FIFO at path must not block; sym_file_get takes only a
     * regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    return symbolizer_add_module_fd(s, fd, path, NULL, bias, why, why_len);
}

int symbolizer_add_module_fd(struct symbolizer *s, int fd, const char *path, const char *display,
                             mt_addr bias, char *why, size_t why_len)
{
    struct sym_file *f = sym_file_get(fd, path, why, why_len);
    if (!f)
        return -1;
    struct sym_module *m = mt_grow(s->modules, &s->modules_cap, s->nmodules + 1, sizeof(*m));
    if (!m) {
        snprintf(why, why_len, "%s: out of memory", path);
        return -1;
    }
    s->modules = m;
    char *copy = strdup(path);
    char *name = strdup(display ? display : path);
    if (!copy || !name) {
        free(copy);
        free(name);
        snprintf(why, why_len, "%s: out of memory", path);
        return -1;
    }
    begin_change(s);
    mt_addr lo, hi;
    sym_file_range(f, &lo, &hi);
    s->modules[s->nmodules++] = (struct sym_module){
        .file = f,
        .path = copy,
        .name = name,
        .bias = bias,
        .lo = lo + bias,
        .hi = hi + bias,
        .added = s->gen,
        .removed = SYMBOLIZER_NOW,
    };
    return 0;
}

int symbolizer_remove_module(struct symbolizer *s, const char *path, mt_addr bias)
{
    for (size_t i = s->nmodules; i-- > 0;) {
        struct sym_module *m = &s->modules[i];
        if (m->removed == SYMBOLIZER_NOW && m->bias == bias && strcmp(m->path, path) == 0) {
            begin_change(s);
            m->removed = s->gen;
            return 0;
        }
    }
    return -1;
}

/* The file of the module added as path at bias and not removed, or NULL. */
static struct sym_file *current_file(const struct symbolizer *s, const char *path, mt_addr bias)
{
    for (size_t i = s->nmodules; i-- > 0;) {
        const struct sym_module *m = &s->modules[i];
        if (m->removed == SYMBOLIZER_NOW && m->bias == bias && strcmp(m->path, path) == 0)
            return m->file;
    }
    return NULL;
}

bool symbolizer_find_function(const struct symbolizer *s, const char *path, mt_addr bias,
                              const char *name, uint64_t *value, uint64_t *size)
{
    struct sym_file *f = current_file(s, path, bias);
    return f && sym_file_find_symbol(f, name, STT_FUNC, value, size);
}

bool symbolizer_find_object(const struct symbolizer *s, const char *path, mt_addr bias,
                            const char *name, uint64_t *value, uint64_t *size)
{
    struct sym_file *f = current_file(s, path, bias);
    return f && sym_file_find_symbol(f, name, STT_OBJECT, value, size);
}

bool symbolizer_struct_layout(const struct symbolizer *s, const char *path, mt_addr bias,
                              mt_addr cu_code, const char *name, const char *const *members,
                              size_t n, uint64_t *offsets, uint64_t *size)
{
    struct sym_file *f = current_file(s, path, bias);
    return f && sym_file_struct_layout(f, cu_code, name, members, n, offsets, size);
}

/* The module covering a in generation gen; else the latest one that covered
 * it before gen; else the earliest one that covered it at all. */
static int module_at(const struct symbolizer *s, mt_addr a, uint32_t gen)
{
    int before = -1, after = -1;
    for (size_t i = 0; i < s->nmodules; i++) {
        const struct sym_module *m = &s->modules[i];
        if (a < m->lo || a >= m->hi)
            continue;
        if (m->added <= gen && gen < m->removed)
            return (int)i;
        if (m->added <= gen) {
            if (before < 0 || s->modules[before].added <= m->added)
                before = (int)i;
        } else if (after < 0) {
            after = (int)i;
        }
    }
    return before >= 0 ? before : after;
}

static size_t memo_hash(mt_addr ip, int module)
{
    uint64_t x = (ip ^ ((uint64_t)(unsigned)module << 48)) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 17);
}

static struct memo_entry *memo_find(struct memo_entry *tab, size_t cap, mt_addr ip, int module,
                                    bool ret)
{
    size_t mask = cap - 1;
    for (size_t i = memo_hash(ip, module) & mask;; i = (i + 1) & mask) {
        struct memo_entry *e = &tab[i];
        if (!e->used || (e->ip == ip && e->module == module && e->return_address == ret))
            return e;
    }
}

static void memo_grow(struct symbolizer *s)
{
    size_t cap = s->memo_cap * 2;
    struct memo_entry *bigger = calloc(cap, sizeof(*bigger));
    if (!bigger)
        return; /* keep the smaller table; it still has room */
    for (size_t i = 0; i < s->memo_cap; i++)
        if (s->memo[i].used)
            *memo_find(bigger, cap, s->memo[i].ip, s->memo[i].module,
                       s->memo[i].return_address) = s->memo[i];
    free(s->memo);
    s->memo = bigger;
    s->memo_cap = cap;
}

/* The memo is made at the first lookup: most symbolizers (one per traced
 * process) are only looked up in at report time, many never. */
#define MEMO_INITIAL_SLOTS 64

static bool memo_ready(struct symbolizer *s)
{
    if (s->memo)
        return true;
    s->memo = calloc(MEMO_INITIAL_SLOTS, sizeof(*s->memo));
    if (!s->memo)
        return false;
    s->memo_cap = MEMO_INITIAL_SLOTS;
    return true;
}

static unsigned build_frames(const struct symbolizer *s, mt_addr ip, int mi, mt_addr a,
                             struct sym_frame_ext **out)
{
    const struct sym_chain_frame *chain = NULL;
    unsigned n = 0;
    const struct sym_module *m = mi >= 0 ? &s->modules[mi] : NULL;
    if (m)
        n = sym_file_resolve(m->file, a - m->bias, &chain);
    unsigned count = n ? n : 1;
    struct sym_frame_ext *fr = calloc(count, sizeof(*fr));
    if (!fr)
        return 0;
    for (unsigned i = 0; i < count; i++) {
        fr[i].f.address = ip;
        if (m) {
            fr[i].f.module = m->name;
            fr[i].f.module_offset = ip - m->bias;
            fr[i].build_id = sym_file_build_id(m->file);
        }
        if (i < n) {
            fr[i].f.function = chain[i].function;
            fr[i].f.file = chain[i].file;
            fr[i].f.line = chain[i].line;
            fr[i].mangled = chain[i].mangled;
            fr[i].inlined = chain[i].inlined;
        }
    }
    *out = fr;
    return count;
}

/* Owned by this module: the frame symbolizer_lookup returns when it could
 * not build one (out of memory): the bare address, not memoized, valid until
 * the next such failure in any symbolizer. */
static struct sym_frame_ext oom_frame;

unsigned symbolizer_lookup(struct symbolizer *s, mt_addr ip, uint32_t gen, bool return_address,
                           const struct sym_frame_ext **frames)
{
    mt_addr a = return_address && ip > 0 ? ip - 1 : ip;
    int mi = module_at(s, a, gen);
    if (!memo_ready(s)) {
        oom_frame = (struct sym_frame_ext){ .f.address = ip };
        *frames = &oom_frame;
        return 1;
    }
    struct memo_entry *e = memo_find(s->memo, s->memo_cap, ip, mi, return_address);
    if (!e->used) {
        struct sym_frame_ext *fr = NULL;
        unsigned n = build_frames(s, ip, mi, a, &fr);
        s->lookups++;
        if (n == 0) {
            oom_frame = (struct sym_frame_ext){ .f.address = ip };
            *frames = &oom_frame;
            return 1;
        }
        *e = (struct memo_entry){ .ip = ip,
                                  .module = mi,
                                  .used = true,
                                  .return_address = return_address,
                                  .n = n,
                                  .frames = fr };
        if (++s->memo_count * 2 > s->memo_cap) {
            memo_grow(s);
            e = memo_find(s->memo, s->memo_cap, ip, mi, return_address);
        }
    }
    *frames = e->frames;
    return e->n;
}

bool symbolizer_locate(const struct symbolizer *s, mt_addr ip, uint32_t gen, bool return_address,
                       const char **path, mt_addr *module_offset)
{
    mt_addr a = return_address && ip > 0 ? ip - 1 : ip;
    int mi = module_at(s, a, gen);
    if (mi < 0)
        return false;
    *path = s->modules[mi].path;
    *module_offset = ip - s->modules[mi].bias;
    return true;
}

unsigned long symbolizer_lookups(const struct symbolizer *s)
{
    return s->lookups;
}

#define MT_STR2(x) #x
#define MT_STR(x) MT_STR2(x)

const char *symbolizer_libdw_version(void)
{
    /* elfutils numbers its releases 0.N: _ELFUTILS_VERSION is N. */
    return "0." MT_STR(_ELFUTILS_VERSION);
}
