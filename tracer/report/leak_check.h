/* Leak checks while attached (--leak-check-every, SIGUSR1): each check's
 * loss records compared with the previous check's, as Valgrind's gdbserver
 * "leak_check increased|changed|full" does, kept as a series for the text
 * and the JSON report. Pure: records come from report_collect_records. */
#ifndef MT_LEAK_CHECK_H
#define MT_LEAK_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "report.h"

enum leak_check_mode {
    LEAK_CHECK_INCREASED,   /* records new or grown since the previous check */
    LEAK_CHECK_CHANGED,     /* ... or shrunk */
    LEAK_CHECK_FULL,        /* every record */
};
/* "increased", "changed", "full"; false when name is none of them. */
bool leak_check_mode_from_name(const char *name, enum leak_check_mode *out);
const char *leak_check_mode_name(enum leak_check_mode mode);

struct leak_check_entry {
    struct leak_record rec;
    int64_t bytes_delta, blocks_delta;   /* since the previous check; new: all of it */
    int64_t indirect_bytes_delta;        /* definitely lost: of the bytes it owns */
    bool is_new;
};

struct leak_check {
    unsigned number;                     /* 1, 2, ... */
    uint64_t at_ns;                      /* since tracing began */
    uint64_t pause_ns;                   /* how long the process was stopped for it */
    uint64_t scanned_blocks;
    struct report_amount totals[LEAK_KIND_COUNT];
    int64_t bytes_delta[LEAK_KIND_COUNT], blocks_delta[LEAK_KIND_COUNT];
    struct leak_check_entry *listed;     /* the records the mode lists, in report order */
    size_t nlisted;
    size_t nrecords;                     /* every record of that moment */
};

struct leak_check_series {
    enum leak_check_mode mode;
    struct leak_record *prev;            /* the previous check's records, by key */
    size_t nprev;
    struct report_amount prev_totals[LEAK_KIND_COUNT];
    struct leak_check *checks;
    size_t n, cap;
};

/* Adds a check of p (its scan current) made at_ns after tracing began,
 * which held the process pause_ns. Returns it, or NULL when out of
 * memory. */
const struct leak_check *leak_check_add(struct leak_check_series *s,
                                        const struct report_process *p, uint64_t at_ns,
                                        uint64_t pause_ns);
void leak_check_series_destroy(struct leak_check_series *s);

/* The text of one check: its listed records with their changes ("64 (+32)
 * bytes in 2 (+1) blocks"), then the totals by kind with theirs. */
void report_text_leak_check(FILE *f, const struct report_process *p, const struct leak_check *c,
                            enum leak_check_mode mode);

#endif
