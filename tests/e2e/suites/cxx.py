"""C++ programs around allocator calls: exceptions thrown and caught in an
allocation-heavy loop, operator new failing with bad_alloc and through a
throwing new_handler, backtrace() in a signal handler that interrupts
allocator calls (under --fast, inside the stub too). The program must
behave as natively, and its leak is reported at its line."""
from memtrace_e2e.checks import check, check_true
from memtrace_e2e.expect import check_exited, first_frame_in
from memtrace_e2e.run import trace


def case_cxx_exceptions_around_allocations(env):
    """fx_cxx_throw: 2,857 exceptions from a callback in the loop, one
    bad_alloc, one from the new_handler, backtraces from the handler; it
    prints its counts and exits 0 as natively, with 40 bytes definitely lost
    from new[] at the marked line."""
    t = trace(env, "cxx_throw", status=0)
    check_exited(t, 0)
    check("the program's counts", "thrown=2857 bad_alloc=1 custom=1 backtraces_ok=1",
          t.stdout.strip())
    check("errors", [], t.errors)
    line = env.line("cxx_throw.cc", "throw_leak")
    recs = [r for r in t.leaks if r["kind"] == "definitely_lost"
            and (first_frame_in(r["stack"], "cxx_throw.cc") or {}).get("line") == line]
    check("definitely lost records allocated at cxx_throw.cc:%d" % line, 1, len(recs))
    check("its bytes, blocks and function", (40, 1, "leak_one"),
          (recs[0]["bytes"], recs[0]["blocks"],
           first_frame_in(recs[0]["stack"], "cxx_throw.cc").get("function")))
    check_true("no other definitely lost record: %r" % [r["bytes"] for r in t.leaks],
               len([r for r in t.leaks if r["kind"] == "definitely_lost"]) == 1)
