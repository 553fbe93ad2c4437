"""memtrace explains itself: --version names the libraries it was built
with, --help is short and grouped by task, `memtrace help run|attach` (and
`run --help`) list every option of the command line."""
import os
import re
import subprocess

from memtrace_e2e.checks import check, check_true
from memtrace_e2e.run import memtrace


def long_options(env):
    """The long options of tracer/cli/cli.c's getopt table."""
    with open(os.path.join(os.path.dirname(env.source_dir), "tracer", "cli", "cli.c")) as fh:
        text = fh.read()
    table = text[text.index("longopts[] = {"):]
    table = table[:table.index("};")]
    return re.findall(r'^\s*\{ "([a-z-]+)", (?:no|required)_argument', table, re.M)


def case_version_names_libraries(env):
    """memtrace --version: its version and libdw's, libunwind's and
    capstone's; libdw's is elfutils' as eu-readelf says it."""
    p = memtrace(env, ["--version"])
    check("exit status", 0, p.returncode)
    m = re.fullmatch(r"memtrace (\d+\.\d+\.\d+) \(libdw (0\.\d+), libunwind (\d+\.\d+\.\d+), "
                     r"capstone (\d+\.\d+\.\d+)\)\n", p.stdout)
    check_true("one line: memtrace V (libdw V, libunwind V, capstone V): %r" % p.stdout,
               m is not None)
    eu = subprocess.run(["eu-readelf", "--version"], capture_output=True, text=True).stdout
    check("libdw's version, as elfutils' own tools say", re.search(r"\) (0\.\d+)", eu).group(1),
          m.group(2))


def case_help_short_and_full(env):
    """--help fits a screen and points to the full help; `help run` and
    `run --help` list every long option of the getopt table (attach's
    options in `help attach`); a topic that does not exist is exit 2."""
    p = memtrace(env, ["--help"])
    check("exit status", 0, p.returncode)
    check_true("short: at most 24 lines (%d)" % len(p.stdout.splitlines()),
               len(p.stdout.splitlines()) <= 24)
    for line in ("memtrace help run", "memtrace help attach", "memtrace help diff",
                 "memtrace help report", "man memtrace"):
        check_true("it says: %s" % line, line in p.stdout)
    full = memtrace(env, ["help", "run"]).stdout
    check("run --help is help run", full, memtrace(env, ["run", "--help"]).stdout)
    attach = memtrace(env, ["help", "attach"]).stdout
    attach_only = {"duration", "interval", "top", "force", "no-census", "show-contents",
                   "leak-check-every", "leak-check"}
    opts = long_options(env)
    check_true("the getopt table read (%d options)" % len(opts), len(opts) > 30)
    check("options missing from help run", [],
          [o for o in opts if o not in attach_only and "--" + o not in full])
    check("options missing from help attach", [], [o for o in opts if "--" + o not in attach])
    for group in ("Report files:", "What is reported:", "Suppressions:", "Stacks and symbols:",
                  "Children (run):", "Speed:"):
        check_true("help run has the group %s" % group, "\n" + group + "\n" in full)
    p = memtrace(env, ["help", "bogus"])
    check("an unknown topic", (2, "memtrace: no help on 'bogus': try 'memtrace help run', "
                                  "'memtrace help attach', 'memtrace help diff' or "
                                  "'memtrace help report'\n"), (p.returncode, p.stderr))
    report = memtrace(env, ["help", "report"]).stdout
    for word in ("--format=F", "--suppressions=FILE", "--depth N", "FILE.json"):
        check_true("help report names %s" % word, word in report)
    diff = memtrace(env, ["help", "diff"]).stdout
    for word in ("--json FILE", "--error-exitcode N", "OLD.json NEW.json"):
        check_true("help diff names %s" % word, word in diff)


def run_on_terminal(env, args, extra_env):
    """memtrace ARGS with stderr on a pseudo-terminal; what it wrote there."""
    import pty
    import select
    master, slave = pty.openpty()
    p = subprocess.Popen([env.memtrace] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave,
                         env=dict(os.environ, **extra_env))
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            data = os.read(master, 65536)
            if not data:
                break
            out += data
    except OSError:
        pass   # EIO: the terminal's last writer is gone
    os.close(master)
    check("memtrace exit status", 0, p.wait(timeout=60))
    return out.decode("utf-8", "replace")


def case_progress_on_a_terminal(env):
    """On a terminal, the exit-time scan and the symbolization show a
    progress line once they last MEMTRACE_PROGRESS_AFTER_MS (0 here), each
    erased after; stderr that is not a terminal never gets one."""
    log_path = os.path.join(env.tmp, "report.log")
    args = ["run", "-o", log_path, "--", env.fixture("kinds"), "tree"]
    out = run_on_terminal(env, args, {"MEMTRACE_PROGRESS_AFTER_MS": "0"})
    lines = [l for l in re.split(r"\r\x1b\[K", out) if l]
    check_true("the scan's line: %r" % lines,
               any(re.fullmatch(r"memtrace: scanning the memory of pid \d+: \d+ MiB", l)
                   for l in lines))
    check_true("the symbolization's line: %r" % lines,
               any(re.fullmatch(r"memtrace: symbolizing 8 stacks: \d+%", l) for l in lines))
    check_true("every line erased: the output ends with an erase", out.endswith("\r\x1b[K"))
    with open(log_path) as fh:
        check_true("the report itself has none", "\r" not in fh.read())
    p = memtrace(env, args, extra_env={"MEMTRACE_PROGRESS_AFTER_MS": "0"})
    check("stderr not a terminal: no progress line", False, "\r" in p.stderr)
