"""memtrace report FILE.json: a saved report rendered again without the
program: the same text, folded stacks and SARIF as the run wrote, other
choices of kinds and suppressions applied anew, bad input refused."""
import json
import os
import re

from memtrace_e2e.checks import check, check_true
from memtrace_e2e.run import memtrace, trace


def saved(env, fixture, args=(), opts=(), commands=None):
    t = trace(env, fixture, args, opts=opts, commands=commands)
    path = os.path.join(env.tmp, "%s.saved.json" % fixture)
    os.replace(os.path.join(env.tmp, "%s.json" % fixture), path)
    return t, path


def case_report_renders_the_run_again(env):
    """fx_seed (a leak and a double free): `memtrace report` prints exactly
    the text the run printed, bad free included; --format folded and sarif
    give the run's own files; --error-exitcode sees the problems."""
    folded = os.path.join(env.tmp, "run.folded")
    sarif = os.path.join(env.tmp, "run.sarif")
    t, path = saved(env, "seed", opts=["--folded", folded, "--sarif", sarif])
    p = memtrace(env, ["report", path])
    check("exit status", 0, p.returncode)
    check("the run's text, line for line", t.stderr.splitlines(), p.stdout.splitlines())
    p = memtrace(env, ["report", "--format", "folded", path])
    with open(folded) as fh:
        check("the run's folded stacks", fh.read(), p.stdout)
    out = os.path.join(env.tmp, "again.sarif")
    p = memtrace(env, ["report", "--format=sarif", "-o", out, path])
    check("exit status, -o", (0, ""), (p.returncode, p.stdout))
    with open(sarif) as a, open(out) as b:
        check("the run's SARIF results", json.load(a)["runs"][0]["results"],
              json.load(b)["runs"][0]["results"])
    p = memtrace(env, ["report", "--error-exitcode", "9", path])
    check("--error-exitcode: a leak and a double free", 9, p.returncode)


def case_report_other_choices(env):
    """fx_kinds tree saved once: --show-leak-kinds=indirect lists the six
    indirectly lost records the run did not; a LeakSanitizer suppression
    given now suppresses lose_tree's; --depth 1 keeps one frame; the JSON
    written again has the same records (ages are not kept)."""
    t, path = saved(env, "kinds", ["tree"])
    p = memtrace(env, ["report", "--show-leak-kinds=indirect", path])
    check("indirect records listed", 6, p.stdout.count("are indirectly lost in loss record"))
    check("definite ones not", 0, p.stdout.count("are definitely lost in loss record"))
    supp = os.path.join(env.tmp, "tree.supp")
    with open(supp, "w") as fh:
        fh.write("leak:lose_tree\n")
    p = memtrace(env, ["report", "--suppressions", supp, path])
    check("suppressed now", ["11 bytes in 1 blocks are definitely lost in loss record 1 of 1, "
                             "allocated by malloc()"],
          [l.split("== ", 1)[1] for l in p.stdout.splitlines() if "in loss record" in l])
    check_true("the summary says so", "suppressed: 224 bytes in 7 blocks" in p.stdout)
    p = memtrace(env, ["report", "--depth", "1", path])
    check("one frame per record", ["at", "at"],
          [l.split()[1] for l in p.stdout.splitlines() if " at 0x" in l or " by 0x" in l])
    p = memtrace(env, ["report", "--format", "json", path])
    again = json.loads(p.stdout)["processes"][0]
    drop = ("oldest_age_s", "newest_age_s")
    check("the same records", [{k: v for k, v in r.items() if k not in drop}
                               for r in t.process["leaks"]],
          [{k: v for k, v in r.items() if k not in drop} for r in again["leaks"]])
    check("the same summary", t.summary, again["summary"])


def case_report_bad_input(env):
    """Not JSON, not a report, a missing file, a timeline of a run without
    --timeline, a cost it does not hold, no file: exit 2, one line."""
    _, path = saved(env, "seed")
    bad = os.path.join(env.tmp, "bad.json")
    with open(bad, "w") as fh:
        fh.write('{"version": 1, "processes": [}')
    other = os.path.join(env.tmp, "other.json")
    with open(other, "w") as fh:
        fh.write('{"version": 7}')
    for args, message in (
            ([bad], "%s: not JSON: line 1, column 30: expected a value" % bad),
            ([other], "%s: not a memtrace JSON report (version 1)" % other),
            ([os.path.join(env.tmp, "none.json")],
             "%s: No such file or directory" % os.path.join(env.tmp, "none.json")),
            (["--format", "timeline", path], "report: %s holds no samples of live bytes over "
             "time: trace with --timeline FILE (and --json) to keep them" % path),
            (["--format", "flamegraph", "--flamegraph-cost", "peak", path],
             "report: a JSON report holds the records left at the end, not what each stack "
             "allocated: only --flamegraph-cost leaked"),
            (["--format", "html", path], "report: --format takes text, json, xml, sarif, "
             "folded, flamegraph or timeline, not 'html'"),
            ([], "report needs one JSON report: memtrace report [OPTIONS] FILE.json")):
        p = memtrace(env, ["report"] + args)
        check("refused: %s" % args, (2, "", "memtrace: %s\n" % message),
              (p.returncode, p.stdout, p.stderr))


def case_report_timeline(env):
    """fx_slow_leak traced with --timeline and --json: the JSON keeps the
    samples, and `memtrace report --format timeline` draws the run's chart
    again (the same SVG but for memtrace's internal stack numbers)."""
    svg = os.path.join(env.tmp, "run.svg")
    t, path = saved(env, "slow_leak", opts=["--timeline", svg])
    samples = t.process["timeline"]["samples"]
    check_true("samples kept in the JSON (%d), the first at 0 ns" % len(samples),
               len(samples) >= 5 and samples[0]["t_ns"] == 0)
    check_true("each top entry names one of the timeline's stacks",
               all(0 <= i < len(t.process["timeline"]["stacks"]) for s in samples
                   for i, _ in s["top"]))
    again = os.path.join(env.tmp, "again.svg")
    p = memtrace(env, ["report", "--format", "timeline", "-o", again, path])
    check("exit status", (0, ""), (p.returncode, p.stderr))
    with open(svg) as a, open(again) as b:
        check("the run's chart", re.sub(r'data-stack="\d+"', "", a.read()),
              re.sub(r'data-stack="\d+"', "", b.read()))


def case_report_mappings(env):
    """fx_maps sysv_attached (a SysV segment still attached at the end, and
    the parent's and child's mappings): the re-rendered JSON lists the
    same mappings and allocator arenas, and the text the same MAPPINGS
    section, segment id and ipcrm hint included."""
    argv = [env.fixture("maps"), "sysv_attached"]
    t, path = saved(env, "maps", argv[1:], commands=[argv, argv])   # it forks
    p = memtrace(env, ["report", "--format", "json", path])
    again = json.loads(p.stdout)["processes"]
    check("mappings", [x["mappings"] for x in t.doc["processes"]],
          [x["mappings"] for x in again])
    check("allocator arenas", [x["allocator_arenas"] for x in t.doc["processes"]],
          [x["allocator_arenas"] for x in again])

    def mapping_lines(text):
        out, on = [], False
        for line in text.splitlines():
            on = on or "MAPPINGS:" in line
            if on and "ERROR SUMMARY" in line:
                on = False
            if on:
                out.append(line)
        return out
    p = memtrace(env, ["report", path])
    check_true("a MAPPINGS section", len(mapping_lines(p.stdout)) > 3)
    check("the run's MAPPINGS sections", mapping_lines(t.stderr), mapping_lines(p.stdout))
