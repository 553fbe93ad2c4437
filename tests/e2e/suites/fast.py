"""--fast: the allocation family records into the ring without a trap.
Every case here runs memtrace with --fast itself (fast_cases.txt keeps them
out of the MEMTRACE_OPTS=--fast second run, whose default-mode runs would
be --fast too)."""
import json
import os

from memtrace_e2e.checks import check, check_true, log
from memtrace_e2e.expect import check_exited, check_kinds, check_summary
from memtrace_e2e.run import json_path_for, load_traced, memtrace, run, trace

from suites.performance import PAIRS_N, pairs_bytes

# Fixtures whose reports must be the same in both modes: leak records
# (kind, bytes, blocks, allocator, stack functions), kind totals, counts.
DIFFERENTIAL = [
    ("loop_leak", []), ("family", []), ("kinds", ["tree"]), ("kinds", ["cycle"]),
    ("kinds", ["interior"]), ("kinds", ["global"]), ("fork", []), ("deep", []),
    ("cxx_containers", []), ("threads_churn", ["4", "500"]),
]
# Not signal_alloc: a stack through a signal frame needs the interrupted
# context, which lies beyond the stack slice a record carries.


def fast_stats(t):
    stats = t.doc.get("stats") or {}
    log("stats: %s" % json.dumps(stats))
    return stats


def case_fast_pairs(env):
    """100,000 malloc+free pairs: exact totals, every call a ring record,
    no allocator call trapped (the C library's own mmaps for the biggest
    blocks still do, nested)."""
    t = trace(env, "pairs", [str(PAIRS_N)], opts=["--fast", "--stats"], status=0)
    check_exited(t, 0)
    check_summary(t, allocations=PAIRS_N, frees=PAIRS_N, bytes_allocated=pairs_bytes(PAIRS_N),
                  unfreed=(0, 0), errors=0)
    check_kinds(t)
    stats = fast_stats(t)
    check("stats.fast_events (a record per call)", 2 * PAIRS_N, stats["fast_events"])
    check("return traps, stub returns, records cut short", (0, 0, 0),
          (stats["return_traps"], stats["stub_returns"], stats["fast_cut_short"]))
    check("entry traps are all the allocator's own mapping calls", stats["nested_calls"],
          stats["entry_traps"])
    check_true("JSON: the process's allocator entry points are on the stub",
               t.process["fast_functions"] >= 5, repr(t.process["fast_functions"]))


def case_fast_depth1(env):
    """--fast --depth 1: the caller alone, from the record's return address."""
    t = trace(env, "loop_leak", opts=["--fast", "--depth", "1"], status=0)
    check_kinds(t, definite=(2400, 100))
    leak = t.process["leaks"][0]
    check("frames of the leak", 1, len(leak["stack"]))
    check("its function", "main", leak["stack"][0]["function"])


def case_fast_tiny_ring_threads(env):
    """8 threads allocating into a ring of 8 records: it is full all the
    time, each full ring makes the calling thread wait for memtrace; the
    totals stay exact and nothing is cut short."""
    args = ["8", "2000"]
    want = trace(env, "threads_churn", args, opts=["--stats"], status=0)
    t = trace(env, "threads_churn", args, opts=["--fast", "--fast-ring", "8", "--stats"], status=0)
    for key in ("allocations", "frees", "bytes_allocated", "unfreed"):
        check("summary.%s, --fast with 8 records vs traps" % key, want.summary[key],
              t.summary[key])
    stats = fast_stats(t)
    check_true("the ring was full and calls waited (fast_full_waits > 0)",
               stats["fast_full_waits"] > 0, repr(stats["fast_full_waits"]))
    check("records cut short", 0, stats["fast_cut_short"])
    check_true("a record per call at least (reallocs make two)",
               stats["fast_events"] >= t.summary["allocations"] + t.summary["frees"],
               repr(stats["fast_events"]))


def shape(t):
    """What must be equal in both modes."""
    out = []
    for p in t.doc["processes"]:
        recs = sorted((r["kind"], r["bytes"], r["blocks"], r.get("allocator") or "",
                       tuple(f.get("function") or "?" for f in r["stack"]))
                      for r in p["leaks"])
        s = p["summary"]
        out.append((recs, s["allocations"], s["frees"], s["bytes_allocated"],
                    s["unfreed"]["bytes"], s["unfreed"]["blocks"],
                    s["definitely_lost"]["bytes"], s["indirectly_lost"]["bytes"],
                    s["possibly_lost"]["bytes"], s["still_reachable"]["bytes"], s["errors"]))
    return out


def run_any(env, fixture, args, opts):
    """memtrace run, whatever the exit status and process records."""
    json_path = json_path_for(env, fixture)
    p = memtrace(env, ["run", "--json", json_path] + opts + ["--", env.fixture(fixture)] + args)
    return load_traced(env, p, json_path)


def case_fast_differential(env):
    """Each fixture traced both ways: identical leak records, kinds and
    totals, and the same exit status."""
    for fixture, args in DIFFERENTIAL:
        base = run_any(env, fixture, args, [])
        fast = run_any(env, fixture, args, ["--fast"])
        check("%s %s: exit status with --fast" % (fixture, " ".join(args)), base.status,
              fast.status)
        check_true("%s %s: it allocated" % (fixture, " ".join(args)),
                   base.summary["allocations"] > 0, repr(base.summary))
        check("%s %s: the report with --fast" % (fixture, " ".join(args)), shape(base),
              shape(fast))


def case_fast_attach_refused(env):
    """attach --fast is refused with one line and status 2: leaving a
    process whose stubs hold calls in flight is not safe enough yet."""
    p = run([env.memtrace, "attach", "--fast", "1"], "memtrace attach --fast 1")
    check("exit status", 2, p.returncode)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check("stderr", ["memtrace: --fast is an option of 'memtrace run' only for now; "
                     "'memtrace attach' traces with breakpoints"], lines)


def totals(t):
    """Per process: its command and summary counts (stacks through a signal
    frame may end short with --fast, so only the counts are compared)."""
    out = []
    for p in t.doc["processes"]:
        s = p["summary"]
        out.append((tuple(p["command"]), p["end"], s["allocations"], s["frees"],
                    s["bytes_allocated"], s["unfreed"]["blocks"], s["definitely_lost"]["bytes"],
                    s["still_reachable"]["bytes"], s["errors"]))
    return out


def case_fast_tiny_ring_processes(env):
    """fork, vfork sharing the parent's heap, exec from a thread and
    allocation in signal handlers, each through a ring of 8 records that is
    full all the time: every process's counts as without --fast, and no
    record cut short."""
    target = env.fixture("exec_target")
    # signal_alloc allocates in its handler for as long as a timer runs: its
    # counts follow the speed, so only their consistency is compared.
    for fixture, args, timed in (("fork", [], False), ("vfork_heap", [target, "5"], False),
                                 ("exec_from_thread", [target, "6"], False),
                                 ("signal_alloc", [], True),
                                 ("threads_churn", ["8", "300"], False)):
        base = run_any(env, fixture, args, [])
        fast = run_any(env, fixture, args, ["--fast", "--fast-ring", "8", "--stats"])
        what = "%s %s" % (fixture, " ".join(os.path.basename(a) for a in args))
        check("%s: exit status with a ring of 8" % what, base.status, fast.status)
        check("%s: records cut short" % what, 0, fast.doc["stats"]["fast_cut_short"])
        if not timed:
            check("%s: every process's counts with a ring of 8" % what, totals(base),
                  totals(fast))
            continue
        for p in fast.doc["processes"]:
            s = p["summary"]
            check("%s: allocations - frees == unfreed blocks" % what,
                  s["allocations"] - s["frees"], s["unfreed"]["blocks"])
            check_true("%s: the handler allocated" % what, s["allocations"] > 100,
                       repr(s["allocations"]))
