/* Turns target code addresses into frames: function, source file and line,
 * with the chain of inlined calls, from libdw. The only user of libdw.
 *
 * Modules are added explicitly (path + load bias), so symbolization works
 * after the target is gone and in unit tests on plain files.
 *
 * Debug information is found with libdw's own machinery
 * (dwfl_standard_find_debuginfo): the binary itself, then
 * <root>/.build-id/xx/yyyy.debug, then the file named by .gnu_debuglink next
 * to the binary, in its .debug/ directory and under <root>/<binary's dir>,
 * for every root in "/usr/lib/debug" plus the configured debug directories;
 * debuginfod only when DEBUGINFOD_URLS is set. A candidate whose build-id
 * (or, for binaries without a build-id, CRC) does not match is skipped by
 * libdw silently; memtrace checks the same candidates first and prints one
 * warning naming both files.
 *
 * Caching. Every distinct file (device + inode + size + mtime) is opened once
 * per run, in one Dwfl of its own, reported at its link-time addresses, and
 * shared by every symbolizer (every traced process) alive; its results are
 * memoized per link-time address. On top of that each symbolizer memoizes
 * per (address, module instance). So each unique address is symbolized once
 * and each module's debuginfo is read once, however many stacks name it.
 *
 * Module lifetimes and generations. A program can dlclose a library before
 * exit, and map another one at the same addresses. The symbolizer keeps every
 * module it was ever given, with the lifetime [added, removed) counted in
 * generations of the module list; a lookup names the generation the address
 * was recorded in and sees the modules of that generation. memtrace does not
 * store a generation with each stack: stack ids grow in the order stacks are
 * first taken, so before each change of the module list the caller says
 * which id the next stack will get (symbolizer_mark), and
 * symbolizer_generation_at(id) maps a stack id back to the generation it was
 * taken in. Limitation: a stack whose every return address is equal to one
 * taken in an earlier generation shares that stack's id, and is resolved in
 * the earlier generation (it can only differ when another module now sits at
 * exactly the same addresses with the same call offsets). When no module of
 * the generation covers an address, the latest earlier module that does is
 * used. */
#ifndef MT_SYMBOLIZER_H
#define MT_SYMBOLIZER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mt_addr.h"

/* One frame: where an address is in the source. */
struct sym_frame {
    mt_addr address;       /* as recorded (a return address for callers) */
    const char *function;  /* demangled, without @VERSION; NULL when unknown */
    const char *file;      /* as the line table records it; NULL when unknown */
    int line;              /* 0 when unknown */
    const char *module;    /* path of the module; NULL when no module covers address */
    mt_addr module_offset; /* address - load bias: the link-time address in the module,
                              * what eu-addr2line -e MODULE wants */
};

/* What symbolizer_lookup returns: a frame and what else is known about it.
 * An address inside inlined code gives several, innermost first (like
 * eu-addr2line -i): the inlined function with the line inside it (inlined =
 * true), then its caller with the line of the inlined call site, and so on
 * up to the real function (inlined = false). (struct sym_frame keeps its six
 * fields so code that initializes it positionally still compiles.) */
struct sym_frame_ext {
    struct sym_frame f;
    const char *mangled;  /* raw linkage name when it differs from f.function, else NULL */
    const char *build_id; /* the module's GNU build-id in hex; NULL when none */
    bool inlined;         /* inlined into the next frame (same address) */
};

/* Process-wide settings, before the first module is added. */
struct symbolizer_config {
    const char *const *debug_dirs; /* --debug-dir roots, in order */
    size_t ndebug_dirs;
    const char *debug_dirs_env; /* MEMTRACE_DEBUG_DIRS: colon-separated roots, or NULL */
    /* Where inflated copies of compressed debug files are kept (absolute),
     * NULL: nowhere. */
    const char *cache_dir;
};
/* Returns 0, or -1 with a reason in why (a directory that does not exist is
 * only a warning). Relative directories are made absolute. */
int symbolizer_configure(const struct symbolizer_config *c, char *why, size_t why_len);
/* The debuginfo path handed to libdw: ":.debug:/usr/lib/debug[:ROOT...]". */
const char *symbolizer_debuginfo_path(void);

/* Warnings (unusable or mismatched debug files) go to fn; the default
 * prints "memtrace: warning: MSG" on stderr. fn NULL restores it. */
typedef void (*symbolizer_warn_fn)(void *ctx, const char *msg);
void symbolizer_set_warning_handler(symbolizer_warn_fn fn, void *ctx);

struct symbolizer;

struct symbolizer *symbolizer_create(void);
/* A copy with the same modules, lifetimes and generations (for fork). */
struct symbolizer *symbolizer_clone(const struct symbolizer *s);
void symbolizer_destroy(struct symbolizer *s);

/* Adds the ELF file at path, loaded with bias (0 for non-PIE executables),
 * alive from now on. Returns 0 or -1 (with a warning in why) when libdw
 * cannot use the file. */
int symbolizer_add_module(struct symbolizer *s, const char *path, mt_addr bias, char *why,
                          size_t why_len);
/* The same for the file open at fd (consumed: kept or closed), named
 * display in frames (NULL: path; the path a program was run by, such as a
 * symlink, while path, the mapped file's, is where debug files are looked
 * for). A traced process's module is read through the descriptor of the
 * file it maps, so a path replaced on disk (a package upgrade) or named by
 * the target itself never decides what is read. */
int symbolizer_add_module_fd(struct symbolizer *s, int fd, const char *path, const char *display,
                             mt_addr bias, char *why, size_t why_len);
/* Ends the lifetime of the live module added with path and bias (dlclose).
 * Its addresses still resolve for earlier generations. Returns 0 or -1 when
 * no such module is alive. */
int symbolizer_remove_module(struct symbolizer *s, const char *path, mt_addr bias);

#define SYMBOLIZER_NOW UINT32_MAX /* generation: the current module list */

/* Says that the caller's next event will carry sequence number seq (memtrace:
 * the id of the next new stack); the next add or remove starts a generation
 * at seq, and later adds and removes join it until the next mark. Without a
 * mark, every add and remove starts a generation. */
void symbolizer_mark(struct symbolizer *s, uint64_t seq);
uint32_t symbolizer_generation(const struct symbolizer *s);
/* The generation current when the event with sequence number seq happened. */
uint32_t symbolizer_generation_at(const struct symbolizer *s, uint64_t seq);

/* Frames for ip as seen in generation gen; return_address selects ip-1 for
 * the lookup so a call's line is reported, not the next statement's.
 * Returns the number of frames (>= 1) and points *frames at them; they stay
 * valid until symbolizer_destroy. */
unsigned symbolizer_lookup(struct symbolizer *s, mt_addr ip, uint32_t gen, bool return_address,
                           const struct sym_frame_ext **frames);
/* Which module covers ip in generation gen (ip - 1 with return_address),
 * from the module table alone: no file is read, so it never waits. Sets
 * *path (valid until symbolizer_destroy) and *module_offset (ip - load
 * bias); returns false when no module covers it. */
bool symbolizer_locate(const struct symbolizer *s, mt_addr ip, uint32_t gen, bool return_address,
                       const char **path, mt_addr *module_offset);
/* Number of distinct addresses actually resolved (for --stats and tests). */
unsigned long symbolizer_lookups(const struct symbolizer *s);

/* Files opened so far by this process (each distinct file once, shared by
 * all symbolizers alive), and searches for their separate debug info. */
unsigned long symbolizer_files_opened(void);
unsigned long symbolizer_debuginfo_searches(void);
/* Separate debug files with compressed DWARF inflated into the cache by
 * this process (see debug_cache.c). */
unsigned long symbolizer_debug_files_inflated(void);

/* Name clean-up used for every symbol: drops an ELF version suffix
 * ("__libc_start_main@@GLIBC_2.34") and demangles C++ and Rust names.
 * Returns a malloc'd string, or NULL when nothing changes (or on ENOMEM). */
char *symbolizer_clean_name(const char *raw);
/* The function name in the module added as path at bias, found in its
 * symbol table or, when it is stripped, in its separate debug file's: a
 * static executable's allocator. Link-time value and size. */
bool symbolizer_find_function(const struct symbolizer *s, const char *path, mt_addr bias,
                              const char *name, uint64_t *value, uint64_t *size);
/* A data object's symbol (STT_OBJECT), looked up as symbolizer_find_function
 * looks up functions: libc's main_arena is one, in its debug file. */
bool symbolizer_find_object(const struct symbolizer *s, const char *path, mt_addr bias,
                            const char *name, uint64_t *value, uint64_t *size);
/* The layout of struct name as the debug info of the module added as path
 * at bias declares it, in the compilation unit holding link-time code
 * address cu_code: the offset of each of members[0..n) (UINT64_MAX for one
 * it lacks) and its size. False without debug info or such a struct. */
bool symbolizer_struct_layout(const struct symbolizer *s, const char *path, mt_addr bias,
                              mt_addr cu_code, const char *name, const char *const *members,
                              size_t n, uint64_t *offsets, uint64_t *size);
/* Whether name looks mangled: C++ and Rust legacy "_Z...", Rust v0 "_R...". */
bool symbolizer_is_mangled(const char *name);

/* The libdw (elfutils) version memtrace was built with ("0.188"). */
const char *symbolizer_libdw_version(void);

#endif
