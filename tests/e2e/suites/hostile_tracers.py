"""Programs that are tracers themselves, and tracing that must give way:
a program that ptraces its own child, attaching where it would be
dangerous or deadlock, parking a process with a thread that will not stop.
Whatever happens, the program runs as it would without memtrace and
memtrace ends within a short time, saying what it did."""
import os
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, check, check_true
from memtrace_e2e.expect import check_exited, check_summary, marked_leaks
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env, finish_traced, json_path_for, memtrace, native, trace


def ptrace_child_case(env, mode, traced_by):
    """fx_ptrace_child MODE under memtrace run: the child memtrace follows
    is handed over to the program's own tracer at the program's ptrace
    call (it used to hang: the call failed with EPERM and the program
    waited forever for a stop). The program's output and status are the
    native ones; the parent's leak is reported exactly; the child's record
    ends as detached, with what memtrace collected until then (nothing)."""
    want_out = "%s=0\nchild_status=3\n" % ("traceme" if mode == "traceme" else "seize")
    n = native(env, "ptrace_child", [mode])
    check("native exit status", 0, n.returncode)
    check("native output", want_out, n.stdout)
    prog = env.fixture("ptrace_child")
    t = trace(env, "ptrace_child", [mode], status=0, commands=[[prog, mode], [prog, mode]])
    check("the program's output under memtrace", want_out, t.stdout)
    parent, child = t.procs
    check_exited(parent, 0)
    check_summary(parent, allocations=1, frees=0, unfreed=(333, 1), definitely_lost=(333, 1))
    marked_leaks(env, parent, "ptrace_child",
                 {"parent_leak": (333, 1, "malloc", "main", "definitely_lost")})
    check("child's end", "detached", child["end"])
    check_summary(child, allocations=0, frees=0, unfreed=(0, 0))
    tracer = "its parent" if mode == "traceme" else "pid %d" % parent["pid"]
    request = "PTRACE_TRACEME" if mode == "traceme" else "PTRACE_SEIZE"
    check("memtrace's warnings",
          ["memtrace: warning: pid %d is traced by %s (%s); memtrace detached from it and no "
           "longer traces it" % (child["pid"], tracer, request)],
          t.warnings())
    check_true("the child's section says it was detached",
               "==%d== Detached: pid %d runs on as before" % (child["pid"], child["pid"])
               in t.stderr)


@ctest(timeout=60)
def case_ptrace_traceme_child(env):
    """The child calls ptrace(PTRACE_TRACEME) and stops itself; the parent
    waits for the stop, continues it with PTRACE_CONT and waits for it."""
    ptrace_child_case(env, "traceme", "parent")


@ctest(timeout=60)
def case_ptrace_seize_child(env):
    """The parent PTRACE_SEIZEs its running child, interrupts it, waits for
    the stop and continues it."""
    ptrace_child_case(env, "seize", "pid")


@ctest(timeout=60)
def case_attach_long_command_line(env):
    """A process with a 20 KiB argument list: the JSON's command is the
    whole of it, every argument exact (/proc/PID/cmdline was cut at 8 KiB,
    the last argument silently short and the rest missing)."""
    argv = [env.fixture("attach_target"), "sleep"] + [
        "arg%02d-%s" % (i, "x" * (500 + i)) for i in range(40)]
    check_true("the argument list is over 20 KiB", sum(len(a) + 1 for a in argv) > 20480)
    out_path = os.path.join(env.tmp, "long_cmdline.out")
    with open(out_path, "w+") as out:
        target = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out,
                                  stderr=subprocess.STDOUT, env=child_env())
    try:
        deadline = time.time() + 10
        while "ready=" not in open(out_path).read():
            if target.poll() is not None or time.time() > deadline:
                raise Failure("fx_attach_target did not start: %r" % open(out_path).read())
            time.sleep(0.02)
        json_path = json_path_for(env, "long_cmdline")
        p = memtrace(env, ["attach", "--duration", "1", "--json", json_path, str(target.pid)])
        t = finish_traced(env, p, json_path, 0, [argv], mode="attach")
        check("the command's arguments, whole", argv, t.process["command"])
        os.kill(target.pid, signal.SIGTERM)
        check("target exit status", 0, target.wait(timeout=10))
        check_true("the target finished its work", "ok=" in open(out_path).read())
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
