"""--xml-file: Valgrind memcheck's XML, protocol 4. One parser reads
memcheck's own XML (valgrind --xml=yes on the same fixture) and memtrace's,
and must find the same errors: kinds, leaked bytes and blocks, and the
first frame in the fixture's source (file and line)."""
import json
import os
import subprocess
import xml.etree.ElementTree as ET

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.run import memtrace, trace

REQUIRED = ["protocolversion", "protocoltool", "preamble", "pid", "ppid", "tool", "args",
            "status", "errorcounts", "suppcounts"]


def parse(path, source):
    """(structure problems, sorted errors as (kind, leakedbytes, leakedblocks,
    (file, line) of the first frame in SOURCE))."""
    root = ET.parse(path).getroot()
    problems = []
    if root.tag != "valgrindoutput":
        problems.append("root is <%s>" % root.tag)
    tags = [c.tag for c in root]
    for tag in REQUIRED:
        if tag not in tags:
            problems.append("no <%s>" % tag)
    if root.findtext("protocolversion") != "4" or root.findtext("protocoltool") != "memcheck":
        problems.append("not protocol 4 of memcheck")
    errors = []
    for e in root.findall("error"):
        for tag in ("unique", "tid", "kind", "stack"):
            if e.find(tag) is None:
                problems.append("an <error> without <%s>" % tag)
        frames = e.find("stack").findall("frame") if e.find("stack") is not None else []
        if any(f.find("ip") is None for f in frames):
            problems.append("a <frame> without <ip>")
        mine = next(((f.findtext("file"), int(f.findtext("line"))) for f in frames
                     if f.findtext("file") == source), None)
        xwhat = e.find("xwhat")
        leaked = (int(xwhat.findtext("leakedbytes")), int(xwhat.findtext("leakedblocks"))) \
            if xwhat is not None else (None, None)
        errors.append((e.findtext("kind"),) + leaked + (mine,))
    return problems, sorted(errors, key=repr)


def compare(env, fixture, args, source, vg_opts=()):
    prog = env.fixture(fixture)
    vg_xml = os.path.join(env.tmp, fixture + ".vg.xml")
    cmd = ["valgrind", "--xml=yes", "--xml-file=" + vg_xml, "--leak-check=full"] + \
        list(vg_opts) + [prog] + list(args)
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, timeout=300)
    if not os.path.exists(vg_xml):
        raise Failure("valgrind wrote no XML (status %d): %s" % (p.returncode, p.stderr[-2000:]))
    mt_xml = os.path.join(env.tmp, fixture + ".mt.xml")
    trace(env, fixture, args, opts=["--xml-file", mt_xml], status=0)
    vg_problems, vg_errors = parse(vg_xml, source)
    mt_problems, mt_errors = parse(mt_xml, source)
    check("memcheck's XML read by the same parser", [], vg_problems)
    check("memtrace's XML has the protocol's structure", [], mt_problems)
    check("%s: errors (kind, leaked bytes, blocks, first %s frame), memtrace as memcheck" %
          (fixture, source), vg_errors, mt_errors)
    return mt_xml


def case_xml_leaks_as_memcheck(env):
    """fx_kinds tree: the two definitely lost records (one owning 192 bytes
    of indirectly lost nodes), leakedbytes counting them as memcheck does."""
    path = compare(env, "kinds", ["tree"], "kinds.c")
    with open(path) as fh:
        text = fh.read()
    check_true("the record's text as memcheck's", "224 (32 direct, 192 indirect) bytes in 1 "
               "blocks are definitely lost in loss record" in text)


def case_xml_bad_frees_as_memcheck(env):
    """fx_seed's double free (InvalidFree) and fx_cxx_mismatch's seven
    mismatched releases (MismatchedFree), at their lines, and their leaks."""
    compare(env, "seed", [], "seed.c")
    compare(env, "cxx_mismatch", [], "cxx_mismatch.cc")


def case_output_file_per_process(env):
    """-o, --json and --xml-file with %p and %n: fx_fork's parent and child
    each get their own files, named by pid and number, each holding its
    process; another % escape is refused before anything runs."""
    out = os.path.join(env.tmp, "per-process")
    os.mkdir(out)
    p = memtrace(env, ["run", "--json", os.path.join(out, "r.%p.%n.json"), "--xml-file",
                       os.path.join(out, "r.%p.xml"), "-o", os.path.join(out, "r.%n.%p.log"),
                       "--", env.fixture("fork")])
    check("memtrace exit status", 0, p.returncode)
    check("nothing on stderr", "", p.stderr)
    files = sorted(os.listdir(out))
    jsons = [f for f in files if f.endswith(".json")]
    logs = [f for f in files if f.endswith(".log")]
    check("two JSON files, two XML files, two logs", (2, 2, 2),
          (len(jsons), len([f for f in files if f.endswith(".xml")]), len(logs)))
    for seq, name in enumerate(sorted(jsons, key=lambda f: int(f.split(".")[2])), 1):
        with open(os.path.join(out, name)) as fh:
            doc = json.load(fh)
        check("%s: one process" % name, 1, len(doc["processes"]))
        pid = doc["processes"][0]["pid"]
        check("its name", "r.%d.%d.json" % (pid, seq), name)
        root = ET.parse(os.path.join(out, "r.%d.xml" % pid)).getroot()
        check("r.%d.xml's pid" % pid, str(pid), root.findtext("pid"))
        with open(os.path.join(out, "r.%d.%d.log" % (seq, pid))) as fh:
            text = fh.read()
        check("r.%d.%d.log: every line its process's" % (seq, pid), [],
              [l for l in text.splitlines() if not l.startswith("==%d==" % pid)])
        check("... one ERROR SUMMARY", 1, text.count("ERROR SUMMARY"))
    p = memtrace(env, ["run", "--json", os.path.join(out, "x.%t.json"), "--", "/bin/true"])
    check("refused: another escape", (2, "memtrace: --json '%s': %%t is not %%p (the pid), %%n "
                                         "(the process's number) or %%%%\n"
                                      % os.path.join(out, "x.%t.json")),
          (p.returncode, p.stderr))


def case_log_file_per_process_holds_bad_frees(env):
    """-o with %p: fx_seed's double free, said as it happened without it, is
    in the process's log before its leaks, once; stderr stays empty."""
    log_pattern = os.path.join(env.tmp, "seed.%p.log")
    p = memtrace(env, ["run", "-o", log_pattern, "--", env.fixture("seed")])
    check("memtrace exit status", 0, p.returncode)
    check("nothing on stderr", "", p.stderr)
    logs = [f for f in os.listdir(env.tmp) if f.startswith("seed.") and f.endswith(".log")]
    check("one log", 1, len(logs))
    with open(os.path.join(env.tmp, logs[0])) as fh:
        text = fh.read()
    check("the double free, once", 1, text.count("Double free: free("))
    check_true("before the leak summary", text.index("Double free") < text.index("LEAK SUMMARY"))
    check_true("the banner first", text.splitlines()[0].endswith("an external memory-leak tracer"))
