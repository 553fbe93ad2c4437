"""Expectations about a report: how a process ended, its summary and kind
totals, its leak records (by the @mark of the line that allocated them),
its errors, and what the fixture printed."""
import json
import re

from .checks import Failure, base, check, check_true, leak_str, log, stack_str
from .run import Traced
from .shape import KINDS, kind_sums, pair

# glibc before 2.38 exports aligned_alloc and memalign at one address, so a
# tracer that hooks by address cannot tell which name the program called.
ALIGNED_NAMES = {"aligned_alloc", "memalign"}


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
    """(possibly lost, still reachable) (bytes, blocks) of the dlfo records,
    as the summary counts them: a possibly lost one is suppressed by the
    default suppressions (ld.so-aligned-bookkeeping), so it counts in
    neither kind."""
    for r in dlfo:
        check("suppressed_by of the %s dlfo record" % r["kind"],
              "ld.so-aligned-bookkeeping" if r["kind"] == "possibly_lost" else None,
              r.get("suppressed_by"))
    return tuple((sum(r["bytes"] for r in dlfo if r["kind"] == k and "suppressed_by" not in r),
                  sum(r["blocks"] for r in dlfo if r["kind"] == k and "suppressed_by" not in r))
                 for k in DLFO_KINDS)


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
    (bytes, blocks), exactly; the process was classified and they add up,
    with what suppressions (the default set's too) took out, to unfreed."""
    s = as_proc(t)["summary"]
    check("summary.classified", True, s.get("classified"))
    got = {k: pair(s[k]) for k in KINDS}
    check("summary kinds", dict(zip(KINDS, (definite, indirect, possible, reachable))), got)
    suppressed = pair(s["suppressed"]) if "suppressed" in s else (0, 0)
    check("summary kinds and suppressed add up to unfreed", pair(s["unfreed"]),
          tuple(sum(v[i] for v in got.values()) + suppressed[i] for i in (0, 1)))


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


def stdout_ints(text):
    """{"label": int} from the fixture's "label=123" lines."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+)=(-?\d+)$", text, re.M)}


def marked_leaks(env, proc, fixture, expected, others=(), indirect=None, source=None):
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
    or with no FIXTURE.c frame at all, fails.  SOURCE: the source file when
    it is not FIXTURE.c (fx_stale_stack_o2 is built from stale_stack.c)."""
    fname = source or fixture + ".c"
    indirect = indirect or {}
    by_line = {}
    for rec in proc["leaks"]:
        f = first_frame_in(rec["stack"], fname)
        by_line.setdefault(f["line"] if f else None, []).append(rec)
    lines = {env.line(fname, m): m for m in list(expected) + list(others)}
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
        line = env.line(fname, mark)
        recs = by_line.get(line, [])
        log("-- %s:%d (%s): %d record(s)" % (fname, line, mark, len(recs)))
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
    return {m: by_line.get(env.line(fname, m), []) for m in others}


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
