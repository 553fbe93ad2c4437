"""What every JSON report must satisfy, whatever the case."""
import json
import re

from .checks import check, check_true, leak_str, log

KINDS = ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")
SUMMARY_PAIRS = ("unfreed",) + KINDS


def check_shape(doc, commands, mode="run"):
    """Checks everything every JSON report must satisfy.  COMMANDS: one
    argv (a list of strings) = one process record, or a list of argvs."""
    if commands and isinstance(commands[0], str):
        commands = [commands]
    check("JSON version", 1, doc.get("version"))
    check_true("JSON tool starts with 'memtrace '",
               str(doc.get("tool", "")).startswith("memtrace "), repr(doc.get("tool")))
    check("JSON mode", mode, doc.get("mode"))
    procs = doc.get("processes")
    check("number of JSON processes", len(commands),
          len(procs) if isinstance(procs, list) else procs)
    check("commands of the JSON processes, in order", commands,
          [p.get("command") for p in procs])
    for i, (proc, command) in enumerate(zip(procs, commands)):
        log("-- shape of JSON process %d" % i)
        check_process_shape(proc, command)


def check_process_shape(proc, command):
    keys = ("pid", "command", "end", "exit_code", "signal", "summary", "leaks", "errors",
            "mappings")
    check("missing process keys", [], [k for k in keys if k not in proc])
    check_true("pid is a positive integer",
               isinstance(proc["pid"], int) and proc["pid"] > 0, repr(proc["pid"]))
    check("process command", command, proc["command"])
    if "timeline" in proc:   # --timeline
        tl = proc["timeline"]
        times = [smp["t_ns"] for smp in tl["samples"]]
        check_true("timeline: samples from t_ns 0, in time order, at most 512",
                   times and times[0] == 0 and times == sorted(times) and len(times) <= 512)
        check("timeline: top pairs naming a stack of timeline.stacks", [],
              [pair for smp in tl["samples"] for pair in smp["top"]
               if not (0 <= pair[0] < len(tl["stacks"]) and pair[1] > 0)])
    check("hooks without function, symbol, module and how (stub or breakpoint)", [],
          [h for h in proc.get("hooks", [None]) if not (
              isinstance(h, dict) and all(isinstance(h.get(k), str) and h[k]
                                          for k in ("function", "symbol", "module"))
              and h.get("how") in ("stub", "breakpoint"))])
    s = proc["summary"]
    keys = ("allocations", "frees", "bytes_allocated", "errors") + SUMMARY_PAIRS
    check("missing summary keys", [], [k for k in keys if k not in s])
    check("summary pairs without integer bytes and blocks", [],
          [k for k in SUMMARY_PAIRS if not (isinstance(s[k], dict) and all(
              isinstance(s[k].get(f), int) for f in ("bytes", "blocks")))])
    leaks = proc["leaks"]
    check_exec_shape(proc)
    if not records_shown(proc):
        check("summary.errors == number of error records not suppressed", s["errors"],
              len([e for e in proc["errors"] if "suppressed_by" not in e]))
        check_kinds_shape(proc)
        return
    sizes = [r["bytes"] for r in leaks]
    totals = [r["bytes"] + ((r.get("indirect") or {}).get("bytes") or 0) for r in leaks]
    check_true("leak records sorted by bytes plus the indirect bytes they own, descending",
               totals == sorted(totals, reverse=True), repr(totals))
    check("summary.unfreed.bytes == sum of leak record bytes",
          s["unfreed"]["bytes"], sum(sizes))
    check("summary.unfreed.blocks == sum of leak record blocks",
          s["unfreed"]["blocks"], sum(r["blocks"] for r in leaks))
    check("summary.errors == number of error records not suppressed", s["errors"],
              len([e for e in proc["errors"] if "suppressed_by" not in e]))
    keys = [(r["kind"], r["allocator"], json.dumps(r["stack"], sort_keys=True)) for r in leaks]
    check_true("one leak record per (kind, allocator, stack)",
               len(keys) == len(set(keys)))
    check_kinds_shape(proc)


def records_shown(proc):
    """False for an image ended by exec whose records are left out (the
    default; --show-exec-leaks lists them)."""
    return proc.get("exec", {}).get("records_shown", True)


def check_exec_shape(proc):
    """Only an image ended by exec has "exec": {program, traced,
    records_shown}; when its records are not shown, leaks and mappings are
    empty and its summary still counts what it left."""
    ex = proc.get("exec")
    check("has \"exec\" (end %s)" % proc["end"], proc["end"] == "exec", ex is not None)
    if ex is None:
        return
    check("exec keys", ["program", "records_shown", "traced"], sorted(ex))
    check_true("exec.program: a string or null", ex["program"] is None
               or isinstance(ex["program"], str), repr(ex["program"]))
    if not ex["records_shown"]:
        check("leaks of an image whose records are not shown", [], proc["leaks"])
        check("mappings of an image whose records are not shown", [], proc["mappings"])


def pair(d):
    return (d["bytes"], d["blocks"])


def kind_sums(leaks, kind):
    recs = [r for r in leaks if r["kind"] == kind]
    return (sum(r["bytes"] for r in recs), sum(r["blocks"] for r in recs))


def check_kinds_shape(proc):
    """Leak kinds: a process is classified (scanned at exit) unless its
    image was replaced by exec; classified records carry one of the four
    kinds, the summary's four totals are the sums of their records and add
    up to unfreed, and only definitely lost records carry the indirect
    blocks they own (each indirectly lost block is owned by one of them).
    An unclassified process has only "unfreed" records and zero kinds."""
    s, leaks = proc["summary"], proc["leaks"]
    classified = proc["end"] != "exec"
    check("summary.classified (end %s)" % proc["end"], classified, s.get("classified"))
    if not classified:
        check("kinds of the records of an unclassified process", [],
              sorted({r["kind"] for r in leaks} - {"unfreed"}))
        check("the four kinds of an unclassified process", [(0, 0)] * 4,
              [pair(s[k]) for k in KINDS])
        check("records with indirect (unclassified process)", [],
              [leak_str(r) for r in leaks if "indirect" in r])
        return
    check("records of a classified process whose kind is not one of %s" % (KINDS,), [],
          [leak_str(r) for r in leaks if r["kind"] not in KINDS])
    # --suppressions: suppressed records are out of the kinds' totals, in
    # summary.suppressed.
    listed = [r for r in leaks if "suppressed_by" not in r]
    hidden = [r for r in leaks if "suppressed_by" in r]
    for k in KINDS:
        check("summary.%s == sum of its records" % k, kind_sums(listed, k), pair(s[k]))
    suppressed = pair(s["suppressed"]) if "suppressed" in s else (0, 0)
    check("summary.suppressed == sum of the suppressed records",
          (sum(r["bytes"] for r in hidden), sum(r["blocks"] for r in hidden)), suppressed)
    check("the four kinds and suppressed add up to summary.unfreed", pair(s["unfreed"]),
          tuple(sum(pair(s[k])[i] for k in KINDS) + suppressed[i] for i in (0, 1)))
    bad = [leak_str(r) for r in leaks if (r["kind"] == "definitely_lost") != (
        isinstance(r.get("indirect"), dict)
        and all(isinstance(r["indirect"].get(f), int) for f in ("bytes", "blocks")))]
    check("records with indirect {bytes, blocks} iff definitely lost", [], bad)
    owned = [r["indirect"] for r in leaks if r["kind"] == "definitely_lost"]
    check("sum of the definitely lost records' indirect == the indirectly lost records'",
          kind_sums(leaks, "indirectly_lost"),
          (sum(i["bytes"] for i in owned), sum(i["blocks"] for i in owned)))



HEX = re.compile(r"^[0-9a-f]+$")


def check_frames_sane(doc):
    """What every frame of every report must satisfy (the symbolization
    fields; checked by the symbols suite)."""
    bad = []
    for proc in doc["processes"]:
        stacks = [r["stack"] for r in proc["leaks"]]
        for e in proc["errors"]:
            stacks += [s for s in (e["stack"], e["alloc_stack"], e["free_stack"]) if s]
        for st in stacks:
            for i, f in enumerate(st):
                keys = ("address", "function", "mangled", "inlined", "file", "line", "module",
                        "offset", "build_id")
                missing = [k for k in keys if k not in f]
                if missing:
                    bad.append("frame without %s: %r" % (missing, f))
                    continue
                if f["function"] and "@" in f["function"]:
                    bad.append("version suffix in %r" % f["function"])
                if not isinstance(f["inlined"], bool):
                    bad.append("inlined not a bool: %r" % f)
                if f["inlined"] and (i + 1 >= len(st) or st[i + 1]["address"] != f["address"]):
                    bad.append("inlined frame not followed by its caller: %r" % f)
                if f["build_id"] is not None and not HEX.match(f["build_id"]):
                    bad.append("build_id not hex: %r" % f)
                if f["module"] is None and (f["build_id"] or f["offset"]):
                    bad.append("build_id/offset without a module: %r" % f)
    check("malformed frames", [], bad)
