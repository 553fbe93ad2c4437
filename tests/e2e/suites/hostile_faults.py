"""Fault injection: MEMTRACE_INJECT_FAULT=CLASS:N:ERRNO makes memtrace's
Nth ptrace, waitpid, process_vm or /proc call fail (tracer/kernel/fault.h).
Whatever fails, memtrace must end cleanly: the program runs to its own end
(traced, or untraced after a clean detach), the report is written and valid
(partial, with tracing_error, when tracing stopped early), memtrace exits 0
or 2 and is never killed, the program is never killed or left frozen.

A run before the program's exec (the call failed while memtrace was still
seizing it) may instead end with a one-line error and exit status 2: the
program never ran."""
import json
import os
import re
import signal
import subprocess
import time

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env, memtrace

FIXTURE = "family"   # native: exit 0, allocations of the whole family, no bad free


def baseline_calls(env, kind):
    """How many calls of each class a clean traced run of the fixture makes
    (the points at which a failure is injected are spread over them)."""
    out = os.path.join(env.tmp, "baseline.json")
    p = memtrace(env, ["run", "--stats", "--json", out, "--", env.fixture(FIXTURE)],
                 "memtrace (baseline)")
    check("baseline status", 0, p.returncode)
    m = re.search(r"\b%s=(\d+)" % kind, p.stderr)
    check_true("--stats names %s" % kind, m, p.stderr[-2000:])
    return int(m.group(1))


def points(total, count):
    """count points spread over 1..total, the early ones dense (start-up is
    where most distinct code runs)."""
    early = list(range(1, min(total, 30) + 1))
    step = max(1, total // max(1, count - len(early)))
    late = list(range(31, total + 1, step))
    pts = sorted(set(early + late))
    if len(pts) > count:
        pts = pts[:30] + pts[30::max(1, (len(pts) - 30) // (count - 30))]
    return pts


def one_run(env, rule):
    out = os.path.join(env.tmp, "fault.json")
    if os.path.exists(out):
        os.unlink(out)
    cmd = [env.memtrace, "run", "--json", out, "--", env.fixture(FIXTURE)]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                           env=child_env({"MEMTRACE_INJECT_FAULT": rule}))
    except subprocess.TimeoutExpired:
        raise Failure("%s: memtrace still running after 30 s (hang)" % rule)
    stderr = p.stderr.decode("utf-8", "replace")
    what = "%s: " % rule
    if p.returncode < 0:
        raise Failure(what + "memtrace killed by %s:\n%s" % (signal.Signals(-p.returncode).name,
                                                              stderr[-3000:]))
    if "AddressSanitizer" in stderr or "runtime error:" in stderr:
        raise Failure(what + "sanitizer report:\n" + stderr[-3000:])
    injected = "injected fault: " in stderr
    if not os.path.exists(out):
        # Only a failure before the program ran may lose the report: one
        # line saying so, exit status 2.
        check(what + "status without a report", 2, p.returncode)
        lines = [l for l in stderr.splitlines() if l.startswith("memtrace: ") and
                 "injected fault" not in l]
        check(what + "error lines", 1, len(lines))
        check_true(what + "the program never ran (no report header)", "==" not in stderr,
                   stderr[-2000:])
        return "refused"
    with open(out) as fh:
        doc = json.load(fh)
    procs = doc["processes"]
    check_true(what + "a process record", procs, repr(doc)[:500])
    main = procs[0]
    if p.returncode == 0:
        check(what + "end", "exited", main["end"])
        check(what + "exit_code", 0, main["exit_code"])
        check(what + "tracing_error", None, main["tracing_error"])
        return "traced" if injected else "not reached"
    check(what + "status", 2, p.returncode)
    partial = [q for q in procs if q["tracing_error"]]
    check_true(what + "a partial record says why", partial, repr(procs)[:800])
    for q in partial:
        check(what + "partial record end", "detached", q["end"])
    m = re.search(r"the program, untraced, (exited with status (\d+)|was terminated by signal (\d+))",
                  stderr)
    check_true(what + "memtrace says how the untraced program ended", m, stderr[-2000:])
    check(what + "the untraced program's end", "exited with status 0", m.group(1))
    return "detached"


def tally(outcomes, outcome):
    outcomes[outcome] = outcomes.get(outcome, 0) + 1


def check_reached_errors(outcomes):
    log("outcomes: %r" % outcomes)
    check_true("some injected failure stopped tracing (the sweep reached the error paths)",
               outcomes.get("detached", 0) + outcomes.get("refused", 0) > 0, repr(outcomes))


def sweep_ptrace(env, errnos, count):
    """count points spread over the ptrace requests of a clean run."""
    total = baseline_calls(env, "ptrace_calls")
    outcomes = {}
    for err in errnos:
        for n in points(total, count):
            tally(outcomes, one_run(env, "ptrace:%d:%s" % (n, err)))
    check_reached_errors(outcomes)


def sweep_until_unreached(env, cls, errnos):
    """Every call of the class up to the 30th, then every eighth of the
    way, until the Nth call never comes (the run made fewer)."""
    outcomes = {}
    for err in errnos:
        n = 1
        while True:
            outcome = one_run(env, "%s:%d:%s" % (cls, n, err))
            tally(outcomes, outcome)
            if outcome == "not reached":
                break
            n += 1 if n < 30 else max(1, n // 8)
            if n > 5000:
                raise Failure("%s: still reached at call %d: the sweep has no end" % (cls, n))
    check_true("%s: at least one call was failed" % cls,
               sum(v for k, v in outcomes.items() if k != "not reached") > 0, repr(outcomes))
    log("%s outcomes: %r" % (cls, outcomes))
    return outcomes


@ctest(timeout=600, labels="faults")
def case_faults_ptrace(env):
    """Every point of a traced run where a ptrace request can fail, with
    EIO and EPERM."""
    sweep_ptrace(env, ["EIO", "EPERM"], 70)


@ctest(timeout=300, labels="faults")
def case_faults_vm_proc_wait(env):
    """process_vm_readv/writev failing (EIO, EPERM: then /proc/PID/mem is
    used), /proc files failing to open (EMFILE, EACCES), waitpid
    interrupted (EINTR: with tracees alive, waitpid has no other failure)."""
    outcomes = {}
    for cls, errnos in (("vm", ["EIO", "EPERM"]), ("proc", ["EMFILE", "EACCES"]),
                        ("wait", ["EINTR"])):
        for k, v in sweep_until_unreached(env, cls, errnos).items():
            outcomes[k] = outcomes.get(k, 0) + v
    check_reached_errors(outcomes)


@ctest(timeout=300, labels="faults")
def case_faults_attach(env):
    """attach to a busy multi-threaded process (fx_attach_target churn:
    its own checks fail if anything it can observe changes) with a ptrace
    failure injected at points spread over the attach, the tracing and the
    detach: memtrace exits 0 or 2, never killed, and the process runs on
    exactly as before (its checks pass when it ends)."""
    for n in [1, 3, 6, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240]:
        rule = "ptrace:%d:EIO" % n
        proc = subprocess.Popen([env.fixture("attach_target"), "churn"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env())
        try:
            first = proc.stdout.readline().decode()
            check_true("%s: target ready" % rule, first.startswith("ready"), first)
            try:
                p = subprocess.run([env.memtrace, "attach", "--duration", "1", str(proc.pid)],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=40,
                                   env=child_env({"MEMTRACE_INJECT_FAULT": rule}))
            except subprocess.TimeoutExpired:
                raise Failure("%s: memtrace attach still running after 40 s (hang)" % rule)
            stderr = p.stderr.decode("utf-8", "replace")
            if p.returncode < 0:
                raise Failure("%s: memtrace killed by %s:\n%s" % (
                    rule, signal.Signals(-p.returncode).name, stderr[-3000:]))
            check_true("%s: status 0 or 2 (got %d)" % (rule, p.returncode), p.returncode in (0, 2),
                       stderr[-2000:])
            check_true("%s: the process is alive after memtrace" % rule, proc.poll() is None,
                       stderr[-2000:])
            with open("/proc/%d/status" % proc.pid) as fh:
                tracer = [l.split()[1] for l in fh if l.startswith("TracerPid:")]
            check("%s: TracerPid after memtrace" % rule, ["0"], tracer)
            time.sleep(0.3)   # it runs on untraced
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
            out = first + out.decode("utf-8", "replace")
            check("%s: the process's own exit status" % rule, 0, proc.returncode)
            check_true("%s: its checks passed" % rule, "ok=" in out and "FAIL" not in out, out[-1000:])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
