/* Suppressions: the files projects already keep for Valgrind (.supp blocks)
 * and LeakSanitizer (leak:PATTERN lines), read per file by their first
 * line, and matched against a record's symbolized frames at report time.
 * Pure: no symbolizer, no process. */
#ifndef MT_SUPPRESS_H
#define MT_SUPPRESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum supp_format { SUPP_VALGRIND, SUPP_LSAN };
/* What a suppression applies to: memcheck's Leak, and its Free (a bad
 * free, delete or realloc: double, invalid or mismatched). */
enum supp_kind { SUPP_LEAK, SUPP_FREE };

enum supp_pat_type { SUPP_FUN, SUPP_OBJ, SUPP_ELLIPSIS };

struct supp_pattern {
    enum supp_pat_type type;
    char *glob;                 /* fun: and obj:, with * and ? (NULL for ...) */
};

struct suppression {
    char *name;                 /* Valgrind's block name; LSan's "leak:PATTERN" */
    enum supp_format format;
    enum supp_kind kind;
    bool inert;                 /* a kind memtrace never reports (Memcheck:Cond): matches nothing */
    unsigned leak_kinds;        /* match-leak-kinds: bit (1 << enum leak_kind); all when absent */
    struct supp_pattern *frames;
    size_t nframes;
    char *pattern;              /* LSan: the pattern without its anchors */
    bool anchor_start, anchor_end;
    char *file;
    unsigned line;              /* where the suppression starts */
};

struct supp_set {
    struct suppression *items;
    size_t n, cap;
};

/* One frame as matched: names may be NULL. */
struct supp_frame {
    const char *function;       /* demangled */
    const char *mangled;
    const char *module;         /* path */
    const char *file;           /* source file */
};

void supp_set_init(struct supp_set *s);
void supp_set_destroy(struct supp_set *s);
/* Adds the suppressions of text (the contents of file path), in either
 * format. Returns 0, -ENOMEM, or -EINVAL with "PATH:LINE: what was
 * expected" in why. */
int supp_parse(struct supp_set *s, const char *path, const char *text, size_t len, char *why,
               size_t why_len);
/* supp_parse of the file at path; -errno with why when it cannot be read. */
int supp_load(struct supp_set *s, const char *path, char *why, size_t why_len);
/* Adds memtrace's default suppressions (default_supp.c), whose file name
 * is supp_default_path. Returns as supp_parse. */
int supp_load_defaults(struct supp_set *s, char *why, size_t why_len);
extern const char supp_default_path[];

/* The first suppression of kind matching frames (innermost first; a leak's
 * begins with the allocation function itself, as memcheck's stacks do),
 * for a leak of leak_kind (enum leak_kind; ignored for SUPP_FREE), or NULL. */
struct suppression *supp_match(const struct supp_set *s, enum supp_kind kind, unsigned leak_kind,
                               const struct supp_frame *frames, size_t n);

/* match-leak-kinds' word for enum leak_kind kind ("definite"), or NULL. */
const char *supp_leak_kind_word(unsigned kind);
/* Valgrind's wildcards: * any run of characters, ? any one. */
bool supp_glob(const char *pattern, const char *s);

#endif
