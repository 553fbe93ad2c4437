/* name_set: Valgrind's list-option syntax ("all", "none", names separated
 * by commas) into bits, as --show-leak-kinds and --leak-check-heuristics
 * use it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "leak_scan.h"
#include "name_set.h"

static const struct name_bit heuristics[] = {
    { "stdstring", HEUR_STDSTRING }, { "length64", HEUR_LENGTH64 },
    { "newarray", HEUR_NEWARRAY }, { "multipleinheritance", HEUR_MULTIPLE_INHERITANCE },
};
#define N (sizeof(heuristics) / sizeof(heuristics[0]))

static int parse(const char *list, unsigned *out)
{
    return name_set_parse(list, heuristics, N, HEUR_ALL, out);
}

static void test_all_and_none(void **state)
{
    (void)state;
    unsigned h = 99;
    assert_int_equal(parse("none", &h), 0);
    assert_int_equal(h, 0);
    assert_int_equal(parse("all", &h), 0);
    assert_int_equal(h, HEUR_ALL);
}

static void test_list(void **state)
{
    (void)state;
    unsigned h = 99;
    assert_int_equal(parse("newarray,stdstring", &h), 0);
    assert_int_equal(h, HEUR_NEWARRAY | HEUR_STDSTRING);
    assert_int_equal(parse("length64", &h), 0);
    assert_int_equal(h, HEUR_LENGTH64);
    assert_int_equal(parse("length64,length64,", &h), 0);   /* repeats and a trailing comma */
    assert_int_equal(h, HEUR_LENGTH64);
}

static void test_rejects(void **state)
{
    (void)state;
    unsigned h = 99;
    assert_int_equal(parse("newarray,bogus", &h), -1);
    assert_int_equal(parse("", &h), -1);
    assert_int_equal(parse(",newarray", &h), -1);        /* an empty name */
    assert_int_equal(parse("newarray,,length64", &h), -1);
    assert_int_equal(parse("new", &h), -1);              /* a prefix is not a name */
    assert_int_equal(parse("all,newarray", &h), -1);     /* all and none stand alone */
    assert_int_equal(parse("ALL", &h), -1);
    assert_int_equal(h, 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_and_none),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
