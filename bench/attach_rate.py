#!/usr/bin/env python3
"""bench/attach_rate.py: a running program's own throughput before and while
memtrace is attached to it (bench/run row 6). Prints one JSON object.

  attach_rate.py churn MEMTRACE CHURNER MODE    # fx_attach_target churn
  attach_rate.py redis MEMTRACE MODE REQUESTS   # redis-server + redis-benchmark

MODE is "default" (memtrace attach) or "fast" (memtrace attach --fast).

churn: eight threads malloc, fill, checksum, realloc and free in a loop and
print their count of checks every 500 ms; the rate is counted over 3 s
untraced, then over 3 s while attached (from 1 s after memtrace stopped the
process, so the attach itself is not in the window), then over 3 s after
memtrace left.

redis: redis-benchmark -t set,get against a redis-server on a Unix socket,
untraced, then with memtrace attached (from 1 s after it stopped the
process), then after it left; requests per second of each test.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

WINDOW_S = 3.0
SETTLE_S = 1.0


def tracer_pid(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_traced_by(pid, tracer, proc, timeout=20.0):
    deadline = time.time() + timeout
    while tracer_pid(pid) != tracer:
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError("memtrace did not attach to %d (status %r)" % (pid, proc.poll()))
        time.sleep(0.01)


def attach_cmd(memtrace, mode, pid, json_path, extra=()):
    cmd = [memtrace, "attach", "--stats", "--json", json_path, "-o", os.devnull] + list(extra)
    if mode == "fast":
        cmd.append("--fast")
    return cmd + [str(pid)]


def traced(json_path):
    """What memtrace saw while attached: its counters and the process's."""
    try:
        with open(json_path) as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    proc = doc["processes"][0] if doc.get("processes") else {}
    stats = doc.get("stats", {})
    keep = ("traps", "entry_traps", "fast_events", "fast_full_waits", "fast_cut_short")
    return {"allocations": proc.get("summary", {}).get("allocations"),
            "fast_functions": proc.get("fast_functions"),
            "end": proc.get("end"),
            **{k: stats[k] for k in keep if k in stats}}


class Checks:
    """The churner's "checks=N" lines, with the time each arrived."""

    def __init__(self, proc):
        self.samples = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for raw in proc.stdout:
            m = re.match(rb"checks=(\d+)", raw)
            if m:
                with self.lock:
                    self.samples.append((time.monotonic(), int(m.group(1))))

    def rate(self, t0, t1):
        """Checks per second between the first sample after t0 and the last
        before t1."""
        with self.lock:
            inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return None
        (ta, ca), (tb, cb) = inside[0], inside[-1]
        return (cb - ca) / (tb - ta)


def churn(memtrace, churner, mode):
    target = subprocess.Popen([churner, "churn"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        checks = Checks(target)
        time.sleep(1.0)
        t0 = time.monotonic()
        time.sleep(WINDOW_S + 0.6)
        native = checks.rate(t0, time.monotonic())
        duration = SETTLE_S + WINDOW_S + 1.0
        json_path = os.path.join(tempfile.mkdtemp(prefix="memtrace-bench-churn-"), "r.json")
        mt = subprocess.Popen(attach_cmd(memtrace, mode, target.pid, json_path,
                                         ["--duration", str(duration)]),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        wait_traced_by(target.pid, mt.pid, mt)
        time.sleep(SETTLE_S)
        t1 = time.monotonic()
        time.sleep(WINDOW_S + 0.6)
        attached = checks.rate(t1, time.monotonic())
        mt.communicate(timeout=600)
        t2 = time.monotonic()
        time.sleep(WINDOW_S + 0.6)
        after = checks.rate(t2, time.monotonic())
        return {"native_per_s": native, "attached_per_s": attached, "after_per_s": after,
                "memtrace_rc": mt.returncode, "target_alive": target.poll() is None,
                "memtrace": traced(json_path)}
    finally:
        target.kill()
        target.wait()


def bench_redis(sock, requests):
    out = subprocess.run(["redis-benchmark", "-s", sock, "-t", "set,get", "-n", str(requests),
                          "-q"], capture_output=True, timeout=900).stdout.decode()
    rates = {}
    # -q prints "SET: 77339.52 requests per second, p50=..." (after \r progress)
    for m in re.finditer(r"(SET|GET): ([0-9.]+) requests per second", out):
        rates[m.group(1).lower()] = float(m.group(2))
    return rates


def redis(memtrace, mode, requests):
    work = tempfile.mkdtemp(prefix="memtrace-bench-redis-")
    sock = os.path.join(work, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                               "--appendonly", "no", "--dir", work],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if time.time() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        native = bench_redis(sock, requests["native"])
        json_path = os.path.join(work, "r.json")
        mt = subprocess.Popen(attach_cmd(memtrace, mode, server.pid, json_path),
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_traced_by(server.pid, mt.pid, mt)
        time.sleep(SETTLE_S)
        attached = bench_redis(sock, requests[mode])
        mt.send_signal(signal.SIGINT)
        mt.communicate(timeout=600)
        after = bench_redis(sock, requests["native"])
        return {"native": native, "attached": attached, "after": after,
                "memtrace_rc": mt.returncode, "target_alive": server.poll() is None,
                "memtrace": traced(json_path)}
    finally:
        server.kill()
        server.wait()


def main(argv):
    if len(argv) == 4 and argv[0] == "churn":
        res = churn(argv[1], argv[2], argv[3])
    elif len(argv) == 4 and argv[0] == "redis":
        n = int(argv[3])
        res = redis(argv[1], argv[2], {"native": n, "fast": n, "default": max(n // 40, 1000)})
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
