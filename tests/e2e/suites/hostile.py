"""Hostile targets: programs that do what no well-behaved program does to
a tracer. Whatever they do, memtrace must not crash, hang or kill them, and
a process it attached to must run on as it would without memtrace."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from memtrace_e2e.checks import Failure, check, check_text_has, check_true, log
from memtrace_e2e.live import wait_traced_by
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


TEST_USER = "memtrace-test"


def as_unprivileged_user(env, argv_tail, files):
    """Runs memtrace ARGV_TAIL as a user without CAP_SYS_PTRACE: the current
    user when that is not root, else the throwaway user TEST_USER (created
    here). memtrace and FILES are copied into a directory that user can
    use. Returns (completed process, that directory)."""
    work = tempfile.mkdtemp(prefix="memtrace-user-")
    os.chmod(work, 0o777)
    for src in [env.memtrace] + list(files):
        dst = os.path.join(work, os.path.basename(src))
        shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
    cmd = [os.path.join(work, "memtrace")] + [
        os.path.join(work, a[1:]) if a.startswith("@") else a for a in argv_tail]
    if os.geteuid() == 0:
        if subprocess.run(["id", TEST_USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", TEST_USER], check=True)
        cmd = ["runuser", "-u", TEST_USER, "--"] + cmd
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                       env=child_env())
    return p, work


def case_run_nondumpable_unprivileged(env):
    """A program that makes itself non-dumpable (ssh-agent, gpg-agent do),
    traced by a user without CAP_SYS_PTRACE: process_vm_readv/writev, PEEKDATA
    and new /proc opens are refused from then on; memtrace goes on through
    the /proc/PID/mem and maps descriptors it opened at exec, and the report
    is complete: 1001 allocations, 1000 frees, 77 bytes definitely lost at
    the marked line (it used to kill the program: "Bad address")."""
    p, work = as_unprivileged_user(
        env, ["run", "--json", "@out.json", "--", "@fx_nondumpable"],
        [env.fixture("nondumpable")])
    try:
        err = p.stderr.decode("utf-8", "replace")
        log(err)
        check("memtrace exit status (the program's)", 0, p.returncode)
        check_true("no warning or error: %r" % err, "memtrace:" not in err)
        with open(os.path.join(work, "out.json")) as fh:
            doc = json.load(fh)
        proc = doc["processes"][0]
        check("end", ("exited", 0), (proc["end"], proc["exit_code"]))
        s = proc["summary"]
        check("allocations, frees, unfreed", (1001, 1000, {"bytes": 77, "blocks": 1}),
              (s["allocations"], s["frees"], s["unfreed"]))
        check("classified", True, s["classified"])
        check("definitely lost", {"bytes": 77, "blocks": 1}, s["definitely_lost"])
        leak = proc["leaks"][0]
        check("leak at", ("main", env.line("nondumpable", "leak")),
              (leak["stack"][0]["function"], leak["stack"][0]["line"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


@ctest(timeout=60)
def case_debug_file_fifo(env):
    """A FIFO where the separate debug file is looked for (next to a binary
    with a .gnu_debuglink): memtrace warns, ignores it and reports (it used
    to block forever in open(2) once the program had exited)."""
    src = os.path.join(env.fixtures_dir, "symbols", "fx_sym_debuglink")
    if not os.access(src, os.X_OK):
        raise Failure("fixture %s not built" % src)
    work = tempfile.mkdtemp(prefix="memtrace-fifo-")
    try:
        prog = os.path.join(work, "fx_sym_debuglink")
        shutil.copy2(src, prog)
        fifo = prog + ".debug"
        os.mkfifo(fifo)
        json_path = os.path.join(work, "out.json")
        cmd = [env.memtrace, "run", "--json", json_path, "--", prog]
        log("$ " + " ".join(cmd))
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                               env=child_env())
        except subprocess.TimeoutExpired:
            raise Failure("memtrace still running after 30 s: blocked on the FIFO %s" % fifo)
        err = p.stderr.decode("utf-8", "replace")
        check("memtrace exit status", 0, p.returncode)
        check_text_has("warning", err,
                       "memtrace: warning: ignoring %s for %s: not a regular file" % (fifo, prog))
        with open(json_path) as fh:
            doc = json.load(fh)
        check("definitely lost", {"bytes": 37, "blocks": 1},
              doc["processes"][0]["summary"]["definitely_lost"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


@ctest(timeout=90)
def case_attach_program_patches_what_memtrace_changed(env):
    """While memtrace is attached, the process writes a `ret` over the
    first byte of pvalloc (where memtrace's int3 is, as an inline hook of
    the allocator does) and maps pages of its own over memtrace's scratch
    pages. At detach memtrace writes no original byte over the program's
    patch and unmaps none of the program's pages, and says so; the process
    finds both intact afterwards (before: the patch was written over and the
    pages unmapped)."""
    out_path = os.path.join(env.tmp, "hostile_patch.out")
    with open(out_path, "w+") as out:
        proc = subprocess.Popen([env.fixture("hostile_patch")], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=child_env())

        def output():
            with open(out_path) as fh:
                return fh.read()

        def wait_for(text):
            deadline = time.time() + 10
            while text not in output():
                if proc.poll() is not None or time.time() > deadline:
                    raise Failure("fx_hostile_patch printed no %r: %r" % (text, output()))
                time.sleep(0.02)

        try:
            wait_for("ready=%d" % proc.pid)
            mt = subprocess.Popen([env.memtrace, "attach", str(proc.pid)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=child_env())
            wait_traced_by(proc.pid, mt)
            time.sleep(0.5)   # hooks planted once the attached line is out
            os.kill(proc.pid, signal.SIGUSR1)
            wait_for("patched=")
            mt.send_signal(signal.SIGINT)
            try:
                _, err = mt.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                mt.kill()
                raise Failure("memtrace still running 20 s after SIGINT")
            err = err.decode("utf-8", "replace")
            log(err)
            check("memtrace exit status", 0, mt.returncode)
            check_text_has("memtrace's warning", err, "was changed by the program while traced")
            check_text_has("memtrace's warning", err, "is no longer what memtrace put there")
            check_true("no restore failure: %r" % err, "may not be fully restored" not in err)
            os.kill(proc.pid, signal.SIGUSR2)
            check("target exit status", 0, proc.wait(timeout=10))
            check_true("the process found its patch and pages intact", "ok" in output(),
                       output()[-300:])
            check_true("memtrace's scratch pages were among those replaced",
                       "patched=0" not in output(), output())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
