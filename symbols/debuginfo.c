/* The separate-debuginfo search: the debug path (built-in roots plus
 * --debug-dir and MEMTRACE_DEBUG_DIRS), the warning handler, and the Dwfl
 * callbacks every file's Dwfl uses. Before libdw's own search, the candidates
 * it will look at (build-id paths, then .gnu_debuglink names with their CRC32)
 * are checked so that a mismatched debug file gets a warning naming both
 * files instead of being silently ignored. */
#include "sym_internal.h"
#include "diag.h"
#include "symbolizer.h"
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- configuration and warnings --------------------------------------- */

/* snprintf for paths: false when the result does not fit. */
static bool __attribute__((format(printf, 3, 4)))
fmt_path(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

#define DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"

/* Owned by this module: the configured debug path (NULL: the default) and
 * what the Dwfl callbacks' debuginfo_path points to (libdw reads it through
 * the pointer at each search; set when a Dwfl is made), the installed warning
 * handler, and the count of searches for --stats. */
static char *debuginfo_path;
static char *debuginfo_path_ptr;
static struct {
    symbolizer_warn_fn fn;
    void *ctx;
} warn_handler;
static unsigned long debuginfo_searches;

void symbolizer_set_warning_handler(symbolizer_warn_fn fn, void *ctx)
{
    warn_handler.fn = fn;
    warn_handler.ctx = ctx;
}

void sym_warn(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (warn_handler.fn)
        warn_handler.fn(warn_handler.ctx, msg);
    else
        mt_warn("%s", msg);
}

const char *symbolizer_debuginfo_path(void)
{
    return debuginfo_path ? debuginfo_path : DEFAULT_DEBUGINFO_PATH;
}

unsigned long symbolizer_debuginfo_searches(void)
{
    return debuginfo_searches;
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
        sym_warn("debug directory %s: %s", abs,
                 stat(abs, &st) != 0 ? strerror(errno) : "not a directory");
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
    if (sym_debug_cache_configure(c ? c->cache_dir : NULL, why, why_len) != 0) {
        free(path);
        return -1;
    }
    free(debuginfo_path);
    debuginfo_path = path;
    return 0;
}

/* ---- debuginfo search ------------------------------------------------- */

void sym_hex(const unsigned char *bits, size_t len, char *out, size_t out_len)
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
    const char *binary; /* the module's file, for messages */
    struct stat main_st;
    bool have_main_st;
    const unsigned char *id; /* the module's build-id */
    int id_len;
    bool check_crc;
    uint32_t crc;
    /* A candidate that is not a regular file (a FIFO, a device): libdw's
     * own search would open it and block, so it must not run. */
    bool saw_unsafe;
    bool saw_any;       /* some candidate exists, fit or not */
    char *build_id_match; /* the build-id candidate that fits (malloc'd) */
};

/* Looks at one candidate the way libdw will: missing, acceptable, or
 * rejected (with a warning naming both files). */
static enum cand_result check_candidate(struct search *s, const char *cand);

/* check_candidate on a formatted name (a name too long is missing). */
static enum cand_result __attribute__((format(printf, 2, 3)))
check_candidatef(struct search *s, const char *fmt, ...)
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

static enum cand_result check_candidate(struct search *s, const char *cand)
{
    /* O_NONBLOCK: a FIFO or device planted where a debug file is looked for
     * must not block memtrace; only regular files are taken. */
    int fd = open(cand, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return CAND_MISSING;
    s->saw_any = true;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        sym_warn("ignoring %s for %s: not a regular file", cand, s->binary);
        s->saw_unsafe = true;
    }
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
            sym_hex(s->id, (size_t)s->id_len, want, sizeof(want));
            if (n > 0)
                sym_hex(cid, (size_t)n, got, sizeof(got));
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
                     "%08x of %s",
                     cand, crc, s->crc, s->binary);
            r = CAND_BAD;
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    return r;
}

/* The build-id candidates: <root>/.build-id/xx/yyyy.debug (hex: the
 * build-id) for every absolute element of the path, in order, until visit
 * returns false; libdw takes the first that exists. */
static void each_build_id_candidate(const char *path, const char *hex,
                                    bool (*visit)(const char *cand, void *arg), void *arg)
{
    if (strlen(hex) < 6)
        return;
    char *copy = strdup(path), *rest = copy, *el;
    bool more = true;
    while (copy && more && (el = strsep(&rest, ":")) != NULL) {
        if (*el == '+' || *el == '-')
            el++;
        char cand[PATH_MAX];
        if (*el == '/' &&
            fmt_path(cand, sizeof(cand), "%s/.build-id/%.2s/%s.debug", el, hex, hex + 2))
            more = visit(cand, arg);
    }
    free(copy);
}

struct build_id_check {
    struct search *s;
    enum cand_result r;
};

static bool check_build_id_candidate(const char *cand, void *arg)
{
    struct build_id_check *c = arg;
    c->r = check_candidate(c->s, cand);
    if (c->r == CAND_MATCH)
        c->s->build_id_match = strdup(cand);
    return c->r == CAND_MISSING;
}

static enum cand_result check_build_id_candidates(struct search *s, const char *path)
{
    char hex[130];
    sym_hex(s->id, s->id_len > 0 ? (size_t)s->id_len : 0, hex, sizeof(hex));
    struct build_id_check c = { s, CAND_MISSING };
    each_build_id_candidate(path, hex, check_build_id_candidate, &c);
    return c.r;
}

/* The .gnu_debuglink candidates in libdw's order (find_debuginfo_in_path):
 * "" = the binary's directory, relative = a subdirectory of it, absolute =
 * <root>/<binary's dir>, then with leading directories chopped off. */
static enum cand_result check_link_candidates(struct search *s, const char *path,
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
                e = check_candidatef(s, "%s/%s%s%s", el, sub ? sub : "", sub ? "/" : "", link);
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

/* Returns false when a candidate is not a regular file: libdw's search
 * must then not run. *saw_any: some candidate exists. */
static bool check_candidates(Dwfl_Module *mod, const char *file_name, const char *link,
                             GElf_Word crc, bool *saw_any, char **build_id_match)
{
    struct search s = { .binary = file_name };
    *saw_any = true;   /* not looked: libdw looks */
    *build_id_match = NULL;
    if (!file_name)
        return true;
    s.have_main_st = stat(file_name, &s.main_st) == 0;
    GElf_Addr vaddr;
    s.id_len = dwfl_module_build_id(mod, &s.id, &vaddr);
    s.check_crc = crc != 0 && link != NULL;
    s.crc = crc;
    const char *path = symbolizer_debuginfo_path();
    if (check_build_id_candidates(&s, path) != CAND_MATCH &&
        check_link_candidates(&s, path, file_name, link) != CAND_MATCH) {
        char *canon = realpath(file_name, NULL);
        if (canon && strcmp(canon, file_name) != 0)
            check_link_candidates(&s, path, canon, link);
        free(canon);
    }
    *saw_any = s.saw_any;
    *build_id_match = s.build_id_match;
    return !s.saw_unsafe;
}

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
                          const char *file_name, const char *link, GElf_Word crc,
                          char **debuginfo_file_name)
{
    struct sym_debug_lookup *l = *userdata;
    bool main_lookup = l && !l->main_lookup_done;
    if (main_lookup) {
        l->main_lookup_done = true;
        debuginfo_searches++;
        bool saw_any;
        l->unsafe = !check_candidates(mod, file_name, link, crc, &saw_any, &l->build_id_match);
        l->nothing_local = !saw_any;
    }
    if (l && l->unsafe)
        return -1;   /* no separate debug info rather than a blocked memtrace */
    /* libdw would take this very file (its build-id search comes first) and
     * inflate it; the cached copy is that file inflated. */
    if (main_lookup && l->build_id_match && l->build_id) {
        int fd = sym_debug_cache_open(l->build_id_match, l->build_id);
        if (fd >= 0) {
            *debuginfo_file_name = strdup(l->build_id_match);
            if (!l->debug_path)
                l->debug_path = strdup(l->build_id_match);
            return fd;
        }
    }
    /* Without a server to ask, a search that has no file to find is skipped:
     * libdw's would end by loading libdebuginfod and its dependencies (curl,
     * TLS, Kerberos, LDAP: ~25 ms here) to learn there is no server. */
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (l && l->nothing_local && !(urls && *urls))
        return -1;
    /* A download can take minutes: on a terminal, libdebuginfod draws its
     * own progress line, which replaces memtrace's (erased first, so the two
     * do not mix); elsewhere, a log stays free of carriage returns. */
    bool progress = urls && *urls && !getenv("DEBUGINFOD_PROGRESS") &&
                    isatty(STDERR_FILENO) == 1;
    if (progress) {
        mt_diag_status(NULL);
        setenv("DEBUGINFOD_PROGRESS", "1", 1);
    }
    int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, link, crc,
                                          debuginfo_file_name);
    if (progress)
        unsetenv("DEBUGINFOD_PROGRESS");
    if (main_lookup && fd >= 0 && *debuginfo_file_name && !l->debug_path)
        l->debug_path = strdup(*debuginfo_file_name);
    return fd;
}

static bool prefetch_candidate(const char *cand, void *build_id)
{
    struct stat st;
    if (stat(cand, &st) != 0)
        return true;   /* look further */
    if (S_ISREG(st.st_mode))
        sym_debug_cache_prefetch(cand, build_id);
    return false;
}

void sym_debug_prefetch(const char *build_id)
{
    if (build_id)
        each_build_id_candidate(symbolizer_debuginfo_path(), build_id, prefetch_candidate,
                                (void *)(uintptr_t)build_id);
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path_ptr,
};

const Dwfl_Callbacks *sym_debuginfo_callbacks(void)
{
    debuginfo_path_ptr = (char *)symbolizer_debuginfo_path();
    return &callbacks;
}
