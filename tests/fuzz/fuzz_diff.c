/* memtrace diff's input on any bytes: the JSON reader of
 * report/json_reader.c, then, when it parses, report_diff of the document
 * against itself and against a small report, both ways. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_reader.h"
#include "report_diff.h"

static volatile size_t sink;

static const char known[] =
    "{\"version\":1,\"processes\":[{\"leaks\":[{\"kind\":\"definitely_lost\",\"bytes\":30,"
    "\"blocks\":1,\"allocator\":\"malloc\",\"stack\":[{\"function\":\"main\",\"file\":"
    "\"/src/seed.c\",\"line\":21,\"module\":\"/bin/seed\"}]}]}]}";

static void diff(const struct jv *a, const struct jv *b)
{
    char *text = NULL, *json = NULL, why[256];
    size_t text_len = 0, json_len = 0;
    FILE *t = open_memstream(&text, &text_len), *j = open_memstream(&json, &json_len);
    struct diff_counts counts;
    if (t && j)
        sink += (size_t)report_diff(t, j, "old", a, "new", b, &counts, why, sizeof(why));
    if (t)
        fclose(t);
    if (j)
        fclose(j);
    sink += text_len + json_len;
    free(text);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jv doc, ref;
    char why[256];
    if (json_read((const char *)data, size, &doc, why, sizeof(why)) != 0) {
        sink += why[0];
        return 0;
    }
    if (json_read(known, sizeof(known) - 1, &ref, why, sizeof(why)) == 0) {
        diff(&doc, &doc);
        diff(&doc, &ref);
        diff(&ref, &doc);
        json_value_free(&ref);
    }
    json_value_free(&doc);
    return 0;
}
