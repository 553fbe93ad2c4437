/* Memory by stack as pictures: --folded (collapsed stacks, one line per
 * path: "main;make_list;grow 96", for flamegraph.pl, inferno, speedscope)
 * and --flamegraph (a self-contained interactive SVG: hover, click to zoom,
 * search; drawn here, nothing fetched). Both come from one call tree whose
 * widths are the chosen cost of each allocation stack. */
#include "report.h"
#include "grow.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* One frame of the tree: a function at one place in the call paths. */
struct flame_node {
    char *label;              /* function, or module+0xoffset, or 0xaddress */
    const char *file;         /* of the first frame merged here; NULL: none */
    int line;
    bool own;                 /* a line of the program's own sources */
    uint64_t value, count;    /* the cost of every path through here */
    size_t first_child, next_sibling;   /* indices; 0: none (0 is the root) */
};

struct flame_tree {
    struct flame_node *nodes;   /* [0] is the root, all paths */
    size_t n, cap;
    unsigned max_depth;
};

/* A frame's label as it goes into the tree. */
struct flame_frame {
    char label[512];
    const char *file;
    int line;
    bool own;
};

const char *report_flame_cost_name(enum flame_cost cost)
{
    static const char *const names[] = {
        [FLAME_LEAKED] = "leaked", [FLAME_ALLOCATED] = "allocated", [FLAME_PEAK] = "peak",
    };
    return cost <= FLAME_PEAK ? names[cost] : "leaked";
}

static int tree_init(struct flame_tree *t)
{
    memset(t, 0, sizeof(*t));
    t->nodes = calloc(64, sizeof(*t->nodes));
    if (!t->nodes || !(t->nodes[0].label = strdup("all")))
        return -1;
    t->cap = 64;
    t->n = 1;
    return 0;
}

static void tree_destroy(struct flame_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->nodes[i].label);
    free(t->nodes);
}

/* The child of parent labelled fr->label, made when missing; 0 when out of
 * memory. */
static size_t child(struct flame_tree *t, size_t parent, const struct flame_frame *fr)
{
    size_t last = 0;
    for (size_t c = t->nodes[parent].first_child; c; c = t->nodes[c].next_sibling) {
        if (strcmp(t->nodes[c].label, fr->label) == 0)
            return c;
        last = c;
    }
    struct flame_node *grown = mt_grow(t->nodes, &t->cap, t->n + 1, sizeof(*grown));
    if (!grown)
        return 0;
    t->nodes = grown;
    size_t id = t->n;
    t->nodes[id] = (struct flame_node){ .label = strdup(fr->label), .file = fr->file,
                                        .line = fr->line, .own = fr->own };
    if (!t->nodes[id].label)
        return 0;
    t->n++;
    if (last)
        t->nodes[last].next_sibling = id;
    else
        t->nodes[parent].first_child = id;
    return id;
}

/* Labels never hold ';' (the folded format's separator) nor control
 * characters. */
static void set_label(struct flame_frame *out, const struct sym_frame *fr)
{
    if (fr->function)
        snprintf(out->label, sizeof(out->label), "%s", fr->function);
    else if (fr->module) {
        const char *slash = strrchr(fr->module, '/');
        snprintf(out->label, sizeof(out->label), "%s+0x%" PRIxADDR, slash ? slash + 1 : fr->module,
                 fr->module_offset);
    } else
        snprintf(out->label, sizeof(out->label), "0x%" PRIxADDR, fr->address);
    for (char *c = out->label; *c; c++)
        if (*c == ';' || (unsigned char)*c < 0x20)
            *c = *c == ';' ? ':' : ' ';
    out->file = fr->file;
    out->line = fr->line;
    out->own = report_frame_is_own(fr);
}

/* Adds cost (value, count) along stack's path, outermost frame first, from
 * main on (the frames below it are the C runtime's start, as the text
 * report leaves them out), under the process's own node when given. */
static int add_path(struct flame_tree *t, const struct report_process *p, size_t under,
                    uint32_t stack, unsigned cut_ip, unsigned cut_frame, uint64_t value,
                    uint64_t count)
{
    unsigned depth;
    const mt_addr *ips = stack_intern_get(p->stacks, stack, &depth);
    size_t cap = 0, n = 0;
    struct flame_frame *frames = NULL;
    bool at_main = false;
    for (unsigned i = cut_ip; i < depth && !at_main; i++) {
        const struct sym_frame_ext *fr;
        unsigned nf = report_frames(p, stack, ips[i], &fr);
        for (unsigned k = i == cut_ip ? cut_frame : 0; k < nf; k++) {
            struct flame_frame *grown = mt_grow(frames, &cap, n + 1, sizeof(*grown));
            if (!grown) {
                free(frames);
                return -1;
            }
            frames = grown;
            set_label(&frames[n++], &fr[k].f);
        }
        at_main = nf > 0 && fr[nf - 1].f.function && strcmp(fr[nf - 1].f.function, "main") == 0;
    }
    size_t node = under;
    t->nodes[0].value += value;
    t->nodes[0].count += count;
    if (under) {
        t->nodes[under].value += value;
        t->nodes[under].count += count;
    }
    unsigned level = under ? 1 : 0;
    for (size_t i = n; i-- > 0;) {
        if (!(node = child(t, node, &frames[i]))) {
            free(frames);
            return -1;
        }
        t->nodes[node].value += value;
        t->nodes[node].count += count;
        if (++level > t->max_depth)
            t->max_depth = level;
    }
    if (n == 0 && depth == 0) {
        /* No stack recorded (--sample, --min-size): its own box. */
        struct flame_frame none = { .label = "(no stack recorded)" };
        if (!(node = child(t, node, &none)))
            return -1;
        t->nodes[node].value += value;
        t->nodes[node].count += count;
        if (++level > t->max_depth)
            t->max_depth = level;
    }
    free(frames);
    return 0;
}

static bool leaked_kind(unsigned kind)
{
    return kind == LEAK_DEFINITE || kind == LEAK_INDIRECT || kind == LEAK_POSSIBLE;
}

static int add_process(struct flame_tree *t, const struct report_process *p, size_t under,
                       enum flame_cost cost)
{
    if (cost == FLAME_LEAKED) {
        if (report_summary_only(p) || p->records_hidden)
            return 0;
        struct leak_record *recs;
        size_t n;
        if (report_collect_records(p, &recs, &n) != 0)
            return -1;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (leaked_kind(recs[i].kind) && !recs[i].suppressed_by)
                rc = add_path(t, p, under, recs[i].stack, recs[i].cut_ip, recs[i].cut_frame,
                              recs[i].bytes, recs[i].blocks);
        free(recs);
        return rc;
    }
    size_t last = stack_intern_count(p->stacks);   /* ids 1..last, 0: no stack recorded */
    for (uint32_t id = 0; id <= last; id++) {
        const struct stack_cost *c = alloc_model_stack_cost(p->model, id);
        uint64_t value = !c ? 0 : cost == FLAME_ALLOCATED ? c->allocated_bytes : c->peak_bytes;
        if (!value)
            continue;
        unsigned cut_ip, cut_frame;
        report_cut_stack(p, id, &cut_ip, &cut_frame);
        if (add_path(t, p, under, id, cut_ip, cut_frame, value, c->allocations) != 0)
            return -1;
    }
    return 0;
}

/* The tree of procs: with several processes, each gets a node of its own
 * under the root ("pid 1234: prog"). */
static int build(struct flame_tree *t, const struct report_process *procs, size_t n,
                 enum flame_cost cost)
{
    if (tree_init(t) != 0) {
        tree_destroy(t);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t under = 0;
        if (n > 1) {
            struct flame_frame fr = { .own = false };
            const char *prog = procs[i].argv && procs[i].argv[0] ? procs[i].argv[0] : "?";
            const char *slash = strrchr(prog, '/');
            snprintf(fr.label, sizeof(fr.label), "pid %d: %s", (int)procs[i].pid,
                     slash ? slash + 1 : prog);
            if (!(under = child(t, 0, &fr))) {
                tree_destroy(t);
                return -1;
            }
        }
        if (add_process(t, &procs[i], under, cost) != 0) {
            tree_destroy(t);
            return -1;
        }
    }
    return 0;
}

/* ---- folded ----------------------------------------------------------- */

/* Each node's own cost (what its children do not account for) as one
 * line: its path from the outermost frame, then the value. */
static void fold(FILE *f, const struct flame_tree *t, size_t node, size_t *path, unsigned len)
{
    const struct flame_node *nd = &t->nodes[node];
    uint64_t below = 0;
    for (size_t c = nd->first_child; c; c = t->nodes[c].next_sibling)
        below += t->nodes[c].value;
    if (node != 0 && nd->value > below) {
        for (unsigned i = 0; i < len; i++)
            fprintf(f, "%s%s", i ? ";" : "", t->nodes[path[i]].label);
        fprintf(f, " %" PRIu64 "\n", nd->value - below);
    }
    for (size_t c = nd->first_child; c; c = t->nodes[c].next_sibling) {
        path[len] = c;
        fold(f, t, c, path, len + 1);
    }
}

int report_folded_write(FILE *f, const struct report_process *procs, size_t n,
                        enum flame_cost cost)
{
    struct flame_tree t;
    if (build(&t, procs, n, cost) != 0)
        return -1;
    size_t *path = calloc((size_t)t.max_depth + 2, sizeof(*path));
    if (!path) {
        tree_destroy(&t);
        return -1;
    }
    fold(f, &t, 0, path, 0);
    free(path);
    tree_destroy(&t);
    return ferror(f) ? -1 : 0;
}

/* ---- SVG -------------------------------------------------------------- */

enum { SVG_WIDTH = 1200, FRAME_HEIGHT = 17, TOP = 60, BOTTOM = 34, SIDE = 10 };
#define CHAR_WIDTH 6.6   /* at font-size 11 in the default sans-serif, roughly */
#define MIN_WIDTH 0.1    /* px: narrower boxes are left out */

/* The warm colours are the program's own frames, the cool ones libraries;
 * the shade comes from the name, so a function keeps its colour. */
static void colour(const struct flame_node *nd, char *buf, size_t len)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)nd->label; *c; c++)
        h = (h ^ *c) * 16777619u;
    unsigned v = h % 1000;
    if (nd->own)
        snprintf(buf, len, "rgb(%u,%u,%u)", 225 + v % 30, 90 + v % 110, 40 + v / 40 % 30);
    else
        snprintf(buf, len, "rgb(%u,%u,%u)", 70 + v % 50, 150 + v % 60, 200 + v / 40 % 50);
}

static void amount_words(enum flame_cost cost, uint64_t value, uint64_t count, char *buf,
                         size_t len)
{
    if (cost == FLAME_LEAKED)
        snprintf(buf, len, "%" PRIu64 " bytes in %" PRIu64 " blocks", value, count);
    else if (cost == FLAME_ALLOCATED)
        snprintf(buf, len, "%" PRIu64 " bytes in %" PRIu64 " allocations", value, count);
    else
        snprintf(buf, len, "%" PRIu64 " bytes live at most (%" PRIu64 " allocations)", value,
                 count);
}

/* The label as it fits in width px, cut with "..", or "" (the script does
 * the same after a zoom). */
static void fitted(const char *label, double width, char *buf, size_t len)
{
    size_t fit = width > 3 * CHAR_WIDTH ? (size_t)(width / CHAR_WIDTH) : 0;
    if (fit == 0)
        buf[0] = '\0';
    else if (strlen(label) <= fit)
        snprintf(buf, len, "%s", label);
    else
        snprintf(buf, len, "%.*s..", (int)(fit - 2), label);
}

struct svg_ctx {
    FILE *f;
    const struct flame_tree *t;
    enum flame_cost cost;
    double scale;             /* px per unit of cost */
    unsigned height;
};

static void svg_node(struct svg_ctx *c, size_t node, uint64_t x, unsigned depth)
{
    const struct flame_node *nd = &c->t->nodes[node];
    double width = (double)nd->value * c->scale;
    if (width < MIN_WIDTH)
        return;
    FILE *f = c->f;
    double px = SIDE + (double)x * c->scale;
    double py = c->height - BOTTOM - (double)(depth + 1) * FRAME_HEIGHT;
    char fill[32], amount[128], where[64] = "";
    colour(nd, fill, sizeof(fill));
    amount_words(c->cost, nd->value, nd->count, amount, sizeof(amount));
    if (nd->file) {
        const char *slash = strrchr(nd->file, '/');
        if (nd->line > 0)
            snprintf(where, sizeof(where), " (%s:%d)", slash ? slash + 1 : nd->file, nd->line);
        else
            snprintf(where, sizeof(where), " (%s)", slash ? slash + 1 : nd->file);
    }
    double total = (double)c->t->nodes[0].value;
    fprintf(f, "<g class=\"f\" data-x=\"%" PRIu64 "\" data-v=\"%" PRIu64 "\" data-d=\"%u\" "
            "data-own=\"%d\" data-name=\"", x, nd->value, depth, nd->own);
    report_xml_text(f, nd->label);
    fputs("\" data-where=\"", f);
    report_xml_text(f, where);
    fprintf(f, "\" data-amount=\"%s, %.2f%%\">\n<title>", amount,
            total > 0 ? 100.0 * (double)nd->value / total : 0.0);
    report_xml_text(f, nd->label);
    report_xml_text(f, where);
    fprintf(f, "\n%s, %.2f%%</title>\n", amount,
            total > 0 ? 100.0 * (double)nd->value / total : 0.0);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
            "rx=\"2\" ry=\"2\"/>\n<text x=\"%.2f\" y=\"%.1f\">", px, py, width,
            FRAME_HEIGHT - 1, fill, px + 3, py + 12.0);
    char text[600];
    fitted(nd->label, width, text, sizeof(text));
    report_xml_text(f, text);
    fputs("</text>\n</g>\n", f);
    uint64_t at = x;
    for (size_t ch = nd->first_child; ch; ch = c->t->nodes[ch].next_sibling) {
        svg_node(c, ch, at, depth + 1);
        at += c->t->nodes[ch].value;
    }
}

/* Zoom, search and the details line. Frames carry their place in cost
 * units (data-x, data-v) and depth (data-d); a zoom lays them out again. */
static const char flame_script[] =
    "var W=0,SIDE=0,CW=6.6,zoomed=null;\n"
    "function frames(){return Array.prototype.slice.call(document.querySelectorAll('g.f'));}\n"
    "function fit(g,w){var t=g.querySelector('text'),s=g.getAttribute('data-name');\n"
    " var n=w>3*CW?Math.floor(w/CW):0;t.textContent=n==0?'':s.length<=n?s:s.slice(0,n-2)+'..';}\n"
    "function layout(x0,v,d0){frames().forEach(function(g){\n"
    " var x=+g.getAttribute('data-x'),fv=+g.getAttribute('data-v'),d=+g.getAttribute('data-d');\n"
    " var r=g.querySelector('rect'),t=g.querySelector('text'),inside=x>=x0&&x+fv<=x0+v;\n"
    " var above=d<d0&&x<=x0&&x+fv>=x0+v;\n"
    " if(!(inside&&d>=d0)&&!above){g.classList.add('hide');return;}\n"
    " g.classList.remove('hide');\n"
    " var nx=above?0:(x-x0)/v*W,nw=above?W:fv/v*W;\n"
    " r.setAttribute('x',(SIDE+nx).toFixed(2));r.setAttribute('width',nw.toFixed(2));\n"
    " t.setAttribute('x',(SIDE+nx+3).toFixed(2));fit(g,nw);\n"
    " if(above)g.classList.add('parent');else g.classList.remove('parent');});}\n"
    "function zoom(g){zoomed=g;layout(+g.getAttribute('data-x'),+g.getAttribute('data-v'),\n"
    " +g.getAttribute('data-d'));document.getElementById('unzoom').classList.remove('hide');}\n"
    "function unzoom(){zoomed=null;var root=document.querySelector('g.f[data-d=\"0\"]');\n"
    " layout(0,root?+root.getAttribute('data-v'):1,0);\n"
    " document.getElementById('unzoom').classList.add('hide');}\n"
    "function details(g){document.getElementById('details').textContent=g?\n"
    " g.getAttribute('data-name')+g.getAttribute('data-where')+': '+\n"
    " g.getAttribute('data-amount'):' ';}\n"
    "function search(term){var re;try{re=new RegExp(term);}catch(e){return;}\n"
    " var hit=[],root=document.querySelector('g.f[data-d=\"0\"]');\n"
    " frames().forEach(function(g){var m=term&&re.test(g.getAttribute('data-name'));\n"
    "  if(m){g.classList.add('match');hit.push(g);}else g.classList.remove('match');});\n"
    " var sum=0,end=-1;hit.sort(function(a,b){return a.getAttribute('data-x')-\n"
    "  b.getAttribute('data-x')||a.getAttribute('data-d')-b.getAttribute('data-d');});\n"
    " hit.forEach(function(g){var x=+g.getAttribute('data-x'),v=+g.getAttribute('data-v');\n"
    "  if(x>=end){sum+=v;end=x+v;}});\n"
    " var m=document.getElementById('matched');\n"
    " m.textContent=term?'Matched: '+(root?(100*sum/+root.getAttribute('data-v')).toFixed(2):0)\n"
    "  +'%':'';document.getElementById('search').textContent=term?'Reset search':'Search';}\n"
    "function init(){var svg=document.querySelector('svg');W=+svg.getAttribute('data-w');\n"
    " SIDE=+svg.getAttribute('data-side');\n"
    " frames().forEach(function(g){g.addEventListener('click',function(){zoom(g);});\n"
    "  g.addEventListener('mouseover',function(){details(g);});\n"
    "  g.addEventListener('mouseout',function(){details(null);});});\n"
    " document.getElementById('unzoom').addEventListener('click',unzoom);\n"
    " document.getElementById('search').addEventListener('click',function(){\n"
    "  if(document.getElementById('matched').textContent){search('');return;}\n"
    "  var t=prompt('Search for (a regular expression):','');if(t)search(t);});\n"
    " var q=new URLSearchParams(location.search).get('s');if(q)search(q);}\n"
    "window.memtraceZoom=zoom;window.memtraceUnzoom=unzoom;window.memtraceSearch=search;\n"
    "if(document.readyState==='loading')document.addEventListener('DOMContentLoaded',init);\n"
    "else init();\n";

static const char flame_style[] =
    "text{font-family:sans-serif;font-size:11px;fill:#000;pointer-events:none}\n"
    "g.f{cursor:pointer}\ng.f:hover rect{stroke:#000;stroke-width:0.5}\n"
    "g.match rect{fill:rgb(230,0,230)}\ng.parent rect{opacity:0.6}\n.hide{display:none}\n"
    "#title{font-size:17px;text-anchor:middle}\n#subtitle{font-size:12px;text-anchor:middle;"
    "fill:#555}\n#unzoom,#search{cursor:pointer;pointer-events:all;fill:#06c}\n"
    "#search,#matched{text-anchor:end}\n";

int report_flamegraph_write(FILE *f, const struct report_process *procs, size_t n,
                            enum flame_cost cost)
{
    struct flame_tree t;
    if (build(&t, procs, n, cost) != 0)
        return -1;
    struct svg_ctx c = { .f = f, .t = &t, .cost = cost };
    unsigned levels = t.max_depth + 1;
    c.height = TOP + BOTTOM + levels * FRAME_HEIGHT;
    c.scale = t.nodes[0].value ? (double)SVG_WIDTH / (double)t.nodes[0].value : 0;
    fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%u\" viewBox=\"0 0 %d %u\" data-w=\"%d\" data-side=\"%d\" "
            "id=\"memtrace-flamegraph\">\n<style>%s</style>\n<script><![CDATA[\n%s]]></script>\n",
            SVG_WIDTH + 2 * SIDE, c.height, SVG_WIDTH + 2 * SIDE, c.height, SVG_WIDTH, SIDE,
            flame_style, flame_script);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n");
    const char *prog = n > 0 && procs[0].argv && procs[0].argv[0] ? procs[0].argv[0] : "";
    fprintf(f, "<text id=\"title\" x=\"%d\" y=\"24\">memtrace: ", SVG_WIDTH / 2 + SIDE);
    report_xml_text(f, prog);
    fprintf(f, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"42\">width: %s (%s); warm: the "
            "program's own code, cool: libraries; click to zoom</text>\n", SVG_WIDTH / 2 + SIDE,
            report_flame_cost_name(cost),
            cost == FLAME_LEAKED ? "definitely, indirectly and possibly lost bytes"
            : cost == FLAME_ALLOCATED ? "all bytes allocated"
                                      : "each stack's most bytes live at once");
    fprintf(f, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"24\">Reset Zoom</text>\n"
            "<text id=\"search\" x=\"%d\" y=\"24\">Search</text>\n"
            "<text id=\"matched\" x=\"%d\" y=\"%u\"></text>\n"
            "<text id=\"details\" x=\"%d\" y=\"%u\"> </text>\n",
            SIDE, SVG_WIDTH + SIDE, SVG_WIDTH + SIDE, c.height - 12, SIDE, c.height - 12);
    if (t.nodes[0].value == 0)
        fprintf(f, "<text x=\"%d\" y=\"%u\">nothing to show: no %s memory</text>\n", SIDE,
                c.height - BOTTOM - 4, report_flame_cost_name(cost));
    else
        svg_node(&c, 0, 0, 0);
    fputs("</svg>\n", f);
    tree_destroy(&t);
    return ferror(f) ? -1 : 0;
}
