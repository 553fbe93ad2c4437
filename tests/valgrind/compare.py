#!/usr/bin/env python3
"""memtrace against Valgrind memcheck on the same command: the four leak
kinds and the number of bad frees side by side, and whether they agree.

    compare.py --memtrace BUILD/tracer/memtrace [--fixtures-dir DIR] NAME...
    compare.py --memtrace ... --all          every program below
    compare.py --list

Each NAME is a program of PROGRAMS (real Debian commands and fixtures).
Valgrind runs with --leak-check=full --show-leak-kinds=all and glibc's and
libstdc++'s exit-time frees off (--run-libc-freeres=no
--run-cxx-freeres=no): memtrace reports the heap as the program left it,
and so must the reference. Both see one process (the commands do not fork
or exec). Exit status: 0 all equal, 1 a difference or a program missing,
2 usage or valgrind missing.

One difference is a rule, not a disagreement (docs/report-format.md,
"Compared with Valgrind"): dlopen's _dl_find_object segments are kept by
a pointer rounded up to 64 bytes, so such a block is possibly lost or
still reachable depending on where the allocator put it, and memtrace
(glibc's malloc) and Valgrind (its own) put it in different places. Those
blocks are compared by their sum over the two kinds."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

KINDS = ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")
VG_NAMES = {"definitely lost": "definitely_lost", "indirectly lost": "indirectly_lost",
            "possibly lost": "possibly_lost", "still reachable": "still_reachable"}

# name: (argv, needs[, valgrind's argv]) -- {fx} is the fixtures
# directory; needs: programs that must exist for the comparison to mean
# something; valgrind's argv when the scenario needs glibc's malloc to be
# built (fx_vma_merge's adjacency) and the same program without it is the
# reference.
PROGRAMS = {
    "true": (["/bin/true"], []),
    "ls": (["/bin/ls", "-la", "/etc/apt"], []),
    "date": (["/bin/date", "-u", "+%Y"], []),
    "sort": (["/usr/bin/sort", "/etc/passwd"], []),
    "grep": (["/bin/grep", "-c", "root", "/etc/passwd"], []),
    "sed": (["/bin/sed", "-n", "s/root/ROOT/p", "/etc/passwd"], []),
    "awk": (["/usr/bin/awk", "-F:", "{n += length($1)} END {print n}", "/etc/passwd"], []),
    "find": (["/usr/bin/find", "/etc/apt", "-maxdepth", "2"], []),
    "du": (["/usr/bin/du", "-s", "/etc/apt"], []),
    "gzip": (["/bin/gzip", "-c", "/etc/passwd"], []),
    "tar": (["/bin/tar", "-cf", "/dev/null", "/etc/apt"], []),
    "cmp": (["/usr/bin/cmp", "/etc/passwd", "/etc/passwd"], []),
    "diff": (["/usr/bin/diff", "/etc/passwd", "/etc/group"], []),
    "sha256sum": (["/usr/bin/sha256sum", "/etc/passwd"], []),
    "wc": (["/usr/bin/wc", "/etc/passwd"], []),
    "stat": (["/usr/bin/stat", "/etc/passwd"], []),
    "bash": (["/bin/bash", "-c", "a=(1 2 3); declare -A m=([x]=1); echo ${#a[@]} ${m[x]}"], []),
    "dpkg_query": (["/usr/bin/dpkg-query", "-W", "bash"], ["/usr/bin/dpkg-query"]),
    "python3_json": (["/usr/bin/python3", "-c", "import json"], ["/usr/bin/python3"]),
    "python3_json_sqlite3": (["/usr/bin/python3", "-c", "import json, sqlite3"],
                             ["/usr/bin/python3"]),
    "cxx_containers": (["{fx}/fx_cxx_containers"], ["{fx}/fx_cxx_containers"]),
    "cxx_containers_o2": (["{fx}/fx_cxx_containers_o2"], ["{fx}/fx_cxx_containers_o2"]),
    "cxx_stale_vector": (["{fx}/fx_stale_vector"], ["{fx}/fx_stale_vector"]),
    "cxx_stale_vector_o2": (["{fx}/fx_stale_vector_o2"], ["{fx}/fx_stale_vector_o2"]),
    "cxx_replace": (["{fx}/fx_cxx_replace"], ["{fx}/fx_cxx_replace"]),
    "rust_leak": (["{fx}/fx_rust_leak"], ["{fx}/fx_rust_leak"]),
    "rust_leak_o2": (["{fx}/fx_rust_leak_o2"], ["{fx}/fx_rust_leak_o2"]),
    "vma_merge_below": (["{fx}/fx_vma_merge", "below"], ["{fx}/fx_vma_merge"],
                        ["{fx}/fx_vma_merge", "apart"]),
    "vma_merge_above": (["{fx}/fx_vma_merge", "above"], ["{fx}/fx_vma_merge"],
                        ["{fx}/fx_vma_merge", "apart"]),
}
for _mode in ("loop", "objects", "exit"):
    for _fx in ("fx_stale_stack", "fx_stale_stack_o2"):
        PROGRAMS["%s_%s" % (_fx[3:], _mode)] = (["{fx}/" + _fx, _mode], ["{fx}/" + _fx])
for _fx in ("seed", "loop_leak", "deep", "two_paths", "clean", "invalid_free", "alloc_wrappers",
            "freed_buffer"):
    PROGRAMS[_fx] = (["{fx}/fx_" + _fx], ["{fx}/fx_" + _fx])
# Valgrind 3.19 aborts the program at pvalloc: both run without it.
PROGRAMS["family"] = (["{fx}/fx_family", "nopvalloc"], ["{fx}/fx_family"])
# Bad frees: memcheck goes on after one too; the leak kinds must agree.
# (thread_stack: a second thread's DTV, see docs/report-format.md.)
for _mode in ("stack", "interior", "double", "global", "mmap"):
    PROGRAMS["bad_free_" + _mode] = (["{fx}/fx_bad_free_where", _mode], ["{fx}/fx_bad_free_where"])
for _mode in ("global", "tree", "cycle", "interior", "tls", "mmap"):
    PROGRAMS["kinds_" + _mode] = (["{fx}/fx_kinds", _mode], ["{fx}/fx_kinds"])
# The same scenarios with another allocator linked in: memcheck replaces its
# functions too when told their library's name (--soname-synonyms).
VALGRIND_OPTIONS = {}
for _alloc in ("jemalloc", "tcmalloc", "mimalloc"):
    for _mode in ("global", "tree", "cycle", "interior"):
        _name = "kinds_%s_%s" % (_mode, _alloc)
        PROGRAMS[_name] = (["{fx}/fx_kinds_" + _alloc, _mode], ["{fx}/fx_kinds_" + _alloc])
        VALGRIND_OPTIONS[_name] = ["--soname-synonyms=somalloc=*%s*" % _alloc]


# Functions whose blocks are kept by an aligned interior pointer.
ALIGNMENT_DEPENDENT = ("_dlfo_mappings_segment_allocate",)
LOOSE_KINDS = ("possibly_lost", "still_reachable")

VG_RECORD = re.compile(r"^==\d+== ([\d,]+) (?:\(([\d,]+) direct, [\d,]+ indirect\) )?bytes in "
                       r"([\d,]+) blocks are (definitely lost|indirectly lost|possibly lost|"
                       r"still reachable) in loss record", re.M)


def num(text):
    return int(text.replace(",", ""))


def valgrind_aligned(text):
    """(bytes, blocks) by kind of Valgrind's loss records allocated in an
    ALIGNMENT_DEPENDENT function."""
    out = {}
    for m in VG_RECORD.finditer(text):
        frames = []
        for line in text[m.end():].split("\n")[1:]:
            if not re.match(r"==\d+==\s+(at|by) ", line):
                break
            frames.append(line)
        stack = "\n".join(frames)
        if any(fn in stack for fn in ALIGNMENT_DEPENDENT):
            k = VG_NAMES[m.group(4)]
            nbytes = num(m.group(2) or m.group(1))
            b, n = out.get(k, (0, 0))
            out[k] = (b + nbytes, n + num(m.group(3)))
    return out


def memtrace_aligned(proc):
    out = {}
    for r in proc["leaks"]:
        if any(f.get("function") in ALIGNMENT_DEPENDENT for f in r["stack"] or []):
            b, n = out.get(r["kind"], (0, 0))
            out[r["kind"]] = (b + r["bytes"], n + r["blocks"])
    return out


def loosen(kinds, aligned):
    """kinds with the alignment-dependent blocks of LOOSE_KINDS taken out,
    and their sum over those kinds."""
    out = dict(kinds)
    total = (0, 0)
    for k in LOOSE_KINDS:
        b, n = aligned.get(k, (0, 0))
        out[k] = (out[k][0] - b, out[k][1] - n)
        total = (total[0] + b, total[1] + n)
    return out, total


def program_environments():
    """(valgrind's, memtrace's) environments for the program. Valgrind adds
    variables to the program's environment (LD_PRELOAD with its preload
    libraries, GLIBCXX_FORCE_NEW, ...), and programs that copy their
    environment (bash, perl, setenv) allocate by it: memtrace's run gets
    the same variables, LD_PRELOAD under another name of the same length
    (ld.so must not load Valgrind's libraries outside Valgrind). Both runs
    start from this environment without "_", which shells set to the
    command they run, and with perl's and python's hash seeds fixed."""
    base = {k: v for k, v in os.environ.items() if k != "_"}
    # perl and python seed their hash functions at random: hashes grow
    # differently in each run, and with them what they allocate.
    base.update(PERL_HASH_SEED="0", PERL_PERTURB_KEYS="0", PYTHONHASHSEED="0")
    p = subprocess.run(["valgrind", "-q", "/usr/bin/env", "-0"], env=base, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    seen = dict(v.split("=", 1) for v in p.stdout.decode("utf-8", "replace").split("\0") if "=" in v)
    mine = dict(base)
    for k, v in seen.items():
        if k not in base and k != "_":
            mine["MT_PRELOAD" if k == "LD_PRELOAD" else k] = v
    return base, mine


ENVS = {}


def valgrind_kinds(argv, log, options=()):
    cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--run-libc-freeres=no",
           "--run-cxx-freeres=no", "--log-file=" + log] + list(options) + argv
    subprocess.run(cmd, env=ENVS["valgrind"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600)
    with open(log) as fh:
        text = fh.read()
    kinds = dict.fromkeys(KINDS, (0, 0))
    if "All heap blocks were freed" in text:
        return kinds, text
    found = re.findall(r"(definitely lost|indirectly lost|possibly lost|still reachable): "
                       r"([\d,]+) bytes in ([\d,]+) blocks", text)
    if not found:
        raise RuntimeError("no LEAK SUMMARY in valgrind's log %s" % log)
    for name, nbytes, blocks in found:
        kinds[VG_NAMES[name]] = (num(nbytes), num(blocks))
    return kinds, text


def memtrace_kinds(memtrace, argv, report):
    # The whole heap, as Valgrind's: memtrace's default suppressions off.
    cmd = [memtrace, "run", "--no-default-suppressions", "--json", report, "--"] + argv
    p = subprocess.run(cmd, env=ENVS["memtrace"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=600, text=True)
    with open(report) as fh:
        doc = json.load(fh)
    procs = doc["processes"]
    if len(procs) != 1:
        raise RuntimeError("memtrace reported %d processes for %s" % (len(procs), argv))
    s = procs[0]["summary"]
    if not s.get("classified"):
        raise RuntimeError("memtrace did not classify the blocks of %s: %s" % (argv, p.stderr))
    return {k: (s[k]["bytes"], s[k]["blocks"]) for k in KINDS}, procs[0]


def valgrind_bad_frees(text):
    """Double and invalid frees: memcheck names both "Invalid free()"."""
    return len(re.findall(r"^==\d+== Invalid free\(\)", text, re.M))


def fmt(pair):
    return "%d/%d" % pair


def compare(name, memtrace, fixtures_dir, workdir):
    argv, needs = PROGRAMS[name][:2]
    vg_argv = PROGRAMS[name][2] if len(PROGRAMS[name]) > 2 else argv
    argv = [a.replace("{fx}", fixtures_dir or "") for a in argv]
    vg_argv = [a.replace("{fx}", fixtures_dir or "") for a in vg_argv]
    for n in needs:
        n = n.replace("{fx}", fixtures_dir or "")
        if not os.path.exists(n):
            print("%s: %s missing" % (name, n))
            return False
    vg, vg_text = valgrind_kinds(vg_argv, os.path.join(workdir, name + ".vg"),
                                 VALGRIND_OPTIONS.get(name, ()))
    mt, proc = memtrace_kinds(memtrace, argv, os.path.join(workdir, name + ".json"))
    mt_rest, mt_loose = loosen(mt, memtrace_aligned(proc))
    vg_rest, vg_loose = loosen(vg, valgrind_aligned(vg_text))
    print("%s: %s" % (name, " ".join(argv)))
    if vg_argv != argv or name in VALGRIND_OPTIONS:
        print("  valgrind: %s" % " ".join(VALGRIND_OPTIONS.get(name, []) + vg_argv))
    print("  %-16s %18s %18s" % ("kind", "memtrace", "valgrind"))
    for k in KINDS:
        if mt[k] == vg[k]:
            mark = ""
        elif k in LOOSE_KINDS and mt_rest[k] == vg_rest[k]:
            mark = "   (alignment-dependent blocks: compared by their sum)"
        else:
            mark = "   <-- differs"
        print("  %-16s %18s %18s%s" % (k, fmt(mt[k]), fmt(vg[k]), mark))
    mt_bad, vg_bad = proc["summary"]["errors"], valgrind_bad_frees(vg_text)
    print("  %-16s %18d %18d%s" % ("bad frees", mt_bad, vg_bad, "" if mt_bad == vg_bad else
                                   "   <-- differs"))
    if mt_loose != (0, 0) or vg_loose != (0, 0):
        print("  %-16s %18s %18s%s" % ("aligned blocks", fmt(mt_loose), fmt(vg_loose),
                                       "" if mt_loose == vg_loose else "   <-- differs"))
    return mt_rest == vg_rest and mt_loose == vg_loose and mt_bad == vg_bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memtrace")
    ap.add_argument("--fixtures-dir")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    if a.list:
        print("\n".join(PROGRAMS))
        return 0
    names = list(PROGRAMS) if a.all else a.names
    unknown = [n for n in names if n not in PROGRAMS]
    if not a.memtrace or not names or unknown:
        print("compare.py: give --memtrace and known program names (--list)%s" % (
            ": unknown " + ", ".join(unknown) if unknown else ""), file=sys.stderr)
        return 2
    if not shutil.which("valgrind"):
        print("compare.py: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    ENVS["valgrind"], ENVS["memtrace"] = program_environments()
    equal = True
    with tempfile.TemporaryDirectory(prefix="memtrace-vg-") as work:
        for n in names:
            if not compare(n, a.memtrace, a.fixtures_dir, work):
                equal = False
    print("all equal" if equal else "DIFFERENCES")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
