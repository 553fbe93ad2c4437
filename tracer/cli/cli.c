/* memtrace's command line: `memtrace run [OPTIONS] [--] PROGRAM [ARGS...]`. */
#include "cli.h"
#include "report_file.h"
#include "leak_check.h"
#include "leak_scan.h"
#include "name_set.h"
#include "report.h"
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char short_help[] =
    "Usage: memtrace run [OPTIONS] [--] PROGRAM [ARGS...]\n"
    "       memtrace attach [OPTIONS] PID\n"
    "       memtrace diff [OPTIONS] OLD.json NEW.json\n"
    "       memtrace report [OPTIONS] FILE.json\n"
    "       memtrace help [run|attach|diff|report]\n"
    "       memtrace --version\n"
    "\n"
    "Find leaks and bad frees in a program:  memtrace run -- ./app ARGS\n"
    "... in a running process:               memtrace attach --duration 30 PID\n"
    "Fail a CI job on them:                  --error-exitcode=1 --suppressions=FILE\n"
    "Results for tools:                      --json=FILE --xml-file=FILE --sarif=FILE\n"
    "Pictures:                               --flamegraph=FILE.svg --folded=FILE\n"
    "Compare two runs:                       memtrace diff OLD.json NEW.json\n"
    "Render a saved report again:            memtrace report --format=sarif R.json\n"
    "Allocation-heavy programs, servers:     --fast\n"
    "\n"
    "memtrace help run       every option of run\n"
    "memtrace help attach    every option of attach\n"
    "memtrace help diff      every option of diff\n"
    "memtrace help report    every option of report\n"
    "man memtrace            the manual\n";

static const char run_help[] =
    "Usage: memtrace run [OPTIONS] [--] PROGRAM [ARGS...]\n"
    "\n"
    "run: runs PROGRAM under ptrace and reports memory it never freed and bad frees\n"
    "(double free, invalid free) with function, file and line. The program is not\n"
    "recompiled, relinked or preloaded. memtrace exits with PROGRAM's exit status\n"
    "(128+N when it died of signal N).\n"
    "\n";

static const char attach_help[] =
    "Usage: memtrace attach [OPTIONS] PID\n"
    "\n"
    "attach: joins the running process PID and all its threads, tracks what it\n"
    "allocates from then on, and on Ctrl-C, SIGTERM, SIGHUP, --duration or the\n"
    "process's end restores every byte it changed, detaches and reports the blocks\n"
    "allocated since attach that are still live, and those of a census of glibc's\n"
    "heap taken at attach that nothing reaches. memtrace exits 0 (or with\n"
    "--error-exitcode); the process keeps running as before.\n"
    "\n"
    "Attach options:\n"
    "  --duration SEC         detach after SEC seconds (decimals allowed)\n"
    "  --interval SEC         every SEC seconds, print the top stacks by live bytes\n"
    "                         and their growth on stderr\n"
    "  --top N                stacks in each --interval view (default 10)\n"
    "  --force                attach even to PID 1 (init: if it stops for long or\n"
    "                         dies, the system goes down with it)\n"
    "  --no-census            skip the census of the heap at attach: blocks from\n"
    "                         before are then not reported\n"
    "  --show-contents        label the census's groups of blocks without a C++\n"
    "                         class with the first 16 bytes of one of them\n"
    "  --leak-check-every SEC every SEC seconds, stop the process, check for leaks,\n"
    "                         print what changed and let it go on (also on SIGUSR1)\n"
    "  --leak-check=MODE      what each check lists: increased (records new or grown\n"
    "                         since the check before; default), changed, or full\n"
    "\n";

static const char diff_help[] =
    "Usage: memtrace diff [--json FILE] [--error-exitcode N] OLD.json NEW.json\n"
    "\n"
    "diff: compares the leak records of two JSON reports (memtrace run --json) and\n"
    "lists those that are new, grown, gone or shrunk. A record is known by its leak\n"
    "kind, its allocator and its stack's function and file names, not by addresses\n"
    "or lines, so two runs of a rebuilt program still match. Definitely, indirectly\n"
    "and possibly lost records are compared (and unfreed ones of an image replaced\n"
    "by exec); suppressed ones are not.\n"
    "\n"
    "Options:\n"
    "  --json FILE            also write the changes as JSON to FILE ('-' = stdout)\n"
    "  --error-exitcode N     exit with N (1..255) when a record is new or grown, so\n"
    "                         CI fails on regressions only\n";

static const char report_help[] =
    "Usage: memtrace report [OPTIONS] FILE.json\n"
    "\n"
    "report: renders a saved JSON report (memtrace run --json) again, without\n"
    "running the program: its records, summary and bad frees, with the symbols it\n"
    "holds, as text or another format, and with other choices of what to show.\n"
    "\n"
    "Options:\n"
    "  --format=F             text (the default), json, xml, sarif, folded,\n"
    "                         flamegraph (leaked bytes) or timeline (of a run made\n"
    "                         with --timeline)\n"
    "  -o, --log-file FILE    write it to FILE instead of stdout\n"
    "  --show-leak-kinds=K    leak kinds listed (default definite,possible)\n"
    "  --show-reachable       same as --show-leak-kinds=all\n"
    "  --errors-for-leak-kinds=K  leak kinds that count as errors\n"
    "  --error-exitcode N     exit with N (1..255) when a problem is in the report\n"
    "  --suppressions=FILE    leave out the records a suppression matches (both\n"
    "                         formats; repeatable); the JSON's own are not kept\n"
    "  --no-default-suppressions  without the built-in set\n"
    "  --gen-suppressions=all|yes|no  a suppression block under each listed record\n"
    "  --depth N              frames kept per stack (at most what the JSON has)\n";

static const char options_help[] =
    "Report files:\n"
    "  --json FILE            write the JSON report (version 1) to FILE ('-' = stdout)\n"
    "  -o, --log-file FILE    write the text report to FILE instead of stderr\n"
    "  --xml-file=FILE        also write the report as Valgrind memcheck's XML\n"
    "                         (protocol 4) to FILE, for tools that read memcheck's\n"
    "  --sarif=FILE           also write the report as SARIF 2.1.0 to FILE, for\n"
    "                         code scanning and editors' SARIF viewers\n"
    "  --flamegraph=FILE      also draw memory by stack as an interactive SVG flame\n"
    "                         graph (hover, click to zoom, search)\n"
    "  --folded=FILE          also write it as collapsed stacks (main;f;g BYTES), for\n"
    "                         flamegraph.pl, inferno and speedscope\n"
    "  --timeline=FILE        also chart live bytes over time as SVG: the process's and\n"
    "                         those of the stacks that grew most (a slow leak only\n"
    "                         goes up)\n"
    "  --flamegraph-cost=C    what their widths are: leaked (definitely, indirectly\n"
    "                         and possibly lost bytes; the default), allocated (all\n"
    "                         bytes allocated) or peak (each stack's most bytes live)\n"
    "  --stats                print trap, unwind and ptrace counters at the end\n"
    "\n"
    "What is reported:\n"
    "  --show-leak-kinds=K    leak kinds the text report lists: definite, indirect,\n"
    "                         possible, reachable (comma-separated), all or none\n"
    "                         (default definite,possible; JSON lists every kind)\n"
    "  --show-reachable       same as --show-leak-kinds=all\n"
    "  --errors-for-leak-kinds=K  leak kinds that count as errors for\n"
    "                         --error-exitcode and the ERROR SUMMARY: same words\n"
    "                         as --show-leak-kinds (default definite,possible)\n"
    "  --error-exitcode N     exit with N (1..255) when a leak or bad free was found\n"
    "  --leak-check-heuristics=H  interior pointers that still count as references:\n"
    "                         stdstring, length64, newarray, multipleinheritance\n"
    "                         (comma-separated), all (default) or none\n"
    "  --show-mismatched-frees=yes|no  report a block released by the wrong\n"
    "                         family (free of new's, delete of new[]'s or of\n"
    "                         malloc's) as an error (default yes)\n"
    "\n"
    "Suppressions:\n"
    "  --suppressions=FILE    leak records to leave out: Valgrind .supp blocks\n"
    "                         (Memcheck:Leak; fun:, obj:, ..., * and ?) or\n"
    "                         LeakSanitizer lines (leak:PATTERN), told apart per\n"
    "                         file; repeatable. Suppressed records are not listed\n"
    "                         nor errors; the summary says what they held\n"
    "  --no-default-suppressions  report also what the C runtime allocates for\n"
    "                         itself and keeps (the built-in set's blocks)\n"
    "  --gen-suppressions=all|yes|no  under each listed leak record, a Valgrind\n"
    "                         suppression block that matches it (yes: the same)\n"
    "\n"
    "Stacks and symbols:\n"
    "  --depth N              frames per stack, 1..256 (default 16)\n"
    "  --alloc-fn=NAME        a function that wraps the allocator (xmalloc,\n"
    "                         g_malloc): its frames are dropped from the top of\n"
    "                         allocation stacks, and records left with the same\n"
    "                         stack and kind are merged (repeatable; fnmatch\n"
    "                         wildcards, e.g. 'g_*'; matches the demangled or the\n"
    "                         mangled name; bad-free stacks keep every frame;\n"
    "                         --depth counts frames before the cut)\n"
    "  --show-std-alloc-frames=yes|no  keep the frames of Rust's standard library\n"
    "                         that wrap the allocator (alloc::alloc::*, RawVec,\n"
    "                         __rust_alloc) on top of allocation stacks (default\n"
    "                         no: a record starts at the line that allocated)\n"
    "  --sample N             unwind the stack of 1 allocation or free in N; every\n"
    "                         block is still tracked, so totals and frees stay exact\n"
    "  --min-size BYTES       no stack for blocks smaller than BYTES (still tracked)\n"
    "  --debug-dir DIR        also look for separate debug info under DIR (repeatable):\n"
    "                         DIR/.build-id/xx/yyyy.debug and DIR/<binary's dir>/<debuglink>;\n"
    "                         /usr/lib/debug, the binary's dir and its .debug/ are always\n"
    "                         searched; MEMTRACE_DEBUG_DIRS=DIR:DIR adds more. Compressed\n"
    "                         debug files are kept inflated in ~/.cache/memtrace\n"
    "                         (MEMTRACE_CACHE_DIR=DIR elsewhere, empty: nowhere)\n"
    "\n"
    "Children (run):\n"
    "  --no-follow-forks      let children of fork run untraced (vfork children are\n"
    "                         traced until they exec)\n"
    "  --trace-children=yes|no  follow execs (default yes); no: a process stops\n"
    "                         being traced at its exec and runs on untraced\n"
    "  --trace-children-skip=PATTERNS  do not follow an exec whose program (path\n"
    "                         or base name) matches a glob of the comma-separated list\n"
    "  --trace-children-skip-by-arg=PATTERNS  ... or one of whose arguments does\n"
    "  --child-silent-after-fork=yes|no  no report section for the image a child\n"
    "                         of fork shares with its parent (default no); what it\n"
    "                         execs is reported\n"
    "  --show-exec-leaks      list the blocks of an image replaced by exec (by default\n"
    "                         one summary line: memory left at exec is not a leak)\n"
    "\n"
    "Speed:\n"
    "  --fast                 no trap per allocator call: the allocation\n"
    "                         family's entry points jump to a stub memtrace\n"
    "                         injects, which records each call into a ring shared\n"
    "                         with memtrace; same report (a bad realloc, and under\n"
    "                         attach a bad free, is reported but not held back)\n"
    "  --fast-ring=N          records in --fast's ring, a power of two (default 1024\n"
    "                         under run, 16384 under attach): a small ring makes the\n"
    "                         program wait for memtrace sooner, a big one costs memory\n"
    "  --no-pin               do not pin memtrace and the program to one CPU (by\n"
    "                         default, a single-threaded process that has made\n"
    "                         1024 allocator traps is pinned to memtrace's CPU:\n"
    "                         each trap is then a context switch, not a cross-CPU\n"
    "                         wake-up; threads it creates later get every CPU back)\n"
    "  --return-traps         let every allocator call return through an int3 (a\n"
    "                         trap) instead of a return stub that records its\n"
    "                         result without stopping the program (for comparison:\n"
    "                         3 traps per malloc+free pair instead of 2)\n"
    "\n"
    "Other:\n"
    "  -h, --help             this help; memtrace help for the short one\n"
    "  -V, --version          show the version and those of libdw, libunwind, capstone\n";

/* The help of topic: CMD_HELP the short one, CMD_RUN or CMD_ATTACH every
 * option of that command. */
void cli_usage(FILE *f, enum cli_command topic)
{
    if (topic == CMD_DIFF || topic == CMD_REPORT) {
        fputs(topic == CMD_DIFF ? diff_help : report_help, f);
        return;
    }
    if (topic != CMD_RUN && topic != CMD_ATTACH) {
        fputs(short_help, f);
        return;
    }
    if (topic == CMD_RUN)
        fputs(run_help, f);
    else
        fputs(attach_help, f);
    fputs(options_help, f);
}

/* Seconds with up to three decimals, as milliseconds in [1, 1e9]. */
static int parse_seconds(const char *s, uint64_t *ms)
{
    if (!s || !*s)
        return -1;
    uint64_t whole = 0, frac = 0, scale = 1000;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > 1000000)
            return -1;
    }
    if (*p == '.') {
        if (p == s && !p[1])
            return -1;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
        }
    } else if (p == s) {
        return -1;
    }
    if (*p)
        return -1;
    *ms = whole * 1000 + frac;
    return *ms ? 0 : -1;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9')   /* no sign, no blanks: strtoul would take them */
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Valgrind's --show-leak-kinds. */
static int parse_leak_kinds(const char *list, unsigned *out)
{
    static const struct name_bit kinds[] = {
        { "definite", 1u << LEAK_DEFINITE }, { "indirect", 1u << LEAK_INDIRECT },
        { "possible", 1u << LEAK_POSSIBLE }, { "reachable", 1u << LEAK_REACHABLE },
    };
    return name_set_parse(list, kinds, sizeof(kinds) / sizeof(kinds[0]), REPORT_ALL_KINDS, out);
}

/* Valgrind's --leak-check-heuristics. */
static int parse_heuristics(const char *list, unsigned *out)
{
    static const struct name_bit heuristics[] = {
        { "stdstring", HEUR_STDSTRING }, { "length64", HEUR_LENGTH64 },
        { "newarray", HEUR_NEWARRAY }, { "multipleinheritance", HEUR_MULTIPLE_INHERITANCE },
    };
    return name_set_parse(list, heuristics, sizeof(heuristics) / sizeof(heuristics[0]), HEUR_ALL,
                          out);
}

enum { OPT_JSON = 1000, OPT_DEPTH, OPT_ERROR_EXITCODE, OPT_STATS, OPT_NO_FOLLOW_FORKS,
       OPT_DEBUG_DIR, OPT_SHOW_REACHABLE, OPT_SHOW_LEAK_KINDS, OPT_HEURISTICS, OPT_SAMPLE,
       OPT_MIN_SIZE, OPT_DURATION, OPT_INTERVAL, OPT_TOP, OPT_NO_PIN, OPT_RETURN_TRAPS, OPT_FORCE,
       OPT_SHOW_EXEC_LEAKS, OPT_TRACE_CHILDREN, OPT_SKIP_EXE, OPT_SKIP_ARG, OPT_CHILD_SILENT,
       OPT_ERROR_KINDS, OPT_ALLOC_FN, OPT_FAST, OPT_FAST_RING, OPT_SHOW_MISMATCHED,
       OPT_SHOW_STD_ALLOC, OPT_SUPPRESSIONS, OPT_GEN_SUPPRESSIONS, OPT_XML_FILE,
       OPT_SARIF, OPT_NO_DEFAULT_SUPPRESSIONS, OPT_FOLDED, OPT_FLAMEGRAPH, OPT_FLAME_COST,
       OPT_TIMELINE, OPT_FORMAT, OPT_NO_CENSUS, OPT_LEAK_CHECK_EVERY, OPT_LEAK_CHECK, OPT_SHOW_CONTENTS };

static const struct option longopts[] = {
    { "json", required_argument, NULL, OPT_JSON },
    { "log-file", required_argument, NULL, 'o' },
    { "depth", required_argument, NULL, OPT_DEPTH },
    { "error-exitcode", required_argument, NULL, OPT_ERROR_EXITCODE },
    { "stats", no_argument, NULL, OPT_STATS },
    { "no-follow-forks", no_argument, NULL, OPT_NO_FOLLOW_FORKS },
    { "debug-dir", required_argument, NULL, OPT_DEBUG_DIR },
    { "show-reachable", no_argument, NULL, OPT_SHOW_REACHABLE },
    { "show-leak-kinds", required_argument, NULL, OPT_SHOW_LEAK_KINDS },
    { "leak-check-heuristics", required_argument, NULL, OPT_HEURISTICS },
    { "errors-for-leak-kinds", required_argument, NULL, OPT_ERROR_KINDS },
    { "alloc-fn", required_argument, NULL, OPT_ALLOC_FN },
    { "suppressions", required_argument, NULL, OPT_SUPPRESSIONS },
    { "gen-suppressions", required_argument, NULL, OPT_GEN_SUPPRESSIONS },
    { "xml-file", required_argument, NULL, OPT_XML_FILE },
    { "sarif", required_argument, NULL, OPT_SARIF },
    { "folded", required_argument, NULL, OPT_FOLDED },
    { "flamegraph", required_argument, NULL, OPT_FLAMEGRAPH },
    { "flamegraph-cost", required_argument, NULL, OPT_FLAME_COST },
    { "timeline", required_argument, NULL, OPT_TIMELINE },
    { "no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPPRESSIONS },
    { "sample", required_argument, NULL, OPT_SAMPLE },
    { "min-size", required_argument, NULL, OPT_MIN_SIZE },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "interval", required_argument, NULL, OPT_INTERVAL },
    { "top", required_argument, NULL, OPT_TOP },
    { "force", no_argument, NULL, OPT_FORCE },
    { "no-census", no_argument, NULL, OPT_NO_CENSUS },
    { "show-contents", no_argument, NULL, OPT_SHOW_CONTENTS },
    { "leak-check-every", required_argument, NULL, OPT_LEAK_CHECK_EVERY },
    { "leak-check", required_argument, NULL, OPT_LEAK_CHECK },
    { "no-pin", no_argument, NULL, OPT_NO_PIN },
    { "return-traps", no_argument, NULL, OPT_RETURN_TRAPS },
    { "fast", no_argument, NULL, OPT_FAST },
    /* Not in --help: a small ring for the tests that make it fill. */
    { "fast-ring", required_argument, NULL, OPT_FAST_RING },
    { "show-exec-leaks", no_argument, NULL, OPT_SHOW_EXEC_LEAKS },
    { "trace-children", required_argument, NULL, OPT_TRACE_CHILDREN },
    { "trace-children-skip", required_argument, NULL, OPT_SKIP_EXE },
    { "trace-children-skip-by-arg", required_argument, NULL, OPT_SKIP_ARG },
    { "child-silent-after-fork", required_argument, NULL, OPT_CHILD_SILENT },
    { "show-mismatched-frees", required_argument, NULL, OPT_SHOW_MISMATCHED },
    { "show-std-alloc-frames", required_argument, NULL, OPT_SHOW_STD_ALLOC },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0 },
};

/* What an option handler tells the loop: go on, stop here (help or
 * version), or fail with err filled in. */
enum { PARSE_MORE = 0, PARSE_DONE = 1, PARSE_FAIL = -1 };

static void set_defaults(struct mt_options *o)
{
    memset(o, 0, sizeof(*o));
    o->help_topic = CMD_HELP;
    o->depth = CLI_DEFAULT_DEPTH;
    o->error_exitcode = -1;
    o->follow_forks = true;
    o->trace_children = true;
    o->show_mismatched = true;
    o->pin = true;
    o->return_stubs = true;
    o->sample = 1;
    o->heuristics = HEUR_ALL;
    o->show_kinds = REPORT_DEFAULT_KINDS;
    o->error_kinds = REPORT_DEFAULT_KINDS;
}

/* argv[1]: help, version, or the command whose options follow. */
static int parse_command(const char *cmd, struct mt_options *o, char *err, size_t err_len)
{
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        o->command = CMD_HELP;
        return PARSE_DONE;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        o->command = CMD_VERSION;
        return PARSE_DONE;
    }
    if (strcmp(cmd, "diff") == 0 || strcmp(cmd, "report") == 0) {
        o->command = cmd[0] == 'd' ? CMD_DIFF : CMD_REPORT;
        return PARSE_MORE;
    }
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "attach") != 0) {
        if (cmd[0] == '-')
            snprintf(err, err_len, "unknown option '%s' (try 'memtrace --help')", cmd);
        else
            snprintf(err, err_len, "unknown command '%s' (try 'memtrace --help')", cmd);
        return PARSE_FAIL;
    }
    o->command = strcmp(cmd, "attach") == 0 ? CMD_ATTACH : CMD_RUN;
    o->top = CLI_DEFAULT_TOP;
    return PARSE_MORE;
}

/* attach's own options: --duration, --interval, --top, --leak-check-every,
 * --leak-check. */
static int parse_attach_option(int c, const char *arg, struct mt_options *o, char *err,
                               size_t err_len)
{
    unsigned long v;
    if (c == OPT_LEAK_CHECK) {
        enum leak_check_mode mode;
        if (!leak_check_mode_from_name(arg, &mode)) {
            snprintf(err, err_len, "--leak-check takes increased, changed or full, not '%s'",
                     arg);
            return PARSE_FAIL;
        }
        o->leak_check_mode = mode;
        return PARSE_MORE;
    }
    if (c == OPT_LEAK_CHECK_EVERY) {
        if (parse_seconds(arg, &o->leak_check_every_ms) || o->leak_check_every_ms == 0) {
            snprintf(err, err_len, "--leak-check-every needs a number of seconds above 0, e.g. "
                     "10 or 0.5, not '%s'", arg);
            return PARSE_FAIL;
        }
        return PARSE_MORE;
    }
    if (c == OPT_TOP) {
        if (parse_uint(arg, 1, 1000, &v) != 0) {
            snprintf(err, err_len, "--top needs a number from 1 to 1000, not '%s'", arg);
            return PARSE_FAIL;
        }
        o->top = (unsigned)v;
        return PARSE_MORE;
    }
    if (parse_seconds(arg, c == OPT_DURATION ? &o->duration_ms : &o->interval_ms)) {
        snprintf(err, err_len, "--%s needs a number of seconds, e.g. 2 or 0.5, not '%s'",
                 c == OPT_DURATION ? "duration" : "interval", arg);
        return PARSE_FAIL;
    }
    return PARSE_MORE;
}

/* The numeric options: --depth, --error-exitcode, --sample, --min-size. */
static int parse_number_option(int c, const char *arg, struct mt_options *o, char *err,
                               size_t err_len)
{
    unsigned long v;
    switch (c) {
    case OPT_DEPTH:
        if (parse_uint(arg, 1, CLI_MAX_DEPTH, &v) != 0) {
            snprintf(err, err_len, "--depth needs a number from 1 to %d, not '%s'",
                     CLI_MAX_DEPTH, arg);
            return PARSE_FAIL;
        }
        o->depth = (unsigned)v;
        break;
    case OPT_ERROR_EXITCODE:
        if (parse_uint(arg, 1, 255, &v) != 0) {
            snprintf(err, err_len, "--error-exitcode needs a number from 1 to 255, not '%s'",
                     arg);
            return PARSE_FAIL;
        }
        o->error_exitcode = (int)v;
        break;
    case OPT_SAMPLE:
        if (parse_uint(arg, 1, 1000000, &v) != 0) {
            snprintf(err, err_len, "--sample needs a number from 1 to 1000000, not '%s'", arg);
            return PARSE_FAIL;
        }
        o->sample = (unsigned)v;
        break;
    case OPT_MIN_SIZE:
        if (parse_uint(arg, 0, (unsigned long)1 << 40, &v) != 0) {
            snprintf(err, err_len, "--min-size needs a number of bytes, not '%s'", arg);
            return PARSE_FAIL;
        }
        o->min_size = v;
        break;
    case OPT_FAST_RING:
        if (parse_uint(arg, 2, (unsigned long)1 << 20, &v) != 0 || (v & (v - 1)) != 0) {
            snprintf(err, err_len, "--fast-ring needs a power of two from 2 to %lu, not '%s'",
                     (unsigned long)1 << 20, arg);
            return PARSE_FAIL;
        }
        o->fast_ring = v;
        break;
    }
    return PARSE_MORE;
}

/* The leak-report options: --show-leak-kinds, --show-reachable,
 * --leak-check-heuristics. */
static int parse_leak_option(int c, const char *arg, struct mt_options *o, char *err,
                             size_t err_len)
{
    if (c == OPT_SHOW_REACHABLE) {
        o->show_kinds = REPORT_ALL_KINDS;
    } else if (c == OPT_SHOW_LEAK_KINDS) {
        if (parse_leak_kinds(arg, &o->show_kinds) != 0) {
            snprintf(err, err_len, "--show-leak-kinds takes definite, indirect, possible, "
                     "reachable (comma-separated), all or none, not '%s'", arg);
            return PARSE_FAIL;
        }
    } else if (parse_heuristics(arg, &o->heuristics) != 0) {
        snprintf(err, err_len, "--leak-check-heuristics takes stdstring, length64, "
                 "newarray, multipleinheritance (comma-separated), all or none, not '%s'",
                 arg);
        return PARSE_FAIL;
    }
    return PARSE_MORE;
}

/* --errors-for-leak-kinds: Valgrind's option of that name. */
static int parse_error_kinds(const char *arg, struct mt_options *o, char *err, size_t err_len)
{
    if (parse_leak_kinds(arg, &o->error_kinds) != 0) {
        snprintf(err, err_len, "--errors-for-leak-kinds takes definite, indirect, possible, "
                 "reachable (comma-separated), all or none, not '%s'", arg);
        return PARSE_FAIL;
    }
    return PARSE_MORE;
}

/* --alloc-fn: kept as given; matched against names at report time. */
static int add_alloc_fn(const char *pattern, struct mt_options *o, char *err, size_t err_len)
{
    if (!*pattern) {
        snprintf(err, err_len, "--alloc-fn needs a function name or pattern, not ''");
        return PARSE_FAIL;
    }
    if (o->nalloc_fns == CLI_MAX_ALLOC_FNS) {
        snprintf(err, err_len, "at most %d --alloc-fn options", CLI_MAX_ALLOC_FNS);
        return PARSE_FAIL;
    }
    o->alloc_fns[o->nalloc_fns++] = pattern;
    return PARSE_MORE;
}

static int add_debug_dir(const char *dir, struct mt_options *o, char *err, size_t err_len)
{
    if (!*dir) {
        snprintf(err, err_len, "--debug-dir needs a directory");
        return PARSE_FAIL;
    }
    if (o->ndebug_dirs == CLI_MAX_DEBUG_DIRS) {
        snprintf(err, err_len, "at most %d --debug-dir options", CLI_MAX_DEBUG_DIRS);
        return PARSE_FAIL;
    }
    o->debug_dirs[o->ndebug_dirs++] = dir;
    return PARSE_MORE;
}

/* The long name of option c, without "--". */
static const char *long_name(int c)
{
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

/* The child options: --show-exec-leaks, --trace-children,
 * --trace-children-skip(-by-arg), --child-silent-after-fork. */
static int parse_child_option(int c, const char *arg, struct mt_options *o, char *err,
                              size_t err_len)
{
    if (c == OPT_SHOW_EXEC_LEAKS) {
        o->show_exec_leaks = true;
    } else if (c == OPT_SKIP_EXE || c == OPT_SKIP_ARG) {
        /* An empty list, or an empty pattern in it, matches nothing anyone
         * means: a typo, not a wish. */
        size_t len = strlen(arg);
        if (!len || arg[0] == ',' || arg[len - 1] == ',' || strstr(arg, ",,")) {
            snprintf(err, err_len, "--%s needs comma-separated glob patterns, not '%s'",
                     long_name(c), arg);
            return PARSE_FAIL;
        }
        *(c == OPT_SKIP_EXE ? &o->skip_exe : &o->skip_arg) = arg;
    } else if (strcmp(arg, "yes") == 0 || strcmp(arg, "no") == 0) {
        bool *flag = c == OPT_TRACE_CHILDREN ? &o->trace_children
                     : c == OPT_SHOW_MISMATCHED ? &o->show_mismatched
                     : c == OPT_SHOW_STD_ALLOC  ? &o->show_std_alloc_frames
                                                : &o->child_silent;
        *flag = arg[0] == 'y';
    } else {
        snprintf(err, err_len, "--%s takes yes or no, not '%s'", long_name(c), arg);
        return PARSE_FAIL;
    }
    return PARSE_MORE;
}

/* "--NAME" or "--NAME=VALUE" that is no option: ambiguous when it is the
 * start of several names (getopt tells ambiguous and unknown apart only on
 * stderr), else unknown. */
static void unknown_long_option(const char *word, char *err, size_t err_len)
{
    size_t len = strcspn(word + 2, "=");
    char names[256] = "";
    size_t used = 0;
    int matches = 0;
    for (const struct option *o = longopts; o->name; o++) {
        if (len == 0 || strncmp(o->name, word + 2, len) != 0)
            continue;
        matches++;
        if (used < sizeof(names))
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s--%s",
                                     used ? ", " : "", o->name);
    }
    if (matches > 1)
        snprintf(err, err_len, "option '--%.*s' is ambiguous: %s", (int)len, word + 2, names);
    else
        snprintf(err, err_len, "unknown option '--%.*s' (try 'memtrace --help')", (int)len,
                 word + 2);
}

/* What getopt could not take: a missing argument (':'), an argument given
 * to an option without one, or an unknown option; arg is the argv word
 * getopt last looked at. */
static int option_error(int c, const char *arg, char *err, size_t err_len)
{
    bool long_word = strncmp(arg, "--", 2) == 0;
    if (c == ':')
        snprintf(err, err_len, "option '%s' needs an argument", arg);
    /* glibc: optopt is the option's value for "--stats=3", 0 when unknown. */
    else if (long_word && optopt != 0)
        snprintf(err, err_len, "option '--%s' takes no argument", long_name(optopt));
    else if (long_word)
        unknown_long_option(arg, err, err_len);
    /* Inside a group like -zq optind has not moved on: name the letter.
     * glibc sets optopt to 0 for unknown long options. */
    else if (optopt > 0 && optopt < 256)
        snprintf(err, err_len, "unknown option '-%c' (try 'memtrace --help')", optopt);
    else
        snprintf(err, err_len, "unknown option '%s' (try 'memtrace --help')", arg);
    return PARSE_FAIL;
}

/* --xml-file, --sarif, --folded, --flamegraph, --timeline FILE. */
static int set_report_file(int c, const char *path, struct mt_options *o, char *err,
                           size_t err_len)
{
    const char *name = c == OPT_XML_FILE ? "--xml-file" : c == OPT_SARIF ? "--sarif"
                       : c == OPT_FOLDED ? "--folded" : c == OPT_TIMELINE ? "--timeline"
                                                                          : "--flamegraph";
    if (!*path) {
        snprintf(err, err_len, "%s needs a file name", name);
        return PARSE_FAIL;
    }
    if (out_path_check(name, path, err, err_len) != 0)
        return PARSE_FAIL;
    *(c == OPT_XML_FILE ? &o->xml_path : c == OPT_SARIF ? &o->sarif_path
      : c == OPT_FOLDED ? &o->folded_path : c == OPT_TIMELINE ? &o->timeline_path
                                                              : &o->flamegraph_path) = path;
    return PARSE_MORE;
}

/* One option c from getopt_long (its argument in optarg); word is the argv
 * word getopt last looked at, for messages. */
static int apply_option(int c, bool attach, const char *word, struct mt_options *o, char *err,
                        size_t err_len)
{
    switch (c) {
    case OPT_DURATION:
    case OPT_INTERVAL:
    case OPT_TOP:
    case OPT_FORCE:
    case OPT_NO_CENSUS:
    case OPT_SHOW_CONTENTS:
    case OPT_LEAK_CHECK_EVERY:
    case OPT_LEAK_CHECK:
        if (!attach) {
            snprintf(err, err_len, "--%s is an option of 'memtrace attach', not of 'memtrace run'",
                     long_name(c));
            return PARSE_FAIL;
        }
        if (c == OPT_FORCE || c == OPT_NO_CENSUS || c == OPT_SHOW_CONTENTS) {
            *(c == OPT_FORCE ? &o->force : c == OPT_NO_CENSUS ? &o->no_census
                                                              : &o->show_contents) = true;
            return PARSE_MORE;
        }
        return parse_attach_option(c, optarg, o, err, err_len);
    case OPT_DEPTH:
    case OPT_ERROR_EXITCODE:
    case OPT_SAMPLE:
    case OPT_MIN_SIZE:
    case OPT_FAST_RING:
        return parse_number_option(c, optarg, o, err, err_len);
    case OPT_HEURISTICS:
    case OPT_SHOW_REACHABLE:
    case OPT_SHOW_LEAK_KINDS:
        return parse_leak_option(c, optarg, o, err, err_len);
    case OPT_SHOW_EXEC_LEAKS:
    case OPT_TRACE_CHILDREN:
    case OPT_SKIP_EXE:
    case OPT_SKIP_ARG:
    case OPT_CHILD_SILENT:
    case OPT_SHOW_MISMATCHED:
    case OPT_SHOW_STD_ALLOC:
        return parse_child_option(c, optarg, o, err, err_len);
    case OPT_DEBUG_DIR:
        return add_debug_dir(optarg, o, err, err_len);
    case OPT_ERROR_KINDS:
        return parse_error_kinds(optarg, o, err, err_len);
    case OPT_ALLOC_FN:
        return add_alloc_fn(optarg, o, err, err_len);
    case OPT_XML_FILE:
    case OPT_SARIF:
    case OPT_FOLDED:
    case OPT_FLAMEGRAPH:
    case OPT_TIMELINE:
        return set_report_file(c, optarg, o, err, err_len);
    case OPT_FLAME_COST:
        for (unsigned k = FLAME_LEAKED; k <= FLAME_PEAK; k++) {
            if (strcmp(optarg, report_flame_cost_name((enum flame_cost)k)) == 0) {
                o->flame_cost = k;
                return PARSE_MORE;
            }
        }
        snprintf(err, err_len, "--flamegraph-cost takes leaked, allocated or peak, not '%s'",
                 optarg);
        return PARSE_FAIL;
    case OPT_GEN_SUPPRESSIONS:
        /* yes (memcheck asks at each error) is all: memtrace's report is
         * written when the program is over, with nobody to ask. */
        if (strcmp(optarg, "all") != 0 && strcmp(optarg, "yes") != 0 &&
            strcmp(optarg, "no") != 0) {
            snprintf(err, err_len, "--gen-suppressions takes all, yes or no, not '%s'", optarg);
            return PARSE_FAIL;
        }
        o->gen_suppressions = optarg[0] != 'n';
        return PARSE_MORE;
    case OPT_NO_DEFAULT_SUPPRESSIONS:
        o->no_default_suppressions = true;
        return PARSE_MORE;
    case OPT_SUPPRESSIONS:
        /* Read now: a malformed file costs no run. */
        return supp_load(&o->suppressions, optarg, err, err_len) == 0 ? PARSE_MORE : PARSE_FAIL;
    case OPT_JSON:
    case 'o':
        if (!*optarg) {
            snprintf(err, err_len, "%s needs a file name%s, not ''",
                     c == 'o' ? "-o/--log-file" : "--json", c == 'o' ? "" : " ('-' for stdout)");
            return PARSE_FAIL;
        }
        if (out_path_check(c == 'o' ? "-o/--log-file" : "--json", optarg, err, err_len) != 0)
            return PARSE_FAIL;
        if (c == 'o')   /* each process's text goes to its own file, at the end */
            o->log_per_process = out_path_per_process(optarg);
        *(c == 'o' ? &o->log_path : &o->json_path) = optarg;
        return PARSE_MORE;
    case OPT_STATS:
        o->stats = true;
        return PARSE_MORE;
    case OPT_NO_FOLLOW_FORKS:
        o->follow_forks = false;
        return PARSE_MORE;
    case OPT_NO_PIN:
        o->pin = false;
        return PARSE_MORE;
    case OPT_RETURN_TRAPS:
        o->return_stubs = false;
        return PARSE_MORE;
    case OPT_FAST:
        o->fast = true;
        return PARSE_MORE;
    case 'h':   /* memtrace run --help: run's every option */
        o->help_topic = o->command;
        o->command = CMD_HELP;
        return PARSE_DONE;
    case 'V':
        o->command = CMD_VERSION;
        return PARSE_DONE;
    default:
        return option_error(c, word, err, err_len);
    }
}

/* What follows the options (args[0..n)): attach's PID, or run's program and
 * its arguments. */
static int parse_operands(char **args, int n, struct mt_options *o, char *err, size_t err_len)
{
    if (o->command == CMD_ATTACH) {
        if (n < 1) {
            snprintf(err, err_len, "no PID given (usage: memtrace attach [OPTIONS] PID)");
            return PARSE_FAIL;
        }
        if (n > 1) {
            snprintf(err, err_len, "attach takes one PID, not '%s %s'", args[0], args[1]);
            return PARSE_FAIL;
        }
        o->attach_pid = args[0];
        /* A child forked while attached gets clean memory and runs untraced:
         * memtrace leaves with the process it came for. */
        o->follow_forks = false;
        return PARSE_MORE;
    }
    if (n < 1) {
        snprintf(err, err_len, "no program to run (usage: memtrace run [OPTIONS] [--] PROGRAM [ARGS...])");
        return PARSE_FAIL;
    }
    o->target_argv = args;
    o->target_argc = n;
    return PARSE_MORE;
}

/* memtrace report [OPTIONS] FILE.json */
static int parse_report(int argc, char **argv, struct mt_options *o, char *err, size_t err_len)
{
    static const struct option report_opts[] = {
        { "format", required_argument, NULL, OPT_FORMAT },
        { "log-file", required_argument, NULL, 'o' },
        { "depth", required_argument, NULL, OPT_DEPTH },
        { "show-leak-kinds", required_argument, NULL, OPT_SHOW_LEAK_KINDS },
        { "show-reachable", no_argument, NULL, OPT_SHOW_REACHABLE },
        { "errors-for-leak-kinds", required_argument, NULL, OPT_ERROR_KINDS },
        { "error-exitcode", required_argument, NULL, OPT_ERROR_EXITCODE },
        { "suppressions", required_argument, NULL, OPT_SUPPRESSIONS },
        { "no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPPRESSIONS },
        { "gen-suppressions", required_argument, NULL, OPT_GEN_SUPPRESSIONS },
        { "flamegraph-cost", required_argument, NULL, OPT_FLAME_COST },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char *const formats[] = { "text", "json", "xml", "sarif", "folded",
                                           "flamegraph", "timeline" };
    optind = 0;
    opterr = 0;
    int c;
    o->report_format = "text";
    o->depth = 0;   /* every frame the JSON holds, unless --depth */
    while ((c = getopt_long(argc, argv, ":o:h", report_opts, NULL)) != -1) {
        if (c == '?' || c == ':') {
            snprintf(err, err_len, "report: %s '%s' (try 'memtrace help report')",
                     c == '?' ? "unknown option" : "no value for", argv[optind - 1]);
            return -1;
        }
        if (c == OPT_FORMAT) {
            o->report_format = NULL;
            for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
                if (strcmp(optarg, formats[i]) == 0)
                    o->report_format = formats[i];
            if (!o->report_format) {
                snprintf(err, err_len, "report: --format takes text, json, xml, sarif, folded, "
                         "flamegraph or timeline, not '%s'", optarg);
                return -1;
            }
            continue;
        }
        int r = apply_option(c, false, argv[optind - 1], o, err, err_len);
        if (r != PARSE_MORE)
            return r == PARSE_DONE ? 0 : -1;
    }
    if (argc - optind != 1) {
        snprintf(err, err_len, "report needs one JSON report: memtrace report [OPTIONS] "
                 "FILE.json");
        return -1;
    }
    o->report_input = argv[optind];
    if (!o->no_default_suppressions && supp_load_defaults(&o->suppressions, err, err_len) != 0)
        return -1;
    return 0;
}

/* memtrace diff [--json FILE] [--error-exitcode N] OLD NEW */
static int parse_diff(int argc, char **argv, struct mt_options *o, char *err, size_t err_len)
{
    static const struct option diff_opts[] = {
        { "json", required_argument, NULL, OPT_JSON },
        { "error-exitcode", required_argument, NULL, OPT_ERROR_EXITCODE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", diff_opts, NULL)) != -1) {
        if (c == '?' || c == ':') {
            snprintf(err, err_len, "diff: %s '%s' (diff takes --json FILE and --error-exitcode N)",
                     c == '?' ? "unknown option" : "no value for", argv[optind - 1]);
            return -1;
        }
        int r = apply_option(c, false, argv[optind - 1], o, err, err_len);
        if (r != PARSE_MORE)
            return r == PARSE_DONE ? 0 : -1;
    }
    if (argc - optind != 2) {
        snprintf(err, err_len, "diff needs two JSON reports: memtrace diff [--json FILE] "
                 "[--error-exitcode N] OLD.json NEW.json");
        return -1;
    }
    o->diff_old = argv[optind];
    o->diff_new = argv[optind + 1];
    return 0;
}

static int parse(int argc, char **argv, struct mt_options *o, char *err, size_t err_len)
{
    set_defaults(o);
    if (argc < 2) {
        snprintf(err, err_len, "no command given (try 'memtrace --help')");
        return -1;
    }
    int r = parse_command(argv[1], o, err, err_len);
    if (r == PARSE_DONE && o->command == CMD_HELP && strcmp(argv[1], "help") == 0 && argc > 2) {
        /* memtrace help run|attach|diff: that command's every option */
        static const char *const topics[] = { "run", "attach", "diff", "report" };
        static const enum cli_command commands[] = { CMD_RUN, CMD_ATTACH, CMD_DIFF,
                                                     CMD_REPORT };
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
            if (strcmp(argv[2], topics[i]) == 0)
                o->help_topic = commands[i];
        if (o->help_topic == CMD_HELP) {
            snprintf(err, err_len, "no help on '%s': try 'memtrace help run', 'memtrace help "
                     "attach', 'memtrace help diff' or 'memtrace help report'", argv[2]);
            return -1;
        }
    }
    if (r != PARSE_MORE)
        return r == PARSE_DONE ? 0 : -1;
    if (o->command == CMD_DIFF)
        return parse_diff(argc - 1, argv + 1, o, err, err_len);
    if (o->command == CMD_REPORT)
        return parse_report(argc - 1, argv + 1, o, err, err_len);
    bool attach = o->command == CMD_ATTACH;
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    optind = 0;    /* glibc: full re-initialisation, so repeated parses work */
    opterr = 0;
    /* run stops at PROGRAM (its options are its own); attach takes options
     * before and after PID. */
    const char *shortopts = attach ? ":o:hV" : "+:o:hV";
    int c;
    while ((c = getopt_long(sub_argc, sub_argv, shortopts, longopts, NULL)) != -1) {
        r = apply_option(c, attach, sub_argv[optind - 1], o, err, err_len);
        if (r != PARSE_MORE)
            return r == PARSE_DONE ? 0 : -1;
    }
    /* After the user's: a record both match is the user's. */
    if (!o->no_default_suppressions && supp_load_defaults(&o->suppressions, err, err_len) != 0)
        return -1;
    return parse_operands(sub_argv + optind, sub_argc - optind, o, err, err_len) == PARSE_MORE
               ? 0 : -1;
}

/* An error quotes the user's words, which may hold newlines or terminal
 * escapes: it must stay one line of plain text. Control bytes become \n,
 * \t or \xHH (the message is cut if that makes it too long). */
static void escape_controls(char *err, size_t err_len)
{
    char raw[1024];
    snprintf(raw, sizeof(raw), "%s", err);
    size_t out = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p && out + 1 < err_len; p++) {
        char esc[8];
        if (*p == '\n')
            snprintf(esc, sizeof(esc), "\\n");
        else if (*p == '\t')
            snprintf(esc, sizeof(esc), "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
        else
            esc[0] = (char)*p, esc[1] = '\0';
        size_t n = strlen(esc);
        if (out + n >= err_len)
            break;
        memcpy(err + out, esc, n);
        out += n;
    }
    if (err_len)
        err[out] = '\0';
}

int cli_parse(int argc, char **argv, struct mt_options *o, char *err, size_t err_len)
{
    int rc = parse(argc, argv, o, err, err_len);
    if (rc != 0)
        escape_controls(err, err_len);
    return rc;
}
