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
#include "leak_scan.h"
#include "stack_intern.h"
#include "symbolizer.h"

/* One frame per address (no inline chains). */
typedef void (*report_resolve_fn)(void *ctx, mt_addr ip, struct sym_frame *out);
/* The frames of ip, innermost inlined call first (see symbolizer_lookup), as
 * the module list was when stack was taken. Returns their number (>= 1). */
typedef unsigned (*report_resolve_frames_fn)(void *ctx, uint32_t stack, mt_addr ip,
                                             const struct sym_frame_ext **out);

struct report_process {
    pid_t pid;
    char *const *argv;
    const char *end;              /* "exited", "signaled", "exec", "detached" */
    int exit_code;                /* when exited */
    int signal;                   /* when signaled, else 0 */
    bool core_dumped;
    const struct alloc_model *model;
    const struct leak_scan *scan; /* leak kinds; NULL: not scanned, blocks are "unfreed" */
    unsigned show_kinds;          /* text: bit (1 << enum leak_kind) per kind shown */
    const struct stack_intern *stacks;
    report_resolve_frames_fn resolve_frames;   /* used when set, else resolve */
    report_resolve_fn resolve;
    void *resolve_ctx;
};

struct report_stats {
    bool present;
    uint64_t traps, entry_traps, return_traps, rendezvous_traps, nested_calls, allocator_frees;
    uint64_t single_steps, unwinds, ptrace_calls, symbolized_addresses;
    uint64_t unwind_frames, unwind_us;   /* frames found by stepping, time spent unwinding */
    uint64_t scan_ms, scanned_bytes;   /* exit-time leak scans, all processes */
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
};

/* "definitely_lost", ..., or "unfreed". */
const char *report_kind_name(unsigned kind);
/* Groups the live blocks into records by (kind, allocator, stack), sorted by
 * bytes (then blocks, then stack id). scan may be NULL. *out is malloc'd.
 * Returns 0 or -ENOMEM. */
int report_collect_leaks(const struct alloc_model *m, const struct leak_scan *scan,
                         struct leak_record **out, size_t *n);
/* Bytes and blocks per kind (index REPORT_KIND_UNFREED: all live blocks). */
struct report_amount { uint64_t bytes, blocks; };
void report_kind_totals(const struct alloc_model *m, const struct leak_scan *scan,
                        struct report_amount totals[LEAK_KIND_COUNT + 1]);
/* Total live bytes and blocks. */
void report_unfreed_totals(const struct alloc_model *m, uint64_t *bytes, uint64_t *blocks);
/* The frames of ip in stack through p's resolver; *out stays valid until
 * the next call. */
unsigned report_frames(const struct report_process *p, uint32_t stack, mt_addr ip,
                       const struct sym_frame_ext **out);
/* Writes the signal's name ("SIGSEGV") into buf. */
void report_signal_name(int sig, char *buf, size_t len);
/* Whether a bad free, a definitely or possibly lost block (any live block
 * when not scanned) was found: --error-exitcode, like Valgrind's default
 * --errors-for-leak-kinds=definite,possible. */
bool report_found_problems(const struct report_process *procs, size_t n);

/* Text (Valgrind-like), prefix "==PID== ". */
void report_text_banner(FILE *f, const struct report_process *p);
void report_text_error(FILE *f, const struct report_process *p, const struct alloc_error *e);
int report_text_process(FILE *f, const struct report_process *p);
void report_text_stats(FILE *f, const struct report_stats *s);

/* JSON, version 1 (docs/report-format.md). */
int report_json_write(FILE *f, const struct report_process *procs, size_t n,
                      const struct report_stats *stats);

#endif
