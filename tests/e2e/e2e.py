#!/usr/bin/env python3
"""End-to-end tests for memtrace: run the real tool on the fixture programs.

    e2e.py --memtrace PATH --fixtures-dir DIR --source-dir DIR CASE
    e2e.py --list

--fixtures-dir holds the built fx_* programs, --source-dir their sources
(fixtures/*.c).  Source lines are never hard-coded: each checked line
carries a `/* @mark:NAME */` comment and is looked up by name.

Exit status: 0 pass, 1 fail (expected vs actual is printed), 77 skip
(only when memtrace says the kernel does not permit ptrace).
Standard library only.
"""

import argparse
import json
import os
import re
import shlex
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import traceback

SKIP = 77
RUN_TIMEOUT = 100  # seconds; ctest's TIMEOUT is 120

# glibc before 2.38 exports aligned_alloc and memalign at one address, so a
# tracer that hooks by address cannot tell which name the program called.
ALIGNED_NAMES = {"aligned_alloc", "memalign"}


class Failure(Exception):
    pass


class Skip(Exception):
    pass


# ---------------------------------------------------------------- helpers

def log(msg):
    print(msg, flush=True)


def check(what, expected, actual):
    """Equality check that says what it checked."""
    if expected != actual:
        raise Failure("%s:\n  expected: %r\n  actual:   %r" % (what, expected, actual))
    log("ok: %s == %r" % (what, actual))


def check_true(what, cond, detail=""):
    if not cond:
        raise Failure("%s%s" % (what, ("\n  " + detail) if detail else ""))
    log("ok: %s" % what)


def base(path):
    return os.path.basename(path) if isinstance(path, str) else path


def frame_str(f):
    return "%s %s:%s [%s]" % (f.get("function"), base(f.get("file")),
                              f.get("line"), base(f.get("module")))


def stack_str(stack):
    if stack is None:
        return "null"
    return "\n".join("      #%d %s" % (i, frame_str(f)) for i, f in enumerate(stack))


def leak_str(rec):
    return "%s %s bytes in %s blocks (%s)\n%s" % (
        rec.get("kind"), rec.get("bytes"), rec.get("blocks"),
        rec.get("allocator"), stack_str(rec.get("stack")))


class Env:
    def __init__(self, memtrace, fixtures_dir, source_dir, tmp):
        self.memtrace = os.path.abspath(memtrace)
        self.fixtures_dir = os.path.abspath(fixtures_dir)
        self.source_dir = os.path.abspath(source_dir)
        self.tmp = tmp
        self.last = None  # the last Traced run, for failure reports
        self._marks = {}

    def fixture(self, name):
        path = os.path.join(self.fixtures_dir, "fx_" + name)
        if not os.access(path, os.X_OK):
            raise Failure("fixture %s not built (did the build run?)" % path)
        return path

    def marks(self, name):
        """{mark name: line number} for fixtures/<name>.c."""
        if name not in self._marks:
            src = os.path.join(self.source_dir, name + ".c")
            found = {}
            with open(src) as fh:
                for lineno, line in enumerate(fh, 1):
                    for m in re.finditer(r"/\*\s*@mark:(\w+)\s*\*/", line):
                        if m.group(1) in found:
                            raise Failure("%s: mark %s twice" % (src, m.group(1)))
                        found[m.group(1)] = lineno
            self._marks[name] = found
        return self._marks[name]

    def line(self, fixture, mark):
        marks = self.marks(fixture)
        if mark not in marks:
            raise Failure("%s.c has no /* @mark:%s */" % (fixture, mark))
        return marks[mark]


def child_env():
    env = dict(os.environ)
    # libdw would ask the network for every module without local debuginfo
    env.pop("DEBUGINFOD_URLS", None)
    return env


def run(cmd, what):
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=RUN_TIMEOUT, env=child_env())
    except subprocess.TimeoutExpired:
        raise Failure("%s: still running after %d s" % (what, RUN_TIMEOUT))
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


class Traced:
    """One memtrace run: exit status, output, parsed JSON."""

    def __init__(self, proc, doc):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.doc = doc

    @property
    def process(self):
        return self.doc["processes"][0]

    @property
    def summary(self):
        return self.process["summary"]

    @property
    def leaks(self):
        return self.process["leaks"]

    @property
    def errors(self):
        return self.process["errors"]

    def dump(self):
        out = ["--- memtrace exit status: %r" % self.status,
               "--- memtrace stderr (last 4000 chars):", self.stderr[-4000:]]
        if self.doc is not None:
            try:
                proc = self.process
                out += ["--- JSON process: end=%r exit_code=%r signal=%r" % (
                            proc.get("end"), proc.get("exit_code"), proc.get("signal")),
                        "--- JSON summary: " + json.dumps(proc.get("summary"))]
                out += ["--- JSON leak record %d: %s" % (i, leak_str(r))
                        for i, r in enumerate(proc.get("leaks") or [])]
                for i, e in enumerate(proc.get("errors") or []):
                    out.append("--- JSON error %d: %s at %s\n%s" % (
                        i, e.get("kind"), e.get("address"), stack_str(e.get("stack"))))
                    for k in ("free_stack", "alloc_stack"):
                        out.append("    %s:\n%s" % (k, stack_str(e.get(k))))
            except (KeyError, IndexError, TypeError, AttributeError):
                out += ["--- JSON:", json.dumps(self.doc, indent=1)[:12000]]
        return "\n".join(out)


def exit_status(returncode):
    """A shell-style status: 128+N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def memtrace(env, args, what="memtrace"):
    """Runs memtrace with ARGS; skips the case if ptrace is forbidden.
    memtrace reports a target's death by signal N as exit status 128+N;
    memtrace itself being killed by a signal is always a failure."""
    p = run([env.memtrace] + args, what)
    if p.returncode < 0:
        raise Failure("memtrace itself was killed by %s\nstderr (last 4000 chars):\n%s" % (
            signal.Signals(-p.returncode).name, p.stderr[-4000:]))
    if p.returncode == 2 and "ptrace not permitted" in p.stderr:
        raise Skip(p.stderr.strip())
    return p


def trace(env, fixture, prog_args=(), opts=(), status=0):
    """memtrace run --json FILE OPTS -- fx_FIXTURE PROG_ARGS; checks the
    exit status and the JSON's shape, returns a Traced."""
    prog = env.fixture(fixture)
    json_path = os.path.join(env.tmp, "%s.json" % fixture)
    if os.path.exists(json_path):
        os.unlink(json_path)
    p = memtrace(env, ["run", "--json", json_path] + list(opts) + ["--", prog]
                 + list(prog_args))
    env.last = t = Traced(p, None)  # dumped by main() if a check fails
    if not os.path.exists(json_path):
        raise Failure("memtrace wrote no JSON file %s" % json_path)
    with open(json_path) as fh:
        try:
            t.doc = json.load(fh)
        except ValueError as e:
            raise Failure("JSON file %s does not parse: %s" % (json_path, e))
    check("memtrace exit status", status, t.status)
    check_shape(t.doc, [prog] + list(prog_args))
    return t


def native(env, fixture, prog_args=()):
    p = run([env.fixture(fixture)] + list(prog_args), "native " + fixture)
    return p


# ------------------------------------------------------- JSON shape checks

SUMMARY_PAIRS = ("unfreed", "definitely_lost", "indirectly_lost",
                 "possibly_lost", "still_reachable")


def check_shape(doc, command):
    """Checks everything every JSON report must satisfy."""
    check("JSON version", 1, doc.get("version"))
    check_true("JSON tool starts with 'memtrace '",
               str(doc.get("tool", "")).startswith("memtrace "), repr(doc.get("tool")))
    check("JSON mode", "run", doc.get("mode"))
    procs = doc.get("processes")
    check("number of JSON processes", 1, len(procs) if isinstance(procs, list) else procs)
    proc = procs[0]
    keys = ("pid", "command", "end", "exit_code", "signal", "summary", "leaks", "errors",
            "mappings")
    check("missing process keys", [], [k for k in keys if k not in proc])
    check_true("pid is a positive integer",
               isinstance(proc["pid"], int) and proc["pid"] > 0, repr(proc["pid"]))
    check("process command", command, proc["command"])
    s = proc["summary"]
    keys = ("allocations", "frees", "bytes_allocated", "errors") + SUMMARY_PAIRS
    check("missing summary keys", [], [k for k in keys if k not in s])
    check("summary pairs without integer bytes and blocks", [],
          [k for k in SUMMARY_PAIRS if not (isinstance(s[k], dict) and all(
              isinstance(s[k].get(f), int) for f in ("bytes", "blocks")))])
    leaks = proc["leaks"]
    sizes = [r["bytes"] for r in leaks]
    check_true("leak records sorted by bytes, descending",
               sizes == sorted(sizes, reverse=True), repr(sizes))
    check("summary.unfreed.bytes == sum of leak record bytes",
          s["unfreed"]["bytes"], sum(sizes))
    check("summary.unfreed.blocks == sum of leak record blocks",
          s["unfreed"]["blocks"], sum(r["blocks"] for r in leaks))
    check("summary.errors == number of error records", s["errors"], len(proc["errors"]))
    keys = [(r["allocator"], json.dumps(r["stack"], sort_keys=True)) for r in leaks]
    check_true("one leak record per (allocator, stack)",
               len(keys) == len(set(keys)))


def check_exited(t, code):
    check("process end", "exited", t.process["end"])
    check("process exit_code", code, t.process["exit_code"])
    check("process signal", None, t.process["signal"])


def check_summary(t, **expected):
    """check_summary(t, allocations=4, unfreed=(30, 1), ...)"""
    for key, want in expected.items():
        got = t.summary[key]
        if isinstance(want, tuple):
            got = (got["bytes"], got["blocks"])
        check("summary.%s" % key, want, got)


def check_frame(what, frame, function, file, line, module=None):
    got = (frame.get("function"), base(frame.get("file")), frame.get("line"))
    check(what, (function, file, line), got)
    if module is not None:
        check(what + " module", module, base(frame.get("module")))


def single_leak(t):
    if len(t.leaks) != 1:
        raise Failure("expected exactly one leak record, got %d:\n%s" % (
            len(t.leaks), "\n".join(leak_str(r) for r in t.leaks)))
    log("ok: exactly one leak record")
    return t.leaks[0]


def check_leak(rec, kind, nbytes, blocks, allocators):
    check("leak kind", kind, rec["kind"])
    check("leak bytes", nbytes, rec["bytes"])
    check("leak blocks", blocks, rec["blocks"])
    if isinstance(allocators, str):
        check("leak allocator", allocators, rec["allocator"])
    else:
        check_true("leak allocator in %s" % sorted(allocators),
                   rec["allocator"] in allocators, repr(rec["allocator"]))


def first_frame_in(stack, filename):
    for f in stack or []:
        if base(f.get("file")) == filename:
            return f
    return None


def stdout_ptrs(text):
    """{"label": int} from the fixture's "label=0x..." lines."""
    return {m.group(1): int(m.group(2), 16)
            for m in re.finditer(r"^(\w+)=(0x[0-9a-f]+)$", text, re.M)}


def check_text_has(what, text, needle, case=True):
    hay, ndl = (text, needle) if case else (text.lower(), needle.lower())
    check_true("%s contains %r" % (what, needle), ndl in hay,
               "text (last 3000 chars):\n" + text[-3000:])


# ------------------------------------------------------------------ cases
#
# Each case states what Valgrind 3.19 (memcheck, --leak-check=full) reported
# for the same fixture on Debian 12 / glibc 2.36 / gcc 12 at -O0.

def case_seed(env):
    # Valgrind: "Invalid free()" at seed.c second free(p4), "0 bytes inside a
    # block of size 40 free'd" at the first free(p4), "alloc'd at" the p4
    # malloc; 30 bytes in 1 blocks definitely lost at the p3 line;
    # "4 allocs, 4 frees, 100 bytes allocated" (Valgrind counts the bad free;
    # memtrace skips it, so it reports 3 frees).
    n = native(env, "seed")
    check("native status (glibc aborts on the double free)",
          128 + signal.SIGABRT, exit_status(n.returncode))
    check_text_has("native stderr", n.stderr, "double free")

    line = lambda m: env.line("seed", m)
    t = trace(env, "seed", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=4, frees=3, bytes_allocated=100,
                  unfreed=(30, 1), errors=1)
    rec = single_leak(t)
    check_leak(rec, "unfreed", 30, 1, "malloc")
    check_frame("leak stack[0]", rec["stack"][0], "main", "seed.c", line("leak"), "fx_seed")

    check("number of errors", 1, len(t.errors))
    err = t.errors[0]
    check("error kind", "double_free", err["kind"])
    check("error function", "free", err["function"])
    p4 = stdout_ptrs(t.stdout).get("p4")
    check_true("fixture printed p4's address", p4 is not None, repr(t.stdout))
    check("error address", hex(p4), hex(int(err["address"], 16)))
    check_frame("error stack[0] (second free)", err["stack"][0],
                "main", "seed.c", line("double_free"), "fx_seed")
    check_frame("error free_stack[0] (first free)", err["free_stack"][0],
                "main", "seed.c", line("first_free"), "fx_seed")
    check_frame("error alloc_stack[0] (p4 malloc)", err["alloc_stack"][0],
                "main", "seed.c", line("p4_alloc"), "fx_seed")

    check_text_has("text report (stderr)", t.stderr, "seed.c:%d" % line("leak"))
    check_text_has("text report (stderr)", t.stderr, "double free", case=False)


def case_seed_error_exitcode(env):
    # Same findings as case_seed; --error-exitcode turns them into status 9.
    t = trace(env, "seed", opts=["--error-exitcode", "9"], status=9)
    check_exited(t, 0)
    check_summary(t, unfreed=(30, 1), errors=1)


def case_seed_output_file(env):
    # -o FILE: the text report goes to FILE instead of stderr.
    out = os.path.join(env.tmp, "report.txt")
    t = trace(env, "seed", opts=["-o", out], status=0)
    check_true("report file %s exists" % out, os.path.exists(out))
    with open(out) as fh:
        text = fh.read()
    leak = "seed.c:%d" % env.line("seed", "leak")
    check_text_has("report file", text, leak)
    check_text_has("report file", text, "double free", case=False)
    check_true("stderr does not contain the report (%r)" % leak, leak not in t.stderr,
               "stderr:\n" + t.stderr[-3000:])


def case_json_stdout(env):
    # --json - writes the JSON document to stdout (fx_clean prints nothing).
    prog = env.fixture("clean")
    p = memtrace(env, ["run", "--json", "-", "--", prog])
    check("memtrace exit status", 0, p.returncode)
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        raise Failure("stdout is not one JSON document: %s\nstdout:\n%s" % (e, p.stdout[:3000]))
    check_shape(doc, [prog])
    check("leaks", [], doc["processes"][0]["leaks"])


def case_loop_leak(env):
    # Valgrind: 2,400 bytes in 100 blocks definitely lost at loop_leak.c
    # leak line; "150 allocs, 50 frees, 8,625 bytes allocated".
    check("native status", 0, native(env, "loop_leak").returncode)
    t = trace(env, "loop_leak", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=150, frees=50, bytes_allocated=8625,
                  unfreed=(2400, 100), errors=0)
    rec = single_leak(t)
    check_leak(rec, "unfreed", 2400, 100, "malloc")
    line = env.line("loop_leak", "leak")
    check_frame("leak stack[0]", rec["stack"][0], "main", "loop_leak.c", line, "fx_loop_leak")
    check("errors", [], t.errors)
    check_text_has("text report (stderr)", t.stderr, "loop_leak.c:%d" % line)


def case_two_paths(env):
    # Valgrind: 48 bytes in 3 blocks (leak16 <- path_a <- main) and 16 bytes
    # in 1 blocks (leak16 <- path_b <- main), both definitely lost;
    # "4 allocs, 0 frees, 64 bytes allocated".
    check("native status", 0, native(env, "two_paths").returncode)
    line = lambda m: env.line("two_paths", m)
    t = trace(env, "two_paths", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=4, frees=0, bytes_allocated=64,
                  unfreed=(64, 4), errors=0)
    check("number of leak records", 2, len(t.leaks))
    for rec, nbytes, blocks, path, call, main_call in (
            (t.leaks[0], 48, 3, "path_a", "call_a", "main_a"),
            (t.leaks[1], 16, 1, "path_b", "call_b", "main_b")):
        log("-- record from %s" % path)
        check_leak(rec, "unfreed", nbytes, blocks, "malloc")
        check_true("stack has >= 3 frames", len(rec["stack"]) >= 3, stack_str(rec["stack"]))
        check_frame("stack[0]", rec["stack"][0], "leak16", "two_paths.c",
                    line("helper_alloc"), "fx_two_paths")
        check_frame("stack[1]", rec["stack"][1], path, "two_paths.c", line(call))
        check_frame("stack[2]", rec["stack"][2], "main", "two_paths.c", line(main_call))


def case_family(env):
    # Valgrind (it aborts the program at pvalloc, which is last; all else is
    # checked): calloc 40 (calloc), realloc 4096 (realloc), 100 at
    # realloc_null (malloc: Valgrind's realloc(NULL) calls malloc),
    # posix_memalign 200, aligned_alloc 256, memalign 72, valloc 300,
    # reallocarray 60, strdup 9 (malloc <- strdup), fopen 472 (malloc <-
    # __fopen_internal); "12 allocs, 2 frees" before pvalloc.  The 8-byte
    # realloc source block is not reported.
    check("native status", 0, native(env, "family").returncode)
    exp = [  # (mark, allocators, bytes or None = any > 0)
        ("calloc", {"calloc"}, 40),
        ("realloc_move", {"realloc"}, 4096),
        ("realloc_null", {"realloc"}, 100),
        ("posix_memalign", {"posix_memalign"}, 200),
        ("aligned_alloc", ALIGNED_NAMES, 256),
        ("memalign", ALIGNED_NAMES, 72),
        ("valloc", {"valloc"}, 300),
        ("reallocarray", {"reallocarray"}, 60),
        ("strdup", {"malloc"}, len("memtrace") + 1),
        ("fopen", None, None),
        ("pvalloc", {"pvalloc"}, 8192),
    ]
    t = trace(env, "family", status=0)
    check_exited(t, 0)
    # 13 allocations: 11 leaked blocks + the realloc source + the blocker;
    # 2 frees: the blocker and the block the realloc moved away from.
    check_summary(t, allocations=13, frees=2, errors=0)
    check("summary.unfreed.blocks", 11, t.summary["unfreed"]["blocks"])

    by_line = {}
    for rec in t.leaks:
        f = first_frame_in(rec["stack"], "family.c")
        by_line.setdefault(f["line"] if f else None, []).append(rec)
    expected_lines = {env.line("family", m) for m, _, _ in exp}
    stray = {ln: recs for ln, recs in by_line.items() if ln not in expected_lines}
    if stray:
        raise Failure("leak records at unexpected family.c lines %s (marks: %s):\n%s" % (
            sorted(stray, key=str), env.marks("family"),
            "\n".join(leak_str(r) for recs in stray.values() for r in recs)))
    log("ok: no leak record outside the marked lines (realloc source not reported)")

    for mark, allocators, nbytes in exp:
        log("-- %s" % mark)
        line = env.line("family", mark)
        recs = by_line.get(line, [])
        check("records whose first family.c frame is line %d (%s)" % (line, mark),
              1, len(recs))
        rec = recs[0]
        if nbytes is None:  # fopen: glibc's internals decide size and allocator
            check("leak kind", "unfreed", rec["kind"])
            check_true("fopen leak bytes > 0", rec["bytes"] > 0, repr(rec["bytes"]))
        else:
            check_leak(rec, "unfreed", nbytes, 1, allocators)
        if mark in ("strdup", "fopen"):
            check_true("stack[0] is inside libc",
                       base(rec["stack"][0].get("module") or "").startswith("libc"),
                       stack_str(rec["stack"]))
        else:
            check_frame("stack[0]", rec["stack"][0], "main", "family.c", line, "fx_family")


def case_invalid_free(env):
    # Valgrind: "Invalid free()" at stack_free ("Address ... is on thread 1's
    # stack") and at mid_free ("16 bytes inside a block of size 64 alloc'd");
    # "All heap blocks were freed"; 1 allocs (its "3 frees" count the bad ones).
    n = native(env, "invalid_free")
    check("native status (glibc aborts on the stack address)",
          128 + signal.SIGABRT, exit_status(n.returncode))
    check_text_has("native stderr", n.stderr, "free(): invalid pointer")

    t = trace(env, "invalid_free", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=1, frees=1, bytes_allocated=64, unfreed=(0, 0), errors=2)
    check("leaks", [], t.leaks)
    check("number of errors", 2, len(t.errors))
    ptrs = stdout_ptrs(t.stdout)
    check("addresses printed by the fixture", ["mid", "stack"], sorted(ptrs))
    by_line = {e["stack"][0].get("line") if e.get("stack") else None: e for e in t.errors}
    for mark, label in (("stack_free", "stack"), ("mid_free", "mid")):
        log("-- %s" % mark)
        line = env.line("invalid_free", mark)
        err = by_line.get(line)
        check_true("an error whose stack[0] is invalid_free.c:%d" % line, err is not None,
                   "\n".join("%s\n%s" % (e.get("kind"), stack_str(e.get("stack")))
                             for e in t.errors))
        check("error kind", "invalid_free", err["kind"])
        check("error function", "free", err["function"])
        check("error address", hex(ptrs[label]), hex(int(err["address"], 16)))
        check_frame("error stack[0]", err["stack"][0], "main", "invalid_free.c", line,
                    "fx_invalid_free")
        check("error alloc_stack", None, err["alloc_stack"])
        check("error free_stack", None, err["free_stack"])


def clean_case(env, prog_args, status, opts=()):
    # Valgrind: "7 allocs, 7 frees, 8,414 bytes allocated", no leaks, no errors.
    check("native status", status, native(env, "clean", prog_args).returncode)
    t = trace(env, "clean", prog_args, opts=opts, status=status)
    check_exited(t, status)
    # 8414 = 100 + 10*10 + 16 + 8000 (realloc) + 128 + 64 + 6 ("clean")
    check_summary(t, allocations=7, frees=7, bytes_allocated=8414,
                  unfreed=(0, 0), errors=0)
    check("leaks", [], t.leaks)
    check("errors", [], t.errors)


def case_clean_0(env):
    clean_case(env, [], 0)


def case_clean_3(env):
    clean_case(env, ["3"], 3)


def case_clean_error_exitcode(env):
    # nothing found: --error-exitcode does not replace the program's status
    clean_case(env, ["3"], 3, opts=["--error-exitcode", "9"])
    clean_case(env, [], 0, opts=["--error-exitcode", "9"])


PAIRS_N = 100000


def pairs_bytes(n):
    """The sizes fx_pairs draws, summed (same generator as pairs.c)."""
    state, total = 12345, 0
    for _ in range(n):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        total += 16 + (state >> 8) % (4096 - 16 + 1)
    return total


def case_pairs(env):
    # Valgrind (N=1000): "1,000 allocs, 1,000 frees, 2,051,474 bytes allocated".
    check("native status", 0, native(env, "pairs", ["1000"]).returncode)
    t = trace(env, "pairs", [str(PAIRS_N)], opts=["--stats"], status=0)
    check_exited(t, 0)
    check_summary(t, allocations=PAIRS_N, frees=PAIRS_N, bytes_allocated=pairs_bytes(PAIRS_N),
                  unfreed=(0, 0), errors=0)
    stats = t.doc.get("stats")
    check_true("JSON has stats", isinstance(stats, dict), repr(stats))
    for key in ("traps", "entry_traps", "return_traps", "rendezvous_traps", "single_steps",
                "unwinds", "ptrace_calls"):
        check_true("stats.%s is an integer" % key, isinstance(stats.get(key), int),
                   repr(stats))
    log("stats: %s" % json.dumps(stats))
    # The hot-path bound: at most 2 traps per malloc-family call and 1 per
    # free. Link-map changes (rendezvous_traps, once or twice at startup) are
    # the only other traps.
    limit = 2 * t.summary["allocations"] + t.summary["frees"]
    call_traps = stats["entry_traps"] + stats["return_traps"]
    check_true("entry_traps + return_traps <= 2*allocations + frees (%d)" % limit,
               call_traps <= limit, "entry + return traps = %d" % call_traps)
    check("stats.traps", call_traps + stats["rendezvous_traps"], stats["traps"])
    check_true("stats.rendezvous_traps <= 4", stats["rendezvous_traps"] <= 4,
               "rendezvous_traps = %d" % stats["rendezvous_traps"])
    check("stats.single_steps", 0, stats["single_steps"])


def deep_case(env, opts, nframes):
    # Valgrind: 48 bytes in 1 blocks definitely lost: f0, f1, f2, f3, main
    # at their call lines.
    check("native status", 0, native(env, "deep").returncode)
    line = lambda m: env.line("deep", m)
    t = trace(env, "deep", opts=opts, status=0)
    check_exited(t, 0)
    check_summary(t, allocations=1, frees=0, unfreed=(48, 1), errors=0)
    rec = single_leak(t)
    check_leak(rec, "unfreed", 48, 1, "malloc")
    want = [("f0", "f0_alloc"), ("f1", "f1_call"), ("f2", "f2_call"),
            ("f3", "f3_call"), ("main", "main_call")][:nframes]
    stack = rec["stack"]
    if opts:
        check("number of frames with %s" % " ".join(opts), nframes, len(stack))
    else:
        check_true("at least %d frames" % nframes, len(stack) >= nframes, stack_str(stack))
    for i, (fn, mark) in enumerate(want):
        check_frame("stack[%d]" % i, stack[i], fn, "deep.c", line(mark), "fx_deep")


def case_deep(env):
    deep_case(env, [], 5)


def case_deep_depth2(env):
    deep_case(env, ["--depth", "2"], 2)


def signal_case(env, prog_args, signo, signame):
    # Valgrind: "Process terminating with default action of signal";
    # 64 bytes in 1 blocks still reachable at signal_exit.c leak line.
    n = native(env, "signal_exit", prog_args)
    check("native status", 128 + signo, exit_status(n.returncode))
    t = trace(env, "signal_exit", prog_args, status=128 + signo)
    check("process end", "signaled", t.process["end"])
    check("process signal", signame, t.process["signal"])
    check_summary(t, allocations=1, frees=0, unfreed=(64, 1), errors=0)
    rec = single_leak(t)
    check_leak(rec, "unfreed", 64, 1, "malloc")
    line = env.line("signal_exit", "leak")
    check_frame("leak stack[0]", rec["stack"][0], "main", "signal_exit.c", line,
                "fx_signal_exit")
    check_text_has("text report (stderr)", t.stderr, "signal_exit.c:%d" % line)


def case_signal_segv(env):
    signal_case(env, [], signal.SIGSEGV, "SIGSEGV")


def case_signal_abort(env):
    signal_case(env, ["abort"], signal.SIGABRT, "SIGABRT")


# ---------------------------------------------------------- bad input

def expect_usage_error(env, args, what):
    """memtrace ARGS must exit 2 with exactly one stderr line 'memtrace: ...'."""
    log("-- %s" % what)
    p = memtrace(env, args, what)
    check("exit status (%s)" % what, 2, p.returncode)
    check_true("stderr is exactly one line starting with 'memtrace: '",
               re.fullmatch(r"memtrace: [^\n]+\n", p.stderr) is not None,
               "stderr: %r" % p.stderr)


def write_file(env, name, data, mode):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
    return path


def elf_header(ei_class, e_machine):
    """A bare little-endian ELF executable header (no program headers)."""
    if ei_class == 2:  # ELFCLASS64
        ident = b"\x7fELF\x02\x01\x01" + bytes(9)
        return ident + struct.pack("<HHIQQQIHHHHHH", 2, e_machine, 1, 0x400000, 0, 0,
                                   0, 64, 56, 0, 64, 0, 0)
    ident = b"\x7fELF\x01\x01\x01" + bytes(9)
    return ident + struct.pack("<HHIIIIIHHHHHH", 2, e_machine, 1, 0x8048000, 0, 0,
                               0, 52, 32, 0, 40, 0, 0)


def case_bad_nonexistent(env):
    expect_usage_error(env, ["run", "/nonexistent/memtrace-e2e-program"], "missing program")


def case_bad_text_file(env):
    path = write_file(env, "notes.txt", b"just some text\nnot a program\n", 0o755)
    expect_usage_error(env, ["run", path], "executable text file")


def case_bad_not_executable(env):
    with open(env.fixture("clean"), "rb") as fh:
        path = write_file(env, "fx_clean_noexec", fh.read(), 0o644)
    check_true("copy has no execute bit",
               not os.stat(path).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    expect_usage_error(env, ["run", path], "ELF without execute permission")
    expect_usage_error(env, ["run", env.tmp], "a directory")


def case_bad_not_elf(env):
    path = write_file(env, "garbage", bytes(range(256)) * 16, 0o755)
    expect_usage_error(env, ["run", path], "binary non-ELF file")


def case_bad_wrong_arch(env):
    aarch64 = write_file(env, "aarch64.elf", elf_header(2, 183), 0o755)  # EM_AARCH64
    expect_usage_error(env, ["run", aarch64], "64-bit ELF for aarch64")
    i386 = write_file(env, "i386.elf", elf_header(1, 3), 0o755)  # EM_386
    expect_usage_error(env, ["run", i386], "32-bit ELF for i386")


def case_bad_option(env):
    prog = env.fixture("clean")
    expect_usage_error(env, ["--bogus"], "unknown global option")
    expect_usage_error(env, ["run", "--bogus", prog], "unknown run option")
    expect_usage_error(env, ["run", "--depth", "abc", prog], "non-numeric --depth")


def case_bad_no_program(env):
    expect_usage_error(env, ["run"], "run without a program")
    expect_usage_error(env, ["run", "--"], "run -- without a program")


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items())
         if name.startswith("case_")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memtrace")
    ap.add_argument("--fixtures-dir")
    ap.add_argument("--source-dir")
    ap.add_argument("--list", action="store_true", help="print the case names")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    if a.case not in CASES or not (a.memtrace and a.fixtures_dir and a.source_dir):
        ap.error("need --memtrace, --fixtures-dir, --source-dir and one of: "
                 + ", ".join(CASES))
    if not os.access(a.memtrace, os.X_OK):
        print("FAIL %s: memtrace not found at %s" % (a.case, a.memtrace))
        return 1
    with tempfile.TemporaryDirectory(prefix="memtrace-e2e-") as tmp:
        env = Env(a.memtrace, a.fixtures_dir, a.source_dir, tmp)
        try:
            CASES[a.case](env)
        except Skip as e:
            print("*" * 70)
            print("SKIP %s: the kernel does not permit ptrace here; NOTHING WAS TESTED." % a.case)
            print("memtrace said: %s" % e)
            print("*" * 70)
            return SKIP
        except Failure as e:
            print("FAIL %s: %s" % (a.case, e))
            if env.last is not None:
                print(env.last.dump())
            return 1
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            # the JSON lacks a field or has the wrong type somewhere
            traceback.print_exc(file=sys.stdout)
            print("FAIL %s: unexpected JSON structure (see traceback above)" % a.case)
            if env.last is not None:
                print(env.last.dump())
            return 1
    print("PASS %s" % a.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
