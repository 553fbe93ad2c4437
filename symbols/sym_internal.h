/* Internals of the symbolizer shared by symbolizer.c (module tables,
 * generations, per-process memo), sym_file.c (one Dwfl per distinct file,
 * inline chains, per-file memo), debuginfo.c (configuration, warnings, the
 * separate-debuginfo search) and names.c (names and demangling). Not for
 * other users. */
#ifndef MT_SYM_INTERNAL_H
#define MT_SYM_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include "grow.h"
#include "mt_addr.h"


/* One source-level frame of a link-time address (no process specifics). */
struct sym_chain_frame {
    const char *function, *mangled, *file;
    int line;
    bool inlined;
};

struct sym_file;

/* ---- sym_file.c ---- */

/* The process-wide file cache lives while at least one symbolizer does. */
void sym_cache_acquire(void);
void sym_cache_release(void);

/* The file open at fd, named path (opened through fd, or found already
 * open: same device, inode, size and mtime). fd is consumed: kept by libdw
 * or closed. Returns NULL with a reason in why. */
struct sym_file *sym_file_get(int fd, const char *path, char *why, size_t why_len);
/* Link-time range [lo, hi) of the file's loadable segments. */
void sym_file_range(const struct sym_file *f, mt_addr *lo, mt_addr *hi);
const char *sym_file_build_id(const struct sym_file *f);
/* The frames of link-time address a, innermost first; n == 0 when nothing
 * is known. Memoized: the array lives as long as the file cache. */
unsigned sym_file_resolve(struct sym_file *f, mt_addr a, const struct sym_chain_frame **frames);
/* The function symbol name of the file's symbol table, or of its separate
 * debug file's when the file is stripped: link-time value and size. */
bool sym_file_find_symbol(struct sym_file *f, const char *name, int type, mt_addr *value,
                          uint64_t *size);
/* The layout of struct name as the DWARF of the compilation unit holding
 * link-time code address cu_code declares it: each member's offset
 * (UINT64_MAX when it has none) and the struct's size. */
bool sym_file_struct_layout(struct sym_file *f, mt_addr cu_code, const char *name,
                            const char *const *members, size_t n, uint64_t *offsets,
                            uint64_t *size);
/* Keeps s (malloc'd, or NULL) until the file is freed; returns it, or NULL
 * (s freed) when out of memory. */
const char *sym_file_keep_string(struct sym_file *f, char *s);

/* ---- debuginfo.c ---- */

/* What the debuginfo search records for one file: the Dwfl module's
 * userdata, embedded in its struct sym_file. */
struct sym_debug_lookup {
    bool unsafe;   /* a candidate path is not a regular file: libdw's search is not run */
    bool main_lookup_done; /* find_debuginfo ran for the main debug file */
    bool nothing_local;    /* no file exists where a separate debug file is looked for */
    char *debug_path;      /* the separate debug file libdw took, if any */
    char *build_id_match;  /* the build-id candidate that fits, if any */
    const char *build_id;  /* the module's, in hex (its struct sym_file's), or NULL */
};

/* The callbacks for a new Dwfl (libdw's, with the search wrapped to warn
 * about mismatched candidates), their debuginfo_path set to the current
 * symbolizer_debuginfo_path(). */
const Dwfl_Callbacks *sym_debuginfo_callbacks(void);
/* Lower-case hex of len bytes into out (truncated to fit out_len). */
void sym_hex(const unsigned char *bits, size_t len, char *out, size_t out_len);

/* Prints (or hands to the installed handler) one warning line. */
void sym_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Queues for the cache of inflated debug files the separate debug file
 * libdw will take for the module of build_id (hex; the first build-id
 * candidate, as libdw looks). NULL: nothing. */
void sym_debug_prefetch(const char *build_id);

/* ---- debug_cache.c ---- */

/* The cache directory (absolute; NULL or "": no cache). A directory that
 * cannot be made or is not this user's alone is a warning, and no cache. */
int sym_debug_cache_configure(const char *dir, char *why, size_t why_len);
/* Queues the debug file at path (of build-id build_id, hex) to be inflated
 * into the cache in the background, when it has compressed sections and
 * the cache does not hold it yet. */
void sym_debug_cache_prefetch(const char *path, const char *build_id);
/* A descriptor of the inflated copy of the debug file at path, from the
 * cache, inflated now when it is not there yet; -1 when the file has
 * nothing to inflate, or there is no cache. */
int sym_debug_cache_open(const char *path, const char *build_id);
/* What the cache directory may hold, in bytes (0: the default, 1 GiB);
 * the least recently used copies are removed past it. */
void sym_debug_cache_set_limit(uint64_t bytes);
/* Stops the background thread (within one chunk of its work) and forgets
 * the queue. */
void sym_debug_cache_shutdown(void);
/* Writes to to the ELF file from with its compressed sections inflated;
 * false (to's contents undefined) when from has none or cannot be read, or
 * *stop became true (stop may be NULL). */
bool sym_inflate_elf(int from, int to, const bool *stop);

/* ---- names.c ---- */

/* Sets fr->function (and fr->mangled when demangling changed it) from a raw
 * symbol or linkage name; nothing when raw is NULL. */
void sym_name_set(struct sym_file *f, struct sym_chain_frame *fr, const char *raw, bool linkage);
/* Names fr from die: its linkage name cleaned, else its DW_AT_name. */
void sym_name_from_die(struct sym_file *f, Dwarf_Die *die, struct sym_chain_frame *fr);

#endif
