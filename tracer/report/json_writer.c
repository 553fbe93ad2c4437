/* Streaming JSON output with RFC 8259 string escaping. */
#include "json_writer.h"
#include <inttypes.h>
#include <string.h>

void json_init(struct json_writer *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
}

static void before_value(struct json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && w->need_comma)
        fputc(',', w->f);
    w->need_comma = true;
}

static void open_container(struct json_writer *w, char c)
{
    before_value(w);
    fputc(c, w->f);
    w->need_comma = false;
    w->depth++;
}

static void close_container(struct json_writer *w, char c)
{
    w->depth--;
    fputc(c, w->f);
    w->need_comma = true;   /* the closed container was a value of its parent */
}

void json_begin_object(struct json_writer *w) { open_container(w, '{'); }
void json_end_object(struct json_writer *w) { close_container(w, '}'); }
void json_begin_array(struct json_writer *w) { open_container(w, '['); }
void json_end_array(struct json_writer *w) { close_container(w, ']'); }

size_t utf8_sequence_length(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;   /* the allowed range of p[1] */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;            /* overlong below U+0800 */
        else if (c == 0xed)
            hi = 0x9f;            /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;            /* overlong below U+10000 */
        else if (c == 0xf4)
            hi = 0x8f;            /* above U+10FFFF */
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)   /* also stops at the NUL */
            return 0;
    return n;
}

/* RFC 8259 escaping, and the document stays valid UTF-8 whatever the bytes:
 * each byte that is not part of a well-formed UTF-8 sequence is written
 * \ufffd (U+FFFD REPLACEMENT CHARACTER). Strings come from the program
 * (argv, paths, DWARF names) and need not be UTF-8. */
static void write_escaped(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) {
                fprintf(f, "\\u%04x", *p);
            } else if (*p < 0x80) {
                fputc(*p, f);
            } else {
                size_t n = utf8_sequence_length((const char *)p);
                if (n == 0) {
                    fputs("\\ufffd", f);
                } else {
                    fwrite(p, 1, n, f);
                    p += n - 1;
                }
            }
        }
    }
    fputc('"', f);
}

void json_key(struct json_writer *w, const char *key)
{
    before_value(w);
    write_escaped(w->f, key);
    fputc(':', w->f);
    w->after_key = true;
}

void json_string(struct json_writer *w, const char *s)
{
    before_value(w);
    if (s)
        write_escaped(w->f, s);
    else
        fputs("null", w->f);
}

void json_uint(struct json_writer *w, uint64_t v)
{
    before_value(w);
    fprintf(w->f, "%" PRIu64, v);
}

void json_int(struct json_writer *w, int64_t v)
{
    before_value(w);
    fprintf(w->f, "%" PRId64, v);
}

void json_double(struct json_writer *w, double v)
{
    before_value(w);
    /* Millisecond precision is what block ages need; JSON has no NaN. */
    fprintf(w->f, "%.3f", v == v ? v : 0.0);
}

void json_bool(struct json_writer *w, bool v)
{
    before_value(w);
    fputs(v ? "true" : "false", w->f);
}

void json_null(struct json_writer *w)
{
    before_value(w);
    fputs("null", w->f);
}

void json_hex(struct json_writer *w, uint64_t v)
{
    before_value(w);
    fprintf(w->f, "\"0x%" PRIx64 "\"", v);
}

void json_amount(struct json_writer *w, uint64_t bytes, uint64_t blocks)
{
    json_begin_object(w);
    json_key(w, "bytes");
    json_uint(w, bytes);
    json_key(w, "blocks");
    json_uint(w, blocks);
    json_end_object(w);
}
