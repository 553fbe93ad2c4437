"""C++ programs around allocator calls: exceptions thrown and caught in an
allocation-heavy loop, operator new failing with bad_alloc and through a
throwing new_handler, backtrace() in a signal handler that interrupts
allocator calls (under --fast, inside the stub too). The program must
behave as natively, and its leak is reported at its line."""
from memtrace_e2e.checks import base, check, check_true
from memtrace_e2e.expect import check_exited, first_frame_in
from memtrace_e2e.run import run, trace


def case_cxx_exceptions_around_allocations(env):
    """fx_cxx_throw: 2,857 exceptions from a callback in the loop, one
    bad_alloc, one from the new_handler, backtraces from the handler; it
    prints its counts and exits 0 as natively, with 40 bytes definitely lost
    from new[] at the marked line."""
    t = trace(env, "cxx_throw", status=0)
    check_exited(t, 0)
    check("the program's counts", "thrown=2857 bad_alloc=1 custom=1 backtraces_ok=1",
          t.stdout.strip())
    check("errors", [], t.errors)
    line = env.line("cxx_throw.cc", "throw_leak")
    recs = [r for r in t.leaks if r["kind"] == "definitely_lost"
            and (first_frame_in(r["stack"], "cxx_throw.cc") or {}).get("line") == line]
    check("definitely lost records allocated at cxx_throw.cc:%d" % line, 1, len(recs))
    check("its bytes, blocks and function", (40, 1, "leak_one"),
          (recs[0]["bytes"], recs[0]["blocks"],
           first_frame_in(recs[0]["stack"], "cxx_throw.cc").get("function")))
    check_true("no other definitely lost record: %r" % [r["bytes"] for r in t.leaks],
               len([r for r in t.leaks if r["kind"] == "definitely_lost"]) == 1)


SRC = "cxx_mismatch.cc"
# memcheck's "Mismatched free() / delete / delete []" errors on
# fx_cxx_mismatch, in program order: (releasing function, allocator, bytes,
# mark of the bad call, mark of the allocation).
MISMATCHES = [
    ("free", "new", 16, "free_of_new", "new_for_free"),
    ("delete", "new[]", 16, "delete_of_array", "array_for_delete"),
    ("free", "new[]", 17, "free_of_array", "array_for_free"),
    ("delete[]", "new", 4, "delete_array_of_new", "new_for_delete_array"),
    ("delete", "malloc", 18, "delete_of_malloc", "malloc_for_delete"),
    ("delete[]", "calloc", 19, "delete_array_of_calloc", "calloc_for_delete_array"),
    ("realloc", "new[]", 20, "realloc_of_array", "array_for_realloc"),
]


def frame_at(env, stack):
    """(function, line) of the first frame in the fixture's source."""
    f = first_frame_in(stack, SRC) or {}
    return f.get("function"), f.get("line")


def check_cxx_leaks(env, t):
    """new's and new[]'s leaks: one block each, the allocator named, the
    stack starting at the line that said new (not inside operator new)."""
    got = sorted((r["kind"], r["bytes"], r["blocks"], r["allocator"],
                  r["stack"][0].get("function"), r["stack"][0].get("line"))
                 for r in t.leaks if r["kind"] == "definitely_lost")
    check("definitely lost records", [
        ("definitely_lost", 16, 1, "new", "leak_new", env.line(SRC, "leak_new")),
        ("definitely_lost", 33, 1, "new[]", "leak_array", env.line(SRC, "leak_array"))], got)


def case_cxx_mismatched_frees(env):
    """Each release by the wrong family is an error at the bad call, with
    the allocation's stack; the program goes on (each call runs, as
    natively) and exits 0; both leaks carry their allocator."""
    t = trace(env, "cxx_mismatch", status=0)
    check_exited(t, 0)
    got = [(e["kind"], e["function"], e.get("allocator"), e["size"], e["skipped"],
            frame_at(env, e["stack"]), frame_at(env, e["alloc_stack"])) for e in t.errors]
    want = [("mismatched_free", fn, alloc, size, False,
             ("mismatches", env.line(SRC, bad)), ("mismatches", env.line(SRC, made)))
            for fn, alloc, size, bad, made in MISMATCHES]
    check("errors", want, got)
    check_cxx_leaks(env, t)
    check("summary: allocations, frees, errors", (17, 14, 7),
          (t.summary["allocations"], t.summary["frees"], t.summary["errors"]))
    text = t.stderr
    needle = ("Mismatched free() / delete / delete []: operator delete of a block of 16 bytes "
              "allocated by operator new[]")
    check_true("text report: %r" % needle, needle in text, text[-3000:])
    check_true("text report: 'allocated by operator new[]' on the 33-byte leak",
               "33 bytes in 1 blocks are definitely lost in loss record 1 of 2, allocated by "
               "operator new[]" in text, text[-3000:])
    check_true("ERROR SUMMARY counts them",
               "ERROR SUMMARY: 9 errors (0 double free, 0 invalid free, 7 mismatched free, "
               "2 loss records)" in text, text[-1500:])


def case_cxx_hooks_list(env):
    """The JSON names what memtrace hooked: C++'s operators in libstdc++
    (every variant), the C allocator in libc; --stats prints them per
    module. On stubs with --fast, on breakpoints without."""
    for opts, how in (([], "breakpoint"), (["--fast"], "stub")):
        t = trace(env, "cxx_mismatch", opts=opts + ["--stats"], status=0)
        hooks = {(h["symbol"], base(h["module"]).split(".so")[0], h["how"])
                 for h in t.process["hooks"]}
        for sym, module in (("_Znwm", "libstdc++"), ("_ZnamSt11align_val_t", "libstdc++"),
                            ("_ZdlPvm", "libstdc++"), ("_ZdaPv", "libstdc++"),
                            ("malloc", "libc"), ("free", "libc"), ("mmap", "libc")):
            check_true("%s in %s on a %s" % (sym, module, how), (sym, module, how) in hooks,
                       repr(sorted(hooks)))
        check("functions of the hooks", {"malloc", "calloc", "realloc", "reallocarray", "free",
                                         "posix_memalign", "aligned_alloc", "valloc", "pvalloc",
                                         "new", "new[]", "delete", "delete[]", "mmap", "munmap",
                                         "mremap", "shmget", "shmat", "shmdt", "shmctl"},
              {h["function"] for h in t.process["hooks"]})
        line = [l for l in t.stderr.splitlines()
                if l.startswith("memtrace: hooks of pid %d in libstdc++" % t.process["pid"])]
        check_true("--stats: a hooks line for libstdc++ with _Znwm on %ss" % how,
                   len(line) == 1 and " _Znwm" in line[0] and ("on %ss" % how) in line[0],
                   repr(line))


def case_cxx_mismatched_frees_off(env):
    """--show-mismatched-frees=no: no such error, the same leaks."""
    t = trace(env, "cxx_mismatch", opts=["--show-mismatched-frees=no"], status=0)
    check_exited(t, 0)
    check("errors", [], t.errors)
    check_cxx_leaks(env, t)


def case_cxx_mismatch_exitcode(env):
    """--error-exitcode counts a mismatched release (no leak in 'clean')."""
    t = trace(env, "cxx_mismatch", ["clean"], opts=["--error-exitcode", "9"], status=0)
    check("errors and lost blocks of correct pairs", ([], []),
          (t.errors, [r for r in t.leaks if r["kind"] != "still_reachable"]))
    trace(env, "cxx_mismatch", opts=["--error-exitcode", "9",
                                     "--errors-for-leak-kinds=none"], status=9)


def case_cxx_double_delete(env):
    """A block deleted twice: a double free by delete, skipped, so the
    program (which glibc would abort) runs to its end."""
    t = trace(env, "cxx_mismatch", ["double"], status=0)
    check_exited(t, 0)
    dbl = [e for e in t.errors if e["kind"] == "double_free"]
    check("double frees", [("delete", 16, True, ("delete_twice", env.line(SRC, "twice_second")),
                            ("delete_twice", env.line(SRC, "twice_new")),
                            ("delete_twice", env.line(SRC, "twice_first")))],
          [(e["function"], e["size"], e["skipped"], frame_at(env, e["stack"]),
            frame_at(env, e["alloc_stack"]), frame_at(env, e["free_stack"])) for e in dbl])


def case_cxx_replacement_operators(env):
    """fx_cxx_replace defines its own operator new and delete (sized too):
    they are hooked in the program, its blocks are new's and new[]'s (its
    new[] is libstdc++'s, which calls the program's new) at the lines that
    said new, the free inside its delete is not a second release, and the
    program counts every call as natively."""
    native = run([env.fixture("cxx_replace")], "native fx_cxx_replace")
    t = trace(env, "cxx_replace", status=0)
    check_exited(t, 0)
    check("the program's counts, as natively", native.stdout.strip(), t.stdout.strip())
    check("errors", [], t.errors)
    src = "cxx_replace.cc"
    got = sorted((r["bytes"], r["blocks"], r["allocator"], r["stack"][0].get("function"),
                  r["stack"][0].get("line")) for r in t.leaks if r["kind"] == "definitely_lost")
    check("definitely lost records", [
        (24, 1, "new", "leak_one", env.line(src, "leak_new")),
        (40, 1, "new[]", "leak_many", env.line(src, "leak_array"))], got)
    hooked = {h["symbol"]: base(h["module"]) for h in t.process["hooks"]}
    check("the program's operators are the ones hooked",
          ["fx_cxx_replace"] * 3, [hooked.get(s) for s in ("_Znwm", "_ZdlPv", "_ZdlPvm")])
    check("news and deletes applied once each: allocations, frees", (6, 2),
          (t.summary["allocations"], t.summary["frees"]))
