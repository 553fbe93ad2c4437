#!/usr/bin/env python3
"""End-to-end tests for memtrace: run the real tool on the fixture programs.

    e2e.py --memtrace PATH --fixtures-dir DIR --source-dir DIR CASE
    e2e.py --list

--list prints one case a line: its name, then optional ctest settings
(`timeout=SECONDS`, `labels=L1,L2`, `repeat=N`: registered N times as
e2e_<case>_1..N, `needs=TARGET`: only if the build has that target).

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
import select
import shlex
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback

from checks import Failure, Skip, base, check, check_true, log

SKIP = 77
RUN_TIMEOUT = 100  # seconds; ctest's TIMEOUT is 120 (see ctest_settings)

# glibc before 2.38 exports aligned_alloc and memalign at one address, so a
# tracer that hooks by address cannot tell which name the program called.
ALIGNED_NAMES = {"aligned_alloc", "memalign"}


# ---------------------------------------------------------------- helpers

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
    log("  (%s finished with status %d)" % (what, p.returncode))
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
    def procs(self):
        return self.doc["processes"]

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
                for n, proc in enumerate(self.procs):
                    out += ["--- JSON process %d: pid=%r command=%r" % (
                                n, proc.get("pid"), proc.get("command")),
                            "    end=%r exit_code=%r signal=%r" % (
                                proc.get("end"), proc.get("exit_code"), proc.get("signal")),
                            "--- JSON summary: " + json.dumps(proc.get("summary"))]
                    recs = proc.get("leaks") or []
                    out += ["--- JSON leak record %d: %s" % (i, leak_str(r))
                            for i, r in enumerate(recs[:40])]
                    if len(recs) > 40:
                        out.append("--- (%d more leak records)" % (len(recs) - 40))
                    for i, e in enumerate((proc.get("errors") or [])[:20]):
                        out.append("--- JSON error %d: %s at %s\n%s" % (
                            i, e.get("kind"), e.get("address"), stack_str(e.get("stack"))))
                        for k in ("free_stack", "alloc_stack"):
                            out.append("    %s:\n%s" % (k, stack_str(e.get(k))))
                if self.doc.get("stats") is not None:
                    out.append("--- JSON stats: " + json.dumps(self.doc["stats"]))
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


def trace(env, fixture, prog_args=(), opts=(), status=0, commands=None):
    """memtrace run --json FILE OPTS -- fx_FIXTURE PROG_ARGS; checks the
    exit status and the JSON's shape, returns a Traced.  COMMANDS: the
    argv of every JSON process record, in order (default: one record, the
    fixture's)."""
    prog = env.fixture(fixture)
    json_path = json_path_for(env, fixture)
    p = memtrace(env, ["run", "--json", json_path] + list(opts) + ["--", prog]
                 + list(prog_args))
    return finish_traced(env, p, json_path, status,
                         commands or [[prog] + list(prog_args)])


def json_path_for(env, fixture):
    json_path = os.path.join(env.tmp, "%s.json" % fixture)
    if os.path.exists(json_path):
        os.unlink(json_path)
    return json_path


def finish_traced(env, p, json_path, status, commands, mode="run"):
    """Loads the JSON of the finished memtrace run P, checks its exit status
    and the JSON's shape."""
    env.last = t = Traced(p, None)  # dumped by main() if a check fails
    if not os.path.exists(json_path):
        raise Failure("memtrace wrote no JSON file %s" % json_path)
    with open(json_path) as fh:
        try:
            t.doc = json.load(fh)
        except ValueError as e:
            raise Failure("JSON file %s does not parse: %s" % (json_path, e))
    check("memtrace exit status", status, t.status)
    check_shape(t.doc, commands, mode)
    return t


def native(env, fixture, prog_args=()):
    p = run([env.fixture(fixture)] + list(prog_args), "native " + fixture)
    return p


# ------------------------------------------------------- JSON shape checks

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
    keys = [(r["kind"], r["allocator"], json.dumps(r["stack"], sort_keys=True)) for r in leaks]
    check_true("one leak record per (kind, allocator, stack)",
               len(keys) == len(set(keys)))
    check_kinds_shape(proc)


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
    for k in KINDS:
        check("summary.%s == sum of its records" % k, kind_sums(leaks, k), pair(s[k]))
    check("the four kinds add up to summary.unfreed", pair(s["unfreed"]),
          tuple(sum(pair(s[k])[i] for k in KINDS) for i in (0, 1)))
    bad = [leak_str(r) for r in leaks if (r["kind"] == "definitely_lost") != (
        isinstance(r.get("indirect"), dict)
        and all(isinstance(r["indirect"].get(f), int) for f in ("bytes", "blocks")))]
    check("records with indirect {bytes, blocks} iff definitely lost", [], bad)
    owned = [r["indirect"] for r in leaks if r["kind"] == "definitely_lost"]
    check("sum of the definitely lost records' indirect == summary.indirectly_lost",
          pair(s["indirectly_lost"]),
          (sum(i["bytes"] for i in owned), sum(i["blocks"] for i in owned)))


def as_proc(t):
    """A JSON process record from a Traced (its first process) or a record."""
    return t.process if isinstance(t, Traced) else t



# dlopen's _dlfo_mappings_segment_allocate over-allocates and keeps a pointer
# rounded up to 64 bytes (dl-find_object.c): an interior pointer, so the
# block is possibly lost, unless malloc happened to return a 64-byte aligned
# block (the heap layout depends on path lengths: a CI clone got one), when
# the kept pointer is its start and it is still reachable.  Valgrind agrees
# in both layouts.
DLFO_KINDS = ("possibly_lost", "still_reachable")


def check_dlfo_kind(rec):
    check_true("kind of the _dlfo_mappings_segment_allocate record (%s) is possibly lost or, "
               "in a 64-byte aligned block, still reachable" % rec["kind"],
               rec["kind"] in DLFO_KINDS)


def dlfo_split(dlfo):
    """(possibly lost, still reachable) (bytes, blocks) of the dlfo records."""
    return tuple((sum(r["bytes"] for r in dlfo if r["kind"] == k),
                  sum(r["blocks"] for r in dlfo if r["kind"] == k)) for k in DLFO_KINDS)

def check_exited(t, code):
    proc = as_proc(t)
    check("process end", "exited", proc["end"])
    check("process exit_code", code, proc["exit_code"])
    check("process signal", None, proc["signal"])


def check_summary(t, **expected):
    """check_summary(t, allocations=4, unfreed=(30, 1), ...); T is a Traced
    or a JSON process record."""
    for key, want in expected.items():
        got = as_proc(t)["summary"][key]
        if isinstance(want, tuple):
            got = (got["bytes"], got["blocks"])
        check("summary.%s" % key, want, got)


def check_kinds(t, definite=(0, 0), indirect=(0, 0), possible=(0, 0), reachable=(0, 0)):
    """The four kind totals of T (a Traced or a JSON process record), as
    (bytes, blocks), exactly; the process was classified and they add up to
    unfreed."""
    s = as_proc(t)["summary"]
    check("summary.classified", True, s.get("classified"))
    got = {k: pair(s[k]) for k in KINDS}
    check("summary kinds", dict(zip(KINDS, (definite, indirect, possible, reachable))), got)
    check("summary kinds add up to unfreed", pair(s["unfreed"]),
          tuple(sum(v[i] for v in got.values()) for i in (0, 1)))


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


def check_leak(rec, kind, nbytes, blocks, allocators, indirect=(0, 0)):
    check("leak kind", kind, rec["kind"])
    if kind == "definitely_lost":
        check("leak indirect (bytes, blocks)", indirect, pair(rec["indirect"]))
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
# Each case states what Valgrind 3.19 (memcheck, --leak-check=full
# --show-leak-kinds=all) reported for the same fixture on Debian 12 /
# glibc 2.36 / gcc 12 at -O0, and asserts the kind of every leak record.
#
# Deliberate differences, explained where they show:
# - Valgrind runs glibc's __libc_freeres at exit; memtrace does not change
#   what the program does.  Blocks freeres releases (stdio buffers, the DTVs
#   of joined threads, dlopen's bookkeeping) never show up in Valgrind's
#   report; memtrace reports them (still reachable or possibly lost, as
#   Valgrind does with --run-libc-freeres=no).
# - Valgrind knows which stack words are defined; a conservative scan from
#   outside cannot, so a stale copy of a pointer in an uninitialized slot of
#   a live frame (exit's, after main returned) would keep a block reachable
#   for memtrace only.  The fixtures clear their locals and call
#   fx_scrub_stack() after dropping a block, so the kinds do not depend on
#   such leftovers.

def case_seed(env):
    # Valgrind: "Invalid free()" at seed.c second free(p4), "0 bytes inside a
    # block of size 40 free'd" at the first free(p4), "alloc'd at" the p4
    # malloc; 30 bytes in 1 blocks definitely lost at the p3 line; LEAK
    # SUMMARY definitely lost 30/1, indirectly 0/0, possibly 0/0, still
    # reachable 0/0; "4 allocs, 4 frees, 100 bytes allocated" (Valgrind
    # counts the bad free; memtrace skips it, so it reports 3 frees).
    n = native(env, "seed")
    check("native status (glibc aborts on the double free)",
          128 + signal.SIGABRT, exit_status(n.returncode))
    check_text_has("native stderr", n.stderr, "double free")

    line = lambda m: env.line("seed", m)
    t = trace(env, "seed", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=4, frees=3, bytes_allocated=100,
                  unfreed=(30, 1), errors=1)
    check_kinds(t, definite=(30, 1))
    rec = single_leak(t)
    check_leak(rec, "definitely_lost", 30, 1, "malloc")
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
    check_text_has("text report (stderr)", t.stderr,
                   "30 bytes in 1 blocks are definitely lost in loss record 1 of 1, "
                   "allocated by malloc()")
    check_text_has("text report (stderr)", t.stderr, "definitely lost: 30 bytes in 1 blocks")
    check_text_has("text report (stderr)", t.stderr, "double free", case=False)


def case_seed_error_exitcode(env):
    # Same findings as case_seed (a double free, 30 bytes definitely lost);
    # --error-exitcode turns them into status 9.
    t = trace(env, "seed", opts=["--error-exitcode", "9"], status=9)
    check_exited(t, 0)
    check_summary(t, unfreed=(30, 1), errors=1)
    check_kinds(t, definite=(30, 1))


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
    check_kinds(doc["processes"][0])


def case_loop_leak(env):
    # Valgrind: 2,400 bytes in 100 blocks definitely lost at loop_leak.c
    # leak line (LEAK SUMMARY: definitely lost 2,400/100, the other kinds
    # 0/0); "150 allocs, 50 frees, 8,625 bytes allocated".
    check("native status", 0, native(env, "loop_leak").returncode)
    t = trace(env, "loop_leak", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=150, frees=50, bytes_allocated=8625,
                  unfreed=(2400, 100), errors=0)
    check_kinds(t, definite=(2400, 100))
    rec = single_leak(t)
    check_leak(rec, "definitely_lost", 2400, 100, "malloc")
    line = env.line("loop_leak", "leak")
    check_frame("leak stack[0]", rec["stack"][0], "main", "loop_leak.c", line, "fx_loop_leak")
    check("errors", [], t.errors)
    check_text_has("text report (stderr)", t.stderr, "loop_leak.c:%d" % line)


def case_two_paths(env):
    # Valgrind: 48 bytes in 3 blocks (leak16 <- path_a <- main) and 16 bytes
    # in 1 blocks (leak16 <- path_b <- main), both definitely lost (LEAK
    # SUMMARY: definitely lost 64/4, the other kinds 0/0);
    # "4 allocs, 0 frees, 64 bytes allocated".
    check("native status", 0, native(env, "two_paths").returncode)
    line = lambda m: env.line("two_paths", m)
    t = trace(env, "two_paths", status=0)
    check_exited(t, 0)
    check_summary(t, allocations=4, frees=0, bytes_allocated=64,
                  unfreed=(64, 4), errors=0)
    check_kinds(t, definite=(64, 4))
    check("number of leak records", 2, len(t.leaks))
    for rec, nbytes, blocks, path, call, main_call in (
            (t.leaks[0], 48, 3, "path_a", "call_a", "main_a"),
            (t.leaks[1], 16, 1, "path_b", "call_b", "main_b")):
        log("-- record from %s" % path)
        check_leak(rec, "definitely_lost", nbytes, blocks, "malloc")
        check_true("stack has >= 3 frames", len(rec["stack"]) >= 3, stack_str(rec["stack"]))
        check_frame("stack[0]", rec["stack"][0], "leak16", "two_paths.c",
                    line("helper_alloc"), "fx_two_paths")
        check_frame("stack[1]", rec["stack"][1], path, "two_paths.c", line(call))
        check_frame("stack[2]", rec["stack"][2], "main", "two_paths.c", line(main_call))


FAMILY_EXP = [  # (mark, allocators, bytes or None = any > 0, kind)
    ("calloc", {"calloc"}, 40, "definitely_lost"),
    ("realloc_move", {"realloc"}, 4096, "definitely_lost"),
    ("realloc_null", {"realloc"}, 100, "definitely_lost"),
    ("posix_memalign", {"posix_memalign"}, 200, "definitely_lost"),
    ("aligned_alloc", ALIGNED_NAMES, 256, "definitely_lost"),
    ("memalign", ALIGNED_NAMES, 72, "definitely_lost"),
    ("valloc", {"valloc"}, 300, "definitely_lost"),
    ("reallocarray", {"reallocarray"}, 60, "definitely_lost"),
    ("strdup", {"malloc"}, len("memtrace") + 1, "definitely_lost"),
    ("fopen", None, None, "still_reachable"),
    ("pvalloc", {"pvalloc"}, 8192, "definitely_lost"),
]


def family_run(env, prog_args):
    """fx_family PROG_ARGS: one record per marked line, each of its kind."""
    exp = [e for e in FAMILY_EXP if e[0] != "pvalloc" or not prog_args]
    t = trace(env, "family", prog_args, status=0)
    check_exited(t, 0)
    # 13 allocations: 11 leaked blocks + the realloc source + the blocker;
    # 2 frees: the blocker and the block the realloc moved away from.
    check_summary(t, allocations=len(exp) + 2, frees=2, errors=0)
    check("summary.unfreed.blocks", len(exp), t.summary["unfreed"]["blocks"])

    by_line = {}
    for rec in t.leaks:
        f = first_frame_in(rec["stack"], "family.c")
        by_line.setdefault(f["line"] if f else None, []).append(rec)
    expected_lines = {env.line("family", e[0]) for e in exp}
    stray = {ln: recs for ln, recs in by_line.items() if ln not in expected_lines}
    if stray:
        raise Failure("leak records at unexpected family.c lines %s (marks: %s):\n%s" % (
            sorted(stray, key=str), env.marks("family"),
            "\n".join(leak_str(r) for recs in stray.values() for r in recs)))
    log("ok: no leak record outside the marked lines (realloc source not reported)")

    for mark, allocators, nbytes, kind in exp:
        log("-- %s" % mark)
        line = env.line("family", mark)
        recs = by_line.get(line, [])
        check("records whose first family.c frame is line %d (%s)" % (line, mark),
              1, len(recs))
        rec = recs[0]
        if nbytes is None:  # fopen: glibc's internals decide size and allocator
            check("leak kind", kind, rec["kind"])
            check_true("fopen leak bytes > 0", rec["bytes"] > 0, repr(rec["bytes"]))
        else:
            check_leak(rec, kind, nbytes, 1, allocators)
        if mark in ("strdup", "fopen"):
            check_true("stack[0] is inside libc",
                       base(rec["stack"][0].get("module") or "").startswith("libc"),
                       stack_str(rec["stack"]))
        else:
            check_frame("stack[0]", rec["stack"][0], "main", "family.c", line, "fx_family")
    fopen_bytes = by_line[env.line("family", "fopen")][0]["bytes"]
    lost = [e for e in exp if e[3] == "definitely_lost"]
    check_kinds(t, definite=(sum(e[2] for e in lost), len(lost)), reachable=(fopen_bytes, 1))
    return t


def case_family(env):
    # Valgrind aborts the program at pvalloc (unsupported in 3.19), which is
    # last: run as `fx_family nopvalloc` (no pvalloc) it reports calloc 40
    # (calloc), realloc 4096 (realloc), 100 at realloc_null (malloc:
    # Valgrind's realloc(NULL) calls malloc), posix_memalign 200,
    # aligned_alloc 256, memalign 72, valloc 300, reallocarray 60, strdup 9
    # (malloc <- strdup): all definitely lost; fopen 472 (malloc <-
    # __fopen_internal) still reachable (the FILE is on glibc's list of open
    # streams, _IO_list_all; the same with --run-libc-freeres=no); LEAK
    # SUMMARY definitely lost 5,133/9, indirectly 0/0, possibly 0/0, still
    # reachable 472/1; "12 allocs, 2 frees".  The 8-byte realloc source
    # block is not reported.  The pvalloc block (8192, only when the
    # program runs natively or under memtrace) is lost like the others.
    check("native status", 0, native(env, "family").returncode)
    family_run(env, [])


def case_family_nopvalloc(env):
    # The run Valgrind completes (see case_family): the same four totals.
    t = family_run(env, ["nopvalloc"])
    check_kinds(t, definite=(5133, 9), reachable=(t.summary["still_reachable"]["bytes"], 1))


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
    check_kinds(t)
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
    check_kinds(t)
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
    check_kinds(t)
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
    # Return stubs: one trap per call (its entry); every malloc's return is
    # recorded by its stub. --return-traps: malloc's return traps again.
    check("entry traps, return traps, stub returns",
          (2 * PAIRS_N, 0, PAIRS_N),
          (stats["entry_traps"], stats["return_traps"], stats["stub_returns"]))
    t = trace(env, "pairs", [str(PAIRS_N)], opts=["--stats", "--return-traps"], status=0)
    check_summary(t, allocations=PAIRS_N, frees=PAIRS_N, bytes_allocated=pairs_bytes(PAIRS_N),
                  unfreed=(0, 0), errors=0)
    stats = t.doc["stats"]
    check("--return-traps: entry traps, return traps, stub returns",
          (2 * PAIRS_N, PAIRS_N, 0),
          (stats["entry_traps"], stats["return_traps"], stats["stub_returns"]))


def case_pairs_sample(env):
    # --sample and --min-size trade stacks for speed; blocks stay tracked, so
    # the totals are exactly those of case_pairs at the same N.
    n = 20000
    t = trace(env, "pairs", [str(n)], opts=["--stats", "--sample", "10"], status=0)
    check_summary(t, allocations=n, frees=n, bytes_allocated=pairs_bytes(n),
                  unfreed=(0, 0), errors=0)
    unwinds = t.doc["stats"]["unwinds"]
    check_true("--sample 10: unwinds = (allocations + frees) / 10 (%d)" % (2 * n // 10),
               abs(unwinds - 2 * n // 10) <= 2, "unwinds = %d" % unwinds)
    t = trace(env, "pairs", [str(n)], opts=["--stats", "--min-size", "4097"], status=0)
    check_summary(t, allocations=n, frees=n, bytes_allocated=pairs_bytes(n),
                  unfreed=(0, 0), errors=0)
    check("--min-size above every size: unwinds", 0, t.doc["stats"]["unwinds"])


def case_seed_min_size(env):
    # A leak below --min-size is still found and counted, without a stack.
    t = trace(env, "seed", opts=["--min-size", "1000"], status=0)
    check_summary(t, allocations=4, frees=3, unfreed=(30, 1), errors=1)
    rec = single_leak(t)
    check_leak(rec, "definitely_lost", 30, 1, "malloc")
    check("stack of a block below --min-size", [], rec["stack"])


def deep_case(env, opts, nframes):
    # Valgrind: 48 bytes in 1 blocks definitely lost: f0, f1, f2, f3, main
    # at their call lines (LEAK SUMMARY: definitely lost 48/1, the other
    # kinds 0/0).
    check("native status", 0, native(env, "deep").returncode)
    line = lambda m: env.line("deep", m)
    t = trace(env, "deep", opts=opts, status=0)
    check_exited(t, 0)
    check_summary(t, allocations=1, frees=0, unfreed=(48, 1), errors=0)
    check_kinds(t, definite=(48, 1))
    rec = single_leak(t)
    check_leak(rec, "definitely_lost", 48, 1, "malloc")
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
    # 64 bytes in 1 blocks still reachable at signal_exit.c leak line (LEAK
    # SUMMARY: still reachable 64/1, the other kinds 0/0): the program dies
    # inside main, whose local p still points to the block.  The text
    # report lists still reachable records only with --show-reachable.
    n = native(env, "signal_exit", prog_args)
    check("native status", 128 + signo, exit_status(n.returncode))
    t = trace(env, "signal_exit", prog_args, opts=["--show-reachable"], status=128 + signo)
    check("process end", "signaled", t.process["end"])
    check("process signal", signame, t.process["signal"])
    check_summary(t, allocations=1, frees=0, unfreed=(64, 1), errors=0)
    check_kinds(t, reachable=(64, 1))
    rec = single_leak(t)
    check_leak(rec, "still_reachable", 64, 1, "malloc")
    line = env.line("signal_exit", "leak")
    check_frame("leak stack[0]", rec["stack"][0], "main", "signal_exit.c", line,
                "fx_signal_exit")
    check_text_has("text report (stderr)", t.stderr, "signal_exit.c:%d" % line)
    check_text_has("text report (stderr)", t.stderr,
                   "64 bytes in 1 blocks are still reachable in loss record 1 of 1")


def case_signal_segv(env):
    signal_case(env, [], signal.SIGSEGV, "SIGSEGV")


def case_signal_abort(env):
    signal_case(env, ["abort"], signal.SIGABRT, "SIGABRT")


# --------------------------------------------- real processes: helpers

def ctest(**settings):
    """Decorator: ctest settings of a case (printed by --list)."""
    def deco(fn):
        fn.ctest = {k: str(v) for k, v in settings.items()}
        return fn
    return deco


def stdout_ints(text):
    """{"label": int} from the fixture's "label=123" lines."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+)=(-?\d+)$", text, re.M)}


def marked_leaks(env, proc, fixture, expected, others=(), indirect=None):
    """Checks PROC's leak records against the marks of fixtures/FIXTURE.c.

    EXPECTED: {mark: (bytes, blocks, allocator, function, kind)}: the
    records whose first FIXTURE.c frame is on the mark's line add up to
    BYTES in BLOCKS, each has that frame as stack[0] (in FUNCTION, module
    fx_FIXTURE) and ALLOCATOR.  KIND: the kind of every such record, or
    {kind: (bytes, blocks)} when the line's blocks are of several kinds
    (the records of each kind add up to that).  The definitely lost records
    of a mark own INDIRECT[mark] (bytes, blocks) of indirectly lost blocks,
    (0, 0) when not given.  OTHERS: marks of lines where records are
    allowed (library code called there allocated); they are returned as
    {mark: [records]} for the caller to check.  A record at any other line,
    or with no FIXTURE.c frame at all, fails."""
    fname = fixture + ".c"
    indirect = indirect or {}
    by_line = {}
    for rec in proc["leaks"]:
        f = first_frame_in(rec["stack"], fname)
        by_line.setdefault(f["line"] if f else None, []).append(rec)
    lines = {env.line(fixture, m): m for m in list(expected) + list(others)}
    stray = {ln: recs for ln, recs in by_line.items() if ln not in lines}
    if stray:
        raise Failure("leak records of pid %s whose first %s frame is not on an expected "
                      "line (None: no %s frame at all; expected lines %s):\n%s" % (
                          proc["pid"], fname, fname,
                          {m: ln for ln, m in sorted(lines.items())},
                          "\n".join("  line %s: %s" % (ln, leak_str(r))
                                    for ln, recs in stray.items() for r in recs)))
    log("ok: every leak record of pid %s starts at an expected %s line" % (proc["pid"], fname))
    for mark, (nbytes, blocks, allocator, function, kind) in expected.items():
        line = env.line(fixture, mark)
        recs = by_line.get(line, [])
        log("-- %s.c:%d (%s): %d record(s)" % (fixture, line, mark, len(recs)))
        check_true("a leak record at %s:%d (%s)" % (fname, line, mark), recs,
                   "records:\n" + "\n".join(leak_str(r) for r in proc["leaks"]))
        check("bytes of the records at %s" % mark, nbytes, sum(r["bytes"] for r in recs))
        check("blocks of the records at %s" % mark, blocks, sum(r["blocks"] for r in recs))
        if isinstance(kind, str):
            check("kinds of the records at %s" % mark, [kind] * len(recs),
                  [r["kind"] for r in recs])
        else:
            check("(bytes, blocks) by kind of the records at %s" % mark, kind,
                  {k: kind_sums(recs, k) for k in sorted({r["kind"] for r in recs})})
        owned = [r["indirect"] for r in recs if r["kind"] == "definitely_lost"]
        check("indirect (bytes, blocks) owned by the definitely lost records at %s" % mark,
              indirect.get(mark, (0, 0)),
              (sum(i["bytes"] for i in owned), sum(i["blocks"] for i in owned)))
        for rec in recs:
            check("allocator", allocator, rec["allocator"])
            check_frame("stack[0]", rec["stack"][0], function, fname, line, "fx_" + fixture)
    return {m: by_line.get(env.line(fixture, m), []) for m in others}


def check_dtv_records(recs, nthreads, kind="still_reachable"):
    """pthread_create's own allocation: one calloc'd DTV per thread.  glibc
    keeps a pointer to the DTV's second entry in the thread's descriptor
    (INSTALL_DTV: dtv + 1) while the descriptor exists (a running thread, or
    an exited one whose stack glibc keeps: joined ones in its stack cache,
    unjoined ones until joined).  memtrace recognises that pointer (16 bytes
    into a calloc'd block whose first word is its length in 16-byte entries
    minus 2) as glibc's own: the DTV is still reachable, as LeakSanitizer
    says.  Valgrind 3.19 says possibly lost for it (an interior pointer)
    unless its __libc_freeres has freed the stack cache with its DTVs, as it
    does by default for joined threads."""
    check("blocks allocated inside pthread_create (one DTV per thread)", nthreads,
          sum(r["blocks"] for r in recs))
    for rec in recs:
        check("allocator inside pthread_create", "calloc", rec["allocator"])
        check("kind of the DTV record", kind, rec["kind"])
        names = [f.get("function") or "" for f in rec["stack"]]
        check_true("stack passes through _dl_allocate_tls (called by pthread_create)",
                   any("_dl_allocate_tls" in n for n in names), stack_str(rec["stack"]))
    return sum(r["bytes"] for r in recs), sum(r["blocks"] for r in recs)


def check_stats_present(t):
    stats = t.doc.get("stats")
    check_true("JSON has stats", isinstance(stats, dict), repr(stats))
    for key in ("traps", "entry_traps", "return_traps", "rendezvous_traps", "nested_calls",
                "allocator_frees", "single_steps"):
        check_true("stats.%s is an integer" % key, isinstance(stats.get(key), int),
                   repr(stats))
    log("stats: %s" % json.dumps(stats))
    return stats


class Live:
    """memtrace started in the background on a fixture; the fixture's
    stdout (passed through memtrace) is read while it runs."""

    def __init__(self, env, fixture, prog_args=(), opts=(), **popen):
        self.env = env
        self.prog = env.fixture(fixture)
        self.args = list(prog_args)
        self.json_path = json_path_for(env, fixture)
        cmd = ([env.memtrace, "run", "--json", self.json_path] + list(opts) + ["--", self.prog]
               + self.args)
        log("$ " + " ".join(shlex.quote(c) for c in cmd) + " &")
        self.err = tempfile.TemporaryFile(dir=env.tmp)
        self.out = b""
        env.__dict__.setdefault("live", []).append(self)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=self.err, env=child_env(), **popen)
        log("  memtrace pid %d" % self.p.pid)

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def _ended_early(self, what):
        status = self.p.wait()
        err = self.stderr()
        if status == 2 and "ptrace not permitted" in err:
            raise Skip(err.strip())
        raise Failure("memtrace ended (status %d) %s\nstdout: %r\nstderr (last 4000 chars):\n%s"
                      % (status, what, self.out.decode("utf-8", "replace"), err[-4000:]))

    def wait_for(self, label, timeout=30):
        """Reads stdout until the fixture printed "LABEL=<int>"; returns it."""
        pat = re.compile(rb"^" + label.encode() + rb"=(-?\d+)$", re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.out)
            if m:
                log("  fixture printed %s=%s" % (label, m.group(1).decode()))
                return int(m.group(1))
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("the fixture printed no %s= line within %d s; stdout so far: %r"
                              % (label, timeout, self.out))
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    self._ended_early("before the fixture printed %s=" % label)
                self.out += chunk

    def wait(self, timeout):
        """Waits up to TIMEOUT s for memtrace to exit; its status or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.p.poll()
            ready, _, _ = select.select([self.p.stdout], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if chunk:
                    self.out += chunk
                    continue
                try:
                    return self.p.wait(timeout=max(left, 0.1))
                except subprocess.TimeoutExpired:
                    return None
            elif self.p.poll() is not None:
                return self.p.returncode   # exited; stdout kept open elsewhere

    def finish(self, status, commands=None, timeout=None):
        """Waits for memtrace to exit; checks status and JSON like trace()."""
        code = self.wait(timeout or RUN_TIMEOUT)
        if code is None:
            self.kill()
            raise Failure("memtrace still running after %d s\nstderr (last 4000 chars):\n%s"
                          % (timeout or RUN_TIMEOUT, self.stderr()[-4000:]))
        res = subprocess.CompletedProcess(self.p.args, code,
                                          self.out.decode("utf-8", "replace"), self.stderr())
        log("  (memtrace finished with status %d)" % code)
        if code < 0:
            raise Failure("memtrace itself was killed by %s\nstderr (last 4000 chars):\n%s" % (
                signal.Signals(-code).name, res.stderr[-4000:]))
        if code == 2 and "ptrace not permitted" in res.stderr:
            raise Skip(res.stderr.strip())
        return finish_traced(self.env, res, self.json_path, status,
                             commands or [[self.prog] + self.args])

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()   # PTRACE_O_EXITKILL takes the target with it
            self.p.wait()


def task_states(pid):
    """{tid: (state letter, cpu time)} of the threads of PID; cpu time from
    /proc/PID/task/TID/schedstat (ns) or, without it, utime+stime (ticks)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        base_path = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base_path + "stat") as fh:
                st = fh.read()
            rest = st[st.rindex(")") + 2:].split()
            try:
                with open(base_path + "schedstat") as fh:
                    cpu = int(fh.read().split()[0])
            except OSError:
                cpu = int(rest[11]) + int(rest[12])
        except (OSError, ValueError, IndexError):
            continue
        out[int(tid)] = (rest[0], cpu)
    return out


# ------------------------------------------- real processes: threads

def churn_sizes(nthreads, npairs):
    """Bytes fx_threads_churn allocates on churn_alloc (same generator)."""
    total = 0
    for i in range(nthreads):
        state = 12345 + i
        for _ in range(npairs):
            state = (state * 1103515245 + 12345) & 0xFFFFFFFF
            total += 16 + (state >> 8) % (1024 - 16 + 1)
    return total


def threads_churn_case(env, nthreads, npairs):
    # N threads x M malloc/free pairs, half of the frees made by another
    # thread than the allocating one; each thread leaks one block of
    # 3000 + 100*i bytes at leak<i>.  pthread_create allocates one DTV per
    # thread (calloc in _dl_allocate_tls), never freed: all threads are
    # alive at once, so no stack or DTV is reused.
    # Valgrind (8 threads, 2000 pairs): the 8 blocks of 3,000..3,700 bytes
    # definitely lost (26,800/8); the DTVs freed by __libc_freeres (with
    # --run-libc-freeres=no: 2,176 bytes in 8 blocks possibly lost;
    # memtrace: still reachable, see check_dtv_records); nothing else.
    args = [str(nthreads), str(npairs)]
    check("native status", 0, native(env, "threads_churn", args).returncode)
    t = trace(env, "threads_churn", args, opts=["--stats"], status=0)
    check_exited(t, 0)
    expected = {"leak%d" % i: (3000 + 100 * i, 1, "malloc", "leak_one", "definitely_lost")
                for i in range(nthreads)}
    others = marked_leaks(env, t.process, "threads_churn", expected, others=["create"])
    for i in range(nthreads):
        rec = [r for r in t.leaks if r["stack"][0].get("line") ==
               env.line("threads_churn", "leak%d" % i)][0]
        check_true("leak%d stack[1] is worker" % i,
                   len(rec["stack"]) > 1 and rec["stack"][1].get("function") == "worker",
                   stack_str(rec["stack"]))
    dtv_bytes, dtv_blocks = check_dtv_records(others["create"], nthreads)
    leak_bytes = sum(3000 + 100 * i for i in range(nthreads))
    mine_allocs = nthreads * (npairs + 1)
    check_summary(t, allocations=mine_allocs + dtv_blocks, frees=nthreads * npairs,
                  bytes_allocated=churn_sizes(nthreads, npairs) + leak_bytes + dtv_bytes,
                  unfreed=(leak_bytes + dtv_bytes, nthreads + dtv_blocks), errors=0)
    check_kinds(t, definite=(leak_bytes, nthreads), reachable=(dtv_bytes, dtv_blocks))
    check("errors", [], t.errors)

    stats = check_stats_present(t)
    s = t.summary
    check("stats.single_steps", 0, stats["single_steps"])
    # One return trap per malloc-family call (all succeed, none nested).
    check("stats.return_traps + stats.stub_returns == allocations", s["allocations"],
          stats["return_traps"] + stats["stub_returns"])
    # One entry trap per call, plus glibc's own frees at thread exit: the
    # dying thread's tcache flush (allocator_frees, at most 64 bins x 7
    # chunks + the tcache itself per thread) and a couple of free(NULL).
    check_true("stats.allocator_frees <= %d (tcache flushes of %d threads)" % (
                   nthreads * (64 * 7 + 1), nthreads),
               stats["allocator_frees"] <= nthreads * (64 * 7 + 1), json.dumps(stats))
    calls = s["allocations"] + s["frees"] + stats["allocator_frees"] + stats["nested_calls"]
    check_true("allocations + frees + allocator_frees + nested_calls (%d) <= stats.entry_traps "
               "<= that + 2 free(NULL) per thread exit (%d)" % (calls, calls + 2 * nthreads),
               calls <= stats["entry_traps"] <= calls + 2 * nthreads,
               "entry_traps = %d" % stats["entry_traps"])
    # nested_calls (glibc's own calls, such as the mmap of a thread's stack)
    # take an entry trap and no return trap.
    limit = (2 * s["allocations"] + s["frees"] + stats["allocator_frees"] + stats["nested_calls"]
             + 2 * nthreads)
    check_true("entry_traps + return_traps <= 2*allocations + frees + allocator_frees "
               "+ nested_calls + 2*threads (%d)" % limit,
               stats["entry_traps"] + stats["return_traps"] <= limit, json.dumps(stats))
    check("stats.traps", stats["entry_traps"] + stats["return_traps"]
          + stats["rendezvous_traps"], stats["traps"])


@ctest(repeat=20)
def case_threads_churn(env):
    threads_churn_case(env, 8, 2000)


@ctest(timeout=1500, labels="heavy")
def case_threads_churn_heavy(env):
    threads_churn_case(env, 8, 100000)


def case_thread_exit_raw(env):
    """Return stubs: 8 threads each end with a raw exit right after a malloc
    (no allocator call after it), so their results are only drained at
    their exit; main frees 7 of the blocks (valid frees) and leaks one.
    Valgrind: 100 bytes in 1 block definitely lost; 0 errors."""
    check("native status", 0, native(env, "thread_exit_raw").returncode)
    t = trace(env, "thread_exit_raw", opts=["--stats"], status=0)
    check_exited(t, 0)
    check("fixture output", {"blocks": 8}, stdout_ints(t.stdout))
    check("errors", [], t.errors)
    stats = t.doc["stats"]
    check_true("every malloc returned through a stub (stub_returns >= 8): %r" % stats,
               stats["stub_returns"] >= 8)
    marked_leaks(env, t.process, "thread_exit_raw", {
        "worker_alloc": (100, 1, "malloc", "worker", "definitely_lost"),
    }, others=["create"])


def case_pthread_exit_main(env):
    # main calls pthread_exit; its 2 threads wait until main is a zombie,
    # do 1000 pairs each and leak 500 (leak0) and 600 (leak1) bytes; the
    # process exits 0 when the last thread returns.  pthread_exit loads
    # libgcc_s (dlopen allocates from main's pthread_exit line).
    # Valgrind: 500 and 600 definitely lost (1,100/2); the 2 DTVs (544)
    # possibly lost (the threads were never joined: freeres keeps them);
    # libgcc_s' dlopen bookkeeping freed by __libc_freeres.  With
    # --run-libc-freeres=no also the dlopen blocks: 2,304 bytes possibly
    # lost (_dlfo_mappings_segment_allocate: glibc keeps an aligned pointer
    # into the block) and 1,238 + 456 + 56 + 36 + 36 = 1,822 bytes in 5
    # blocks still reachable (link map, versions, deps, names): definitely
    # lost 1,100/2, indirectly 0/0, possibly 2,848/3, still reachable
    # 1,822/5.  memtrace says the same except for the DTVs, which it counts
    # still reachable (check_dtv_records): possibly 2,304/1, reachable 2,366/7.
    check("native status", 0, native(env, "pthread_exit_main").returncode)
    t = trace(env, "pthread_exit_main", opts=["--depth", "64"], status=0)
    check_exited(t, 0)
    others = marked_leaks(env, t.process, "pthread_exit_main", {
        "leak0": (500, 1, "malloc", "leak_one", "definitely_lost"),
        "leak1": (600, 1, "malloc", "leak_one", "definitely_lost"),
    }, others=["create", "exit"])
    dtv_bytes, dtv_blocks = check_dtv_records(others["create"], 2)
    dlfo = [r for r in others["exit"]
            if any(f.get("function") == "_dlfo_mappings_segment_allocate" for f in r["stack"])]
    check("records of _dlfo_mappings_segment_allocate under pthread_exit", 1, len(dlfo))
    check_dlfo_kind(dlfo[0])
    (dp_bytes, dp_blocks), (dr_bytes, dr_blocks) = dlfo_split(dlfo)
    rest = [r for r in others["exit"] if r is not dlfo[0]]
    check("kinds of the other records under pthread_exit (libgcc_s' dlopen)",
          ["still_reachable"] * len(rest), [r["kind"] for r in rest])
    check_kinds(t, definite=(1100, 2),
                possible=(dp_bytes, dp_blocks),
                reachable=(dtv_bytes + dr_bytes + sum(r["bytes"] for r in rest),
                           dtv_blocks + dr_blocks + sum(r["blocks"] for r in rest)))
    check("errors", [], t.errors)
    s = t.summary
    check_true("allocations >= 2 * 1001", s["allocations"] >= 2002, json.dumps(s))
    check_true("frees >= 2 * 1000", s["frees"] >= 2000, json.dumps(s))
    check("allocations - frees == unfreed blocks", s["allocations"] - s["frees"],
          s["unfreed"]["blocks"])


# ------------------------------------- real processes: fork, vfork, exec

def check_pid(what, expected, proc):
    check("%s pid" % what, expected, proc["pid"])


def case_fork(env):
    # parent: A (111) allocated before the fork and freed after the wait,
    # 333 leaked at parent_leak; child: frees its inherited A (no error),
    # leaks 222 at child_leak, exits 3 (the parent checks it and exits 0).
    # Valgrind (which follows the fork): parent 333 bytes definitely lost
    # (the other kinds 0/0); child 222 bytes still reachable (it calls exit
    # inside main, whose local c still points to the block; the other
    # kinds 0/0).
    check("native status", 0, native(env, "fork").returncode)
    prog = env.fixture("fork")
    # --show-reachable: the text report lists the child's reachable block.
    t = trace(env, "fork", opts=["--show-reachable"], status=0, commands=[[prog], [prog]])
    child = stdout_ints(t.stdout).get("child")
    check_true("fixture printed the child's pid", child, repr(t.stdout))
    parent, kid = t.procs
    check_true("parent pid != child pid", parent["pid"] != child, repr(parent["pid"]))
    check_pid("second process (the child)", child, kid)

    log("-- parent")
    check_exited(parent, 0)
    check_summary(parent, allocations=2, frees=1, bytes_allocated=444, unfreed=(333, 1),
                  errors=0)
    check_kinds(parent, definite=(333, 1))
    marked_leaks(env, parent, "fork",
                 {"parent_leak": (333, 1, "malloc", "main", "definitely_lost")})
    log("-- child")
    check_exited(kid, 3)
    # The child's table starts as a copy of the parent's; its counters
    # count what the child did: 1 malloc, 1 free (the inherited A).
    check_summary(kid, allocations=1, frees=1, bytes_allocated=222, unfreed=(222, 1),
                  errors=0)
    check_kinds(kid, reachable=(222, 1))
    marked_leaks(env, kid, "fork", {"child_leak": (222, 1, "malloc", "main", "still_reachable")})
    check_text_has("text report (stderr)", t.stderr, "fork.c:%d" % env.line("fork", "parent_leak"))
    check_text_has("text report (stderr)", t.stderr, "fork.c:%d" % env.line("fork", "child_leak"))
    check_text_has("text report (stderr)", t.stderr,
                   "222 bytes in 1 blocks are still reachable in loss record 1 of 1")


def check_exec_target(env, proc, status):
    """The record of fx_exec_target's image: 5 bytes freed, 77 leaked.
    Valgrind (--trace-children=yes): 77 bytes definitely lost, the other
    kinds 0/0."""
    check_exited(proc, status)
    check_summary(proc, allocations=2, frees=1, bytes_allocated=82, unfreed=(77, 1), errors=0)
    check_kinds(proc, definite=(77, 1))
    marked_leaks(env, proc, "exec_target",
                 {"leak": (77, 1, "malloc", "main", "definitely_lost")})


def check_exec_end(proc):
    """An image replaced by exec: its memory was gone before it could be
    scanned, so it is not classified (Valgrind does not check an image it
    replaces by exec at all)."""
    check("process end", "exec", proc["end"])
    check("process exit_code", None, proc["exit_code"])
    check("process signal", None, proc["signal"])
    check("summary.classified", False, proc["summary"]["classified"])
    check("summary kinds", [(0, 0)] * 4, [pair(proc["summary"][k]) for k in KINDS])
    check("record kinds", ["unfreed"] * len(proc["leaks"]), [r["kind"] for r in proc["leaks"]])


def case_vfork_exec(env):
    # vfork; the child execs fx_exec_target 5 at once; the parent waits,
    # leaks 48 at parent_leak and exits 5, the child's status.
    prog, target = env.fixture("vfork_exec"), env.fixture("exec_target")
    check("native status", 5, native(env, "vfork_exec", [target, "5"]).returncode)
    t = trace(env, "vfork_exec", [target, "5"], status=5,
              commands=[[prog, target, "5"], [prog, target, "5"], [target, "5"]])
    child = stdout_ints(t.stdout).get("child")
    check_true("fixture printed the child's pid", child, repr(t.stdout))
    parent, before, after = t.procs
    check_true("parent pid != child pid", parent["pid"] != child, repr(parent["pid"]))
    log("-- parent")
    # Valgrind: 48 bytes definitely lost, the other kinds 0/0.
    check_exited(parent, 5)
    check_summary(parent, allocations=1, frees=0, bytes_allocated=48, unfreed=(48, 1),
                  errors=0)
    check_kinds(parent, definite=(48, 1))
    marked_leaks(env, parent, "vfork_exec",
                 {"parent_leak": (48, 1, "malloc", "main", "definitely_lost")})
    log("-- vfork child before exec")
    check_pid("vfork child", child, before)
    check_exec_end(before)
    check_summary(before, allocations=0, frees=0, bytes_allocated=0, unfreed=(0, 0), errors=0)
    check("leaks", [], before["leaks"])
    log("-- vfork child after exec (fx_exec_target)")
    check_pid("exec'd image", child, after)
    check_exec_target(env, after, 5)


def case_vfork_exec_no_follow(env):
    # --no-follow-forks: the vfork child is traced until its exec, then
    # detached: no record for it nor for fx_exec_target; the parent still
    # sees the exec'd program's exit status 5.
    prog, target = env.fixture("vfork_exec"), env.fixture("exec_target")
    t = trace(env, "vfork_exec", [target, "5"], opts=["--no-follow-forks", "--stats"],
              status=5, commands=[[prog, target, "5"]])
    check_exited(t, 5)
    check_summary(t, allocations=1, frees=0, bytes_allocated=48, unfreed=(48, 1), errors=0)
    check_kinds(t, definite=(48, 1))
    marked_leaks(env, t.process, "vfork_exec",
                 {"parent_leak": (48, 1, "malloc", "main", "definitely_lost")})
    stats = check_stats_present(t)
    limit = 2 * t.summary["allocations"] + t.summary["frees"]
    check_true("entry_traps + return_traps <= 2*allocations + frees (%d): the exec'd "
               "program is not traced" % limit,
               stats["entry_traps"] + stats["return_traps"] <= limit, json.dumps(stats))


def case_exec(env):
    # The image leaks 64 at leak and execs fx_exec_target 4 (same pid),
    # which leaks 77 and exits 4.
    prog, target = env.fixture("exec"), env.fixture("exec_target")
    check("native status", 4, native(env, "exec", [target, "4"]).returncode)
    t = trace(env, "exec", [target, "4"], status=4,
              commands=[[prog, target, "4"], [target, "4"]])
    pid = stdout_ints(t.stdout).get("pid")
    first, second = t.procs
    check_pid("first image", pid, first)
    check_pid("second image", pid, second)
    log("-- first image (fx_exec)")
    check_exec_end(first)
    check_summary(first, allocations=1, frees=0, bytes_allocated=64, unfreed=(64, 1),
                  errors=0)
    marked_leaks(env, first, "exec", {"leak": (64, 1, "malloc", "main", "unfreed")})
    log("-- second image (fx_exec_target)")
    check_exec_target(env, second, 4)


def case_exec_from_thread(env):
    # A second thread execs fx_exec_target 6 while main waits in
    # pthread_join: main is killed, the exec'ing thread takes the pid.
    # Old image: 56 at main_leak, 72 at thread_leak, pthread_create's DTV.
    prog, target = env.fixture("exec_from_thread"), env.fixture("exec_target")
    check("native status", 6, native(env, "exec_from_thread", [target, "6"]).returncode)
    t = trace(env, "exec_from_thread", [target, "6"], status=6,
              commands=[[prog, target, "6"], [target, "6"]])
    pid = stdout_ints(t.stdout).get("pid")
    first, second = t.procs
    check_pid("first image", pid, first)
    check_pid("second image", pid, second)
    log("-- first image (fx_exec_from_thread)")
    check_exec_end(first)
    others = marked_leaks(env, first, "exec_from_thread", {
        "main_leak": (56, 1, "malloc", "main", "unfreed"),
        "thread_leak": (72, 1, "malloc", "exec_thread", "unfreed"),
    }, others=["create"])
    dtv_bytes, dtv_blocks = check_dtv_records(others["create"], 1, kind="unfreed")
    check_summary(first, allocations=2 + dtv_blocks, frees=0,
                  bytes_allocated=128 + dtv_bytes, unfreed=(128 + dtv_bytes, 2 + dtv_blocks),
                  errors=0)
    log("-- second image (fx_exec_target)")
    check_exec_target(env, second, 6)


NO_FOLLOW_PAIRS = 20000


def case_no_follow_forks(env):
    # --no-follow-forks: the child (20000 pairs, a 60-byte leak, exit 0)
    # runs untraced and cleaned of memtrace's int3s; the parent exits with
    # its status (100+N had it died of signal N).
    prog = env.fixture("no_follow_forks")
    t = trace(env, "no_follow_forks", opts=["--no-follow-forks", "--stats"], status=0,
              commands=[[prog]])
    check_exited(t, 0)
    # Valgrind: the parent's 50 bytes definitely lost, the other kinds 0/0.
    check_summary(t, allocations=1, frees=0, bytes_allocated=50, unfreed=(50, 1), errors=0)
    check_kinds(t, definite=(50, 1))
    marked_leaks(env, t.process, "no_follow_forks",
                 {"parent_leak": (50, 1, "malloc", "main", "definitely_lost")})
    stats = check_stats_present(t)
    limit = 2 * t.summary["allocations"] + t.summary["frees"]
    check_true("entry_traps + return_traps <= 2*allocations + frees of the parent (%d)" % limit,
               stats["entry_traps"] + stats["return_traps"] <= limit, json.dumps(stats))
    check("stats.single_steps", 0, stats["single_steps"])


def case_follow_forks(env):
    # The same program followed (default): two records; the child's holds
    # the inherited 50-byte block and its own 60-byte leak.
    # Valgrind: parent 50 bytes definitely lost (other kinds 0/0); child 50
    # and 60 still reachable (110/2, other kinds 0/0): it calls exit inside
    # main, whose locals p and c still point to them.
    check("native status", 0, native(env, "no_follow_forks").returncode)
    prog = env.fixture("no_follow_forks")
    t = trace(env, "no_follow_forks", opts=["--stats"], status=0, commands=[[prog], [prog]])
    child = stdout_ints(t.stdout).get("child")
    parent, kid = t.procs
    check_pid("second process (the child)", child, kid)
    log("-- parent")
    check_exited(parent, 0)
    check_summary(parent, allocations=1, frees=0, bytes_allocated=50, unfreed=(50, 1), errors=0)
    check_kinds(parent, definite=(50, 1))
    marked_leaks(env, parent, "no_follow_forks",
                 {"parent_leak": (50, 1, "malloc", "main", "definitely_lost")})
    log("-- child")
    check_exited(kid, 0)
    n = NO_FOLLOW_PAIRS
    check_summary(kid, allocations=n + 1,
                  frees=n, bytes_allocated=sum(16 + i % 1000 for i in range(n)) + 60,
                  unfreed=(110, 2), errors=0)
    check_kinds(kid, reachable=(110, 2))
    marked_leaks(env, kid, "no_follow_forks",
                 {"parent_leak": (50, 1, "malloc", "main", "still_reachable"),
                  "child_leak": (60, 1, "malloc", "main", "still_reachable")})
    stats = check_stats_present(t)
    check("stats.single_steps", 0, stats["single_steps"])


# ------------------------------------------------ real processes: signals

def case_signal_alloc(env):
    # A 1 ms SIGALRM handler mallocs/frees 32 bytes and leaks 40 (only when
    # it did not interrupt malloc/free) while main does pairs; the fixture
    # prints how many blocks the handler leaked.
    # Valgrind: every handler block definitely lost (a run with 20 of them:
    # 800 bytes in 20 blocks, in records by where the signal came), the
    # other kinds 0/0.
    check("native status", 0, native(env, "signal_alloc").returncode)
    t = trace(env, "signal_alloc", opts=["--stats"], status=0)
    check_exited(t, 0)
    out = stdout_ints(t.stdout)
    check("labels printed", ["handler_leaks", "handler_runs", "main_pairs"], sorted(out))
    n, pairs = out["handler_leaks"], out["main_pairs"]
    check_true("handler leaked >= 20 blocks", n >= 20, repr(out))
    marked_leaks(env, t.process, "signal_alloc",
                 {"handler_leak": (40 * n, n, "malloc", "on_alarm", "definitely_lost")})
    check_summary(t, allocations=2 * n + pairs, frees=n + pairs,
                  bytes_allocated=72 * n + sum(16 + i % 500 for i in range(pairs)),
                  unfreed=(40 * n, n), errors=0)
    check_kinds(t, definite=(40 * n, n))
    check("errors", [], t.errors)
    stats = check_stats_present(t)
    check("stats.single_steps", 0, stats["single_steps"])


def stop_case(env, nthreads, stop_sig):
    # The test stops the busy fixture (SIGSTOP, or SIGTSTP as Ctrl-Z sends),
    # sees every thread stopped and getting no CPU, then sends SIGCONT; the
    # fixture finishes (its SIGCONT handler ends the loop), leaks 88, exits 0.
    # memtrace runs in its own process group (so SIGTSTP's group is not
    # orphaned; the kernel discards SIGTSTP for orphaned groups).
    # Valgrind (continued by SIGCONT): 88 bytes definitely lost; with 2
    # threads their DTVs (544 bytes in 2 blocks, joined) are freed by
    # __libc_freeres, possibly lost with --run-libc-freeres=no (memtrace:
    # still reachable, check_dtv_records); nothing else.
    live = Live(env, "sigstop", [str(nthreads)], preexec_fn=os.setpgrp)
    pid = live.wait_for("pid")
    live.wait_for("busy")
    log("kill(%d, %s)" % (pid, signal.Signals(stop_sig).name))
    os.kill(pid, stop_sig)
    # Stopped within 1 s: every thread in state T or t (a seized tracee in
    # group-stop shows 't', tracing stop, rather than 'T') and no CPU time
    # gained over the last 0.1 s (a thread memtrace holds at a trap is 't'
    # too, but only for a moment).
    deadline = time.monotonic() + 1.0
    history = []
    while True:
        states = task_states(pid)
        history = [h for h in history if h[0] >= time.monotonic() - 0.1] + [
            (time.monotonic(), states)]
        stopped = (len(states) == nthreads + 1
                   and all(s in "Tt" for s, _ in states.values()))
        old = history[0][1]
        if stopped and history[-1][0] - history[0][0] >= 0.09 and old == states:
            break
        if time.monotonic() > deadline:
            raise Failure("target %d not stopped 1 s after %s: thread states {tid: (state, "
                          "cpu time)} %r, 0.1 s before %r (want %d threads in T or t, "
                          "getting no CPU)" % (pid, signal.Signals(stop_sig).name, states, old,
                                               nthreads + 1))
        time.sleep(0.01)
    log("ok: every thread stopped, no CPU time for 0.1 s: %r" % states)
    cpu0 = {tid: cpu for tid, (_, cpu) in states.items()}
    time.sleep(0.3)
    states = task_states(pid)
    check("threads still stopped 0.3 s later", sorted(cpu0),
          sorted(tid for tid, (s, _) in states.items() if s in "Tt"))
    check("CPU time of every thread over 0.3 s while stopped (unchanged)", cpu0,
          {tid: cpu for tid, (_, cpu) in states.items()})
    check_true("memtrace is still running", live.p.poll() is None, repr(live.p.poll()))
    log("kill(%d, SIGCONT)" % pid)
    os.kill(pid, signal.SIGCONT)
    t = live.finish(0)
    check_exited(t, 0)
    pairs = stdout_ints(t.stdout).get("pairs")
    check_true("fixture printed pairs >= %d" % (200 + 100 * (nthreads + 1)),
               pairs is not None and pairs >= 200 + 100 * (nthreads + 1), repr(t.stdout))
    others = marked_leaks(env, t.process, "sigstop",
                          {"leak": (88, 1, "malloc", "main", "definitely_lost")},
                          others=["create"] if nthreads else [])
    dtv_bytes, dtv_blocks = (check_dtv_records(others["create"], nthreads) if nthreads
                             else (0, 0))
    check_summary(t, allocations=pairs + 1 + dtv_blocks, frees=pairs,
                  unfreed=(88 + dtv_bytes, 1 + dtv_blocks), errors=0)
    check_kinds(t, definite=(88, 1), reachable=(dtv_bytes, dtv_blocks))


def case_sigstop(env):
    stop_case(env, 0, signal.SIGSTOP)


def case_sigstop_threads(env):
    stop_case(env, 2, signal.SIGSTOP)


def case_sigtstp_threads(env):
    stop_case(env, 2, signal.SIGTSTP)


def default_int_quit():
    """preexec_fn: memtrace starts with SIGINT and SIGQUIT at their
    defaults, as from an interactive shell."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def forward_case(env, sig, status):
    # SIG sent to memtrace's own pid is forwarded to the program, which
    # leaked 99 bytes and waits for it in sigsuspend.  Valgrind (SIGTERM):
    # 99 bytes definitely lost, the other kinds 0/0.
    live = Live(env, "signal_wait", ["all"])
    live.wait_for("ready")
    log("kill(memtrace %d, %s)" % (live.p.pid, signal.Signals(sig).name))
    os.kill(live.p.pid, sig)
    t = live.finish(status)
    check_exited(t, status)
    check_summary(t, allocations=1, frees=0, unfreed=(99, 1), errors=0)
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})
    check_text_has("text report (stderr)", t.stderr,
                   "signal_wait.c:%d" % env.line("signal_wait", "leak"))


def case_sigterm_forward(env):
    forward_case(env, signal.SIGTERM, 7)


def case_sighup_forward(env):
    forward_case(env, signal.SIGHUP, 8)


def case_sigint_to_memtrace(env):
    # SIGINT sent to memtrace alone (not the group) is ignored by memtrace
    # and not forwarded: the program (which catches SIGINT: it would exit
    # 9) only sees the SIGTERM that follows and exits 7.
    live = Live(env, "signal_wait", ["all"], preexec_fn=default_int_quit)
    live.wait_for("ready")
    log("kill(memtrace %d, SIGINT)" % live.p.pid)
    os.kill(live.p.pid, signal.SIGINT)
    check("memtrace still running 0.2 s after SIGINT", None, live.wait(0.2))
    os.kill(live.p.pid, signal.SIGTERM)
    t = live.finish(7)
    check_exited(t, 7)
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})


def case_target_signal_dispositions(env):
    # memtrace ignores SIGINT and SIGQUIT itself; the program must still
    # start with them at their defaults (as memtrace found them), or Ctrl-C
    # and Ctrl-\ would not reach it.
    live = Live(env, "signal_wait", ["all"], preexec_fn=default_int_quit)
    live.wait_for("ready")
    out = stdout_ints(live.out.decode())
    os.kill(live.p.pid, signal.SIGTERM)
    t = live.finish(7)
    check_exited(t, 7)
    check("program's SIGINT disposition at start is ignored (1) or not (0)", 0,
          out.get("sigint_ignored"))
    check("program's SIGQUIT disposition at start is ignored (1) or not (0)", 0,
          out.get("sigquit_ignored"))


def case_ctrl_c(env):
    # Ctrl-C: SIGINT to the whole foreground process group (memtrace and
    # the program).  memtrace ignores it and stays to report; the program
    # (SIGINT at its default action) dies of it: memtrace exits 130 and the
    # report has the 99-byte leak.  Valgrind ("Process terminating with
    # default action of signal 2 (SIGINT)"): 99 bytes definitely lost, the
    # other kinds 0/0 (the fixture cleared its pointer before waiting).
    live = Live(env, "signal_wait", ["noint"], preexec_fn=default_int_quit,
                start_new_session=True)
    live.wait_for("ready")
    log("killpg(%d, SIGINT)" % live.p.pid)
    os.killpg(live.p.pid, signal.SIGINT)
    if live.wait(10) is None:
        out = stdout_ints(live.out.decode())
        os.kill(live.p.pid, signal.SIGTERM)
        code = live.wait(10)
        live.kill()
        raise Failure("the program did not die of SIGINT within 10 s (it printed "
                      "sigint_ignored=%r; after SIGTERM memtrace exited %r)\nstderr:\n%s" % (
                          out.get("sigint_ignored"), code, live.stderr()[-3000:]))
    t = live.finish(128 + signal.SIGINT)
    check("process end", "signaled", t.process["end"])
    check("process signal", "SIGINT", t.process["signal"])
    check_summary(t, allocations=1, frees=0, unfreed=(99, 1), errors=0)
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})


# -------------------------------------------------- real processes: static

@ctest(needs="fx_static")
def case_static(env):
    # A static executable: malloc and free are the executable's own,
    # hooked through its symbol table.  glibc's static start-up allocates
    # on its own (records without a static.c frame): only their stack[0]
    # is checked (a function of the executable), and that their kinds are
    # the summary's (check_shape).  Valgrind cannot check this program: it
    # cannot replace the malloc linked into a static executable ("0 allocs,
    # 0 frees").  By its rules the 42-byte block is definitely lost (no
    # pointer to it is left).  (Of the start-up blocks memtrace calls some
    # definitely lost: those glibc points to only from RELRO variables,
    # read-only at exit, which Valgrind does not scan either.)
    check("native status", 0, native(env, "static").returncode)
    t = trace(env, "static", status=0)
    check_exited(t, 0)
    mine = [r for r in t.leaks if first_frame_in(r["stack"], "static.c")]
    marked_leaks(env, {"pid": t.process["pid"], "leaks": mine}, "static",
                 {"leak": (42, 1, "malloc", "main", "definitely_lost")})
    for rec in t.leaks:
        if rec not in mine:
            f = rec["stack"][0] if rec["stack"] else {}
            check_true("start-up leak record: stack[0] is a named function of fx_static",
                       f.get("function") and base(f.get("module")) == "fx_static",
                       leak_str(rec))
    check("errors", [], t.errors)
    s = t.summary
    check("allocations - frees == unfreed blocks", s["allocations"] - s["frees"],
          s["unfreed"]["blocks"])
    check_true("frees >= 1 (the 24-byte pair)", s["frees"] >= 1, json.dumps(s))


@ctest(needs="fx_static")
def case_static_aligned(env):
    # The static executable's posix_memalign and aligned_alloc are hooked
    # too.  All three blocks of static.c definitely lost (see case_static).
    check("native status", 0, native(env, "static", ["aligned"]).returncode)
    t = trace(env, "static", ["aligned"], status=0)
    check_exited(t, 0)
    recs = [r for r in t.leaks if first_frame_in(r["stack"], "static.c")]
    marked_leaks(env, {"pid": t.process["pid"], "leaks": recs}, "static", {
        "leak": (42, 1, "malloc", "main", "definitely_lost"),
        "memalign_leak": (100, 1, "posix_memalign", "aligned_leaks", "definitely_lost"),
        "aligned_leak": (128, 1, "aligned_alloc", "aligned_leaks", "definitely_lost"),
    })


# ------------------------------------------------------ leak kinds (issue 6)
#
# fx_kinds MODE: one scenario a run (fixtures/kinds.c).  Each case quotes
# valgrind --leak-check=full --show-leak-kinds=all on the same command and
# asserts the kind of every record and the four totals.  Every mode also
# loses an 11-byte control block at `lost` (not with argv[2] "alone").

KINDS_LOST = (11, 1, "malloc", "lose", "definitely_lost")


def kinds_run(env, args, opts=(), status=0):
    t = trace(env, "kinds", args, opts=opts, status=status)
    check_exited(t, 0)
    check("errors", [], t.errors)
    return t


def case_kinds_global(env):
    # Valgrind: 100 bytes still reachable (kept_global), 11 definitely lost;
    # LEAK SUMMARY definitely lost 11/1, indirectly 0/0, possibly 0/0,
    # still reachable 100/1.
    t = kinds_run(env, ["global"])
    check_summary(t, allocations=2, frees=0, bytes_allocated=111, unfreed=(111, 2))
    marked_leaks(env, t.process, "kinds", {
        "global": (100, 1, "malloc", "keep_in_global", "still_reachable"),
        "lost": KINDS_LOST})
    check_kinds(t, definite=(11, 1), reachable=(100, 1))


def case_kinds_tree(env):
    # Valgrind: "224 (32 direct, 192 indirect) bytes in 1 blocks are
    # definitely lost" (the root, tree_root), six "32 bytes in 1 blocks are
    # indirectly lost" (tree_node, one record per call path), 11 definitely
    # lost; LEAK SUMMARY definitely lost 43/2, indirectly lost 192/6,
    # possibly 0/0, still reachable 0/0.
    t = kinds_run(env, ["tree"])
    check_summary(t, allocations=8, frees=0, bytes_allocated=235, unfreed=(235, 8))
    marked_leaks(env, t.process, "kinds", {
        "tree_root": (32, 1, "malloc", "lose_tree", "definitely_lost"),
        "tree_node": (192, 6, "malloc", "tree_node", "indirectly_lost"),
        "lost": KINDS_LOST}, indirect={"tree_root": (192, 6)})
    check_kinds(t, definite=(43, 2), indirect=(192, 6))
    # The text report, by default, lists definitely and possibly lost only.
    check_text_has("text report (stderr)", t.stderr,
                   "224 (32 direct, 192 indirect) bytes in 1 blocks are definitely lost in "
                   "loss record ")
    check_text_has("text report (stderr)", t.stderr, "indirectly lost: 192 bytes in 6 blocks")
    check_true("the text report does not list indirectly lost records by default",
               "are indirectly lost" not in t.stderr, t.stderr[-3000:])


def case_kinds_cycle(env):
    # Valgrind: "64 (32 direct, 32 indirect) bytes in 1 blocks are
    # definitely lost" and "32 bytes in 1 blocks are indirectly lost" (the
    # two cycle_node blocks), 11 definitely lost; LEAK SUMMARY definitely
    # lost 43/2, indirectly lost 32/1, possibly 0/0, still reachable 0/0.
    t = kinds_run(env, ["cycle"])
    check_summary(t, allocations=3, frees=0, bytes_allocated=75, unfreed=(75, 3))
    marked_leaks(env, t.process, "kinds", {
        "cycle_node": (64, 2, "malloc", "cycle_node",
                       {"definitely_lost": (32, 1), "indirectly_lost": (32, 1)}),
        "lost": KINDS_LOST}, indirect={"cycle_node": (32, 1)})
    check_kinds(t, definite=(43, 2), indirect=(32, 1))
    check_text_has("text report (stderr)", t.stderr,
                   "64 (32 direct, 32 indirect) bytes in 1 blocks are definitely lost")


def case_kinds_interior(env):
    # Valgrind: 64 bytes possibly lost (only kept_interior = start + 8 is
    # left), 11 definitely lost; LEAK SUMMARY definitely lost 11/1,
    # indirectly 0/0, possibly lost 64/1, still reachable 0/0.
    t = kinds_run(env, ["interior"])
    check_summary(t, allocations=2, frees=0, bytes_allocated=75, unfreed=(75, 2))
    marked_leaks(env, t.process, "kinds", {
        "interior": (64, 1, "malloc", "keep_interior", "possibly_lost"),
        "lost": KINDS_LOST})
    check_kinds(t, definite=(11, 1), possible=(64, 1))
    check_text_has("text report (stderr)", t.stderr,
                   "64 bytes in 1 blocks are possibly lost in loss record ")


def case_kinds_tls(env):
    # Valgrind: 120 bytes still reachable (kept_tls, a _Thread_local of the
    # main thread), 11 definitely lost; LEAK SUMMARY definitely lost 11/1,
    # indirectly 0/0, possibly 0/0, still reachable 120/1.
    t = kinds_run(env, ["tls"])
    check_summary(t, allocations=2, frees=0, bytes_allocated=131, unfreed=(131, 2))
    marked_leaks(env, t.process, "kinds", {
        "tls": (120, 1, "malloc", "keep_in_tls", "still_reachable"),
        "lost": KINDS_LOST})
    check_kinds(t, definite=(11, 1), reachable=(120, 1))


def case_kinds_mmap(env):
    # Valgrind: 130 bytes (only in a MAP_PRIVATE anonymous page) and 140
    # (only in a MAP_SHARED one) still reachable, 11 definitely lost; LEAK
    # SUMMARY definitely lost 11/1, indirectly 0/0, possibly 0/0, still
    # reachable 270/2.
    t = kinds_run(env, ["mmap"])
    check_summary(t, allocations=3, frees=0, bytes_allocated=281, unfreed=(281, 3))
    marked_leaks(env, t.process, "kinds", {
        "mmap_private": (130, 1, "malloc", "keep_in_mmap", "still_reachable"),
        "mmap_shared": (140, 1, "malloc", "keep_in_mmap", "still_reachable"),
        "lost": KINDS_LOST})
    check_kinds(t, definite=(11, 1), reachable=(270, 1 + 1))


def kinds_thread_case(env, mode, mark, nbytes, function, kind):
    """A scenario with one extra thread (started at `create`): the block at
    MARK (NBYTES, in FUNCTION) is of KIND; the thread's DTV still reachable."""
    t = kinds_run(env, [mode])
    others = marked_leaks(env, t.process, "kinds", {
        mark: (nbytes, 1, "malloc", function, kind),
        "lost": KINDS_LOST}, others=["create"])
    dtv_bytes, dtv_blocks = check_dtv_records(others["create"], 1)
    check_summary(t, allocations=2 + dtv_blocks, frees=0,
                  unfreed=(nbytes + 11 + dtv_bytes, 2 + dtv_blocks))
    mine = (nbytes, 1) if kind == "still_reachable" else (0, 0)
    check_kinds(t, definite=(11 + (nbytes if kind == "definitely_lost" else 0), 1 + (
                    kind == "definitely_lost")),
                reachable=(mine[0] + dtv_bytes, mine[1] + dtv_blocks))


def case_kinds_thread_stack(env):
    # Valgrind: 150 bytes still reachable (a local of the thread blocked in
    # pause() when main calls exit), 288 bytes (the running thread's DTV)
    # possibly lost, with or without --run-libc-freeres, 11 definitely
    # lost; LEAK SUMMARY definitely lost 11/1, indirectly 0/0, possibly
    # lost 288/1, still reachable 150/1.  memtrace counts the DTV still
    # reachable (check_dtv_records): reachable 438/2.
    kinds_thread_case(env, "thread_stack", "thread_stack", 150, "park", "still_reachable")


def case_kinds_thread_reg(env):
    # Valgrind: 160 bytes still reachable (only in r12 of the thread
    # spinning when main calls exit), the DTV (288) possibly lost, 11
    # definitely lost; LEAK SUMMARY definitely lost 11/1, indirectly 0/0,
    # possibly lost 288/1, still reachable 160/1 (memtrace: the DTV still
    # reachable too).
    kinds_thread_case(env, "thread_reg", "thread_reg", 160, "reg_block", "still_reachable")


def case_kinds_dead_thread(env):
    # Valgrind: 180 bytes definitely lost: the thread that allocated them
    # returned and was joined; its stack memory (where 64 copies of the
    # pointer are left, in the dead frame of die) is dead, and Valgrind
    # never scans below a stack pointer, nor an exited thread's stack.
    # The 288-byte DTV of the joined thread is freed by __libc_freeres
    # (possibly lost with --run-libc-freeres=no, see check_dtv_records);
    # 11 definitely lost.  LEAK SUMMARY definitely lost 191/2, indirectly
    # 0/0, possibly 0/0 (288/1 without freeres), still reachable 0/0.
    kinds_thread_case(env, "dead_thread", "dead_thread", 180, "die", "definitely_lost")


def case_kinds_dlopen(env):
    # Valgrind: 170 bytes still reachable (fx_kinds_dl_kept, a global of the
    # dlopen'ed, never closed libfx_kinds_dl.so), 11 definitely lost.  Of
    # dlopen's own blocks, __libc_freeres frees the 2,304-byte
    # _dlfo_mappings_segment_allocate block and one of 56; the others
    # (link map 1,268, names 44 + 44, scope 72 here) still reachable.  With
    # --run-libc-freeres=no: definitely lost 11/1, indirectly 0/0, possibly
    # lost 2,304/1 (glibc keeps an aligned pointer into it), still
    # reachable 1,654/6 (170 + 1,268 + 72 + 56 + 44 + 44); memtrace says the
    # same.  The link map's size depends on the library's path.
    lib = os.path.join(env.fixtures_dir, "libfx_kinds_dl.so")
    check_true("%s built" % lib, os.path.exists(lib))
    t = kinds_run(env, ["dlopen", lib])
    others = marked_leaks(env, t.process, "kinds", {"lost": KINDS_LOST},
                          others=["dl_call", "dlopen"])
    log("-- the block kept by the library")
    check("records allocated under dl_call", 1, len(others["dl_call"]))
    rec = others["dl_call"][0]
    check_leak(rec, "still_reachable", 170, 1, "malloc")
    check_frame("stack[0]", rec["stack"][0], "fx_kinds_dl_keep", "kinds_dl.c",
                env.line("kinds_dl", "dl_global"), "libfx_kinds_dl.so")
    check_frame("stack[1]", rec["stack"][1], "keep_in_lib", "kinds.c",
                env.line("kinds", "dl_call"), "fx_kinds")
    log("-- dlopen's own blocks")
    dl = others["dlopen"]
    dlfo = [r for r in dl if any(f.get("function") == "_dlfo_mappings_segment_allocate"
                                 for f in r["stack"])]
    check("records of _dlfo_mappings_segment_allocate", 1, len(dlfo))
    check_dlfo_kind(dlfo[0])
    possible, (dr_bytes, dr_blocks) = dlfo_split(dlfo)
    rest = [r for r in dl if r is not dlfo[0]]
    check("kinds of dlopen's other records", ["still_reachable"] * len(rest),
          [r["kind"] for r in rest])
    check_kinds(t, definite=(11, 1), possible=possible,
                reachable=(170 + dr_bytes + sum(r["bytes"] for r in rest),
                           1 + dr_blocks + sum(r["blocks"] for r in rest)))


def case_kinds_text(env):
    # The text report lists definitely and possibly lost records by default
    # (Valgrind's --show-leak-kinds=definite,possible), the LEAK SUMMARY all
    # four kinds; --show-reachable and --show-leak-kinds choose the records.
    line = env.line("kinds", "global")
    reach = "100 bytes in 1 blocks are still reachable in loss record "
    lost = "11 bytes in 1 blocks are definitely lost in loss record "
    summary = ["definitely lost: 11 bytes in 1 blocks", "indirectly lost: 0 bytes in 0 blocks",
               "possibly lost: 0 bytes in 0 blocks", "still reachable: 100 bytes in 1 blocks"]
    for opts, listed, hidden in (
            ([], [lost], [reach, "kinds.c:%d" % line]),
            (["--show-reachable"], [lost, reach, "kinds.c:%d" % line], []),
            (["--show-leak-kinds=all"], [lost, reach, "kinds.c:%d" % line], []),
            (["--show-leak-kinds=reachable"], [reach, "kinds.c:%d" % line], [lost]),
            (["--show-leak-kinds=definite,indirect"], [lost], [reach]),
            (["--show-leak-kinds=none"], [], [lost, reach, "in loss record"])):
        log("-- text report with %r" % (opts,))
        t = kinds_run(env, ["global"], opts=opts)
        check_kinds(t, definite=(11, 1), reachable=(100, 1))
        check("JSON records (every kind, whatever the text shows)",
              ["definitely_lost", "still_reachable"], sorted(r["kind"] for r in t.leaks))
        for needle in listed + summary:
            check_text_has("text report with %r" % (opts,), t.stderr, needle)
        for needle in hidden:
            check_true("text report with %r does not contain %r" % (opts, needle),
                       needle not in t.stderr, t.stderr[-3000:])
        hint = "Reachable blocks (those to which a pointer was found) are not shown."
        check("text report with %r says reachable blocks are not shown" % (opts,),
              reach not in t.stderr, hint in t.stderr)


def case_kinds_error_exitcode(env):
    # --error-exitcode counts bad frees and definitely and possibly lost
    # blocks (Valgrind's default --errors-for-leak-kinds=definite,possible):
    # valgrind -q --leak-check=full --error-exitcode=9 exits 9 for
    # `fx_kinds tree` and `fx_kinds interior alone` (possibly lost only),
    # 0 for `fx_kinds global alone` (still reachable only).
    for args, status, kinds in ((["tree"], 9, dict(definite=(43, 2), indirect=(192, 6))),
                                (["interior", "alone"], 9, dict(possible=(64, 1))),
                                (["global", "alone"], 0, dict(reachable=(100, 1)))):
        log("-- fx_kinds %s with --error-exitcode 9: status %d" % (" ".join(args), status))
        t = kinds_run(env, args, opts=["--error-exitcode", "9"], status=status)
        check_kinds(t, **kinds)


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


# --- mappings (issue 7) ---
#
# fx_maps MODE [clean] (fixtures/maps.c).  anon, devzero and sysv are the
# user's document's three ways of sharing memory between a parent and its
# forked child (the child writes the letters, the parent reads them), with
# nothing released unless "clean".  Both processes are reported: a child
# inherits its parent's mappings, so each one's record lists what it still
# had mapped.  A SysV segment is reported by the process that created it
# (and by any that still had it attached) while it is in the kernel at the
# end; tests remove the segments their runs leave, pass or fail.

MAP_KEYS = ("kind", "address", "bytes", "prot", "flags", "backing", "path", "shared_state",
            "stack")
SYSV_KEYS = MAP_KEYS + ("shmid", "key", "created", "removed", "persists", "attached")


def mapping_str(m):
    return "%s %s bytes at %s %s %s path=%s shared_state=%s%s\n%s" % (
        m.get("kind"), m.get("bytes"), m.get("address"), m.get("prot"), m.get("flags"),
        m.get("path"), m.get("shared_state"),
        " shmid=%s created=%s removed=%s persists=%s attached=%s" % (
            m.get("shmid"), m.get("created"), m.get("removed"), m.get("persists"),
            m.get("attached")) if m.get("kind") == "sysv_shm" else "",
        stack_str(m.get("stack")))


def maps_run(env, args, nprocs=2):
    """fx_maps ARGS: NPROCS processes (the parent, then its child)."""
    prog = env.fixture("maps")
    return check_maps_procs(trace(env, "maps", args, commands=[[prog] + list(args)] * nprocs))


def check_maps_procs(t):
    """Every process exited 0 without errors, its mappings well formed."""
    for proc in t.procs:
        check_exited(proc, 0)
        check("errors of pid %s" % proc["pid"], [], proc["errors"])
        for m in proc["mappings"]:
            keys = SYSV_KEYS if m.get("kind") == "sysv_shm" else MAP_KEYS
            check("missing keys of a mapping", [], [k for k in keys if k not in m])
        log("mappings of pid %s:\n%s" % (proc["pid"], "\n".join(
            mapping_str(m) for m in proc["mappings"]) or "  (none)"))
    return t


def check_no_mappings(t):
    for proc in t.procs:
        check("mappings of pid %s" % proc["pid"], [], [mapping_str(m) for m in proc["mappings"]])
    check_true("no MAPPINGS section in the text report", "MAPPINGS:" not in t.stderr,
               t.stderr[-3000:])


def check_mappings_header(t, pid, nmaps, shared, private, nsegs, seg_bytes):
    """The text report's MAPPINGS line of PID."""
    check_text_has("text report (stderr)", t.stderr,
                   "==%d== MAPPINGS: %d mapping%s never unmapped (%d bytes shared, %d bytes "
                   "private), %d SysV segment%s left in the kernel (%d bytes)\n" % (
                       pid, nmaps, "" if nmaps == 1 else "s", shared, private, nsegs,
                       "" if nsegs == 1 else "s", seg_bytes))


def check_text_record(env, t, pid, headline, m, function, mark):
    """The text report's record of mapping M: HEADLINE, then its first frame
    in FUNCTION at MARK's line."""
    check_text_has("text report (stderr)", t.stderr,
                   "==%d== %s\n==%d==    at %s: %s (maps.c:%d)\n" % (
                       pid, headline, pid, m["stack"][0]["address"], function,
                       env.line("maps", mark)))


def check_mapping(env, m, kind, nbytes, flags, backing, path, mark, function):
    """One JSON mapping: its fields, and its stack's first maps.c frame on
    MARK's line in FUNCTION."""
    check("mapping kind", kind, m["kind"])
    check("mapping bytes", nbytes, m["bytes"])
    check("mapping flags", flags, m["flags"])
    check("mapping backing", backing, m["backing"])
    check("mapping path", path, m["path"])
    check("mapping shared_state", flags[0] == "shared", m["shared_state"])
    if m["address"] is not None:
        check("mapping prot", "rw-", m["prot"])
    f = first_frame_in(m["stack"], "maps.c")
    check_true("the mapping's stack has a maps.c frame", f is not None, mapping_str(m))
    check_frame("first maps.c frame of the mapping", f, function, "maps.c",
                env.line("maps", mark))
    check_true("that frame is the caller of the mapping function (stack[0])",
               m["stack"][0] is f, mapping_str(m))


def shared_region_case(env, mode, flags, backing, path, mark, function):
    """The document's mmap programs without the munmap: the region stays
    mapped in the parent and in the child, at the same address."""
    t = maps_run(env, [mode])
    check_true("the child's letters reached the parent",
               "after the child: abcdefghijklmnopqrstuvwxyz\n" in t.stdout, t.stdout[-500:])
    for proc in t.procs:
        check("leaks of pid %s" % proc["pid"], [], proc["leaks"])
        check("number of mappings of pid %s" % proc["pid"], 1, len(proc["mappings"]))
        m = proc["mappings"][0]
        check_mapping(env, m, "mmap", 4096, flags, backing, path, mark, function)
        pid = proc["pid"]
        check_mappings_header(t, pid, 1, 4096, 0, 0, 0)
        check_text_record(env, t, pid, "4096 bytes at %s: shared anonymous mapping%s (rw-), never "
                          "unmapped: holds state shared with other processes" % (
                              m["address"], " of " + path if path else ""), m, function, mark)
    check("the child's mapping is the parent's (same address)",
          t.procs[0]["mappings"][0]["address"], t.procs[1]["mappings"][0]["address"])


def case_maps_anon(env):
    shared_region_case(env, "anon", ["shared", "anonymous"], "anonymous", None, "anon_mmap",
                       "anon_alloc")


def case_maps_anon_clean(env):
    check_no_mappings(maps_run(env, ["anon", "clean"]))


def case_maps_devzero(env):
    shared_region_case(env, "devzero", ["shared"], "anonymous", "/dev/zero", "devzero_mmap",
                       "devzero_alloc")


def case_maps_devzero_clean(env):
    check_no_mappings(maps_run(env, ["devzero", "clean"]))


def sysv_segments():
    """{shmid: (key, size)} of /proc/sysvipc/shm."""
    with open("/proc/sysvipc/shm") as fh:
        rows = [line.split() for line in fh.readlines()[1:]]
    return {int(r[1]): (int(r[0]), int(r[3])) for r in rows if len(r) > 3}


def remove_segment(shmid):
    """ipcrm -m SHMID, when the run left the segment behind."""
    if shmid is not None and shmid in sysv_segments():
        log("removing SysV segment %d" % shmid)
        subprocess.run(["ipcrm", "-m", str(shmid)], check=False)


def sysv_case(env, args, check_fn):
    """Runs fx_maps ARGS (a parent and its child), reads the segment id it
    prints and gives both to CHECK_FN; the segment is removed afterwards
    even when a check fails."""
    shmid = None
    prog = env.fixture("maps")
    json_path = json_path_for(env, "maps")
    try:
        p = memtrace(env, ["run", "--json", json_path, "--", prog] + list(args))
        shmid = stdout_ints(p.stdout).get("shmid")
        check_true("the fixture printed shmid=N", shmid is not None, p.stdout[-500:])
        t = check_maps_procs(finish_traced(env, p, json_path, 0, [[prog] + list(args)] * 2))
        check_fn(t, shmid)
    finally:
        remove_segment(shmid)


def check_sysv(env, m, shmid, created, attached):
    check("sysv mapping kind", "sysv_shm", m["kind"])
    check("sysv shmid", shmid, m["shmid"])
    check("sysv key (IPC_PRIVATE)", 0, m["key"])
    check("sysv bytes", 1024, m["bytes"])
    check("sysv created", created, m["created"])
    check("sysv removed", False, m["removed"])
    check("sysv persists", True, m["persists"])
    check("sysv attached", attached, m["attached"])
    check("sysv address", attached[0] if attached else None, m["address"])
    check("sysv flags", ["shared"], m["flags"])
    check("sysv shared_state", True, m["shared_state"])
    check_frame("sysv stack[0]: the shmget that created it", m["stack"][0], "sysv_alloc",
                "maps.c", env.line("maps", "shmget"))


def case_maps_sysv(env):
    # Both processes shmdt; nobody removes the segment: it is in
    # /proc/sysvipc/shm after the run.  The parent created it and reports
    # it; the child detached and reports nothing.
    def checks(t, shmid):
        parent, child = t.procs
        check_true("segment %d is still in /proc/sysvipc/shm" % shmid,
                   sysv_segments().get(shmid) == (0, 1024), repr(sysv_segments()))
        check("number of the parent's mappings", 1, len(parent["mappings"]))
        check_sysv(env, parent["mappings"][0], shmid, True, [])
        check("the child's mappings", [], [mapping_str(m) for m in child["mappings"]])
        pid = parent["pid"]
        check_mappings_header(t, pid, 0, 0, 0, 1, 1024)
        check_text_record(env, t, pid, "1024 bytes in SysV shared memory segment %d (key "
                          "0x00000000), created by this process, not attached at exit" % shmid,
                          parent["mappings"][0], "sysv_alloc", "shmget")
        check_text_has("text report (stderr)", t.stderr,
                       "==%d==  Never removed (shmctl IPC_RMID): it persists after the process "
                       "ends; remove it with: ipcrm -m %d\n" % (pid, shmid))
        check("ipcrm hints", 1, t.stderr.count("ipcrm -m"))
    sysv_case(env, ["sysv"], checks)


def case_maps_sysv_clean(env):
    def checks(t, shmid):
        check_no_mappings(t)
        check_true("segment %d is gone from /proc/sysvipc/shm" % shmid,
                   shmid not in sysv_segments(), repr(sysv_segments()))
    sysv_case(env, ["sysv", "clean"], checks)


def case_maps_sysv_attached(env):
    # Nobody detaches or removes: both processes had it attached at exit.
    def checks(t, shmid):
        parent, child = t.procs
        for proc, created in ((parent, True), (child, False)):
            check("number of mappings of pid %s" % proc["pid"], 1, len(proc["mappings"]))
            m = proc["mappings"][0]
            check_true("attached somewhere", m["attached"], mapping_str(m))
            check_sysv(env, m, shmid, created, m["attached"][:1])
            check_text_has("text report (stderr)", t.stderr,
                           "==%d== 1024 bytes in SysV shared memory segment %d (key 0x00000000), "
                           "created by %s process, still attached at %s\n" % (
                               proc["pid"], shmid, "this" if created else "another",
                               m["address"]))
        check("the child's attachment is the parent's", parent["mappings"][0]["attached"],
              child["mappings"][0]["attached"])
    sysv_case(env, ["sysv_attached"], checks)


def case_maps_sysv_child_rm(env):
    # The child removes the parent's segment: removed for both.
    def checks(t, shmid):
        check_no_mappings(t)
        check_true("segment %d is gone" % shmid, shmid not in sysv_segments())
    sysv_case(env, ["sysv_child_rm"], checks)


def case_maps_split(env):
    t = maps_run(env, ["split"], nprocs=1)
    maps = t.process["mappings"]
    check("number of mappings after unmapping the middle page", 2, len(maps))
    for m in maps:
        check_mapping(env, m, "mmap", 4096, ["private", "anonymous"], "anonymous", None,
                      "split_mmap", "split")
    check("distance between the two pieces", 8192,
          int(maps[1]["address"], 16) - int(maps[0]["address"], 16))
    check_mappings_header(t, t.process["pid"], 2, 0, 8192, 0, 0)
    check_text_has("text report (stderr)", t.stderr,
                   "4096 bytes at %s: private anonymous mapping (rw-), never unmapped: memory "
                   "never released (a leak in a long-running process)" % maps[1]["address"])


def case_maps_mremap(env):
    t = maps_run(env, ["mremap"], nprocs=1)
    maps = t.process["mappings"]
    check("number of mappings", 1, len(maps))
    check_mapping(env, maps[0], "mmap", 8192, ["private", "anonymous"], "anonymous", None,
                  "grow_mmap", "grow")
    check("address of the moved mapping", stdout_ptrs(t.stdout)["moved"],
          int(maps[0]["address"], 16))


def case_maps_bigmalloc(env):
    # glibc serves 256 KiB blocks with mmap, grows them with mremap, frees
    # them with munmap, and maps the thread's stack: none of it is the
    # program's.  Leaks: only the thread's DTV (pthread_create's).
    t = maps_run(env, ["bigmalloc"], nprocs=1)
    check_no_mappings(t)
    others = marked_leaks(env, t.process, "maps", {}, others=["create"])
    dtv_bytes, dtv_blocks = check_dtv_records(others["create"], 1)
    check_summary(t, allocations=16 + dtv_blocks, frees=16)


def case_maps_heapref(env):
    # The only pointer to a 77-byte block is in a /dev/zero MAP_SHARED page
    # that is never unmapped: the leak scan reads the program's mappings.
    t = maps_run(env, ["heapref"], nprocs=1)
    marked_leaks(env, t.process, "maps", {
        "heapref_malloc": (77, 1, "malloc", "keep_in_devzero", "still_reachable")})
    check_kinds(t, reachable=(77, 1))
    check("number of mappings", 1, len(t.process["mappings"]))
    check_mapping(env, t.process["mappings"][0], "mmap", 4096, ["shared"], "anonymous",
                  "/dev/zero", "devzero_mmap", "devzero_alloc")


# --- attach (issue 5) ---
#
# fx_attach_target MODE (fixtures/attach_target.c) runs until SIGTERM, then
# prints "ok=N" and exits 0, or "FAIL ..." and exits 1 as soon as anything
# it computes or observes (checksums, a read or sleep cut short, a child's
# exit status) is wrong.  Each case attaches, detaches, and then checks the
# process is exactly as before: still running, not traced, no memtrace page
# in its maps, the code of its libraries byte for byte what it was, and
# able to finish its work correctly.


class AttachTarget:
    """A running fx_attach_target MODE."""

    def __init__(self, env, mode, stopped=False):
        self.mode = mode
        self.out_path = os.path.join(env.tmp, "attach_%s.out" % mode)
        self.out = open(self.out_path, "w+")
        # stdin: a pipe kept open, so "read" mode blocks in read(2).
        self.argv = [env.fixture("attach_target"), mode]
        self.proc = subprocess.Popen(self.argv,
                                     stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=child_env())
        self.pid = self.proc.pid
        deadline = time.time() + 10
        while "ready=" not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("fx_attach_target %s did not start: %r" % (mode, self.output()))
            time.sleep(0.02)
        check("pid the target prints", "ready=%d" % self.pid, self.output().split("\n")[0])
        if stopped:
            os.kill(self.pid, signal.SIGSTOP)
            wait_state(self.pid, "T")
        self.text_before = self.code_digest()
        self.exec_maps_before = self.exec_maps()

    def output(self):
        with open(self.out_path) as fh:
            return fh.read()

    def status_field(self, key):
        with open("/proc/%d/status" % self.pid) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
        return None

    def exec_maps(self):
        """Executable mappings: memtrace's scratch page would be one."""
        with open("/proc/%d/maps" % self.pid) as fh:
            return sorted(l.split()[0] + " " + (l.split()[5] if len(l.split()) > 5 else "")
                          for l in fh if l.split()[1][2] == "x")

    def code_digest(self):
        """The bytes of every executable file mapping (int3s would show)."""
        import hashlib
        digest = {}
        with open("/proc/%d/maps" % self.pid) as fh:
            maps = [l.split() for l in fh]
        with open("/proc/%d/mem" % self.pid, "rb") as mem:
            for f in maps:
                if f[1][2] != "x" or len(f) < 6 or not f[5].startswith("/"):
                    continue
                lo, hi = (int(x, 16) for x in f[0].split("-"))
                mem.seek(lo)
                digest[f[5] + "@" + f[0]] = hashlib.sha1(mem.read(hi - lo)).hexdigest()
        return digest

    def check_untouched(self, still_stopped=False):
        """After memtrace is gone: as before it came."""
        check_true("target still running", self.proc.poll() is None,
                   "exit status %r, output %r" % (self.proc.returncode, self.output()))
        check("TracerPid of the target after detach", "0", self.status_field("TracerPid"))
        check("executable mappings after detach (no scratch page)", self.exec_maps_before,
              self.exec_maps())
        check_true("code of every executable mapping unchanged (no int3 left)",
                   self.code_digest() == self.text_before)
        state = self.status_field("State")
        if still_stopped:
            check("target state after detach (it was stopped)", "T", state[0])
        else:
            check_true("target not stopped after detach", state[0] in "RSD", state)
        check_true("target reported no failure", "FAIL" not in self.output(), self.output())

    def finish(self):
        """Stops it (SIGCONT, SIGTERM) and checks it ended well."""
        os.kill(self.pid, signal.SIGCONT)
        os.kill(self.pid, signal.SIGTERM)
        self.proc.stdin.close()   # "read" mode: end of input ends the read too
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("target did not end after SIGTERM: %r" % self.output())
        out = self.output()
        log("target output: %r" % out)
        check("target exit status", 0, rc)
        check_true("target printed ok=N with N > 0",
                   re.search(r"^ok=[1-9][0-9]*$", out, re.M) is not None, out)
        self.out.close()

    def kill(self):
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def wait_state(pid, letter, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/%d/stat" % pid) as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == letter:
                return
        time.sleep(0.02)
    raise Failure("pid %d never reached state %s" % (pid, letter))


def attach(env, target, opts=(), status=0, name=None):
    """memtrace attach --json FILE OPTS PID; checks the exit status and the
    JSON's shape, returns a Traced."""
    json_path = json_path_for(env, name or "attach_" + target.mode)
    p = memtrace(env, ["attach", "--json", json_path] + list(opts) + [str(target.pid)])
    return finish_traced(env, p, json_path, status, [target.argv], mode="attach")


def attach_error(env, pid_arg, expected_text):
    """memtrace attach PID_ARG fails with exit status 2 and one line."""
    p = memtrace(env, ["attach", "--duration", "1", pid_arg])
    check("exit status of memtrace attach %s" % pid_arg, 2, p.returncode)
    lines = p.stderr.strip().split("\n")
    check("lines of the error message", 1, len(lines))
    check_text_has("error message", lines[0], expected_text)
    return lines[0]


def with_target(env, mode, body, stopped=False):
    target = AttachTarget(env, mode, stopped=stopped)
    try:
        body(target)
    finally:
        target.kill()


def check_detached(t, target):
    check("process end", "detached", t.process["end"])
    check("process pid", target.pid, t.process["pid"])
    check_text_has("text report", t.stderr,
                   "==%d== Detached: pid %d runs on as before" % (target.pid, target.pid))


def case_attach_steady_leak(env):
    """The production case: a leak of 64 bytes every 10 ms from one line,
    found by a 2 s attach; the pairs freed meanwhile are not reported, and
    nothing is an error."""
    def body(target):
        t = attach(env, target, ["--duration", "2"])
        check_detached(t, target)
        check("errors", [], t.errors)
        line = env.line("attach_target", "steady_leak")
        recs = [r for r in t.leaks if r["stack"] and r["stack"][0]["function"] == "leak_one"]
        lost = [r for r in recs if r["kind"] == "definitely_lost"]
        check("definitely lost records allocated in leak_one", 1, len(lost))
        # The stop may find the main thread at malloc's return trap in
        # leak_one, its rax still holding the newest block: that block is
        # truly reachable from a register (memcheck says the same), so at
        # most that one 64-byte block may be still reachable.
        reachable = [(x["kind"], x["bytes"], x["blocks"]) for x in recs if x not in lost]
        check_true("other leak_one records: none, or the newest block reachable from a "
                   "register: %r" % reachable,
                   reachable in ([], [("still_reachable", 64, 1)]))
        r = lost[0]
        check("leak_one record: kind, allocator, line",
              ("definitely_lost", "malloc", "attach_target.c", line),
              (r["kind"], r["allocator"], base(r["stack"][0]["file"]), r["stack"][0]["line"]))
        # 2 s at one block per 10 ms plus the traps' cost: a few dozen to 200.
        check_true("plausible block count (20..205): %d" % r["blocks"], 20 <= r["blocks"] <= 205)
        check("bytes == 64 * blocks", 64 * r["blocks"], r["bytes"])
        check_true("oldest block aged 1.5..2.5 s: %r" % r["oldest_age_s"],
                   1.5 <= r["oldest_age_s"] <= 2.5)
        check_true("newest block aged under 0.5 s: %r" % r["newest_age_s"],
                   0 <= r["newest_age_s"] < 0.5)
        others = [leak_str(x) for x in t.leaks if x is not r and x["kind"] == "definitely_lost"]
        check("other definitely lost records", [], others)
        check_true("the pairs were seen: frees >= blocks", t.summary["frees"] >= r["blocks"])
        check_text_has("text report", t.stderr,
                       "are definitely lost in loss record 1 of 1, allocated by malloc(), aged")
        check_text_has("text report", t.stderr,
                       "==%d==    at %s: leak_one (attach_target.c:%d)\n" % (
                           target.pid, r["stack"][0]["address"], line))
        target.check_untouched()
        target.finish()
    with_target(env, "steady", body)


def case_attach_interval(env):
    """--interval: a live view every 0.5 s names the leaking line with its
    growth per second."""
    def body(target):
        t = attach(env, target, ["--duration", "2.3", "--interval", "0.5", "--top", "3"])
        views = re.findall(r"==%d== live view after ([0-9.]+) s: " % target.pid, t.stderr)
        check("number of live views in 2.3 s at 0.5 s", 4, len(views))
        line = env.line("attach_target", "steady_leak")
        grows = re.findall(r"==%d== +[0-9.]+ (?:B|KiB) +[0-9]+ +\+([0-9.]+) (B|KiB)/s  "
                           r"leak_one \(attach_target\.c:%d\) < main \(attach_target\.c:\d+\)\n"
                           % (target.pid, line), t.stderr)
        check("live-view rows naming the leaking line", 4, len(grows))
        rates = [float(v) * (1024 if u == "KiB" else 1) for v, u in grows]
        check_true("growth of the leaking line 0.3..7 KiB/s in every view: %r" % rates,
                   all(300 <= x <= 7000 for x in rates))
        target.check_untouched()
        target.finish()
    with_target(env, "steady", body)


@ctest(timeout=900)
def case_attach_churn_50(env):
    """Eight threads malloc, checksum and free in a tight loop; memtrace
    attaches and detaches 50 times, each after a random 0.1-2 s (seeded).
    The target never crashes, its checksums stay right, and it exits 0."""
    import random
    rng = random.Random(5)

    def body(target):
        total_allocs = 0
        for i in range(50):
            duration = "%.2f" % rng.uniform(0.1, 2.0)
            log("-- attach %d of 50, %s s" % (i + 1, duration))
            t = attach(env, target, ["--duration", duration, "-o", os.devnull])
            check("process end", "detached", t.process["end"])
            check("errors", [], t.errors)
            check("definitely lost records", [],
                  [leak_str(r) for r in t.leaks if r["kind"] == "definitely_lost"])
            total_allocs += t.summary["allocations"]
            check_true("target alive after detach %d" % (i + 1), target.proc.poll() is None,
                       target.output())
            check_true("no failure in the target", "FAIL" not in target.output(),
                       target.output())
        check_true("allocations were traced: %d" % total_allocs, total_allocs > 1000)
        target.check_untouched()
        target.finish()
    with_target(env, "churn", body)


def attach_cycle(env, mode, attaches=3, stopped=False, extra=None):
    """ATTACHES attach/detach cycles of about a second on fx_attach_target MODE."""
    def body(target):
        for i in range(attaches):
            t = attach(env, target, ["--duration", "0.8", "-o", os.devnull])
            check("process end", "detached", t.process["end"])
            check("errors", [], t.errors)
            if extra:
                extra(t, target)
            target.check_untouched(still_stopped=stopped)
        target.finish()
    with_target(env, mode, body, stopped=stopped)


def case_attach_blocked_read(env):
    """The main thread blocked in read(2) on a pipe: it stays blocked,
    never sees EINTR (the target fails if it does)."""
    attach_cycle(env, "read")


def case_attach_nanosleep(env):
    """The main thread in nanosleep(2): it sleeps its full time, no EINTR."""
    attach_cycle(env, "sleep")


def case_attach_stopped(env):
    """A SIGSTOPped process is still stopped after detach; its threads run
    and check their results once it is continued."""
    attach_cycle(env, "stopped", stopped=True)


def case_attach_while_forking(env):
    """Children forked while attached get clean memory: each allocates,
    frees and exits 7, which the parent checks."""
    attach_cycle(env, "fork")


def case_attach_thread_spawn(env):
    """Threads created and destroyed all the time, also between the listing
    of /proc/PID/task and the seizing: all are traced (their allocations
    are seen) and none is left stopped or traced."""
    def allocations_seen(t, target):
        check_true("allocations of short-lived threads seen: %d" % t.summary["allocations"],
                   t.summary["allocations"] > 50)
    attach_cycle(env, "spawn", attaches=5, extra=allocations_seen)


def attach_until(env, target, end):
    """memtrace attach --json FILE PID without --duration; after a second,
    END(memtrace's Popen) ends it (a signal to memtrace or to the target)."""
    json_path = json_path_for(env, "attach_until")
    cmd = [env.memtrace, "attach", "--json", json_path, str(target.pid)]
    log("$ " + " ".join(cmd))
    mt = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=child_env())
    time.sleep(1.0)
    end(mt)
    out, err = mt.communicate(timeout=60)
    p = subprocess.CompletedProcess(cmd, mt.returncode, out.decode(), err.decode())
    return finish_traced(env, p, json_path, 0, [target.argv], mode="attach")


def case_attach_target_exits(env):
    """The process ends while attached: the report says how, memtrace
    exits 0."""
    target = AttachTarget(env, "steady")
    try:
        t = attach_until(env, target, lambda mt: os.kill(target.pid, signal.SIGTERM))
        check_exited(t, 0)
        check("target exit status", 0, target.proc.wait(timeout=10))
        check_true("target printed ok", "ok=" in target.output(), target.output())
    finally:
        target.kill()


def stop_by_signal(env, sig):
    def body(target):
        t = attach_until(env, target, lambda mt: mt.send_signal(sig))
        check_detached(t, target)
        check_true("the leak was seen", any(r["stack"] and r["stack"][0]["function"] ==
                                            "leak_one" for r in t.leaks))
        target.check_untouched()
        target.finish()
    with_target(env, "churn" if sig == signal.SIGHUP else "steady", body)


def case_attach_sigint(env):
    """Ctrl-C (SIGINT to memtrace) detaches cleanly and reports."""
    stop_by_signal(env, signal.SIGINT)


def case_attach_sigterm(env):
    stop_by_signal(env, signal.SIGTERM)


def case_attach_errors(env):
    """Bad PIDs: one line, exit status 2, and the target untouched."""
    attach_error(env, "abc", "'abc' is not a process id")
    attach_error(env, "0", "'0' is not a process id")
    gone = subprocess.Popen(["true"])
    gone.wait()
    attach_error(env, str(gone.pid), "no such process: %d" % gone.pid)
    attach_error(env, str(os.getpid()), "is memtrace's parent")
    zombie = subprocess.Popen(["true"])
    wait_state(zombie.pid, "Z")
    try:
        attach_error(env, str(zombie.pid), "pid %d is a zombie" % zombie.pid)
    finally:
        zombie.wait()
    kthreads = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[6]) & 0x00200000:
                        kthreads.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    if kthreads:
        attach_error(env, str(kthreads[0]), "is a kernel thread")
    else:
        log("note: no kernel thread visible in this pid namespace; that check is not run")


def case_attach_already_traced(env):
    """A process another tracer holds (here a first memtrace attach): the
    second says who traces it; the first is unaffected and detaches."""
    def body(target):
        first_json = json_path_for(env, "attach_first")
        cmd = [env.memtrace, "attach", "--duration", "3", "--json", first_json,
               str(target.pid)]
        first = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=child_env())
        deadline = time.time() + 10
        while target.status_field("TracerPid") == "0":
            if time.time() > deadline:
                raise Failure("the first memtrace never attached")
            time.sleep(0.02)
        attach_error(env, str(target.pid), "pid %d is already traced by pid %d (memtrace)" % (
            target.pid, first.pid))
        out, err = first.communicate(timeout=60)
        check("first memtrace's exit status", 0, first.returncode)
        target.check_untouched()
        target.finish()
    with_target(env, "steady", body)


def case_attach_no_malloc(env):
    """A static program without malloc: refused with one line and exit 2,
    and the program keeps running untraced."""
    prog = subprocess.Popen([env.fixture("attach_nomalloc")], stdout=subprocess.PIPE)
    try:
        line = prog.stdout.readline().decode()
        check("nomalloc's first line", "ready", line.strip())
        attach_error(env, str(prog.pid), "no malloc found")
        with open("/proc/%d/status" % prog.pid) as fh:
            status = fh.read()
        check_true("nomalloc not traced after the refusal", "TracerPid:\t0\n" in status, status)
        check("nomalloc still running", None, prog.poll())
        check("nomalloc still ticking", "tick", prog.stdout.readline().decode().strip())
    finally:
        prog.kill()
        prog.wait()


# --- performance (issue 8) ---
def case_cpu_pinning(env):
    """Lazy placement: a program that allocates little keeps every CPU (nproc
    counts them all); once a process has made 1024 allocator traps, the
    thread making them shares memtrace's one CPU, and threads it creates
    afterwards get every CPU back; --no-pin leaves every mask alone."""
    nproc = "/usr/bin/nproc"
    native_count = run([nproc], "native nproc").stdout.strip()
    light = memtrace(env, ["run", "-o", os.devnull, "--", nproc])
    check("memtrace exit status (nproc)", 0, light.returncode)
    check("CPUs nproc may use under memtrace (it allocates little)", native_count,
          light.stdout.strip())
    # 1,100 malloc/free pairs through libc: 3,300 traps, whatever the
    # interpreter's own start costs; then the CPUs of this thread and of a new one.
    script = ("import ctypes, os, threading\n"
              "libc = ctypes.CDLL(None)\n"
              "libc.malloc.restype = ctypes.c_void_p\n"
              "libc.free.argtypes = [ctypes.c_void_p]\n"
              "for _ in range(1100):\n"
              "    libc.free(libc.malloc(64))\n"
              "out = []\n"
              "t = threading.Thread(target=lambda: out.append(len(os.sched_getaffinity(0))))\n"
              "t.start(); t.join()\n"
              "print(len(os.sched_getaffinity(0)), out[0])\n")
    busy = memtrace(env, ["run", "-o", os.devnull, "--", sys.executable, "-c", script])
    check("memtrace exit status (busy python)", 0, busy.returncode)
    check("CPUs of the busy main thread and of a thread it created", "1 %s" % native_count,
          busy.stdout.strip())
    free = memtrace(env, ["run", "--no-pin", "-o", os.devnull, "--", sys.executable, "-c",
                          script])
    check("memtrace --no-pin exit status", 0, free.returncode)
    check("CPUs of both threads with --no-pin", "%s %s" % (native_count, native_count),
          free.stdout.strip())


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items())
         if name.startswith("case_")}


def ctest_settings(fn):
    """The --list suffix of a case: its ctest settings (see the docstring)."""
    meta = getattr(fn, "ctest", {})
    return "".join(" %s=%s" % (k, meta[k]) for k in sorted(meta))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memtrace")
    ap.add_argument("--fixtures-dir")
    ap.add_argument("--source-dir")
    ap.add_argument("--list", action="store_true", help="print the case names")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args()
    if a.list:
        print("\n".join(name + ctest_settings(fn) for name, fn in CASES.items()))
        return 0
    if a.case not in CASES or not (a.memtrace and a.fixtures_dir and a.source_dir):
        ap.error("need --memtrace, --fixtures-dir, --source-dir and one of: "
                 + ", ".join(CASES))
    if not os.access(a.memtrace, os.X_OK):
        print("FAIL %s: memtrace not found at %s" % (a.case, a.memtrace))
        return 1
    global RUN_TIMEOUT
    timeout = getattr(CASES[a.case], "ctest", {}).get("timeout")
    if timeout:
        RUN_TIMEOUT = int(timeout) - 30
    with tempfile.TemporaryDirectory(prefix="memtrace-e2e-") as tmp:
        env = Env(a.memtrace, a.fixtures_dir, a.source_dir, tmp)
        try:
            try:
                CASES[a.case](env)
            finally:
                for live in env.__dict__.get("live", []):
                    live.kill()   # never leave a background memtrace behind
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
