#!/usr/bin/env python3
"""Turns bench/run's raw samples into bench/out/results.md and results.json.

Usage: summarize.py OUTDIR   (bench/run calls it; it can be re-run by hand)

Inputs in OUTDIR: meta.tsv, commands.tsv, samples.tsv (key, rep, field, value)
and the per-run files in runs/ (KEY.REP.out/.err/.json/.time/.vg/.tail).
Every number in the tables is the median and the min over the repetitions;
a derived number "above native" subtracts the median of the native runs.
"""
import json
import os
import re
import statistics
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out")
RUNS = os.path.join(OUT, "runs")


def read_tsv(name, ncols):
    rows = []
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", ncols - 1)
            if len(parts) == ncols:
                rows.append(parts)
    return rows


META = {k: v for k, v in read_tsv("meta.tsv", 2)}
CMDS = {k: v for k, v in read_tsv("commands.tsv", 2)}
SAMPLES = {}  # key -> rep -> field -> value
for key, rep, field, value in read_tsv("samples.tsv", 4):
    SAMPLES.setdefault(key, {}).setdefault(int(rep), {})[field] = value


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def art(key, rep, ext):
    return read(os.path.join(RUNS, "%s.%d.%s" % (key, rep, ext)))


def kv_line(text, tag):
    """key=value pairs of the first line starting with tag."""
    for line in text.splitlines():
        if line.startswith(tag):
            return dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", line))
    return None


def memtrace_stats(err):
    return kv_line(err, "memtrace: stats:")


def memtrace_errors(err):
    lines = [l for l in err.splitlines() if l.startswith("memtrace:") and "stats:" not in l]
    return "; ".join(lines[:3])


def sig_name(rc):
    names = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL",
             11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM"}
    return names.get(rc - 128, "signal %d" % (rc - 128)) if rc > 128 else None


def med(xs):
    return statistics.median(xs) if xs else None


def mn(xs):
    return min(xs) if xs else None


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, int):
        return "{:,}".format(x)
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return ("%." + str(digits) + "f") % x


def reps(key):
    return sorted(SAMPLES.get(key, {}))


def field(key, rep, name, conv=float):
    v = SAMPLES.get(key, {}).get(rep, {}).get(name)
    if v is None or v == "":
        return None
    try:
        return conv(v)
    except ValueError:
        return None


METRICS = []  # flat, stable ids, for comparing results.json across commits
UNWIND = {}   # label -> [(ns per frame, frames per unwind, share of the run's wall time)]


def note_unwind(label, st, wall_s=None):
    """Unwind cost from memtrace's --stats (unwind_frames, unwind_us)."""
    if not st or not st.get("unwind_frames") or not int(st["unwind_frames"]):
        return
    frames, us, unwinds = int(st["unwind_frames"]), int(st["unwind_us"]), int(st.get("unwinds", 0))
    UNWIND.setdefault(label, []).append((us * 1000.0 / frames, frames / unwinds if unwinds else 0,
                                         us / 1e6 / wall_s if wall_s else None))


def metric(mid, unit, samples, note=None, median=None, minimum=None):
    m = {"id": mid, "unit": unit, "samples": samples,
         "median": med(samples) if median is None else median,
         "min": mn(samples) if minimum is None else minimum}
    if note:
        m["note"] = note
    METRICS.append(m)
    return m


def failures_note(fails, total):
    if not fails:
        return ""
    kinds = {}
    for f in fails:
        kinds[f] = kinds.get(f, 0) + 1
    return "; ".join("%d/%d runs %s" % (n, total, k) for k, n in kinds.items())


md = []


def table(header, rows):
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join(" --- " for _ in header) + "|")
    for r in rows:
        md.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    md.append("")


def code(s):
    return "`" + s.replace("`", "'") + "`" if s else "n/a"


# ---------------------------------------------------------------- header
md.append("# memtrace bench results")
md.append("")
md.append("commit `%s` (%s)%s, %s, nproc %s, kernel %s, CPU %s; %s repetitions (row 5: %s)%s; "
          "load average %s at start, %s at end; whole run %s s."
          % (META.get("commit", "?")[:12], META.get("commit_subject", ""),
             ", built from a worktree with uncommitted changes to %s" % META["worktree_modified"]
             if META.get("worktree_modified") else "",
             META.get("date", "?"), META.get("nproc", "?"), META.get("kernel", "?"),
             META.get("cpu", "?"), META.get("reps", "?"), META.get("heavy_reps", "?"),
             ", --quick" if META.get("quick") == "1" else "",
             META.get("loadavg_start", "?"), META.get("loadavg_end", "?"), META.get("bench_wall_s", "?")))
md.append("")
md.append("Every cell is median / min over the repetitions (tools interleaved inside each "
          "repetition). Tools: %s." % ", ".join(
              "%s" % META[k] for k in ("memtrace", "valgrind", "ltrace", "heaptrack") if k in META))
if META.get("memtrace_built") == "0":
    md.append("")
    md.append("**memtrace did not build**: see bench/out/run.log.")
md.append("")

# ---------------------------------------------------------------- row 1
RAW = {}
RAW_PAIRED = {}  # "alloc.memtrace.1t.3" -> ns/trap of the raw run just before it
if reps("raw.pinned") or reps("raw.unpinned"):
    md.append("## 1. Raw cost of a trap (the design's physical limit)")
    md.append("")
    md.append("`bench/raw_trap.c`: the tracee executes `int3` N times; per trap the tracer does only "
              "waitpid + PTRACE_GETREGS + PTRACE_SETREGS + PTRACE_CONT. Pinned: tracer and tracee on "
              "CPU 0 (sched_setaffinity before fork). When row 2 runs, each raw run is made right "
              "before a memtrace run of row 2 (one per thread count and repetition), so row 3 can "
              "pair them.")
    md.append("")
    rows = []
    for place in ("unpinned", "pinned"):
        key = "raw." + place
        vals, fails = [], []
        for r in reps(key):
            kv = kv_line(art(key, r, "out"), "RAW_TRAP")
            if field(key, r, "rc", int) == 0 and kv:
                vals.append(float(kv["ns_per_trap"]))
                pw = SAMPLES[key][r].get("paired_with")
                if pw:
                    RAW_PAIRED[pw] = float(kv["ns_per_trap"])
            else:
                fails.append("failed (exit %s)" % field(key, r, "rc", int))
        RAW[place] = metric("raw.%s.ns_per_trap" % place, "ns", vals, failures_note(fails, len(reps(key))))
        rows.append([place, code(CMDS.get(key, "")), fmt(med(vals)), fmt(mn(vals)),
                     failures_note(fails, len(reps(key)))])
    table(["placement", "command", "ns/trap median", "ns/trap min", "notes"], rows)

# ---------------------------------------------------------------- row 1b
if reps("ring.3l.shared") or reps("ring.1l.shared"):
    md.append("## 1b. Raw cost of a ring record (--fast's physical limit)")
    md.append("")
    md.append("`bench/raw_ring.c`: a thread on CPU 0 writes N records into a 1024-slot ring as the "
              "`--fast` stub does (a `lock xadd` for a ticket, LINES cache lines of stores, the "
              "sequence word last); a reader on CPU 1 consumes them in order half a ring behind, as "
              "memtrace drains in batches. `alone`: no reader. A `--depth 1` record is 1 line, "
              "one with stacks 3 or more; a malloc+free pair is 2 records. Made in row 2's "
              "repetitions.")
    md.append("")
    rows = []
    for lines in (1, 3):
        for mode in ("alone", "shared"):
            key = "ring.%dl.%s" % (lines, mode)
            vals, fails = [], []
            for r in reps(key):
                kv = kv_line(art(key, r, "out"), "RAW_RING")
                if field(key, r, "rc", int) == 0 and kv:
                    vals.append(float(kv["ns_per_record"]))
                else:
                    fails.append("failed (exit %s)" % field(key, r, "rc", int))
            if not vals and not fails:
                continue
            metric("ring.%dl.%s.ns_per_record" % (lines, mode), "ns", vals,
                   failures_note(fails, len(reps(key))))
            rows.append([lines, "no reader" if mode == "alone" else "reader on the other CPU",
                         code(CMDS.get(key, "")), fmt(med(vals)), fmt(mn(vals)),
                         fmt(2 * med(vals) / 1000.0) if vals else "",
                         failures_note(fails, len(reps(key)))])
    table(["lines", "reader", "command", "ns/record median", "ns/record min",
           "µs per pair (2 records, median)", "notes"], rows)

# ---------------------------------------------------------------- row 2
TOOLS = [("native", "native"), ("memtrace", "memtrace run --no-pin"),
         ("memtrace_pinned", "memtrace run (default: pinned to one CPU)"),
         ("memtrace_traps", "memtrace run --return-traps (default placement, every return traps)"),
         ("memtrace_fast", "memtrace run --fast (no trap per call, full stacks)"),
         ("memtrace_fast_d1", "memtrace run --fast --depth 1 (the caller alone)"),
         ("ltrace", "ltrace -f -e malloc+free"), ("valgrind", "valgrind --leak-check=full"),
         ("heaptrack", "heaptrack")]
ALLOC = {}
PER_REP = {}  # (tool, threads, rep) -> ns per pair
if any(reps("alloc.native.%dt" % t) for t in (1, 4)):
    md.append("## 2. Allocation microbenchmark: µs per malloc+free pair above native")
    md.append("")
    md.append("`bench/alloc_bench.c`: seeded xorshift PRNG, sizes 16..4096, 1% of blocks leaked, a "
              "256-slot ring per thread; `-t 4` = 4 threads doing N/4 pairs each. Timed inside the "
              "program around the loop only (not startup, not the tool's report); with threads, first "
              "thread start to last thread end. The native row is the absolute cost; the others are "
              "the tool's cost minus the native median. Tools get different N (each is slow in its "
              "own way); per-pair cost does not depend on N. On this machine `ltrace` needs `-f` to "
              "see the threads' calls.")
    md.append("")
    rows = []
    for t in (1, 4):
        nat_key = "alloc.native.%dt" % t
        for tool, label in TOOLS:
            key = "alloc.%s.%dt" % (tool, t)
            if not reps(key):
                if tool == "heaptrack" or tool == "ltrace" or tool == "valgrind":
                    rows.append([label, t, "not installed", "", "", "", "skipped"])
                continue
            per_pair, fails, pairs, tpp, ppp, kinds_note = [], [], None, [], [], ""
            for r in reps(key):
                out, err = art(key, r, "out"), art(key, r, "err")
                rc = field(key, r, "rc", int)
                kv = kv_line(out, "ALLOC_BENCH")
                status = SAMPLES[key][r].get("status")
                if status:
                    fails.append(status)
                    continue
                if tool == "ltrace":
                    # ltrace exits 0 when the traced program is killed: look at its trace
                    tail = art(key, r, "tail")
                    m = re.search(r"killed by (SIG\w+)", tail)
                    if m:
                        fails.append("crashed (program killed by %s)" % m.group(1))
                        continue
                    if not kv:
                        fails.append("crashed (%s)" % ("ltrace itself died of " + sig_name(rc) if sig_name(rc or 0)
                                                       else "no output, exit %s" % rc))
                        continue
                if rc != 0 or not kv:
                    why = "exit %s" % rc
                    if sig_name(rc or 0):
                        why += " = " + sig_name(rc)
                    if tool.startswith("memtrace") and memtrace_errors(err):
                        why += ": " + memtrace_errors(err)
                    fails.append("failed (%s)" % why)
                    continue
                pairs = int(kv["pairs"])
                ns = float(kv["loop_ns"]) / pairs
                per_pair.append(ns)
                PER_REP[(tool, t, r)] = ns
                if tool == "valgrind" and not kinds_note:
                    vg = dict(re.findall(r"(definitely|indirectly|possibly) lost: [\d,]+ bytes in ([\d,]+) blocks",
                                         art(key, r, "vg")))
                    if vg:
                        kinds_note = "report: %s definitely / %s indirectly / %s possibly lost of %s dropped" % (
                            vg.get("definitely", "0"), vg.get("indirectly", "0"), vg.get("possibly", "0"),
                            "{:,}".format(int(kv["leaked"])))
                if tool.startswith("memtrace"):
                    st = memtrace_stats(err)
                    js = read(os.path.join(RUNS, "%s.%d.json" % (key, r)))
                    try:
                        summ = json.loads(js)["processes"][0]["summary"]
                        if summ.get("classified") and not kinds_note:
                            kinds_note = "report: %d definitely / %d indirectly / %d possibly lost of %s dropped" % (
                                summ["definitely_lost"]["blocks"], summ["indirectly_lost"]["blocks"],
                                summ["possibly_lost"]["blocks"], "{:,}".format(int(kv["leaked"])))
                        if summ["unfreed"]["blocks"] < int(kv["leaked"]):
                            fails.append("wrong report (%d unfreed blocks < %s leaked)"
                                         % (summ["unfreed"]["blocks"], kv["leaked"]))
                    except (ValueError, KeyError, IndexError):
                        fails.append("no JSON report")
                    if st:
                        tpp.append(int(st["traps"]) / pairs)
                        ppp.append(int(st["ptrace_calls"]) / pairs)
                        note_unwind("row 2: %s, %d thread%s" % (label, t, "s" if t > 1 else ""), st,
                                    float(kv["loop_ns"]) / 1e9)
            ALLOC[(tool, t)] = per_pair
            note = "; ".join(x for x in (failures_note(fails, len(reps(key))), kinds_note) if x)
            if tpp:
                note = ("%.2f traps, %.1f ptrace calls per pair" % (med(tpp), med(ppp))) + \
                    ("; " + note if note else "")
            if tool == "native":
                vals = [x / 1000 for x in per_pair]
                metric("alloc.native.%dt.us_per_pair" % t, "us", vals, note)
                rows.append([label, t, code(CMDS.get(key, "")), fmt(pairs) if pairs else "", fmt(med(vals), 3) + " (absolute)",
                             fmt(mn(vals), 3) + " (absolute)", note])
            else:
                nat = med(ALLOC.get(("native", t), []))
                vals = [(x - nat) / 1000 for x in per_pair] if nat is not None else []
                metric("alloc.%s.%dt.us_per_pair_above_native" % (tool, t), "us", vals, note)
                if not vals and fails:
                    rows.append([label, t, code(CMDS.get(key, "")), fmt(pairs) if pairs else "", "**%s**" % fails[0], "", note])
                else:
                    rows.append([label, t, code(CMDS.get(key, "")), fmt(pairs) if pairs else "", fmt(med(vals)), fmt(mn(vals)), note])
                if tool.startswith("memtrace"):
                    ALLOC[(tool + "_tpp", t)] = tpp
    table(["tool", "threads", "command", "pairs/run", "µs/pair median", "µs/pair min", "notes"], rows)

# ---------------------------------------------------------------- row 3
if RAW and ALLOC:
    md.append("## 3. memtrace's overhead over the physical limit")
    md.append("")
    md.append("memtrace's µs per pair above native (row 2) divided by the design's traps per pair × "
              "the raw trap cost (row 1): 2 traps (malloc entry, free entry; malloc's return goes "
              "through a return stub, no trap), 3 with `--return-traps` (malloc's return traps too). "
              "1.0 would mean memtrace adds nothing to the bare stops; the excess is its own "
              "work (unwinding, process_vm_readv, bookkeeping, extra ptrace calls). Each memtrace run "
              "is divided by the raw trap run made just before it with the same placement (pinned "
              "= memtrace's default placement, against the pinned raw trap; unpinned = `--no-pin`); the table gives the median and "
              "min of these per-repetition ratios (`--return-traps` is divided by the pinned raw run "
              "of the default's pairing). The last column divides by the traps memtrace "
              "actually counted per pair (`--stats`) instead. With 4 threads the raw trap is not "
              "a strict floor: while memtrace handles one thread's stop, other threads run into "
              "theirs, so stops overlap and a ratio below 1 is possible.")
    md.append("")
    rows = []
    for t in (1, 4):
        for tool, place, design in (("memtrace", "unpinned", 2), ("memtrace_pinned", "pinned", 2),
                                    ("memtrace_traps", "pinned, --return-traps", 3)):
            nat = med(ALLOC.get(("native", t), []))
            tpp = med(ALLOC.get((tool + "_tpp", t), []))
            above, raws, ratios, ratios_tpp = [], [], [], []
            for (tl, tt, r), ns in sorted(PER_REP.items()):
                if tl != tool or tt != t or nat is None:
                    continue
                paired = "memtrace_pinned" if tool == "memtrace_traps" else tool
                raw = RAW_PAIRED.get("alloc.%s.%dt.%d" % (paired, t, r))
                if raw is None:
                    continue
                above.append(ns - nat)
                raws.append(raw)
                ratios.append((ns - nat) / (design * raw))
                if tpp:
                    ratios_tpp.append((ns - nat) / (tpp * raw))
            if not ratios:
                rows.append([place, t, "n/a", "n/a", "n/a", "n/a", "n/a"])
                continue
            metric("ratio.%s.%dt" % (place.replace(", --", "_").replace("-", "_"), t), "x", ratios)
            rows.append([place, t, fmt(med(above) / 1000),
                         "%d × %s" % (design, fmt(med(raws) / 1000)), fmt(med(ratios)),
                         fmt(mn(ratios)), "%s (%.2f traps/pair)" % (fmt(med(ratios_tpp)), tpp) if tpp else "n/a"])
    table(["placement", "threads", "memtrace µs/pair above native (median)",
           "design traps/pair × paired raw trap µs (median)",
           "ratio median", "ratio min", "ratio median with measured traps/pair"], rows)

    # Per event against ltrace: both see the same two events per pair
    # (malloc, free), so the ratio of costs per pair is the ratio per event.
    rows = []
    for t in (1, 4):
        nat = med(ALLOC.get(("native", t), []))
        lt = [x - nat for x in ALLOC.get(("ltrace", t), [])] if nat is not None else []
        for tool, label in (("memtrace_pinned", "memtrace (default)"), ("memtrace", "memtrace --no-pin"),
                            ("memtrace_traps", "memtrace --return-traps")):
            mt = [x - nat for x in ALLOC.get((tool, t), [])] if nat is not None else []
            if not lt or not mt:
                rows.append([label, t, "n/a (ltrace %s)" % ("crashed or not run" if not lt else "ok"), "", ""])
                continue
            metric("vs_ltrace.%s.%dt" % (tool, t), "x", [med(lt) / med(mt)], median=med(lt) / med(mt),
                   minimum=mn(lt) / mn(mt))
            rows.append([label, t, fmt(med(lt) / 2000) + " / " + fmt(med(mt) / 2000),
                         fmt(med(lt) / med(mt)), fmt(mn(lt) / mn(mt))])
    md.append("### 3b. Per event against `ltrace -e malloc+free`")
    md.append("")
    md.append("µs per traced call (a pair is one malloc and one free: 2 events for both tools) above native, "
              "ltrace / memtrace; the target is memtrace >= 10x faster. ratio of medians, ratio of mins.")
    md.append("")
    table(["memtrace", "threads", "µs per event: ltrace / memtrace (medians)", "ltrace ÷ memtrace (median)",
           "ltrace ÷ memtrace (min)"], rows)

# ---------------------------------------------------------------- row 4
PROGS = ["gzip", "python3", "sort", "xmllint", "jq", "sqlite3"]
if any(reps("real.%s.native" % p) or reps("real.%s.skip" % p) for p in PROGS):
    md.append("## 4. Real programs from Debian: wall-time slowdown factor")
    md.append("")
    md.append("Wall time of the whole command (startup, exit and the tool's report included) divided "
              "by the median native wall time. memtrace: `memtrace run --stats --json F -o L -- CMD`; "
              "valgrind: `valgrind --leak-check=full --log-file=F CMD`; heaptrack: `heaptrack -o F CMD` (recording only). Inputs are generated with a "
              "fixed seed by `bench/gen_data.py` into bench/out/data/. The program's stdout under each "
              "tool is checked against the native run (cksum). memtrace traps = its int3 stops "
              "(1 per allocator call and 1 per free; 2 for posix_memalign and the mapping family), a measure of how allocation-heavy the run is.")
    md.append("")
    rows, cmdlist = [], []
    for p in PROGS:
        if reps("real.%s.skip" % p):
            rows.append([p, "skipped: " + SAMPLES["real.%s.skip" % p][1].get("status", ""), "", "", "", "", "", "", "", "", "", "", ""])
            continue
        nk = "real.%s.native" % p
        if not reps(nk):
            continue
        nat = [field(nk, r, "wall_s") for r in reps(nk) if field(nk, r, "rc", int) == 0]
        nat_ck = {SAMPLES[nk][r].get("out_cksum") for r in reps(nk)}
        nat_rc = {field(nk, r, "rc", int) for r in reps(nk)}
        cells, notes, traps = {}, [], None
        for tool in ("memtrace", "memtrace_fast", "valgrind", "heaptrack"):
            key = "real.%s.%s" % (p, tool)
            if not reps(key):
                cells[tool] = ("not run", "")
                continue
            vals, fails = [], []
            for r in reps(key):
                rc = field(key, r, "rc", int)
                st = SAMPLES[key][r].get("status")
                if st:
                    fails.append(st)
                    continue
                if rc not in nat_rc:
                    why = "exit %s" % rc
                    if sig_name(rc or 0):
                        why += " = " + sig_name(rc)
                    if tool.startswith("memtrace") and memtrace_errors(art(key, r, "err")):
                        why += ": " + memtrace_errors(art(key, r, "err"))
                    fails.append("failed (%s, native exits %s)" % (why, "/".join(map(str, nat_rc))))
                    continue
                if SAMPLES[key][r].get("out_cksum") not in nat_ck:
                    fails.append("output differs from native")
                vals.append(field(key, r, "wall_s"))
                if tool == "memtrace":
                    try:
                        js = json.loads(art(key, r, "json"))["stats"]
                        traps = js["traps"]
                        note_unwind("row 4: " + p, {k: str(v) for k, v in js.items()},
                                    field(key, r, "wall_s"))
                    except (ValueError, KeyError, TypeError):
                        s = memtrace_stats(art(key, r, "err")) or memtrace_stats(art(key, r, "log.tail"))
                        if s:
                            traps = int(s["traps"])
            n0 = med(nat)
            slow = [v / n0 for v in vals] if n0 else []
            note = failures_note(fails, len(reps(key)))
            if note:
                notes.append("%s: %s" % (tool, note))
            metric("real.%s.%s.slowdown" % (p, tool), "x", slow, note)
            cells[tool] = (fmt(med(slow)) if slow else "**failed**", fmt(mn(slow)) if slow else "")
            cmdlist.append("- %s under %s: %s" % (p, tool, code(CMDS.get(key, ""))))
        metric("real.%s.native.wall_s" % p, "s", nat)
        rows.append([p, code(CMDS.get(nk, "")), fmt(med(nat), 3), cells["memtrace"][0], cells["memtrace"][1],
                     cells["memtrace_fast"][0], cells["memtrace_fast"][1],
                     cells["valgrind"][0], cells["valgrind"][1], cells["heaptrack"][0],
                     cells["heaptrack"][1], fmt(traps) if traps is not None else "n/a",
                     "; ".join(notes)])
    table(["program", "command (native)", "native s median", "memtrace × median", "memtrace × min",
           "memtrace --fast × median", "memtrace --fast × min",
           "valgrind × median", "valgrind × min", "heaptrack × median", "heaptrack × min",
           "memtrace traps", "notes"], rows)
    if cmdlist:
        md.append("<details><summary>exact commands</summary>")
        md.append("")
        md.extend(cmdlist)
        md.append("")
        md.append("</details>")
        md.append("")

# ---------------------------------------------------------------- unwind cost
if UNWIND:
    md.append("## Unwind cost per frame")
    md.append("")
    md.append("From memtrace's `--stats` in rows 2 and 4: `unwind_us` (time inside the unwinder: "
              "libunwind-ptrace with memtrace's accessors, registers from the trap's GETREGS, stack "
              "words from the trap's one process_vm_readv, unwind info cached per address space) over "
              "`unwind_frames` (callers found by stepping; the return address at [rsp] costs nothing). "
              "Share = unwinding's part of the run's wall time.")
    md.append("")
    rows = []
    for label, xs in UNWIND.items():
        npf = [x[0] for x in xs]
        metric("unwind.%s.ns_per_frame" % re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_"), "ns", npf)
        share = [x[2] for x in xs if x[2] is not None]
        rows.append([label, fmt(med([x[1] for x in xs])), fmt(med(npf)), fmt(mn(npf)),
                     "%.0f%%" % (100 * med(share)) if share else "n/a"])
    table(["run", "frames per unwind", "ns per frame median", "ns per frame min", "share of wall time"], rows)


# ---------------------------------------------------------------- row 5
def mem_runs(key):
    res = []
    for r in reps(key):
        t = art(key, r, "time")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
        kv = kv_line(art(key, r, "out"), "LEAK_MANY")
        after = field(key, r, "mono_after", int)
        rc = field(key, r, "rc", int)
        head = art(key, r, "log.head")
        tail = art(key, r, "log.tail")
        rec = re.search(r"record 1 of (\d+)", head)
        # LEAK SUMMARY lines: "unfreed: B bytes in N blocks" before the leak scan,
        # then "definitely lost: ...", ..., "still reachable: ..." (not shown as records)
        kinds = {k: int(n.replace(",", "")) for k, n in
                 re.findall(r"(unfreed|definitely lost|indirectly lost|possibly lost|still reachable): "
                            r"[\d,]+ bytes in ([\d,]+) blocks", tail)}
        total = kinds.get("unfreed", sum(kinds.values())) if kinds else None
        st = memtrace_stats(art(key, r, "err")) or memtrace_stats(tail)
        res.append({
            "rc": rc, "status": SAMPLES[key][r].get("status"),
            "maxrss_kb": int(m.group(1)) if m else None,
            "target_hwm_kb": int(kv["target_hwm_kb"]) if kv else None,
            "exit_ms": (after - int(kv["exit_mono_ns"])) / 1e6 if kv and after else None,
            "n": int(kv["n"]) if kv else None,
            "records": int(rec.group(1)) if rec else None,
            "unfreed_blocks": total,
            "hidden_blocks": kinds.get("still reachable", 0) if "unfreed" not in kinds else 0,
            "scan_ms": int(st["scan_ms"]) if st and "scan_ms" in st else None,
            "wall_s": field(key, r, "wall_s"),
            "traps": int(st["traps"]) if st else None,
            "err": memtrace_errors(art(key, r, "err")),
        })
    return res


if reps("mem.blocks") or reps("mem.baseline"):
    md.append("## 5. memtrace's own memory and report time")
    md.append("")
    md.append("`bench/leak_many.c blocks N` leaks N 16-byte blocks from one call site; `stacks N` leaks "
              "N blocks each from its own call stack (base-4 digits of a counter pick one of four "
              "recursive functions per level). Peak RSS is `/usr/bin/time -v`'s maximum resident set "
              "size of `memtrace run --stats -o LOG -- bench/out/bin/leak_many ...`, minus the median "
              "of the baseline run (%s blocks). wait4() reports max(memtrace, target), so the target's "
              "own peak (VmHWM, printed by leak_many) is shown and a row is flagged when it could be "
              "the target's. Report time = CLOCK_MONOTONIC after memtrace exits (bench/out/bin/monotime, "
              "run by the script) minus the target's CLOCK_MONOTONIC just before it exits; the native "
              "floor row is the same clock around leak_many without memtrace (process exit + "
              "/usr/bin/time + one exec)." % META.get("param_BASELINE_BLOCKS", "?"))
    md.append("")
    base = mem_runs("mem.baseline")
    base_rss = med([b["maxrss_kb"] for b in base if b["maxrss_kb"] and b["rc"] == 0])
    rows = []

    def ok_runs(runs, n_expected=None):
        good, fails = [], []
        for x in runs:
            if x["status"]:
                fails.append(x["status"])
            elif x["rc"] != 0 or x["maxrss_kb"] is None or x["exit_ms"] is None:
                why = "exit %s" % x["rc"]
                if sig_name(x["rc"] or 0):
                    why += " = " + sig_name(x["rc"])
                if x["err"]:
                    why += ": " + x["err"]
                fails.append("failed (%s)" % why)
            else:
                good.append(x)
        return good, fails

    floor, ffail = ok_runs(mem_runs("mem.native_floor"))
    fl = [x["exit_ms"] for x in floor]
    metric("mem.native_floor_exit_ms", "ms", fl)
    rows.append(["exit-to-exit clock floor, no tracer", code(CMDS.get("mem.native_floor", "")),
                 fmt(med(fl)), fmt(mn(fl)), "ms", failures_note(ffail, len(reps("mem.native_floor")))])
    good, fails = ok_runs(base)
    vals = [x["maxrss_kb"] / 1024 for x in good]
    metric("mem.baseline_rss_mb", "MB", vals)
    rows.append(["memtrace peak RSS, baseline", code(CMDS.get("mem.baseline", "")), fmt(med(vals)),
                 fmt(mn(vals)), "MB", failures_note(fails, len(base))])
    for what, key, unit_name, expect in (("live blocks", "mem.blocks", "million live blocks", "blocks"),
                                         ("distinct stacks", "mem.stacks", "million distinct stacks", "stacks")):
        runs = mem_runs(key)
        if not runs:
            continue
        good, fails = ok_runs(runs)
        n = good[0]["n"] if good else int(META.get("param_LEAK_" + expect.upper(), "0") or 0)
        notes = []
        # correctness: memtrace must see every block (and, for stacks, a record per stack)
        for x in good:
            if x["unfreed_blocks"] is not None and x["unfreed_blocks"] < x["n"]:
                notes.append("report shows %d unfreed blocks < %d leaked" % (x["unfreed_blocks"], x["n"]))
            # still-reachable blocks are not shown as records by default
            if expect == "stacks" and x["records"] is not None and x["records"] + x["hidden_blocks"] < x["n"]:
                notes.append("report has %d records (+%d hidden reachable blocks) < %d distinct stacks"
                             % (x["records"], x["hidden_blocks"], x["n"]))
        rss = [x["maxrss_kb"] / 1024 for x in good]
        hwm = [x["target_hwm_kb"] / 1024 for x in good if x["target_hwm_kb"]]
        if good and max(hwm or [0]) * 1.1 >= min(rss):
            notes.append("peak RSS may be the target's (%s MB)" % fmt(max(hwm)))
        note = "; ".join(sorted(set(notes)) + ([failures_note(fails, len(runs))] if fails else []))
        rows.append(["memtrace peak RSS, %s %s" % ("{:,}".format(n), what), code(CMDS.get(key, "")),
                     fmt(med(rss)), fmt(mn(rss)), "MB", "; ".join(x for x in (
                         "target's own peak %s MB" % fmt(med(hwm)) if hwm else "", note) if x)])
        if base_rss is not None and n:
            per = [(x["maxrss_kb"] - base_rss) / 1024 * 1e6 / n for x in good]
            metric("mem.rss_per_million_%s_mb" % expect, "MB", per, note)
            rows.append(["**memtrace RSS per %s** (above baseline%s)" % (
                unit_name, ", scaled from %s" % "{:,}".format(n) if n != 1000000 else ""), "", fmt(med(per)),
                fmt(mn(per)), "MB", "%s bytes per %s" % (fmt(med(per) * 1.048576), expect[:-1]) if per else ""])
        ex = [x["exit_ms"] for x in good]
        metric("mem.report_ms_%s" % expect, "ms", ex, note)
        scan = [x["scan_ms"] for x in good if x["scan_ms"] is not None]
        rows.append(["**report time**: target exit to memtrace exit, %s %s" % ("{:,}".format(n), what),
                     "same run", fmt(med(ex)), fmt(mn(ex)), "ms",
                     "of which leak scan %s ms (`--stats` scan_ms)" % fmt(med(scan)) if scan else ""])
        wall = [x["wall_s"] for x in good]
        tr = [x["traps"] for x in good if x["traps"]]
        metric("mem.wall_s_%s" % expect, "s", wall)
        rows.append(["whole memtrace run, %s %s" % ("{:,}".format(n), what), "same run", fmt(med(wall)),
                     fmt(mn(wall)), "s", "%s traps" % fmt(med(tr)) if tr else ""])
    table(["measurement", "command", "median", "min", "unit", "notes"], rows)

# ---------------------------------------------------------------- row 6
def attach_results(key):
    """Per repetition: the JSON attach_rate.py printed, or a failure string."""
    out = []
    for r in reps(key):
        st = SAMPLES[key][r].get("status")
        if st:
            out.append(st)
            continue
        try:
            out.append(json.loads(SAMPLES[key][r].get("result", "")))
        except ValueError:
            out.append("failed (exit %s): %s" % (SAMPLES[key][r].get("rc"),
                                                  art(key, r, "err").strip()[-200:]))
    return out


ATTACH_ROWS = [("churn", "checks", "8-thread churner: checks per second"),
               ("redis", "set", "redis-server: SET requests per second"),
               ("redis", "get", "redis-server: GET requests per second")]
if any(reps("attach.%s.%s" % (w, m)) for w in ("churn", "redis") for m in ("default", "fast")):
    md.append("## 6. A running program's throughput while memtrace is attached")
    md.append("")
    md.append("`bench/attach_rate.py`: the program's own rate untraced, then while `memtrace attach "
              "[--fast]` is attached (from 1 s after memtrace stopped it, so the attach itself is "
              "outside the window), then after memtrace left. The churner is fx_attach_target churn "
              "(8 threads: malloc, fill, realloc, checksum, free; rate over 3 s windows); redis is "
              "Debian's redis-server (allocating through libjemalloc) on a Unix socket under "
              "`redis-benchmark -t set,get -q` (%s requests per test untraced and with --fast, "
              "1/40 of that in the default mode). %% of native is per repetition, against the "
              "untraced rate measured just before." % META.get("param_REDIS_REQUESTS", "?"))
    md.append("")
    rows = []
    for what, field_name, label in ATTACH_ROWS:
        for mode in ("default", "fast"):
            key = "attach.%s.%s" % (what, mode)
            if not reps(key):
                continue
            res = attach_results(key)
            good = [x for x in res if isinstance(x, dict)]
            fails = [x for x in res if not isinstance(x, dict)]
            nat, att, aft, pct, pct_after, notes = [], [], [], [], [], []
            for x in good:
                if what == "churn":
                    n, a, f = x.get("native_per_s"), x.get("attached_per_s"), x.get("after_per_s")
                else:
                    n, a, f = (x.get(k, {}).get(field_name) for k in ("native", "attached", "after"))
                if not x.get("target_alive"):
                    fails.append("the target died")
                    continue
                if x.get("memtrace_rc") != 0:
                    fails.append("memtrace exit %s" % x.get("memtrace_rc"))
                if n and a:
                    nat.append(n)
                    att.append(a)
                    pct.append(100.0 * a / n)
                if n and f:
                    pct_after.append(100.0 * f / n)
                mt = x.get("memtrace", {})
                if mt.get("allocations") is not None:
                    notes.append("traps %s, ring events %s, full-ring waits %s, %s allocations" % (
                        mt.get("traps"), mt.get("fast_events", 0), mt.get("fast_full_waits", 0),
                        mt.get("allocations")))
            metric("attach.%s.%s.%s.pct_native" % (what, field_name, mode), "%", pct,
                   failures_note(fails, len(res)) or None)
            rows.append([label, "--fast" if mode == "fast" else "default", fmt(med(nat), 0),
                         fmt(med(att), 0), fmt(med(pct), 1), fmt(mn(pct), 1), fmt(med(pct_after), 1),
                         "; ".join(x for x in (failures_note(fails, len(res)),
                                               notes[0] if notes else "") if x)])
    table(["program", "memtrace attach", "native /s median", "attached /s median",
           "% of native median", "% of native min", "after detach % of native", "notes (first run)"],
          rows)

# ---------------------------------------------------------------- row 7
if reps("census"):
    res = attach_results("census")
    good = [x for x in res if isinstance(x, dict) and isinstance(x.get("census"), dict)
            and isinstance(x.get("no_census"), dict)]
    fails = [x if isinstance(x, str) else x.get("error", "failed") for x in res if x not in good]
    n = good[0]["n"] if good else int(META.get("param_CENSUS_BLOCKS", "0") or 0)
    per_m = 1e6 / n if n else 0
    census_ms = [x["census"].get("census_ms") for x in good if x["census"].get("census_ms")]
    pauses = [max(x["census"]["check_pause_ms"]) for x in good if x["census"].get("check_pause_ms")]
    rss = [x["census"]["peak_rss_kb"] for x in good if x["census"].get("peak_rss_kb")]
    rss0 = [x["no_census"]["peak_rss_kb"] for x in good if x["no_census"].get("peak_rss_kb")]
    extra_mb = [(a - b) / 1024.0 * per_m for a, b in zip(rss, rss0)]
    lost = [x["census"].get("definitely_lost_blocks") for x in good]
    md.append("## 7. The heap census at attach and leak checks while attached")
    md.append("")
    md.append("`bench/census_cost.py`: `census_target %s` allocates %s blocks of 16..256 bytes "
              "(99%% kept in an array, 1%% lost) and idles; `memtrace attach --duration 3 --stats "
              "--leak-check-every 1` attaches to it, then `memtrace attach --no-census` for the "
              "memory baseline. Per million blocks: the census time scaled by 10^6/N, the memory "
              "as the difference of memtrace's peak RSS (`/usr/bin/time -v`) with and without "
              "the census, scaled the same way." % (n, "{:,}".format(n)))
    md.append("")
    metric("census.ms_per_million", "ms", [c * per_m for c in census_ms],
           failures_note(fails, len(res)) or None)
    metric("census.check_pause_ms", "ms", pauses)
    metric("census.extra_rss_mb_per_million", "MB", extra_mb)
    rows = [["census time, per million blocks", fmt(med([c * per_m for c in census_ms])),
             fmt(mn([c * per_m for c in census_ms])), "ms",
             "%s blocks found; definitely lost %s (1%% of N)" % (
                 good[0]["census"].get("census_blocks") if good else "?", lost[0] if lost else "?")],
            ["longest stop-the-world of a leak check, %s live blocks" % "{:,}".format(n),
             fmt(med(pauses)), fmt(mn(pauses)), "ms", "each check: park, scan, keep the records"],
            ["memtrace peak RSS added by the census, per million blocks", fmt(med(extra_mb)),
             fmt(mn(extra_mb)), "MB", "with %s KB, without %s KB (first run)" % (
                 rss[0] if rss else "?", rss0[0] if rss0 else "?")]]
    table(["measurement", "median", "min", "unit", "notes"], rows)

md.append("Raw samples: bench/out/samples.tsv; per-run output: bench/out/runs/.")
md.append("")

text = "\n".join(md)
with open(os.path.join(OUT, "results.md"), "w") as f:
    f.write(text)
with open(os.path.join(OUT, "results.json"), "w") as f:
    json.dump({"version": 1, "meta": META, "commands": CMDS, "metrics": METRICS}, f, indent=1)
    f.write("\n")
print(text)
