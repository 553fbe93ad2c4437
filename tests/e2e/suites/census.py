"""memtrace attach's heap census: the blocks glibc's malloc had handed out
before memtrace came join the leak scan.

fx_census MODE (fixtures/census.cc) leaks a known set of blocks before it
prints "ready=PID" (C++ objects with virtual methods, C structs, trees,
strings), keeps others reachable from globals, then allocates and frees
until SIGTERM.  The sizes are ones malloc gives exactly (the census sees
chunks, not the sizes asked for), so Valgrind run on the same program from
its start must find the same losses."""
import os
import re
import shutil
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, check, check_text_has, check_true, log
from memtrace_e2e.live import AttachTarget
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env, finish_traced, json_path_for, memtrace

BEFORE = "allocated before attach"

# (kind, bytes, blocks, indirect bytes, the record's one frame) of the
# losses fx_census makes before it is ready, one arena's worth.
LOSSES = [
    ("definitely_lost", 672, 12, 0, "(anonymous namespace)::Session (56-byte objects, %s)" % BEFORE),
    ("definitely_lost", 280, 7, 288, "40-byte blocks (%s)" % BEFORE),
    ("indirectly_lost", 288, 4, 0, "72-byte blocks (%s)" % BEFORE),
    ("definitely_lost", 96, 4, 0, "24-byte blocks (%s)" % BEFORE),
    ("definitely_lost", 72, 3, 0,
     "(anonymous namespace)::Connection (24-byte objects, %s)" % BEFORE),
]
KEPT = [("still_reachable", 704, 8, "88-byte blocks (%s)" % BEFORE),
        ("still_reachable", 624, 6, "104-byte blocks (%s)" % BEFORE)]


def census_records(t):
    """The records of blocks from before attach: (kind, bytes, blocks,
    indirect bytes, frame), largest first as the report sorts them."""
    out = []
    for r in t.leaks:
        if r["allocator"] != "unknown":
            continue
        check("frames of a record from before attach", 1, len(r["stack"]))
        check_true("its address is the census's own: %s" % r["stack"][0]["address"],
                   r["stack"][0]["address"].startswith("0xfff"))
        out.append((r["kind"], r["bytes"], r["blocks"], (r.get("indirect") or {}).get("bytes", 0),
                    r["stack"][0]["function"]))
    return out


def lost_and_kept(t):
    recs = census_records(t)
    lost = [r for r in recs if r[0] in ("definitely_lost", "indirectly_lost")]
    kept = [r[:3] + (r[4],) for r in recs if r[4] in [k[3] for k in KEPT]]
    return lost, kept


def attach(env, target, opts=(), name="census", extra_env=None):
    json_path = json_path_for(env, name)
    p = memtrace(env, ["attach", "--json", json_path] + list(opts) + [str(target.pid)],
                 extra_env=extra_env)
    return finish_traced(env, p, json_path, 0, [target.argv], mode="attach")


def census_line(t, pid):
    m = re.search(r"^==%d== heap census: (\d+) blocks \((\d+) bytes\) allocated before attach, "
                  r"in (\d+) arenas? and (\d+) mmapped chunks? \(layout from ([a-z -]+)\), "
                  r"[0-9.]+ ms$" % pid, t.stderr, re.M)
    if not m:
        raise Failure("no census line in the report:\n%s" % t.stderr[-3000:])
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5)


def with_census_target(env, mode, body):
    target = AttachTarget(env, mode, fixture="census")
    try:
        body(target)
    finally:
        target.kill()


def valgrind_losses(env):
    """Valgrind's definitely and indirectly lost (bytes, blocks) for
    fx_census exit: the losses made before ready, at exit."""
    valgrind = shutil.which("valgrind")
    if not valgrind:
        raise Failure("valgrind is needed to compare the census with memcheck")
    p = subprocess.run([valgrind, "--leak-check=full", env.fixture("census"), "exit"],
                       capture_output=True, text=True, env=child_env(), timeout=300)
    check("fx_census exit under valgrind: status", 0, p.returncode)
    out = {}
    for kind in ("definitely", "indirectly"):
        m = re.search(r"%s lost: ([0-9,]+) bytes in ([0-9,]+) blocks" % kind, p.stderr)
        if not m:
            raise Failure("valgrind's summary has no %s lost line:\n%s" % (kind, p.stderr[-2000:]))
        out[kind] = (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")))
    return out


@ctest(timeout=300)
def case_attach_census_names_old_leaks(env):
    """Attach to a process that leaked before memtrace came: its losses are
    reported with exact blocks and bytes, C++ objects by class, the blocks
    kept in globals are still reachable, and the definitely and indirectly
    lost totals are memcheck's for the same program run from its start."""
    def body(target):
        t = attach(env, target, ["--duration", "1"])
        blocks, nbytes, arenas, mmapped, layout = census_line(t, target.pid)
        check("arenas, mmapped chunks", (1, 0), (arenas, mmapped))
        lost, kept = lost_and_kept(t)
        check("records of losses from before attach", LOSSES, lost)
        check("records of blocks kept in globals", sorted(KEPT), sorted(kept))
        check("no other definitely lost record",
              [], [r["stack"][0]["function"] for r in t.leaks
                   if r["kind"] == "definitely_lost" and r["allocator"] != "unknown"])
        check_true("the census counted every reported block (%d blocks)" % blocks,
                   blocks >= sum(r[2] for r in lost) + sum(k[2] for k in KEPT))
        check_text_has("text report", t.stderr,
                       "==%d== 672 bytes in 12 blocks are definitely lost in loss record 1 of 4, "
                       "allocated by a call made before attach\n"
                       "==%d==    at (anonymous namespace)::Session (56-byte objects, "
                       "allocated before attach)\n" % (target.pid, target.pid))
        check_text_has("text report", t.stderr,
                       "==%d== 568 (280 direct, 288 indirect) bytes in 7 blocks are definitely "
                       "lost in loss record 2 of 4" % target.pid)
        vg = valgrind_losses(env)
        check("definitely lost (bytes, blocks): memcheck's from the start == the census's",
              vg["definitely"], (t.summary["definitely_lost"]["bytes"],
                                 t.summary["definitely_lost"]["blocks"]))
        check("indirectly lost (bytes, blocks): memcheck's from the start == the census's",
              vg["indirectly"], (t.summary["indirectly_lost"]["bytes"],
                                 t.summary["indirectly_lost"]["blocks"]))
        check("untracked frees", 0, t.summary["untracked_frees"])
        target.check_untouched()
        target.finish()
    with_census_target(env, "run", body)


def case_attach_census_two_arenas(env):
    """A second thread made the same losses in its own arena: the census
    walks both arenas and every record doubles."""
    def body(target):
        t = attach(env, target, ["--duration", "1"], name="census_threads")
        _, _, arenas, _, _ = census_line(t, target.pid)
        check("arenas", 2, arenas)
        lost, _ = lost_and_kept(t)
        doubled = [(k, b * 2, n * 2, i * 2, f) for k, b, n, i, f in LOSSES]
        check("records of losses from before attach", doubled, lost)
        target.check_untouched()
        target.finish()
    with_census_target(env, "threads", body)


def attach_then_free(env, target, opts, name, after):
    """memtrace attach OPTS on TARGET in the background; once AFTER is in
    its log, SIGUSR2 makes the process free three of its 104-byte blocks
    from before attach. Returns the Traced when memtrace is done."""
    json_path = json_path_for(env, name)
    log_path = os.path.join(env.tmp, name + ".log")
    p = subprocess.Popen([env.memtrace, "attach", "--json", json_path, "-o", log_path] +
                         list(opts) + [str(target.pid)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env())
    deadline = time.monotonic() + 60
    while True:
        text = open(log_path).read() if os.path.exists(log_path) else ""
        if after in text:
            break
        if p.poll() is not None or time.monotonic() > deadline:
            raise Failure("memtrace did not write %r: %r" % (after, text))
        time.sleep(0.02)
    os.kill(target.pid, signal.SIGUSR2)
    out, _ = p.communicate(timeout=120)
    check_true("the process freed three 104-byte blocks", "freed" in target.output())
    with open(log_path) as fh:
        text = fh.read()
    return finish_traced(env, subprocess.CompletedProcess(p.args, p.returncode, out, text),
                         json_path, 0, [target.argv], mode="attach")


@ctest(timeout=120)
def case_attach_census_frees_known(env):
    """Blocks from before attach that the process frees while memtrace is
    there are frees of known blocks: no untracked free, and they are gone
    from the report."""
    def body(target):
        t = attach_then_free(env, target, ["--duration", "2"], "census_frees",
                             "attached to pid %d" % target.pid)
        check("untracked frees", 0, t.summary["untracked_frees"])
        _, kept = lost_and_kept(t)
        check("records of blocks kept in globals",
              sorted([KEPT[0], ("still_reachable", 312, 3, KEPT[1][3])]), sorted(kept))
        target.check_untouched()
        target.finish()
    with_census_target(env, "run", body)


@ctest(timeout=120)
def case_attach_leak_check_changed(env):
    """--leak-check=changed --show-leak-kinds=all: after the first check,
    the process frees three of its six 104-byte blocks from before attach;
    the next check lists that still reachable record with its decrease,
    and no record that did not change."""
    def body(target):
        t = attach_then_free(env, target, ["--duration", "3.6", "--leak-check-every", "1",
                                           "--leak-check=changed", "--show-leak-kinds=all"],
                             "census_changed", "LEAK SUMMARY (check 1)")
        checks = t.process["leak_checks"]
        check("leak check mode", "changed", t.process["leak_check_mode"])
        check_true("at least 3 checks: %d" % len(checks), len(checks) >= 3)
        later = [(r["kind"], r["bytes"], r["blocks"], r["bytes_delta"], r["blocks_delta"],
                  r["stack"][0]["function"]) for c in checks[1:] for r in c["records"]
                 if r["allocator"] == "unknown"]
        check("records from before attach that changed after check 1",
              [("still_reachable", 312, 3, -312, -3, KEPT[1][3])], later)
        target.check_untouched()
        target.finish()
    with_census_target(env, "run", body)


def case_attach_census_corrupt_heap(env):
    """A chunk header overwritten on purpose: the census stops at it with a
    warning naming the chunk, the attach goes on without it (memory outside
    the blocks allocated since attach is a root), and the process runs on."""
    def body(target):
        t = attach(env, target, ["--duration", "1"], name="census_corrupt")
        check_true("the warning names the bad chunk", re.search(
            r"^memtrace: warning: pid %d: no census of the heap: the chunk at 0x[0-9a-f]+ has a "
            r"bad size field 0x13; blocks allocated before attach are not reported$"
            % target.pid, t.stderr, re.M), t.stderr[-2000:])
        check("records from before attach", [], census_records(t))
        check("definitely lost", 0, t.summary["definitely_lost"]["blocks"])
        target.check_untouched()
        target.finish()
    with_census_target(env, "corrupt", body)


def case_attach_census_layout_sources(env):
    """Without libc's debug info memtrace takes the layout from its table of
    glibc builds it knows: the census is the same. A build it does not
    know is refused with a message naming it. --no-census takes none;
    --show-contents labels a group without a class with one block's first
    bytes."""
    def body(target):
        t = attach(env, target, ["--duration", "0.5"], name="census_dwarf")
        blocks, nbytes, _, _, layout = census_line(t, target.pid)
        check("layout source with libc6-dbg", "debug info", layout)
        c = t.process["census"]
        check("JSON census: blocks, bytes, layout", (blocks, nbytes, "debug info"),
              (c["blocks"], c["bytes"], c["layout_from"]))
        t2 = attach(env, target, ["--duration", "0.5"], name="census_table",
                    extra_env={"MEMTRACE_CENSUS_LAYOUT": "table"})
        libc = re.search(r"^\S+ \S+ \S+ \S+ \S+\s+(/\S*/libc\.so\.6)$",
                         open("/proc/%d/maps" % target.pid).read(), re.M).group(1)
        notes = subprocess.run(["readelf", "-n", libc], capture_output=True, text=True).stdout
        build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
        known = build_id in open(os.path.join(env.source_dir, "..", "tracer", "tracee",
                                              "heap_census.c")).read()
        log("libc %s, build-id %s, in the table: %s" % (libc, build_id, known))
        if known:
            check("census from the table == census from debug info", (blocks, nbytes),
                  census_line(t2, target.pid)[:2])
            check("layout source", "known build-id", census_line(t2, target.pid)[4])
            check("records", lost_and_kept(t), lost_and_kept(t2))
        else:
            check_text_has("the refusal", t2.stderr,
                           "memtrace: warning: pid %d: no census of the heap: %s (build-id %s) "
                           "is a glibc memtrace does not know, and has no debug info with "
                           "malloc's layout (Debian: apt install libc6-dbg)"
                           % (target.pid, libc, build_id))
        t3 = attach(env, target, ["--duration", "0.5", "--no-census"], name="census_off")
        check_true("--no-census: no census line", "heap census" not in t3.stderr)
        check("--no-census: no records from before attach", [], census_records(t3))
        check("--no-census: JSON census", None, t3.process["census"])
        t4 = attach(env, target, ["--duration", "0.5", "--show-contents"], name="census_contents")
        frames = [r[4] for r in census_records(t4) if r[0] == "definitely_lost"]
        check_true("--show-contents: the lost strings' group shows one of them: %r" % frames,
                   "24-byte blocks (allocated before attach; one starts 74 68 65 20 66 69 72 73 "
                   "74 20 6c 6f 73 74 20 73 |the first lost s|)" in frames)
        check_true("--show-contents: a class's group stays named by its class",
                   "(anonymous namespace)::Session (56-byte objects, %s)" % BEFORE in frames)
        target.check_untouched()
        target.finish()
    with_census_target(env, "run", body)


def periodic_records(check_obj):
    return [(r["kind"], r["stack"][0]["function"], r["stack"][0]["line"], r["new"])
            for r in check_obj["records"]]


@ctest(timeout=180)
def case_attach_leak_check_every(env):
    """--leak-check-every 1 on a process that leaks one block every 100 ms
    from leak_periodically() and allocates and frees elsewhere: each check
    stops it for a bounded time, the first lists every definitely lost
    record (all new), the next three only leak_periodically's, growing; the
    JSON has the series; the final report comes at detach as usual."""
    def body(target):
        t = attach(env, target, ["--duration", "5.6", "--leak-check-every", "1"],
                   name="census_periodic")
        checks = t.process["leak_checks"]
        check("leak check mode", "increased", t.process["leak_check_mode"])
        check_true("at least 4 checks in 5.6 s: %d" % len(checks), len(checks) >= 4)
        line = env.line("census.cc", "periodic_leak")
        leak = ("definitely_lost", "leak_periodically", line)
        first = periodic_records(checks[0])
        check_true("check 1 lists leak_periodically's record, new: %r" % first,
                   leak + (True,) in first)
        check("check 1: every listed record is new and definitely lost",
              [True] * len(first), [r[3] and r[0] == "definitely_lost" for r in first])
        before = set(f[4] for f in LOSSES if f[0] == "definitely_lost")
        check_true("check 1 lists the losses from before attach too",
                   before <= set(r[1] for r in first))
        last_bytes = None
        for c in checks[1:4]:
            check("check %d lists only leak_periodically's record, grown" % c["number"],
                  [leak + (False,)], periodic_records(c))
            r = c["records"][0]
            check_true("check %d: it grew by whole blocks of 40 bytes: %+d blocks, %+d bytes" % (
                c["number"], r["blocks_delta"], r["bytes_delta"]),
                r["blocks_delta"] >= 3 and r["bytes_delta"] == 40 * r["blocks_delta"])
            check_true("check %d: bytes grow from check to check" % c["number"],
                       last_bytes is None or r["bytes"] > last_bytes)
            last_bytes = r["bytes"]
            check("check %d: definitely lost grew by that record's growth" % c["number"],
                  r["bytes_delta"], c["summary"]["definitely_lost"]["bytes_delta"])
        times = [c["t_s"] for c in checks]
        check_true("checks about a second apart: %r" % times,
                   all(0.9 <= b - a <= 2.0 for a, b in zip(times, times[1:])))
        for c in checks:
            check_true("check %d: stop-the-world %.1f ms, under a second" % (
                c["number"], c["stop_the_world_ms"]), 0 < c["stop_the_world_ms"] < 1000)
        check_text_has("text report", t.stderr, "==%d== leak check 2 after " % target.pid)
        check_true("text: check 2 lists 1 record", re.search(
            r"^==%d== leak check 2 after [0-9.]+ s \(increased\): stop-the-world [0-9.]+ ms for "
            r"\d+ blocks; 1 of \d+ loss records listed$" % target.pid, t.stderr, re.M),
            t.stderr[-3000:])
        check_true("text: the grown record with its change", re.search(
            r"^==%d== \d+ \(\+\d+\) bytes in \d+ \(\+\d+\) blocks are definitely lost in "
            r"loss record 1 of 1, allocated by malloc\(\)\n==%d==    at 0x[0-9a-f]+: "
            r"leak_periodically \(census.cc:%d\)$" % (target.pid, target.pid, line),
            t.stderr, re.M), t.stderr[-3000:])
        target.check_untouched()
        target.finish()
    with_census_target(env, "periodic", body)


def case_attach_leak_check_full(env):
    """--leak-check=full lists every shown record at each check, changed or
    not; a mode that does not exist is refused."""
    def body(target):
        t = attach(env, target, ["--duration", "2.5", "--leak-check-every", "1",
                                 "--leak-check=full"], name="census_full")
        checks = t.process["leak_checks"]
        check_true("at least 2 checks: %d" % len(checks), len(checks) >= 2)
        for c in checks:
            kinds = set(r["kind"] for r in c["records"])
            check_true("check %d lists definitely lost records only (the default kinds): %r"
                       % (c["number"], kinds), kinds == {"definitely_lost"})
        check("check 2 lists check 1's records again",
              sorted(r[:3] for r in periodic_records(checks[0])),
              sorted(r[:3] for r in periodic_records(checks[1])))
        target.check_untouched()
        target.finish()
    with_census_target(env, "periodic", body)
    p = memtrace(env, ["attach", "--leak-check=sometimes", "1"])
    check("a mode that does not exist", (2, "memtrace: --leak-check takes increased, changed or "
                                            "full, not 'sometimes'\n"), (p.returncode, p.stderr))
