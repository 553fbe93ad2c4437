"""The report files under hostile conditions: the program must not inherit
them, a full disk or a bad path is a one-line error and exit status 2 (a bad
path before the program runs), the JSON is replaced whole or not at all, a
symlink at a report path is refused, and bytes from the program's argv or
path cannot break the JSON (invalid UTF-8) or the terminal (escapes)."""
import json
import os
import re
import resource
import shutil
import signal
import subprocess

from memtrace_e2e.checks import Failure, Skip, check, check_true, log
from memtrace_e2e.run import check_memtrace_ended, run_timeout


def run_raw(env, args, what="memtrace", stdout=subprocess.PIPE, preexec_fn=None):
    """memtrace ARGS (str or bytes each) with stdin /dev/null; stdout and
    stderr kept as bytes (stderr also decoded in .err)."""
    log("$ memtrace %r" % (list(args),))
    try:
        p = subprocess.run([env.memtrace] + list(args), stdin=subprocess.DEVNULL, stdout=stdout,
                           stderr=subprocess.PIPE, timeout=run_timeout(), preexec_fn=preexec_fn)
    except subprocess.TimeoutExpired:
        raise Failure("%s: still running after %d s" % (what, run_timeout()))
    log("  (%s finished with status %d)" % (what, p.returncode))
    p.err = p.stderr.decode("utf-8", "replace")
    check_memtrace_ended(p.returncode, p.err)
    return p


def error_lines(p):
    return [l for l in p.err.splitlines() if l.startswith("memtrace: error:")]


def expect_write_error(p, path, reason, what):
    """Exit 2 and exactly one 'memtrace: error: cannot write PATH: REASON'."""
    check("exit status (%s)" % what, 2, p.returncode)
    want = "memtrace: error: cannot write %s: %s" % (path, reason)
    check("error lines (%s)" % what, [want], error_lines(p))


def expect_one_line(p, path, what):
    """Exit 2, stderr exactly one line 'memtrace: error: cannot write PATH: ...'."""
    check("exit status (%s)" % what, 2, p.returncode)
    check_true("stderr is one line 'memtrace: error: cannot write %s: ...' (%s)" % (path, what),
               re.fullmatch(r"memtrace: error: cannot write %s: [^\n]+\n" % re.escape(path),
                            p.err) is not None, "stderr: %r" % p.err)


def tool(name):
    path = shutil.which(name)
    if not path:
        raise Skip("no %s on this machine" % name)
    return path


def touch_args(marker):
    """A program that creates MARKER: proof that it ran."""
    return ["--", tool("touch"), marker]


def case_output_no_fd_leak(env):
    # The traced program lists its own descriptors: neither the -o log nor
    # the JSON report (or its temporary file) may be among them.
    log_path = os.path.join(env.tmp, "fdleak.log")
    json_path = os.path.join(env.tmp, "fdleak.json")
    p = run_raw(env, ["run", "-o", log_path, "--json", json_path, "--",
                      tool("ls"), "-l", "/proc/self/fd"])
    listing = p.stdout.decode("utf-8", "replace")
    log("program's descriptors:\n" + listing)
    check("memtrace exit status", 0, p.returncode)
    check_true("the program listed its descriptors", "->" in listing, listing)
    leaked = [l for l in listing.splitlines() if env.tmp in l]
    check("descriptors of the program open on memtrace's report files", [], leaked)
    with open(json_path) as fh:
        json.load(fh)


def case_output_full_disk(env):
    prog = env.fixture("clean")
    p = run_raw(env, ["run", "-o", "/dev/full", "--", prog], "-o /dev/full")
    expect_write_error(p, "/dev/full", os.strerror(28), "-o /dev/full")
    p = run_raw(env, ["run", "--json", "/dev/full", "--", prog], "--json /dev/full")
    expect_write_error(p, "/dev/full", os.strerror(28), "--json /dev/full")
    # A write failure wins over --error-exitcode (fx_seed leaks and double
    # frees, so --error-exitcode=7 would apply).
    p = run_raw(env, ["run", "--error-exitcode=7", "--json", "/dev/full", "--",
                      env.fixture("seed")], "--error-exitcode=7 --json /dev/full")
    expect_write_error(p, "/dev/full", os.strerror(28), "--error-exitcode=7 --json /dev/full")
    p = run_raw(env, ["run", "--error-exitcode=7", "-o", "/dev/full", "--",
                      env.fixture("seed")], "--error-exitcode=7 -o /dev/full")
    expect_write_error(p, "/dev/full", os.strerror(28), "--error-exitcode=7 -o /dev/full")
    # --json - with stdout on a full device.
    with open("/dev/full", "wb") as full:
        p = run_raw(env, ["run", "--json", "-", "--", prog], "--json - >/dev/full", stdout=full)
    expect_write_error(p, "standard output", os.strerror(28), "--json - >/dev/full")


def case_output_bad_path_before_run(env):
    # A report path that cannot be written is found before the program
    # starts: one line, exit 2, and the program never ran.
    bad = [
        ("--json", os.path.join(env.tmp, "no", "such", "dir.json"), "missing directory"),
        ("--json", env.tmp, "a directory"),
        ("-o", os.path.join(env.tmp, "no", "such", "dir.log"), "missing directory"),
        ("-o", env.tmp, "a directory"),
    ]
    for opt, path, what in bad:
        marker = os.path.join(env.tmp, "ran")
        p = run_raw(env, ["run", opt, path] + touch_args(marker), "%s %s" % (opt, what))
        expect_one_line(p, path, "%s %s" % (opt, what))
        check_true("the program did not run (%s %s): no %s" % (opt, what, marker),
                   not os.path.exists(marker))
        check("files left in %s" % env.tmp, [], [f for f in os.listdir(env.tmp)
                                                 if f.startswith(".")])


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def case_output_json_whole_or_nothing(env):
    # A JSON report that cannot be written whole (200-byte file size limit)
    # leaves the previous report as it was and no temporary file.
    json_path = os.path.join(env.tmp, "keep.json")
    with open(json_path, "w") as fh:
        fh.write('{"previous": true}\n')
    p = run_raw(env, ["run", "--json", json_path, "--", env.fixture("clean")],
                "--json with a 200-byte file size limit", preexec_fn=limit_file_size)
    expect_write_error(p, json_path, os.strerror(27), "file size limit")
    with open(json_path) as fh:
        check("the previous report", '{"previous": true}\n', fh.read())
    check("files in %s" % env.tmp, ["keep.json"], sorted(os.listdir(env.tmp)))
    # Without the limit the report replaces the old one, with its mode.
    os.chmod(json_path, 0o640)
    p = run_raw(env, ["run", "--json", json_path, "--", env.fixture("clean")], "--json")
    check("memtrace exit status", 0, p.returncode)
    with open(json_path) as fh:
        doc = json.load(fh)
    check("processes", 1, len(doc["processes"]))
    check("mode of the replaced report", 0o640, os.stat(json_path).st_mode & 0o777)
    check("files in %s" % env.tmp, ["keep.json"], sorted(os.listdir(env.tmp)))


def case_output_symlink_refused(env):
    # A symlink planted at a report path is refused before the program runs;
    # the file it points to is left alone.
    victim = os.path.join(env.tmp, "victim")
    for opt in ("-o", "--json"):
        with open(victim, "w") as fh:
            fh.write("precious\n")
        link = os.path.join(env.tmp, "report" + opt.strip("-"))
        os.symlink(victim, link)
        marker = os.path.join(env.tmp, "ran")
        p = run_raw(env, ["run", opt, link] + touch_args(marker), "%s SYMLINK" % opt)
        expect_write_error(p, link, "it is a symbolic link (memtrace does not follow one)",
                           "%s SYMLINK" % opt)
        check_true("the program did not run (%s): no %s" % (opt, marker),
                   not os.path.exists(marker))
        with open(victim) as fh:
            check("the symlink's target (%s)" % opt, "precious\n", fh.read())
        check_true("%s is still a symlink" % link, os.path.islink(link))
        # A dangling symlink is refused too (it would create its target).
        dangling = os.path.join(env.tmp, "dangling" + opt.strip("-"))
        os.symlink(os.path.join(env.tmp, "created"), dangling)
        p = run_raw(env, ["run", opt, dangling] + touch_args(marker), "%s DANGLING" % opt)
        expect_write_error(p, dangling, "it is a symbolic link (memtrace does not follow one)",
                           "%s DANGLING" % opt)
        check_true("no file created through the dangling link",
                   not os.path.exists(os.path.join(env.tmp, "created")))


def case_output_json_invalid_utf8(env):
    # argv with bytes that are not UTF-8 and a control character, and a
    # program whose path is not UTF-8: the JSON stays valid UTF-8, each
    # invalid byte is U+FFFD, the control character \\u0001.
    prog_dir = os.path.join(env.tmp, b"dir\xff\x1b[2J".decode("utf-8", "surrogateescape"))
    os.mkdir(prog_dir)
    prog = os.path.join(os.fsencode(prog_dir), b"fx_seed\xfe")
    shutil.copy(env.fixture("seed"), prog)
    json_path = os.path.join(env.tmp, "utf8.json")
    p = run_raw(env, ["run", "--json", json_path, "--", prog, b"\xff\xfe", b"a\x01b",
                      "caf\u00e9".encode()])
    check("memtrace exit status", 0, p.returncode)
    with open(json_path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")   # strict
    except UnicodeDecodeError as e:
        raise Failure("the JSON report is not valid UTF-8: %s: %r" % (
            e, raw[max(0, e.start - 40):e.end + 40]))
    doc = json.loads(text, strict=True)
    shown_prog = prog_dir.encode("utf-8", "surrogateescape").decode("utf-8", "replace") \
        + "/fx_seed\ufffd"
    check("command", [shown_prog, "\ufffd\ufffd", "a\x01b", "caf\u00e9"],
          doc["processes"][0]["command"])
    check_true("the control character is written \\u0001", b'"a\\u0001b"' in raw)
    modules = {f.get("module") for r in doc["processes"][0]["leaks"] for f in r["stack"]}
    check_true("the leak stacks name the program by its path, U+FFFD for each invalid byte",
               shown_prog in modules, "modules: %r" % sorted(m or "" for m in modules))


def case_output_text_escapes(env):
    # The Command: line of the text report cannot clear the screen.
    p = run_raw(env, ["run", "--", env.fixture("clean"), "0", "\x1b[2J", "a\tb\x7f"])
    check("memtrace exit status", 0, p.returncode)
    cmd = [l for l in p.err.splitlines() if "Command:" in l]
    check("Command: lines", 1, len(cmd))
    check_true("Command: line escaped", cmd[0].endswith(
        "Command: %s 0 \\x1b[2J a\\x09b\\x7f" % env.fixture("clean")), repr(cmd[0]))
    check_true("no escape character in the text report", "\x1b" not in p.err, repr(p.err[-2000:]))
