"""Large process trees: hundreds of execs and forks, hundreds of processes
alive at once, a parallel build. memtrace's descriptors and memory follow
the processes alive, not every process it ever traced: it must finish
under a low descriptor limit, write the whole report, and stay small."""
import os
import resource
import shutil
import subprocess
import time

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.expect import check_exited, check_kinds, check_summary, marked_leaks
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import (check_memtrace_ended, child_env, finish_traced, json_path_for,
                              load_traced, run_timeout)
from memtrace_e2e.shape import check_kinds_shape, pair, records_shown

# The descriptor limit the runs get (soft and hard): memtrace used to keep
# 2-3 descriptors per process it ever traced.
LOW_NOFILE = 128

# Peak RSS allowed to memtrace for a run of 400 processes. Before processes
# gave their resources back when they ended: 250 MB for 400 execs, 288 MB
# for 400 forks one by one.
RSS_BOUND_KB = 100 * 1024


def sanitized(env):
    """Whether memtrace is an ASan build (its memory is then ASan's)."""
    with open(env.memtrace, "rb") as fh:
        return b"__asan_init" in fh.read()


class Finished:
    def __init__(self, returncode, stdout, stderr, maxrss_kb, seconds):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.maxrss_kb = maxrss_kb
        self.seconds = seconds


def run_measured(env, args, name, nofile=None, cwd=None):
    """memtrace ARGS with RLIMIT_NOFILE set to NOFILE (soft and hard) in
    the child; returns a Finished with memtrace's own peak RSS (wait4's
    rusage: memtrace and what it waited for, the traced processes)."""
    out_path = os.path.join(env.tmp, name + ".out")
    err_path = os.path.join(env.tmp, name + ".err")

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    cmd = [env.memtrace] + list(args)
    log("$ %s%s" % ("(ulimit -n %d) " % nofile if nofile else "", " ".join(cmd)))
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=child_env(), preexec_fn=limit, cwd=cwd)
    deadline = start + run_timeout()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise Failure("%s: still running after %d s" % (name, run_timeout()))
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    with open(out_path, errors="replace") as fh:
        stdout = fh.read()
    with open(err_path, errors="replace") as fh:
        stderr = fh.read()
    log("  (memtrace finished with status %d in %.1f s, peak RSS %d KB)" % (
        proc.returncode, seconds, usage.ru_maxrss))
    check_memtrace_ended(proc.returncode, stderr)
    return Finished(proc.returncode, stdout, stderr, usage.ru_maxrss, seconds)


def check_no_descriptor_trouble(stderr):
    """No line of memtrace's about descriptors, and no warning at all."""
    lines = stderr.splitlines()
    check("memtrace lines about open files", [],
          [l for l in lines if "open files" in l.lower()][:5])
    check("memtrace warnings", [], [l for l in lines if l.startswith("memtrace:")][:5])


def check_rss(env, f, what):
    if sanitized(env):
        log("(ASan build: its memory is ASan's; peak RSS %d KB not checked)" % f.maxrss_kb)
        return
    check_true("memtrace's peak RSS for %s under %d KB" % (what, RSS_BOUND_KB),
               f.maxrss_kb < RSS_BOUND_KB, "%d KB" % f.maxrss_kb)


SHELL_LOOP = "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done; exit 3"


@ctest(timeout=120)
def case_proctree_400_execs(env):
    """A shell runs /bin/true 400 times under a limit of 128 descriptors:
    memtrace exits with the shell's status, and the report has every image
    with its end (the shell's children end by exec, /bin/true exits 0).
    memtrace used to keep each image's descriptors until it exited: it ran
    out of them around the 40th exec, killed the script and wrote no
    report."""
    json_path = json_path_for(env, "execs")
    cmd = ["/bin/sh", "-c", SHELL_LOOP]
    f = run_measured(env, ["run", "--json", json_path, "--"] + cmd, "execs", nofile=LOW_NOFILE)
    child_cmds = []
    for _ in range(400):
        child_cmds += [cmd, ["/bin/true"]]
    t = finish_traced(env, f, json_path, 3, [cmd] + child_cmds)
    check_no_descriptor_trouble(f.stderr)
    check_exited(t.procs[0], 3)
    check("ends of the shell's children", [("exec", None)] * 400,
          [(p["end"], p["exit_code"]) for p in t.procs[1::2]])
    check("ends of /bin/true", [("exited", 0)] * 400,
          [(p["end"], p["exit_code"]) for p in t.procs[2::2]])
    check("pids: each child execs /bin/true in place",
          [p["pid"] for p in t.procs[1::2]], [p["pid"] for p in t.procs[2::2]])
    check("distinct child pids", 400, len({p["pid"] for p in t.procs[1::2]}))
    check_rss(env, f, "400 execs")


def check_forks_report(env, t, n, mode):
    """fx_hostile_forks N MODE: the parent leaks nothing; child i exits
    i % 100 and leaks exactly 100 bytes at child_leak (its inherited array
    of pids is still reachable from main's frame)."""
    prog = env.fixture("hostile_forks")
    pids = [int(l.split("=")[1]) for l in t.stdout.splitlines() if l.startswith("child=")]
    check("children the fixture reported", n, len(pids))
    parent, children = t.procs[0], t.procs[1:]
    check_exited(parent, 0)
    check_summary(parent, allocations=1, frees=1, bytes_allocated=4 * n, unfreed=(0, 0),
                  errors=0)
    check_kinds(parent)
    check("child records, in fork order", pids, [c["pid"] for c in children])
    for i, child in enumerate(children):
        log("-- child %d (pid %d)" % (i, child["pid"]))
        check_exited(child, i % 100)
        check_summary(child, allocations=2, frees=1, bytes_allocated=164,
                      unfreed=(100 + 4 * n, 2), errors=0)
        check_kinds(child, definite=(100, 1), reachable=(4 * n, 1))
        marked_leaks(env, child, "hostile_forks", {
            "child_leak": (100, 1, "malloc", "child", "definitely_lost"),
            "pids": (4 * n, 1, "malloc", "main", "still_reachable"),
        })
    check("commands", [[prog, str(n), mode]] * (n + 1), [p["command"] for p in t.procs])


def run_forks(env, n, mode, nofile):
    prog = env.fixture("hostile_forks")
    json_path = json_path_for(env, "forks_" + mode)
    f = run_measured(env, ["run", "--json", json_path, "--", prog, str(n), mode],
                     "forks_" + mode, nofile=nofile)
    t = finish_traced(env, f, json_path, 0, [[prog, str(n), mode]] * (n + 1))
    t.stdout = f.stdout
    check_no_descriptor_trouble(f.stderr)
    check_forks_report(env, t, n, mode)
    return f


@ctest(timeout=120)
def case_proctree_400_forks_alive_together(env):
    """400 children traced at the same time under a limit of 128
    descriptors: every child's leak is in the report, classified (memtrace
    used to run out of descriptors: leak scans failed, blocks were reported
    unclassified, and warnings said so)."""
    run_forks(env, 400, "together", LOW_NOFILE)


@ctest(timeout=120)
def case_proctree_400_forks_one_by_one(env):
    """400 children one after the other: exactly their leaks are reported,
    and memtrace's memory does not grow with them (it used to keep every
    ended child's tables, unwinder and ELF files: 288 MB peak RSS)."""
    f = run_forks(env, 400, "one-by-one", LOW_NOFILE)
    check_rss(env, f, "400 forks one by one")


MAKEFILE = """\
SRCS := $(wildcard *.c)
OBJS := $(SRCS:.c=.o)
prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)
%.o: %.c
\t$(CC) -O0 -c -o $@ $<
"""

MODULES = 12


def write_project(root):
    """A C project of MODULES + 1 files: main.c prints the sum of f1(1)..fN(1)."""
    os.makedirs(root)
    for i in range(1, MODULES + 1):
        with open(os.path.join(root, "m%d.c" % i), "w") as fh:
            fh.write("int f%d(int x);\nint f%d(int x) { return x * %d + 1; }\n" % (i, i, i))
    with open(os.path.join(root, "main.c"), "w") as fh:
        fh.write("#include <stdio.h>\n")
        fh.write("".join("int f%d(int x);\n" % i for i in range(1, MODULES + 1)))
        fh.write("int main(void)\n{\n    int s = 0;\n")
        fh.write("".join("    s += f%d(1);\n" % i for i in range(1, MODULES + 1)))
        fh.write("    printf(\"sum=%d\\n\", s);\n    return 0;\n}\n")
    with open(os.path.join(root, "Makefile"), "w") as fh:
        fh.write(MAKEFILE)
    return sum(i + 1 for i in range(1, MODULES + 1))


@ctest(timeout=150)
def case_proctree_make_j2(env):
    """memtrace run make -j2 of a small C project, under a limit of 128
    descriptors: the build succeeds, and the report names every process of
    it (make, the compiler driver, cc1, as, collect2, ld), each ended."""
    for tool in ("make", "gcc"):
        check_true("%s is installed (this case builds with it)" % tool, shutil.which(tool))
    root = os.path.join(env.tmp, "project")
    want_sum = write_project(root)
    json_path = json_path_for(env, "make")
    make = shutil.which("make")
    f = run_measured(env, ["run", "--json", json_path, "--", make, "-j2", "CC=gcc"],
                     "make", nofile=LOW_NOFILE, cwd=root)
    check("memtrace exit status (make's)", 0, f.returncode)
    prog = os.path.join(root, "prog")
    check_true("the build made prog", os.path.exists(prog), root)
    check_true("the build made every object", all(
        os.path.exists(os.path.join(root, "m%d.o" % i)) for i in range(1, MODULES + 1)), root)
    out = subprocess.run([prog], capture_output=True, timeout=10).stdout.decode()
    check("prog's output", "sum=%d\n" % want_sum, out)
    check_no_descriptor_trouble(f.stderr)
    t = load_traced(env, f, json_path)
    check("JSON mode", "run", t.doc.get("mode"))
    # Not check_process_shape: its order check ignores the indirect bytes
    # the records are sorted by, and the linker's records carry some.
    for proc in t.procs:
        check_true("pid %r: a positive integer" % proc["pid"],
                   isinstance(proc["pid"], int) and proc["pid"] > 0)
        check_true("pid %d: a command" % proc["pid"],
                   isinstance(proc["command"], list) and proc["command"], repr(proc["command"]))
        if records_shown(proc):   # an image ended by exec: a summary only
            check("pid %d: summary.unfreed == the sum of its records" % proc["pid"],
                  pair(proc["summary"]["unfreed"]),
                  (sum(r["bytes"] for r in proc["leaks"]),
                   sum(r["blocks"] for r in proc["leaks"])))
        check_kinds_shape(proc)
    check("the first process", [make, "-j2", "CC=gcc"], t.procs[0]["command"])
    check_exited(t.procs[0], 0)
    names = {os.path.basename(p["command"][0]) for p in t.procs}
    check("programs of the build missing from the report", [],
          sorted({"make", "gcc", "cc1", "as", "collect2", "ld"} - names))
    check("processes that did not end by exit 0 or exec", [],
          [(p["pid"], p["command"][:1], p["end"], p["exit_code"]) for p in t.procs
           if (p["end"], p["exit_code"]) not in (("exited", 0), ("exec", None))])
    compiles = [p for p in t.procs if os.path.basename(p["command"][0]) == "cc1"]
    check("cc1 runs", MODULES + 1, len(compiles))
