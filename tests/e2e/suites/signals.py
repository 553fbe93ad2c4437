"""Signals: allocating in a handler, a program stopped and continued, and
the signals memtrace forwards, ignores or leaves alone (a program killed by
a signal: cases/signal_*.case)."""
import os
import signal
import time

from memtrace_e2e.checks import Failure, check, check_text_has, check_true, log
from memtrace_e2e.expect import (check_dtv_records, check_exited, check_kinds, check_stats_present,
                                 check_summary, marked_leaks, stdout_ints)
from memtrace_e2e.live import Live, default_int_quit, task_states
from memtrace_e2e.run import native, trace


def case_signal_alloc(env):
    # A 1 ms SIGALRM handler mallocs/frees 32 bytes and leaks 40 (only when
    # it did not interrupt malloc/free) while main does pairs; the fixture
    # prints how many blocks the handler leaked.
    # Valgrind: every handler block definitely lost (a run with 20 of them:
    # 800 bytes in 20 blocks, in records by where the signal came), the
    # other kinds 0/0.
    check("native status", 0, native(env, "signal_alloc").returncode)
    t = trace(env, "signal_alloc", opts=["--stats"], status=0)
    check_exited(t, 0)
    out = stdout_ints(t.stdout)
    check("labels printed", ["handler_leaks", "handler_runs", "main_pairs"], sorted(out))
    n, pairs = out["handler_leaks"], out["main_pairs"]
    check_true("handler leaked >= 20 blocks", n >= 20, repr(out))
    marked_leaks(env, t.process, "signal_alloc",
                 {"handler_leak": (40 * n, n, "malloc", "on_alarm", "definitely_lost")})
    check_summary(t, allocations=2 * n + pairs, frees=n + pairs,
                  bytes_allocated=72 * n + sum(16 + i % 500 for i in range(pairs)),
                  unfreed=(40 * n, n), errors=0)
    check_kinds(t, definite=(40 * n, n))
    check("errors", [], t.errors)
    stats = check_stats_present(t)
    check("stats.single_steps", 0, stats["single_steps"])


def stop_case(env, nthreads, stop_sig):
    # The test stops the busy fixture (SIGSTOP, or SIGTSTP as Ctrl-Z sends),
    # sees every thread stopped and getting no CPU, then sends SIGCONT; the
    # fixture finishes (its SIGCONT handler ends the loop), leaks 88, exits 0.
    # memtrace runs in its own process group (so SIGTSTP's group is not
    # orphaned; the kernel discards SIGTSTP for orphaned groups).
    # Valgrind (continued by SIGCONT): 88 bytes definitely lost; with 2
    # threads their DTVs (544 bytes in 2 blocks, joined) are freed by
    # __libc_freeres, possibly lost with --run-libc-freeres=no (memtrace:
    # still reachable, check_dtv_records); nothing else.
    live = Live(env, "sigstop", [str(nthreads)], preexec_fn=os.setpgrp)
    pid = live.wait_for("pid")
    live.wait_for("busy")
    log("kill(%d, %s)" % (pid, signal.Signals(stop_sig).name))
    os.kill(pid, stop_sig)
    # Stopped within 1 s: every thread in state T or t (a seized tracee in
    # group-stop shows 't', tracing stop, rather than 'T') and no CPU time
    # gained over the last 0.1 s (a thread memtrace holds at a trap is 't'
    # too, but only for a moment).
    deadline = time.monotonic() + 1.0
    history = []
    while True:
        states = task_states(pid)
        history = [h for h in history if h[0] >= time.monotonic() - 0.1] + [
            (time.monotonic(), states)]
        stopped = (len(states) == nthreads + 1
                   and all(s in "Tt" for s, _ in states.values()))
        old = history[0][1]
        if stopped and history[-1][0] - history[0][0] >= 0.09 and old == states:
            break
        if time.monotonic() > deadline:
            raise Failure("target %d not stopped 1 s after %s: thread states {tid: (state, "
                          "cpu time)} %r, 0.1 s before %r (want %d threads in T or t, "
                          "getting no CPU)" % (pid, signal.Signals(stop_sig).name, states, old,
                                               nthreads + 1))
        time.sleep(0.01)
    log("ok: every thread stopped, no CPU time for 0.1 s: %r" % states)
    cpu0 = {tid: cpu for tid, (_, cpu) in states.items()}
    time.sleep(0.3)
    states = task_states(pid)
    check("threads still stopped 0.3 s later", sorted(cpu0),
          sorted(tid for tid, (s, _) in states.items() if s in "Tt"))
    check("CPU time of every thread over 0.3 s while stopped (unchanged)", cpu0,
          {tid: cpu for tid, (_, cpu) in states.items()})
    check_true("memtrace is still running", live.p.poll() is None, repr(live.p.poll()))
    log("kill(%d, SIGCONT)" % pid)
    os.kill(pid, signal.SIGCONT)
    t = live.finish(0)
    check_exited(t, 0)
    pairs = stdout_ints(t.stdout).get("pairs")
    check_true("fixture printed pairs >= %d" % (200 + 100 * (nthreads + 1)),
               pairs is not None and pairs >= 200 + 100 * (nthreads + 1), repr(t.stdout))
    others = marked_leaks(env, t.process, "sigstop",
                          {"leak": (88, 1, "malloc", "main", "definitely_lost")},
                          others=["create"] if nthreads else [])
    dtv_bytes, dtv_blocks = (check_dtv_records(others["create"], nthreads) if nthreads
                             else (0, 0))
    check_summary(t, allocations=pairs + 1 + dtv_blocks, frees=pairs,
                  unfreed=(88 + dtv_bytes, 1 + dtv_blocks), errors=0)
    check_kinds(t, definite=(88, 1), reachable=(dtv_bytes, dtv_blocks))


def case_sigstop(env):
    stop_case(env, 0, signal.SIGSTOP)


def case_sigstop_threads(env):
    stop_case(env, 2, signal.SIGSTOP)


def case_sigtstp_threads(env):
    stop_case(env, 2, signal.SIGTSTP)


def forward_case(env, sig, status):
    # SIG sent to memtrace's own pid is forwarded to the program, which
    # leaked 99 bytes and waits for it in sigsuspend.  Valgrind (SIGTERM):
    # 99 bytes definitely lost, the other kinds 0/0.
    live = Live(env, "signal_wait", ["all"])
    live.wait_for("ready")
    log("kill(memtrace %d, %s)" % (live.p.pid, signal.Signals(sig).name))
    os.kill(live.p.pid, sig)
    t = live.finish(status)
    check_exited(t, status)
    check_summary(t, allocations=1, frees=0, unfreed=(99, 1), errors=0)
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})
    check_text_has("text report (stderr)", t.stderr,
                   "signal_wait.c:%d" % env.line("signal_wait", "leak"))


def case_sigterm_forward(env):
    forward_case(env, signal.SIGTERM, 7)


def case_sighup_forward(env):
    forward_case(env, signal.SIGHUP, 8)


def case_sigint_to_memtrace(env):
    # SIGINT sent to memtrace alone (not the group) is ignored by memtrace
    # and not forwarded: the program (which catches SIGINT: it would exit
    # 9) only sees the SIGTERM that follows and exits 7.
    live = Live(env, "signal_wait", ["all"], preexec_fn=default_int_quit)
    live.wait_for("ready")
    log("kill(memtrace %d, SIGINT)" % live.p.pid)
    os.kill(live.p.pid, signal.SIGINT)
    check("memtrace still running 0.2 s after SIGINT", None, live.wait(0.2))
    os.kill(live.p.pid, signal.SIGTERM)
    t = live.finish(7)
    check_exited(t, 7)
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})


def case_target_signal_dispositions(env):
    # memtrace ignores SIGINT and SIGQUIT itself; the program must still
    # start with them at their defaults (as memtrace found them), or Ctrl-C
    # and Ctrl-\ would not reach it.
    live = Live(env, "signal_wait", ["all"], preexec_fn=default_int_quit)
    live.wait_for("ready")
    out = stdout_ints(live.out.decode())
    os.kill(live.p.pid, signal.SIGTERM)
    t = live.finish(7)
    check_exited(t, 7)
    check("program's SIGINT disposition at start is ignored (1) or not (0)", 0,
          out.get("sigint_ignored"))
    check("program's SIGQUIT disposition at start is ignored (1) or not (0)", 0,
          out.get("sigquit_ignored"))


def case_ctrl_c(env):
    # Ctrl-C: SIGINT to the whole foreground process group (memtrace and
    # the program).  memtrace ignores it and stays to report; the program
    # (SIGINT at its default action) dies of it: memtrace exits 130 and the
    # report has the 99-byte leak.  Valgrind ("Process terminating with
    # default action of signal 2 (SIGINT)"): 99 bytes definitely lost, the
    # other kinds 0/0 (the fixture cleared its pointer before waiting).
    live = Live(env, "signal_wait", ["noint"], preexec_fn=default_int_quit,
                start_new_session=True)
    live.wait_for("ready")
    log("killpg(%d, SIGINT)" % live.p.pid)
    os.killpg(live.p.pid, signal.SIGINT)
    if live.wait(10) is None:
        out = stdout_ints(live.out.decode())
        os.kill(live.p.pid, signal.SIGTERM)
        code = live.wait(10)
        live.kill()
        raise Failure("the program did not die of SIGINT within 10 s (it printed "
                      "sigint_ignored=%r; after SIGTERM memtrace exited %r)\nstderr:\n%s" % (
                          out.get("sigint_ignored"), code, live.stderr()[-3000:]))
    t = live.finish(128 + signal.SIGINT)
    check("process end", "signaled", t.process["end"])
    check("process signal", "SIGINT", t.process["signal"])
    check_summary(t, allocations=1, frees=0, unfreed=(99, 1), errors=0)
    check_kinds(t, definite=(99, 1))
    marked_leaks(env, t.process, "signal_wait",
                 {"leak": (99, 1, "malloc", "main", "definitely_lost")})
