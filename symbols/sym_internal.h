/* Internals of the symbolizer shared by symbolizer.c (module tables,
 * generations, per-process memo) and sym_file.c (one Dwfl per distinct file,
 * debuginfo search, inline chains, per-file memo). Not for other users. */
#ifndef MT_SYM_INTERNAL_H
#define MT_SYM_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mt_addr.h"

/* One source-level frame of a link-time address (no process specifics). */
struct sym_chain_frame {
    const char *function, *mangled, *file;
    int line;
    bool inlined;
};

struct sym_file;

/* The process-wide file cache lives while at least one symbolizer does. */
void sym_cache_acquire(void);
void sym_cache_release(void);

/* Opens path (or finds it already open: same device, inode, size and
 * mtime). Returns NULL with a reason in why. */
struct sym_file *sym_file_get(const char *path, char *why, size_t why_len);
/* Link-time range [lo, hi) of the file's loadable segments. */
void sym_file_range(const struct sym_file *f, mt_addr *lo, mt_addr *hi);
const char *sym_file_build_id(const struct sym_file *f);
/* The frames of link-time address a, innermost first; n == 0 when nothing
 * is known. Memoized: the array lives as long as the file cache. */
unsigned sym_file_resolve(struct sym_file *f, mt_addr a, const struct sym_chain_frame **frames);

/* Prints (or hands to the installed handler) one warning line. */
void sym_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
