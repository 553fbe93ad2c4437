/* The report model: what each traced process leaves behind, grouped into
 * records by (allocator, stack), plus the writers' shared inputs. Pure:
 * frames are resolved through a callback. */
#ifndef MT_REPORT_H
#define MT_REPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include "alloc_model.h"
#include "hook_list.h"
#include "leak_scan.h"
#include "map_table.h"
#include "shm_table.h"
#include "stack_intern.h"
#include "stats.h"
#include "suppress.h"
#include "symbolizer.h"

/* The frames of ip, innermost inlined call first (see symbolizer_lookup), as
 * the module list was when stack was taken. Returns their number (>= 1) and
 * points *out at them, in the resolver's own storage (ctx's): they must stay
 * valid at least until its next call. */
typedef unsigned (*report_resolve_frames_fn)(void *ctx, uint32_t stack, mt_addr ip,
                                             const struct sym_frame_ext **out);

/* How a process's record ended. */
enum report_end { REPORT_RUNNING, REPORT_EXITED, REPORT_SIGNALED, REPORT_EXEC, REPORT_DETACHED };
/* Its JSON name: "running", "exited", "signaled", "exec", "detached". */
const char *report_end_name(enum report_end end);

/* memtrace report: the heap as a saved JSON report recorded it, in place
 * of the model's live blocks and the scan (report_load.c). */
struct saved_heap {
    const struct leak_record *records;    /* stacks in the process's own intern */
    size_t n;
    /* Per kind before any suppression (REPORT_KIND_UNFREED: every block). */
    struct { uint64_t bytes, blocks; } totals[LEAK_KIND_COUNT + 1];
    bool classified;
};

struct report_process {
    pid_t pid;
    char *const *argv;
    enum report_end end;
    bool attached;                /* memtrace attach: counts start at attach */
    unsigned fast_functions;      /* --fast: allocator entry points on the stub, 0: none */
    const struct hook_list *hooks;   /* what memtrace hooked; NULL: not known */
    uint64_t end_ns;              /* when tracing ended, for block ages; 0 = no ages */
    int exit_code;                /* when exited */
    int signal;                   /* when signaled, else 0 */
    bool core_dumped;
    const char *tracing_error;    /* why tracing stopped before the end (partial), else NULL */
    /* An image ended by exec: memory it left is not a leak, so by default
     * (no --show-exec-leaks) it gets a summary and no records. */
    bool records_hidden;
    const char *exec_program;     /* REPORT_EXEC: the program it exec'd, when known */
    bool exec_untraced;           /* ... which was not traced */
    const struct alloc_model *model;
    const struct leak_scan *scan; /* leak kinds; NULL: not scanned, blocks are "unfreed" */
    unsigned show_kinds;          /* text: bit (1 << enum leak_kind) per kind shown */
    unsigned error_kinds;         /* kinds that are errors (--errors-for-leak-kinds) */
    const char *const *alloc_fns; /* --alloc-fn patterns: frames cut from allocation stacks */
    size_t nalloc_fns;
    bool cut_std_alloc_frames;    /* cut Rust's standard allocation wrappers too */
    const struct supp_set *supps; /* --suppressions; NULL or empty: none */
    bool gen_suppressions;        /* --gen-suppressions: a block under each listed record */
    const struct map_table *maps;     /* the program's mappings at the end; NULL: none */
    const struct shm_table *shms;     /* its SysV segments; NULL: none */
    const struct stack_intern *stacks;
    report_resolve_frames_fn resolve_frames;   /* required */
    void *resolve_ctx;
    const struct saved_heap *saved;  /* memtrace report; NULL: the model and scan */
    /* attach: what the heap census found; census_layout NULL: no census */
    const char *census_layout;    /* "debug info" or "known build-id" */
    uint64_t census_blocks, census_bytes, census_ns;
    /* attach: the leak checks made while attached (leak_check.h); NULL: none */
    const struct leak_check_series *checks;
};

/* Kinds the text report shows by default, like Valgrind's
 * --show-leak-kinds=definite,possible. */
#define REPORT_DEFAULT_KINDS ((1u << LEAK_DEFINITE) | (1u << LEAK_POSSIBLE))
#define REPORT_ALL_KINDS ((1u << LEAK_KIND_COUNT) - 1)
#define REPORT_KIND_UNFREED LEAK_KIND_COUNT   /* not scanned */

struct leak_record {
    unsigned kind;                /* enum leak_kind, or REPORT_KIND_UNFREED */
    enum alloc_fn fn;
    uint32_t stack;
    uint64_t bytes, blocks;
    uint64_t indirect_bytes, indirect_blocks;   /* definitely lost: what they own */
    uint64_t oldest_seq, newest_seq;            /* allocation numbers (alloc_model_seq_time) */
    /* --alloc-fn: the stack shown starts at frame cut_frame of ips[cut_ip]
     * (frames as report_frames gives them); 0, 0 without a cut. */
    unsigned cut_ip, cut_frame;
    const struct suppression *suppressed_by;   /* --suppressions: the first that matched */
};

/* One entry of the mappings section: a mapping the program made and never
 * unmapped, or a SysV segment it left in the kernel or had attached at the
 * end. Built by report_collect_mappings; pointers are into the tables. */
struct mapping_record {
    bool sysv;                       /* else an mmap */
    mt_addr addr;                    /* sysv: first attachment, 0 when none */
    uint64_t bytes;                  /* mmap: the pages; sysv: the segment's size */
    int prot, flags;                 /* PROT_*, MAP_* (sysv: of the first attachment) */
    const char *path;                /* mmap of a file: its path; else NULL */
    const char *backing;             /* "anonymous" (also /dev/zero), "file", "sysv" */
    bool shared;                     /* holds state shared with other processes */
    uint32_t stack;                  /* mmap's; sysv: shmget's when created here */
    const struct shm_segment *seg;   /* sysv only */
    const mt_addr *attached;         /* sysv: attachment addresses at the end */
    size_t nattached;
};
struct mapping_report {
    struct mapping_record *recs;     /* mmaps by address, then segments by shmid */
    size_t n;
    size_t nmmaps;                   /* recs[0..nmmaps) are mmaps */
    size_t narenas;                  /* allocator arenas, not records: how many, */
    uint64_t arena_bytes;            /* how big */
    mt_addr *addrs;                  /* storage of the attached lists */
};
/* Returns 0 or -ENOMEM; free with report_mappings_free. */
int report_collect_mappings(const struct report_process *p, struct mapping_report *out);
void report_mappings_free(struct mapping_report *r);
/* "rw-", as /proc/PID/maps writes it. */
void report_prot_string(int prot, char buf[4]);
/* The words of a record's flags ("shared" or "private", "anonymous",
 * "fixed"); returns how many were written to words (at most 3). */
size_t report_map_flag_words(const struct mapping_record *r, const char *words[3]);

/* An address description's kind as the JSON names it: "unknown", "stack",
 * "heap_block", "freed_block", "data_symbol", "mapping". */
const char *report_addr_kind_name(enum addr_kind kind);
/* "definitely_lost", ..., or "unfreed". */
const char *report_kind_name(unsigned kind);
/* Groups the live blocks into records by (kind, allocator, stack), sorted by
 * bytes (then blocks, then stack id). scan may be NULL. *out is malloc'd.
 * Returns 0 or -ENOMEM. */
int report_collect_leaks(const struct alloc_model *m, const struct leak_scan *scan,
                         struct leak_record **out, size_t *n);
/* A kind as the reports say it: "definitely lost", ..., "unfreed". */
const char *report_kind_words(unsigned kind);
/* Whether fr is a line of the program's own sources: it has a file and a
 * line, and is neither in a system library (/usr/lib, /lib) nor from
 * system headers or a toolchain's sources inlined into the program
 * (/usr/include: libstdc++'s templates; /rustc: Rust's library). */
bool report_frame_is_own(const struct sym_frame *fr);
/* s as XML character data or attribute value (& < > " ' escaped; control
 * characters XML 1.0 cannot hold become '?'). */
void report_xml_text(FILE *f, const char *s);
/* "224 (32 direct, 192 indirect) bytes in 1 blocks are definitely lost in
 * loss record 1 of 2", memcheck's words; number 0: without the record's
 * number (a suppressed record has none). */
void report_leak_headline(const struct leak_record *r, size_t number, size_t total, char *buf,
                          size_t len);
/* Sorts records as report_collect_leaks does. */
void report_sort_leaks(struct leak_record *recs, size_t n);
/* --alloc-fn (stack_cut.c). Whether frame fr is of a function p->alloc_fns
 * names (fnmatch on the demangled or the mangled name). */
bool report_is_alloc_fn(const struct report_process *p, const struct sym_frame_ext *fr);
/* Where stack starts once the wrappers are cut off its top: the leading
 * frames that report_is_alloc_fn, never the last one. */
void report_cut_stack(const struct report_process *p, uint32_t stack, unsigned *cut_ip,
                      unsigned *cut_frame);
/* Cuts every record's stack and merges the records then equal in kind,
 * allocator and stack (the lowest stack id stays), sorted again. Nothing
 * to do without p->alloc_fns. Returns 0 or -ENOMEM (recs unchanged). */
int report_cut_alloc_fns(const struct report_process *p, struct leak_record *recs, size_t *n);
/* report_collect_leaks of p, then report_cut_alloc_fns, then each record's
 * suppressed_by: the records the writers show (a suppressed one is kept,
 * not listed or counted as an error). */
int report_collect_records(const struct report_process *p, struct leak_record **out, size_t *n);
/* Marks every record a suppression of p->supps matches: against the whole
 * allocation stack (before any cut), led by the allocation function as
 * memcheck's stacks are (fun:malloc, fun:_Znwm). */
void report_apply_suppressions(const struct report_process *p, struct leak_record *recs,
                               size_t n);
/* An amount of heap memory. */
struct report_amount { uint64_t bytes, blocks; };
/* --gen-suppressions: a Valgrind suppression block that matches r, ready
 * to paste into a .supp file (memcheck's format, frame 0 the allocation
 * function). */
void report_write_suppression(FILE *f, const struct report_process *p,
                              const struct leak_record *r);
/* The same for bad free e: a Memcheck:Free block led by the function called. */
void report_write_error_suppression(FILE *f, const struct report_process *p,
                                    const struct alloc_error *e);
/* The suppression (Memcheck:Free) that matches bad free e, at the bad
 * call's stack led by the function called (fun:free, fun:_ZdlPv); NULL. */
const struct suppression *report_error_suppression(const struct report_process *p,
                                                   const struct alloc_error *e);
/* p's bad frees that no suppression matched. */
size_t report_error_count(const struct report_process *p);
/* How the suppressions of p->supps were used by recs and p's bad frees:
 * per suppression (in p->supps order) the records or errors, and the bytes
 * and blocks of the records; and the records' total. */
struct report_supp_use {
    const struct suppression *supp;
    uint64_t records, bytes, blocks;
};
/* Fills use (p->supps->n entries) and *total; returns how many were used. */
size_t report_suppression_use(const struct report_process *p, const struct leak_record *recs,
                              size_t n, struct report_supp_use *use, struct report_amount *total);
/* Bytes and blocks per kind (index REPORT_KIND_UNFREED: all live blocks). */
void report_kind_totals(const struct alloc_model *m, const struct leak_scan *scan,
                        struct report_amount totals[LEAK_KIND_COUNT + 1]);
/* Total live bytes and blocks. */
void report_unfreed_totals(const struct alloc_model *m, uint64_t *bytes, uint64_t *blocks);
/* report_kind_totals of p, or its saved report's. */
void report_process_totals(const struct report_process *p,
                           struct report_amount totals[LEAK_KIND_COUNT + 1]);
/* Whether p's blocks were classified into the four kinds (scanned). */
bool report_classified(const struct report_process *p);
/* The frames of ip in stack through p's resolver (p->resolve_frames): *out
 * points into the resolver's storage and stays valid until the next call. */
unsigned report_frames(const struct report_process *p, uint32_t stack, mt_addr ip,
                       const struct sym_frame_ext **out);
/* "function (file:line)", "function (in module)" or "module+0xoffset". */
void report_format_frame(const struct sym_frame *fr, char *buf, size_t len);
/* Seconds between the allocation numbered seq and the end of tracing, or a
 * negative number when unknown. */
double report_age_s(const struct report_process *p, uint64_t seq);
/* Writes the signal's name ("SIGSEGV") into buf. */
void report_signal_name(int sig, char *buf, size_t len);
/* Whether record r counts as an error: its kind is one of p->error_kinds
 * (Valgrind's --errors-for-leak-kinds); an unclassified block could be of
 * any kind, so it counts unless no kind does. */
bool report_leak_is_error(const struct report_process *p, const struct leak_record *r);
/* Whether a bad free or a leak of an error kind (report_leak_is_error) was
 * found: --error-exitcode. */
bool report_found_problems(const struct report_process *procs, size_t n);

/* Whether p's report is its one-line summary (report_text_process). */
static inline bool report_summary_only(const struct report_process *p)
{
    return p->end == REPORT_EXEC && p->records_hidden;
}

/* Text (Valgrind-like), prefix "==PID== ". */
void report_text_banner(FILE *f, const struct report_process *p);
void report_text_error(FILE *f, const struct report_process *p, const struct alloc_error *e);
int report_text_process(FILE *f, const struct report_process *p);
/* --stats: per module, the allocator functions hooked in p, on stubs and
 * on breakpoints. */
void report_text_hooks(FILE *f, const struct report_process *p);
void report_text_stats(FILE *f, const struct report_stats *s);

/* JSON, version 1 (docs/report-format.md). */
int report_json_write(FILE *f, const struct report_process *procs, size_t n,
                      const struct report_stats *stats);
/* --xml-file: Valgrind memcheck's XML (protocol 4) of procs. Returns 0 or -1. */
int report_xml_write(FILE *f, const struct report_process *procs, size_t n);
/* --folded and --flamegraph: what a stack's width is. leaked: its
 * definitely, indirectly and possibly lost bytes (not suppressed);
 * allocated: every byte allocated there; peak: the most bytes it had live
 * at once (its own peak, not its share of the process's). */
enum flame_cost { FLAME_LEAKED, FLAME_ALLOCATED, FLAME_PEAK };
/* "leaked", "allocated", "peak". */
const char *report_flame_cost_name(enum flame_cost cost);
/* Collapsed stacks ("main;make_list;grow 96"), from main outwards, a line
 * per path with a cost of its own; several processes each under "pid N:
 * prog". Returns 0 or -1. */
int report_folded_write(FILE *f, const struct report_process *procs, size_t n,
                        enum flame_cost cost);
/* The same as a self-contained interactive SVG flame graph. 0 or -1. */
int report_flamegraph_write(FILE *f, const struct report_process *procs, size_t n,
                            enum flame_cost cost);
/* --timeline: each traced process's live bytes over time (the model's
 * samples), total and the stacks that grew most, as an SVG chart. 0 or -1. */
int report_timeline_write(FILE *f, const struct report_process *procs, size_t n);
/* --sarif: SARIF 2.1.0 of procs (docs/report-format.md). Paths under
 * srcroot (absolute; NULL: none) are relative to the run's SRCROOT base,
 * the others file:// URIs. Returns 0 or -1. */
int report_sarif_write(FILE *f, const struct report_process *procs, size_t n,
                       const char *srcroot);

#endif
