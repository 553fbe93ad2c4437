/* What the report writers see of a process: its fate, its tables and a
 * resolver that symbolizes frames as they were when each stack was taken.
 * Bad frees are printed the moment they happen, as Valgrind does. */
#include "session_internal.h"
#include "live_view.h"
#include "symbolizer.h"
#include "symbolizer_worker.h"

/* A block from before attach has a one-frame stack the census names. */
static bool census_frame(const struct process *p, mt_addr ip, const struct sym_frame_ext **out)
{
    return (*out = heap_census_frame(&p->census, ip)) != NULL;
}

static unsigned resolve_frames(void *ctx, uint32_t stack, mt_addr ip,
                               const struct sym_frame_ext **out)
{
    const struct process *p = ctx;
    if (census_frame(p, ip, out))
        return 1;
    /* Every recorded frame is a return address: look up the call, ip - 1,
     * in the module list of when the stack was taken (ids grow with time). */
    return symbolizer_lookup(p->symbolizer, ip, symbolizer_generation_at(p->symbolizer, stack),
                             true, out);
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
        .attached = p->attached, .end_ns = p->end_ns, .fast_functions = p->fast_patches.n,
        .hooks = &p->hooks_seen,
        .tracing_error = p->tracing_error,
        .exec_program = p->exec_program, .exec_untraced = p->exec_untraced,
        .signal = p->signal, .core_dumped = p->core_dumped, .model = &p->model,
        .scan = p->scan, .show_kinds = show_kinds, .error_kinds = REPORT_DEFAULT_KINDS,
        .stacks = &p->stacks,
        .maps = &p->maps, .shms = &p->shms,
        .resolve_frames = resolve_frames, .resolve_ctx = (void *)p,
        .census_layout = p->census.taken ? p->census.layout_from : NULL,
        .census_blocks = p->census.blocks, .census_bytes = p->census.bytes,
        .census_ns = p->census.ns,
    };
}

/* The live view's names: from the symbolizer helper, never waiting. */
struct helper_names {
    struct symbolizer_worker *worker;
    const struct symbolizer *symbolizer;
    const struct process *p;
};

static unsigned resolve_frames_from_helper(void *ctx, uint32_t stack, mt_addr ip,
                                           const struct sym_frame_ext **out)
{
    struct helper_names *names = ctx;
    if (census_frame(names->p, ip, out))
        return 1;
    uint32_t gen = symbolizer_generation_at(names->symbolizer, stack);
    return symbolizer_worker_lookup(names->worker, names->symbolizer, ip, gen, true, out);
}

/* How long before a view its names are asked for (at most half the
 * interval), and how long the view may wait past its time for the last
 * answers (at most a quarter of it). Only the view waits: the event loop
 * runs on, and a name that has not come is shown as module+offset. */
#define VIEW_ASK_AHEAD_NS 1000000000u
#define VIEW_WAIT_NAMES_NS 250000000u

void report_view_live_tick(struct session *s, struct process *p, uint64_t now)
{
    uint64_t interval = s->opt->interval_ms * 1000000u;
    uint64_t ahead = interval / 2 < VIEW_ASK_AHEAD_NS ? interval / 2 : VIEW_ASK_AHEAD_NS;
    uint64_t wait = interval / 4 < VIEW_WAIT_NAMES_NS ? interval / 4 : VIEW_WAIT_NAMES_NS;
    if (!s->next_view_ns)
        s->next_view_ns = s->start_ns + interval;
    symbolizer_worker_poll(s->view_names);
    struct helper_names names = { s->view_names, p->symbolizer, p };
    struct report_process rp = session_report_view(p, REPORT_DEFAULT_KINDS);
    rp.alloc_fns = s->opt->alloc_fns;
    rp.nalloc_fns = s->opt->nalloc_fns;
    rp.cut_std_alloc_frames = p->rust_runtime && !s->opt->show_std_alloc_frames;
    rp.supps = &s->opt->suppressions;
    rp.resolve_frames = resolve_frames_from_helper;
    rp.resolve_ctx = &names;
    if (!s->view_names_asked && now + ahead >= s->next_view_ns) {
        live_view_ask_names(s->view, &rp);
        s->view_names_asked = true;
    }
    if (now < s->next_view_ns ||
        (symbolizer_worker_pending(s->view_names) && now < s->next_view_ns + wait))
        return;
    live_view_status_clear(s->view, stderr);
    live_view_print(s->view, stderr, &rp, now, now - s->start_ns);
    s->next_view_ns += interval;
    if (s->next_view_ns <= now)
        s->next_view_ns = now + interval;
    s->view_names_asked = false;
}

/* Bad frees are reported as they happen, like Valgrind does. */
static struct report_process live_view(struct process *p)
{
    return session_report_view(p, REPORT_DEFAULT_KINDS);
}

void report_view_banner(struct session *s, struct process *p)
{
    if (p->banner_shown || s->opt->log_per_process)
        return;
    struct report_process rp = live_view(p);
    report_text_banner(s->log, &rp);
    fflush(s->log);
    p->banner_shown = true;
}

void report_view_live_error(void *arg, struct process *p, const struct alloc_error *err)
{
    struct session *s = arg;
    if ((s->opt->child_silent && p->fork_image) || s->opt->log_per_process)
        return;
    live_view_status_clear(s->view, stderr);
    report_view_banner(s, p);
    struct report_process rp = live_view(p);
    rp.supps = &s->opt->suppressions;
    rp.gen_suppressions = s->opt->gen_suppressions;
    report_text_error(s->log, &rp, err);
}
