"""The memtrace end-to-end test harness, shared by every suite.

    checks    Failure, Skip, check(), check_true(), log(), text and frame formatting
    env       Env: where memtrace, the fixtures and their sources are; @mark lines
    run       running memtrace and the fixtures; Traced (one run, its parsed JSON)
    shape     what every JSON report must satisfy
    expect    expectations about a report: summary, kinds, leak records by @mark
    live      memtrace or a target running in the background (signals, attach)
    casefile  the interpreter of the declarative cases/*.case files
    registry  the case list: suites/*.py functions case_* and cases/*.case

tests/e2e/run_case.py is the driver (see tests/e2e/README.md).
Standard library only.
"""
