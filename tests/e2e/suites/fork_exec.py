"""fork, vfork and exec: one report per process image, with or without
--no-follow-forks."""
import json
import shutil

from memtrace_e2e.checks import check, check_text_has, check_text_lacks, check_true, log
from memtrace_e2e.expect import (check_dtv_records, check_exited, check_kinds, check_stats_present,
                                 check_summary, marked_leaks, stdout_ints)
from memtrace_e2e.run import native, trace
from memtrace_e2e.shape import KINDS, pair


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


def check_exec_end(proc, program, shown=False):
    """An image replaced by exec: its memory was gone before it could be
    scanned, so it is not classified; memory left at exec is not a leak, so
    by default its records are left out and only its summary counts them
    (Valgrind does not check an image it replaces by exec at all);
    --show-exec-leaks lists them as "unfreed"."""
    check("process end", "exec", proc["end"])
    check("process exit_code", None, proc["exit_code"])
    check("process signal", None, proc["signal"])
    check("exec", {"program": program, "traced": True, "records_shown": shown}, proc["exec"])
    check("summary.classified", False, proc["summary"]["classified"])
    check("summary kinds", [(0, 0)] * 4, [pair(proc["summary"][k]) for k in KINDS])
    if not shown:
        check("leaks", [], proc["leaks"])
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
    check_exec_end(before, target)
    check_summary(before, allocations=0, frees=0, bytes_allocated=0, unfreed=(0, 0), errors=0)
    check("leaks", [], before["leaks"])
    log("-- vfork child after exec (fx_exec_target)")
    check_pid("exec'd image", child, after)
    check_exec_target(env, after, 5)


def case_vfork_heap(env):
    # The vfork child frees the parent's block at given and allocates at
    # from_child in the shared heap; the parent frees that block and leaks
    # 48 at parent_leak. The child's calls are the parent's heap's: no bad
    # free, one leak, and nothing in the child's record before its exec.
    prog, target = env.fixture("vfork_heap"), env.fixture("exec_target")
    check("native status", 5, native(env, "vfork_heap", [target, "5"]).returncode)
    t = trace(env, "vfork_heap", [target, "5"], status=5,
              commands=[[prog, target, "5"], [prog, target, "5"], [target, "5"]])
    parent, before, after = t.procs
    log("-- parent")
    # Valgrind (the child's calls are the parent's, memory is shared):
    # 48 bytes definitely lost, 3 allocs, 2 frees, no error.
    check_exited(parent, 5)
    check_summary(parent, allocations=3, frees=2, bytes_allocated=96, unfreed=(48, 1),
                  errors=0)
    check("parent errors", [], parent["errors"])
    check_kinds(parent, definite=(48, 1))
    marked_leaks(env, parent, "vfork_heap",
                 {"parent_leak": (48, 1, "malloc", "main", "definitely_lost")})
    log("-- vfork child before exec")
    check_exec_end(before, target)
    check_summary(before, allocations=0, frees=0, bytes_allocated=0, unfreed=(0, 0), errors=0)
    check("leaks", [], before["leaks"])
    log("-- vfork child after exec (fx_exec_target)")
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
    # which leaks 77 and exits 4. Valgrind (--trace-children=yes
    # --leak-check=full): nothing for fx_exec's image (no leak summary at
    # exec), 77 bytes definitely lost for fx_exec_target. memtrace: the
    # first image's summary counts its 64 bytes, without a record, and the
    # text report gives it one line.
    prog, target = env.fixture("exec"), env.fixture("exec_target")
    check("native status", 4, native(env, "exec", [target, "4"]).returncode)
    t = trace(env, "exec", [target, "4"], opts=["--error-exitcode=9"], status=9,
              commands=[[prog, target, "4"], [target, "4"]])
    pid = stdout_ints(t.stdout).get("pid")
    first, second = t.procs
    check_pid("first image", pid, first)
    check_pid("second image", pid, second)
    log("-- first image (fx_exec)")
    check_exec_end(first, target)
    check_summary(first, allocations=1, frees=0, bytes_allocated=64, unfreed=(64, 1),
                  errors=0)
    log("-- second image (fx_exec_target)")
    check_exec_target(env, second, 4)
    check_text_has("text report (stderr)", t.stderr,
                   "==%d== Image %s %s 4 ended by exec of %s: 1 allocs, 0 frees, 64 bytes in 1 "
                   "blocks live at exec (not leaks; --show-exec-leaks lists them)\n"
                   % (pid, prog, target, target))
    check("HEAP SUMMARY sections (fx_exec_target's only)", 1, t.stderr.count("HEAP SUMMARY"))
    check_text_lacks("text report (stderr)", t.stderr, "exec.c:")


def case_exec_clean_target(env):
    # fx_exec leaks 64 and execs /bin/true, which leaks nothing. Valgrind
    # (--trace-children=yes --leak-check=full --error-exitcode=9): exit 0,
    # the image exec replaced is not checked. memtrace: exit 0 too, its 64
    # bytes are in its summary only.
    prog = env.fixture("exec")
    true = shutil.which("true")
    t = trace(env, "exec", [true], opts=["--error-exitcode=9"], status=0,
              commands=[[prog, true], [true]])
    check_exec_end(t.procs[0], true)
    check_summary(t.procs[0], allocations=1, frees=0, bytes_allocated=64, unfreed=(64, 1),
                  errors=0)


def case_exec_show_exec_leaks(env):
    # --show-exec-leaks: the first image's records are listed, "unfreed"
    # (not classified: its memory was gone before it could be scanned), and
    # they count for --error-exitcode.
    prog, target = env.fixture("exec"), env.fixture("exec_target")
    t = trace(env, "exec", [target, "0"], opts=["--show-exec-leaks"], status=0,
              commands=[[prog, target, "0"], [target, "0"]])
    first, second = t.procs
    check_exec_end(first, target, shown=True)
    check_summary(first, allocations=1, frees=0, bytes_allocated=64, unfreed=(64, 1),
                  errors=0)
    marked_leaks(env, first, "exec", {"leak": (64, 1, "malloc", "main", "unfreed")})
    check_exec_target(env, second, 0)
    check_text_has("text report (stderr)", t.stderr,
                   "64 bytes in 1 blocks are unfreed in loss record 1 of 1")
    check_text_has("text report (stderr)", t.stderr, "exec.c:%d" % env.line("exec", "leak"))


def case_exec_from_thread(env):
    # A second thread execs fx_exec_target 6 while main waits in
    # pthread_join: main is killed, the exec'ing thread takes the pid.
    # Old image: 56 at main_leak, 72 at thread_leak, pthread_create's DTV.
    prog, target = env.fixture("exec_from_thread"), env.fixture("exec_target")
    check("native status", 6, native(env, "exec_from_thread", [target, "6"]).returncode)
    # --show-exec-leaks: the old image's records, as "unfreed".
    t = trace(env, "exec_from_thread", [target, "6"], opts=["--show-exec-leaks"], status=6,
              commands=[[prog, target, "6"], [target, "6"]])
    pid = stdout_ints(t.stdout).get("pid")
    first, second = t.procs
    check_pid("first image", pid, first)
    check_pid("second image", pid, second)
    log("-- first image (fx_exec_from_thread)")
    check_exec_end(first, target, shown=True)
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
