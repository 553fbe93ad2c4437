"""Signals a hostile environment sends to memtrace itself: signals without a
handler of memtrace's (SIGQUIT, SIGUSR1, SIGXFSZ, ...) and a closed output
pipe (SIGPIPE, as in `memtrace ... 2>&1 | head -1`).

attach: every catchable signal that would end memtrace stops tracing and
goes through the normal restore and detach; SIGPIPE is ignored and tracing
goes on.  run: the signals memtrace is sent are passed on to the program,
SIGPIPE is ignored by memtrace (the program still gets its own), and the
program starts with the signal dispositions and mask memtrace was given."""
import os
import re
import resource
import select
import signal
import subprocess
import tempfile
import time

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.expect import check_kinds, marked_leaks, stdout_ints
from memtrace_e2e.live import AttachTarget, Live
from memtrace_e2e.run import child_env, finish_traced, json_path_for, run_timeout


def signame(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return "signal %d" % sig


def no_core():
    """preexec_fn: no core file when a signal whose default action dumps
    core (SIGQUIT, SIGXCPU, SIGXFSZ) kills memtrace or the program."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def target_fate(target, seconds=1.0):
    """What became of an attach target SECONDS from now, for a message."""
    try:
        target.proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return "still running, TracerPid %s" % target.status_field("TracerPid")
    rc = target.proc.returncode
    return ("died of %s" % signame(-rc) if rc < 0 else "exited %d" % rc)


def check_not_killed(what, rc, stderr, target=None):
    """memtrace ended by itself: a negative status is a death by signal."""
    if rc is not None and rc < 0:
        fate = (", and 1 s later the target %s" % target_fate(target)) if target else ""
        raise Failure("%s was killed by %s%s\nstderr (last 3000 chars):\n%s" % (
            what, signame(-rc), fate, stderr[-3000:]))


def checks_lines(target):
    return [int(x) for x in re.findall(r"^checks=(\d+)$", target.output(), re.M)]


def check_keeps_running(target, seconds=2.0):
    """The detached churn target stays alive and keeps allocating: its
    workers' progress line (checks=N every 500 ms) keeps growing, for
    SECONDS (a leftover int3 would kill it with SIGTRAP at its next malloc)."""
    before = checks_lines(target)
    time.sleep(seconds)
    check_true("target alive %.1f s after memtrace ended" % seconds, target.proc.poll() is None,
               "status %r, output %r" % (target.proc.returncode, target.output()[-2000:]))
    after = checks_lines(target)
    check_true("target printed at least 2 more progress lines in %.1f s" % seconds,
               len(after) >= len(before) + 2, "%r then %r" % (before[-3:], after[-3:]))
    check_true("its workers' checks kept growing: %r" % after[-3:],
               after[-1] > (before[-1] if before else 0))
    check_true("target reported no failure", "FAIL" not in target.output(), target.output())


def start_attach(env, target, opts=(), stderr=None, name="hostile_attach"):
    json_path = json_path_for(env, name)
    cmd = [env.memtrace, "attach", "--json", json_path] + list(opts) + [str(target.pid)]
    log("$ " + " ".join(cmd) + " &")
    err = stderr if stderr is not None else tempfile.TemporaryFile(dir=env.tmp)
    mt = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=err, env=child_env(), preexec_fn=no_core)
    log("  memtrace pid %d" % mt.pid)
    return mt, json_path, err


def read_file(fh):
    fh.seek(0)
    return fh.read().decode("utf-8", "replace")


def wait_text(mt, err, text, what):
    """Waits (30 s at most) until memtrace MT wrote TEXT to ERR."""
    deadline = time.monotonic() + 30
    while text not in read_file(err):
        if mt.poll() is not None or time.monotonic() > deadline:
            raise Failure("%s (status %r):\n%s" % (what, mt.poll(), read_file(err)[-3000:]))
        time.sleep(0.02)


def attach_stop_by(env, sig):
    """memtrace attach (no --duration) on the churning target; once its
    hooks are in and allocations traced, SIG is sent to memtrace: it
    detaches cleanly, reports and exits 0; the target runs on, untouched."""
    target = AttachTarget(env, "churn")
    try:
        mt, json_path, err = start_attach(env, target)
        wait_text(mt, err, "tracking allocations from now on", "memtrace did not attach")
        time.sleep(0.7)   # the workers allocate under the hooks
        log("kill(memtrace %d, %s)" % (mt.pid, signame(sig)))
        os.kill(mt.pid, sig)
        try:
            rc = mt.wait(timeout=60)
        except subprocess.TimeoutExpired:
            mt.kill()
            raise Failure("memtrace still running 60 s after %s" % signame(sig))
        log("  (memtrace finished with status %d)" % rc)
        check_not_killed("memtrace attach", rc, read_file(err), target)
        res = subprocess.CompletedProcess(mt.args, rc, "", read_file(err))
        t = finish_traced(env, res, json_path, 0, [target.argv], mode="attach")
        check("process end", "detached", t.process["end"])
        check_true("allocations were traced: %d" % t.summary["allocations"],
                   t.summary["allocations"] > 0)
        check_true("text report says it detached",
                   "==%d== Detached: pid %d runs on as before" % (target.pid, target.pid)
                   in t.stderr, t.stderr[-2000:])
        target.check_untouched()
        check_keeps_running(target)
        target.finish()
    finally:
        target.kill()


def case_attach_sigquit(env):
    """Ctrl-\\ (SIGQUIT) to memtrace attach: restore, detach, report, exit 0."""
    attach_stop_by(env, signal.SIGQUIT)


def case_attach_sigusr1(env):
    """SIGUSR1 to memtrace attach asks for a leak check: it prints one and
    keeps tracing; SIGINT then ends the attach as usual."""
    target = AttachTarget(env, "churn")
    try:
        mt, json_path, err = start_attach(env, target)
        wait_text(mt, err, "tracking allocations from now on", "memtrace did not attach")
        os.kill(mt.pid, signal.SIGUSR1)
        wait_text(mt, err, "LEAK SUMMARY (check 1)", "no leak check after SIGUSR1")
        time.sleep(0.3)
        check("memtrace still runs after its leak check", None, mt.poll())
        os.kill(mt.pid, signal.SIGINT)
        rc = mt.wait(timeout=60)
        res = subprocess.CompletedProcess(mt.args, rc, "", read_file(err))
        t = finish_traced(env, res, json_path, 0, [target.argv], mode="attach")
        check("process end", "detached", t.process["end"])
        check("leak checks in the JSON", [1], [c["number"] for c in t.process["leak_checks"]])
        target.check_untouched()
        check_keeps_running(target)
        target.finish()
    finally:
        target.kill()


def case_attach_sigusr2(env):
    attach_stop_by(env, signal.SIGUSR2)


def case_attach_sigxfsz(env):
    attach_stop_by(env, signal.SIGXFSZ)


def case_attach_sigxcpu(env):
    attach_stop_by(env, signal.SIGXCPU)


def case_attach_sigvtalrm(env):
    attach_stop_by(env, signal.SIGVTALRM)


def case_attach_sigrt(env):
    """A real-time signal (SIGRTMIN+3) to memtrace attach."""
    attach_stop_by(env, signal.SIGRTMIN + 3)


def case_attach_stderr_closed(env):
    """`memtrace attach --interval ... PID 2>&1 | head -1`: memtrace's
    stderr is a pipe whose reader goes away after the first line.  The live
    views are lost (EPIPE), memtrace is not killed by SIGPIPE: it traces to
    --duration, detaches cleanly and writes its JSON; the target runs on."""
    target = AttachTarget(env, "churn")
    r, w = os.pipe()
    try:
        t0 = time.monotonic()
        mt, json_path, _ = start_attach(env, target, ["--duration", "2", "--interval", "0.2"],
                                        stderr=w, name="hostile_attach_pipe")
        os.close(w)
        w = None
        first = b""
        while not first.endswith(b"\n"):
            ready, _, _ = select.select([r], [], [], 30)
            chunk = os.read(r, 1) if ready else b""
            if not chunk:
                raise Failure("no first line from memtrace attach (status %r): %r" % (
                    mt.poll(), first))
            first += chunk
        log("  first line %r; closing the pipe's read end" % first)
        os.close(r)
        r = None
        try:
            rc = mt.wait(timeout=60)
        except subprocess.TimeoutExpired:
            mt.kill()
            raise Failure("memtrace still running 60 s after a 2 s --duration")
        elapsed = time.monotonic() - t0
        log("  (memtrace finished with status %d after %.2f s)" % (rc, elapsed))
        check_not_killed("memtrace attach with its stderr closed", rc, "", target)
        check_true("memtrace traced to --duration 2: ran %.2f s" % elapsed, elapsed >= 2.0)
        res = subprocess.CompletedProcess(mt.args, rc, "", "")
        t = finish_traced(env, res, json_path, 0, [target.argv], mode="attach")
        check("process end", "detached", t.process["end"])
        check_true("allocations were traced: %d" % t.summary["allocations"],
                   t.summary["allocations"] > 0)
        target.check_untouched()
        check_keeps_running(target)
        target.finish()
    finally:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)
        target.kill()


def case_run_stderr_closed(env):
    """`memtrace run -- PROGRAM 2>&1 | head -1`: stdout and stderr of
    memtrace (and so of the program) are one pipe whose reader goes away
    after the first line.  Then the program does a double free, which
    memtrace reports on its stderr at once: the write fails (EPIPE), memtrace
    is not killed and does not kill the program.  The program runs to its
    end (it writes its marker file), then writes to its stdout and dies of
    its own SIGPIPE, as natively: memtrace exits 128+13 with the full JSON."""
    prog = env.fixture("hostile_signals")
    marker = os.path.join(env.tmp, "hostile_pipe.marker")
    if os.path.exists(marker):
        os.unlink(marker)
    json_path = json_path_for(env, "hostile_signals")
    cmd = [env.memtrace, "run", "--json", json_path, "--", prog, "pipe", marker]
    log("$ " + " ".join(cmd) + " 2>&1 | head -1")
    r, w = os.pipe()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=w, stderr=w, env=child_env())
        os.close(w)
        w = None
        first = b""
        while not first.endswith(b"\n"):
            ready, _, _ = select.select([r], [], [], 30)
            chunk = os.read(r, 1) if ready else b""
            if not chunk:
                raise Failure("no first line from memtrace run (status %r): %r" % (
                    p.poll(), first))
            first += chunk
        log("  first line %r; closing the pipe's read end, then go" % first)
        os.close(r)
        r = None
        try:
            p.stdin.write(b"go\n")
            p.stdin.close()
        except BrokenPipeError:
            pass   # memtrace and the program already gone: checked below
        try:
            rc = p.wait(timeout=run_timeout())
        except subprocess.TimeoutExpired:
            p.kill()
            raise Failure("memtrace run still running after %d s" % run_timeout())
        log("  (memtrace finished with status %d)" % rc)
        ended = open(marker).read() if os.path.exists(marker) else None
        check_not_killed("memtrace run with its stderr closed (program's marker file: %r)"
                         % ended, rc, "")
        check("program's marker file (it ran to its end)", "end\n", ended)
        res = subprocess.CompletedProcess(cmd, rc, "", "")
        t = finish_traced(env, res, json_path, 128 + signal.SIGPIPE, [[prog, "pipe", marker]])
        check("process end", "signaled", t.process["end"])
        check("process signal (its own write to the closed pipe)", "SIGPIPE",
              t.process["signal"])
        check("errors", ["double_free"], [e["kind"] for e in t.errors])
        check("double free's line", env.line("hostile_signals", "double_free"),
              t.errors[0]["stack"][0]["line"])
        check_true("the program's 100 pairs after the double free were traced: %d allocations"
                   % t.summary["allocations"], t.summary["allocations"] >= 101)
    finally:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)


def run_forward(env, sig):
    """SIG sent to memtrace run is passed on to the program (fx_signal_wait,
    which has no handler for it: its default action kills it); memtrace
    reports it and exits 128+SIG."""
    live = Live(env, "signal_wait", ["all"], preexec_fn=no_core)
    live.wait_for("ready")
    log("kill(memtrace %d, %s)" % (live.p.pid, signame(sig)))
    os.kill(live.p.pid, sig)
    check_not_killed("memtrace run", live.wait(run_timeout()), live.stderr())
    t = live.finish(128 + sig)
    check("process end", "signaled", t.process["end"])
    if sig < signal.SIGRTMIN:
        check("process signal", signal.Signals(sig).name, t.process["signal"])
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})


def case_run_sigusr1_forward(env):
    run_forward(env, signal.SIGUSR1)


def case_run_sigusr2_forward(env):
    run_forward(env, signal.SIGUSR2)


def case_run_sigxcpu_forward(env):
    run_forward(env, signal.SIGXCPU)


def case_run_sigxfsz_forward(env):
    run_forward(env, signal.SIGXFSZ)


def case_run_sigvtalrm_forward(env):
    run_forward(env, signal.SIGVTALRM)


def case_run_sigprof_forward(env):
    run_forward(env, signal.SIGPROF)


def case_run_sigalrm_forward(env):
    run_forward(env, signal.SIGALRM)


def case_run_sigrt_forward(env):
    """A real-time signal (SIGRTMIN+3) is passed on too."""
    run_forward(env, signal.SIGRTMIN + 3)


def case_run_sigpipe_ignored(env):
    """SIGPIPE sent to memtrace run: ignored (not passed on); the program
    only sees the SIGTERM that follows and exits 7."""
    live = Live(env, "signal_wait", ["all"])
    live.wait_for("ready")
    log("kill(memtrace %d, SIGPIPE)" % live.p.pid)
    os.kill(live.p.pid, signal.SIGPIPE)
    code = live.wait(0.3)
    check_not_killed("memtrace run", code, live.stderr())
    check("memtrace still running 0.3 s after SIGPIPE", None, code)
    os.kill(live.p.pid, signal.SIGTERM)
    t = live.finish(7)
    check("process end", "exited", t.process["end"])
    check("process exit_code", 7, t.process["exit_code"])


def unusual_signal_state():
    """preexec_fn: memtrace starts as from `nohup`-like wrappers: SIGUSR2
    and SIGPIPE ignored, SIGWINCH blocked, SIGINT and SIGQUIT at default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, {signal.SIGWINCH})


def case_run_target_signal_state(env):
    """Whatever memtrace does with its own signals, the program starts with
    the dispositions and the signal mask memtrace was given, exactly as
    when run without memtrace (a guard for the fix: SIG_IGN and the mask
    are inherited across fork and exec)."""
    def bit(sig):
        return 1 << (sig - 1)
    for preexec, want_ign, want_blk in ((None, 0, 0),
                                        (unusual_signal_state,
                                         bit(signal.SIGUSR2) | bit(signal.SIGPIPE),
                                         bit(signal.SIGWINCH))):
        name = preexec.__name__ if preexec else "as given by the test driver"
        log("-- memtrace started with signals %s" % name)
        p = subprocess.run([env.fixture("hostile_signals"), "state"], stdin=subprocess.DEVNULL,
                           capture_output=True, env=child_env(), preexec_fn=preexec,
                           timeout=run_timeout())
        nat = stdout_ints(p.stdout.decode())
        log("  native: %r" % nat)
        json_path = json_path_for(env, "hostile_state")
        cmd = [env.memtrace, "run", "--json", json_path, "--", env.fixture("hostile_signals"),
               "state"]
        log("$ " + " ".join(cmd))
        q = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=child_env(),
                           preexec_fn=preexec, timeout=run_timeout())
        check_not_killed("memtrace run", q.returncode, q.stderr.decode())
        traced = stdout_ints(q.stdout.decode())
        check("program's ignored and blocked signals under memtrace (bit N-1: signal N), "
              "against native", nat, traced)
        if preexec:
            mine = (bit(signal.SIGUSR2) | bit(signal.SIGPIPE) | bit(signal.SIGINT)
                    | bit(signal.SIGQUIT) | bit(signal.SIGUSR1) | bit(signal.SIGTERM))
            check("ignored signals among INT, QUIT, USR1, USR2, PIPE, TERM (bit N-1: "
                  "signal N)", want_ign, nat["ignored"] & mine)
            check("blocked signals (bit N-1: signal N)", want_blk, nat["blocked"])
        check("memtrace exit status", 0, q.returncode)
