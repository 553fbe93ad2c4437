"""Processes that run in the background while a case acts on them: memtrace
started on a fixture whose output is read as it comes (Live), a running
fx_attach_target for memtrace attach (AttachTarget), and /proc helpers."""
import hashlib
import os
import re
import select
import shlex
import signal
import subprocess
import tempfile
import time

from .checks import Failure, check, check_true, log
from .run import check_memtrace_ended, child_env, finish_traced, json_path_for, run_timeout


class Live:
    """memtrace started in the background on a fixture; the fixture's
    stdout (passed through memtrace) is read while it runs."""

    def __init__(self, env, fixture, prog_args=(), opts=(), **popen):
        self.env = env
        self.prog = env.fixture(fixture)
        self.args = list(prog_args)
        self.json_path = json_path_for(env, fixture)
        cmd = ([env.memtrace, "run", "--json", self.json_path] + list(opts) + ["--", self.prog]
               + self.args)
        log("$ " + " ".join(shlex.quote(c) for c in cmd) + " &")
        self.err = tempfile.TemporaryFile(dir=env.tmp)
        self.out = b""
        env.live.append(self)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=self.err, env=child_env(), **popen)
        log("  memtrace pid %d" % self.p.pid)

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def _ended_early(self, what):
        status = self.p.wait()
        err = self.stderr()
        check_memtrace_ended(status, err)
        raise Failure("memtrace ended (status %d) %s\nstdout: %r\nstderr (last 4000 chars):\n%s"
                      % (status, what, self.out.decode("utf-8", "replace"), err[-4000:]))

    def wait_for(self, label, timeout=30):
        """Reads stdout until the fixture printed "LABEL=<int>"; returns it."""
        pat = re.compile(rb"^" + label.encode() + rb"=(-?\d+)$", re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.out)
            if m:
                log("  fixture printed %s=%s" % (label, m.group(1).decode()))
                return int(m.group(1))
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("the fixture printed no %s= line within %d s; stdout so far: %r"
                              % (label, timeout, self.out))
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    self._ended_early("before the fixture printed %s=" % label)
                self.out += chunk

    def wait(self, timeout):
        """Waits up to TIMEOUT s for memtrace to exit; its status or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.p.poll()
            ready, _, _ = select.select([self.p.stdout], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if chunk:
                    self.out += chunk
                    continue
                try:
                    return self.p.wait(timeout=max(left, 0.1))
                except subprocess.TimeoutExpired:
                    return None
            elif self.p.poll() is not None:
                return self.p.returncode   # exited; stdout kept open elsewhere

    def finish(self, status, commands=None, timeout=None):
        """Waits for memtrace to exit; checks status and JSON like trace()."""
        code = self.wait(timeout or run_timeout())
        if code is None:
            self.kill()
            raise Failure("memtrace still running after %d s\nstderr (last 4000 chars):\n%s"
                          % (timeout or run_timeout(), self.stderr()[-4000:]))
        res = subprocess.CompletedProcess(self.p.args, code,
                                          self.out.decode("utf-8", "replace"), self.stderr())
        log("  (memtrace finished with status %d)" % code)
        check_memtrace_ended(code, res.stderr)
        return finish_traced(self.env, res, self.json_path, status,
                             commands or [[self.prog] + self.args])

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()   # PTRACE_O_EXITKILL takes the target with it
            self.p.wait()


def task_states(pid):
    """{tid: (state letter, cpu time)} of the threads of PID; cpu time from
    /proc/PID/task/TID/schedstat (ns) or, without it, utime+stime (ticks)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        base_path = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base_path + "stat") as fh:
                st = fh.read()
            rest = st[st.rindex(")") + 2:].split()
            try:
                with open(base_path + "schedstat") as fh:
                    cpu = int(fh.read().split()[0])
            except OSError:
                cpu = int(rest[11]) + int(rest[12])
        except (OSError, ValueError, IndexError):
            continue
        out[int(tid)] = (rest[0], cpu)
    return out


def default_int_quit():
    """preexec_fn: memtrace starts with SIGINT and SIGQUIT at their
    defaults, as from an interactive shell."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def tracer_pid(pid):
    """The TracerPid /proc shows for PID, or None."""
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return None


def wait_traced_by(pid, tracer, timeout=10):
    """Waits until the process TRACER (a Popen) traces PID."""
    deadline = time.time() + timeout
    while tracer_pid(pid) != tracer.pid:
        if time.time() > deadline or tracer.poll() is not None:
            raise Failure("memtrace did not attach (status %r)" % tracer.poll())
        time.sleep(0.02)


def exec_maps(pid):
    """Executable mappings of PID: memtrace's scratch page would be one."""
    with open("/proc/%d/maps" % pid) as fh:
        return sorted(l.split()[0] + " " + (l.split()[5] if len(l.split()) > 5 else "")
                      for l in fh if l.split()[1][2] == "x")


def code_digest(pid):
    """The bytes of every executable file mapping of PID (int3s and jumps
    would show)."""
    digest = {}
    with open("/proc/%d/maps" % pid) as fh:
        maps = [l.split() for l in fh]
    with open("/proc/%d/mem" % pid, "rb") as mem:
        for f in maps:
            if f[1][2] != "x" or len(f) < 6 or not f[5].startswith("/"):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            mem.seek(lo)
            digest[f[5] + "@" + f[0]] = hashlib.sha1(mem.read(hi - lo)).hexdigest()
    return digest


class AttachTarget:
    """A running fx_attach_target MODE (or another fixture that prints
    "ready=PID" once it runs and ends on SIGTERM)."""

    def __init__(self, env, mode, stopped=False, fixture="attach_target"):
        self.mode = mode
        self.out_path = os.path.join(env.tmp, "%s_%s.out" % (fixture, mode))
        self.out = open(self.out_path, "w+")
        # stdin: a pipe kept open, so "read" mode blocks in read(2).
        self.argv = [env.fixture(fixture), mode]
        self.proc = subprocess.Popen(self.argv,
                                     stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=child_env())
        self.pid = self.proc.pid
        deadline = time.time() + 10
        while "ready=" not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("fx_attach_target %s did not start: %r" % (mode, self.output()))
            time.sleep(0.02)
        check("pid the target prints", "ready=%d" % self.pid, self.output().split("\n")[0])
        if stopped:
            os.kill(self.pid, signal.SIGSTOP)
            wait_state(self.pid, "T")
        self.text_before = self.code_digest()
        self.exec_maps_before = self.exec_maps()

    def output(self):
        with open(self.out_path) as fh:
            return fh.read()

    def status_field(self, key):
        with open("/proc/%d/status" % self.pid) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
        return None

    def exec_maps(self):
        return exec_maps(self.pid)

    def code_digest(self):
        return code_digest(self.pid)

    def check_untouched(self, still_stopped=False):
        """After memtrace is gone: as before it came."""
        check_true("target still running", self.proc.poll() is None,
                   "exit status %r, output %r" % (self.proc.returncode, self.output()))
        check("TracerPid of the target after detach", "0", self.status_field("TracerPid"))
        check("executable mappings after detach (no scratch page)", self.exec_maps_before,
              self.exec_maps())
        check_true("code of every executable mapping unchanged (no int3 left)",
                   self.code_digest() == self.text_before)
        state = self.status_field("State")
        if still_stopped:
            check("target state after detach (it was stopped)", "T", state[0])
        else:
            check_true("target not stopped after detach", state[0] in "RSD", state)
        check_true("target reported no failure", "FAIL" not in self.output(), self.output())

    def finish(self):
        """Stops it (SIGCONT, SIGTERM) and checks it ended well."""
        os.kill(self.pid, signal.SIGCONT)
        os.kill(self.pid, signal.SIGTERM)
        self.proc.stdin.close()   # "read" mode: end of input ends the read too
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("target did not end after SIGTERM: %r" % self.output())
        out = self.output()
        log("target output: %r" % out)
        check("target exit status", 0, rc)
        check_true("target printed ok=N with N > 0",
                   re.search(r"^ok=[1-9][0-9]*$", out, re.M) is not None, out)
        self.out.close()

    def kill(self):
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def wait_state(pid, letter, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/%d/stat" % pid) as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == letter:
                return
        time.sleep(0.02)
    raise Failure("pid %d never reached state %s" % (pid, letter))
