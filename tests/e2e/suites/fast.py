"""--fast: the allocation family records into the ring without a trap.
Every case here runs memtrace with --fast itself (fast_cases.txt keeps them
out of the MEMTRACE_OPTS=--fast second run, whose default-mode runs would
be --fast too)."""
import json
import os
import re
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, base, check, check_true, leak_str, log
from memtrace_e2e.live import AttachTarget, wait_traced_by
from memtrace_e2e.registry import ctest
from memtrace_e2e.expect import check_exited, check_kinds, check_summary
from memtrace_e2e.run import (child_env, finish_traced, json_path_for, load_traced, memtrace,
                              run, trace)

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


# --depth 1 records are one cache line, two for the calls with more
# arguments (posix_memalign, reallocarray, the mapping family): the fixtures
# that make every kind of call, error and mapping.
DIFFERENTIAL_DEPTH1 = [
    ("family", []), ("seed", []), ("invalid_free", []), ("fork", []),
    ("threads_churn", ["4", "500"]), ("kinds", ["tree"]), ("maps", ["mremap"]),
    ("maps", ["split"]), ("maps", ["sysv_attached"]), ("maps", ["bigmalloc"]),
]


def depth1_shape(t):
    """shape(t), and each error and mapping with its one frame."""
    out = shape(t)
    for p in t.doc["processes"]:
        frame = lambda r: tuple((f.get("function"), f.get("line")) for f in r["stack"])
        out.append(sorted((e["kind"], e.get("function"), e.get("size"), frame(e))
                          for e in p["errors"]))
        out.append(sorted((m["kind"], m["bytes"], frame(m)) for m in p["mappings"]))
    return out


def case_fast_depth1_differential(env):
    """--depth 1 both ways: identical leaks, errors (with the bad call's
    line) and mappings, and the same exit status."""
    for fixture, args in DIFFERENTIAL_DEPTH1:
        name = "%s %s" % (fixture, " ".join(args))
        base = run_any(env, fixture, args, ["--depth", "1"])
        fast = run_any(env, fixture, args, ["--fast", "--depth", "1"])
        check("%s: exit status with --fast --depth 1" % name, base.status, fast.status)
        check_true("%s: it allocated or mapped" % name,
                   base.summary["allocations"] > 0 or base.process["mappings"],
                   repr(base.summary))
        check("%s: the report with --fast --depth 1" % name, depth1_shape(base),
              depth1_shape(fast))


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


def progress(target):
    """The last maps= and checks= counts fx_attach_target mapping printed."""
    out = target.output()
    maps = re.findall(r"^maps=(\d+)$", out, re.M)
    checks = re.findall(r"^checks=(\d+)$", out, re.M)
    return (int(maps[-1]) if maps else 0, int(checks[-1]) if checks else 0)


def wait_progress(target, past, what):
    """Waits (10 s at most) until both counts have grown past PAST."""
    deadline = time.time() + 10
    while True:
        now = progress(target)
        if now[0] > past[0] and now[1] > past[1]:
            return now
        if target.proc.poll() is not None or time.time() > deadline:
            raise Failure("%s: the target made no progress (%r then %r, exit status %r): %r"
                          % (what, past, now, target.proc.poll(), target.output()[-300:]))
        time.sleep(0.1)


@ctest(timeout=120)
def case_fast_attach_memtrace_killed(env):
    """memtrace attach --fast is SIGKILLed while 8 threads allocate and the
    main thread maps and unmaps memory (mmap stays on an int3): the process
    lives on untraced, its allocations and mappings keep working, and it
    exits 0 with every check right. Its guardian put the bytes under the
    int3s back and switched the stubs to pass calls through."""
    target = AttachTarget(env, "mapping")
    try:
        mt = subprocess.Popen([env.memtrace, "attach", "--fast", str(target.pid)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=child_env())
        wait_traced_by(target.pid, mt)
        wait_progress(target, wait_progress(target, progress(target), "attached"), "attached")
        mt.kill()
        mt.wait()
        log(mt.stderr.read().decode("utf-8", "replace"))
        mt.stderr.close()
        killed_at = progress(target)
        wait_progress(target, wait_progress(target, killed_at, "after SIGKILL"), "after SIGKILL")
        check("TracerPid once memtrace is gone", "0", target.status_field("TracerPid"))
        check_true("the target reported no failure", "FAIL" not in target.output(),
                   target.output()[-300:])
        target.finish()
    finally:
        target.kill()


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


@ctest(timeout=120)
def case_fast_attach_dlopen_after_attach(env):
    """attach --fast, then the process dlopens a library and leaks through
    it: the link-map hook is on a stub too (no int3 stopped the program at
    the dlopen), memtrace reads the new library when it drains that record,
    and the leak's frames name the library's function and the caller's
    line."""
    lib = env.path("libfx_modules_dl.so")
    out_path = os.path.join(env.tmp, "late.out")
    out = open(out_path, "w+")
    argv = [env.fixture("hostile_modules"), "late", lib]
    target = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, env=child_env())

    def wait_output(text):
        deadline = time.time() + 10
        while text not in open(out_path).read():
            if target.poll() is not None or time.time() > deadline:
                raise Failure("fx_hostile_modules late printed no %r: %r"
                              % (text, open(out_path).read()))
            time.sleep(0.02)
    try:
        wait_output("ready=")
        json_path = json_path_for(env, "attach_late_dlopen")
        mt = subprocess.Popen([env.memtrace, "attach", "--fast", "--stats", "--json", json_path,
                               str(target.pid)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
        wait_traced_by(target.pid, mt)
        time.sleep(0.5)
        os.kill(target.pid, signal.SIGUSR1)
        wait_output("loaded=1")
        time.sleep(0.5)
        mt.send_signal(signal.SIGINT)
        stdout, stderr = mt.communicate(timeout=60)
        p = subprocess.CompletedProcess(mt.args, mt.returncode, stdout.decode("utf-8", "replace"),
                                        stderr.decode("utf-8", "replace"))
        t = finish_traced(env, p, json_path, 0, [argv], mode="attach")
        check("process end", "detached", t.process["end"])
        check("errors", [], t.errors)
        stats = fast_stats(t)
        check("traps at the link-map hook, at allocator entries", (0, 0),
              (stats["rendezvous_traps"], stats["entry_traps"]))
        line = env.line("hostile_modules", "late_leak")
        recs = [r for r in t.leaks if r["stack"] and r["stack"][0].get("function") == "modules_dl_alloc"]
        check("leak records allocated in the library loaded after attach", 1, len(recs))
        top, caller = recs[0]["stack"][0], recs[0]["stack"][1]
        check("its frames: the library's function and module, then the caller's line",
              ("modules_dl.c", lib, "late_mode", line),
              (base(top.get("file")), top.get("module"), caller.get("function"), caller.get("line")))
        check_true("64-byte blocks: %s" % leak_str(recs[0]), recs[0]["bytes"] % 64 == 0)
        os.kill(target.pid, signal.SIGTERM)
        check("target exit status", 0, target.wait(timeout=30))
        check_true("target printed ok=N", "\nok=" in open(out_path).read())
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
        out.close()
