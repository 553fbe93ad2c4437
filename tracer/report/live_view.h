/* The periodic view of `memtrace attach --interval`: the stacks holding the
 * most live bytes and how fast each grew since the previous view, so a
 * steady leak stands out within a minute. */
#ifndef MT_LIVE_VIEW_H
#define MT_LIVE_VIEW_H
#include <stdint.h>
#include <stdio.h>
#include "report.h"

struct live_view;

struct live_view *live_view_create(unsigned top);
void live_view_destroy(struct live_view *v);

/* Prints the view of p at now_ns (CLOCK_MONOTONIC); traced_ns is how long
 * p has been traced. Returns 0 or -ENOMEM. */
int live_view_print(struct live_view *v, FILE *f, const struct report_process *p,
                    uint64_t now_ns, uint64_t traced_ns);

/* Resolves the frames the next view of p would show now, without
 * printing: with a resolver that answers later (memtrace's symbolizer
 * helper), their names are asked for ahead of the view. */
void live_view_ask_names(const struct live_view *v, const struct report_process *p);

/* On a terminal: a status line (traced time, events/s, live blocks)
 * rewritten in place; cleared before anything else is printed. */
void live_view_status(struct live_view *v, FILE *f, const struct report_process *p,
                      uint64_t now_ns, uint64_t traced_ns);
void live_view_status_clear(struct live_view *v, FILE *f);

#endif
