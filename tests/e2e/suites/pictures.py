"""--folded and --flamegraph: the collapsed stacks exactly, and the SVG as a
person sees it, in headless Chromium (Debian's chromium): a screenshot that
is not blank and shows the program's frames in warm colours, the leaking
functions in the rendered DOM, a scripted click that zooms (the clicked
frame then spans the width, frames off its path are hidden) and a search
that highlights. Screenshots are kept in BUILD/screenshots/."""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.run import memtrace, trace

# fx_kinds tree: lose() leaks 11 bytes; lose_tree() 32 bytes owning six
# 32-byte nodes made by tree_node() through grow(), recursively.
KINDS_TREE_FOLDED = [
    "main;lose_tree 32",
    "main;lose_tree;grow;tree_node 64",
    "main;lose_tree;grow;grow;tree_node 128",
    "main;lose 11",
]


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise Failure("chromium is not installed (Debian package chromium): the pictures are "
                  "tested in a real browser")


def browser(args, what):
    """Runs headless Chromium with ARGS; its stdout."""
    # A profile of its own: two browsers on one profile (ctest -j) would hand
    # the page to the first and exit.
    profile = tempfile.mkdtemp(prefix="chromium-")
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-dev-shm-usage", "--virtual-time-budget=5000",
           "--user-data-dir=" + profile] + args
    log("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HOME=profile))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if p.returncode != 0:
        raise Failure("%s: chromium exited with %d: %s" % (what, p.returncode, p.stderr[-2000:]))
    return p.stdout


def screenshot_dir(env):
    path = os.path.join(os.path.dirname(os.path.abspath(env.fixtures_dir)), "screenshots")
    os.makedirs(path, exist_ok=True)
    return path


def screenshot(env, url, name, size):
    png = os.path.join(screenshot_dir(env), name)
    if os.path.exists(png):
        os.unlink(png)
    browser(["--window-size=%d,%d" % size, "--screenshot=" + png, url], "screenshot " + name)
    check_true("%s written" % png, os.path.exists(png))
    log("screenshot: " + png)
    return png


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Failure("%s is not a PNG" % path)
    at, idat, width = 8, b"", 0
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise Failure("%s: PNG of depth %d, colour type %d" % (path, depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def check_not_blank(png, warm_min):
    """The picture has many colours, and at least WARM_MIN pixels of the
    program's frames (warm: red high, blue low)."""
    width, height, rows = png_pixels(png)
    colours = set()
    warm = 0
    for row in rows:
        for r, g, b in row:
            colours.add((r, g, b))
            warm += r > 200 and b < 120 and g < 210
    log("%s: %dx%d, %d colours, %d warm pixels" % (png, width, height, len(colours), warm))
    check_true("%s is not blank (%d colours)" % (os.path.basename(png), len(colours)),
               len(colours) >= 20)
    check_true("%s shows the program's frames (%d warm pixels)" % (os.path.basename(png), warm),
               warm >= warm_min)


# Runs after the flame graph's own script: clicks a frame, searches, and
# writes what the page then shows into <pre id="result"> for --dump-dom.
PROBE = """
<pre id="result" style="display:none"></pre>
<script>
window.addEventListener('load', function () {
  var out = {};
  function shown() {
    return Array.prototype.slice.call(document.querySelectorAll('g.f')).map(function (g) {
      var r = g.querySelector('rect');
      return [g.getAttribute('data-name'), +g.getAttribute('data-d'),
              g.classList.contains('hide'), +r.getAttribute('width'),
              g.querySelector('text').textContent];
    });
  }
  out.before = shown();
  var target = document.querySelector('g.f[data-name="%(click)s"][data-d="%(depth)d"]');
  target.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  out.zoomed = shown();
  out.unzoom_hidden = document.getElementById('unzoom').classList.contains('hide');
  if (!window.location.search) {
    window.memtraceUnzoom();
    window.memtraceSearch('%(search)s');
    out.matches = Array.prototype.slice.call(document.querySelectorAll('g.match'))
      .map(function (g) { return g.getAttribute('data-name'); });
    out.matched = document.getElementById('matched').textContent;
    window.memtraceSearch('');
  }
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script>
"""


def probe_page(env, svg, click, depth, search, name):
    """An HTML page with the SVG inline and the probe; its path."""
    with open(svg) as fh:
        text = re.sub(r"^<\?xml[^>]*\?>\s*", "", fh.read())
    page = os.path.join(env.tmp, name)
    with open(page, "w") as fh:
        fh.write("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body "
                 "style=\"margin:0\">\n" + text +
                 PROBE % {"click": click, "depth": depth, "search": search} +
                 "</body></html>\n")
    return page


def probe(env, page):
    dom = browser(["--dump-dom", "file://" + page], "dump-dom")
    m = re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom, re.S)
    if not m or not m.group(1):
        raise Failure("the probe wrote nothing; the DOM:\n" + dom[-3000:])
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


def case_flamegraph_in_browser(env):
    """fx_kinds tree: the folded lines exactly; the SVG well-formed, drawn
    (screenshot not blank, the leaking functions in the rendered DOM), a
    click on the inner grow() zooms (it spans the 1200 px, lose() is hidden,
    main, lose_tree and the outer grow stay as its parents), a search for
    tree_node highlights its two frames and says 81.70% (192 of 235 bytes)."""
    folded = os.path.join(env.tmp, "kinds.folded")
    svg = os.path.join(env.tmp, "kinds.svg")
    trace(env, "kinds", ["tree"], opts=["--folded", folded, "--flamegraph", svg])
    with open(folded) as fh:
        check("folded stacks", KINDS_TREE_FOLDED, fh.read().splitlines())
    import xml.etree.ElementTree as ET
    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    check("the SVG's root", ns + "svg", root.tag)
    frames = root.findall(ns + "g")
    check("frames (name, depth)", sorted([("all", "0"), ("main", "1"), ("lose_tree", "2"),
                                          ("lose", "2"), ("grow", "3"), ("grow", "4"),
                                          ("tree_node", "4"), ("tree_node", "5")]),
          sorted((g.get("data-name"), g.get("data-d")) for g in frames))
    lose = [g for g in frames if g.get("data-name") == "lose"][0]
    check("lose()'s tooltip", "lose (kinds.c:%d)\n11 bytes in 1 blocks, 4.68%%"
          % env.line("kinds", "lost"), lose.find(ns + "title").text)

    png = screenshot(env, "file://" + svg, "flamegraph.png", (1220, 260))
    check_not_blank(png, 2000)
    dom = browser(["--dump-dom", "file://" + svg], "dump-dom")
    for name in ("lose_tree", "tree_node", "grow", "main"):
        check_true("%s in the rendered DOM" % name, ">%s</text>" % name in dom)

    page = probe_page(env, svg, "grow", 4, "tree_node", "zoom.html")
    got = probe(env, page)
    zoomed = {(n, d): (hidden, width) for n, d, hidden, width, _ in got["zoomed"]}
    check("after the click on the inner grow: it and its tree_node span the width",
          [(False, 1200.0)] * 2, [zoomed[("grow", 4)], zoomed[("tree_node", 5)]])
    check("its parents stay, full width", [(False, 1200.0)] * 4,
          [zoomed[k] for k in (("all", 0), ("main", 1), ("lose_tree", 2), ("grow", 3))])
    check("lose() and the outer grow's own tree_node are hidden", [True, True],
          [zoomed[("lose", 2)][0], zoomed[("tree_node", 4)][0]])
    check_true("before: the inner grow 128 of 235 bytes wide",
               [w for n, d, _, w, _ in got["before"] if (n, d) == ("grow", 4)] ==
               [round(128 * 1200 / 235, 2)])
    check_true("Reset Zoom shown", not got["unzoom_hidden"])
    check("search tree_node: its frames highlighted", ["tree_node"] * 2, sorted(got["matches"]))
    check("search: the share of bytes", "Matched: 81.70%", got["matched"])
    zoom_png = screenshot(env, "file://" + page + "?zoomed", "flamegraph-zoomed.png",
                          (1220, 300))
    check_not_blank(zoom_png, 4000)


def case_flamegraph_costs(env):
    """--flamegraph-cost: allocated counts every byte (fx_seed's four
    blocks: 100 bytes at main), peak each stack's most live bytes; a bad
    cost word is refused before anything runs."""
    folded = os.path.join(env.tmp, "seed.folded")
    trace(env, "seed", opts=["--folded", folded, "--flamegraph-cost", "allocated"])
    with open(folded) as fh:
        check("allocated", ["main 100"], fh.read().splitlines())
    trace(env, "seed", opts=["--folded", folded, "--flamegraph-cost=peak"])
    with open(folded) as fh:
        check("peak: main's most live at once (10+20+30+40)", ["main 100"],
              fh.read().splitlines())
    trace(env, "seed", opts=["--folded", folded])
    with open(folded) as fh:
        check("leaked: the 30 bytes lost", ["main 30"], fh.read().splitlines())
    p = memtrace(env, ["run", "--flamegraph-cost", "most", "--", "/bin/true"])
    check("refused", (2, "memtrace: --flamegraph-cost takes leaked, allocated or peak, not "
                         "'most'\n"), (p.returncode, p.stderr))


def case_flamegraph_nothing_leaked(env):
    """A program that frees everything: the folded file is empty and the
    SVG says there is nothing to show (and is still a valid picture)."""
    folded = os.path.join(env.tmp, "true.folded")
    svg = os.path.join(env.tmp, "true.svg")
    p = memtrace(env, ["run", "--folded", folded, "--flamegraph", svg, "--", "/bin/true"])
    check("exit status", 0, p.returncode)
    with open(folded) as fh:
        check("nothing folded", "", fh.read())
    with open(svg) as fh:
        check_true("says so", "nothing to show: no leaked memory" in fh.read())


def timeline_series(svg):
    """(chart's title, growers [(label, grew, points)], total points, peak
    points) of the first chart of a --timeline SVG; points as (x, y) px."""
    import xml.etree.ElementTree as ET
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.parse(svg).getroot()
    check("the SVG's root", (ns + "svg", "memtrace-timeline"), (root.tag, root.get("id")))
    chart = root.find(ns + "g")
    if chart is None:
        raise Failure("no chart in %s" % svg)

    def points(cls):
        lines = [p for p in chart.findall(ns + "polyline") if p.get("class") == cls]
        return [[tuple(float(v) for v in pt.split(",")) for pt in p.get("points").split()]
                for p in lines]

    growers = []
    for g in chart.findall(ns + "g"):
        texts = [t.text for t in g.findall(ns + "text")]
        growers.append((texts[0], texts[1]))
    return chart.find(ns + "text").text, growers, points("stack"), points("total"), \
        points("peak")


def check_only_goes_up(what, lines):
    check("%s: one unbroken line" % what, 1, len(lines))
    ys = [y for _, y in lines[0]]
    check_true("%s: never goes down (%d points)" % (what, len(ys)),
               all(b <= a + 0.05 for a, b in zip(ys, ys[1:])) and len(ys) >= 5)
    check_true("%s: goes up (%.1f px to %.1f px)" % (what, ys[0], ys[-1]), ys[-1] < ys[0] - 10)


def case_timeline_slow_leak(env):
    """fx_slow_leak --timeline: the stack that grew most is leak_slowly's
    line, by 29.3 KiB (30 x 1000 bytes), a line that only goes up; the
    total ends there too; the peaks of churn() show above it; the chart
    renders (screenshot not blank, the leaking function in the DOM)."""
    svg = os.path.join(env.tmp, "timeline.svg")
    t = trace(env, "slow_leak", opts=["--timeline", svg])
    title, growers, stacks, total, peak = timeline_series(svg)
    check("title", "Live bytes of pid %d (%s)" % (t.process["pid"], env.fixture("slow_leak")),
          title)
    check("the stack that grew most, first", ("leak_slowly (slow_leak.c:%d)"
                                              % env.line("slow_leak", "leak"), "grew by 29.3 KiB"),
          growers[0])
    check("one grower (churn frees all it allocates)", 1, len(growers))
    check_only_goes_up("leak_slowly's line", stacks[:1])
    # The total moves with churn()'s blocks live at each sample; at the end
    # only the leak is left.
    check("the total ends where the leak does", stacks[0][-1], total[0][-1])
    with open(svg) as fh:
        ticks = [float(v) for v in re.findall(r'class="tick"[^>]*>([\d.]+) KiB<', fh.read())]
    check_true("the chart's scale reaches churn's peak, 50 blocks of 4000 bytes live at once "
               "(top tick %s KiB)" % max(ticks or [0]), max(ticks or [0]) >= 195.3)
    check_true("the peak line is drawn", len(peak) >= 1 and len(peak[0]) >= 5)
    png = screenshot(env, "file://" + svg, "timeline.png", (1000, 330))
    width, height, rows = png_pixels(png)
    red = sum(1 for row in rows for r, g, b in row if r > 190 and g < 80 and b < 80)
    check_true("the leak's red line is drawn (%d red pixels)" % red, red >= 300)
    dom = browser(["--dump-dom", "file://" + svg], "dump-dom")
    check_true("leak_slowly in the rendered DOM", "leak_slowly (slow_leak.c:" in dom)


def case_timeline_attached_server(env):
    """memtrace attach --timeline on fx_attach_target steady (64 bytes
    leaked every 10 ms from leak_one, pairs freed around it): the chart of
    the blocks the census found at attach and those allocated since,
    leak_one's line only going up."""
    from memtrace_e2e.live import AttachTarget
    target = AttachTarget(env, "steady")
    try:
        svg = os.path.join(env.tmp, "attach-timeline.svg")
        p = memtrace(env, ["attach", "--duration", "1.5", "--timeline", svg, str(target.pid)])
        check("memtrace exit status", 0, p.returncode)
        title, growers, stacks, total, _ = timeline_series(svg)
        check("title", "Live bytes of pid %d (%s), of the blocks found at attach and since"
              % (target.pid, env.fixture("attach_target")), title)
        check("the stack that grew most", "leak_one (attach_target.c:%d)"
              % env.line("attach_target", "steady_leak"), growers[0][0])
        check_only_goes_up("leak_one's line", stacks[:1])
        screenshot(env, "file://" + svg, "timeline-attach.png", (1000, 330))
    finally:
        target.kill()
