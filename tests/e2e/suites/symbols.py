"""Symbolization: memtrace on every variant of fixtures/symbols (ctest
symbols_<case>; --fixtures-dir is the build's fixtures/symbols: programs,
libraries, debug roots; --source-dir is fixtures/symbols).

Every variant with debug info must report the same function, file basename
and line as the plain -g build; variants without report what
.symtab/.dynsym say, or module+offset with the module's build-id.  A case
skips when a tool it compares with is missing.
"""
import os
import re
import shutil
import subprocess

from memtrace_e2e.checks import Failure, Skip, base, check, check_true, frame_str, log, stack_str
from memtrace_e2e.expect import check_kinds, dlfo_split
from memtrace_e2e.run import json_path_for, load_traced, memtrace
from memtrace_e2e.shape import check_frames_sane

GROUP = "symbols"


def trace(env, prog, args=(), opts=(), extra_env=None, name=None):
    """memtrace run --json FILE OPTS -- PROG ARGS; returns a Traced whose
    exit status is 0 (the program's) and whose frames are well formed."""
    json_path = json_path_for(env, name or base(prog))
    p = memtrace(env, ["run", "--json", json_path] + list(opts) + ["--", prog] + list(args),
                 extra_env=extra_env)
    t = load_traced(env, p, json_path)
    check("memtrace exit status (the program's)", 0, t.status)
    check_frames_sane(t.doc)
    return t


def check_record_kinds(t, records, **totals):
    """RECORDS: [(what, record, kind)]: each record's kind; then the four
    kind totals of the summary (definite=, indirect=, possible=,
    reachable=), as (bytes, blocks), exactly (they add up to unfreed).  The
    expectations are Valgrind 3.19's for the same program (memcheck
    --leak-check=full --show-leak-kinds=all); where Valgrind's
    __libc_freeres or libstdc++'s freeres release a block at exit (stdio
    buffers, dlopen bookkeeping, the C++ emergency exception pool) they are
    its numbers with --run-libc-freeres=no --run-cxx-freeres=no, since
    memtrace does not change what the program does."""
    for what, rec, kind in records:
        check("kind of the %s record" % what, kind, rec["kind"])
    check_kinds(t, **totals)


def check_symfx_kinds(t):
    """symfx.c: the 37-byte record is definitely lost (sym_sink was
    overwritten); the FILE of fopen still reachable (glibc keeps it on its
    list of open streams).  Valgrind: 37 bytes definitely lost, 472 still
    reachable."""
    f = fopen_leak(t)
    check_record_kinds(t, [("37-byte", t.leak(37), "definitely_lost"),
                           ("fopen", f, "still_reachable")],
                       definite=(37, 1), reachable=(f["bytes"], 1))


def in_module(stack, module_base):
    return [f for f in stack if base(f["module"]) == module_base]


def src(frames):
    """(function, file basename, line) of each frame."""
    return [(f["function"], base(f["file"]), f["line"]) for f in frames]


def build_id_of(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    m = re.search(r"Build ID:\s*([0-9a-f]+)", out)
    return m.group(1) if m else None


# The two leaks of symfx.c, as the plain build reports them: the frames in
# the program, and (fopen) the frames in libc.
def symfx_expected(env):
    return {
        37: [("make_record", "symfx.c", env.line("symfx.c", "record_malloc")),
             ("main", "symfx.c", env.line("symfx.c", "main_record"))],
        "fopen": [("open_log", "symfx.c", env.line("symfx.c", "fopen")),
                  ("main", "symfx.c", env.line("symfx.c", "main_fopen"))],
    }


def fopen_leak(t):
    """The record whose stack passes through open_log (or its offset)."""
    recs = [r for r in t.leaks if r["bytes"] != 37]
    if len(recs) != 1:
        raise Failure("expected one leak besides the 37-byte one, got %d" % len(recs))
    return recs[0]


def symfx_frames(t, module_base):
    """The first two frames in the program (below them: _start)."""
    return {37: in_module(t.leak(37)["stack"], module_base)[:2],
            "fopen": in_module(fopen_leak(t)["stack"], module_base)[:2]}


def compare_variant(env, plain, variant, module_base):
    got = symfx_frames(variant, module_base)
    want = symfx_frames(plain, base(plain.doc["processes"][0]["command"][0]))
    for key in (37, "fopen"):
        check("%s: leak %s, frames in the program" % (module_base, key),
              src(want[key]), src(got[key]))
        check("%s: leak %s, offsets" % (module_base, key),
              [f["offset"] for f in want[key]], [f["offset"] for f in got[key]])
    # libc is the same file in both runs.
    check("%s: fopen leak, frames in libc" % module_base,
          src([f for f in fopen_leak(plain)["stack"] if base(f["module"]).startswith("libc.")]),
          src([f for f in fopen_leak(variant)["stack"] if base(f["module"]).startswith("libc.")]))
    check_symfx_kinds(variant)


def check_plain_symfx(env, t, module_base):
    exp = symfx_expected(env)
    got = symfx_frames(t, module_base)
    check("plain %s: 37-byte leak" % module_base, exp[37], src(got[37]))
    check("plain %s: fopen leak" % module_base, exp["fopen"], src(got["fopen"]))
    check("plain %s: no warnings" % module_base, [], t.warnings())
    check_symfx_kinds(t)


def case_variants_pie(env):
    plain = trace(env, env.path("fx_sym_plain"))
    check_plain_symfx(env, plain, "fx_sym_plain")
    root = env.path("debugroot")
    variants = [
        ("fx_sym_buildid", ["--debug-dir", root], None),
        ("fx_sym_buildid", [], {"MEMTRACE_DEBUG_DIRS": "/nonexistent:" + root}),
        ("fx_sym_debuglink", [], None),
        ("fx_sym_dotdebug", [], None),
        ("fx_sym_rootdir", ["--debug-dir", env.path("debugroot-dirs")], None),
    ]
    for i, (name, opts, extra) in enumerate(variants):
        t = trace(env, env.path(name), opts=opts, extra_env=extra, name="%s-%d" % (name, i))
        compare_variant(env, plain, t, name)
        warnings = [w for w in t.warnings() if "/nonexistent" not in w]
        check("%s: warnings" % name, [], warnings)


def case_variants_nopie(env):
    plain = trace(env, env.path("fx_sym_nopie_plain"))
    check_plain_symfx(env, plain, "fx_sym_nopie_plain")
    t = trace(env, env.path("fx_sym_nopie_buildid"), opts=["--debug-dir", env.path("debugroot")])
    compare_variant(env, plain, t, "fx_sym_nopie_buildid")
    check("non-PIE: same absolute addresses",
          [f["address"] for f in in_module(plain.leak(37)["stack"], "fx_sym_nopie_plain")],
          [f["address"] for f in in_module(t.leak(37)["stack"], "fx_sym_nopie_buildid")])


def check_no_symbols(env, plain, t, name):
    want = symfx_frames(plain, base(plain.doc["processes"][0]["command"][0]))
    got = symfx_frames(t, name)
    bid = build_id_of(env.path(name))
    for key in (37, "fopen"):
        check("%s leak %s: no function, file or line" % (name, key),
              [(None, None, None)] * len(want[key]), src(got[key]))
        check("%s leak %s: offsets as in the plain build" % (name, key),
              [f["offset"] for f in want[key]], [f["offset"] for f in got[key]])
        check("%s leak %s: build-ids" % (name, key), [bid] * len(got[key]),
              [f["build_id"] for f in got[key]])
    check_symfx_kinds(t)
    off = got[37][0]["offset"]
    needle = "%s+%s" % (name, off)
    check_true("text report shows %s" % needle, needle in t.stderr, t.stderr[-3000:])


def case_no_debug_info(env):
    plain = trace(env, env.path("fx_sym_plain"))
    t = trace(env, env.path("fx_sym_nodebug"))
    check_no_symbols(env, plain, t, "fx_sym_nodebug")
    # The build-id is what an offline symbolizer needs: the same as plain's.
    check("build-id of the stripped binary is the plain build's",
          in_module(plain.leak(37)["stack"], "fx_sym_plain")[0]["build_id"],
          in_module(t.leak(37)["stack"], "fx_sym_nodebug")[0]["build_id"])
    plain = trace(env, env.path("fx_sym_nopie_plain"))
    t = trace(env, env.path("fx_sym_nopie_nodebug"))
    check_no_symbols(env, plain, t, "fx_sym_nopie_nodebug")


def case_symtab_and_dynsym(env):
    exp = symfx_expected(env)
    for name in ("fx_sym_symtab", "fx_sym_dynsym"):
        t = trace(env, env.path(name))
        got = symfx_frames(t, name)
        for key in (37, "fopen"):
            check("%s leak %s: names from the symbol table, no lines" % (name, key),
                  [(fn, None, None) for fn, _, _ in exp[key]], src(got[key]))
        needle = "make_record (in %s)" % env.path(name)
        check_true("text report shows %r" % needle, needle in t.stderr, t.stderr[-3000:])
        check_symfx_kinds(t)


def case_mismatched_debug_file(env):
    t = trace(env, env.path("fx_sym_mismatch"))
    prog = env.path("fx_sym_mismatch")
    w = t.warnings()
    check("one warning", 1, len(w))
    check_true("the warning names both files",
               (prog + ".debug") in w[0] and (prog + " (build-id ") in w[0], w[0])
    check_true("the warning says why", "does not match" in w[0], w[0])
    got = symfx_frames(t, "fx_sym_mismatch")
    check("no names from the wrong debug file", [None] * len(got[37]),
          [f["function"] for f in got[37]])
    check_symfx_kinds(t)


def case_debuglink_crc(env):
    plain = trace(env, env.path("fx_sym_noid_plain"))
    check_plain_symfx(env, plain, "fx_sym_noid_plain")
    t = trace(env, env.path("fx_sym_noid_debuglink"))
    compare_variant(env, plain, t, "fx_sym_noid_debuglink")
    check("no build-id in a binary linked without one", [None],
          list({f["build_id"] for f in in_module(t.leak(37)["stack"], "fx_sym_noid_debuglink")}))
    check("no warnings", [], t.warnings())
    t = trace(env, env.path("fx_sym_noid_badcrc"))
    w = t.warnings()
    check("one warning for the changed debug file", 1, len(w))
    check_true("it is about the CRC and names both files",
               "CRC" in w[0] and env.path("fx_sym_noid_badcrc.debug") in w[0]
               and w[0].endswith(env.path("fx_sym_noid_badcrc")), w[0])
    got = symfx_frames(t, "fx_sym_noid_badcrc")
    check("no names", [None] * len(got[37]), [f["function"] for f in got[37]])


def shlib_expected(env):
    return [("shared_make", "symshared.c", env.line("symshared.c", "shared_malloc")),
            ("main", "shlib_main.c", env.line("shlib_main.c", "main_shared"))]


def case_shared_library(env):
    # Valgrind: the 41 bytes still reachable (shared_sink, a global of the
    # library), the other kinds 0/0.
    prog = env.path("fx_sym_shlib")
    t = trace(env, prog)
    check_record_kinds(t, [("41-byte", t.leak(41), "still_reachable")], reachable=(41, 1))
    stack = t.leak(41)["stack"]
    check("leak in libsymshared.so", shlib_expected(env), src(stack[:2]))
    check("modules", ["libsymshared.so", "fx_sym_shlib"], [base(f["module"]) for f in stack[:2]])
    stripped = os.path.join(env.fixtures_dir, "stripped")
    t = trace(env, prog, opts=["--debug-dir", env.path("debugroot")],
              extra_env={"LD_LIBRARY_PATH": stripped}, name="shlib-stripped")
    stack = t.leak(41)["stack"]
    check("stripped library with its build-id debug file", shlib_expected(env), src(stack[:2]))
    check("the stripped copy was loaded", os.path.join(stripped, "libsymshared.so"),
          stack[0]["module"])
    t = trace(env, prog, extra_env={"LD_LIBRARY_PATH": stripped}, name="shlib-nodebug")
    f = t.leak(41)["stack"][0]
    check("stripped library without debug info: the name from .dynsym, no line",
          ("shared_make", None, None), src([f])[0])
    check("... but its build-id", build_id_of(os.path.join(stripped, "libsymshared.so")),
          f["build_id"])


def case_dlopen_dlclose(env):
    # Valgrind: 53 bytes (alpha's, whose dl_sink went with the dlclosed
    # library) definitely lost; 67 (omega's, main_sink still points to it)
    # and 41 still reachable; with --run-libc-freeres=no also printf's
    # 4,096-byte stdout buffer still reachable and 4,608 bytes in 2 blocks
    # possibly lost (_dlfo_mappings_segment_allocate, dlopen's bookkeeping:
    # glibc keeps an aligned pointer into them): definitely lost 53/1,
    # indirectly 0/0, possibly 4,608/2, still reachable 4,204/3.
    alpha, omega = env.path("libsymdl_alpha.so"), env.path("libsymdl_omega.so")
    t = trace(env, env.path("fx_sym_shlib"), args=[alpha, omega])
    dlfo = [r for r in t.leaks if any(f["function"] == "_dlfo_mappings_segment_allocate"
                                      for f in r["stack"])]
    check("blocks of _dlfo_mappings_segment_allocate", 2, sum(r["blocks"] for r in dlfo))
    # Possibly lost (glibc keeps a pointer rounded up to 64 bytes into them),
    # or still reachable when malloc returned a 64-byte aligned block: the
    # heap layout depends on path lengths (a CI clone got one).
    check("kinds of the _dlfo_mappings_segment_allocate records", [],
          [r["kind"] for r in dlfo if r["kind"] not in ("possibly_lost", "still_reachable")])
    # The possibly lost ones are suppressed by default (dlfo_split).
    possible, (reach_bytes, reach_blocks) = dlfo_split(dlfo)
    check_record_kinds(t, [("53-byte", t.leak(53), "definitely_lost"),
                           ("67-byte", t.leak(67), "still_reachable"),
                           ("41-byte", t.leak(41), "still_reachable"),
                           ("stdout buffer", t.leak(4096), "still_reachable")]
                       + [("_dlfo_mappings_segment_allocate", r, r["kind"]) for r in dlfo],
                       definite=(53, 1), possible=possible,
                       reachable=(41 + 67 + 4096 + reach_bytes, 3 + reach_blocks))
    line = env.line("symdl.c", "dl_malloc")
    for nbytes, which in ((53, "alpha"), (67, "omega")):
        stack = t.leak(nbytes)["stack"]
        check("%d-byte leak (dlclosed %s)" % (nbytes, which),
              [("dl_%s_make" % which, "symdl.c", line),
               ("main", "shlib_main.c", env.line("shlib_main.c", "main_" + which))],
              src(stack[:2]))
        check("module", "libsymdl_%s.so" % which, base(stack[0]["module"]))
    addrs = dict(re.findall(r"^(alpha|omega)=(0x[0-9a-f]+)$", t.stdout, re.M))
    same = addrs.get("alpha") == addrs.get("omega")
    log("note: omega was loaded %s alpha's addresses (%s)" % (
        "at" if same else "elsewhere than", addrs))
    if same:
        check("both leaks' first frames have the same address, told apart by generation",
              t.leak(53)["stack"][0]["address"], t.leak(67)["stack"][0]["address"])


def check_inline(env, t, module_base):
    stack = t.leak(48)["stack"]
    want = [("grab", "inline.c", env.line("inline.c", "grab_malloc")),
            ("grab_twice", "inline.c", env.line("inline.c", "twice_grab")),
            ("build_node", "inline.c", env.line("inline.c", "node_grab")),
            ("main", "inline.c", env.line("inline.c", "main_node"))]
    check("%s: inline chain then main" % module_base, want, src(stack[:4]))
    check("%s: inlined flags" % module_base, [True, True, False, False],
          [f["inlined"] for f in stack[:4]])
    check("%s: one address for the chain" % module_base, 1,
          len({f["address"] for f in stack[:3]}))
    addr = stack[0]["address"]
    lines = [l for l in t.stderr.splitlines() if (": %s (" % "grab") in l or addr in l]
    text = "\n".join(lines)
    for fn, file, line in want[:3]:
        check_true("text report has %s (%s:%d) at %s" % (fn, file, line, addr),
                   re.search(r"%s: %s \(%s:%d\)" % (addr, re.escape(fn), file, line), text)
                   is not None, text)


def case_inline_chain(env):
    # Valgrind: the 48 bytes still reachable (inl_sink, a global), the
    # other kinds 0/0.  --show-reachable: the text report lists the record.
    for name, opts in (("fx_sym_inline", []),
                       ("fx_sym_inline_buildid", ["--debug-dir", env.path("debugroot")])):
        t = trace(env, env.path(name), opts=["--show-reachable"] + opts)
        check_record_kinds(t, [("48-byte", t.leak(48), "still_reachable")], reachable=(48, 1))
        check_inline(env, t, name)


def check_cxx(env, t):
    rec = t.leak(512)
    vec = rec["stack"]
    check("the vector's data: allocated by operator new", "new", rec["allocator"])
    check("frame 0 is operator new's caller, demangled, with its mangled name",
          ("std::__new_allocator<int>::allocate(unsigned long, void const*)",
           "_ZNSt15__new_allocatorIiE8allocateEmPKv"),
          (vec[0]["function"], vec[0]["mangled"]))
    check_true("no frame in libstdc++ above it (operator new is not a frame)",
               not base(vec[0]["module"]).startswith("libstdc++"), vec[0]["module"])
    realloc = [f for f in vec if (f["function"] or "").startswith(
        "void std::vector<int, std::allocator<int> >::_M_realloc_insert")]
    check_true("a demangled _M_realloc_insert frame", len(realloc) == 1, stack_str(vec))
    check_true("... with its mangled name", (realloc[0]["mangled"] or "").startswith("_ZNSt6vector"),
               repr(realloc[0]["mangled"]))
    user = [f for f in vec if base(f["file"]) == "cxx.cc"]
    check("the user's frames", [
        ("fill(std::vector<int, std::allocator<int> >&, int)", "cxx.cc", env.line("cxx.cc", "push")),
        ("main", "cxx.cc", env.line("cxx.cc", "main_fill"))], src(user))
    check("fill's mangled name", "_Z4fillRSt6vectorIiSaIiEEi", user[0]["mangled"])
    check("main has no mangled name", None, user[1]["mangled"])
    obj = t.leak(24)
    check("the vector object: allocated by operator new in main", ("new", "main"),
          (obj["allocator"], obj["stack"][0]["function"]))
    check("... at new_vector", env.line("cxx.cc", "new_vector"), obj["stack"][0]["line"])
    needle = "fill(std::vector<int, std::allocator<int> >&, int) (cxx.cc:%d)" % env.line(
        "cxx.cc", "push")
    check_true("text report shows %r" % needle, needle in t.stderr, t.stderr[-3000:])


def case_cxx(env):
    # Valgrind: the vector object (24) and its data (512) still reachable
    # (keep, a global); with --run-cxx-freeres=no also libstdc++'s
    # emergency exception pool (72,704 bytes, allocated at start-up)
    # still reachable: 73,240 bytes in 3 blocks, the other kinds 0/0.
    # --show-reachable: the text report lists them.
    if not os.path.exists(os.path.join(env.fixtures_dir, "fx_sym_cxx")):
        raise Skip("no C++ compiler: fx_sym_cxx not built")
    for name, opts in (("fx_sym_cxx", []),
                       ("fx_sym_cxx_buildid", ["--debug-dir", env.path("debugroot")])):
        t = trace(env, env.path(name), opts=["--show-reachable"] + opts)
        pool = [r for r in t.leaks if r["bytes"] not in (512, 24)]
        check("records besides the vector's: libstdc++'s emergency pool", 1, len(pool))
        check_true("the pool is allocated in libstdc++",
                   any(base(f["module"] or "").startswith("libstdc++") for f in pool[0]["stack"]),
                   stack_str(pool[0]["stack"]))
        check_record_kinds(t, [("512-byte", t.leak(512), "still_reachable"),
                               ("24-byte", t.leak(24), "still_reachable"),
                               ("emergency pool", pool[0], "still_reachable")],
                           reachable=(536 + pool[0]["bytes"], 3))
        check_cxx(env, t)


# The C runtime's start-up code below main: memtrace names these frames from
# the symbol table only (docs/report-format.md, `file`).
STARTUP_FUNCTIONS = ("_start", "__libc_start_main", "__libc_start_call_main")


def case_libc_debuginfo(env):
    t = trace(env, env.path("fx_sym_plain"))
    stack = fopen_leak(t)["stack"]
    check_true("frame 0 of the fopen leak is in libc", base(stack[0]["module"]).startswith("libc."),
               stack_str(stack))
    bid = stack[0]["build_id"]
    dbg = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    libc = [f for f in stack if base(f["module"]).startswith("libc.")
            and f["function"] not in STARTUP_FUNCTIONS]
    if os.path.exists(dbg):
        # __libc_start_call_main is a local symbol: only libc6-dbg's .symtab has it.
        below_main = stack[[f["function"] for f in stack].index("main") + 1:]
        check("start-up frames below main, named from the symbol table without lines",
              [("__libc_start_call_main", None, None), ("__libc_start_main", None, None),
               ("_start", None, None)], src(below_main))
        check("libc frames above main have files and lines (libc6-dbg: %s)" % dbg, [],
              [frame_str(f) for f in libc if not (f["file"] and f["line"])])
    else:
        log("note: no %s (libc6-dbg not installed): libc frames without lines" % dbg)
        check_true("libc frames still have names", all(f["function"] for f in libc),
                   stack_str(stack))
    user = [f for f in stack if base(f["module"]) == "fx_sym_plain"]
    check("first frame in the program", ("open_log", "symfx.c", env.line("symfx.c", "fopen")),
          src(user[:1])[0])


def case_matches_eu_addr2line(env):
    """Every frame of every leak of the dlopen and C++ runs, compared with
    eu-addr2line -i -f -C on the module and offset - 1 (the call)."""
    tool = shutil.which("eu-addr2line")
    if not tool:
        raise Skip("eu-addr2line (package elfutils) is not installed")
    runs = [trace(env, env.path("fx_sym_shlib"),
                  args=[env.path("libsymdl_alpha.so"), env.path("libsymdl_omega.so")]),
            trace(env, env.path("fx_sym_inline"))]
    if os.path.exists(os.path.join(env.fixtures_dir, "fx_sym_cxx")):
        runs.append(trace(env, env.path("fx_sym_cxx")))
    compared, diffs = 0, []
    seen = set()
    for t in runs:
        for rec in t.leaks:
            groups = []
            for f in rec["stack"]:
                if groups and groups[-1][0]["address"] == f["address"]:
                    groups[-1].append(f)
                else:
                    groups.append([f])
            for g in groups:
                f0 = g[0]
                key = (f0["module"], f0["offset"])
                if not f0["module"] or key in seen or f0["function"] in STARTUP_FUNCTIONS:
                    continue   # start-up frames have no lines on purpose: case_libc_debuginfo
                seen.add(key)
                out = subprocess.run([tool, "-i", "-f", "-C", "-e", f0["module"],
                                      hex(int(f0["offset"], 16) - 1)],
                                     capture_output=True, text=True).stdout.splitlines()
                eu = []
                for i in range(0, len(out) - 1, 2):
                    fn = out[i].split(" inlined at ")[0]
                    loc = out[i + 1].split(":")
                    line = int(loc[1]) if len(loc) > 1 and loc[1].isdigit() else 0
                    eu.append((None if fn == "??" else fn,
                               None if loc[0] == "??" else os.path.basename(loc[0]),
                               line or None))
                # The real function of an internal name (__printf, ___dlopen,
                # __GI___strdup) is shown by its public name: the same one
                # without the prefix.
                if eu and eu[-1][0] and eu[-1][0].startswith("__") and src(g):
                    public = src(g)[-1][0] or ""
                    internal = eu[-1][0].replace("__GI_", "", 1).lstrip("_")
                    if public and not public.startswith("_") and internal == public:
                        eu[-1] = (public,) + eu[-1][1:]
                compared += 1
                if src(g) != eu:
                    diffs.append("%s+%s\n  memtrace:     %r\n  eu-addr2line: %r" % (
                        base(f0["module"]), f0["offset"], src(g), eu))
    check_true("compared some frames (%d)" % compared, compared >= 20)
    check("frames that differ from eu-addr2line -i", [], diffs)


def case_program_run_through_symlink(env):
    """A program run by a symlink (as /usr/bin/python3 is): frames name the
    path it was run by, not the symlink's target, and its separate debug
    file, found next to the target (.gnu_debuglink), still gives every
    line."""
    plain = trace(env, env.path("fx_sym_noid_plain"))
    link = os.path.join(env.tmp, "run-me")
    os.symlink(env.path("fx_sym_noid_debuglink"), link)
    t = trace(env, link)
    modules = {f["module"] for r in t.process["leaks"] for f in r["stack"]
               if base(f["module"]).startswith(("fx_sym", "run-me"))}
    check("the program's module in frames", {link}, modules)
    compare_variant(env, plain, t, "run-me")
    check("no warnings", [], t.warnings())
