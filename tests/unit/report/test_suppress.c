/* Suppression files: both formats parsed, malformed ones refused with
 * FILE:LINE, and matched as memcheck and LeakSanitizer match. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include "leak_scan.h"
#include "suppress.h"

static int parse(struct supp_set *s, const char *text, char *why)
{
    return supp_parse(s, "x.supp", text, strlen(text), why, 256);
}

/* A leak's frames as memtrace matches them: the allocation function, then
 * the program's callers. */
static const struct supp_frame leak_frames[] = {
    { "malloc", NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL },
    { "make_cache", NULL, "/usr/lib/libthird.so.1", "third/cache.c" },
    { "init_third", NULL, "/usr/lib/libthird.so.1", "third/init.c" },
    { "main", NULL, "/work/app", "app.c" },
};
#define NLEAK (sizeof(leak_frames) / sizeof(leak_frames[0]))

static void test_glob(void **state)
{
    (void)state;
    assert_true(supp_glob("*", ""));
    assert_true(supp_glob("make_*", "make_cache"));
    assert_true(supp_glob("m?ke_c*e", "make_cache"));
    assert_false(supp_glob("make_", "make_cache"));
    assert_true(supp_glob("*libthird.so*", "/usr/lib/libthird.so.1"));
    /* Brackets are plain characters (C++ names), unlike fnmatch's. */
    assert_true(supp_glob("operator new[](*)", "operator new[](unsigned long)"));
    assert_false(supp_glob("operator new[](*)", "operator newx(unsigned long)"));
}

static void test_valgrind_block_with_ellipsis_and_kinds(void **state)
{
    (void)state;
    struct supp_set s;
    supp_set_init(&s);
    char why[256] = "";
    const char *text = "# third-party cache\n"
                       "{\n"
                       "   third-cache\n"
                       "   Memcheck:Leak\n"
                       "   match-leak-kinds: definite,possible\n"
                       "   fun:malloc\n"
                       "   ...\n"
                       "   fun:init_third\n"
                       "}\n"
                       "{\n"
                       "   by-object\n"
                       "   Memcheck:Leak\n"
                       "   fun:*alloc\n"
                       "   obj:*/libthird.so*\n"
                       "}\n";
    assert_int_equal(parse(&s, text, why), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.items[0].name, "third-cache");
    assert_int_equal(s.items[0].line, 2);
    assert_int_equal(s.items[0].nframes, 3);
    /* definite: the first; reachable: not the first, the second. */
    assert_ptr_equal(supp_match(&s, SUPP_LEAK, LEAK_DEFINITE, leak_frames, NLEAK), &s.items[0]);
    assert_ptr_equal(supp_match(&s, SUPP_LEAK, LEAK_REACHABLE, leak_frames, NLEAK),
                     &s.items[1]);
    /* A frame pattern must match the frame at its place: init_third is
     * not the second frame. */
    supp_set_destroy(&s);
    supp_set_init(&s);
    assert_int_equal(parse(&s, "{\n n\n Memcheck:Leak\n fun:malloc\n fun:init_third\n}\n", why),
                     0);
    assert_null(supp_match(&s, SUPP_LEAK, LEAK_DEFINITE, leak_frames, NLEAK));
    /* ... matches no frame too; a pattern longer than the stack fails. */
    supp_set_destroy(&s);
    supp_set_init(&s);
    assert_int_equal(parse(&s, "{\n n\n Memcheck:Leak\n ...\n fun:malloc\n fun:make_cache\n}\n"
                               "{\n m\n Memcheck:Leak\n fun:main\n fun:x\n}\n", why), 0);
    assert_ptr_equal(supp_match(&s, SUPP_LEAK, LEAK_INDIRECT, leak_frames, NLEAK), &s.items[0]);
    assert_null(supp_match(&s, SUPP_LEAK, LEAK_INDIRECT, leak_frames + 3, 1));
    supp_set_destroy(&s);
}

static void test_valgrind_mangled_and_other_kinds(void **state)
{
    (void)state;
    struct supp_set s;
    supp_set_init(&s);
    char why[256];
    const char *text = "{\n cond\n Memcheck:Cond\n fun:main\n}\n"
                       "{\n param\n Memcheck:Param\n write(buf)\n fun:main\n}\n"
                       "{\n new\n Memcheck:Leak\n fun:_Znwm\n fun:make_cache\n}\n"
                       "{\n bad-free\n Memcheck:Free\n fun:free\n fun:main\n}\n";
    assert_int_equal(parse(&s, text, why), 0);
    assert_int_equal(s.n, 4);
    assert_true(s.items[0].inert);
    assert_true(s.items[1].inert);
    const struct supp_frame cxx[] = {
        { "operator new(unsigned long)", "_Znwm", "/usr/lib/libstdc++.so.6", NULL },
        { "make_cache", NULL, "/usr/lib/libthird.so.1", NULL },
    };
    /* Kinds memtrace never reports match nothing, even main. */
    assert_ptr_equal(supp_match(&s, SUPP_LEAK, LEAK_DEFINITE, cxx, 2), &s.items[2]);
    const struct supp_frame bad[] = { { "free", NULL, NULL, NULL }, { "main", NULL, NULL, NULL } };
    assert_ptr_equal(supp_match(&s, SUPP_FREE, 0, bad, 2), &s.items[3]);
    assert_null(supp_match(&s, SUPP_LEAK, LEAK_DEFINITE, bad, 2));
    supp_set_destroy(&s);
}

static void test_lsan_lines(void **state)
{
    (void)state;
    struct supp_set s;
    supp_set_init(&s);
    char why[256];
    const char *text = "# known leaks\n\nleak:init_th*\nleak:^make_cache$\nleak:libthird.so\n"
                       "leak:cache.c\nleak:^init$\nleak:so$\n";
    assert_int_equal(parse(&s, text, why), 0);
    assert_int_equal(s.n, 6);
    assert_string_equal(s.items[0].name, "leak:init_th*");
    assert_int_equal(s.items[0].line, 3);
    assert_true(s.items[1].anchor_start && s.items[1].anchor_end);
    /* Anywhere in the stack: function, module or source file. */
    const struct supp_frame only_main[] = { leak_frames[3] };
    for (size_t i = 0; i < 4; i++) {
        struct supp_set one = { .items = &s.items[i], .n = 1 };
        assert_non_null(supp_match(&one, SUPP_LEAK, LEAK_DEFINITE, leak_frames, NLEAK));
        assert_null(supp_match(&one, SUPP_LEAK, LEAK_DEFINITE, only_main, 1));
    }
    /* Anchored: no name is "init", none ends in "so". */
    struct supp_set anchored = { .items = &s.items[4], .n = 2 };
    assert_null(supp_match(&anchored, SUPP_LEAK, LEAK_DEFINITE, leak_frames, NLEAK));
    assert_null(supp_match(&s, SUPP_FREE, 0, leak_frames, NLEAK));
    supp_set_destroy(&s);
}

static void test_malformed_files_name_their_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        { "{\n", "x.supp:1: expected the suppression's name after '{'" },
        { "{\n name\n}\n", "x.supp:3: expected TOOL:KIND after the name (Memcheck:Leak, "
                           "Memcheck:Free)" },
        { "{\n name\n Memcheck:Leak\n fun:malloc\n", "x.supp:4: expected '}' before the end of "
                                                    "the file" },
        { "{\n name\n Memcheck:Leak\n}\n", "x.supp:4: expected at least one fun:, obj: or ... "
                                          "line before '}'" },
        { "{\n name\n Memcheck:Leak\n src:a.c:3\n}\n", "x.supp:4: expected fun:NAME, obj:PATH, "
                                                      "... or '}'" },
        { "{\n name\n Memcheck:Leak\n fun:a\n match-leak-kinds: definite\n}\n",
          "x.supp:5: expected match-leak-kinds: definite,indirect,possible,reachable (or all, "
          "none) right after Memcheck:Leak" },
        { "{\n name\n Memcheck:Leak\n match-leak-kinds: definitely\n fun:a\n}\n",
          "x.supp:4: expected match-leak-kinds: definite,indirect,possible,reachable (or all, "
          "none) right after Memcheck:Leak" },
        { "{\n a\n Memcheck:Leak\n fun:a\n}\nleak:x\n", "x.supp:6: expected '{' to start a "
                                                       "suppression" },
        { "leak:ok\n\ninterceptor_via_fun:x\n", "x.supp:3: expected leak:PATTERN "
                                                "(LeakSanitizer's only suppression type)" },
        { "leak:^$\n", "x.supp:1: expected a pattern after leak:" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct supp_set s;
        supp_set_init(&s);
        char why[256] = "";
        assert_int_equal(parse(&s, cases[i].text, why), -EINVAL);
        assert_string_equal(why, cases[i].why);
        supp_set_destroy(&s);
    }
    struct supp_set s;
    supp_set_init(&s);
    char why[256] = "";
    assert_int_equal(supp_parse(&s, "bin.supp", "{\0", 2, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "bin.supp:1: expected a text file (it holds a NUL byte)");
    assert_int_equal(supp_load(&s, "/nonexistent/x.supp", why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "/nonexistent/x.supp: No such file or directory");
    assert_int_equal(parse(&s, "\n# nothing\n", why), 0);
    assert_int_equal(s.n, 0);
    supp_set_destroy(&s);
}

/* The built-in set: the dynamic linker's possibly lost blocks, with or
 * without ld.so's debug info (an unnamed frame), and nothing else. */
static void test_default_set(void **state)
{
    (void)state;
    struct supp_set s;
    supp_set_init(&s);
    char why[256];
    assert_int_equal(supp_load_defaults(&s, why, sizeof(why)), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.items[0].file, supp_default_path);
    static const char ld_so[] = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
    const struct supp_frame dlfo[] = {
        { "malloc", NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL },
        { "malloc", NULL, ld_so, "../include/rtld-malloc.h" },
        { "_dlfo_mappings_segment_allocate", NULL, ld_so, "dl-find_object.c" },
        { "dlopen", NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL },
        { "main", NULL, "/work/app", "app.c" },
    };
    const struct supp_frame stripped[] = {
        { "malloc", NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL },
        { NULL, NULL, ld_so, NULL },
        { "main", NULL, "/work/app", "app.c" },
    };
    assert_ptr_equal(supp_match(&s, SUPP_LEAK, LEAK_POSSIBLE, dlfo, 5), &s.items[0]);
    assert_ptr_equal(supp_match(&s, SUPP_LEAK, LEAK_POSSIBLE, stripped, 3), &s.items[0]);
    /* Definitely lost is news, even from ld.so; a program's block never is ld.so's. */
    assert_null(supp_match(&s, SUPP_LEAK, LEAK_DEFINITE, dlfo, 5));
    for (unsigned k = 0; k < LEAK_KIND_COUNT; k++)
        assert_null(supp_match(&s, SUPP_LEAK, k, leak_frames, NLEAK));
    const struct supp_frame calloc_dtv[] = {
        { "calloc", NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL },
        { NULL, NULL, ld_so, NULL },
    };
    assert_null(supp_match(&s, SUPP_LEAK, LEAK_POSSIBLE, calloc_dtv, 2));
    supp_set_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_valgrind_block_with_ellipsis_and_kinds),
        cmocka_unit_test(test_valgrind_mangled_and_other_kinds),
        cmocka_unit_test(test_lsan_lines),
        cmocka_unit_test(test_malformed_files_name_their_line),
        cmocka_unit_test(test_default_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
