"""Images ended by exec and Valgrind's child controls: a wrapper script or
/usr/bin/env in front of the program gets one summary line, not a report
of the memory it left at exec; --trace-children=no, --trace-children-skip,
--trace-children-skip-by-arg and --child-silent-after-fork."""
import shutil

from memtrace_e2e.checks import (Failure, check, check_text_has, check_text_lacks, check_true,
                                 log)
from memtrace_e2e.expect import check_exited, check_summary, stdout_ints
from memtrace_e2e.run import trace
from suites.fork_exec import check_exec_end, check_exec_target


def which(name):
    path = shutil.which(name)
    if not path:
        raise Failure("%s not found" % name)
    return path


def check_untraced_exec(proc, program):
    """An image whose exec was not followed: its summary only, and the
    program it exec'd, not traced."""
    check("process end", "exec", proc["end"])
    check("exec", {"program": program, "traced": False, "records_shown": False}, proc["exec"])
    check("leaks", [], proc["leaks"])


def check_fx_exec_image(proc, program):
    """fx_exec's image: 64 bytes left at exec, in its summary only."""
    check_summary(proc, allocations=1, frees=0, bytes_allocated=64, unfreed=(64, 1), errors=0)
    if program:
        check("exec.program", program, proc["exec"]["program"])


def case_exec_shell_wrapper(env):
    # A shell script execs fx_exec_target 3, which leaks 77. Valgrind
    # (--trace-children=yes --leak-check=full): no leak summary for the
    # shell (an image replaced by exec is not checked), 77 bytes definitely
    # lost for fx_exec_target. memtrace: one line for the shell's image, the
    # records of fx_exec_target only.
    wrapper, target = env.fixture("exec_wrapper"), env.fixture("exec_target")
    t = trace(env, "exec_wrapper", [target, "3"], status=3,
              commands=[["/bin/sh", wrapper, target, "3"], [target, "3"]])
    shell, prog = t.procs
    log("-- the shell's image")
    check_exec_end(shell, target)
    log("-- fx_exec_target")
    check_exec_target(env, prog, 3)
    check_text_has("text report (stderr)", t.stderr,
                   "==%d== Image /bin/sh %s %s 3 ended by exec of %s: " % (
                       shell["pid"], wrapper, target, target))
    check("HEAP SUMMARY sections (fx_exec_target's only)", 1, t.stderr.count("HEAP SUMMARY"))
    check("loss records in the text report", 1, t.stderr.count("in loss record"))


def case_exec_through_env(env):
    # fx_exec (64 bytes left) execs /usr/bin/env fx_exec_target 0, as
    # `memtrace run env PROGRAM` does. Valgrind: only fx_exec_target is
    # checked (77 bytes definitely lost). memtrace: env's image and
    # fx_exec's are summary lines; --error-exitcode sees fx_exec_target's
    # leak only, and with a clean program after env it exits 0.
    prog, target, env_path = env.fixture("exec"), env.fixture("exec_target"), which("env")
    t = trace(env, "exec", [env_path, target, "0"], opts=["--error-exitcode=9"], status=9,
              commands=[[prog, env_path, target, "0"], [env_path, target, "0"], [target, "0"]])
    first, via_env, last = t.procs
    check_exec_end(first, env_path)
    check_fx_exec_image(first, env_path)
    check_exec_end(via_env, target)
    check_exec_target(env, last, 0)
    check("HEAP SUMMARY sections", 1, t.stderr.count("HEAP SUMMARY"))
    true = which("true")
    t = trace(env, "exec", [env_path, true], opts=["--error-exitcode=9"], status=0,
              commands=[[prog, env_path, true], [env_path, true], [true]])
    check_exec_end(t.procs[1], true)


def case_exec_through_env_show_exec_leaks(env):
    # --show-exec-leaks: the records of fx_exec's and env's images are
    # listed, "unfreed" (the JSON shape check holds env's records to its
    # summary), and they count for --error-exitcode as they did before.
    prog, env_path, true = env.fixture("exec"), which("env"), which("true")
    t = trace(env, "exec", [env_path, true], opts=["--show-exec-leaks", "--error-exitcode=9"],
              status=9, commands=[[prog, env_path, true], [env_path, true], [true]])
    first, via_env, last = t.procs
    check_exec_end(first, env_path, shown=True)
    check("fx_exec's records", [("unfreed", 64, 1)],
          [(r["kind"], r["bytes"], r["blocks"]) for r in first["leaks"]])
    check_exec_end(via_env, true, shown=True)
    check_exited(last, 0)
    check_text_has("text report (stderr)", t.stderr,
                   "64 bytes in 1 blocks are unfreed in loss record 1 of 1")
    check("HEAP SUMMARY sections", 3, t.stderr.count("HEAP SUMMARY"))


def case_trace_children_no(env):
    # --trace-children=no: fx_exec execs /bin/sh -c 'echo ...; exit 4',
    # which runs untraced: its output comes, memtrace exits 4 with it and
    # reports fx_exec's image only. Valgrind --trace-children=no: the same
    # program runs natively, exit 4, nothing reported for either image.
    prog, sh = env.fixture("exec"), which("sh")
    script = "echo untraced-output; exit 4"
    t = trace(env, "exec", [sh, "-c", script], opts=["--trace-children=no", "--stats"],
              status=4, commands=[[prog, sh, "-c", script]])
    check_untraced_exec(t.process, sh)
    check_fx_exec_image(t.process, sh)
    check_text_has("the program's stdout", t.stdout, "untraced-output\n")
    check_text_has("text report (stderr)", t.stderr, "ended by exec of %s (not traced)" % sh)
    # fx_exec's malloc and one more hooked call of its own; the shell adds none.
    check_true("entry traps: fx_exec's only (<= 2)", t.doc["stats"]["entry_traps"] <= 2,
               repr(t.doc["stats"]))
    # Signaled after the exec: memtrace exits as it would, 128+9.
    script = "kill -9 $$"
    trace(env, "exec", [sh, "-c", script], opts=["--trace-children=no"], status=128 + 9,
          commands=[[prog, sh, "-c", script]])


def case_trace_children_no_vfork(env):
    # A vfork child execs fx_exec_target 5: with --trace-children=no it
    # runs untraced, the parent (traced) still sees its status 5. Valgrind
    # --trace-children=no: the parent's 48 bytes definitely lost, exit 5.
    prog, target = env.fixture("vfork_exec"), env.fixture("exec_target")
    t = trace(env, "vfork_exec", [target, "5"], opts=["--trace-children=no"], status=5,
              commands=[[prog, target, "5"], [prog, target, "5"]])
    parent, child = t.procs
    check_exited(parent, 5)
    check_summary(parent, allocations=1, frees=0, bytes_allocated=48, unfreed=(48, 1), errors=0)
    check_untraced_exec(child, target)


def case_trace_children_skip(env):
    # --trace-children-skip matches the file name execve was given, or its
    # base name; a pattern that matches nothing leaves the exec traced.
    # Valgrind matches the whole name only: there */fx_exec_target skips
    # fx_exec_target (no leak reported) and fx_exec_t* does not (77 bytes
    # definitely lost).
    prog, target = env.fixture("exec"), env.fixture("exec_target")
    for pattern in ["fx_exec_t*", "*/fx_exec_target", "nomatch,fx_exec_targe?"]:
        log("-- --trace-children-skip=%s" % pattern)
        t = trace(env, "exec", [target, "4"], opts=["--trace-children-skip=" + pattern],
                  status=4, commands=[[prog, target, "4"]])
        check_untraced_exec(t.process, target)
    t = trace(env, "exec", [target, "4"], opts=["--trace-children-skip=fx_exec"], status=4,
              commands=[[prog, target, "4"], [target, "4"]])
    check_exec_target(env, t.procs[1], 4)


def case_trace_children_skip_script(env):
    # fx_exec execs a shell script that execs fx_exec_target: the script's
    # own name is the one matched (not its interpreter's): Valgrind with
    # --trace-children-skip='*fx_exec_wrapper' reports no leak either.
    # Skipped, what the script runs is untraced too.
    prog, wrapper, target = (env.fixture("exec"), env.fixture("exec_wrapper"),
                             env.fixture("exec_target"))
    t = trace(env, "exec", [wrapper, target, "6"], opts=["--trace-children-skip=fx_exec_wrapper"],
              status=6, commands=[[prog, wrapper, target, "6"]])
    check_untraced_exec(t.process, wrapper)
    # Only the script's exec is skipped: the shell's own exec is followed.
    t = trace(env, "exec", [wrapper, target, "6"],
              opts=["--trace-children-skip=fx_exec_target"], status=6,
              commands=[[prog, wrapper, target, "6"], ["/bin/sh", wrapper, target, "6"]])
    check_exec_end(t.procs[0], wrapper)
    check_untraced_exec(t.procs[1], target)


def case_trace_children_skip_by_arg(env):
    # --trace-children-skip-by-arg matches any element of the new argv.
    # Valgrind with the same option: no leak reported (fx_exec_target not
    # traced).
    prog, target = env.fixture("exec"), env.fixture("exec_target")
    t = trace(env, "exec", [target, "4", "marker-1"],
              opts=["--trace-children-skip-by-arg=other,marker-*"], status=4,
              commands=[[prog, target, "4", "marker-1"]])
    check_untraced_exec(t.process, target)
    t = trace(env, "exec", [target, "4", "marker-1"],
              opts=["--trace-children-skip-by-arg=marker-2"], status=4,
              commands=[[prog, target, "4", "marker-1"], [target, "4", "marker-1"]])
    check_exec_target(env, t.procs[1], 4)


def case_child_silent_after_fork(env):
    # --child-silent-after-fork=yes: the child of fork (222 bytes left)
    # gets no section; the parent's is as without it (333 definitely
    # lost). Valgrind --child-silent-after-fork=yes: the parent's leak
    # summary only.
    prog = env.fixture("fork")
    t = trace(env, "fork", opts=["--child-silent-after-fork=yes"], status=0, commands=[[prog]])
    child = stdout_ints(t.stdout).get("child")
    check_exited(t.process, 0)
    check_summary(t.process, allocations=2, frees=1, bytes_allocated=444, unfreed=(333, 1),
                  errors=0)
    check_text_lacks("text report (stderr)", t.stderr, "==%d==" % child)


def case_child_silent_after_fork_exec(env):
    # A vfork child that execs: its image before exec is silent, the
    # program it execs is reported (Valgrind: silent until exec).
    prog, target = env.fixture("vfork_exec"), env.fixture("exec_target")
    t = trace(env, "vfork_exec", [target, "5"], opts=["--child-silent-after-fork=yes"],
              status=5, commands=[[prog, target, "5"], [target, "5"]])
    check_exited(t.procs[0], 5)
    check_exec_target(env, t.procs[1], 5)
