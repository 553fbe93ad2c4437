/* The progress line (progress.h). */
#include "progress.h"
#include "diag.h"
#include "mt_time.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void mt_progress_begin(struct mt_progress *p, const char *what, uint64_t total)
{
    const char *after = getenv("MEMTRACE_PROGRESS_AFTER_MS");
    uint64_t after_ms = after && *after ? strtoull(after, NULL, 10) : 1000;
    p->what = what;
    p->total = total;
    p->on = isatty(STDERR_FILENO) == 1;
    p->start_ns = mt_now_ns();
    p->next_ns = p->start_ns + after_ms * 1000000u;
}

void mt_progress_update(struct mt_progress *p, uint64_t done)
{
    if (!p->on)
        return;
    uint64_t now = mt_now_ns();
    if (now < p->next_ns)
        return;
    p->next_ns = now + 200000000u;
    char line[256];
    if (p->total)
        snprintf(line, sizeof(line), "memtrace: %s: %" PRIu64 "%%", p->what,
                 done >= p->total ? 100 : done * 100 / p->total);
    else
        snprintf(line, sizeof(line), "memtrace: %s: %" PRIu64 " MiB", p->what, done >> 20);
    mt_diag_status(line);
}

void mt_progress_end(struct mt_progress *p)
{
    if (p->on)
        mt_diag_status(NULL);
}
