/* Test helpers for JSON output: a strict RFC 8259 syntax check and a
 * memory-backed FILE to capture what a writer produces. */
#ifndef MT_TEST_JSON_CHECK_H
#define MT_TEST_JSON_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* True when text is exactly one JSON value (surrounding whitespace allowed). */
bool json_is_valid(const char *text);

/* open_memstream wrapper: capture_open, write to c.f, capture_close returns
 * the text (malloc'd, NUL-terminated; free it). */
struct capture {
    FILE *f;
    char *buf;
    size_t len;
};
void capture_open(struct capture *c);
char *capture_close(struct capture *c);

#endif
