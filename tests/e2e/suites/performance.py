"""The cost of tracing: trap counts (--stats) of malloc/free pairs, return
stubs, --sample and --min-size, and the CPU placement of busy threads."""
import json
import os
import sys

from memtrace_e2e.checks import check, check_true, log
from memtrace_e2e.expect import check_exited, check_kinds, check_summary
from memtrace_e2e.run import memtrace, native, run, trace


PAIRS_N = 100000


def pairs_bytes(n):
    """The sizes fx_pairs draws, summed (same generator as pairs.c)."""
    state, total = 12345, 0
    for _ in range(n):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        total += 16 + (state >> 8) % (4096 - 16 + 1)
    return total


def case_pairs(env):
    # Valgrind (N=1000): "1,000 allocs, 1,000 frees, 2,051,474 bytes allocated".
    check("native status", 0, native(env, "pairs", ["1000"]).returncode)
    t = trace(env, "pairs", [str(PAIRS_N)], opts=["--stats"], status=0)
    check_exited(t, 0)
    check_summary(t, allocations=PAIRS_N, frees=PAIRS_N, bytes_allocated=pairs_bytes(PAIRS_N),
                  unfreed=(0, 0), errors=0)
    check_kinds(t)
    stats = t.doc.get("stats")
    check_true("JSON has stats", isinstance(stats, dict), repr(stats))
    for key in ("traps", "entry_traps", "return_traps", "rendezvous_traps", "single_steps",
                "unwinds", "ptrace_calls"):
        check_true("stats.%s is an integer" % key, isinstance(stats.get(key), int),
                   repr(stats))
    log("stats: %s" % json.dumps(stats))
    # The hot-path bound: at most 2 traps per malloc-family call and 1 per
    # free. Link-map changes (rendezvous_traps, once or twice at startup) are
    # the only other traps.
    limit = 2 * t.summary["allocations"] + t.summary["frees"]
    call_traps = stats["entry_traps"] + stats["return_traps"]
    check_true("entry_traps + return_traps <= 2*allocations + frees (%d)" % limit,
               call_traps <= limit, "entry + return traps = %d" % call_traps)
    check("stats.traps", call_traps + stats["rendezvous_traps"], stats["traps"])
    check_true("stats.rendezvous_traps <= 4", stats["rendezvous_traps"] <= 4,
               "rendezvous_traps = %d" % stats["rendezvous_traps"])
    check("stats.single_steps", 0, stats["single_steps"])
    # Return stubs: one trap per call (its entry); every malloc's return is
    # recorded by its stub. --return-traps: malloc's return traps again.
    check("entry traps, return traps, stub returns",
          (2 * PAIRS_N, 0, PAIRS_N),
          (stats["entry_traps"], stats["return_traps"], stats["stub_returns"]))
    t = trace(env, "pairs", [str(PAIRS_N)], opts=["--stats", "--return-traps"], status=0)
    check_summary(t, allocations=PAIRS_N, frees=PAIRS_N, bytes_allocated=pairs_bytes(PAIRS_N),
                  unfreed=(0, 0), errors=0)
    stats = t.doc["stats"]
    check("--return-traps: entry traps, return traps, stub returns",
          (2 * PAIRS_N, PAIRS_N, 0),
          (stats["entry_traps"], stats["return_traps"], stats["stub_returns"]))


def case_pairs_sample(env):
    # --sample and --min-size trade stacks for speed; blocks stay tracked, so
    # the totals are exactly those of case_pairs at the same N.
    n = 20000
    t = trace(env, "pairs", [str(n)], opts=["--stats", "--sample", "10"], status=0)
    check_summary(t, allocations=n, frees=n, bytes_allocated=pairs_bytes(n),
                  unfreed=(0, 0), errors=0)
    unwinds = t.doc["stats"]["unwinds"]
    check_true("--sample 10: unwinds = (allocations + frees) / 10 (%d)" % (2 * n // 10),
               abs(unwinds - 2 * n // 10) <= 2, "unwinds = %d" % unwinds)
    t = trace(env, "pairs", [str(n)], opts=["--stats", "--min-size", "4097"], status=0)
    check_summary(t, allocations=n, frees=n, bytes_allocated=pairs_bytes(n),
                  unfreed=(0, 0), errors=0)
    check("--min-size above every size: unwinds", 0, t.doc["stats"]["unwinds"])


def case_cpu_pinning(env):
    """Lazy placement: a program that allocates little keeps every CPU (nproc
    counts them all); once a process has made 1024 allocator traps, the
    thread making them shares memtrace's one CPU, and threads it creates
    afterwards get every CPU back; --no-pin leaves every mask alone."""
    nproc = "/usr/bin/nproc"
    native_count = run([nproc], "native nproc").stdout.strip()
    light = memtrace(env, ["run", "-o", os.devnull, "--", nproc])
    check("memtrace exit status (nproc)", 0, light.returncode)
    check("CPUs nproc may use under memtrace (it allocates little)", native_count,
          light.stdout.strip())
    # 1,100 malloc/free pairs through libc: 3,300 traps, whatever the
    # interpreter's own start costs; then the CPUs of this thread and of a new one.
    script = ("import ctypes, os, threading\n"
              "libc = ctypes.CDLL(None)\n"
              "libc.malloc.restype = ctypes.c_void_p\n"
              "libc.free.argtypes = [ctypes.c_void_p]\n"
              "for _ in range(1100):\n"
              "    libc.free(libc.malloc(64))\n"
              "out = []\n"
              "t = threading.Thread(target=lambda: out.append(len(os.sched_getaffinity(0))))\n"
              "t.start(); t.join()\n"
              "print(len(os.sched_getaffinity(0)), out[0])\n")
    busy = memtrace(env, ["run", "-o", os.devnull, "--", sys.executable, "-c", script])
    check("memtrace exit status (busy python)", 0, busy.returncode)
    check("CPUs of the busy main thread and of a thread it created", "1 %s" % native_count,
          busy.stdout.strip())
    free = memtrace(env, ["run", "--no-pin", "-o", os.devnull, "--", sys.executable, "-c",
                          script])
    check("memtrace --no-pin exit status", 0, free.returncode)
    check("CPUs of both threads with --no-pin", "%s %s" % (native_count, native_count),
          free.stdout.strip())
