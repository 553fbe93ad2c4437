"""memtrace diff OLD.json NEW.json on fx_two_versions: v1 leaks a config
copy and a session, v2 fixed the first, leaks two sessions from the same
line and a new cache entry. Records match by kind, allocator and the
functions and files of their stacks: addresses and lines may move."""
import json
import os

from memtrace_e2e.checks import check
from memtrace_e2e.run import memtrace, trace


def reports(env):
    """The JSON reports of v1 and v2, in files of their own."""
    paths = []
    for version in ("v1", "v2"):
        trace(env, "two_versions", [version])
        moved = os.path.join(env.tmp, "%s.json" % version)
        os.replace(os.path.join(env.tmp, "two_versions.json"), moved)
        paths.append(moved)
    return paths


def case_diff_new_grown_gone(env):
    """The text names the new, grown and gone records with their stacks at
    NEW's lines (GONE at OLD's); --error-exitcode fails on new or grown
    only; --json writes the same changes."""
    old, new = reports(env)
    line = env.line
    p = memtrace(env, ["diff", "--error-exitcode", "3", "--json", os.path.join(env.tmp, "d.json"),
                       old, new])
    check("exit status: something new or grown", (3, ""), (p.returncode, p.stderr))
    check("the text", [
        "memtrace diff %s %s: 1 new, 1 grown, 1 gone, 0 shrunk, 0 unchanged leak records"
        % (old, new),
        "",
        "NEW: 200 bytes in 1 blocks definitely lost, allocated by malloc()",
        "   at leak (two_versions.c:%d)" % line("two_versions", "leak"),
        "   by fill_cache (two_versions.c:%d)" % line("two_versions", "cache"),
        "   by main (two_versions.c:%d)" % line("two_versions", "call_cache"),
        "",
        "GROWN: 48 -> 96 bytes, 1 -> 2 blocks definitely lost, allocated by malloc()",
        "   at leak (two_versions.c:%d)" % line("two_versions", "leak"),
        "   by open_sessions (two_versions.c:%d)" % line("two_versions", "session"),
        "   by main (two_versions.c:%d)" % line("two_versions", "call_sessions"),
        "",
        "GONE: 64 bytes in 1 blocks definitely lost, allocated by malloc()",
        "   at leak (two_versions.c:%d)" % line("two_versions", "leak"),
        "   by load_config (two_versions.c:%d)" % line("two_versions", "config"),
        "   by main (two_versions.c:%d)" % line("two_versions", "call_config"),
        "",
    ], p.stdout.split("\n"))
    with open(os.path.join(env.tmp, "d.json")) as fh:
        doc = json.load(fh)
    check("JSON summary", {"new": {"records": 1, "bytes": 200}, "grown": {"records": 1,
                                                                          "bytes": 48},
                           "gone": {"records": 1, "bytes": 64},
                           "shrunk": {"records": 0, "bytes": 0},
                           "unchanged": {"records": 0, "bytes": 0}}, doc["summary"])
    check("JSON changes (change, old, new, first caller)", [
        ("new", None, {"bytes": 200, "blocks": 1}, "fill_cache"),
        ("grown", {"bytes": 48, "blocks": 1}, {"bytes": 96, "blocks": 2}, "open_sessions"),
        ("gone", {"bytes": 64, "blocks": 1}, None, "load_config"),
    ], [(c["change"], c["old"], c["new"], c["stack"][1]["function"]) for c in doc["changes"]])

    p = memtrace(env, ["diff", "--error-exitcode", "3", new, old])
    check("the other way: the fixed leak is new, so status 3", 3, p.returncode)
    check("... its first line", "memtrace diff %s %s: 1 new, 0 grown, 1 gone, 1 shrunk, "
          "0 unchanged leak records" % (new, old), p.stdout.split("\n")[0])
    p = memtrace(env, ["diff", "--error-exitcode", "3", new, new])
    check("a report against itself: exit 0", (0, "memtrace diff %s %s: 0 new, 0 grown, 0 gone, "
          "0 shrunk, 2 unchanged leak records\n" % (new, new)), (p.returncode, p.stdout))


def case_diff_ignores_addresses_and_lines(env):
    """A rebuild moves every address and line: the same records match."""
    old, new = reports(env)
    with open(old) as fh:
        doc = json.load(fh)
    for proc in doc["processes"]:
        for leak in proc["leaks"]:
            for fr in leak["stack"]:
                fr["address"] = "0x%x" % (int(fr["address"], 16) + 0x1000)
                fr["line"] = fr["line"] + 7 if fr["line"] else fr["line"]
    moved = os.path.join(env.tmp, "moved.json")
    with open(moved, "w") as fh:
        json.dump(doc, fh)
    p = memtrace(env, ["diff", "--error-exitcode", "3", old, moved])
    check("all unchanged", (0, "memtrace diff %s %s: 0 new, 0 grown, 0 gone, 0 shrunk, "
          "2 unchanged leak records\n" % (old, moved)), (p.returncode, p.stdout))


def case_diff_bad_input(env):
    """Not JSON, not a report, a missing file, one operand: exit 2 with one
    line naming the file (and where the JSON breaks)."""
    old, _ = reports(env)
    bad = os.path.join(env.tmp, "bad.json")
    with open(bad, "w") as fh:
        fh.write('{"version": 1,\n "processes": [1, 2,]}\n')
    other = os.path.join(env.tmp, "other.json")
    with open(other, "w") as fh:
        fh.write('{"version": 2, "processes": []}\n')
    missing = os.path.join(env.tmp, "missing.json")
    for args, message in (
            ([old, bad], "%s: not JSON: line 2, column 21: expected a value" % bad),
            ([other, old], "%s: not a memtrace JSON report (version 1)" % other),
            ([old, missing], "%s: No such file or directory" % missing),
            ([old], "diff needs two JSON reports: memtrace diff [--json FILE] "
                    "[--error-exitcode N] OLD.json NEW.json"),
            (["--depth", "3", old, old], "diff: unknown option '--depth' (diff takes --json FILE "
                                         "and --error-exitcode N)")):
        p = memtrace(env, ["diff"] + args)
        check("refused: %s" % args, (2, "", "memtrace: %s\n" % message),
              (p.returncode, p.stdout, p.stderr))
