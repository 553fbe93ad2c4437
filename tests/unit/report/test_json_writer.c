/* json_writer: commas, nesting and RFC 8259 string escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "json_check.h"
#include "json_writer.h"

struct fixture {
    struct capture out;
    struct json_writer w;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    capture_open(&fx->out);
    json_init(&fx->w, fx->out.f);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->out.f)
        capture_close(&fx->out);
    free(fx->out.buf);
    free(fx);
    return 0;
}

/* Closes the stream and checks the document, byte for byte and as JSON. */
static void assert_output(struct fixture *fx, const char *want)
{
    const char *got = capture_close(&fx->out);
    assert_string_equal(got, want);
    assert_true(json_is_valid(got));
}

/* The JSON text of one string value. */
static void assert_string_output(struct fixture *fx, const char *s, const char *want)
{
    json_string(&fx->w, s);
    assert_output(fx, want);
}

static void test_empty_object(void **state)
{
    struct fixture *fx = *state;
    json_begin_object(&fx->w);
    json_end_object(&fx->w);
    assert_output(fx, "{}");
}

static void test_empty_array(void **state)
{
    struct fixture *fx = *state;
    json_begin_array(&fx->w);
    json_end_array(&fx->w);
    assert_output(fx, "[]");
}

static void test_object_members_are_comma_separated(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_object(w);
    json_key(w, "a");
    json_uint(w, 1);
    json_key(w, "b");
    json_string(w, "x");
    json_key(w, "c");
    json_bool(w, true);
    json_key(w, "d");
    json_bool(w, false);
    json_key(w, "e");
    json_null(w);
    json_end_object(w);
    assert_output(fx, "{\"a\":1,\"b\":\"x\",\"c\":true,\"d\":false,\"e\":null}");
}

static void test_array_elements_are_comma_separated(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_array(w);
    json_int(w, -1);
    json_uint(w, 2);
    json_string(w, "three");
    json_null(w);
    json_end_array(w);
    assert_output(fx, "[-1,2,\"three\",null]");
}

static void test_nested_containers(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_object(w);
    json_key(w, "a");
    json_begin_array(w);
    json_uint(w, 1);
    json_begin_object(w);
    json_key(w, "b");
    json_begin_array(w);
    json_end_array(w);
    json_end_object(w);
    json_begin_array(w);
    json_end_array(w);
    json_end_array(w);
    json_key(w, "c");
    json_begin_object(w);
    json_end_object(w);
    json_key(w, "d");
    json_uint(w, 4);
    json_end_object(w);
    assert_output(fx, "{\"a\":[1,{\"b\":[]},[]],\"c\":{},\"d\":4}");
}

static void test_sibling_arrays(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_array(w);
    for (int n = 0; n < 3; n++) {
        json_begin_array(w);
        for (int i = 1; i <= n; i++)
            json_int(w, i);
        json_end_array(w);
    }
    json_end_array(w);
    assert_output(fx, "[[],[1],[1,2]]");
}

static void test_number_extremes(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_array(w);
    json_uint(w, UINT64_MAX);
    json_int(w, INT64_MIN);
    json_int(w, 0);
    json_end_array(w);
    assert_output(fx, "[18446744073709551615,-9223372036854775808,0]");
}

static void test_hex_is_a_string(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_array(w);
    json_hex(w, 0);
    json_hex(w, 0x7f00deadbeefULL);
    json_hex(w, UINT64_MAX);
    json_end_array(w);
    assert_output(fx, "[\"0x0\",\"0x7f00deadbeef\",\"0xffffffffffffffff\"]");
}

static void test_null_string_writes_null(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = &fx->w;
    json_begin_object(w);
    json_key(w, "function");
    json_string(w, NULL);
    json_key(w, "file");
    json_string(w, "a.c");
    json_end_object(w);
    assert_output(fx, "{\"function\":null,\"file\":\"a.c\"}");
}

static void test_empty_string(void **state)
{
    assert_string_output(*state, "", "\"\"");
}

static void test_escapes_quote_and_backslash(void **state)
{
    assert_string_output(*state, "say \"hi\" C:\\tmp", "\"say \\\"hi\\\" C:\\\\tmp\"");
}

static void test_escapes_common_control_characters(void **state)
{
    assert_string_output(*state, "a\nb\rc\td", "\"a\\nb\\rc\\td\"");
}

static void test_escapes_other_control_characters_as_unicode(void **state)
{
    assert_string_output(*state, "\x01|\x1f|\b|\f", "\"\\u0001|\\u001f|\\u0008|\\u000c\"");
}

static void test_leaves_printable_and_utf8_alone(void **state)
{
    assert_string_output(*state, "/tmp/caf\xc3\xa9 ~\x7f", "\"/tmp/caf\xc3\xa9 ~\x7f\"");
}

/* True when s is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, min;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, min = 0x10000;
        } else {
            return false;
        }
        unsigned cp = c & (0x3f >> n);
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* Each byte that is not part of a well-formed UTF-8 sequence becomes
 * U+FFFD, written \ufffd: the document stays valid UTF-8. */
static void test_invalid_utf8_bytes_become_replacement_characters(void **state)
{
    assert_string_output(*state, "a\xff\xfe" "b", "\"a\\ufffd\\ufffdb\"");
}

static void test_invalid_utf8_sequences(void **state)
{
    (void)state;
    static const struct { const char *in, *want; } cases[] = {
        { "\x80", "\"\\ufffd\"" },                          /* lone continuation */
        { "\xc3", "\"\\ufffd\"" },                          /* truncated at the end */
        { "\xe2\x82" "A", "\"\\ufffd\\ufffdA\"" },          /* truncated before ASCII */
        { "\xc0\xaf", "\"\\ufffd\\ufffd\"" },               /* overlong '/' */
        { "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },    /* overlong, 3 bytes */
        { "\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },    /* surrogate U+D800 */
        { "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },   /* U+110000 */
        { "\xf5\x80", "\"\\ufffd\\ufffd\"" },
        { "\xc3\xa9\xc3", "\"\xc3\xa9\\ufffd\"" },          /* valid, then truncated */
        { "\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xe2\x82\xac\xf0\x9f\x98\x80\"" },   /* kept */
        { "\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\"" },   /* around surrogates */
        { "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"" },     /* U+10FFFF */
        { "\xc2\x80", "\"\xc2\x80\"" },                     /* U+0080 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct capture c;
        struct json_writer w;
        capture_open(&c);
        json_init(&w, c.f);
        json_string(&w, cases[i].in);
        char *got = capture_close(&c);
        assert_string_equal(got, cases[i].want);
        assert_true(utf8_valid(got));
        free(got);
    }
}

/* Every byte value, alone and after a lead byte: always valid UTF-8 JSON. */
static void test_any_bytes_give_valid_utf8_json(void **state)
{
    struct fixture *fx = *state;
    char s[3 * 255 + 1];
    size_t n = 0;
    for (int b = 1; b < 256; b++) {
        s[n++] = (char)b;
        s[n++] = (char)0xe2;   /* a lead byte followed by anything */
        s[n++] = (char)b;
    }
    s[n] = '\0';
    json_begin_object(&fx->w);
    json_key(&fx->w, "\xff\x01");
    json_string(&fx->w, s);
    json_end_object(&fx->w);
    const char *got = capture_close(&fx->out);
    assert_true(utf8_valid(got));
    assert_true(json_is_valid(got));
    const char *want = "{\"\\ufffd\\u0001\":\"\\u0001\\ufffd\\u0001";
    assert_memory_equal(got, want, strlen(want));
}

static void test_keys_are_escaped(void **state)
{
    struct fixture *fx = *state;
    json_begin_object(&fx->w);
    json_key(&fx->w, "we\"ird\n");
    json_uint(&fx->w, 1);
    json_end_object(&fx->w);
    assert_output(fx, "{\"we\\\"ird\\n\":1}");
}

/* depth nested arrays, each holding 1 before the next level and 2 after it;
 * the innermost holds 1,2: [1,[1,[1,2],2],2] for depth 3. */
static void write_nested(struct json_writer *w, int depth)
{
    for (int i = 0; i < depth; i++) {
        json_begin_array(w);
        json_uint(w, 1);
    }
    for (int i = 0; i < depth; i++) {
        json_uint(w, 2);
        json_end_array(w);
    }
}

static char *expected_nested(int depth)
{
    char *s = malloc((size_t)depth * 8 + 1), *p = s;
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "[1,");
    for (int i = 0; i < depth; i++)
        p += sprintf(p, i == 0 ? "2]" : ",2]");
    return s;
}

/* Nesting has no depth limit: commas stay right 100 levels down. */
static void test_deep_nesting(void **state)
{
    struct fixture *fx = *state;
    write_nested(&fx->w, 100);
    char *want = expected_nested(100);
    assert_output(fx, want);
    free(want);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_object),
        T(test_empty_array),
        T(test_object_members_are_comma_separated),
        T(test_array_elements_are_comma_separated),
        T(test_nested_containers),
        T(test_sibling_arrays),
        T(test_number_extremes),
        T(test_hex_is_a_string),
        T(test_null_string_writes_null),
        T(test_empty_string),
        T(test_escapes_quote_and_backslash),
        T(test_escapes_common_control_characters),
        T(test_escapes_other_control_characters_as_unicode),
        T(test_leaves_printable_and_utf8_alone),
        T(test_invalid_utf8_bytes_become_replacement_characters),
        T(test_invalid_utf8_sequences),
        T(test_any_bytes_give_valid_utf8_json),
        T(test_keys_are_escaped),
        T(test_deep_nesting),
    };
#undef T
    return cmocka_run_group_tests_name("json_writer", tests, NULL, NULL);
}
