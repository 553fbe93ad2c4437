/* The JSON reader (json_reader.h). */
#include "json_reader.h"
#include "grow.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct reader {
    const char *at, *start, *end;
    char *why;
    size_t why_len;
    bool failed;
};

static int fail(struct reader *r, const char *what)
{
    if (r->failed)
        return -1;
    r->failed = true;
    unsigned line = 1, column = 1;
    for (const char *c = r->start; c < r->at && c < r->end; c++) {
        if (*c == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    snprintf(r->why, r->why_len, "line %u, column %u: %s", line, column, what);
    return -1;
}

static void skip_space(struct reader *r)
{
    while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\n' ||
                              *r->at == '\r'))
        r->at++;
}

static bool take(struct reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->at) < n || memcmp(r->at, word, n) != 0)
        return false;
    r->at += n;
    return true;
}

static int hex4(struct reader *r, unsigned *out)
{
    if (r->end - r->at < 4)
        return fail(r, "expected four hex digits after \\u");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->at++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(r, "expected four hex digits after \\u");
    }
    *out = v;
    return 0;
}

static void put_utf8(char *out, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* A string (r->at on its opening quote) into *out, malloc'd. Escapes
 * never make it longer than its source, so the source's length bounds it. */
static int read_string(struct reader *r, char **out)
{
    const char *from = ++r->at;
    const char *close = from;
    while (close < r->end && *close != '"')
        close += *close == '\\' && close + 1 < r->end ? 2 : 1;
    if (close >= r->end) {
        r->at = from - 1;   /* where the string began */
        return fail(r, "expected the closing '\"' of a string");
    }
    char *s = malloc((size_t)(close - from) + 1);
    if (!s)
        return fail(r, "out of memory");
    size_t n = 0;
    while (r->at < close) {
        unsigned char c = (unsigned char)*r->at;
        if (c < 0x20) {
            free(s);
            return fail(r, "a control character in a string (it must be escaped)");
        }
        if (c != '\\') {
            s[n++] = (char)c;
            r->at++;
            continue;
        }
        r->at++;
        char e = *r->at++;
        unsigned cp = 0;
        switch (e) {
        case '"': s[n++] = '"'; break;
        case '\\': s[n++] = '\\'; break;
        case '/': s[n++] = '/'; break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'n': s[n++] = '\n'; break;
        case 'r': s[n++] = '\r'; break;
        case 't': s[n++] = '\t'; break;
        case 'u':
            if (hex4(r, &cp) != 0) {
                free(s);
                return -1;
            }
            if (cp >= 0xd800 && cp < 0xdc00) {
                unsigned lo = 0;
                if (!take(r, "\\u") || hex4(r, &lo) != 0 || lo < 0xdc00 || lo >= 0xe000) {
                    free(s);
                    return fail(r, "expected the low half of a surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                free(s);
                return fail(r, "a lone low surrogate");
            }
            put_utf8(s, &n, cp);
            break;
        default:
            free(s);
            return fail(r, "an unknown escape in a string");
        }
    }
    s[n] = '\0';
    r->at = close + 1;
    *out = s;
    return 0;
}

static int read_number(struct reader *r, struct jv *v)
{
    const char *from = r->at;
    if (r->at < r->end && *r->at == '-')
        r->at++;
    if (r->at >= r->end || *r->at < '0' || *r->at > '9')
        return fail(r, "expected a value");
    bool integer = true;
    if (*r->at == '0')
        r->at++;
    else
        while (r->at < r->end && *r->at >= '0' && *r->at <= '9')
            r->at++;
    if (r->at < r->end && *r->at == '.') {
        integer = false;
        if (++r->at >= r->end || *r->at < '0' || *r->at > '9')
            return fail(r, "expected a digit after '.'");
        while (r->at < r->end && *r->at >= '0' && *r->at <= '9')
            r->at++;
    }
    if (r->at < r->end && (*r->at == 'e' || *r->at == 'E')) {
        integer = false;
        r->at++;
        if (r->at < r->end && (*r->at == '+' || *r->at == '-'))
            r->at++;
        if (r->at >= r->end || *r->at < '0' || *r->at > '9')
            return fail(r, "expected a digit in an exponent");
        while (r->at < r->end && *r->at >= '0' && *r->at <= '9')
            r->at++;
    }
    char buf[64];
    size_t len = (size_t)(r->at - from);
    if (len >= sizeof(buf))
        return fail(r, "a number longer than 63 characters");
    memcpy(buf, from, len);
    buf[len] = '\0';
    v->type = JV_NUMBER;
    v->num = strtod(buf, NULL);
    if (integer && buf[0] != '-') {
        errno = 0;
        unsigned long long u = strtoull(buf, NULL, 10);
        v->is_uint = errno == 0;
        v->u = u;
    }
    return 0;
}

static int read_value(struct reader *r, struct jv *v, unsigned depth);

/* An array or an object (r->at on its bracket). */
static int read_container(struct reader *r, struct jv *v, unsigned depth, bool object)
{
    if (depth >= JSON_READER_MAX_DEPTH)
        return fail(r, "nested deeper than 64 levels");
    v->type = object ? JV_OBJECT : JV_ARRAY;
    char close = object ? '}' : ']';
    r->at++;
    skip_space(r);
    if (r->at < r->end && *r->at == close) {
        r->at++;
        return 0;
    }
    size_t cap = 0, kcap = 0;
    for (;;) {
        skip_space(r);
        struct jv *items = mt_grow(v->items, &cap, v->n + 1, sizeof(*items));
        if (!items)
            return fail(r, "out of memory");
        v->items = items;
        if (object) {
            char **keys = mt_grow(v->keys, &kcap, v->n + 1, sizeof(*keys));
            if (!keys)
                return fail(r, "out of memory");
            v->keys = keys;
            if (r->at >= r->end || *r->at != '"')
                return fail(r, "expected a member name in quotes");
            if (read_string(r, &v->keys[v->n]) != 0)
                return -1;
            skip_space(r);
            if (r->at >= r->end || *r->at != ':') {
                free(v->keys[v->n]);
                return fail(r, "expected ':' after a member name");
            }
            r->at++;
        }
        memset(&v->items[v->n], 0, sizeof(v->items[0]));
        v->n++;   /* counted now, so a failure frees what it holds */
        if (read_value(r, &v->items[v->n - 1], depth + 1) != 0)
            return -1;
        skip_space(r);
        if (r->at < r->end && *r->at == ',') {
            r->at++;
            continue;
        }
        if (r->at < r->end && *r->at == close) {
            r->at++;
            return 0;
        }
        return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int read_value(struct reader *r, struct jv *v, unsigned depth)
{
    skip_space(r);
    if (r->at >= r->end)
        return fail(r, "expected a value, found the end");
    switch (*r->at) {
    case '{':
        return read_container(r, v, depth, true);
    case '[':
        return read_container(r, v, depth, false);
    case '"':
        v->type = JV_STRING;
        return read_string(r, &v->str);
    case 't':
    case 'f':
        v->type = JV_BOOL;
        v->b = *r->at == 't';
        return take(r, v->b ? "true" : "false") ? 0 : fail(r, "expected a value");
    case 'n':
        v->type = JV_NULL;
        return take(r, "null") ? 0 : fail(r, "expected a value");
    default:
        return read_number(r, v);
    }
}

void json_value_free(struct jv *v)
{
    if (v->type == JV_STRING)
        free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        json_value_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof(*v));
}

int json_read(const char *text, size_t len, struct jv *out, char *why, size_t why_len)
{
    struct reader r = { .at = text, .start = text, .end = text + len, .why = why,
                        .why_len = why_len };
    memset(out, 0, sizeof(*out));
    if (read_value(&r, out, 0) == 0) {
        skip_space(&r);
        if (r.at == r.end)
            return 0;
        fail(&r, "expected the end after the value");
    }
    json_value_free(out);
    return -1;
}

const struct jv *jv_member(const struct jv *o, const char *key)
{
    if (!o || o->type != JV_OBJECT)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

const char *jv_string(const struct jv *o, const char *key)
{
    const struct jv *v = jv_member(o, key);
    return v && v->type == JV_STRING ? v->str : NULL;
}

uint64_t jv_uint(const struct jv *o, const char *key, uint64_t def)
{
    const struct jv *v = jv_member(o, key);
    return v && v->type == JV_NUMBER && v->is_uint ? v->u : def;
}

int json_read_file(const char *path, struct jv *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > JSON_READER_MAX_FILE) {
        snprintf(why, why_len, "%s: %s", path,
                 S_ISREG(st.st_mode) ? "larger than 1 GiB" : "not a regular file");
        close(fd);
        return -1;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (text && got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, why_len, "%s: %s", path, n < 0 ? strerror(errno) : "shorter than it was");
            free(text);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!text) {
        snprintf(why, why_len, "%s: out of memory", path);
        return -1;
    }
    char inner[256];
    int rc = json_read(text, got, out, inner, sizeof(inner));
    if (rc != 0)
        snprintf(why, why_len, "%s: not JSON: %s", path, inner);
    free(text);
    return rc;
}
