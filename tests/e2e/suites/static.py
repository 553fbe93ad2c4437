"""Static executables: malloc and friends linked into the program."""
import json

from memtrace_e2e.checks import base, check, check_true, leak_str
from memtrace_e2e.expect import check_exited, first_frame_in, marked_leaks
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import native, trace


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
