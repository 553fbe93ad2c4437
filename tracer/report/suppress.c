/* Suppression files: Valgrind's blocks and LeakSanitizer's lines (see
 * suppress.h), parsed strictly (a malformed file is named with its line,
 * never half read) and matched as memcheck and LSan match them. */
#include "suppress.h"
#include "grow.h"
#include "leak_scan.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* memcheck's limit on a suppression's frames. */
#define SUPP_MAX_FRAMES 24
#define SUPP_MAX_FILE (16u << 20)

void supp_set_init(struct supp_set *s)
{
    memset(s, 0, sizeof(*s));
}

static void supp_free(struct suppression *q)
{
    free(q->name);
    for (size_t i = 0; i < q->nframes; i++)
        free(q->frames[i].glob);
    free(q->frames);
    free(q->pattern);
    free(q->file);
}

void supp_set_destroy(struct supp_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        supp_free(&s->items[i]);
    free(s->items);
    supp_set_init(s);
}

bool supp_glob(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* The lines of a file, trimmed, one at a time. */
struct lines {
    const char *at, *end;
    unsigned number;
    char buf[4096];
};

static const char *next_line(struct lines *l)
{
    while (l->at < l->end) {
        const char *nl = memchr(l->at, '\n', (size_t)(l->end - l->at));
        const char *stop = nl ? nl : l->end;
        const char *a = l->at, *b = stop;
        l->at = nl ? nl + 1 : l->end;
        l->number++;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (a == b || *a == '#')
            continue;
        size_t len = (size_t)(b - a);
        if (len >= sizeof(l->buf))
            len = sizeof(l->buf) - 1;
        memcpy(l->buf, a, len);
        l->buf[len] = '\0';
        return l->buf;
    }
    return NULL;
}

static int fail(char *why, size_t why_len, const char *path, unsigned line, const char *what)
{
    snprintf(why, why_len, "%s:%u: %s", path, line, what);
    return -EINVAL;
}

static struct suppression *add(struct supp_set *s, const char *path, unsigned line)
{
    struct suppression *items = mt_grow(s->items, &s->cap, s->n + 1, sizeof(*items));
    if (!items)
        return NULL;
    s->items = items;
    struct suppression *q = &s->items[s->n];
    memset(q, 0, sizeof(*q));
    q->file = strdup(path);
    q->line = line;
    if (!q->file)
        return NULL;
    s->n++;
    return q;
}

const char *supp_leak_kind_word(unsigned kind)
{
    static const char *const words[] = {
        [LEAK_DEFINITE] = "definite", [LEAK_INDIRECT] = "indirect",
        [LEAK_POSSIBLE] = "possible", [LEAK_REACHABLE] = "reachable",
    };
    return kind < LEAK_KIND_COUNT ? words[kind] : NULL;
}

/* "definite,possible" (or all, none) into bits of enum leak_kind. */
static bool parse_leak_kinds(const char *list, unsigned *out)
{
    *out = 0;
    if (strcmp(list, "all") == 0) {
        *out = (1u << LEAK_KIND_COUNT) - 1;
        return true;
    }
    if (strcmp(list, "none") == 0)
        return true;
    const char *w = list;
    while (*w) {
        size_t len = strcspn(w, ",");
        bool known = false;
        for (unsigned k = 0; k < LEAK_KIND_COUNT; k++) {
            const char *word = supp_leak_kind_word(k);
            if (strlen(word) == len && strncmp(word, w, len) == 0) {
                *out |= 1u << k;
                known = true;
            }
        }
        if (!known || len == 0)
            return false;
        w += len;
        if (*w == ',' && *++w == '\0')
            return false;
    }
    return true;
}

/* One Valgrind block, its "{" already read. */
static int parse_block(struct supp_set *s, struct lines *l, const char *path, char *why,
                       size_t why_len)
{
    unsigned start = l->number;
    const char *name = next_line(l);
    if (!name || strcmp(name, "}") == 0 || strcmp(name, "{") == 0)
        return fail(why, why_len, path, l->number, "expected the suppression's name after '{'");
    struct suppression *q = add(s, path, start);
    if (!q || !(q->name = strdup(name)))
        return -ENOMEM;
    q->format = SUPP_VALGRIND;
    q->leak_kinds = (1u << LEAK_KIND_COUNT) - 1;
    const char *kind = next_line(l);
    const char *colon = kind ? strchr(kind, ':') : NULL;
    if (!colon || colon == kind || colon[1] == '\0')
        return fail(why, why_len, path, l->number,
                    "expected TOOL:KIND after the name (Memcheck:Leak, Memcheck:Free)");
    bool memcheck = (size_t)(colon - kind) == strlen("Memcheck") &&
                    strncmp(kind, "Memcheck", strlen("Memcheck")) == 0;
    bool leak = memcheck && strcmp(colon + 1, "Leak") == 0;
    bool param = memcheck && strcmp(colon + 1, "Param") == 0;
    /* Kinds memtrace never reports (Cond, Addr4, another tool's) are kept
     * but match nothing: files written for Valgrind hold many. */
    q->kind = leak ? SUPP_LEAK : SUPP_FREE;
    q->inert = !leak && !(memcheck && strcmp(colon + 1, "Free") == 0);
    if (param && !next_line(l))
        return fail(why, why_len, path, l->number, "expected the parameter of Memcheck:Param");
    const char *line;
    while ((line = next_line(l)) != NULL) {
        if (strcmp(line, "}") == 0) {
            if (q->nframes == 0)
                return fail(why, why_len, path, l->number,
                            "expected at least one fun:, obj: or ... line before '}'");
            return 0;
        }
        if (strncmp(line, "match-leak-kinds:", 17) == 0) {
            const char *list = line + 17;
            while (isspace((unsigned char)*list))
                list++;
            if (!leak || q->nframes || !parse_leak_kinds(list, &q->leak_kinds))
                return fail(why, why_len, path, l->number,
                            "expected match-leak-kinds: definite,indirect,possible,reachable "
                            "(or all, none) right after Memcheck:Leak");
            continue;
        }
        enum supp_pat_type type;
        const char *glob = NULL;
        if (strcmp(line, "...") == 0) {
            type = SUPP_ELLIPSIS;
        } else if (strncmp(line, "fun:", 4) == 0 && line[4]) {
            type = SUPP_FUN;
            glob = line + 4;
        } else if (strncmp(line, "obj:", 4) == 0 && line[4]) {
            type = SUPP_OBJ;
            glob = line + 4;
        } else {
            return fail(why, why_len, path, l->number, "expected fun:NAME, obj:PATH, ... or '}'");
        }
        if (q->nframes == SUPP_MAX_FRAMES)
            return fail(why, why_len, path, l->number, "more than 24 frames in one suppression");
        struct supp_pattern *f = realloc(q->frames, (q->nframes + 1) * sizeof(*f));
        if (!f)
            return -ENOMEM;
        q->frames = f;
        f[q->nframes] = (struct supp_pattern){ .type = type, .glob = glob ? strdup(glob) : NULL };
        if (glob && !f[q->nframes].glob)
            return -ENOMEM;
        q->nframes++;
    }
    return fail(why, why_len, path, l->number, "expected '}' before the end of the file");
}

static int parse_lsan(struct supp_set *s, struct lines *l, const char *first, const char *path,
                      char *why, size_t why_len)
{
    for (const char *line = first; line; line = next_line(l)) {
        if (strncmp(line, "leak:", 5) != 0 || line[5] == '\0')
            return fail(why, why_len, path, l->number,
                        "expected leak:PATTERN (LeakSanitizer's only suppression type)");
        struct suppression *q = add(s, path, l->number);
        if (!q || !(q->name = strdup(line)))
            return -ENOMEM;
        q->format = SUPP_LSAN;
        q->kind = SUPP_LEAK;
        q->leak_kinds = (1u << LEAK_KIND_COUNT) - 1;
        const char *p = line + 5;
        q->anchor_start = *p == '^';
        p += q->anchor_start;
        size_t len = strlen(p);
        q->anchor_end = len > 0 && p[len - 1] == '$';
        len -= q->anchor_end;
        if (len == 0)
            return fail(why, why_len, path, l->number, "expected a pattern after leak:");
        /* Unanchored, the pattern may occur anywhere in the name. */
        q->pattern = malloc(len + 3);
        if (!q->pattern)
            return -ENOMEM;
        snprintf(q->pattern, len + 3, "%s%.*s%s", q->anchor_start ? "" : "*", (int)len, p,
                 q->anchor_end ? "" : "*");
    }
    return 0;
}

int supp_parse(struct supp_set *s, const char *path, const char *text, size_t len, char *why,
               size_t why_len)
{
    if (memchr(text, '\0', len))
        return fail(why, why_len, path, 1, "expected a text file (it holds a NUL byte)");
    struct lines l = { .at = text, .end = text + len };
    const char *first = next_line(&l);
    if (!first)
        return 0;
    if (strcmp(first, "{") != 0)
        return parse_lsan(s, &l, first, path, why, why_len);
    for (const char *line = first; line; line = next_line(&l)) {
        if (strcmp(line, "{") != 0)
            return fail(why, why_len, path, l.number, "expected '{' to start a suppression");
        int err = parse_block(s, &l, path, why, why_len);
        if (err)
            return err;
    }
    return 0;
}

int supp_load(struct supp_set *s, const char *path, char *why, size_t why_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = -errno;
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return err;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > SUPP_MAX_FILE) {
        close(fd);
        snprintf(why, why_len, "%s: %s", path,
                 S_ISREG(st.st_mode) ? "larger than 16 MiB" : "not a regular file");
        return -EINVAL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    if (!text) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? -errno : -EIO;
            snprintf(why, why_len, "%s: %s", path, r < 0 ? strerror(errno) : "file shrank");
            free(text);
            close(fd);
            return err;
        }
        got += (size_t)r;
    }
    close(fd);
    int err = supp_parse(s, path, text, got, why, why_len);
    free(text);
    return err;
}

static bool fun_matches(const char *glob, const struct supp_frame *f)
{
    return (f->function && supp_glob(glob, f->function)) ||
           (f->mangled && supp_glob(glob, f->mangled)) ||
           (!f->function && !f->mangled && supp_glob(glob, "???"));
}

static bool frames_match(const struct supp_pattern *p, size_t np, const struct supp_frame *f,
                         size_t nf)
{
    if (np == 0)
        return true;   /* a prefix of the stack is enough */
    if (p->type == SUPP_ELLIPSIS) {
        for (size_t skip = 0; skip <= nf; skip++)
            if (frames_match(p + 1, np - 1, f + skip, nf - skip))
                return true;
        return false;
    }
    if (nf == 0)
        return false;
    bool ok = p->type == SUPP_FUN ? fun_matches(p->glob, f)
                                  : f->module != NULL && supp_glob(p->glob, f->module);
    return ok && frames_match(p + 1, np - 1, f + 1, nf - 1);
}

static bool lsan_matches(const struct suppression *q, const struct supp_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *names[] = { f[i].function, f[i].module, f[i].file };
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (names[k] && supp_glob(q->pattern, names[k]))
                return true;
    }
    return false;
}

struct suppression *supp_match(const struct supp_set *s, enum supp_kind kind, unsigned leak_kind,
                               const struct supp_frame *frames, size_t n)
{
    for (size_t i = 0; i < s->n; i++) {
        struct suppression *q = &s->items[i];
        if (q->kind != kind || q->inert)
            continue;
        if (kind == SUPP_LEAK && !(q->leak_kinds & (1u << leak_kind)))
            continue;
        if (q->format == SUPP_LSAN ? lsan_matches(q, frames, n)
                                   : frames_match(q->frames, q->nframes, frames, n))
            return q;
    }
    return NULL;
}
