/* A strict RFC 8259 JSON reader for memtrace's own reports (memtrace diff):
 * the whole text into a tree. Built for hostile input: depth and size are
 * bounded, every error says where. */
#ifndef MT_JSON_READER_H
#define MT_JSON_READER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jv {
    enum jv_type type;
    bool b;               /* JV_BOOL */
    double num;           /* JV_NUMBER */
    bool is_uint;         /* JV_NUMBER: a non-negative integer that fits in u */
    uint64_t u;
    char *str;            /* JV_STRING: UTF-8, NUL-terminated (a \u0000 cuts it) */
    struct jv *items;     /* JV_ARRAY: n values; JV_OBJECT: n values, named by keys */
    char **keys;
    size_t n;
};

/* Nesting deeper than this is refused (the reader recurses). */
#define JSON_READER_MAX_DEPTH 64

/* Parses text[0..len) (one value, whitespace around it). Returns 0, or -1
 * with "line L, column C: what was expected" in why (out is then empty). */
int json_read(const char *text, size_t len, struct jv *out, char *why, size_t why_len);
void json_value_free(struct jv *v);
/* A file bigger than this is refused. */
#define JSON_READER_MAX_FILE ((off_t)1 << 30)
/* json_read of the file at path; why names the file. */
int json_read_file(const char *path, struct jv *out, char *why, size_t why_len);

/* The member key of object o, or NULL (also when o is not an object). */
const struct jv *jv_member(const struct jv *o, const char *key);
/* Its string, or NULL when absent or not a string. */
const char *jv_string(const struct jv *o, const char *key);
/* Its non-negative integer, or def. */
uint64_t jv_uint(const struct jv *o, const char *key, uint64_t def);

#endif
