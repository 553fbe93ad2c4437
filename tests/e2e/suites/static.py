"""Static executables: malloc and friends linked into the program."""
import json
import os

from memtrace_e2e.checks import Skip, base, check, check_true, leak_str
from memtrace_e2e.expect import check_exited, check_kinds, first_frame_in, marked_leaks
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
    # pointer to it is left).  The start-up blocks are still reachable:
    # glibc points to some of them only from RELRO variables (library
    # search paths, _dl_find_object data), which the scan reads; for the
    # same program linked dynamically ld.so makes them with its own
    # allocator before malloc is hooked, and Valgrind reports definitely
    # lost 42/1 and nothing else.
    check("native status", 0, native(env, "static").returncode)
    t = trace(env, "static", status=0)
    check_exited(t, 0)
    check_startup_only_reachable(env, t, {"leak": (42, 1, "malloc", "main", "definitely_lost")})
    check_kinds(t, definite=(42, 1), reachable=startup_total(t))
    s = t.summary
    check("allocations - frees == unfreed blocks", s["allocations"] - s["frees"],
          s["unfreed"]["blocks"])
    check_true("frees >= 1 (the 24-byte pair)", s["frees"] >= 1, json.dumps(s))


@ctest(needs="fx_static")
def case_static_stripped_separate_debug(env):
    # fx_static stripped of every symbol (no .symtab), its debug file found
    # through .gnu_debuglink: malloc and free are found in the debug file's
    # symbol table, and the report is the unstripped program's, frames and
    # lines included.
    check("native status", 0, native(env, "static_stripped").returncode)
    plain = trace(env, "static", status=0)
    t = trace(env, "static_stripped", status=0)
    check_exited(t, 0)
    check_startup_only_reachable(env, t, {"leak": (42, 1, "malloc", "main", "definitely_lost")},
                                 module="fx_static_stripped")
    check("summary as for the unstripped program",
          {k: plain.summary[k] for k in ("allocations", "frees", "bytes_allocated")},
          {k: t.summary[k] for k in ("allocations", "frees", "bytes_allocated")})
    hooked = sorted((h["function"], base(h["module"])) for h in t.process["hooks"]
                    if h["function"] in ("malloc", "free"))
    check("malloc and free hooked in the stripped program",
          [("free", "fx_static_stripped"), ("malloc", "fx_static_stripped")], hooked)


def startup_records(t):
    return [r for r in t.leaks if not first_frame_in(r["stack"], "static.c")]


def startup_total(t):
    recs = startup_records(t)
    return (sum(r["bytes"] for r in recs), sum(r["blocks"] for r in recs))


def check_startup_only_reachable(env, t, mine, module="fx_static"):
    """T's records with a static.c frame are MINE (marked_leaks); the
    others, glibc's start-up blocks, are all still reachable and start in a
    named function of MODULE."""
    marked_leaks(env, {"pid": t.process["pid"], "leaks": [
        r for r in t.leaks if r not in startup_records(t)]}, module[3:], mine,
        source="static.c")
    startup = startup_records(t)
    check_true("glibc's start-up leaves blocks", startup, "no record without a static.c frame")
    for rec in startup:
        f = rec["stack"][0] if rec["stack"] else {}
        check_true("start-up leak record: stack[0] is a named function of " + module,
                   f.get("function") and base(f.get("module")) == module,
                   leak_str(rec))
        check("kind of start-up record %s" % leak_str(rec), "still_reachable", rec["kind"])
    check("errors", [], t.errors)


@ctest(needs="fx_static")
def case_static_clean(env):
    # The program frees all it allocates: no definitely lost block at all,
    # the start-up blocks still reachable (as the dynamic build of the same
    # program under Valgrind: "All heap blocks were freed").
    check("native status", 0, native(env, "static", ["clean"]).returncode)
    t = trace(env, "static", ["clean"], status=0)
    check_exited(t, 0)
    check_startup_only_reachable(env, t, {})
    check_kinds(t, reachable=startup_total(t))
    s = t.summary
    check("frees: the pair and the 42 bytes", 2, s["frees"])


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
    check_kinds(t, definite=(270, 3), reachable=startup_total(t))


def musl_fixture(env):
    if not os.access(os.path.join(env.fixtures_dir, "fx_static_musl"), os.X_OK):
        raise Skip("fx_static_musl was not built: no musl-gcc (quickstart.sh installs "
                   "Debian's musl-tools)")


def case_static_musl(env):
    # static.c linked statically against musl: musl's malloc, free,
    # posix_memalign and aligned_alloc are the executable's own, found in its
    # symbol table. musl allocates nothing at start-up, so the records are
    # exactly the program's, and its allocation count too (posix_memalign
    # calls aligned_alloc inside: one block, posix_memalign's).
    musl_fixture(env)
    check("native status", 0, native(env, "static_musl", ["aligned"]).returncode)
    t = trace(env, "static_musl", ["aligned"], status=0)
    check_exited(t, 0)
    marked_leaks(env, t.process, "static_musl", {
        "leak": (42, 1, "malloc", "main", "definitely_lost"),
        "memalign_leak": (100, 1, "posix_memalign", "aligned_leaks", "definitely_lost"),
        "aligned_leak": (128, 1, "aligned_alloc", "aligned_leaks", "definitely_lost"),
    }, source="static.c")
    check_kinds(t, definite=(270, 3))
    check("allocations, frees, bytes allocated", (4, 1, 294),
          (t.summary["allocations"], t.summary["frees"], t.summary["bytes_allocated"]))
    check("errors", [], t.errors)
