/* What a tracing session is asked to do: the options memtrace was given,
 * filled by the command line (cli/) and read by every part of the session. */
#ifndef MT_OPTIONS_H
#define MT_OPTIONS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "suppress.h"

#define CLI_DEFAULT_DEPTH 16
#define CLI_MAX_DEPTH 256
#define CLI_MAX_DEBUG_DIRS 32
#define CLI_MAX_ALLOC_FNS 64

enum cli_command { CMD_RUN, CMD_ATTACH, CMD_HELP, CMD_VERSION, CMD_DIFF, CMD_REPORT };

#define CLI_DEFAULT_TOP 10

struct mt_options {
    enum cli_command command;
    enum cli_command help_topic;   /* CMD_HELP: the short help; CMD_RUN, CMD_ATTACH: theirs */
    const char *json_path;      /* --json FILE, "-" = stdout */
    const char *log_path;       /* -o/--log-file FILE */
    unsigned depth;             /* --depth N */
    int error_exitcode;         /* --error-exitcode N, -1 = off */
    bool stats;                 /* --stats */
    unsigned sample;            /* --sample N: unwind 1 allocation in N (1 = all) */
    uint64_t min_size;          /* --min-size BYTES: no stack below it */
    bool follow_forks;          /* off with --no-follow-forks */
    bool pin;                   /* off with --no-pin: memtrace and the program on one CPU */
    bool return_stubs;          /* off with --return-traps: every return traps */
    bool fast;                  /* --fast: the allocation family records without traps */
    uint64_t fast_ring;         /* --fast-ring N: records in the ring, 0 = default */
    /* Images and children, with Valgrind's names. */
    bool show_exec_leaks;       /* --show-exec-leaks: list the records of images ended by exec */
    bool trace_children;        /* off with --trace-children=no: no exec is followed */
    const char *skip_exe;       /* --trace-children-skip=PATTERNS (comma-separated globs) */
    const char *skip_arg;       /* --trace-children-skip-by-arg=PATTERNS */
    bool child_silent;          /* --child-silent-after-fork=yes: no section for a fork image */
    bool show_mismatched;       /* off with --show-mismatched-frees=no */
    bool show_std_alloc_frames; /* --show-std-alloc-frames=yes: Rust's wrappers kept */
    unsigned heuristics;        /* --leak-check-heuristics: enum leak_heuristic bits */
    unsigned show_kinds;        /* --show-leak-kinds / --show-reachable: 1 << enum leak_kind */
    unsigned error_kinds;       /* --errors-for-leak-kinds: 1 << enum leak_kind */
    const char *alloc_fns[CLI_MAX_ALLOC_FNS];   /* --alloc-fn PATTERN, fnmatch(3) */
    struct supp_set suppressions;               /* --suppressions FILE, all of them */
    bool no_default_suppressions;               /* --no-default-suppressions */
    bool gen_suppressions;                      /* --gen-suppressions=all|yes */
    const char *xml_path;                       /* --xml-file FILE */
    const char *sarif_path;                     /* --sarif FILE */
    const char *folded_path;                    /* --folded FILE */
    const char *diff_old, *diff_new;            /* memtrace diff OLD NEW */
    const char *report_input;                   /* memtrace report FILE */
    const char *report_format;                  /* its --format: "text", "json", ... */
    const char *flamegraph_path;                /* --flamegraph FILE */
    const char *timeline_path;                  /* --timeline FILE */
    unsigned flame_cost;                        /* --flamegraph-cost: enum flame_cost */
    bool log_per_process;       /* -o with %p: each process's banner and bad frees go to its
                                   file at the end, not to the log as they happen */
    size_t nalloc_fns;
    const char *debug_dirs[CLI_MAX_DEBUG_DIRS];   /* --debug-dir DIR, in order */
    size_t ndebug_dirs;
    /* attach */
    const char *attach_pid;     /* PID as given, checked by attach_check */
    uint64_t duration_ms;       /* --duration SEC, 0 = until a signal or the target's end */
    uint64_t interval_ms;       /* --interval SEC, 0 = no live view */
    unsigned top;               /* --top N: stacks in the live view */
    bool force;                 /* --force: attach even to PID 1 */
    bool no_census;             /* --no-census: no heap census at attach */
    bool show_contents;         /* --show-contents: census groups show their first bytes */
    uint64_t leak_check_every_ms;   /* --leak-check-every SEC, 0 = only on SIGUSR1 */
    unsigned leak_check_mode;       /* --leak-check=increased|changed|full: leak_check_mode */
    char **target_argv;         /* PROGRAM ARGS..., NULL-terminated */
    int target_argc;
};

#endif
