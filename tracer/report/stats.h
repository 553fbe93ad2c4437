/* The --stats counters, as one X-macro list: X(name) per counter, in the
 * order the text line and the JSON "stats" object give them (names there
 * are fixed: docs/report-format.md). It generates struct report_stats, the
 * text line (report_text_stats) and the JSON keys (report_json_write).
 * Adding a counter: one line here (or in base/trap_stats.h for a trap
 * counter), plus the line that counts it (cli/main.c fill_stats for these). */
#ifndef MT_REPORT_STATS_H
#define MT_REPORT_STATS_H
#include <stdbool.h>
#include <stdint.h>
#include "trap_stats.h"

#define MT_STATS(X)                                                                   \
    MT_TRAP_STATS(X)                                                                  \
    X(single_steps)                                                                   \
    X(unwinds)                                                                        \
    X(unwind_frames)          /* callers found by stepping the unwinder */           \
    X(unwind_us)              /* time spent unwinding */                              \
    X(ptrace_calls)                                                                   \
    X(symbolized_addresses)                                                           \
    X(scan_ms)                /* exit-time leak scans, all processes */               \
    X(scanned_bytes)                                                                  \
    X(census_blocks)          /* attach: blocks the heap census found */              \
    X(census_us)              /* ... and the time it held the process */              \
    X(leak_checks)            /* attach: checks while attached */                     \
    X(leak_check_max_us)      /* the longest stop-the-world of one */

struct report_stats {
    bool present;             /* false: no "stats" object in the JSON */
    MT_STATS(MT_STATS_FIELD)
};

#endif
