/* The input of memtrace diff and memtrace report on any bytes: the JSON
 * reader of report/json_reader.c, then, when it parses, report_diff of the
 * document against itself and against a small report, both ways, and the
 * document loaded as a saved report (report/report_load.c) and rendered by
 * every writer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_reader.h"
#include "report_diff.h"
#include "report_load.h"

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

static void render(const struct jv *doc)
{
    struct report_load_options o = { .show_kinds = REPORT_ALL_KINDS,
                                     .error_kinds = REPORT_DEFAULT_KINDS, .depth = 0 };
    struct loaded_report r;
    char why[256];
    if (report_load(doc, &o, &r, why, sizeof(why)) != 0) {
        sink += why[0];
        return;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f) {
        for (size_t i = 0; i < r.n; i++) {
            for (size_t k = 0; k < r.procs[i].model->nerrors; k++)
                report_text_error(f, &r.procs[i], &r.procs[i].model->errors[k]);
            report_text_process(f, &r.procs[i]);
        }
        report_json_write(f, r.procs, r.n, NULL);
        report_xml_write(f, r.procs, r.n);
        report_sarif_write(f, r.procs, r.n, "/src");
        report_folded_write(f, r.procs, r.n, FLAME_LEAKED);
        report_flamegraph_write(f, r.procs, r.n, FLAME_LEAKED);
        sink += (size_t)report_found_problems(r.procs, r.n);
        fclose(f);
    }
    sink += len;
    free(out);
    report_load_free(&r);
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
    render(&doc);
    json_value_free(&doc);
    return 0;
}
