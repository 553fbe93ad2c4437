"""Declarative report cases: tests/e2e/cases/NAME.case is the ctest e2e_NAME.

A case file runs memtrace on fixtures and states what the report must say,
one directive a line, strace-style; `#` starts a comment line (the Valgrind
output the expectations come from).  Every run also passes the checks every
report gets (memtrace_e2e.shape: JSON shape, sums, kinds add up).

    ctest     timeout=S labels=A,B repeat=N needs=TARGET   (optional settings)
    run       [OPTION... --] fx_NAME [ARG...]
                  memtrace run --json FILE OPTION... -- fx_NAME ARG...; the
                  lines up to the next `run` are about this run
    status    N|SIGNAME       memtrace's exit status (default 0); SIGNAME: 128+N
    native    N|SIGNAME       first, fx_NAME ARG... alone exits N (SIGNAME: dies of it)
    native-stderr TEXT        ... and writes TEXT to stderr
    end       exited CODE     the process exited with CODE (no signal)
    end       signaled SIGNAME
    summary   KEY=N|KEY=B/N ...   these summary fields (B/N: bytes/blocks)
    kinds     none | [definite=B/N] [indirect=B/N] [possible=B/N] [reachable=B/N]
                  the four kind totals exactly (those not named: 0/0)
    records   N               the number of leak records
    leaks     none            no leak record
    leak      KIND B/N [indirect=B/N] ALLOCATOR [FRAME...] [$]
    errors    none            no error record
    error     KIND FUNCTION ADDRESS FRAME [free=FRAME|free=-] [alloc=FRAME|alloc=-]
    pointers  LABEL...        the fixture printed exactly these LABEL=0x... lines
    text      TEXT            the text report (stderr) contains TEXT
    text-i    TEXT            ... ignoring case
    no-text   TEXT            ... does not contain TEXT
    usage-error ARG...        memtrace ARG... exits 2, its stderr one line "memtrace: ..."

FRAME is FUNCTION@FILE:MARK: that function at the line of FILE (under
--source-dir) marked `/* @mark:MARK */`; a frame in the run's own source
(fx_NAME's NAME.c) must also be in module fx_NAME.

`leak` lines, when a run has any, account for every leak record: each
record matches exactly one line (same kind and allocator, its stack starts
with the line's frames; exactly those frames when the line ends with `$`,
so `$` alone means an empty stack).  The records of a line add up to B/N
(N = 1: one record), and the definitely lost ones own indirect=B/N
(default 0/0) of indirectly lost blocks.

`error` lines likewise account for every error record, matched by the
line's FRAME, which is the record's stack[0]; ADDRESS is $LABEL (the
address the fixture printed as LABEL=0x...) or * (not checked); free= and
alloc= give stack[0] of free_stack and alloc_stack, `-` for none.

TEXT is the rest of the line, or a JSON string when it starts with `"`
(trailing blanks, escapes); {FILE:MARK} in it becomes FILE:LINE.  A word
fx_NAME of `run` and `usage-error` is the built fixture's path.
"""
import json
import os
import re
import shlex
import signal

from .checks import Failure, base, check, check_text_has, check_true, leak_str, log, stack_str
from .expect import check_exited, check_kinds, check_summary, stdout_ptrs
from .registry import SETTINGS
from .run import exit_status, memtrace, native, trace
from .shape import kind_sums

KIND_ARGS = ("definite", "indirect", "possible", "reachable")
PAIR = re.compile(r"^(\d+)/(\d+)$")
FRAME = re.compile(r"^([^@\s]+)@([^:\s]+):(\w+)$")


class CaseFileError(Exception):
    """The case file itself is wrong (reported when the list is made)."""


def status_value(word):
    """N, or a signal name: 128 + its number."""
    if word.isdigit():
        return int(word)
    try:
        return 128 + signal.Signals[word]
    except KeyError:
        raise ValueError("not a status or signal name: %r" % word)


def pair_value(word):
    m = PAIR.match(word)
    if not m:
        raise ValueError("not BYTES/BLOCKS: %r" % word)
    return (int(m.group(1)), int(m.group(2)))


def frame_value(word):
    m = FRAME.match(word)
    if not m:
        raise ValueError("not FUNCTION@FILE:MARK: %r" % word)
    return m.groups()


def text_value(rest):
    if rest.startswith('"'):
        value = json.loads(rest)
        if not isinstance(value, str):
            raise ValueError("not a JSON string: %s" % rest)
        return value
    return rest


class Line:
    """One directive: where it is, and its words."""

    def __init__(self, path, lineno, text):
        self.where = "%s:%d" % (os.path.basename(path), lineno)
        self.text = text
        self.directive, _, self.rest = text.partition(" ")
        self.rest = self.rest.strip()
        try:
            self.words = shlex.split(self.rest)
        except ValueError:   # a TEXT with a lone quote: not split into words
            self.words = self.rest.split()


class Run:
    """A `run` line and the lines about it."""

    def __init__(self, line):
        self.line = line
        words = line.words
        if "--" in words:
            i = words.index("--")
            self.opts, prog = words[:i], words[i + 1:]
        else:
            self.opts, prog = [], words
        if not prog or not prog[0].startswith("fx_"):
            raise ValueError("run needs a fixture fx_NAME")
        self.fixture, self.args = prog[0][len("fx_"):], prog[1:]
        self.status = 0
        self.native = None
        self.native_stderr = []
        self.checks = []   # (Line, function(env, traced))


class CaseFile:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-len(".case")]
        self.settings = {}
        self.steps = []   # Run, or (Line, function(env)) for usage-error

    def run(self, env):
        for step in self.steps:
            if isinstance(step, Run):
                execute_run(env, step)
            else:
                line, fn = step
                at_line(line, fn, env)


def at_line(line, fn, *args):
    """Runs FN(*ARGS) for case-file line LINE; a failure names the line."""
    log("-- %s: %s" % (line.where, line.text))
    try:
        return fn(*args)
    except Failure as e:
        raise Failure("%s: `%s`:\n%s" % (line.where, line.text, e))


def execute_run(env, r):
    if r.native is not None:
        def run_native():
            n = native(env, r.fixture, r.args)
            check("native status", r.native, exit_status(n.returncode))
            for text in r.native_stderr:
                check_text_has("native stderr", n.stderr, text)
        at_line(r.line, run_native)
    t = at_line(r.line, lambda: trace(env, r.fixture, r.args, opts=r.opts, status=r.status))
    for line, fn in r.checks:
        if line is None:
            fn(env, t)   # reports its lines itself
        else:
            at_line(line, fn, env, t)


def expand_marks(env, text):
    """{FILE:MARK} -> FILE:LINE."""
    return re.sub(r"\{([^:{}\s]+):(\w+)\}",
                  lambda m: "%s:%d" % (m.group(1), env.line(m.group(1), m.group(2))), text)


def expand_fixtures(env, words):
    return [env.fixture(w[len("fx_"):]) if w.startswith("fx_") else w for w in words]


def frame_matches(env, r, frame, want):
    """Does FRAME (JSON) match WANT (function, file, mark)?"""
    function, file, mark = want
    if (frame.get("function"), base(frame.get("file")), frame.get("line")) != (
            function, file, env.line(file, mark)):
        return False
    return file != r.fixture + ".c" or base(frame.get("module")) == "fx_" + r.fixture


def want_str(env, r, want):
    function, file, mark = want
    own = file == r.fixture + ".c"
    return "%s %s:%d (mark %s)%s" % (function, file, env.line(file, mark), mark,
                                     " [fx_%s]" % r.fixture if own else "")


# ------------------------------------------------------------ directives

def parse_leak(r, words):
    kind, size = words[0], pair_value(words[1])
    rest = words[2:]
    indirect = (0, 0)
    if rest and rest[0].startswith("indirect="):
        indirect = pair_value(rest[0][len("indirect="):])
        rest = rest[1:]
    if not rest:
        raise ValueError("leak: no allocator")
    allocator, frames = rest[0], rest[1:]
    exact = bool(frames) and frames[-1] == "$"
    if exact:
        frames = frames[:-1]
    return dict(kind=kind, size=size, indirect=indirect, allocator=allocator,
                frames=[frame_value(f) for f in frames], exact=exact)


def leak_mismatch(env, r, rec, spec):
    """Why REC does not match the leak line SPEC, or None if it does."""
    stack = rec["stack"]
    frames = spec["frames"]
    if rec["kind"] != spec["kind"]:
        return "kind %s, not %s" % (rec["kind"], spec["kind"])
    if rec["allocator"] != spec["allocator"]:
        return "allocator %s, not %s" % (rec["allocator"], spec["allocator"])
    if not isinstance(stack, list):
        return "stack %r" % (stack,)
    if len(stack) < len(frames) or (spec["exact"] and len(stack) != len(frames)):
        return "%d frames, not %s%d" % (len(stack), "" if spec["exact"] else "at least ",
                                         len(frames))
    for i, (f, w) in enumerate(zip(stack, frames)):
        if not frame_matches(env, r, f, w):
            return "stack[%d] is %s %s:%s [%s], not %s" % (
                i, f.get("function"), base(f.get("file")), f.get("line"),
                base(f.get("module")), want_str(env, r, w))
    return None


def check_leak_lines(env, r, t, leak_lines):
    """Every record matches exactly one leak line; each line's records add
    up to its size and own its indirect."""
    groups = [[] for _ in leak_lines]
    unmatched = []
    for rec in t.leaks:
        hits = [i for i, (_, spec) in enumerate(leak_lines)
                if leak_mismatch(env, r, rec, spec) is None]
        if len(hits) > 1:
            raise Failure("a leak record matches several leak lines (%s); make them "
                          "distinct:\n%s" % (", ".join(leak_lines[i][0].where for i in hits),
                                             leak_str(rec)))
        if hits:
            groups[hits[0]].append(rec)
        else:
            unmatched.append(rec)
    if unmatched:
        raise Failure("%d leak record(s) that no leak line of the run at %s matches:\n%s" % (
            len(unmatched), r.line.where, "\n".join(
                leak_str(rec) + "".join("\n  not %s: %s" % (
                    line.where, leak_mismatch(env, r, rec, spec)) for line, spec in leak_lines)
                for rec in unmatched)))
    log("ok: every leak record matches one leak line")
    for (line, spec), recs in zip(leak_lines, groups):
        def check_group():
            want = "; stack starting %s%s" % (
                " < ".join(want_str(env, r, w) for w in spec["frames"]) or "(empty)",
                " and nothing more" if spec["exact"] else "")
            check_true("leak records that are %s, allocated by %s%s" % (
                           spec["kind"], spec["allocator"], want), recs,
                       "the records:\n" + "\n".join(leak_str(x) for x in t.leaks))
            check("(bytes, blocks) of the matching records", spec["size"],
                  kind_sums(recs, spec["kind"]))
            check_true("every matching record has blocks", all(x["blocks"] > 0 for x in recs))
            if spec["kind"] == "definitely_lost":
                check("indirect (bytes, blocks) they own", spec["indirect"],
                      (sum(x["indirect"]["bytes"] for x in recs),
                       sum(x["indirect"]["blocks"] for x in recs)))
        at_line(line, check_group)


def check_error_line(env, r, t, spec):
    want = spec["stack"]
    errs = [e for e in t.errors if e.get("stack") and frame_matches(env, r, e["stack"][0], want)]
    check_true("one error whose stack[0] is %s" % want_str(env, r, want), len(errs) == 1,
               "errors:\n" + "\n".join("%s at %s\n%s" % (e.get("kind"), e.get("address"),
                                                        stack_str(e.get("stack")))
                                       for e in t.errors))
    err = errs[0]
    check("error kind", spec["kind"], err["kind"])
    check("error function", spec["function"], err["function"])
    if spec["address"] != "*":
        label = spec["address"][1:]
        ptrs = stdout_ptrs(t.stdout)
        check_true("the fixture printed %s=0x..." % label, label in ptrs, repr(t.stdout))
        check("error address (%s)" % label, hex(ptrs[label]), hex(int(err["address"], 16)))
    for key in ("free_stack", "alloc_stack"):
        if key not in spec:
            continue
        if spec[key] is None:
            check("error %s" % key, None, err[key])
        else:
            check_true("error %s[0] is %s" % (key, want_str(env, r, spec[key])),
                       err[key] and frame_matches(env, r, err[key][0], spec[key]),
                       stack_str(err[key]))


def parse_error(words):
    if len(words) < 4:
        raise ValueError("error KIND FUNCTION ADDRESS FRAME [free=..] [alloc=..]")
    kind, function, address, stack = words[:4]
    if address != "*" and not re.match(r"^\$\w+$", address):
        raise ValueError("error address: $LABEL or *, not %r" % address)
    spec = dict(kind=kind, function=function, address=address, stack=frame_value(stack))
    for w in words[4:]:
        key, _, value = w.partition("=")
        if key not in ("free", "alloc"):
            raise ValueError("error: unknown %r" % w)
        spec[key + "_stack"] = None if value == "-" else frame_value(value)
    return spec


def usage_error(words):
    def fn(env):
        args = expand_fixtures(env, words)
        p = memtrace(env, args, "memtrace " + " ".join(words))
        check("exit status", 2, p.returncode)
        check_true("stderr is exactly one line starting with 'memtrace: '",
                   re.fullmatch(r"memtrace: [^\n]+\n", p.stderr) is not None,
                   "stderr: %r" % p.stderr)
    return fn


def parse(path):
    cf = CaseFile(path)
    current = None
    leak_lines, error_lines = {}, {}
    with open(path) as fh:
        for lineno, text in enumerate(fh, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            line = Line(path, lineno, text)
            d, words = line.directive, line.words
            try:
                if d == "ctest":
                    for w in words:
                        key, _, value = w.partition("=")
                        if key not in SETTINGS or not value:
                            raise ValueError("unknown ctest setting %r" % w)
                        cf.settings[key] = value
                    continue
                if d == "usage-error":
                    cf.steps.append((line, usage_error(words)))
                    continue
                if d == "run":
                    current = Run(line)
                    cf.steps.append(current)
                    continue
                if current is None:
                    raise ValueError("%s before any run line" % d)
                add_directive(current, line, leak_lines, error_lines)
            except (ValueError, IndexError) as e:
                raise CaseFileError("%s: %s: %s" % (line.where, text, e))
    if not cf.steps:
        raise CaseFileError("%s: no run or usage-error line" % path)
    for r in cf.steps:
        if isinstance(r, Run) and leak_lines.get(r):
            lines = leak_lines[r]
            r.checks.append((None, lambda env, t, r=r, lines=lines:
                             check_leak_lines(env, r, t, lines)))
        if isinstance(r, Run) and error_lines.get(r):
            n = len(error_lines[r])
            r.checks.append((error_lines[r][0], lambda env, t, n=n:
                             check("number of error records", n, len(t.errors))))
    return cf


def add_directive(r, line, leak_lines, error_lines):
    d, words, rest = line.directive, line.words, line.rest
    add = lambda fn: r.checks.append((line, fn))   # noqa: E731
    if d == "status":
        r.status = status_value(words[0])
    elif d == "native":
        r.native = status_value(words[0])
    elif d == "native-stderr":
        r.native_stderr.append(text_value(rest))
    elif d == "end" and words[0] == "exited":
        code = int(words[1])
        add(lambda env, t: check_exited(t, code))
    elif d == "end" and words[0] == "signaled":
        name = words[1]
        signal.Signals[name]

        def ended(env, t):
            check("process end", "signaled", t.process["end"])
            check("process signal", name, t.process["signal"])
        add(ended)
    elif d == "summary":
        expected = {}
        for w in words:
            key, _, value = w.partition("=")
            expected[key] = pair_value(value) if "/" in value else int(value)
        add(lambda env, t: check_summary(t, **expected))
    elif d == "kinds":
        totals = {}
        if words != ["none"]:
            for w in words:
                key, _, value = w.partition("=")
                if key not in KIND_ARGS:
                    raise ValueError("kinds: unknown %r" % key)
                totals[key] = pair_value(value)
        add(lambda env, t: check_kinds(t, **totals))
    elif d == "records":
        n = int(words[0])
        add(lambda env, t: check("number of leak records", n, len(t.leaks)))
    elif d == "leaks" and words == ["none"]:
        add(lambda env, t: check("leaks", [], t.leaks))
    elif d == "errors" and words == ["none"]:
        add(lambda env, t: check("errors", [], t.errors))
    elif d == "leak":
        leak_lines.setdefault(r, []).append((line, parse_leak(r, words)))
    elif d == "error":
        spec = parse_error(words)
        error_lines.setdefault(r, []).append(line)
        add(lambda env, t: check_error_line(env, r, t, spec))
    elif d == "pointers":
        labels = sorted(words)
        add(lambda env, t: check("labels of the addresses the fixture printed", labels,
                                 sorted(stdout_ptrs(t.stdout))))
    elif d in ("text", "text-i", "no-text"):
        value = text_value(rest)

        def text_check(env, t):
            needle = expand_marks(env, value)
            if d == "no-text":
                check_true("text report (stderr) does not contain %r" % needle,
                           needle not in t.stderr, t.stderr[-3000:])
            else:
                check_text_has("text report (stderr)", t.stderr, needle, case=d == "text")
        add(text_check)
    else:
        raise ValueError("unknown directive")
