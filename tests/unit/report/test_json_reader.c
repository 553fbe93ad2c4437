/* The JSON reader behind memtrace diff: every value kind, escapes and
 * surrogates, big integers exactly, and malformed or hostile input refused
 * with where it breaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "json_reader.h"

static int parse(const char *text, struct jv *v, char *why)
{
    return json_read(text, strlen(text), v, why, 128);
}

static void test_values(void **state)
{
    (void)state;
    struct jv v;
    char why[128];
    assert_int_equal(parse(" {\"a\": [1, -2.5e1, true, false, null, \"x\"],\n \"big\": "
                           "18446744073709551615, \"o\": {}} ", &v, why), 0);
    assert_int_equal(v.type, JV_OBJECT);
    assert_int_equal(v.n, 3);
    const struct jv *a = jv_member(&v, "a");
    assert_int_equal(a->type, JV_ARRAY);
    assert_int_equal(a->n, 6);
    assert_true(a->items[0].is_uint && a->items[0].u == 1);
    assert_false(a->items[1].is_uint);
    assert_true(a->items[1].num == -25.0);
    assert_true(a->items[2].type == JV_BOOL && a->items[2].b);
    assert_true(a->items[3].type == JV_BOOL && !a->items[3].b);
    assert_int_equal(a->items[4].type, JV_NULL);
    assert_string_equal(a->items[5].str, "x");
    assert_true(jv_uint(&v, "big", 0) == UINT64_MAX);
    assert_int_equal(jv_member(&v, "o")->type, JV_OBJECT);
    assert_null(jv_member(&v, "missing"));
    assert_null(jv_string(&v, "a"));
    assert_int_equal(jv_uint(&v, "a", 7), 7);
    json_value_free(&v);
}

static void test_strings(void **state)
{
    (void)state;
    struct jv v;
    char why[128];
    assert_int_equal(parse("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t "
                           "\\u00e9 \\u20ac \\ud83d\\ude00\"", &v, why), 0);
    assert_string_equal(v.str, "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    json_value_free(&v);
}

static void refused(const char *text, const char *expected)
{
    struct jv v;
    char why[128];
    assert_int_equal(parse(text, &v, why), -1);
    assert_string_equal(why, expected);
    assert_int_equal(v.type, JV_NULL);
    assert_null(v.items);
}

static void test_malformed(void **state)
{
    (void)state;
    refused("", "line 1, column 1: expected a value, found the end");
    refused("[1, 2,]", "line 1, column 7: expected a value");
    refused("{\"a\" 1}", "line 1, column 6: expected ':' after a member name");
    refused("{\"a\": 1,\n \"b\": }", "line 2, column 7: expected a value");
    refused("[1] 2", "line 1, column 5: expected the end after the value");
    refused("\"open", "line 1, column 1: expected the closing '\"' of a string");
    refused("\"a\nb\"", "line 1, column 3: a control character in a string (it must be escaped)");
    refused("\"\\x\"", "line 1, column 4: an unknown escape in a string");
    refused("\"\\ud800 \"", "line 1, column 8: expected the low half of a surrogate pair");
    refused("\"\\udc00\"", "line 1, column 8: a lone low surrogate");
    refused("01", "line 1, column 2: expected the end after the value");
    refused("1.", "line 1, column 3: expected a digit after '.'");
    refused("tru", "line 1, column 1: expected a value");
    refused("{1: 2}", "line 1, column 2: expected a member name in quotes");
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    char deep[2 * JSON_READER_MAX_DEPTH + 3];
    size_t n = 0;
    for (int i = 0; i < JSON_READER_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < JSON_READER_MAX_DEPTH; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    struct jv v;
    char why[128];
    assert_int_equal(parse(deep, &v, why), 0);   /* 64 levels: fine */
    json_value_free(&v);
    memmove(deep + 1, deep, n + 1);
    deep[0] = '[';
    deep[n + 1] = ']';
    deep[n + 2] = '\0';
    assert_int_equal(parse(deep, &v, why), -1);
    assert_string_equal(why, "line 1, column 65: nested deeper than 64 levels");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
