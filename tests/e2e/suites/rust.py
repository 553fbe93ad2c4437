"""Rust programs (fx_rust_leak: -O0 with legacy symbol names, and _o2: -O2
with v0 names): their leaks at the user's lines, whole stacks unwound from
CFI through the user's functions to main, inline chains, both manglings
demangled, and the standard library's allocation wrappers cut from the top
of stacks unless --show-std-alloc-frames=yes. The byte counts and kinds are
compared with Valgrind's in tests/valgrind (rust_leak, rust_leak_o2)."""
import os
import re

from memtrace_e2e.checks import Skip, check, check_true
from memtrace_e2e.expect import check_exited
from memtrace_e2e.run import trace

SRC = "rust_leak.rs"
NOT_DEMANGLED = re.compile(r"^_[RZ]|\$LT\$|\$u[0-9a-f]+\$|::h[0-9a-f]{16}$")


def need_rust_fixture(env, name):
    if not os.access(os.path.join(env.fixtures_dir, "fx_" + name), os.X_OK):
        raise Skip("fx_%s was not built: no rustc (quickstart.sh installs Debian's rustc)" % name)


def where(frame):
    return frame.get("function"), frame.get("line")


def user_frames(stack):
    """(function, line) of the frames in the fixture's source, in order."""
    return [where(f) for f in stack if (f.get("file") or "").endswith(SRC)]


def check_rust_leaks(env, name, second_frames):
    need_rust_fixture(env, name)
    t = trace(env, name, status=0)
    check_exited(t, 0)
    got = sorted((r["kind"], r["bytes"], r["blocks"], r.get("indirect", {}).get("bytes", 0),
                  where(r["stack"][0]), user_frames(r["stack"])[1:2]) for r in t.leaks)
    want = sorted([
        ("definitely_lost", 100, 1, 0, ("rust_leak::make_ids", env.line(SRC, "vec_alloc")),
         [second_frames[0]]),
        ("definitely_lost", 32, 1, 40, ("rust_leak::open_session", env.line(SRC, "box_alloc")),
         [second_frames[1]]),
        ("indirectly_lost", 40, 1, 0, ("rust_leak::open_session", env.line(SRC, "history_alloc")),
         [second_frames[1]]),
    ])
    check("%s: leak records (kind, bytes, blocks, indirect bytes, first frame, caller)" % name,
          want, got)
    for r in t.leaks:
        names = [f.get("function") for f in r["stack"]]
        check_true("%s: the stack goes on through leak_both to main: %r" % (name, names),
                   "rust_leak::leak_both" in names and "rust_leak::main" in names)
        bad = [n for n in names if n and NOT_DEMANGLED.search(n)]
        check("%s: frames whose name is still mangled" % name, [], bad)
    check("%s: errors" % name, [], t.errors)
    return t


def case_rust_leaks_at_user_lines(env):
    """-O0, legacy names: each leak's first frame is the user's line that
    allocated (not alloc.rs), its caller the line that called it."""
    check_rust_leaks(env, "rust_leak", [
        ("rust_leak::load_ids", env.line(SRC, "vec_caller")),
        ("rust_leak::start", env.line(SRC, "box_caller"))])


def case_rust_leaks_at_user_lines_o2(env):
    """-O2, v0 names: the same lines through inlined code (start() is a
    tail call at -O2: open_session's caller is leak_both)."""
    check_rust_leaks(env, "rust_leak_o2", [
        ("rust_leak::load_ids", env.line(SRC, "vec_caller")),
        ("rust_leak::leak_both", env.line(SRC, "box_leak"))])


def case_rust_std_alloc_frames_shown(env):
    """--show-std-alloc-frames=yes keeps the wrappers: at -O2 they are an
    inline chain at one address, innermost alloc::alloc::alloc, down to the
    user's function, the one real frame of that address."""
    need_rust_fixture(env, "rust_leak_o2")
    t = trace(env, "rust_leak_o2", opts=["--show-std-alloc-frames=yes"], status=0)
    vec = [r for r in t.leaks if r["bytes"] == 100]
    check("records of 100 bytes", 1, len(vec))
    stack = vec[0]["stack"]
    user = next(i for i, f in enumerate(stack) if f.get("function") == "rust_leak::make_ids")
    chain = [(f["function"], f["inlined"]) for f in stack[:user + 1]]
    check("the first frame", ("alloc::alloc::alloc", True), chain[0])
    check_true("RawVec's allocate_in (a v0 name) is in the chain: %r" % chain,
               ("<alloc::raw_vec::RawVec<u32>>::allocate_in", True) in chain)
    check("the user's frame ends the chain", ("rust_leak::make_ids", False), chain[-1])
    check_true("every frame before it is inlined at the same address: %r" % chain,
               all(inl for _, inl in chain[:-1]) and
               len({f["address"] for f in stack[:user + 1]}) == 1)
    check("its line", env.line(SRC, "vec_alloc"), stack[user]["line"])
