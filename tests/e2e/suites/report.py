"""Report contents on simple programs, beyond what a case file says (the
simple ones are cases/*.case: seed, loop_leak, two_paths, invalid_free,
clean_*, deep*): the report in a file (-o), the JSON on stdout, and the
allocator family."""
import json
import os

from memtrace_e2e.checks import (Failure, base, check, check_text_has, check_true, leak_str, log,
                                 stack_str)
from memtrace_e2e.expect import (ALIGNED_NAMES, check_exited, check_frame, check_kinds, check_leak,
                                 check_summary, first_frame_in)
from memtrace_e2e.run import memtrace, native, trace
from memtrace_e2e.shape import check_shape


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
            if mark == "strdup":
                check("stack[0] by its public name (not __GI___strdup)", "strdup",
                      rec["stack"][0].get("function"))
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




def case_clang_built_program(env):
    """seed.c built by clang (no .debug_aranges: libdw 0.188 cannot map an
    address to its compile unit without them) reports the same records and
    errors, at the same functions and lines, as the gcc build."""
    if not os.access(os.path.join(env.fixtures_dir, "fx_seed_clang"), os.X_OK):
        raise Failure("fx_seed_clang was not built: is clang installed? (quickstart.sh "
                      "installs it)")

    def records(t):
        leaks = sorted((r["kind"], r["bytes"], r["blocks"], r["stack"][0].get("function"),
                        base(r["stack"][0].get("file")), r["stack"][0].get("line"))
                       for r in t.leaks)
        errors = [(e["kind"], e["stack"][0].get("function"), e["stack"][0].get("line"))
                  for e in t.errors]
        return leaks, errors

    gcc = trace(env, "seed", status=0)
    clang = trace(env, "seed_clang", status=0)
    check("leak records and errors (kind, size, function, file, line), clang as gcc",
          records(gcc), records(clang))
    check_true("every record has a line", all(r["stack"][0].get("line") for r in clang.leaks))
