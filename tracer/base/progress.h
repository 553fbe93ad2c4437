/* A progress line on stderr for the operations that can take a while with
 * nothing else to show (the exit-time scan of a large heap, symbolizing
 * thousands of frames): only on a terminal, only once the operation has
 * lasted a second, at most five updates a second, erased when it ends or
 * when a diagnostic is printed (diag.c's status line). */
#ifndef MT_PROGRESS_H
#define MT_PROGRESS_H
#include <stdbool.h>
#include <stdint.h>

struct mt_progress {
    const char *what;         /* "symbolizing 12000 frames" */
    uint64_t total;           /* 0: unknown, then done is shown as MiB */
    uint64_t start_ns, next_ns;
    bool on;                  /* stderr is a terminal */
};

/* MEMTRACE_PROGRESS_AFTER_MS (default 1000): how long an operation runs
 * before its line appears. */
void mt_progress_begin(struct mt_progress *p, const char *what, uint64_t total);
void mt_progress_update(struct mt_progress *p, uint64_t done);
void mt_progress_end(struct mt_progress *p);

#endif
