/* What the report writers see of a process: its fate, its tables and a
 * resolver that symbolizes frames as they were when each stack was taken.
 * Bad frees are printed the moment they happen, as Valgrind does. */
#include "session_internal.h"
#include "live_view.h"
#include "symbolizer.h"

static unsigned resolve_frames(void *ctx, uint32_t stack, mt_addr ip,
                               const struct sym_frame_ext **out)
{
    /* Every recorded frame is a return address: look up the call, ip - 1,
     * in the module list of when the stack was taken (ids grow with time). */
    return symbolizer_lookup(ctx, ip, symbolizer_generation_at(ctx, stack), true, out);
}

static enum report_end report_end_of(enum process_end e)
{
    switch (e) {
    case END_EXITED: return REPORT_EXITED;
    case END_SIGNALED: return REPORT_SIGNALED;
    case END_EXEC: return REPORT_EXEC;
    case END_DETACHED: return REPORT_DETACHED;
    case END_RUNNING: break;
    }
    return REPORT_RUNNING;
}

struct report_process session_report_view(const struct process *p, unsigned show_kinds)
{
    return (struct report_process){
        .pid = p->pid, .argv = p->argv, .end = report_end_of(p->end), .exit_code = p->exit_code,
        .attached = p->attached, .end_ns = p->end_ns,
        .tracing_error = p->tracing_error,
        .signal = p->signal, .core_dumped = p->core_dumped, .model = &p->model,
        .scan = p->scan, .show_kinds = show_kinds, .stacks = &p->stacks,
        .maps = &p->maps, .shms = &p->shms,
        .resolve_frames = resolve_frames, .resolve_ctx = p->symbolizer,
    };
}

/* Bad frees are reported as they happen, like Valgrind does. */
static struct report_process live_view(struct process *p)
{
    return session_report_view(p, REPORT_DEFAULT_KINDS);
}

void report_view_banner(struct session *s, struct process *p)
{
    if (p->banner_shown)
        return;
    struct report_process rp = live_view(p);
    report_text_banner(s->log, &rp);
    fflush(s->log);
    p->banner_shown = true;
}

void report_view_live_error(void *arg, struct process *p, const struct alloc_error *err)
{
    struct session *s = arg;
    live_view_status_clear(s->view, stderr);
    report_view_banner(s, p);
    struct report_process rp = live_view(p);
    report_text_error(s->log, &rp, err);
}
