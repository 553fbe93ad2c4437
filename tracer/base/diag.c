/* Diagnostics (diag.h). */
#include "diag.h"
#include <stdbool.h>
#include <stdio.h>

/* Owned by this module: where messages go, set before tracing starts;
 * whether a status line is on the terminal now. */
static mt_diag_fn handler;
static void *handler_ctx;
static bool status_shown;

void mt_diag_status(const char *line)
{
    if (!line && !status_shown)
        return;
    fprintf(stderr, "\r\033[K%s", line ? line : "");
    fflush(stderr);
    status_shown = line != NULL;
}

void mt_diag_set_handler(mt_diag_fn fn, void *ctx)
{
    handler = fn;
    handler_ctx = ctx;
}

void mt_vdiag(enum mt_diag_level level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (handler) {
        handler(handler_ctx, level, msg);
        return;
    }
    mt_diag_status(NULL);
    fprintf(stderr, "memtrace: %s: %s\n", level == MT_DIAG_ERROR ? "error" : "warning", msg);
}

void mt_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_vdiag(MT_DIAG_WARNING, fmt, ap);
    va_end(ap);
}

void mt_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_vdiag(MT_DIAG_ERROR, fmt, ap);
    va_end(ap);
}
