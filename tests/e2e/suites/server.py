"""memtrace attach --fast on a real server: Debian's redis-server (its
allocator is libjemalloc) serving redis-benchmark while memtrace joins it,
watches it and leaves, or is killed. The server must answer as before,
keep its data, and after a clean detach have every executable mapping as
it was."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.live import code_digest, exec_maps, tracer_pid, wait_traced_by
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env, finish_traced, json_path_for


class Redis:
    """A redis-server on a Unix socket of its own, saving nothing to disk."""

    def __init__(self):
        for tool in ("redis-server", "redis-cli", "redis-benchmark"):
            if not shutil.which(tool):
                raise Failure("%s is not installed (./quickstart.sh installs redis-server "
                              "and redis-tools)" % tool)
        self.dir = tempfile.mkdtemp(prefix="memtrace-redis-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=child_env())
        self.pid = self.proc.pid
        deadline = time.time() + 10
        while self.cli("PING") != "PONG":
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("redis-server did not start (status %r)" % self.proc.poll())
            time.sleep(0.05)

    def cmdline(self):
        """Its command line as /proc shows it (redis-server retitles itself)."""
        with open("/proc/%d/cmdline" % self.pid, "rb") as fh:
            return [a.decode() for a in fh.read().split(b"\0") if a]

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-s", self.sock] + list(args), capture_output=True,
                           timeout=30)
        return p.stdout.decode("utf-8", "replace").strip()

    def benchmark(self, requests, background=False):
        cmd = ["redis-benchmark", "-s", self.sock, "-t", "set,get", "-n", str(requests), "-q"]
        if background:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        p = subprocess.run(cmd, capture_output=True, timeout=300)
        return p.stdout.decode("utf-8", "replace")

    def fill(self, n):
        """N keys with values made from their number, set before memtrace comes."""
        for i in range(0, n, 100):
            args = ["MSET"]
            for k in range(i, min(n, i + 100)):
                args += ["key:%d" % k, "value-%d-%s" % (k, "x" * (k % 37))]
            check("MSET answer", "OK", self.cli(*args))

    def check_data(self, n):
        for k in (0, n // 3, n - 1):
            check("GET key:%d" % k, "value-%d-%s" % (k, "x" * (k % 37)), self.cli("GET", "key:%d" % k))
        check("DBSIZE at least the keys set", True, int(self.cli("DBSIZE")) >= n)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def attach_fast(env, server, name):
    json_path = json_path_for(env, name)
    mt = subprocess.Popen([env.memtrace, "attach", "--fast", "--stats", "--json", json_path,
                           str(server.pid)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=child_env())
    wait_traced_by(server.pid, mt)
    time.sleep(0.5)   # the stubs are in once the process runs again
    return mt, json_path


@ctest(timeout=300)
def case_fast_attach_redis(env):
    """redis-server serves 20,000 SETs and GETs while memtrace attach --fast
    watches it: every allocator call goes through the stubs (no trap), the
    report has the allocations and no error, and after Ctrl-C (SIGINT) the
    server runs on untraced with its data, every executable mapping
    byte-identical to before memtrace came."""
    server = Redis()
    try:
        server.fill(1000)
        maps_before, code_before = exec_maps(server.pid), code_digest(server.pid)
        mt, json_path = attach_fast(env, server, "redis")
        out = server.benchmark(20000)
        log(out[-400:])
        check_true("redis-benchmark ran its tests", "SET:" in out and "GET:" in out, out[-400:])
        mt.send_signal(signal.SIGINT)
        stdout, stderr = mt.communicate(timeout=120)
        p = subprocess.CompletedProcess(mt.args, mt.returncode, stdout.decode("utf-8", "replace"),
                                        stderr.decode("utf-8", "replace"))
        t = finish_traced(env, p, json_path, 0, [server.cmdline()], mode="attach")
        check("process end", "detached", t.process["end"])
        check("errors", [], t.errors)
        check_true("the allocator's entry points were on the stubs: %r"
                   % t.process["fast_functions"], t.process["fast_functions"] >= 5)
        stats = t.doc.get("stats") or {}
        log("stats: %r" % stats)
        check("allocator calls that trapped", 0, stats.get("entry_traps"))
        check_true("20,000 SETs allocate: %r allocations" % t.summary["allocations"],
                   t.summary["allocations"] >= 20000)
        check("TracerPid after detach", 0, tracer_pid(server.pid))
        check("executable mappings after detach (no stub region)", maps_before,
              exec_maps(server.pid))
        check_true("code of every executable mapping as before", code_digest(server.pid) == code_before)
        server.check_data(1000)
        check("PING after detach", "PONG", server.cli("PING"))
    finally:
        server.stop()


@ctest(timeout=300)
def case_fast_attach_redis_memtrace_killed(env):
    """memtrace attach --fast is SIGKILLed while redis-benchmark keeps the
    server busy: the server survives (its guardian put back the bytes under
    memtrace's int3s and switched the stubs to pass calls through), the
    benchmark finishes, and the server answers with its data."""
    server = Redis()
    try:
        server.fill(1000)
        mt, _ = attach_fast(env, server, "redis_killed")
        bench = server.benchmark(100000, background=True)
        time.sleep(1.0)
        check("redis-benchmark still running when memtrace is killed", None, bench.poll())
        mt.kill()
        mt.communicate()
        out = bench.communicate(timeout=240)[0].decode("utf-8", "replace")
        log(out[-400:])
        check_true("redis-server alive after memtrace's SIGKILL", server.proc.poll() is None,
                   "exit status %r" % server.proc.poll())
        check_true("redis-benchmark finished both tests", "SET:" in out and "GET:" in out,
                   out[-400:])
        check("TracerPid once memtrace is gone", 0, tracer_pid(server.pid))
        server.check_data(1000)
        check("PING", "PONG", server.cli("PING"))
    finally:
        server.stop()
