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
from memtrace_e2e.run import json_path_for, load_traced, memtrace, run, trace

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


# jemalloc's TLS is initial-exec: dlopen needs room in the static TLS block.
STATIC_TLS = "GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536"
TWO_DL = "two_allocators_dl.c"
TWO = "two_allocators.c"


def run_two_allocators(env, mode, opts):
    """fx_two_allocators MODE (through env, for the TLS tunable): the
    fixture's process record."""
    json_path = json_path_for(env, "two_allocators_" + mode)
    p = memtrace(env, ["run", "--json", json_path] + opts +
                 ["--", "/usr/bin/env", STATIC_TLS, env.fixture("two_allocators"), mode])
    check("memtrace exit status", 0, p.returncode)
    t = load_traced(env, p, json_path)
    procs = t.doc["processes"]
    check("process records (env's image, then the fixture's)", 2, len(procs))
    check("the fixture's exit", ("exited", 0), (procs[-1]["end"], procs[-1]["exit_code"]))
    return procs[-1], p.stderr


def frame_of(stack, source):
    f = next((f for f in stack if base(f.get("file")) == source), {})
    return f.get("function"), f.get("line")


def case_allocators_two_in_one_process(env):
    """glibc's malloc in the program, jemalloc's mallocx and dallocx in a
    library it dlopens: both tracked, each hooked in its own library, the
    leaks of each at their lines, the library's pair freed, jemalloc's
    own mappings counted as allocator arenas."""
    for opts in ([], ["--fast"]):
        proc, _ = run_two_allocators(env, "clean", opts)
        hooked = {h["symbol"]: base(h["module"]) for h in proc["hooks"]}
        check("hooks: malloc, free, mallocx, dallocx",
              ["libc.so.6", "libc.so.6", "libjemalloc.so.2", "libjemalloc.so.2"],
              [hooked.get(s) for s in ("malloc", "free", "mallocx", "dallocx")])
        lost = sorted((r["bytes"], r["blocks"], frame_of(r["stack"], TWO_DL),
                       frame_of(r["stack"], TWO)) for r in proc["leaks"]
                      if r["kind"] == "definitely_lost")
        check("definitely lost records (bytes, blocks, library frame, program frame)" +
              (" --fast" if opts else ""), [
                  (24, 1, (None, None), ("main", env.line(TWO, "glibc_leak"))),
                  (48, 1, ("fx_dl_record", env.line(TWO_DL, "dl_record")),
                   ("main", env.line(TWO, "dl_leak")))], lost)
        check("errors", [], proc["errors"])
        check("mappings of the program (jemalloc's are arenas)", [],
              [(m["kind"], m["bytes"]) for m in proc["mappings"]])
        check_true("jemalloc's arena is counted: %r" % proc["allocator_arenas"],
                   proc["allocator_arenas"]["mappings"] >= 1)


def case_allocators_free_through_the_other_allocator(env):
    """A jemalloc block released by glibc's free and a glibc block by
    jemalloc's dallocx: each a mismatched_free naming both libraries, with
    the bad call's and the allocation's stacks; memtrace skips both (either
    would corrupt the other allocator: natively the program aborts), so
    the program goes on and exits 0."""
    native = run(["/usr/bin/env", STATIC_TLS, env.fixture("two_allocators"), "bad"],
                 "native fx_two_allocators bad")
    check_true("natively, the first bad free kills the program (status %d)" % native.returncode,
               native.returncode != 0)
    want = [
        ("mismatched_free", "free", "libjemalloc.so.2", "libc.so.6", 64, True,
         ("main", env.line(TWO, "free_of_jemalloc")),
         ("fx_dl_record", env.line(TWO_DL, "dl_record"))),
        ("mismatched_free", "free", "libc.so.6", "libjemalloc.so.2", 32, True,
         ("fx_dl_drop", env.line(TWO_DL, "dl_drop")), (None, None)),
    ]
    for opts in ([], ["--fast"]):
        proc, stderr = run_two_allocators(env, "bad", opts)
        got = [(e["kind"], e["function"], base(e.get("allocator_library")),
                base(e.get("release_library")), e["size"], e["skipped"],
                frame_of(e["stack"], TWO if e["stack"][0].get("function") == "main" else TWO_DL),
                frame_of(e["alloc_stack"], TWO_DL)) for e in proc["errors"]]
        check("errors" + (" --fast" if opts else ""), want, got)
        check_true("the glibc block's allocation stack is main's line",
                   frame_of(proc["errors"][1]["alloc_stack"], TWO) ==
                   ("main", env.line(TWO, "glibc_for_dallocx")))
        check("summary errors", 2, proc["summary"]["errors"])
        needle = ("Mismatched free() / delete / delete []: free() of %s/libc.so.6 on a block of "
                  "64 bytes allocated by malloc() of %s/libjemalloc.so.2" % (LIBDIR, LIBDIR))
        check_true("the text names both libraries: " + needle, needle in stderr, stderr[-3000:])
