#!/usr/bin/env python3
"""bench/census_cost.py: what the heap census at attach and a leak check
while attached cost on a process holding N blocks (bench/run row 7).
Prints one JSON object.

  census_cost.py MEMTRACE CENSUS_TARGET N

census_target N allocates N blocks (99% kept, 1% lost) and idles. memtrace
attaches twice under /usr/bin/time -v, each for 3 s with --stats:
  - with its census and --leak-check-every 1 (two or three checks): the
    census's blocks and time (its own line and --stats census_us), each
    check's stop-the-world (JSON leak_checks), memtrace's peak RSS;
  - with --no-census: memtrace's peak RSS without the census's blocks.
The difference of the two RSS is what the census's blocks cost memtrace."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def peak_rss_kb(time_file):
    with open(time_file) as fh:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", fh.read())
    return int(m.group(1)) if m else None


def attach(memtrace, pid, opts, tmp, name):
    json_path = os.path.join(tmp, name + ".json")
    time_path = os.path.join(tmp, name + ".time")
    log_path = os.path.join(tmp, name + ".log")
    cmd = ["/usr/bin/time", "-v", "-o", time_path, memtrace, "attach", "--duration", "3",
           "--stats", "--json", json_path, "-o", log_path] + opts + [str(pid)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    out = {"rc": p.returncode, "peak_rss_kb": peak_rss_kb(time_path)}
    with open(log_path) as fh:
        log = fh.read()
    m = re.search(r"heap census: (\d+) blocks \((\d+) bytes\).*, ([0-9.]+) ms$", log, re.M)
    if m:
        out["census_blocks"] = int(m.group(1))
        out["census_bytes"] = int(m.group(2))
        out["census_ms"] = float(m.group(3))
    try:
        with open(json_path) as fh:
            doc = json.load(fh)
        proc = doc["processes"][0]
        out["stats"] = {k: doc["stats"].get(k) for k in
                        ("census_blocks", "census_us", "leak_checks", "leak_check_max_us",
                         "scan_ms")}
        out["check_pause_ms"] = [c["stop_the_world_ms"] for c in proc.get("leak_checks", [])]
        out["checks_blocks_scanned"] = [c["blocks_scanned"] for c in proc.get("leak_checks", [])]
        out["definitely_lost_blocks"] = proc["summary"]["definitely_lost"]["blocks"]
    except (OSError, ValueError, KeyError) as e:
        out["error"] = "no JSON report: %s; stderr: %s" % (e, p.stderr[-300:])
    return out


def main():
    memtrace, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tmp = tempfile.mkdtemp(prefix="census-cost-")
    proc = subprocess.Popen([target, str(n)], stdout=subprocess.PIPE, text=True)
    result = {"n": n}
    try:
        line = proc.stdout.readline()
        if not line.startswith("ready="):
            result["error"] = "census_target did not start: %r" % line
        else:
            result["census"] = attach(memtrace, proc.pid, ["--leak-check-every", "1"], tmp,
                                      "census")
            time.sleep(0.2)
            result["no_census"] = attach(memtrace, proc.pid, ["--no-census"], tmp, "no_census")
        result["target_alive"] = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
