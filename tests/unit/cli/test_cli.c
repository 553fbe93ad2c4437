/* cli: `memtrace run [OPTIONS] [--] PROGRAM [ARGS...]`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "leak_scan.h"
#include "suppress.h"

struct parse_result {
    int rc;
    struct mt_options o;
    char err[256];
};

static struct parse_result parse_argv(char **argv)
{
    struct parse_result r;
    memset(&r, 0, sizeof(r));
    int argc = 0;
    while (argv[argc])
        argc++;
    r.rc = cli_parse(argc, argv, &r.o, r.err, sizeof(r.err));
    /* Suppressions (the default set always) are the caller's; none is
     * looked at here. */
    supp_set_destroy(&r.o.suppressions);
    return r;
}

/* PARSE("run", "prog") parses {"memtrace", "run", "prog"}. The array is a
 * compound literal with automatic storage: it outlives the call, as
 * target_argv (which points into it) requires. */
#define PARSE(...) parse_argv((char *[]){ "memtrace", __VA_ARGS__, NULL })
#define PARSE_NOTHING() parse_argv((char *[]){ "memtrace", NULL })

static void assert_ok(const struct parse_result *r)
{
    if (r->rc != 0)
        fail_msg("cli_parse failed: %s", r->err);
}

static void assert_error(const struct parse_result *r, const char *message)
{
    assert_int_equal(r->rc, -1);
    assert_string_equal(r->err, message);
}

static void assert_target(const struct parse_result *r, int argc, const char *const *argv)
{
    assert_int_equal(r->o.command, CMD_RUN);
    assert_int_equal(r->o.target_argc, argc);
    for (int i = 0; i < argc; i++)
        assert_string_equal(r->o.target_argv[i], argv[i]);
    assert_null(r->o.target_argv[argc]);
}

#define ASSERT_TARGET(r, ...) \
    assert_target((r), (int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *)), \
                  (const char *[]){ __VA_ARGS__ })

static void test_run_program_with_arguments(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog", "a", "b");
    assert_ok(&r);
    ASSERT_TARGET(&r, "prog", "a", "b");
}

static void test_defaults(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog");
    assert_ok(&r);
    assert_null(r.o.json_path);
    assert_null(r.o.log_path);
    assert_int_equal(r.o.depth, CLI_DEFAULT_DEPTH);
    assert_int_equal(r.o.depth, 16);
    assert_int_equal(r.o.error_exitcode, -1);
    assert_false(r.o.stats);
}

static void test_json_option(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--json", "out.json", "prog");
    assert_ok(&r);
    assert_string_equal(r.o.json_path, "out.json");
    ASSERT_TARGET(&r, "prog");

    r = PARSE("run", "--json=-", "prog");
    assert_ok(&r);
    assert_string_equal(r.o.json_path, "-");
}

static void test_log_file_option_short_and_long(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "-o", "a.log", "prog");
    assert_ok(&r);
    assert_string_equal(r.o.log_path, "a.log");

    r = PARSE("run", "--log-file", "b.log", "prog");
    assert_ok(&r);
    assert_string_equal(r.o.log_path, "b.log");

    r = PARSE("run", "--log-file=c.log", "prog");
    assert_ok(&r);
    assert_string_equal(r.o.log_path, "c.log");
    ASSERT_TARGET(&r, "prog");
}

static void test_depth_accepts_bounds(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--depth", "1", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.depth, 1);

    r = PARSE("run", "--depth=256", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.depth, 256);
}

static void test_depth_rejects_out_of_range_and_non_numbers(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--depth", "0", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not '0'");
    r = PARSE("run", "--depth", "257", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not '257'");
    r = PARSE("run", "--depth", "x", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not 'x'");
    r = PARSE("run", "--depth", "-1", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not '-1'");
    r = PARSE("run", "--depth", "12x", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not '12x'");
    r = PARSE("run", "--depth=", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not ''");
    r = PARSE("run", "--depth", "+5", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not '+5'");
    r = PARSE("run", "--depth", " 5", "prog");
    assert_error(&r, "--depth needs a number from 1 to 256, not ' 5'");
    r = PARSE("run", "--depth", "99999999999999999999999", "prog");
    assert_int_equal(r.rc, -1);
}

static void test_error_exitcode(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--error-exitcode", "1", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.error_exitcode, 1);
    r = PARSE("run", "--error-exitcode=255", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.error_exitcode, 255);
}

static void test_error_exitcode_rejects_out_of_range(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--error-exitcode", "0", "prog");
    assert_error(&r, "--error-exitcode needs a number from 1 to 255, not '0'");
    r = PARSE("run", "--error-exitcode", "256", "prog");
    assert_error(&r, "--error-exitcode needs a number from 1 to 255, not '256'");
    r = PARSE("run", "--error-exitcode", "abc", "prog");
    assert_error(&r, "--error-exitcode needs a number from 1 to 255, not 'abc'");
}

static void test_stats_flag(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--stats", "prog", "x");
    assert_ok(&r);
    assert_true(r.o.stats);
    ASSERT_TARGET(&r, "prog", "x");
}

static void test_all_options_together(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--json", "r.json", "-o", "r.log", "--depth", "32",
                                  "--error-exitcode", "9", "--stats", "./prog", "-v");
    assert_ok(&r);
    assert_string_equal(r.o.json_path, "r.json");
    assert_string_equal(r.o.log_path, "r.log");
    assert_int_equal(r.o.depth, 32);
    assert_int_equal(r.o.error_exitcode, 9);
    assert_true(r.o.stats);
    ASSERT_TARGET(&r, "./prog", "-v");
}

static void test_double_dash_ends_options(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--stats", "--", "prog", "--json", "x");
    assert_ok(&r);
    assert_true(r.o.stats);
    assert_null(r.o.json_path);
    ASSERT_TARGET(&r, "prog", "--json", "x");
}

static void test_double_dash_allows_program_named_like_an_option(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--", "-weird", "a");
    assert_ok(&r);
    ASSERT_TARGET(&r, "-weird", "a");
}

static void test_options_after_program_belong_to_program(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog", "--json", "x", "--depth", "0", "-h");
    assert_ok(&r);
    assert_null(r.o.json_path);
    assert_int_equal(r.o.depth, CLI_DEFAULT_DEPTH);
    ASSERT_TARGET(&r, "prog", "--json", "x", "--depth", "0", "-h");
}

static void test_help_forms(void **state)
{
    (void)state;
    struct parse_result r = PARSE("--help");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_HELP);
    r = PARSE("-h");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_HELP);
    r = PARSE("help");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_HELP);
    r = PARSE("run", "--help");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_HELP);
    r = PARSE("run", "-h", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_HELP);
    assert_int_equal(r.o.help_topic, CMD_RUN);
    r = PARSE("attach", "--help");
    assert_int_equal(r.o.help_topic, CMD_ATTACH);
    r = PARSE("help", "attach");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_HELP);
    assert_int_equal(r.o.help_topic, CMD_ATTACH);
    r = PARSE("help", "run");
    assert_int_equal(r.o.help_topic, CMD_RUN);
    r = PARSE("--help");
    assert_int_equal(r.o.help_topic, CMD_HELP);
    r = PARSE("help", "diff");
    assert_int_equal(r.o.help_topic, CMD_DIFF);
    r = PARSE("diff", "--help");
    assert_int_equal(r.o.command, CMD_HELP);
    assert_int_equal(r.o.help_topic, CMD_DIFF);
    r = PARSE("help", "frobnicate");
    assert_error(&r, "no help on 'frobnicate': try 'memtrace help run', 'memtrace help "
                     "attach', 'memtrace help diff' or 'memtrace help report'");
    r = PARSE("help", "report");
    assert_int_equal(r.o.help_topic, CMD_REPORT);
}

static void test_report_forms(void **state)
{
    (void)state;
    struct parse_result r = PARSE("report", "--format=sarif", "-o", "out.sarif",
                                  "--show-leak-kinds=all", "--depth", "3", "r.json");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_REPORT);
    assert_string_equal(r.o.report_format, "sarif");
    assert_string_equal(r.o.log_path, "out.sarif");
    assert_int_equal(r.o.show_kinds, (1u << LEAK_KIND_COUNT) - 1);
    assert_int_equal(r.o.depth, 3);
    assert_string_equal(r.o.report_input, "r.json");
    r = PARSE("report", "r.json");
    assert_string_equal(r.o.report_format, "text");
    assert_int_equal(r.o.depth, 0);
    r = PARSE("report", "--format", "pdf", "r.json");
    assert_error(&r, "report: --format takes text, json, xml, sarif, folded, flamegraph or "
                     "timeline, not 'pdf'");
    r = PARSE("report", "--fast", "r.json");
    assert_error(&r, "report: unknown option '--fast' (try 'memtrace help report')");
    r = PARSE("report", "a.json", "b.json");
    assert_error(&r, "report needs one JSON report: memtrace report [OPTIONS] FILE.json");
}

static void test_diff_forms(void **state)
{
    (void)state;
    struct parse_result r = PARSE("diff", "--json", "d.json", "--error-exitcode=4", "a", "b");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_DIFF);
    assert_string_equal(r.o.json_path, "d.json");
    assert_int_equal(r.o.error_exitcode, 4);
    assert_string_equal(r.o.diff_old, "a");
    assert_string_equal(r.o.diff_new, "b");
    r = PARSE("diff", "a");
    assert_error(&r, "diff needs two JSON reports: memtrace diff [--json FILE] "
                     "[--error-exitcode N] OLD.json NEW.json");
    r = PARSE("diff", "a", "b", "c");
    assert_error(&r, "diff needs two JSON reports: memtrace diff [--json FILE] "
                     "[--error-exitcode N] OLD.json NEW.json");
    r = PARSE("diff", "--fast", "a", "b");
    assert_error(&r, "diff: unknown option '--fast' (diff takes --json FILE and "
                     "--error-exitcode N)");
    r = PARSE("diff", "a", "b", "--json");
    assert_error(&r, "diff: no value for '--json' (diff takes --json FILE and "
                     "--error-exitcode N)");
}

static void test_version_forms(void **state)
{
    (void)state;
    struct parse_result r = PARSE("--version");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_VERSION);
    r = PARSE("-V");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_VERSION);
    r = PARSE("run", "--version");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_VERSION);
    r = PARSE("run", "-V", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.command, CMD_VERSION);
}

static void test_no_command(void **state)
{
    (void)state;
    struct parse_result r = PARSE_NOTHING();
    assert_error(&r, "no command given (try 'memtrace --help')");
}

static void test_unknown_command_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("frobnicate", "prog");
    assert_error(&r, "unknown command 'frobnicate' (try 'memtrace --help')");
}

static void test_unknown_option_before_command_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("--bogus", "run", "prog");
    assert_error(&r, "unknown option '--bogus' (try 'memtrace --help')");
}

static void test_unknown_long_option_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--bogus", "prog");
    assert_error(&r, "unknown option '--bogus' (try 'memtrace --help')");
}

static void test_unknown_short_option_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "-x", "prog");
    assert_error(&r, "unknown option '-x' (try 'memtrace --help')");
}

/* An unknown short option that is not the last letter of its group ("-zq")
 * is named by its letter: getopt has not advanced optind at that point. */
static void test_unknown_short_option_in_a_group_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "-zq", "prog");
    assert_int_equal(r.rc, -1);
    if (strstr(r.err, "'-z'") == NULL && strstr(r.err, "'-zq'") == NULL)
        fail_msg("error does not name -z: \"%s\"", r.err);
}

static void test_missing_option_argument_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--json");
    assert_error(&r, "option '--json' needs an argument");
    r = PARSE("run", "-o");
    assert_error(&r, "option '-o' needs an argument");
}

/* An option misused is named, never its value: "--duration 5" given to
 * run used to be reported as "5 is an option of 'memtrace attach'". */
static void test_attach_option_given_to_run_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--duration", "5", "prog");
    assert_error(&r, "--duration is an option of 'memtrace attach', not of 'memtrace run'");
    r = PARSE("run", "--top=3", "prog");
    assert_error(&r, "--top is an option of 'memtrace attach', not of 'memtrace run'");
    r = PARSE("run", "--force", "prog");
    assert_error(&r, "--force is an option of 'memtrace attach', not of 'memtrace run'");
}

static void test_argument_to_a_flag_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--stats=3", "prog");
    assert_error(&r, "option '--stats' takes no argument");
    r = PARSE("attach", "--no-pin=1", "3");
    assert_error(&r, "option '--no-pin' takes no argument");
}

static void test_ambiguous_option_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--de", "3", "prog");
    assert_error(&r, "option '--de' is ambiguous: --depth, --debug-dir");
    r = PARSE("run", "--bogus=1", "prog");
    assert_error(&r, "unknown option '--bogus' (try 'memtrace --help')");
}

static void test_empty_report_path_is_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--json=", "prog");
    assert_error(&r, "--json needs a file name ('-' for stdout), not ''");
    r = PARSE("run", "-o", "", "prog");
    assert_error(&r, "-o/--log-file needs a file name, not ''");
}

static void test_missing_program(void **state)
{
    (void)state;
    const char *msg = "no program to run (usage: memtrace run [OPTIONS] [--] PROGRAM [ARGS...])";
    struct parse_result r = PARSE("run");
    assert_error(&r, msg);
    r = PARSE("run", "--stats");
    assert_error(&r, msg);
    r = PARSE("run", "--depth", "4", "--");
    assert_error(&r, msg);
}

/* getopt keeps state between calls; a second parse must start afresh. */
static void test_parsing_twice_reinitialises_getopt(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--depth", "5", "-o", "log", "first", "x");
    assert_ok(&r);
    assert_int_equal(r.o.depth, 5);
    ASSERT_TARGET(&r, "first", "x");

    r = PARSE("run", "--stats", "second");
    assert_ok(&r);
    assert_true(r.o.stats);
    assert_int_equal(r.o.depth, CLI_DEFAULT_DEPTH);
    assert_null(r.o.log_path);
    ASSERT_TARGET(&r, "second");

    /* After an error in the middle of a parse, too. */
    r = PARSE("run", "-x", "prog");
    assert_int_equal(r.rc, -1);
    r = PARSE("run", "-o", "l", "third");
    assert_ok(&r);
    assert_string_equal(r.o.log_path, "l");
    ASSERT_TARGET(&r, "third");
}

static void test_usage_lists_every_option(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cli_usage(f, CMD_RUN);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "Usage: memtrace run [OPTIONS] [--] PROGRAM [ARGS...]\n"));
    const char *options[] = { "--json FILE", "-o, --log-file FILE", "--depth N",
                              "--error-exitcode N", "--stats", "--no-pin",
                              "--show-exec-leaks", "--trace-children=yes|no",
                              "--trace-children-skip=PATTERNS",
                              "--trace-children-skip-by-arg=PATTERNS",
                              "--child-silent-after-fork=yes|no", "--sarif=FILE",
                              "--flamegraph=FILE", "--folded=FILE", "--flamegraph-cost=C",
                              "--no-default-suppressions", "-h, --help", "-V, --version",
                              "Report files:\n", "Suppressions:\n", "Speed:\n" };
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
        if (!strstr(text, options[i]))
            fail_msg("usage does not mention %s", options[i]);
    free(text);
}

static void test_leak_kind_and_fork_defaults(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.show_kinds, (1u << LEAK_DEFINITE) | (1u << LEAK_POSSIBLE));
    assert_int_equal(r.o.heuristics, HEUR_ALL);
    assert_true(r.o.follow_forks);
}

static void test_show_leak_kinds(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--show-leak-kinds=reachable,indirect", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.show_kinds, (1u << LEAK_REACHABLE) | (1u << LEAK_INDIRECT));
    r = PARSE("run", "--show-leak-kinds", "none", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.show_kinds, 0);
    r = PARSE("run", "--show-reachable", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.show_kinds, (1u << LEAK_KIND_COUNT) - 1);
    r = PARSE("run", "--show-leak-kinds=definite,lost", "prog");
    assert_error(&r, "--show-leak-kinds takes definite, indirect, possible, reachable "
                     "(comma-separated), all or none, not 'definite,lost'");
}

static void test_errors_for_leak_kinds(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.error_kinds, (1u << LEAK_DEFINITE) | (1u << LEAK_POSSIBLE));
    r = PARSE("run", "--errors-for-leak-kinds=reachable", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.error_kinds, 1u << LEAK_REACHABLE);
    assert_int_equal(r.o.show_kinds, (1u << LEAK_DEFINITE) | (1u << LEAK_POSSIBLE));
    r = PARSE("run", "--errors-for-leak-kinds", "all", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.error_kinds, (1u << LEAK_KIND_COUNT) - 1);
    r = PARSE("attach", "--errors-for-leak-kinds=none", "123");
    assert_ok(&r);
    assert_int_equal(r.o.error_kinds, 0);
    r = PARSE("run", "--errors-for-leak-kinds=definite,leak", "prog");
    assert_error(&r, "--errors-for-leak-kinds takes definite, indirect, possible, reachable "
                     "(comma-separated), all or none, not 'definite,leak'");
}

static void test_alloc_fn(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--alloc-fn=xmalloc", "--alloc-fn", "g_*", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.nalloc_fns, 2);
    assert_string_equal(r.o.alloc_fns[0], "xmalloc");
    assert_string_equal(r.o.alloc_fns[1], "g_*");
    r = PARSE("run", "--alloc-fn=", "prog");
    assert_error(&r, "--alloc-fn needs a function name or pattern, not ''");
}

static void test_leak_check_heuristics(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--leak-check-heuristics=none", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.heuristics, 0);
    r = PARSE("run", "--leak-check-heuristics=newarray,multipleinheritance", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.heuristics, HEUR_NEWARRAY | HEUR_MULTIPLE_INHERITANCE);
    r = PARSE("run", "--leak-check-heuristics=cookies", "prog");
    assert_error(&r, "--leak-check-heuristics takes stdstring, length64, newarray, "
                     "multipleinheritance (comma-separated), all or none, not 'cookies'");
}

static void test_sample_and_min_size(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.sample, 1);
    assert_int_equal(r.o.min_size, 0);
    r = PARSE("run", "--sample", "10", "--min-size=4096", "prog");
    assert_ok(&r);
    assert_int_equal(r.o.sample, 10);
    assert_int_equal(r.o.min_size, 4096);
    r = PARSE("run", "--sample", "0", "prog");
    assert_error(&r, "--sample needs a number from 1 to 1000000, not '0'");
    r = PARSE("run", "--min-size", "-1", "prog");
    assert_error(&r, "--min-size needs a number of bytes, not '-1'");
}

static void test_no_follow_forks(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--no-follow-forks", "prog");
    assert_ok(&r);
    assert_false(r.o.follow_forks);
}

/* Valgrind's child controls and --show-exec-leaks. */
static void test_child_options(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog");
    assert_ok(&r);
    assert_true(r.o.trace_children);
    assert_false(r.o.show_exec_leaks);
    assert_false(r.o.child_silent);
    assert_null(r.o.skip_exe);
    assert_null(r.o.skip_arg);
    r = PARSE("run", "--show-exec-leaks", "--trace-children=no", "--child-silent-after-fork=yes",
              "--trace-children-skip=*/sh,env", "--trace-children-skip-by-arg", "*.py", "prog");
    assert_ok(&r);
    assert_true(r.o.show_exec_leaks);
    assert_false(r.o.trace_children);
    assert_true(r.o.child_silent);
    assert_string_equal(r.o.skip_exe, "*/sh,env");
    assert_string_equal(r.o.skip_arg, "*.py");
    ASSERT_TARGET(&r, "prog");
    r = PARSE("run", "--trace-children=no", "--trace-children=yes", "prog");
    assert_ok(&r);
    assert_true(r.o.trace_children);
}

static void test_child_options_errors_are_named(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "--trace-children=maybe", "prog");
    assert_error(&r, "--trace-children takes yes or no, not 'maybe'");
    r = PARSE("run", "--child-silent-after-fork=", "prog");
    assert_error(&r, "--child-silent-after-fork takes yes or no, not ''");
    r = PARSE("run", "--trace-children-skip=", "prog");
    assert_error(&r, "--trace-children-skip needs comma-separated glob patterns, not ''");
    r = PARSE("run", "--trace-children-skip-by-arg=a,,b", "prog");
    assert_error(&r, "--trace-children-skip-by-arg needs comma-separated glob patterns, not "
                 "'a,,b'");
    r = PARSE("run", "--show-exec-leaks=yes", "prog");
    assert_error(&r, "option '--show-exec-leaks' takes no argument");
}

static void test_pin_by_default_and_no_pin(void **state)
{
    (void)state;
    struct parse_result r = PARSE("run", "prog");
    assert_ok(&r);
    assert_true(r.o.pin);
    r = PARSE("run", "--no-pin", "prog");
    assert_ok(&r);
    assert_false(r.o.pin);
    ASSERT_TARGET(&r, "prog");
}

/* The user's words are quoted in errors: their control characters are
 * escaped so the error stays one line. */
static void test_errors_stay_one_line(void **state)
{
    (void)state;
    struct parse_result r = PARSE("\n\v" "3run");
    assert_error(&r, "unknown command '\\n\\x0b3run' (try 'memtrace --help')");
    r = PARSE("run", "--depth", "1\n2\t\x1b[31m", "prog");
    assert_int_equal(r.rc, -1);
    assert_null(strchr(r.err, '\n'));
    assert_null(strchr(r.err, '\x1b'));
    assert_non_null(strstr(r.err, "'1\\n2\\t\\x1b[31m'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_program_with_arguments),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_leak_kind_and_fork_defaults),
        cmocka_unit_test(test_show_leak_kinds),
        cmocka_unit_test(test_errors_for_leak_kinds),
        cmocka_unit_test(test_alloc_fn),
        cmocka_unit_test(test_leak_check_heuristics),
        cmocka_unit_test(test_no_follow_forks),
        cmocka_unit_test(test_child_options),
        cmocka_unit_test(test_child_options_errors_are_named),
        cmocka_unit_test(test_pin_by_default_and_no_pin),
        cmocka_unit_test(test_sample_and_min_size),
        cmocka_unit_test(test_json_option),
        cmocka_unit_test(test_log_file_option_short_and_long),
        cmocka_unit_test(test_depth_accepts_bounds),
        cmocka_unit_test(test_depth_rejects_out_of_range_and_non_numbers),
        cmocka_unit_test(test_error_exitcode),
        cmocka_unit_test(test_error_exitcode_rejects_out_of_range),
        cmocka_unit_test(test_stats_flag),
        cmocka_unit_test(test_all_options_together),
        cmocka_unit_test(test_double_dash_ends_options),
        cmocka_unit_test(test_double_dash_allows_program_named_like_an_option),
        cmocka_unit_test(test_options_after_program_belong_to_program),
        cmocka_unit_test(test_help_forms),
        cmocka_unit_test(test_diff_forms),
        cmocka_unit_test(test_report_forms),
        cmocka_unit_test(test_version_forms),
        cmocka_unit_test(test_no_command),
        cmocka_unit_test(test_unknown_command_is_named),
        cmocka_unit_test(test_unknown_option_before_command_is_named),
        cmocka_unit_test(test_unknown_long_option_is_named),
        cmocka_unit_test(test_unknown_short_option_is_named),
        cmocka_unit_test(test_unknown_short_option_in_a_group_is_named),
        cmocka_unit_test(test_missing_option_argument_is_named),
        cmocka_unit_test(test_attach_option_given_to_run_is_named),
        cmocka_unit_test(test_argument_to_a_flag_is_named),
        cmocka_unit_test(test_ambiguous_option_is_named),
        cmocka_unit_test(test_empty_report_path_is_named),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_parsing_twice_reinitialises_getopt),
        cmocka_unit_test(test_usage_lists_every_option),
        cmocka_unit_test(test_errors_stay_one_line),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
