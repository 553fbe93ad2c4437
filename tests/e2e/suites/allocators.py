"""Other allocators: jemalloc, tcmalloc and mimalloc, linked into the
program and preloaded (LD_PRELOAD). memtrace hooks the definitions the
program's calls bind to (the allocator library's), counts the same blocks
and kinds as with glibc's malloc (tests/valgrind compares them with
memcheck), and reports the library's own mappings as allocator arenas, not
as the program's. Debian's libjemalloc2, libtcmalloc-minimal4 and
libmimalloc2.0 are installed by quickstart.sh: a missing one fails."""
import os

from memtrace_e2e.checks import Failure, base, check, check_true
from memtrace_e2e.expect import check_exited, check_kinds
from memtrace_e2e.run import json_path_for, load_traced, memtrace, trace

LIBDIR = "/usr/lib/x86_64-linux-gnu"
ALLOCATORS = {"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4",
              "mimalloc": "libmimalloc.so.2"}
# fx_kinds tree: the tree's root definitely lost (32 bytes) with its six
# nodes indirectly lost, and the lost 11-byte block; what each allocator
# adds, as memcheck counts it too: libstdc++'s exception pool (jemalloc and
# tcmalloc link libstdc++), tcmalloc's constructors' two blocks (8 bytes
# lost, 16 kept).
KINDS = {
    "jemalloc": dict(definite=(43, 2), indirect=(192, 6), reachable=(72704, 1)),
    "tcmalloc": dict(definite=(51, 3), indirect=(192, 6), reachable=(72720, 2)),
    "mimalloc": dict(definite=(43, 2), indirect=(192, 6), reachable=(0, 0)),
}


def hooked_in(proc, function):
    """The module (base name, without its version) where function is hooked."""
    mods = [base(h["module"]) for h in proc["hooks"] if h["function"] == function]
    return mods[0].split(".so")[0] if mods else None


def check_allocator_run(proc, name, fast):
    check("malloc hooked in", "lib" + name.replace("tcmalloc", "tcmalloc_minimal"),
          hooked_in(proc, "malloc"))
    check("free hooked in", hooked_in(proc, "malloc"), hooked_in(proc, "free"))
    check_true("every hook %s" % ("on a stub" if fast else "on a breakpoint"),
               all(h["how"] == ("stub" if fast else "breakpoint") for h in proc["hooks"]),
               repr([(h["symbol"], h["how"]) for h in proc["hooks"] if
                     h["how"] != ("stub" if fast else "breakpoint")]))
    check("mappings of the program (the allocator's are arenas)", [],
          [(m["kind"], m["bytes"]) for m in proc["mappings"]])
    check_true("allocator_arenas is counted", isinstance(proc["allocator_arenas"]["bytes"], int),
               repr(proc.get("allocator_arenas")))


def definite_records(proc):
    """The program's definitely lost records (not the allocator's own)."""
    return sorted((r["bytes"], r["allocator"], r["stack"][0].get("function"))
                  for r in proc["leaks"] if r["kind"] == "definitely_lost" and
                  base(r["stack"][0].get("file")) == "kinds.c")


def run_linked(env, name, opts):
    fixture = "kinds_" + name
    if not os.path.exists(env.fixture(fixture)):
        raise Failure("%s is missing: is %s installed? (quickstart.sh installs it)" %
                      (env.fixture(fixture), ALLOCATORS[name]))
    t = trace(env, fixture, ["tree"], opts=opts, status=0)
    check_exited(t, 0)
    return t.process


def run_preloaded(env, name, opts):
    lib = os.path.join(LIBDIR, ALLOCATORS[name])
    if not os.path.exists(lib):
        raise Failure("%s is missing (quickstart.sh installs it)" % lib)
    json_path = json_path_for(env, "preload_" + name)
    p = memtrace(env, ["run", "--json", json_path] + opts +
                 ["--", "/usr/bin/env", "LD_PRELOAD=" + lib, env.fixture("kinds"), "tree"])
    check("memtrace exit status", 0, p.returncode)
    t = load_traced(env, p, json_path)
    procs = t.doc["processes"]
    check("process records (env's image, then fx_kinds')", 2, len(procs))
    return procs[-1]


def case_allocators_linked_and_preloaded(env):
    """Each allocator, linked and preloaded, with and without --fast: the
    tree's kinds, the leak at lose(), malloc and free hooked in the
    allocator's library, no mapping of the program's reported."""
    want = [(11, "malloc", "lose"), (32, "malloc", "lose_tree")]
    for name in ALLOCATORS:
        for opts in ([], ["--fast"]):
            for how, run in (("linked", run_linked), ("preloaded", run_preloaded)):
                proc = run(env, name, opts)
                what = "%s %s%s" % (name, how, " --fast" if opts else "")
                check_kinds(proc, **KINDS[name])
                check(what + ": definitely lost records", want, definite_records(proc))
                check_allocator_run(proc, name, bool(opts))
