"""Report contents on simple programs: leaks with their stacks, bad frees,
the allocator family, clean runs, --depth, --min-size, output options."""
import json
import os
import signal

from memtrace_e2e.checks import (Failure, base, check, check_text_has, check_true, leak_str, log,
                                 stack_str)
from memtrace_e2e.expect import (ALIGNED_NAMES, check_exited, check_frame, check_kinds, check_leak,
                                 check_summary, first_frame_in, single_leak, stdout_ptrs)
from memtrace_e2e.run import exit_status, memtrace, native, trace
from memtrace_e2e.shape import check_shape


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
