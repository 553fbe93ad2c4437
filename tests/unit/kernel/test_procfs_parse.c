/* procfs parsers: /proc/PID/cmdline and status lines as the kernel writes them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <unistd.h>
#include "procfs.h"

static void free_argv(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

static void assert_argv(const char *buf, size_t n, const char *const *want, size_t nwant)
{
    char **argv = procfs_parse_cmdline(buf, n);
    assert_non_null(argv);
    size_t i = 0;
    for (; argv[i]; i++) {
        assert_true(i < nwant);
        assert_string_equal(argv[i], want[i]);
    }
    assert_int_equal(i, nwant);
    free_argv(argv);
}

static void test_plain_arguments(void **state)
{
    (void)state;
    static const char buf[] = "ls\0-l\0/tmp";   /* the last NUL is the literal's */
    const char *want[] = { "ls", "-l", "/tmp" };
    assert_argv(buf, sizeof(buf), want, 3);
}

static void test_empty_argument_inside(void **state)
{
    (void)state;
    static const char buf[] = "prog\0\0last";
    const char *want[] = { "prog", "", "last" };
    assert_argv(buf, sizeof(buf), want, 3);
}

static void test_retitled_process(void **state)
{
    (void)state;
    /* redis-server's new title over its old arguments, the rest NULs. */
    static const char buf[] = "redis-server unixsocket:/tmp/r.sock\0\0\0\0\0\0\0\0";
    const char *want[] = { "redis-server unixsocket:/tmp/r.sock" };
    assert_argv(buf, sizeof(buf), want, 1);
}

static void test_no_terminating_nul(void **state)
{
    (void)state;
    static const char buf[] = { 'a', 0, 'b', 'c' };
    const char *want[] = { "a", "bc" };
    assert_argv(buf, sizeof(buf), want, 2);
}

static void test_empty(void **state)
{
    (void)state;
    assert_null(procfs_parse_cmdline("", 0));
}

/* x86_Thread_features as Linux 6.6+ prints it: shstk only as a word. */
static void test_thread_features(void **state)
{
    (void)state;
    char value[64];
    assert_true(procfs_parse_status_line("x86_Thread_features:\tshstk wrss \n",
                                         "x86_Thread_features", value, sizeof(value)));
    assert_true(procfs_words_have(value, "shstk"));
    assert_true(procfs_words_have(value, "wrss"));
    assert_false(procfs_words_have(value, "shs"));
    assert_false(procfs_parse_status_line("x86_Thread_features_locked:\tshstk\n",
                                          "x86_Thread_features", value, sizeof(value)));
    assert_true(procfs_parse_status_line("x86_Thread_features:\t\n", "x86_Thread_features",
                                         value, sizeof(value)));
    assert_false(procfs_words_have(value, "shstk"));
    assert_false(procfs_words_have("noshstk", "shstk"));
    assert_false(procfs_words_have("", ""));
    /* This machine's own threads: false where the kernel or CPU has none. */
    char mine[64];
    bool listed = procfs_status_field(getpid(), 0, "x86_Thread_features", mine, sizeof(mine)) == 0;
    assert_int_equal(procfs_shadow_stack(getpid(), 0), listed && procfs_words_have(mine, "shstk"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_arguments),
        cmocka_unit_test(test_empty_argument_inside),
        cmocka_unit_test(test_retitled_process),
        cmocka_unit_test(test_no_terminating_nul),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_thread_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
