/* memtrace report: a saved JSON report (docs/report-format.md) loaded back
 * into report_process records that every writer renders. */
#ifndef MT_REPORT_LOAD_H
#define MT_REPORT_LOAD_H
#include "json_reader.h"
#include "report.h"

struct report_load_options {
    unsigned show_kinds, error_kinds;   /* as --show-leak-kinds, --errors-for-leak-kinds */
    unsigned depth;                     /* frames kept per stack, 0: all the JSON has */
    const struct supp_set *supps;       /* re-applied: the JSON's suppressed_by is not */
    bool gen_suppressions;
};

struct loaded_process;

struct loaded_report {
    struct report_process *procs;
    size_t n;
    struct loaded_process *loaded;      /* what procs point to */
};

/* Loads doc, which must outlive out. Returns 0, or -EINVAL/-ENOMEM with a
 * one-line reason in why. */
int report_load(const struct jv *doc, const struct report_load_options *o,
                struct loaded_report *out, char *why, size_t why_len);
void report_load_free(struct loaded_report *r);

#endif
