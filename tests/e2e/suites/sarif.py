"""--sarif: SARIF 2.1.0, validated against tests/e2e/schemas/sarif-2.1.0.json
with Debian's python3-jsonschema (formats checked: uri, uri-reference), and
read back: one result per listed leak record, bad free and mapping, at the
first line of the fixture's own source, the rest of each stack as related
locations and SARIF stacks, suppressed records kept with a suppression."""
import json
import os
import subprocess

from memtrace_e2e.checks import Failure, check, check_true, log
from memtrace_e2e.run import check_memtrace_ended, child_env, memtrace, trace

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "schemas", "sarif-2.1.0.json")

# Debian's interpreter: python3-jsonschema and python3-rfc3987 are its
# packages, whichever python3 runs the tests.
VALIDATOR = r"""
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
checker = jsonschema.FormatChecker()
missing = [f for f in ("uri", "uri-reference") if f not in checker.checkers]
if missing:
    sys.exit("jsonschema cannot check the formats %s: install python3-rfc3987" % missing)
v = jsonschema.Draft7Validator(schema, format_checker=checker)
doc = json.load(open(sys.argv[2]))
errors = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
          for e in v.iter_errors(doc)]
print(json.dumps(errors))
"""


def schema_errors(doc_path):
    """The schema's complaints about the SARIF file DOC_PATH."""
    p = subprocess.run(["/usr/bin/python3", "-c", VALIDATOR, SCHEMA, doc_path],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise Failure("the SARIF validator failed (status %d): %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)


def load_valid(path):
    check("%s against the SARIF 2.1.0 schema" % os.path.basename(path), [], schema_errors(path))
    with open(path) as fh:
        doc = json.load(fh)
    check("one run", 1, len(doc["runs"]))
    return doc["runs"][0]


def run_in(env, cwd, args):
    """memtrace ARGS run in directory CWD (SARIF paths are relative to it)."""
    cmd = [env.memtrace] + list(args)
    log("$ (cd %s && %s)" % (cwd, " ".join(cmd)))
    p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=child_env(), timeout=300)
    check_memtrace_ended(p.returncode, p.stderr)
    return p


def where(loc):
    """(uri, uriBaseId, line) of a SARIF location."""
    phys = loc["physicalLocation"]
    art = phys.get("artifactLocation", {})
    return art.get("uri"), art.get("uriBaseId"), phys.get("region", {}).get("startLine")


def function(loc):
    names = loc.get("logicalLocations") or [{}]
    return names[0].get("fullyQualifiedName")


def rule_of(run, result):
    rules = run["tool"]["driver"]["rules"]
    check("ruleIndex names ruleId", result["ruleId"], rules[result["ruleIndex"]]["id"])
    return result["ruleId"]


def case_sarif_leaks_at_their_lines(env):
    """fx_kinds tree run from the repository's root: the two definitely
    lost records at kinds.c's lines, relative to SRCROOT (the directory
    memtrace ran in), main's frame as a related location and in the stack;
    the same records as the JSON; the invocation with pid and exit code."""
    root = os.path.dirname(env.source_dir)
    fixtures = os.path.relpath(env.source_dir, root)
    sarif = os.path.join(env.tmp, "kinds.sarif")
    json_path = os.path.join(env.tmp, "kinds.json")
    p = run_in(env, root, ["run", "--sarif", sarif, "--json", json_path, "--",
                           env.fixture("kinds"), "tree"])
    check("memtrace exit status", 0, p.returncode)
    run = load_valid(sarif)
    with open(json_path) as fh:
        proc = json.load(fh)["processes"][0]
    check("SRCROOT", "file://%s/" % root, run["originalUriBaseIds"]["SRCROOT"]["uri"])
    inv = run["invocations"]
    check("invocations (pid, exit code, arguments, successful)",
          [(proc["pid"], 0, [env.fixture("kinds"), "tree"], True)],
          [(i["processId"], i["exitCode"], i["arguments"], i["executionSuccessful"])
           for i in inv])
    src = fixtures + "/kinds.c"
    got = [(rule_of(run, r), r["level"], r["properties"]["bytes"],
            r["properties"]["indirectBytes"], where(r["locations"][0]),
            function(r["locations"][0])) for r in run["results"]]
    check("results (rule, level, bytes, indirect bytes, location, function)", [
        ("memtrace/definitely-lost", "error", 32, 192,
         (src, "SRCROOT", env.line("kinds", "tree_root")), "lose_tree"),
        ("memtrace/definitely-lost", "error", 11, 0,
         (src, "SRCROOT", env.line("kinds", "lost")), "lose"),
    ], got)
    check("the messages", [
        "224 (32 direct, 192 indirect) bytes in 1 blocks are definitely lost in loss record 1 "
        "of 2, allocated by malloc()",
        "11 bytes in 1 blocks are definitely lost in loss record 2 of 2, allocated by malloc()",
    ], [r["message"]["text"] for r in run["results"]])
    listed = [l for l in proc["leaks"] if l["kind"] in ("definitely_lost", "possibly_lost")]
    for r, l in zip(run["results"], listed):
        frames = r["stacks"][0]["frames"]
        check("the SARIF stack is the JSON record's (functions, lines)",
              [(f["function"], f["line"]) for f in l["stack"]],
              [(function(f["location"]), where(f["location"])[2]) for f in frames])
        check("modules of the stack",
              [f["module"] for f in l["stack"]], [f.get("module") for f in frames])
        related = [(where(x), function(x)) for x in r["relatedLocations"]]
        check("related locations: the other frames with a source line",
              [((src, "SRCROOT", f["line"]), f["function"]) for f in l["stack"][1:]
               if f["file"]], related)
        check_true("related locations numbered from 1",
                   [x["id"] for x in r["relatedLocations"]] ==
                   list(range(1, len(r["relatedLocations"]) + 1)))
        check_true("a fingerprint", len(r["partialFingerprints"]["memtraceStack/v1"]) == 16)
    check_true("different stacks, different fingerprints",
               len({r["partialFingerprints"]["memtraceStack/v1"] for r in run["results"]}) == 2)


def case_sarif_bad_frees(env):
    """fx_seed's double free at seed.c's second free, with the first free
    and the allocation as related locations and stacks; fx_cxx_mismatch's
    seven mismatched releases, each at its line (paths absolute: memtrace ran
    outside the sources)."""
    sarif = os.path.join(env.tmp, "seed.sarif")
    p = run_in(env, env.tmp, ["run", "--sarif", sarif, "--", env.fixture("seed")])
    check("memtrace exit status", 0, p.returncode)
    run = load_valid(sarif)
    seed = "file://" + os.path.join(env.source_dir, "seed.c")
    dbl = [r for r in run["results"] if r["ruleId"] == "memtrace/double-free"]
    check("one double free", 1, len(dbl))
    r = dbl[0]
    check("its level and location", ("error", (seed, None, env.line("seed", "double_free"))),
          (r["level"], where(r["locations"][0])))
    check("its stacks", ["released", "first freed", "allocated"],
          [s["message"]["text"] for s in r["stacks"]])
    check("related locations: first free and allocation, at their lines",
          [(env.line("seed", "first_free"), "first freed, frame 0: main (seed.c:%d)"
            % env.line("seed", "first_free")),
           (env.line("seed", "p4_alloc"), "allocated, frame 0: main (seed.c:%d)"
            % env.line("seed", "p4_alloc"))],
          [(where(x)[2], x["message"]["text"]) for x in r["relatedLocations"]])
    check("the leak", [("memtrace/definitely-lost", env.line("seed", "leak"))],
          [(x["ruleId"], where(x["locations"][0])[2]) for x in run["results"] if x is not r])

    sarif = os.path.join(env.tmp, "mismatch.sarif")
    json_path = os.path.join(env.tmp, "mismatch.json")
    p = run_in(env, env.tmp, ["run", "--sarif", sarif, "--json", json_path, "--",
                              env.fixture("cxx_mismatch")])
    check("memtrace exit status", 0, p.returncode)
    run = load_valid(sarif)
    with open(json_path) as fh:
        errors = json.load(fh)["processes"][0]["errors"]
    bad = [r for r in run["results"] if r["ruleId"] == "memtrace/mismatched-free"]
    expected = [e["stack"][0]["line"] for e in errors]
    check("seven mismatched releases", 7, len(expected))
    check("each at its line, as the JSON", expected,
          [where(r["locations"][0])[2] for r in bad])
    check_true("each with the allocation as a related location",
               all(r["stacks"][-1]["message"]["text"] == "allocated" for r in bad))


def case_sarif_suppressed_results_kept(env):
    """A suppressed record stays in the SARIF as a result with an external,
    accepted suppression naming the suppression; the other is as before."""
    supp = os.path.join(env.tmp, "lose.supp")
    with open(supp, "w") as fh:
        fh.write("leak:^lose$\n")
    sarif = os.path.join(env.tmp, "kinds.sarif")
    trace(env, "kinds", ["tree"], opts=["--suppressions", supp, "--sarif", sarif])
    run = load_valid(sarif)
    check("results (function, suppressions)", [
        ("lose_tree", None),
        ("lose", [{"kind": "external", "status": "accepted",
                   "justification": "suppressed by 'leak:^lose$' (%s:1)" % supp}]),
    ], [(function(r["locations"][0]), r.get("suppressions")) for r in run["results"]])
    check("the suppressed record's message has no loss record number",
          "11 bytes in 1 blocks are definitely lost, allocated by malloc()",
          run["results"][1]["message"]["text"])


def case_sarif_mappings(env):
    """fx_maps split: the private anonymous mapping left mapped is a result
    at the mmap's line, as the JSON's mappings say."""
    sarif = os.path.join(env.tmp, "maps.sarif")
    t = trace(env, "maps", ["split"], opts=["--sarif", sarif])
    run = load_valid(sarif)
    maps = t.doc["processes"][0]["mappings"]
    got = [(r["ruleId"], r["properties"]["bytes"], where(r["locations"][0])[2])
           for r in run["results"] if r["ruleId"].startswith("memtrace/mapping")]
    check("mapping results (rule, bytes, line), as the JSON's mappings",
          [("memtrace/mapping-never-unmapped", m["bytes"], m["stack"][0]["line"]) for m in maps],
          got)
    check_true("at least one", len(got) >= 1)


def case_sarif_schema_rejects_broken_logs(env):
    """The validator is not vacuous: a result without a message, an unknown
    level, a property SARIF does not have, a line 0 and a URI with a space
    are each refused."""
    sarif = os.path.join(env.tmp, "seed.sarif")
    trace(env, "seed", opts=["--sarif", sarif])
    with open(sarif) as fh:
        good = json.load(fh)

    def broken(name, change):
        doc = json.loads(json.dumps(good))
        change(doc["runs"][0]["results"][0])
        path = os.path.join(env.tmp, name + ".sarif")
        with open(path, "w") as fh:
            json.dump(doc, fh)
        check_true("%s refused by the schema" % name, schema_errors(path) != [])

    broken("no-message", lambda r: r.pop("message"))
    broken("level-fatal", lambda r: r.update(level="fatal"))
    broken("invented-property", lambda r: r.update(leakKind="definite"))
    broken("line-0", lambda r: r["locations"][0]["physicalLocation"]["region"]
           .update(startLine=0))
    broken("uri-with-space", lambda r: r["locations"][0]["physicalLocation"]["artifactLocation"]
           .update(uri="file:///a b.c"))


def case_sarif_per_process_and_bad_path(env):
    """--sarif with %p: fx_fork's two processes each get a valid file with
    their own invocation; a path that cannot be written is refused before
    the program runs."""
    out = os.path.join(env.tmp, "per-process")
    os.mkdir(out)
    p = memtrace(env, ["run", "--sarif", os.path.join(out, "r.%p.sarif"), "--",
                       env.fixture("fork")])
    check("memtrace exit status", 0, p.returncode)
    files = sorted(os.listdir(out))
    check("two files", 2, len(files))
    for name in files:
        run = load_valid(os.path.join(out, name))
        check("%s: its own process" % name, [int(name.split(".")[1])],
              [i["processId"] for i in run["invocations"]])
    p = memtrace(env, ["run", "--sarif", os.path.join(env.tmp, "no", "such", "dir", "x.sarif"),
                       "--", "/bin/true"])
    check("refused", (2, "memtrace: error: cannot write %s: No such file or directory\n"
                      % os.path.join(env.tmp, "no", "such", "dir", "x.sarif")),
          (p.returncode, p.stderr))
