/* One Dwfl per distinct ELF file, reported at its link-time addresses and
 * shared by every symbolizer; the debuginfo search (libdw's, wrapped to warn
 * about mismatched candidates); inline chains; per-file memo. */
#include "sym_internal.h"
#include "symbolizer.h"
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- configuration and warnings --------------------------------------- */

/* snprintf for paths: false when the result does not fit. */
static bool __attribute__((format(printf, 3, 4))) fmt_path(char *out, size_t len,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

#define DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"

static char *g_debuginfo_path;          /* NULL: DEFAULT_DEBUGINFO_PATH */
static symbolizer_warn_fn g_warn_fn;
static void *g_warn_ctx;

void symbolizer_set_warning_handler(symbolizer_warn_fn fn, void *ctx)
{
    g_warn_fn = fn;
    g_warn_ctx = ctx;
}

void sym_warn(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (g_warn_fn)
        g_warn_fn(g_warn_ctx, msg);
    else
        fprintf(stderr, "memtrace: warning: %s\n", msg);
}

const char *symbolizer_debuginfo_path(void)
{
    return g_debuginfo_path ? g_debuginfo_path : DEFAULT_DEBUGINFO_PATH;
}

/* Appends root to *path (":"-separated), absolute. Returns 0 or -1. */
static int append_root(char **path, size_t *len, size_t *cap, const char *dir, char *why,
                       size_t why_len)
{
    if (!*dir)
        return 0;
    char abs[PATH_MAX];
    if (dir[0] == '/') {
        fmt_path(abs, sizeof(abs), "%s", dir);
    } else if (!realpath(dir, abs)) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            snprintf(why, why_len, "debug directory %s: %s", dir, strerror(errno));
            return -1;
        }
        if (!fmt_path(abs, sizeof(abs), "%s/%s", cwd, dir)) {
            snprintf(why, why_len, "debug directory %s: name too long", dir);
            return -1;
        }
    }
    if (strchr(abs, ':')) {
        snprintf(why, why_len, "debug directory %s: a ':' cannot be part of its name", dir);
        return -1;
    }
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] == '/')
        abs[--n] = '\0';
    struct stat st;
    if (stat(abs, &st) != 0 || !S_ISDIR(st.st_mode))
        sym_warn("debug directory %s: %s", abs, stat(abs, &st) != 0 ? strerror(errno)
                                                                      : "not a directory");
    if (*len + n + 2 > *cap) {
        size_t c = (*cap + n + 2) * 2;
        char *p = realloc(*path, c);
        if (!p) {
            snprintf(why, why_len, "out of memory");
            return -1;
        }
        *path = p;
        *cap = c;
    }
    (*path)[(*len)++] = ':';
    memcpy(*path + *len, abs, n + 1);
    *len += n;
    return 0;
}

int symbolizer_configure(const struct symbolizer_config *c, char *why, size_t why_len)
{
    size_t cap = sizeof(DEFAULT_DEBUGINFO_PATH) + 256, len = strlen(DEFAULT_DEBUGINFO_PATH);
    char *path = malloc(cap);
    if (!path) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    memcpy(path, DEFAULT_DEBUGINFO_PATH, len + 1);
    for (size_t i = 0; c && i < c->ndebug_dirs; i++) {
        if (append_root(&path, &len, &cap, c->debug_dirs[i], why, why_len) != 0) {
            free(path);
            return -1;
        }
    }
    if (c && c->debug_dirs_env) {
        char *env = strdup(c->debug_dirs_env);
        char *save = NULL;
        int rc = env ? 0 : -1;
        for (char *d = env ? strtok_r(env, ":", &save) : NULL; d && rc == 0;
             d = strtok_r(NULL, ":", &save))
            rc = append_root(&path, &len, &cap, d, why, why_len);
        free(env);
        if (rc != 0) {
            free(path);
            return -1;
        }
    }
    free(g_debuginfo_path);
    g_debuginfo_path = path;
    return 0;
}

/* ---- the file cache --------------------------------------------------- */

struct memo_slot {
    mt_addr key;
    bool used;
    unsigned n;
    struct sym_chain_frame *frames;
};

struct sym_file {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    char *path;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    mt_addr lo, hi;
    char *build_id;               /* hex */
    bool main_lookup_done;        /* find_debuginfo ran for the main debug file */
    char *debug_path;             /* the separate debug file libdw took, if any */
    bool dwarf_checked;
    struct memo_slot *memo;
    size_t memo_cap, memo_count;
    char **strings;               /* names made here (demangled, unversioned) */
    size_t nstrings, strings_cap;
    struct sym_file *next;
};

static struct {
    int refs;
    struct sym_file *files;
} g_cache;

static unsigned long g_files_opened, g_debuginfo_searches;

unsigned long symbolizer_files_opened(void)
{
    return g_files_opened;
}

unsigned long symbolizer_debuginfo_searches(void)
{
    return g_debuginfo_searches;
}

static void file_free(struct sym_file *f)
{
    if (f->dwfl)
        dwfl_end(f->dwfl);
    for (size_t i = 0; i < f->memo_cap; i++)
        free(f->memo[i].frames);
    free(f->memo);
    for (size_t i = 0; i < f->nstrings; i++)
        free(f->strings[i]);
    free(f->strings);
    free(f->path);
    free(f->build_id);
    free(f->debug_path);
    free(f);
}

void sym_cache_acquire(void)
{
    g_cache.refs++;
}

void sym_cache_release(void)
{
    if (--g_cache.refs > 0)
        return;
    while (g_cache.files) {
        struct sym_file *f = g_cache.files;
        g_cache.files = f->next;
        file_free(f);
    }
    g_cache.refs = 0;
}

static const char *keep_string(struct sym_file *f, char *s)
{
    if (!s)
        return NULL;
    if (f->nstrings == f->strings_cap) {
        size_t cap = f->strings_cap ? f->strings_cap * 2 : 16;
        char **p = realloc(f->strings, cap * sizeof(*p));
        if (!p) {
            free(s);
            return NULL;
        }
        f->strings = p;
        f->strings_cap = cap;
    }
    f->strings[f->nstrings++] = s;
    return s;
}

/* ---- debuginfo search ------------------------------------------------- */

static void hex_of(const unsigned char *bits, size_t len, char *out, size_t out_len)
{
    size_t i = 0;
    for (; i < len && 2 * i + 2 < out_len; i++)
        snprintf(out + 2 * i, 3, "%02x", bits[i]);
    out[2 * i] = '\0';
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *buf, size_t len)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = true;
    }
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static int crc32_fd(int fd, uint32_t *out)
{
    unsigned char buf[65536];
    uint32_t crc = 0;
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        crc = crc32_update(crc, buf, (size_t)n);
        off += n;
    }
    *out = crc;
    return 0;
}

enum cand_result { CAND_MISSING, CAND_MATCH, CAND_BAD };

struct search {
    const char *binary;           /* the module's file, for messages */
    struct stat main_st;
    bool have_main_st;
    const unsigned char *id;      /* the module's build-id */
    int id_len;
    bool check_crc;
    uint32_t crc;
};

/* Looks at one candidate the way libdw will: missing, acceptable, or
 * rejected (with a warning naming both files). */
static enum cand_result check_candidate(const struct search *s, const char *cand);

/* check_candidate on a formatted name (a name too long is missing). */
static enum cand_result __attribute__((format(printf, 2, 3)))
check_candidatef(const struct search *s, const char *fmt, ...)
{
    char cand[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cand, sizeof(cand), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cand))
        return CAND_MISSING;
    return check_candidate(s, cand);
}

static enum cand_result check_candidate(const struct search *s, const char *cand)
{
    int fd = open(cand, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CAND_MISSING;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (s->have_main_st && st.st_dev == s->main_st.st_dev && st.st_ino == s->main_st.st_ino)) {
        close(fd);
        return CAND_MISSING;
    }
    enum cand_result r = CAND_MATCH;
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!e || elf_kind(e) != ELF_K_ELF) {
        sym_warn("ignoring debug file %s for %s: not a readable ELF file (%s)", cand, s->binary,
                 elf_errmsg(-1));
        r = CAND_BAD;
    } else if (s->id_len > 0) {
        const void *cid = NULL;
        ssize_t n = dwelf_elf_gnu_build_id(e, &cid);
        if (n != s->id_len || memcmp(cid, s->id, (size_t)n) != 0) {
            char want[130], got[130] = "none";
            hex_of(s->id, (size_t)s->id_len, want, sizeof(want));
            if (n > 0)
                hex_of(cid, (size_t)n, got, sizeof(got));
            sym_warn("ignoring debug file %s: its build-id %s does not match %s (build-id %s)",
                     cand, got, s->binary, want);
            r = CAND_BAD;
        }
    } else if (s->check_crc) {
        uint32_t crc;
        if (crc32_fd(fd, &crc) != 0) {
            sym_warn("ignoring debug file %s for %s: %s", cand, s->binary, strerror(errno));
            r = CAND_BAD;
        } else if (crc != s->crc) {
            sym_warn("ignoring debug file %s: its CRC %08x does not match the .gnu_debuglink CRC "
                     "%08x of %s", cand, crc, s->crc, s->binary);
            r = CAND_BAD;
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    return r;
}

/* The build-id candidates: <root>/.build-id/xx/yyyy.debug for every absolute
 * element of the path; libdw takes the first that exists. */
static enum cand_result check_build_id_candidates(const struct search *s, const char *path)
{
    if (s->id_len < 3)
        return CAND_MISSING;
    char hex[130];
    hex_of(s->id, (size_t)s->id_len, hex, sizeof(hex));
    char *copy = strdup(path), *rest = copy, *el;
    enum cand_result r = CAND_MISSING;
    while (copy && r == CAND_MISSING && (el = strsep(&rest, ":")) != NULL) {
        if (*el == '+' || *el == '-')
            el++;
        if (*el != '/')
            continue;
        r = check_candidatef(s, "%s/.build-id/%.2s/%s.debug", el, hex, hex + 2);
    }
    free(copy);
    return r;
}

/* The .gnu_debuglink candidates in libdw's order (find_debuginfo_in_path):
 * "" = the binary's directory, relative = a subdirectory of it, absolute =
 * <root>/<binary's dir>, then with leading directories chopped off. */
static enum cand_result check_link_candidates(const struct search *s, const char *path,
                                              const char *file_name, const char *link)
{
    const char *slash = strrchr(file_name, '/');
    if (!slash)
        return CAND_MISSING;
    char dir[PATH_MAX];
    char invented[NAME_MAX + 8];
    if (!fmt_path(dir, sizeof(dir), "%.*s", (int)(slash - file_name), file_name))
        return CAND_MISSING;
    bool link_null = link == NULL;
    if (link_null) {
        if (!fmt_path(invented, sizeof(invented), "%s.debug", slash + 1))
            return CAND_MISSING;
        link = invented;
    }
    char *copy = strdup(path), *rest = copy, *el;
    enum cand_result r = CAND_MISSING;
    while (copy && r != CAND_MATCH && (el = strsep(&rest, ":")) != NULL) {
        if (*el == '+' || *el == '-')
            el++;
        enum cand_result e = CAND_MISSING;
        if (*el == '\0') {
            e = check_candidatef(s, "%s/%s", dir, link);
        } else if (*el != '/') {
            e = check_candidatef(s, "%s/%s/%s", dir, el, link);
            if (e == CAND_MISSING && link_null) {
                e = check_candidatef(s, "%s/%s/%s", dir, el, slash + 1);
            }
        } else if (dir[0] == '/') {
            for (const char *sub = dir; e == CAND_MISSING;) {
                sub = strchr(sub, '/');
                if (sub)
                    sub++;
                if (sub && !*sub)
                    break;
                e = check_candidatef(s, "%s/%s%s%s", el, sub ? sub : "", sub ? "/" : "",
                         link);
                if (e == CAND_MISSING && link_null) {
                    e = check_candidatef(s, "%s/%s%s%s", el, sub ? sub : "", sub ? "/" : "",
                             slash + 1);
                }
                if (!sub)
                    break;
            }
        }
        if (e != CAND_MISSING)
            r = e;
    }
    free(copy);
    return r;
}

static void check_candidates(Dwfl_Module *mod, const char *file_name, const char *link,
                             GElf_Word crc)
{
    struct search s = { .binary = file_name };
    if (!file_name)
        return;
    s.have_main_st = stat(file_name, &s.main_st) == 0;
    GElf_Addr vaddr;
    s.id_len = dwfl_module_build_id(mod, &s.id, &vaddr);
    s.check_crc = crc != 0 && link != NULL;
    s.crc = crc;
    const char *path = symbolizer_debuginfo_path();
    if (check_build_id_candidates(&s, path) == CAND_MATCH)
        return;
    if (check_link_candidates(&s, path, file_name, link) == CAND_MATCH)
        return;
    char *canon = realpath(file_name, NULL);
    if (canon && strcmp(canon, file_name) != 0)
        check_link_candidates(&s, path, canon, link);
    free(canon);
}

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          GElf_Addr base, const char *file_name, const char *link,
                          GElf_Word crc, char **debuginfo_file_name)
{
    struct sym_file *f = *userdata;
    bool main_lookup = f && !f->main_lookup_done;
    if (main_lookup) {
        f->main_lookup_done = true;
        g_debuginfo_searches++;
        check_candidates(mod, file_name, link, crc);
    }
    /* debuginfod (only with DEBUGINFOD_URLS) shows its progress on stderr. */
    const char *urls = getenv("DEBUGINFOD_URLS");
    bool progress = urls && *urls && !getenv("DEBUGINFOD_PROGRESS");
    if (progress)
        setenv("DEBUGINFOD_PROGRESS", "1", 1);
    int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, link, crc,
                                          debuginfo_file_name);
    if (progress)
        unsetenv("DEBUGINFOD_PROGRESS");
    if (main_lookup && fd >= 0 && *debuginfo_file_name && !f->debug_path)
        f->debug_path = strdup(*debuginfo_file_name);
    return fd;
}

static char *debuginfo_path_ptr;

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path_ptr,
};

/* ---- opening ---------------------------------------------------------- */

struct sym_file *sym_file_get(const char *path, char *why, size_t why_len)
{
    struct stat st;
    bool have_st = stat(path, &st) == 0;
    if (have_st) {
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        for (struct sym_file *f = g_cache.files; f; f = f->next)
            if (f->dev == st.st_dev && f->ino == st.st_ino && f->size == st.st_size &&
                f->mtime_ns == mt)
                return f;
    }
    debuginfo_path_ptr = (char *)symbolizer_debuginfo_path();
    struct sym_file *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(why, why_len, "%s: out of memory", path);
        return NULL;
    }
    if (have_st) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->size = st.st_size;
        f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    } else {
        f->ino = (ino_t)-1;   /* never matches: not shared */
    }
    f->path = strdup(path);
    f->memo_cap = 256;
    f->memo = calloc(f->memo_cap, sizeof(*f->memo));
    f->dwfl = dwfl_begin(&callbacks);
    if (!f->path || !f->memo || !f->dwfl) {
        snprintf(why, why_len, "%s: %s", path, f->dwfl ? "out of memory" : dwfl_errmsg(-1));
        file_free(f);
        return NULL;
    }
    /* Reported at its link-time addresses: callers subtract the bias. */
    dwfl_report_begin(f->dwfl);
    f->mod = dwfl_report_elf(f->dwfl, path, path, -1, 0, false);
    dwfl_report_end(f->dwfl, NULL, NULL);
    if (!f->mod) {
        snprintf(why, why_len, "%s: %s", path, dwfl_errmsg(-1));
        file_free(f);
        return NULL;
    }
    void **userdata;
    Dwarf_Addr lo = 0, hi = 0;
    dwfl_module_info(f->mod, &userdata, &lo, &hi, NULL, NULL, NULL, NULL);
    *userdata = f;
    f->lo = lo;
    f->hi = hi;
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(f->mod, &bits, &vaddr);
    if (n > 0) {
        f->build_id = malloc(2 * (size_t)n + 1);
        if (f->build_id)
            hex_of(bits, (size_t)n, f->build_id, 2 * (size_t)n + 1);
    }
    f->next = g_cache.files;
    g_cache.files = f;
    g_files_opened++;
    return f;
}

void sym_file_range(const struct sym_file *f, mt_addr *lo, mt_addr *hi)
{
    *lo = f->lo;
    *hi = f->hi;
}

const char *sym_file_build_id(const struct sym_file *f)
{
    return f->build_id;
}

/* ---- names ------------------------------------------------------------ */

extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

char *symbolizer_clean_name(const char *raw)
{
    if (!raw)
        return NULL;
    const char *at = strchr(raw, '@');
    size_t len = at ? (size_t)(at - raw) : strlen(raw);
    if (len > 2 && raw[0] == '_' && raw[1] == 'Z') {
        char *base = strndup(raw, len);
        int status = -1;
        char *d = base ? __cxa_demangle(base, NULL, NULL, &status) : NULL;
        if (d && status == 0) {
            free(base);
            return d;
        }
        free(d);
        if (at)
            return base;
        free(base);
        return NULL;
    }
    return at && at != raw ? strndup(raw, len) : NULL;
}

/* Sets function (and mangled when demangling changed it) from a raw name. */
static void set_name(struct sym_file *f, struct sym_chain_frame *fr, const char *raw,
                     bool linkage)
{
    if (!raw)
        return;
    char *clean = symbolizer_clean_name(raw);
    if (!clean) {
        fr->function = raw;
        return;
    }
    fr->function = keep_string(f, clean);
    if (!fr->function) {
        fr->function = raw;
        return;
    }
    if (linkage || (raw[0] == '_' && raw[1] == 'Z')) {
        const char *at = strchr(raw, '@');
        fr->mangled = at ? keep_string(f, strndup(raw, (size_t)(at - raw))) : raw;
    }
}

static const char *die_string(Dwarf_Die *die, unsigned attr)
{
    Dwarf_Attribute mem;
    return dwarf_formstring(dwarf_attr_integrate(die, attr, &mem));
}

static void die_name(struct sym_file *f, Dwarf_Die *die, struct sym_chain_frame *fr)
{
    const char *linkage = die_string(die, DW_AT_linkage_name);
    if (!linkage)
        linkage = die_string(die, DW_AT_MIPS_linkage_name);
    if (linkage) {
        set_name(f, fr, linkage, true);
        if (fr->function)
            return;
    }
    fr->function = die_string(die, DW_AT_name);
}

/* ---- resolution ------------------------------------------------------- */

static bool main_file_has_dwarf(struct sym_file *f)
{
    GElf_Addr bias;
    Elf *e = dwfl_module_getelf(f->mod, &bias);
    size_t shstrndx;
    if (!e || elf_getshdrstrndx(e, &shstrndx) != 0)
        return false;
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
        if (name && strcmp(name, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS)
            return true;
    }
    return false;
}

/* Once per file: a debug file that was found (or DWARF in the binary) that
 * libdw cannot read is worth one warning; no debug info at all is not. */
static void check_dwarf(struct sym_file *f)
{
    f->dwarf_checked = true;
    Dwarf_Addr bias;
    if (dwfl_module_getdwarf(f->mod, &bias))
        return;
    const char *err = dwfl_errmsg(-1);
    if (f->debug_path)
        sym_warn("cannot use the debug file %s of %s: %s", f->debug_path, f->path, err);
    else if (main_file_has_dwarf(f))
        sym_warn("cannot use the debug info in %s: %s", f->path, err);
}

static int call_line(Dwarf_Die *die, const char **file, Dwarf_Die *cu)
{
    Dwarf_Attribute mem;
    Dwarf_Word line = 0, idx = 0;
    *file = NULL;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &mem), &idx) == 0) {
        Dwarf_Files *files;
        size_t nfiles;
        if (dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
            *file = dwarf_filesrc(files, idx, NULL, NULL);
    }
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &mem), &line) != 0)
        line = 0;
    return line > INT_MAX ? 0 : (int)line;
}

static bool is_function_scope(Dwarf_Die *die)
{
    int tag = dwarf_tag(die);
    return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram ||
           tag == DW_TAG_entry_point;
}

#define MAX_INLINE_DEPTH 64

/* The C runtime's start-up code below main. Its frames end every stack and
 * say nothing about a leak, yet their file and line would cost opening the
 * module's DWARF: for libc with libc6-dbg, inflating ~10 MiB of compressed
 * sections, ~0.1 s, most of memtrace's cost on a short program. They are
 * named from the symbol table only, as Valgrind hides them ("below main"). */
static bool is_startup_function(const char *symname)
{
    static const char *const startup[] = {
        "_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main",
    };
    size_t len = strcspn(symname, "@");   /* __libc_start_main@@GLIBC_2.34 */
    for (size_t i = 0; i < sizeof(startup) / sizeof(startup[0]); i++)
        if (strlen(startup[i]) == len && strncmp(startup[i], symname, len) == 0)
            return true;
    return false;
}

/* Frames of link-time address a, innermost first (as eu-addr2line -i):
 * dwarf_getscopes finds the innermost function-like scope at a; while it is
 * an inlined call, dwarf_getscopes_die on it gives the concrete scopes that
 * contain it, whose first function-like scope is the caller, at the inlined
 * call's DW_AT_call_file/DW_AT_call_line. */
static unsigned resolve(struct sym_file *f, mt_addr a, struct sym_chain_frame **out)
{
    *out = NULL;
    GElf_Off off;
    GElf_Sym sym;
    const char *symname = dwfl_module_addrinfo(f->mod, a, &off, &sym, NULL, NULL, NULL);
    if (symname && is_startup_function(symname)) {
        struct sym_chain_frame *fr = calloc(1, sizeof(*fr));
        if (fr)
            set_name(f, fr, symname, false);
        *out = fr;
        return fr ? 1 : 0;
    }
    if (!f->dwarf_checked)
        check_dwarf(f);
    const char *file = NULL;
    int lineno = 0;
    Dwfl_Line *line = dwfl_module_getsrc(f->mod, a);
    if (line) {
        file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (!file)
            lineno = 0;
    }
    if (!symname && !file)
        return 0;
    struct sym_chain_frame *fr = calloc(MAX_INLINE_DEPTH, sizeof(*fr));
    if (!fr)
        return 0;
    unsigned n = 1;
    fr[0].file = file;
    fr[0].line = lineno;
    Dwarf_Addr cubias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(f->mod, a, &cubias);
    Dwarf_Die *scopes = NULL;
    int nscopes = cu ? dwarf_getscopes(cu, a - cubias, &scopes) : 0;
    Dwarf_Die die;
    bool have_die = false;
    for (int i = 0; i < nscopes && !have_die; i++) {
        if (is_function_scope(&scopes[i])) {
            die = scopes[i];
            have_die = true;
        }
    }
    free(scopes);
    if (have_die) {
        die_name(f, &die, &fr[0]);
        while (dwarf_tag(&die) == DW_TAG_inlined_subroutine && n < MAX_INLINE_DEPTH) {
            Dwarf_Die *outer = NULL;
            int nouter = dwarf_getscopes_die(&die, &outer);
            int j = 1;
            while (j < nouter && !is_function_scope(&outer[j]))
                j++;
            if (j >= nouter) {
                free(outer);
                break;
            }
            fr[n - 1].inlined = true;
            fr[n].line = call_line(&die, &fr[n].file, cu);
            die = outer[j];
            free(outer);
            die_name(f, &die, &fr[n]);
            n++;
        }
    }
    /* The real function: the symbol table's name when DWARF has none. */
    if (!fr[n - 1].function)
        set_name(f, &fr[n - 1], symname, false);
    struct sym_chain_frame *shrunk = realloc(fr, n * sizeof(*fr));
    *out = shrunk ? shrunk : fr;
    return n;
}

static size_t memo_hash(mt_addr a)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 17);
}

static struct memo_slot *memo_find(struct memo_slot *tab, size_t cap, mt_addr a)
{
    size_t mask = cap - 1;
    for (size_t i = memo_hash(a) & mask;; i = (i + 1) & mask)
        if (!tab[i].used || tab[i].key == a)
            return &tab[i];
}

static void memo_grow(struct sym_file *f)
{
    size_t cap = f->memo_cap * 2;
    struct memo_slot *bigger = calloc(cap, sizeof(*bigger));
    if (!bigger)
        return;   /* keep the smaller table: it still has room */
    for (size_t i = 0; i < f->memo_cap; i++)
        if (f->memo[i].used)
            *memo_find(bigger, cap, f->memo[i].key) = f->memo[i];
    free(f->memo);
    f->memo = bigger;
    f->memo_cap = cap;
}

unsigned sym_file_resolve(struct sym_file *f, mt_addr a, const struct sym_chain_frame **frames)
{
    struct memo_slot *e = memo_find(f->memo, f->memo_cap, a);
    if (!e->used) {
        struct sym_chain_frame *fr;
        e->n = resolve(f, a, &fr);
        e->frames = fr;
        e->key = a;
        e->used = true;
        if (++f->memo_count * 2 > f->memo_cap) {
            memo_grow(f);
            e = memo_find(f->memo, f->memo_cap, a);
        }
    }
    *frames = e->frames;
    return e->n;
}
