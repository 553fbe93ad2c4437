/* --timeline: live bytes over time as an SVG chart, one per traced process
 * that has samples (heap/alloc_model's bounded series): the process's
 * total, and the stacks that grew most, each labelled by the first line of
 * the program's own sources in its stack. A slow leak is a line that only
 * goes up. */
#include "report.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { CHART_W = 1000, CHART_H = 330, PLOT_X = 80, PLOT_Y = 50, PLOT_W = 620, PLOT_H = 220,
       LEGEND_X = 720, TIMELINE_STACKS = 5, MAX_CHARTS = 8 };

static const char *const series_colours[TIMELINE_STACKS] = {
    "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
};

/* A stack drawn: its id and how much it grew between the first and the
 * last sample. */
struct drawn_stack {
    uint32_t stack;
    int64_t growth;
    uint64_t last;
};

/* The live bytes of stack in sample s, or -1 when it was not among the
 * sample's top stacks. */
static int64_t stack_bytes(const struct live_sample *s, uint32_t stack)
{
    for (unsigned i = 0; i < s->ntop; i++)
        if (s->top_stack[i] == stack)
            return (int64_t)s->top_bytes[i];
    return -1;
}

static bool already(const struct drawn_stack *d, size_t n, uint32_t stack)
{
    for (size_t i = 0; i < n; i++)
        if (d[i].stack == stack)
            return true;
    return false;
}

/* The stacks that grew most (from their first sample in the top to the
 * last sample; not in the last one's top: no growth worth drawing). */
static size_t pick_stacks(const struct alloc_model *m, struct drawn_stack *out)
{
    const struct live_sample *last = &m->samples[m->nsamples - 1];
    size_t n = 0;
    for (unsigned i = 0; i < last->ntop; i++) {
        uint32_t id = last->top_stack[i];
        int64_t first = 0;
        for (size_t k = 0; k < m->nsamples; k++) {
            int64_t b = stack_bytes(&m->samples[k], id);
            if (b >= 0) {
                first = k == 0 ? b : 0;   /* a stack that entered later grew from below */
                break;
            }
        }
        struct drawn_stack d = { id, (int64_t)last->top_bytes[i] - first, last->top_bytes[i] };
        if (d.growth <= 0 || already(out, n, id))
            continue;
        size_t at = n < TIMELINE_STACKS ? n++ : TIMELINE_STACKS;
        if (at == TIMELINE_STACKS) {
            if (d.growth <= out[TIMELINE_STACKS - 1].growth)
                continue;
            at = TIMELINE_STACKS - 1;
        }
        while (at > 0 && out[at - 1].growth < d.growth) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = d;
    }
    return n;
}

/* "function (file:line)" of the first frame in the program's sources of
 * stack (after --alloc-fn's cut), else of its first frame. */
static void stack_label(const struct report_process *p, uint32_t stack, char *buf, size_t len)
{
    unsigned cut_ip, cut_frame, depth;
    report_cut_stack(p, stack, &cut_ip, &cut_frame);
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    snprintf(buf, len, "(no stack recorded)");
    bool first = true;
    for (unsigned i = cut_ip; i < depth; i++) {
        const struct sym_frame_ext *fr;
        unsigned n = report_frames(p, stack, ips[i], &fr);
        for (unsigned k = i == cut_ip ? cut_frame : 0; k < n; k++) {
            if (first || report_frame_is_own(&fr[k].f))
                report_format_frame(&fr[k].f, buf, len);
            first = false;
            if (report_frame_is_own(&fr[k].f))
                return;
        }
    }
}

static void human_bytes(uint64_t v, char *buf, size_t len)
{
    if (v >= (uint64_t)10 << 20)
        snprintf(buf, len, "%.1f MiB", (double)v / (1 << 20));
    else if (v >= (uint64_t)10 << 10)
        snprintf(buf, len, "%.1f KiB", (double)v / (1 << 10));
    else
        snprintf(buf, len, "%" PRIu64 " B", v);
}

struct chart {
    FILE *f;
    unsigned top;             /* y of the chart in the SVG */
    uint64_t t0, span_ns, ymax;
};

static double px_x(const struct chart *c, uint64_t ns)
{
    return PLOT_X + (c->span_ns ? (double)(ns - c->t0) / (double)c->span_ns * PLOT_W : 0);
}

static double px_y(const struct chart *c, uint64_t bytes)
{
    return c->top + PLOT_Y + PLOT_H - (c->ymax ? (double)bytes / (double)c->ymax * PLOT_H : 0);
}

static void axes(const struct chart *c)
{
    FILE *f = c->f;
    fprintf(f, "<rect x=\"%d\" y=\"%u\" width=\"%d\" height=\"%d\" fill=\"#fff\" "
            "stroke=\"#999\"/>\n", PLOT_X, c->top + PLOT_Y, PLOT_W, PLOT_H);
    for (int i = 0; i <= 4; i++) {
        uint64_t v = c->ymax / 4 * (uint64_t)i;
        char label[32];
        human_bytes(v, label, sizeof(label));
        double y = px_y(c, v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
                "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                PLOT_X, y, PLOT_X + PLOT_W, y, PLOT_X - 6, y + 4, label);
        double secs = (double)c->span_ns / 1e9 * i / 4;
        double x = PLOT_X + (double)PLOT_W * i / 4;
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%u\" text-anchor=\"middle\">%.2f s"
                "</text>\n", x, c->top + PLOT_Y + PLOT_H + 16, secs);
    }
}

/* The series that are not a stack's. */
#define SERIES_TOTAL (-1)
#define SERIES_PEAK (-2)

/* A series as polylines through the samples where it is known. */
static void series(const struct chart *c, const struct alloc_model *m, int64_t stack,
                   const char *colour, double width, const char *cls)
{
    FILE *f = c->f;
    bool open = false;
    for (size_t k = 0; k < m->nsamples; k++) {
        const struct live_sample *s = &m->samples[k];
        int64_t b = stack == SERIES_TOTAL  ? (int64_t)s->live_bytes
                    : stack == SERIES_PEAK ? (int64_t)s->peak_bytes
                                           : stack_bytes(s, (uint32_t)stack);
        if (b < 0) {
            if (open)
                fputs("\"/>\n", f);
            open = false;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
                    "points=\"", cls, colour, width);
        fprintf(f, "%s%.1f,%.1f", open ? " " : "", px_x(c, s->ns), px_y(c, (uint64_t)b));
        open = true;
    }
    if (open)
        fputs("\"/>\n", f);
}

static void chart(FILE *f, const struct report_process *p, unsigned top)
{
    const struct alloc_model *m = p->model;
    struct chart c = { .f = f, .top = top, .t0 = m->samples[0].ns };
    c.span_ns = m->samples[m->nsamples - 1].ns - c.t0;
    for (size_t k = 0; k < m->nsamples; k++)
        if (m->samples[k].peak_bytes > c.ymax)
            c.ymax = m->samples[k].peak_bytes;
    if (c.ymax == 0)
        c.ymax = 1;
    const char *prog = p->argv && p->argv[0] ? p->argv[0] : "?";
    fprintf(f, "<g class=\"chart\" data-pid=\"%d\">\n<text class=\"title\" x=\"%d\" y=\"%u\">"
            "Live bytes of pid %d (", (int)p->pid, PLOT_X, top + 28, (int)p->pid);
    report_xml_text(f, prog);
    fprintf(f, ")%s</text>\n", !p->attached ? ""
                               : p->census_layout ? ", of the blocks found at attach and since"
                                                  : ", of the blocks allocated since attach");
    axes(&c);
    struct drawn_stack drawn[TIMELINE_STACKS];
    size_t n = pick_stacks(m, drawn);
    series(&c, m, SERIES_PEAK, "#bbb", 1.0, "peak");
    series(&c, m, SERIES_TOTAL, "#333", 2.0, "total");
    for (size_t i = 0; i < n; i++)
        series(&c, m, drawn[i].stack, series_colours[i], 1.6, "stack");
    char amount[32];
    human_bytes(m->samples[m->nsamples - 1].live_bytes, amount, sizeof(amount));
    fprintf(f, "<rect x=\"%d\" y=\"%u\" width=\"14\" height=\"3\" fill=\"#333\"/>\n"
            "<text class=\"legend\" x=\"%d\" y=\"%u\">total live: %s at the end</text>\n"
            "<rect x=\"%d\" y=\"%u\" width=\"14\" height=\"2\" fill=\"#bbb\"/>\n"
            "<text class=\"legend sub\" x=\"%d\" y=\"%u\">the most live between samples</text>\n",
            LEGEND_X, top + PLOT_Y + 6, LEGEND_X + 20, top + PLOT_Y + 10, amount,
            LEGEND_X, top + PLOT_Y + 22, LEGEND_X + 20, top + PLOT_Y + 26);
    for (size_t i = 0; i < n; i++) {
        char label[512], grew[32];
        stack_label(p, drawn[i].stack, label, sizeof(label));
        human_bytes((uint64_t)drawn[i].growth, grew, sizeof(grew));
        unsigned y = top + PLOT_Y + 50 + (unsigned)i * 34;
        fprintf(f, "<g class=\"grower\" data-stack=\"%" PRIu32 "\" data-last=\"%" PRIu64 "\">"
                "<rect x=\"%d\" y=\"%u\" width=\"14\" height=\"3\" fill=\"%s\"/>\n"
                "<text class=\"legend\" x=\"%d\" y=\"%u\">", drawn[i].stack, drawn[i].last,
                LEGEND_X, y - 4, series_colours[i], LEGEND_X + 20, y);
        report_xml_text(f, label);
        fprintf(f, "</text>\n<text class=\"legend sub\" x=\"%d\" y=\"%u\">grew by %s</text></g>\n",
                LEGEND_X + 20, y + 14, grew);
    }
    fputs("</g>\n", f);
}

static bool has_samples(const struct report_process *p)
{
    return p->model->samples && p->model->nsamples > 0;
}

int report_timeline_write(FILE *f, const struct report_process *procs, size_t n)
{
    size_t charts = 0;
    for (size_t i = 0; i < n; i++)
        charts += has_samples(&procs[i]);
    if (charts > MAX_CHARTS)
        charts = MAX_CHARTS;
    unsigned height = charts ? (unsigned)charts * CHART_H : 80;
    fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" "
            "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%u\" viewBox=\"0 0 %d "
            "%u\" id=\"memtrace-timeline\">\n<style>text{font-family:sans-serif;font-size:12px}"
            ".title{font-size:15px}.tick{font-size:10px;fill:#555}.sub{fill:#666;font-size:11px}"
            "</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n", CHART_W,
            height, CHART_W, height);
    if (charts == 0)
        fputs("<text x=\"20\" y=\"40\">nothing to show: no allocation was traced</text>\n", f);
    unsigned drawn = 0;
    for (size_t i = 0; i < n && drawn < charts; i++)
        if (has_samples(&procs[i]))
            chart(f, &procs[i], drawn++ * CHART_H);
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}
