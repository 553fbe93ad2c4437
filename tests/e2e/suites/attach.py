"""memtrace attach PID: attaching to a running process and detaching.

fx_attach_target MODE (fixtures/attach_target.c) runs until SIGTERM, then
prints "ok=N" and exits 0, or "FAIL ..." and exits 1 as soon as anything
it computes or observes (checksums, a read or sleep cut short, a child's
exit status) is wrong.  Each case attaches, detaches, and then checks the
process is exactly as before: still running, not traced, no memtrace page
in its maps, the code of its libraries byte for byte what it was, and
able to finish its work correctly."""
import os
import re
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, base, check, check_text_has, check_true, leak_str, log
from memtrace_e2e.expect import check_exited
from memtrace_e2e.live import AttachTarget, wait_state
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env, finish_traced, json_path_for, memtrace


def attach(env, target, opts=(), status=0, name=None):
    """memtrace attach --json FILE OPTS PID; checks the exit status and the
    JSON's shape, returns a Traced."""
    json_path = json_path_for(env, name or "attach_" + target.mode)
    p = memtrace(env, ["attach", "--json", json_path] + list(opts) + [str(target.pid)])
    return finish_traced(env, p, json_path, status, [target.argv], mode="attach")


def attach_error(env, pid_arg, expected_text):
    """memtrace attach PID_ARG fails with exit status 2 and one line."""
    p = memtrace(env, ["attach", "--duration", "1", pid_arg])
    check("exit status of memtrace attach %s" % pid_arg, 2, p.returncode)
    lines = p.stderr.strip().split("\n")
    check("lines of the error message", 1, len(lines))
    check_text_has("error message", lines[0], expected_text)
    return lines[0]


def with_target(env, mode, body, stopped=False):
    target = AttachTarget(env, mode, stopped=stopped)
    try:
        body(target)
    finally:
        target.kill()


def check_detached(t, target):
    check("process end", "detached", t.process["end"])
    check("process pid", target.pid, t.process["pid"])
    check_text_has("text report", t.stderr,
                   "==%d== Detached: pid %d runs on as before" % (target.pid, target.pid))


def case_attach_steady_leak(env):
    """The production case: a leak of 64 bytes every 10 ms from one line,
    found by a 2 s attach; the pairs freed meanwhile are not reported, and
    nothing is an error."""
    def body(target):
        t = attach(env, target, ["--duration", "2"])
        check_detached(t, target)
        check("errors", [], t.errors)
        line = env.line("attach_target", "steady_leak")
        recs = [r for r in t.leaks if r["stack"] and r["stack"][0]["function"] == "leak_one"]
        lost = [r for r in recs if r["kind"] == "definitely_lost"]
        check("definitely lost records allocated in leak_one", 1, len(lost))
        # The stop may find the main thread at malloc's return trap in
        # leak_one, its rax still holding the newest block: that block is
        # truly reachable from a register (memcheck says the same), so at
        # most that one 64-byte block may be still reachable.
        reachable = [(x["kind"], x["bytes"], x["blocks"]) for x in recs if x not in lost]
        check_true("other leak_one records: none, or the newest block reachable from a "
                   "register: %r" % reachable,
                   reachable in ([], [("still_reachable", 64, 1)]))
        r = lost[0]
        check("leak_one record: kind, allocator, line",
              ("definitely_lost", "malloc", "attach_target.c", line),
              (r["kind"], r["allocator"], base(r["stack"][0]["file"]), r["stack"][0]["line"]))
        # 2 s at one block per 10 ms plus the traps' cost: a few dozen to 200.
        check_true("plausible block count (20..205): %d" % r["blocks"], 20 <= r["blocks"] <= 205)
        check("bytes == 64 * blocks", 64 * r["blocks"], r["bytes"])
        check_true("oldest block aged 1.5..2.5 s: %r" % r["oldest_age_s"],
                   1.5 <= r["oldest_age_s"] <= 2.5)
        check_true("newest block aged under 0.5 s: %r" % r["newest_age_s"],
                   0 <= r["newest_age_s"] < 0.5)
        # The blocks leak_one lost before memtrace came: the census's, 64
        # bytes asked for, 72 usable (the chunk's size), in one record.
        before = [x for x in t.leaks if x["allocator"] == "unknown" and
                  x["kind"] == "definitely_lost"]
        check("records of losses from before attach", ["72-byte blocks (allocated before attach)"],
              [x["stack"][0]["function"] for x in before])
        check("bytes == 72 * blocks (before attach)", 72 * before[0]["blocks"], before[0]["bytes"])
        others = [leak_str(x) for x in t.leaks if x is not r and x not in before and
                  x["kind"] == "definitely_lost"]
        check("other definitely lost records", [], others)
        check_true("the pairs were seen: frees >= blocks", t.summary["frees"] >= r["blocks"])
        check_true("text report: leak_one's record is one of two (the other: the census's)",
                   re.search(r"are definitely lost in loss record [12] of 2, allocated by "
                             r"malloc\(\), aged", t.stderr), t.stderr[-3000:])
        check_text_has("text report", t.stderr,
                       "==%d==    at %s: leak_one (attach_target.c:%d)\n" % (
                           target.pid, r["stack"][0]["address"], line))
        target.check_untouched()
        target.finish()
    with_target(env, "steady", body)


def case_attach_interval(env):
    """--interval: a live view every 0.5 s names the leaking line with its
    growth per second."""
    def body(target):
        t = attach(env, target, ["--duration", "2.3", "--interval", "0.5", "--top", "3"])
        views = re.findall(r"==%d== live view after ([0-9.]+) s: " % target.pid, t.stderr)
        check("number of live views in 2.3 s at 0.5 s", 4, len(views))
        line = env.line("attach_target", "steady_leak")
        grows = re.findall(r"==%d== +[0-9.]+ (?:B|KiB) +[0-9]+ +\+([0-9.]+) (B|KiB)/s  "
                           r"leak_one \(attach_target\.c:%d\) < main \(attach_target\.c:\d+\)\n"
                           % (target.pid, line), t.stderr)
        check("live-view rows naming the leaking line", 4, len(grows))
        rates = [float(v) * (1024 if u == "KiB" else 1) for v, u in grows]
        check_true("growth of the leaking line 0.3..7 KiB/s in every view: %r" % rates,
                   all(300 <= x <= 7000 for x in rates))
        target.check_untouched()
        target.finish()
    with_target(env, "steady", body)


@ctest(timeout=900)
def case_attach_churn_50(env):
    """Eight threads malloc, checksum and free in a tight loop; memtrace
    attaches and detaches 50 times, each after a random 0.1-2 s (seeded).
    After each detach the target runs, untraced, with every executable
    mapping as before; it never crashes, its checksums stay right, and it
    exits 0. With --fast in MEMTRACE_OPTS, the calls went through the stubs."""
    import random
    rng = random.Random(5)
    fast = "--fast" in os.environ.get("MEMTRACE_OPTS", "").split()

    def body(target):
        total_allocs = 0
        for i in range(50):
            duration = "%.2f" % rng.uniform(0.1, 2.0)
            log("-- attach %d of 50, %s s" % (i + 1, duration))
            t = attach(env, target, ["--duration", duration, "-o", os.devnull])
            check("process end", "detached", t.process["end"])
            check("errors", [], t.errors)
            check("definitely lost records", [],
                  [leak_str(r) for r in t.leaks if r["kind"] == "definitely_lost"])
            total_allocs += t.summary["allocations"]
            check_true("target alive after detach %d" % (i + 1), target.proc.poll() is None,
                       target.output())
            check_true("no failure in the target", "FAIL" not in target.output(),
                       target.output())
            if fast:
                check_true("malloc and free on the stubs: %r" % t.process["fast_functions"],
                           t.process["fast_functions"] >= 5)
            target.check_untouched()
        check_true("allocations were traced: %d" % total_allocs, total_allocs > 1000)
        target.check_untouched()
        target.finish()
    with_target(env, "churn", body)


def attach_cycle(env, mode, attaches=3, stopped=False, extra=None, durations=("0.8",)):
    """ATTACHES attach/detach cycles on fx_attach_target MODE, each as long
    as the next of DURATIONS (seconds, in turn)."""
    def body(target):
        for i in range(attaches):
            t = attach(env, target, ["--duration", durations[i % len(durations)], "-o",
                                     os.devnull])
            check("process end", "detached", t.process["end"])
            check("errors", [], t.errors)
            if extra:
                extra(t, target)
            target.check_untouched(still_stopped=stopped)
        target.finish()
    with_target(env, mode, body, stopped=stopped)


def case_attach_blocked_read(env):
    """The main thread blocked in read(2) on a pipe: it stays blocked,
    never sees EINTR (the target fails if it does)."""
    attach_cycle(env, "read")


def case_attach_nanosleep(env):
    """The main thread in nanosleep(2): it sleeps its full time, no EINTR."""
    attach_cycle(env, "sleep")


def case_attach_stopped(env):
    """A SIGSTOPped process is still stopped after detach; its threads run
    and check their results once it is continued."""
    attach_cycle(env, "stopped", stopped=True)


def case_attach_while_forking(env):
    """Children forked while attached get clean memory: each allocates,
    frees and exits 7, which the parent checks."""
    attach_cycle(env, "fork")


def case_attach_thread_spawn(env):
    """Threads created and destroyed all the time, also between the listing
    of /proc/PID/task and the seizing: all are traced (their allocations
    are seen) and none is left stopped or traced. The main thread's clone
    events take the place of the interrupts that park it; short attaches
    end while the threads are still being parked."""
    durations = ("0.8", "0.05", "0.3", "0.1")
    done = []

    def allocations_seen(t, target):
        long_enough = float(durations[len(done) % len(durations)]) >= 0.3
        done.append(t)
        if long_enough:   # a short one may end before the threads allocate
            check_true("allocations of short-lived threads seen: %d"
                       % t.summary["allocations"], t.summary["allocations"] > 50)
    attach_cycle(env, "spawn", attaches=8, extra=allocations_seen, durations=durations)


def attach_until(env, target, end):
    """memtrace attach --json FILE PID without --duration; after a second,
    END(memtrace's Popen) ends it (a signal to memtrace or to the target)."""
    json_path = json_path_for(env, "attach_until")
    cmd = [env.memtrace, "attach", "--json", json_path, str(target.pid)]
    log("$ " + " ".join(cmd))
    mt = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=child_env())
    time.sleep(1.0)
    end(mt)
    out, err = mt.communicate(timeout=60)
    p = subprocess.CompletedProcess(cmd, mt.returncode, out.decode(), err.decode())
    return finish_traced(env, p, json_path, 0, [target.argv], mode="attach")


def case_attach_target_exits(env):
    """The process ends while attached: the report says how, memtrace
    exits 0."""
    target = AttachTarget(env, "steady")
    try:
        t = attach_until(env, target, lambda mt: os.kill(target.pid, signal.SIGTERM))
        check_exited(t, 0)
        check("target exit status", 0, target.proc.wait(timeout=10))
        check_true("target printed ok", "ok=" in target.output(), target.output())
    finally:
        target.kill()


def stop_by_signal(env, sig):
    def body(target):
        t = attach_until(env, target, lambda mt: mt.send_signal(sig))
        check_detached(t, target)
        check_true("the leak was seen", any(r["stack"] and r["stack"][0]["function"] ==
                                            "leak_one" for r in t.leaks))
        target.check_untouched()
        target.finish()
    with_target(env, "churn" if sig == signal.SIGHUP else "steady", body)


def case_attach_sigint(env):
    """Ctrl-C (SIGINT to memtrace) detaches cleanly and reports."""
    stop_by_signal(env, signal.SIGINT)


def case_attach_sigterm(env):
    stop_by_signal(env, signal.SIGTERM)


def case_attach_errors(env):
    """Bad PIDs: one line, exit status 2, and the target untouched."""
    attach_error(env, "abc", "'abc' is not a process id")
    attach_error(env, "0", "'0' is not a process id")
    gone = subprocess.Popen(["true"])
    gone.wait()
    attach_error(env, str(gone.pid), "no such process: %d" % gone.pid)
    attach_error(env, str(os.getpid()), "is memtrace's parent")
    zombie = subprocess.Popen(["true"])
    wait_state(zombie.pid, "Z")
    try:
        attach_error(env, str(zombie.pid), "pid %d is a zombie" % zombie.pid)
    finally:
        zombie.wait()
    kthreads = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[6]) & 0x00200000:
                        kthreads.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    if kthreads:
        attach_error(env, str(kthreads[0]), "is a kernel thread")
    else:
        log("note: no kernel thread visible in this pid namespace; that check is not run")


def case_attach_already_traced(env):
    """A process another tracer holds (here a first memtrace attach): the
    second says who traces it; the first is unaffected and detaches."""
    def body(target):
        first_json = json_path_for(env, "attach_first")
        cmd = [env.memtrace, "attach", "--duration", "3", "--json", first_json,
               str(target.pid)]
        first = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=child_env())
        deadline = time.time() + 10
        while target.status_field("TracerPid") == "0":
            if time.time() > deadline:
                raise Failure("the first memtrace never attached")
            time.sleep(0.02)
        attach_error(env, str(target.pid), "pid %d is already traced by pid %d (memtrace)" % (
            target.pid, first.pid))
        out, err = first.communicate(timeout=60)
        check("first memtrace's exit status", 0, first.returncode)
        target.check_untouched()
        target.finish()
    with_target(env, "steady", body)


def case_attach_no_malloc(env):
    """A static program without malloc: refused with one line and exit 2,
    and the program keeps running untraced."""
    prog = subprocess.Popen([env.fixture("attach_nomalloc")], stdout=subprocess.PIPE)
    try:
        line = prog.stdout.readline().decode()
        check("nomalloc's first line", "ready", line.strip())
        attach_error(env, str(prog.pid), "no malloc found")
        with open("/proc/%d/status" % prog.pid) as fh:
            status = fh.read()
        check_true("nomalloc not traced after the refusal", "TracerPid:\t0\n" in status, status)
        check("nomalloc still running", None, prog.poll())
        check("nomalloc still ticking", "tick", prog.stdout.readline().decode().strip())
    finally:
        prog.kill()
        prog.wait()
