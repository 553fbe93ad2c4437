/* memtrace's own diagnostics: one line each on stderr, "memtrace: warning:"
 * or "memtrace: error:" first. Every layer reports through here, so a
 * test, a library user or a future --quiet can redirect them in one place. */
#ifndef MT_DIAG_H
#define MT_DIAG_H
#include <stdarg.h>

enum mt_diag_level { MT_DIAG_WARNING, MT_DIAG_ERROR };

/* Receives each message without prefix or newline. */
typedef void (*mt_diag_fn)(void *ctx, enum mt_diag_level level, const char *msg);

void mt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mt_vdiag(enum mt_diag_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* NULL restores the default (stderr). */
void mt_diag_set_handler(mt_diag_fn fn, void *ctx);
/* A status line on stderr without a newline (progress.h), which the next
 * status or message replaces; NULL erases the one shown, if any. */
void mt_diag_status(const char *line);

#endif
