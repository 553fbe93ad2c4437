/* A strict recursive-descent JSON syntax checker: enough to prove that a
 * writer's output is one well-formed document. It builds no values. */
#include "json_check.h"
#include <stdlib.h>
#include <string.h>

struct cursor {
    const char *p;
    int depth;
};

static bool value(struct cursor *c);

static void skip_ws(struct cursor *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        c->p++;
}

static bool literal(struct cursor *c, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool string(struct cursor *c)
{
    if (*c->p != '"')
        return false;
    c->p++;
    for (;;) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            return true;
        }
        if (ch < 0x20)          /* includes the terminating NUL */
            return false;
        if (ch == '\\') {
            c->p++;
            switch (*c->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                c->p++;
                break;
            case 'u':
                for (int i = 1; i <= 4; i++)
                    if (!is_hex(c->p[i]))
                        return false;
                c->p += 5;
                break;
            default:
                return false;
            }
            continue;
        }
        c->p++;
    }
}

static bool digits(struct cursor *c)
{
    if (*c->p < '0' || *c->p > '9')
        return false;
    while (*c->p >= '0' && *c->p <= '9')
        c->p++;
    return true;
}

static bool number(struct cursor *c)
{
    if (*c->p == '-')
        c->p++;
    if (*c->p == '0')
        c->p++;
    else if (!digits(c))
        return false;
    if (*c->p == '.') {
        c->p++;
        if (!digits(c))
            return false;
    }
    if (*c->p == 'e' || *c->p == 'E') {
        c->p++;
        if (*c->p == '+' || *c->p == '-')
            c->p++;
        if (!digits(c))
            return false;
    }
    return true;
}

static bool container(struct cursor *c, char open, char close, bool keyed)
{
    if (*c->p != open || ++c->depth > 512)
        return false;
    c->p++;
    skip_ws(c);
    if (*c->p == close) {
        c->p++;
        c->depth--;
        return true;
    }
    for (;;) {
        skip_ws(c);
        if (keyed) {
            if (!string(c))
                return false;
            skip_ws(c);
            if (*c->p++ != ':')
                return false;
        }
        if (!value(c))
            return false;
        skip_ws(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p != close)
            return false;
        c->p++;
        c->depth--;
        return true;
    }
}

static bool value(struct cursor *c)
{
    skip_ws(c);
    switch (*c->p) {
    case '{': return container(c, '{', '}', true);
    case '[': return container(c, '[', ']', false);
    case '"': return string(c);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: return number(c);
    }
}

bool json_is_valid(const char *text)
{
    struct cursor c = { .p = text };
    if (!value(&c))
        return false;
    skip_ws(&c);
    return *c.p == '\0';
}

void capture_open(struct capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    if (!c->f)
        abort();
}

char *capture_close(struct capture *c)
{
    if (fclose(c->f) != 0)
        abort();
    c->f = NULL;
    return c->buf;
}
