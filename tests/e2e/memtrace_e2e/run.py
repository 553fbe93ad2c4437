"""Running memtrace and the fixtures; Traced: one finished memtrace run."""
import json
import os
import shlex
import signal
import subprocess

from .checks import Failure, Skip, check, leak_str, log, stack_str
from .shape import check_shape

# Seconds a single command may run: 100 under ctest's default TIMEOUT of 120;
# for a case with timeout=S the driver sets S - 30.
RUN_TIMEOUT = 100


def set_run_timeout(seconds):
    global RUN_TIMEOUT
    RUN_TIMEOUT = seconds


def run_timeout():
    return RUN_TIMEOUT


def child_env(extra=None):
    """The environment of every command: this one, without the variables
    that would make a run depend on the machine (libdw would ask the
    network for every module without local debuginfo; the user's own
    debug directories), plus EXTRA."""
    env = dict(os.environ)
    env.pop("DEBUGINFOD_URLS", None)
    env.pop("MEMTRACE_DEBUG_DIRS", None)
    env.update(extra or {})
    return env


def run(cmd, what, extra_env=None):
    """Runs CMD (stdin /dev/null) to completion; output decoded."""
    log("$ %s%s" % ("".join("%s=%s " % kv for kv in (extra_env or {}).items()),
                    " ".join(shlex.quote(c) for c in cmd)))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env(extra_env))
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure("%s: still running after %d s\n%s" % (what, RUN_TIMEOUT, hung(proc)))
    p = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    log("  (%s finished with status %d)" % (what, p.returncode))
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


def hung(proc):
    """What can be learnt of a command that did not finish: whether it
    exited (and something else holds its output open), where in the kernel
    it waits, and the stderr it wrote; then it is killed."""
    lines = []
    if proc.poll() is not None:
        lines.append("it exited with status %d; another process holds its output open"
                     % proc.returncode)
    else:
        for name in ("wchan", "syscall"):
            try:
                with open("/proc/%d/%s" % (proc.pid, name)) as fh:
                    lines.append("its %s: %s" % (name, fh.read().strip()))
            except OSError as e:
                lines.append("its %s: %s" % (name, e))
        proc.send_signal(signal.SIGTERM)   # asks memtrace to stop: its warnings say where it waited
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    lines.append("its stderr (last 6000 chars):\n" + err.decode("utf-8", "replace")[-6000:])
    return "\n".join(lines)


def exit_status(returncode):
    """A shell-style status: 128+N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def check_memtrace_ended(returncode, stderr):
    """memtrace itself killed by a signal is a failure; ptrace forbidden
    skips the case."""
    if returncode < 0:
        raise Failure("memtrace itself was killed by %s\nstderr (last 4000 chars):\n%s" % (
            signal.Signals(-returncode).name, stderr[-4000:]))
    if returncode == 2 and "ptrace not permitted" in stderr:
        raise Skip("the kernel does not permit ptrace here. memtrace said: " + stderr.strip())


def memtrace(env, args, what="memtrace", extra_env=None):
    """Runs memtrace with ARGS; skips the case if ptrace is forbidden.
    memtrace reports a target's death by signal N as exit status 128+N;
    memtrace itself being killed by a signal is always a failure."""
    p = run([env.memtrace] + list(args), what, extra_env)
    check_memtrace_ended(p.returncode, p.stderr)
    return p


def native(env, fixture, prog_args=()):
    """fx_FIXTURE PROG_ARGS run without memtrace."""
    return run([env.fixture(fixture)] + list(prog_args), "native " + fixture)


class Traced:
    """One memtrace run: exit status, output, parsed JSON."""

    def __init__(self, proc, doc):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.doc = doc

    @property
    def process(self):
        return self.doc["processes"][0]

    @property
    def procs(self):
        return self.doc["processes"]

    @property
    def summary(self):
        return self.process["summary"]

    @property
    def leaks(self):
        return self.process["leaks"]

    @property
    def errors(self):
        return self.process["errors"]

    def leak(self, nbytes):
        """The one leak record of NBYTES bytes."""
        found = [r for r in self.leaks if r["bytes"] == nbytes]
        if len(found) != 1:
            raise Failure("expected one leak record of %d bytes, got %d" % (nbytes, len(found)))
        return found[0]

    def warnings(self):
        return [l for l in self.stderr.splitlines() if l.startswith("memtrace: warning:")]

    def dump(self):
        out = ["--- memtrace exit status: %r" % self.status,
               "--- memtrace stderr (last 6000 chars):", self.stderr[-6000:]]
        if self.doc is not None:
            try:
                for n, proc in enumerate(self.procs):
                    out += ["--- JSON process %d: pid=%r command=%r" % (
                                n, proc.get("pid"), proc.get("command")),
                            "    end=%r exit_code=%r signal=%r" % (
                                proc.get("end"), proc.get("exit_code"), proc.get("signal")),
                            "--- JSON summary: " + json.dumps(proc.get("summary"))]
                    recs = proc.get("leaks") or []
                    out += ["--- JSON leak record %d: %s" % (i, leak_str(r))
                            for i, r in enumerate(recs[:40])]
                    if len(recs) > 40:
                        out.append("--- (%d more leak records)" % (len(recs) - 40))
                    for i, e in enumerate((proc.get("errors") or [])[:20]):
                        out.append("--- JSON error %d: %s at %s\n%s" % (
                            i, e.get("kind"), e.get("address"), stack_str(e.get("stack"))))
                        for k in ("free_stack", "alloc_stack"):
                            out.append("    %s:\n%s" % (k, stack_str(e.get(k))))
                if self.doc.get("stats") is not None:
                    out.append("--- JSON stats: " + json.dumps(self.doc["stats"]))
            except (KeyError, IndexError, TypeError, AttributeError):
                out += ["--- JSON:", json.dumps(self.doc, indent=1)[:12000]]
        return "\n".join(out)


def json_path_for(env, name):
    """A fresh path for a JSON report in the case's temporary directory."""
    json_path = os.path.join(env.tmp, "%s.json" % name)
    if os.path.exists(json_path):
        os.unlink(json_path)
    return json_path


def load_traced(env, p, json_path):
    """A Traced of the finished memtrace run P, with the JSON it wrote to
    JSON_PATH (the run is dumped if a check fails from now on)."""
    env.last = t = Traced(p, None)
    if not os.path.exists(json_path):
        raise Failure("memtrace wrote no JSON file %s" % json_path)
    with open(json_path) as fh:
        try:
            t.doc = json.load(fh)
        except ValueError as e:
            raise Failure("JSON file %s does not parse: %s" % (json_path, e))
    return t


def finish_traced(env, p, json_path, status, commands, mode="run"):
    """Loads the JSON of the finished memtrace run P, checks its exit status
    and the JSON's shape."""
    t = load_traced(env, p, json_path)
    check("memtrace exit status", status, t.status)
    check_shape(t.doc, commands, mode)
    return t


def trace(env, fixture, prog_args=(), opts=(), status=0, commands=None):
    """memtrace run --json FILE OPTS -- fx_FIXTURE PROG_ARGS; checks the
    exit status and the JSON's shape, returns a Traced.  COMMANDS: the
    argv of every JSON process record, in order (default: one record, the
    fixture's)."""
    prog = env.fixture(fixture)
    json_path = json_path_for(env, fixture)
    p = memtrace(env, ["run", "--json", json_path] + list(opts) + ["--", prog]
                 + list(prog_args))
    return finish_traced(env, p, json_path, status,
                         commands or [[prog] + list(prog_args)])
