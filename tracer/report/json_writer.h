/* A minimal streaming JSON writer: commas and escaping handled here so the
 * report writer reads like the schema. */
#ifndef MT_JSON_WRITER_H
#define MT_JSON_WRITER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_writer {
    FILE *f;
    int depth;
    bool need_comma;    /* the current container already holds a value */
    bool after_key;
};

void json_init(struct json_writer *w, FILE *f);
void json_begin_object(struct json_writer *w);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w);
void json_end_array(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s);   /* NULL writes null */
void json_uint(struct json_writer *w, uint64_t v);
void json_int(struct json_writer *w, int64_t v);
void json_double(struct json_writer *w, double v);   /* 3 decimals */
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
void json_hex(struct json_writer *w, uint64_t v);          /* "0x..." string */
/* {"bytes": B, "blocks": N}, the reports' amount of memory. */
void json_amount(struct json_writer *w, uint64_t bytes, uint64_t blocks);

/* The length of the well-formed UTF-8 sequence (RFC 3629) of 2 to 4 bytes
 * that starts at s (s[0] >= 0x80), or 0 when s[0] does not start one: a
 * stray continuation byte, an overlong form, a surrogate, a code point
 * above U+10FFFF, or a sequence cut short (by the NUL, too). Strings are
 * written to the JSON report as they are only when valid; the text report
 * uses it to escape. */
size_t utf8_sequence_length(const char *s);

#endif
