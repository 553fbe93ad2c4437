"""Hostile command lines and start-up conditions: attaching where it would
take the system down or deadlock, options given to the wrong command,
memtrace installed set-user-ID, set-ID programs. Each refusal is one line
`memtrace: ...` and exit status 2, before anything is touched; each
warning is one line and the run goes on."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from memtrace_e2e.checks import Failure, check, check_text_has, check_true, log
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import check_memtrace_ended, run
from suites.hostile import as_unprivileged_user

# The throwaway user of the unprivileged cases (suites/hostile.py).
TEST_USER = "memtrace-test"


def check_refused(p, *texts):
    """P exited 2 with one stderr line `memtrace: ...` holding every TEXT."""
    lines = p.stderr.strip().split("\n")
    check("memtrace exit status", 2, p.returncode)
    check("lines on stderr", 1, len(lines))
    check_true("the line starts with 'memtrace: ': %r" % lines[0],
               lines[0].startswith("memtrace: "))
    for text in texts:
        check_text_has("the error", lines[0], text)
    return lines[0]


class PidNamespace:
    """A new PID namespace (root only) whose PID 1 is a sleep: what memtrace
    sees as PID 1 there is a throwaway process, whatever memtrace does."""

    def __init__(self):
        self.unshare = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc",
                                         "sleep", "60"], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        self.init_pid = None
        while self.init_pid is None:
            if time.time() > deadline or self.unshare.poll() is not None:
                self.close()
                raise Failure("unshare started no PID 1")
            kids = ""
            for task in os.listdir("/proc/%d/task" % self.unshare.pid):
                with open("/proc/%d/task/%s/children" % (self.unshare.pid, task)) as fh:
                    kids += fh.read()
            if kids.split() and self._is_sleep(int(kids.split()[0])):
                self.init_pid = int(kids.split()[0])
            else:
                time.sleep(0.02)

    @staticmethod
    def _is_sleep(pid):
        """Whether the child has become the sleep: where the namespace
        cannot be set up (a chroot, --mount-proc), unshare's child exits
        before its exec, and nsenter must not be pointed at it."""
        try:
            with open("/proc/%d/comm" % pid) as fh:
                return fh.read().strip() == "sleep"
        except OSError:
            return False

    def command(self, argv):
        """ARGV run inside the namespace (its /proc is the namespace's)."""
        return ["nsenter", "--target", str(self.init_pid), "--pid", "--mount", "--"] + argv

    def close(self):
        if self.init_pid:
            try:
                os.kill(self.init_pid, signal.SIGKILL)   # and with it the namespace
            except ProcessLookupError:
                pass
        if self.unshare.poll() is None:
            self.unshare.kill()
            self.unshare.wait()


@ctest(timeout=60)
def case_attach_pid1_refused(env):
    """`memtrace attach 1` is refused with one line that says why (if init
    stops or dies, the system goes down) and how to insist (--force); it
    used to attach without a word. As root the case runs in a PID namespace
    of its own, whose PID 1 is a throwaway sleep; where no PID namespace can
    be made (a chroot: --mount-proc needs a mount point at /), as a user
    without the right to trace the real PID 1, so nothing can be stopped
    even if the refusal were gone."""
    argv = [env.memtrace, "attach", "--duration", "1", "1"]
    ns = None
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("nsenter"):
        try:
            ns = PidNamespace()
            argv = ns.command(argv)
        except Failure as e:
            log("no PID namespace here (%s): running as an unprivileged user" % e)
            ns = None
            argv = None
    try:
        if argv is None:
            p, work = as_unprivileged_user(env, ["attach", "--duration", "1", "1"], [])
            shutil.rmtree(work, ignore_errors=True)
            p.stdout = p.stdout.decode("utf-8", "replace")
            p.stderr = p.stderr.decode("utf-8", "replace")
        else:
            p = run(argv, "memtrace attach 1")
        check_refused(p, "pid 1 is the init process", "system", "goes down", "--force")
        if ns:
            check("the namespace's PID 1 still running", None, ns.unshare.poll())
    finally:
        if ns:
            ns.close()


@ctest(timeout=60)
def case_attach_self_or_ancestor_refused(env):
    """memtrace's own pid (a shell that execs memtrace attach $$) and an
    ancestor above its parent (a shell whose child shell runs memtrace) are
    refused with one line each (attaching to an ancestor could deadlock:
    it used to proceed)."""
    mt = shlex.quote(env.memtrace)
    p = run(["sh", "-c", "exec %s attach --duration 1 $$" % mt], "memtrace attach $$")
    check_refused(p, "is memtrace itself")
    p = run(["sh", "-c", "sh -c \"%s attach --duration 1 $$; exit \\$?\"" % mt],
            "memtrace attach <grandparent>")
    check_refused(p, "is an ancestor of memtrace", "deadlock")


def set_id_workdir(env, files):
    """A temporary directory anyone can use, holding copies of FILES
    ({source path: mode}), owned by the user running the tests."""
    work = tempfile.mkdtemp(prefix="memtrace-setid-")
    os.chmod(work, 0o777)
    for src, mode in files.items():
        dst = os.path.join(work, os.path.basename(src))
        shutil.copy2(src, dst)
        os.chmod(dst, mode)
    return work


def as_test_user(cmd):
    """CMD as the throwaway user of the unprivileged suites when the tests
    run as root (created if missing), else as the current user."""
    if os.geteuid() != 0:
        return cmd
    if subprocess.run(["id", TEST_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", TEST_USER], check=True)
    return ["runuser", "-u", TEST_USER, "--"] + cmd


@ctest(timeout=60)
def case_setuid_program_warned(env):
    """A set-user-ID program traced by an unprivileged memtrace runs
    without its privileges (the kernel ignores the bit under ptrace):
    memtrace says so once, naming the file, and the run goes on to its
    normal report (it used to say nothing). As root the program is a
    root-owned set-user-ID copy of fx_seed run by the throwaway user; as
    another user the copy is that user's own, which gives no privilege,
    and no warning is due."""
    work = set_id_workdir(env, {env.memtrace: 0o755, env.fixture("seed"): 0o4755})
    try:
        prog = os.path.join(work, "fx_seed")
        json_path = os.path.join(work, "out.json")
        p = run(as_test_user([os.path.join(work, "memtrace"), "run", "--json", json_path, "--",
                              prog]), "memtrace run set-user-ID fx_seed")
        check_memtrace_ended(p.returncode, p.stderr)
        check("memtrace exit status (fx_seed's)", 0, p.returncode)
        warnings = [l for l in p.stderr.splitlines() if l.startswith("memtrace:")]
        with open(json_path) as fh:
            doc = json.load(fh)
        pid = doc["processes"][0]["pid"]
        want = (["memtrace: warning: pid %d: %s is set-user-ID; traced, it runs without its "
                 "privileges" % (pid, prog)] if os.geteuid() == 0 else [])
        check("memtrace's warnings", want, warnings)
        check("fx_seed's end", ("exited", 0),
              (doc["processes"][0]["end"], doc["processes"][0]["exit_code"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


@ctest(timeout=60)
def case_setuid_memtrace_refused(env):
    """memtrace installed set-user-ID root and run by another user refuses
    to start, in one line (it used to run with root's power over every
    process). As a non-root user the copy is set-group-ID to a group the
    user is not running as, when there is one."""
    if os.geteuid() == 0:
        work = set_id_workdir(env, {env.memtrace: 0o4755, env.fixture("seed"): 0o755})
        what = "set-user-ID"
    else:
        groups = [g for g in os.getgroups() if g != os.getegid()]
        if not groups:
            log("no second group to make a set-group-ID copy with: nothing to check here")
            return
        work = set_id_workdir(env, {env.memtrace: 0o755, env.fixture("seed"): 0o755})
        os.chown(os.path.join(work, "memtrace"), -1, groups[0])
        os.chmod(os.path.join(work, "memtrace"), 0o2755)
        what = "set-group-ID"
    try:
        p = run(as_test_user([os.path.join(work, "memtrace"), "run", "--",
                              os.path.join(work, "fx_seed")]), "set-ID memtrace run fx_seed")
        check_refused(p, "refusing to run %s" % what, "chmod")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Option misuse: each error names the option and what is wrong with it
# ("run --duration 5" used to say "5 is an option of 'memtrace attach'";
# "--stats=3" was an unknown option; "--json=" failed after the start as
# "cannot write : ...").
MISUSED_OPTIONS = [
    (["run", "--duration", "5", "fx_seed"],
     "--duration is an option of 'memtrace attach', not of 'memtrace run'"),
    (["run", "--duration=5", "fx_seed"],
     "--duration is an option of 'memtrace attach', not of 'memtrace run'"),
    (["run", "--interval", "1", "fx_seed"],
     "--interval is an option of 'memtrace attach', not of 'memtrace run'"),
    (["run", "--top", "3", "fx_seed"],
     "--top is an option of 'memtrace attach', not of 'memtrace run'"),
    (["run", "--force", "fx_seed"],
     "--force is an option of 'memtrace attach', not of 'memtrace run'"),
    (["run", "--stats=3", "fx_seed"], "option '--stats' takes no argument"),
    (["attach", "--no-pin=1", "1"], "option '--no-pin' takes no argument"),
    (["run", "--de", "3", "fx_seed"], "option '--de' is ambiguous: --depth, --debug-dir"),
    (["run", "--json=", "fx_seed"], "--json needs a file name ('-' for stdout), not ''"),
    (["run", "-o", "", "fx_seed"], "-o/--log-file needs a file name, not ''"),
    (["run", "--depth"], "option '--depth' needs an argument"),
    (["run", "--depth", "0", "fx_seed"], "--depth needs a number from 1 to 256, not '0'"),
    (["attach", "--duration", "soon", "1"],
     "--duration needs a number of seconds, e.g. 2 or 0.5, not 'soon'"),
]


def case_option_misuse_named(env):
    """Every misused option is refused before anything starts, in one line
    that names the option (never only its value) and says what is wrong."""
    for args, want in MISUSED_OPTIONS:
        p = run([env.memtrace] + args, "memtrace " + " ".join(args))
        check("memtrace %s: exit status" % " ".join(args), 2, p.returncode)
        check("memtrace %s: stderr" % " ".join(args), "memtrace: %s\n" % want, p.stderr)
