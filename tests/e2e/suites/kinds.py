"""Leak kinds: definitely, indirectly, possibly lost and still reachable.

fx_kinds MODE: one scenario a run (fixtures/kinds.c).  Each case quotes
valgrind --leak-check=full --show-leak-kinds=all on the same command and
asserts the kind of every record and the four totals.  Every mode also
loses an 11-byte control block at `lost` (not with argv[2] "alone").
The single-threaded scenarios are cases/kinds_*.case; here are those with
a thread (its DTV), with dlopen, and the text report's choice of kinds."""
import os

from memtrace_e2e.checks import check, check_text_has, check_true, log
from memtrace_e2e.expect import (check_dlfo_kind, check_dtv_records, check_exited, check_frame,
                                 check_kinds, check_leak, check_summary, dlfo_split, marked_leaks)
from memtrace_e2e.run import trace


KINDS_LOST = (11, 1, "malloc", "lose", "definitely_lost")


def kinds_run(env, args, opts=(), status=0):
    t = trace(env, "kinds", args, opts=opts, status=status)
    check_exited(t, 0)
    check("errors", [], t.errors)
    return t


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




def case_kinds_errors_json(env):
    # Each JSON leak record says whether it counts as an error under
    # --errors-for-leak-kinds (Valgrind's default definite,possible when
    # not given); the exit status follows the program when none does.
    for opts, errors in (
            ([], {"definitely_lost": True, "still_reachable": False}),
            (["--errors-for-leak-kinds=reachable"],
             {"definitely_lost": False, "still_reachable": True}),
            (["--errors-for-leak-kinds=none"],
             {"definitely_lost": False, "still_reachable": False})):
        log("-- JSON error flags with %r" % (opts,))
        t = kinds_run(env, ["global"], opts=opts)
        check("JSON error flag per kind with %r" % (opts,), errors,
              {r["kind"]: r["error"] for r in t.leaks})
        summary = "ERROR SUMMARY: %d errors" % sum(errors.values())
        check_text_has("text report with %r" % (opts,), t.stderr, summary)
