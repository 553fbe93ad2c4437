#!/usr/bin/env python3
"""Runs one end-to-end case of memtrace: the real tool on the fixture programs.

    run_case.py [--group e2e|symbols] --memtrace PATH --fixtures-dir DIR --source-dir DIR CASE
    run_case.py [--group e2e|symbols] --list

--list prints the cases of the group, one a line: its name, then its ctest
settings if any (`timeout=SECONDS`, `labels=L1,L2`, `repeat=N`: registered N
times as <prefix><case>_1..N, `needs=TARGET`: only if the build has that
target).  Group e2e (the default): the functions case_* of suites/*.py
and the files cases/*.case (ctest e2e_<case>); group symbols: suites/symbols.py
(ctest symbols_<case>, on the fixtures of fixtures/symbols).

--fixtures-dir holds the built fixtures, --source-dir their sources, whose
`/* @mark:NAME */` comments name the lines checked.

Exit status: 0 pass, 1 fail (expected vs actual is printed, then the last
memtrace run), 77 skip (the kernel does not permit ptrace, or a tool the
case needs is missing).  Standard library only.
"""

import argparse
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from memtrace_e2e import run as run_mod  # noqa: E402
from memtrace_e2e.casefile import CaseFileError  # noqa: E402
from memtrace_e2e.checks import Failure, Skip  # noqa: E402
from memtrace_e2e.env import Env  # noqa: E402
from memtrace_e2e.registry import collect  # noqa: E402

SKIP = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--group", default="e2e", choices=("e2e", "symbols"))
    ap.add_argument("--memtrace")
    ap.add_argument("--fixtures-dir")
    ap.add_argument("--source-dir")
    ap.add_argument("--list", action="store_true", help="print the case names")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args()
    try:
        cases = collect(a.group)
    except CaseFileError as e:
        print("bad case file: %s" % e, file=sys.stderr)
        return 2
    if a.list:
        print("\n".join(c.list_line() for c in cases.values()))
        return 0
    if a.case not in cases or not (a.memtrace and a.fixtures_dir and a.source_dir):
        ap.error("need --memtrace, --fixtures-dir, --source-dir and one of: "
                 + ", ".join(cases))
    if not os.access(a.memtrace, os.X_OK):
        print("FAIL %s: memtrace not found at %s" % (a.case, a.memtrace))
        return 1
    case = cases[a.case]
    # a command of a case with a longer ctest TIMEOUT may run until 30 s before it
    if "timeout" in case.settings:
        run_mod.set_run_timeout(int(case.settings["timeout"]) - 30)
    with tempfile.TemporaryDirectory(prefix="memtrace-%s-" % a.group) as tmp:
        env = Env(a.memtrace, a.fixtures_dir, a.source_dir, tmp)
        try:
            try:
                print("case %s (%s)" % (case.name, case.origin), flush=True)
                case.run(env)
            finally:
                for live in env.live:
                    live.kill()   # never leave a background memtrace behind
        except Skip as e:
            print("*" * 70)
            print("SKIP %s: NOTHING WAS TESTED: %s" % (a.case, e))
            print("*" * 70)
            return SKIP
        except Failure as e:
            print("FAIL %s: %s" % (a.case, e))
            if env.last is not None:
                print(env.last.dump())
            return 1
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            # the JSON lacks a field or has the wrong type somewhere
            traceback.print_exc(file=sys.stdout)
            print("FAIL %s: unexpected JSON structure (see traceback above)" % a.case)
            if env.last is not None:
                print(env.last.dump())
            return 1
    print("PASS %s" % a.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
