"""`memtrace attach --interval` next to a debug-info server that answers
slowly: the live view must never hold the process while a symbol is looked
up.  Names come from a helper process; until they arrive the view shows
module+offset.

fx_hostile_liveview (fixtures/hostile_liveview.c) allocates in a loop and
prints "beat=MS" (CLOCK_MONOTONIC) every 20 ms: a gap between two beats is
the time a thread was held stopped.  It runs as a copy without its DWARF
(objcopy --strip-debug), so libdw asks the debuginfod server of
DEBUGINFOD_URLS for its debug info; the server here sleeps before it
answers 404 (libdw then names functions from the symbol table)."""
import http.server
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.registry import ctest
from suites.cli_help import run_on_terminal
from memtrace_e2e.run import (check_memtrace_ended, child_env, finish_traced, json_path_for,
                              memtrace)

# Longest gap allowed between two beats while memtrace is attached: the
# parking at attach and detach costs milliseconds; a symbol lookup inside
# a stop costs the server's whole delay.
MAX_GAP_MS = 1000


class SlowDebuginfod:
    """An HTTP server on 127.0.0.1 that answers every request with 404
    after DELAY seconds, and remembers (monotonic time, path) of each."""

    def __init__(self, delay):
        self.delay = delay
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((time.monotonic(), self.path))
                time.sleep(server.delay)
                try:
                    self.send_error(404)
                except OSError:
                    pass   # the client gave up (memtrace killed its helper)

            def log_message(self, fmt, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def debuginfo_requests(self):
        return [(t, p) for t, p in self.requests if re.match(r"^/buildid/[0-9a-f]+/debuginfo$", p)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class BeatingTarget:
    """A copy of fx_hostile_liveview without its DWARF, running, its output
    in a file."""

    def __init__(self, env):
        self.dir = os.path.join(env.tmp, "liveview")
        os.makedirs(self.dir, exist_ok=True)
        self.prog = os.path.join(self.dir, "fx_hostile_liveview")
        shutil.copy(env.fixture("hostile_liveview"), self.prog)
        objcopy = shutil.which("objcopy")
        if not objcopy:
            raise Failure("objcopy (binutils) is needed to strip the fixture's copy")
        subprocess.run([objcopy, "--strip-debug", self.prog], check=True)
        self.out_path = os.path.join(self.dir, "out")
        self.out = open(self.out_path, "w+")
        self.proc = subprocess.Popen([self.prog], stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=child_env())
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while "ready=%d" % self.pid not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Failure("fx_hostile_liveview did not start: %r" % self.output())
            time.sleep(0.02)

    def output(self):
        with open(self.out_path) as fh:
            return fh.read()

    def beats(self):
        return [int(x) for x in re.findall(r"^beat=(\d+)$", self.output(), re.M)]

    def tracer_pid(self):
        with open("/proc/%d/status" % self.pid) as fh:
            for line in fh:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
        return None

    def finish(self):
        os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure("fx_hostile_liveview did not end after SIGTERM")
        check("target exit status after SIGTERM", 0, rc)
        check_true("target printed ok=N", re.search(r"^ok=[1-9][0-9]*$", self.output(), re.M),
                   self.output()[-500:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def check_heartbeat(target, t0, duration):
    """The target beat every 20 ms while memtrace traced it, from t0
    (monotonic seconds, before memtrace started) to its --duration, with no
    gap over MAX_GAP_MS.  Gaps are taken from each beat up to 0.5 s before
    --duration ends to the beat after it, wherever that came: what holds the
    process at detach (parking, the leak scan) is not a lookup."""
    beats = target.beats()
    end = t0 + duration - 0.5
    gaps = [(b - a, a) for a, b in zip(beats, beats[1:]) if t0 * 1000 <= a <= end * 1000]
    check_true("target beat while memtrace traced it: %d beats in %.1f s" % (
        len(gaps), end - t0), len(gaps) >= 2)
    worst, at = max(gaps)
    log("longest gap between beats: %d ms, %.2f s after memtrace started" % (
        worst, at / 1000 - t0))
    check_true("the target was never held longer than %d ms (longest gap %d ms, %.2f s after "
               "memtrace started)" % (MAX_GAP_MS, worst, at / 1000 - t0), worst <= MAX_GAP_MS)


def attach_next_to_server(env, delay, duration, opts, name):
    """memtrace attach --json F --duration DURATION OPTS PID on a stripped
    fx_hostile_liveview, with DEBUGINFOD_URLS naming a server that answers
    after DELAY s; checks the target's heartbeat while it was traced.
    Returns (target, server, traced, t0, t1): t0 and t1 bracket memtrace's
    run (monotonic seconds); the caller ends target and server."""
    server = SlowDebuginfod(delay)
    target = BeatingTarget(env)
    json_path = json_path_for(env, name)
    extra = {"DEBUGINFOD_URLS": server.url,
             "DEBUGINFOD_CACHE_PATH": os.path.join(target.dir, "debuginfod-cache")}
    t0 = time.monotonic()
    p = memtrace(env, ["attach", "--json", json_path, "--duration", str(duration)] + list(opts)
                 + [str(target.pid)], extra_env=extra)
    t1 = time.monotonic()
    log("memtrace ran %.1f s" % (t1 - t0))
    t = finish_traced(env, p, json_path, 0, [[target.prog]], mode="attach")
    check_heartbeat(target, t0, duration)
    return target, server, t, t0, t1


def views_of(stderr, pid):
    """The live views in STDERR: a list of (seconds, [row text])."""
    views = []
    for line in stderr.split("\n"):
        m = re.match(r"==%d== live view after ([0-9.]+) s: " % pid, line)
        if m:
            views.append((float(m.group(1)), []))
            continue
        m = re.match(r"==%d== +[0-9.]+ \S+ +[0-9]+ +\S+ \S+/s  (.*)$" % pid, line)
        if m and views:
            views[-1][1].append(m.group(1))
    return views


def check_runs_on(target):
    check("TracerPid of the target after memtrace ended", 0, target.tracer_pid())
    before = len(target.beats())
    time.sleep(0.5)
    check_true("target runs on after memtrace ended: %d beats then %d" % (
        before, len(target.beats())), len(target.beats()) >= before + 5)
    target.finish()


def check_final_names(t):
    """The final report, made after detach, waited for the server and named
    the leaking function from the symbol table."""
    lost = [r for r in t.leaks if r["kind"] == "definitely_lost" and r["allocator"] != "unknown"]
    check_true("definitely lost records: %d" % len(lost), len(lost) >= 1)
    check("function of the leaking frame in the final report", "leak_block",
          lost[0]["stack"][0]["function"])


@ctest(timeout=120)
def case_attach_interval_slow_debuginfod(env):
    """The server answers after 20 s; memtrace attaches for 6 s with a live
    view every second.  The target is never held over a second, every view
    shows module+offset frames (no name has come), memtrace exits 0 at
    --duration, then the final report waits for the server (the process
    runs free by then) and names the leak; the target runs on."""
    target = server = None
    try:
        target, server, t, t0, t1 = attach_next_to_server(
            env, 20, 6, ["--interval", "1"], "liveview_slow")
        log("memtrace ended %.1f s after --duration: the final report waited for the server"
            % (t1 - t0 - 6))
        check_true("memtrace ended within --duration + one server delay + 30 s: %.1f s"
                   % (t1 - t0), t1 - t0 < 6 + 20 + 30)
        check_true("libdw asked the server for the fixture's debug info: %r" % server.requests,
                   server.debuginfo_requests())
        views = views_of(t.stderr, target.pid)
        check_true("live views in 6 s at 1 s: %d" % len(views), 5 <= len(views) <= 6,
                   t.stderr[-3000:])
        for secs, rows in views:
            check_true("view after %.1f s shows the leak as module+offset frames: %r" % (
                secs, rows), any(re.match(r"fx_hostile_liveview\+0x[0-9a-f]+ < "
                                          r"fx_hostile_liveview\+0x[0-9a-f]+$", r) for r in rows))
        check_true("memtrace detached after --duration",
                   "==%d== Detached: pid %d runs on as before" % (target.pid, target.pid)
                   in t.stderr, t.stderr[-2000:])
        check_final_names(t)
        check("stderr not a terminal: no download progress", False,
              "Downloading" in t.stderr or "\r" in t.stderr)
        check_runs_on(target)
    finally:
        if target:
            target.kill()
        if server:
            server.close()


@ctest(timeout=120)
def case_debuginfod_progress_on_a_terminal(env):
    """With stderr on a terminal, the wait for the debuginfod server shows
    libdebuginfod's own progress line ("Downloading"), on its own line after
    memtrace erased its status line; the report follows."""
    target = server = None
    try:
        server = SlowDebuginfod(2.5)
        target = BeatingTarget(env)
        log_path = os.path.join(env.tmp, "progress.log")
        extra = {"DEBUGINFOD_URLS": server.url, "MEMTRACE_PROGRESS_AFTER_MS": "0",
                 "DEBUGINFOD_CACHE_PATH": os.path.join(target.dir, "debuginfod-cache")}
        out = run_on_terminal(env, ["attach", "--duration", "1", "-o", log_path,
                                    str(target.pid)], extra)
        check_true("libdw asked the server: %r" % server.requests, server.debuginfo_requests())
        check_true("libdebuginfod's progress line on the terminal: %r" % out[-2000:],
                   re.search(r"\rDownloading", out))
        with open(log_path) as fh:
            report = fh.read()
        check_true("the report names the leak from the symbol table", "leak_block" in report,
                   report[-2000:])
        check_true("the report has no progress in it", "\r" not in report)
        check_runs_on(target)
    finally:
        if target:
            target.kill()
        if server:
            server.close()


@ctest(timeout=120)
def case_attach_interval_names_arrive(env):
    """The server answers after 2.5 s: the first views show module+offset,
    the later ones the function names the answer allowed (from the symbol
    table, "leak_block (in .../fx_hostile_liveview)"); the target is never
    held."""
    target = server = None
    try:
        target, server, t, t0, t1 = attach_next_to_server(
            env, 2.5, 6, ["--interval", "1"], "liveview_arrive")
        views = views_of(t.stderr, target.pid)
        check_true("live views in 6 s at 1 s: %d" % len(views), 5 <= len(views) <= 6,
                   t.stderr[-3000:])
        named = re.compile(r"leak_block \(in \S*fx_hostile_liveview\) < "
                           r"main \(in \S*fx_hostile_liveview\)$")
        addressed = re.compile(r"fx_hostile_liveview\+0x[0-9a-f]+ < fx_hostile_liveview\+0x")
        secs, rows = views[0]
        check_true("first view (%.1f s) shows module+offset: %r" % (secs, rows),
                   any(addressed.match(r) for r in rows))
        secs, rows = views[-1]
        check_true("last view (%.1f s) names the leaking function: %r" % (secs, rows),
                   any(named.match(r) for r in rows))
        check_final_names(t)
        check_runs_on(target)
    finally:
        if target:
            target.kill()
        if server:
            server.close()


@ctest(timeout=120)
def case_attach_no_lookup_while_attached(env):
    """Without --interval nothing is symbolized while memtrace is attached:
    reading the modules' symbol tables to place the hooks and adding them to
    the symbolizer never search for debug info.  The server (5 s delay) gets
    its first request only after --duration, and the target is never held."""
    target = server = None
    try:
        target, server, t, t0, t1 = attach_next_to_server(
            env, 5, 3, [], "liveview_none")
        reqs = server.debuginfo_requests()
        check_true("libdw asked the server for the fixture's debug info: %r" % server.requests,
                   reqs)
        first = reqs[0][0] - t0
        check_true("first request to the server %.2f s after memtrace started, after the "
                   "3 s of tracing" % first, first >= 3.0)
        check_final_names(t)
        check_runs_on(target)
    finally:
        if target:
            target.kill()
        if server:
            server.close()


@ctest(timeout=120)
def case_attach_interval_helper_killed(env):
    """The symbolizer helper dies (SIGKILL, as a crash inside libdw would
    end it) while memtrace is attached: memtrace says so once, goes on
    tracing, its later views keep the names already answered, it exits 0 at
    --duration with a full report, and the target runs on."""
    target = BeatingTarget(env)
    try:
        json_path = json_path_for(env, "liveview_helper_killed")
        err = tempfile.TemporaryFile(dir=env.tmp)
        cmd = [env.memtrace, "attach", "--json", json_path, "--interval", "0.5",
               "--duration", "4", str(target.pid)]
        log("$ " + " ".join(cmd) + " &")
        t0 = time.monotonic()
        mt = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=err, env=child_env())
        time.sleep(1.6)
        with open("/proc/%d/task/%d/children" % (mt.pid, mt.pid)) as fh:
            helpers = [int(x) for x in fh.read().split()]
        check("children of memtrace attach --interval (its symbolizer helper)", 1, len(helpers))
        log("kill(helper %d, SIGKILL)" % helpers[0])
        os.kill(helpers[0], signal.SIGKILL)
        try:
            rc = mt.wait(timeout=60)
        except subprocess.TimeoutExpired:
            mt.kill()
            raise Failure("memtrace still running 60 s after a 4 s --duration")
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        check_memtrace_ended(rc, stderr)
        t = finish_traced(env, subprocess.CompletedProcess(cmd, rc, "", stderr), json_path, 0,
                          [[target.prog]], mode="attach")
        check_heartbeat(target, t0, 4)
        check("warnings about the helper", 1, stderr.count("symbolizer helper"))
        views = views_of(stderr, target.pid)
        check_true("live views in 4 s at 0.5 s: %d" % len(views), 7 <= len(views) <= 8,
                   stderr[-3000:])
        named = re.compile(r"leak_block \(in \S*fx_hostile_liveview\) < "
                           r"main \(in \S*fx_hostile_liveview\)$")
        secs, rows = views[-1]
        check_true("last view (%.1f s) still names the leaking function: %r" % (secs, rows),
                   any(named.match(r) for r in rows))
        check_final_names(t)
        check_runs_on(target)
    finally:
        target.kill()
