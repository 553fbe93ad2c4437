"""Roots of the leak scan on programs where a whole-VMA or whole-stack rule
gives wrong answers: a program's mapping merged with a malloc chunk into
one VMA (fx_vma_merge), a large freed buffer that still held pointers
(fx_freed_buffer), pointers left only in the dead frames of main at
exit (fx_stale_stack, fx_stale_vector, each at -O0 and -O2), and RELRO data
of a static program (static.py checks fx_static's totals).

Every case quotes valgrind --leak-check=full --show-leak-kinds=all
--run-libc-freeres=no --run-cxx-freeres=no on the same program (glibc's
and libstdc++'s exit-time frees off, as memtrace cannot run them) and
asserts the same four totals."""
from memtrace_e2e.checks import Failure, check, log
from memtrace_e2e.expect import check_exited, check_kinds, first_frame_in, marked_leaks
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import trace


def vma_merge_case(env, where):
    t = trace(env, "vma_merge", [where])
    check_exited(t, 0)
    check("errors", [], t.errors)
    marked_leaks(env, t.process, "vma_merge", {
        "big": (400000, 1, "malloc", "main", "still_reachable"),
        "kept": (9240, 1, "malloc", "main", "still_reachable"),
        "lost": (11, 1, "malloc", "lose", "definitely_lost")})
    check_kinds(t, definite=(11, 1), reachable=(409240, 2))


def case_roots_vma_merge_below(env):
    # The program maps 1 MiB right below malloc(400000)'s mmapped chunk
    # and keeps the only pointer to a 9240-byte block there; one VMA.
    # Valgrind (`apart`: its malloc has no glibc chunk to be adjacent to):
    # 11 bytes definitely lost, 409,240 in 2 blocks still reachable.
    vma_merge_case(env, "below")


def case_roots_vma_merge_above(env):
    # The same with the program's mapping right above the chunk (mapped
    # first; the kernel puts the chunk right below it). Valgrind as above.
    vma_merge_case(env, "above")


def case_roots_vma_merge_apart(env):
    # The control: no adjacency. Valgrind: definitely lost 11/1, still
    # reachable 409,240/2.
    vma_merge_case(env, "apart")


def case_roots_freed_buffer(env):
    # The only pointers to 8 blocks sit in a 4 MiB buffer (a chunk of its
    # own) freed right before exit, with no allocator call after it. Under
    # --fast the free may not have run at exit: the mapping is then still
    # there, and is no root. Valgrind: definitely lost 800/8, nothing else.
    t = trace(env, "freed_buffer")
    check_exited(t, 0)
    check("errors", [], t.errors)
    marked_leaks(env, t.process, "freed_buffer", {
        "held": (800, 8, "malloc", "fill", "definitely_lost")})
    check_kinds(t, definite=(800, 8))


def stale_case(env, fixture, mode, expected, definite, reachable=(0, 0)):
    t = trace(env, fixture, [mode])
    check_exited(t, 0)
    check("errors", [], t.errors)
    marked_leaks(env, t.process, fixture, expected, source="stale_stack.c")
    check_kinds(t, definite=definite, reachable=reachable)


LOOP = {"loop": (510, 5, "malloc", "main", "definitely_lost")}


def stdout_buffer(t):
    """stdout's buffer, allocated by printf: 4096 bytes, still reachable."""
    recs = [r for r in t.leaks if r["bytes"] == 4096]
    check("stdout buffer records (4096 bytes, still reachable)", [("still_reachable", 1)],
          [(r["kind"], r["blocks"]) for r in recs])


def loop_case(env, fixture):
    t = trace(env, fixture, ["loop"])
    check_exited(t, 0)
    check("errors", [], t.errors)
    check("lines the program printed", ["item %d" % i for i in range(5)], t.stdout.splitlines())
    stdout_buffer(t)
    t.process["leaks"] = [r for r in t.leaks if r["bytes"] != 4096]
    marked_leaks(env, t.process, fixture, LOOP, source="stale_stack.c")
    check_kinds(t, definite=(510, 5), reachable=(4096, 1))


def case_stale_stack_loop(env):
    # Five blocks leaked in a loop that printf's each; main returns.
    # Valgrind: definitely lost 510/5, still reachable 4,096/1 (stdout).
    loop_case(env, "stale_stack")


def case_stale_stack_loop_o2(env):
    # The same at -O2, where exit()'s frames leave the last block's
    # pointer in a slot main used: memtrace used to call that block still
    # reachable. Valgrind: definitely lost 510/5, still reachable 4,096/1.
    loop_case(env, "stale_stack_o2")


OBJECTS = {"object": (96, 3, "malloc", "make", "definitely_lost")}


def case_stale_stack_objects(env):
    # Three objects held only in main's locals; main returns. At -O0 one
    # of their pointers survives in a slot of exit()'s frame: memtrace used
    # to call it still reachable. Valgrind: definitely lost 96/3.
    stale_case(env, "stale_stack", "objects", OBJECTS, definite=(96, 3))


def case_stale_stack_objects_o2(env):
    # Valgrind: definitely lost 96/3.
    stale_case(env, "stale_stack_o2", "objects", OBJECTS, definite=(96, 3))


EXIT = {"exit_leak": (48, 1, "malloc", "leak_then_exit", "still_reachable")}


def case_stale_stack_exit(env):
    # A function holds a block in a local and calls exit(0) itself: its
    # frame is exit's caller, live, a root. Valgrind: still reachable 48/1.
    stale_case(env, "stale_stack", "exit", EXIT, definite=(0, 0), reachable=(48, 1))


def case_stale_stack_exit_o2(env):
    # At -O2 the pointer lives in a callee-saved register that exit's path
    # spills into its own frames: recovered by unwinding to exit's caller.
    # Valgrind: still reachable 48/1.
    stale_case(env, "stale_stack_o2", "exit", EXIT, definite=(0, 0), reachable=(48, 1))


def vector_case(env, fixture, definite, indirect, lost_at):
    """LOST_AT: {mark: bytes} of the definitely lost records, by the first
    stale_vector.cc frame of their stacks (below operator new)."""
    t = trace(env, fixture)
    check_exited(t, 0)
    check("errors", [], t.errors)
    # libstdc++'s emergency exception pool (72,704 bytes) is its own,
    # reachable from its data.
    check_kinds(t, definite=definite, indirect=indirect, reachable=(72704, 1))
    got = {}
    for r in t.leaks:
        if r["kind"] != "definitely_lost":
            continue
        f = first_frame_in(r["stack"], "stale_vector.cc")
        if f is None:
            raise Failure("definitely lost record without a stale_vector.cc frame: %r" % r)
        got[f["line"]] = got.get(f["line"], 0) + r["bytes"]
    check("definitely lost bytes by stale_vector.cc line",
          {env.line("stale_vector.cc", m): b for m, b in lost_at.items()}, got)
    log("ok: records at the marked lines")


@ctest(needs="fx_stale_vector")
def case_stale_vector(env):
    # new std::vector<int>(50) and new std::string(100, 'x') leaked from
    # main, which returns. Valgrind: definitely lost 56/2 (the 24-byte
    # vector, the 32-byte string), indirectly lost 301/2 (their 200 and
    # 101-byte buffers), still reachable 72,704/1.
    vector_case(env, "stale_vector", (56, 2), (301, 2), {"vector": 24, "string": 32})


@ctest(needs="fx_stale_vector_o2")
def case_stale_vector_o2(env):
    # At -O2 g++ elides the vector object's own allocation: its 200-byte
    # array is the lost block. memtrace used to call it still reachable
    # (a stale pointer in exit()'s frame). Valgrind: definitely lost 232/2,
    # indirectly lost 101/1, still reachable 72,704/1.
    vector_case(env, "stale_vector_o2", (232, 2), (101, 1), {"vector": 200, "string": 32})
