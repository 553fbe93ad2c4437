/* memtrace diff: two JSON reports compared record by record. */
#ifndef MT_REPORT_DIFF_H
#define MT_REPORT_DIFF_H
#include <stdint.h>
#include <stdio.h>
#include "json_reader.h"

/* In the order the text lists them. */
enum diff_change { DIFF_NEW, DIFF_GROWN, DIFF_GONE, DIFF_SHRUNK, DIFF_UNCHANGED };

struct diff_counts {
    uint64_t records[DIFF_UNCHANGED + 1];
    uint64_t bytes[DIFF_UNCHANGED + 1];   /* new, gone: theirs; grown, shrunk: the change */
};

/* "new", "grown", "gone", "shrunk", "unchanged". */
const char *report_diff_change_name(enum diff_change c);

/* Compares the lost (and unclassified) records of two parsed reports, not
 * suppressed ones: the text to text, and the JSON (docs/report-format.md,
 * "diff") to json unless NULL. Returns 0, or -1 with a one-line reason in
 * why (a document that is not a memtrace report, out of memory). */
int report_diff(FILE *text, FILE *json, const char *old_name, const struct jv *old_doc,
                const char *new_name, const struct jv *new_doc, struct diff_counts *counts,
                char *why, size_t why_len);

#endif
