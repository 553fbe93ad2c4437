"""Assertions shared by the end-to-end test drivers (e2e.py, symbols_e2e.py):
each check prints what it verified, and raises Failure with expected and
actual values when it does not hold."""
import os


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(what, expected, actual):
    """Equality check that says what it checked."""
    if expected != actual:
        raise Failure("%s:\n  expected: %r\n  actual:   %r" % (what, expected, actual))
    log("ok: %s == %r" % (what, actual))


def check_true(what, cond, detail=""):
    if not cond:
        raise Failure("%s%s" % (what, ("\n  " + detail) if detail else ""))
    log("ok: %s" % what)


def base(path):
    return os.path.basename(path) if isinstance(path, str) else path
