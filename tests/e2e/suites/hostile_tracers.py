"""Programs that are tracers themselves, and tracing that must give way:
a program that ptraces its own child, attaching where it would be
dangerous or deadlock, parking a process with a thread that will not stop.
Whatever happens, the program runs as it would without memtrace and
memtrace ends within a short time, saying what it did."""
import os
import re
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.expect import check_exited, check_summary, marked_leaks
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import (check_memtrace_ended, child_env, finish_traced, json_path_for,
                               memtrace, native, trace)


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


def thread_state(pid, tid):
    """The state letter of /proc/PID/task/TID/stat."""
    with open("/proc/%d/task/%d/stat" % (pid, tid)) as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def tracer_pids(pid):
    """{tid: TracerPid} of every thread of PID."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as fh:
            for line in fh:
                if line.startswith("TracerPid:"):
                    out[int(tid)] = int(line.split()[1])
    return out


class StuckThreadTarget:
    """fx_stuck_thread DELAY_MS running, its output in a file."""

    def __init__(self, env, delay_ms=0):
        self.out_path = os.path.join(env.tmp, "stuck_thread.out")
        with open(self.out_path, "w+") as out:
            self.proc = subprocess.Popen([env.fixture("stuck_thread"), str(delay_ms)],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=child_env())
        self.pid = self.proc.pid
        self.child = None

    def output(self):
        with open(self.out_path) as fh:
            return fh.read()

    def printed(self, label, timeout=10):
        deadline = time.time() + timeout
        while True:
            for line in self.output().splitlines():
                if line.startswith(label + "="):
                    return int(line.split("=", 1)[1])
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("fx_stuck_thread printed no %s=: %r" % (label, self.output()))
            time.sleep(0.02)

    def wait_stuck(self):
        """Waits for the vfork child's stop and its parent thread's state D;
        returns that thread's tid."""
        waiter = self.printed("waiter")
        self.child = self.printed("vfork_child")
        deadline = time.time() + 10
        while thread_state(self.pid, waiter) != "D":
            if time.time() > deadline:
                raise Failure("thread %d never in state D: %s" % (
                    waiter, thread_state(self.pid, waiter)))
            time.sleep(0.02)
        return waiter

    def finish(self, waiter):
        """Continues the vfork child: the process must run on to its end."""
        os.kill(self.child, signal.SIGCONT)
        check("fx_stuck_thread's exit status", 0, self.proc.wait(timeout=10))
        check("fx_stuck_thread's output",
              "ready=%d\nwaiter=%d\nvfork_child=%d\nvfork_child_status=7\ndone\n"
              % (self.pid, waiter, self.child), self.output())

    def kill(self):
        if self.child:
            try:
                os.kill(self.child, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


STUCK = ("thread %d of pid %d did not stop %s: its state is D (disk sleep), an uninterruptible "
         "sleep (a vfork parent waiting for its child, or a wait on a disk or network file "
         "system) that no ptrace stop interrupts")


def attach_stuck(env, args, term_after=None, timeout=15):
    """memtrace attach ARGS, SIGTERM after TERM_AFTER s; (process, stderr
    lines, seconds it took). A memtrace still running after TIMEOUT s fails."""
    cmd = [env.memtrace, "attach"] + args
    log("$ " + " ".join(cmd))
    started = time.monotonic()
    mt = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=child_env())
    if term_after:
        time.sleep(term_after)
        os.kill(mt.pid, signal.SIGTERM)
    try:
        _, err = mt.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        mt.kill()
        _, err = mt.communicate()
        raise Failure("memtrace still running after %d s: parking never gave up; stderr: %s"
                      % (timeout, err.decode("utf-8", "replace")[-2000:]))
    err = err.decode("utf-8", "replace")
    log(err)
    check_memtrace_ended(mt.returncode, err)
    return mt, err.strip().split("\n"), time.monotonic() - started


@ctest(timeout=90)
def case_attach_thread_in_uninterruptible_sleep(env):
    """A thread in an uninterruptible sleep (a vfork parent waiting for its
    stopped child: state D) takes no ptrace stop, so parking it never ends.
    memtrace attach --duration 2 gives up at the deadline, and without
    --duration a SIGTERM does: one line naming the thread and its state,
    exit status 2, every thread untraced, and the process runs on to its
    end once the child is continued (memtrace used to wait forever, deaf to
    --duration and SIGTERM)."""
    target = StuckThreadTarget(env)
    try:
        check("pid fx_stuck_thread prints", target.pid, target.printed("ready"))
        waiter = target.wait_stuck()
        for how in ("--duration", "SIGTERM"):
            args = (["--duration", "2"] if how == "--duration" else []) + [str(target.pid)]
            mt, lines, took = attach_stuck(env, args, term_after=1.5 if how == "SIGTERM" else None)
            check("memtrace exit status (%s)" % how, 2, mt.returncode)
            when = "within 2.0 s" if how == "--duration" else "before memtrace was asked to stop"
            check("memtrace's stderr (%s)" % how,
                  ["memtrace: " + STUCK % (waiter, target.pid, when) +
                   "; memtrace let pid %d go without tracing it" % target.pid], lines)
            check_true("memtrace ended within 5 s (%.1f s)" % took, took < 5)
            check("TracerPid of every thread", {t: 0 for t in tracer_pids(target.pid)},
                  tracer_pids(target.pid))
        target.finish(waiter)
    finally:
        target.kill()


@ctest(timeout=90)
def case_detach_thread_in_uninterruptible_sleep(env):
    """A thread enters that sleep while memtrace is attached: at the end of
    --duration, leaving waits 3 s for it, then restores the process through
    its other threads, says so in one warning and reports as usual (exit
    0); the process runs on untraced, allocating, to its end."""
    target = StuckThreadTarget(env, delay_ms=1500)
    try:
        check("pid fx_stuck_thread prints", target.pid, target.printed("ready"))
        json_path = json_path_for(env, "stuck_thread")
        mt, lines, took = attach_stuck(env, ["--json", json_path, "--duration", "4",
                                             str(target.pid)])
        waiter = target.wait_stuck()
        check("memtrace exit status", 0, mt.returncode)
        # The wait is 3 s; the line says how long it took, to a tenth.
        warnings = [re.sub(r"within 3\.\d s", "within 3.x s", l) for l in lines
                    if l.startswith("memtrace:")]
        check("memtrace's warnings",
              ["memtrace: warning: " + STUCK % (waiter, target.pid, "within 3.x s") +
               "; memtrace restored the process through its other threads"], warnings)
        check_true("memtrace ended within 9 s (%.1f s)" % took, took < 9)
        res = subprocess.CompletedProcess(mt.args, mt.returncode, "", "\n".join(lines))
        t = finish_traced(env, res, json_path, 0, [[env.fixture("stuck_thread"), "1500"]],
                          mode="attach")
        check("process end", "detached", t.process["end"])
        check_true("allocations tracked before the detach", t.summary["allocations"] > 0)
        check("TracerPid of every thread", {t: 0 for t in tracer_pids(target.pid)},
              tracer_pids(target.pid))
        target.finish(waiter)
    finally:
        target.kill()


@ctest(timeout=60)
def case_ptrace_traceme_main_process(env):
    """The program memtrace runs calls ptrace(PTRACE_TRACEME) itself: its
    parent is memtrace, which cannot hand it over to itself; memtrace says
    so in one warning, the call fails with EPERM (1), and the program runs
    traced to its end, memtrace exiting with its status (5)."""
    n = native(env, "ptrace_child", ["self"])
    check("native exit status and output", (5, "traceme=0\n"), (n.returncode, n.stdout))
    t = trace(env, "ptrace_child", ["self"], status=5)
    check("the program's output under memtrace", "traceme=1\n", t.stdout)
    check_exited(t, 5)
    check("memtrace's warnings",
          ["memtrace: warning: pid %d asks for PTRACE_TRACEME on pid %d, which memtrace traces "
           "and cannot hand over: its parent is memtrace itself; the call fails with EPERM"
           % (t.process["pid"], t.process["pid"])], t.warnings())
