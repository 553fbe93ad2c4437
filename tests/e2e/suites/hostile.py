"""Hostile targets: programs that do what no well-behaved program does to
a tracer. Whatever they do, memtrace must not crash, hang or kill them, and
a process it attached to must run on as it would without memtrace."""
import os
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, check, check_text_has, check_true, log
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env


class HostileTarget:
    """fx_hostile_attach, running in the background, its output in a file."""

    def __init__(self, env):
        self.out_path = os.path.join(env.tmp, "hostile_attach.out")
        self.out = open(self.out_path, "w+")
        self.proc = subprocess.Popen([env.fixture("hostile_attach")], stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT, env=child_env())
        self.pid = self.proc.pid
        self.wait_output("ready=%d" % self.pid)

    def output(self):
        with open(self.out_path) as fh:
            return fh.read()

    def wait_output(self, text, timeout=10):
        deadline = time.time() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("fx_hostile_attach printed no %r: %r" % (text, self.output()))
            time.sleep(0.02)

    def tracer_pid(self):
        with open("/proc/%d/status" % self.pid) as fh:
            for line in fh:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@ctest(timeout=90)
def case_attach_jump_into_trampoline(env):
    """The attached process calls into memtrace's return trampoline with no
    allocator call pending: memtrace reports the error, restores and
    detaches (it used to wait forever for a stop it had already taken); the
    process runs on untraced, and its jump faults as a jump to an unmapped
    address does natively."""
    target = HostileTarget(env)
    try:
        mt = subprocess.Popen([env.memtrace, "attach", "--duration", "20", str(target.pid)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=child_env())
        deadline = time.time() + 10
        while target.tracer_pid() != mt.pid:
            if time.time() > deadline or mt.poll() is not None:
                raise Failure("memtrace did not attach (status %r)" % mt.poll())
            time.sleep(0.05)
        time.sleep(0.5)   # hooks planted once the attached line is out
        os.kill(target.pid, signal.SIGUSR1)
        try:
            out, err = mt.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            mt.kill()
            out, err = mt.communicate()
            raise Failure("memtrace still running 15 s after the jump (hung); stderr:\n%s"
                          % err.decode("utf-8", "replace")[-3000:])
        err = err.decode("utf-8", "replace")
        log(err)
        check("memtrace exit status", 2, mt.returncode)
        check_text_has("memtrace's error", err,
                       "returned through the trampoline with rsp")
        check_text_has("memtrace's error", err, "no allocator call is pending there")
        check_true("no restore failure: %r" % err, "may not be fully restored" not in err)
        check("TracerPid after memtrace ended", 0, target.tracer_pid())
        target.wait_output("jump=faulted")
        alive_before = target.output().count("alive=")
        time.sleep(0.5)
        check_true("the process runs on (alive= lines keep coming)",
                   target.output().count("alive=") > alive_before)
        os.kill(target.pid, signal.SIGTERM)
        check("target exit status", 0, target.proc.wait(timeout=10))
        check_true("target said bye", "bye" in target.output(), target.output()[-200:])
    finally:
        target.kill()
