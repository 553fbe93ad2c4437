"""Assertions: each check prints what it verified, and raises Failure with
expected and actual values when it does not hold; Skip ends a case that
cannot run here.  Also how frames, stacks and leak records are shown in
messages."""
import os


class Failure(Exception):
    pass


class Skip(Exception):
    """The case cannot run here (its message says why); exit status 77."""


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


def check_text_lacks(what, text, needle):
    check_true("%s does not contain %r" % (what, needle), needle not in text,
               "text (last 3000 chars):\n" + text[-3000:])


def check_text_has(what, text, needle, case=True):
    hay, ndl = (text, needle) if case else (text.lower(), needle.lower())
    check_true("%s contains %r" % (what, needle), ndl in hay,
               "text (last 3000 chars):\n" + text[-3000:])


def base(path):
    return os.path.basename(path) if isinstance(path, str) else path


def frame_str(f):
    """function file:line [module+offset], and the build-id of a frame
    without a name."""
    return "%s%s %s:%s [%s+%s]%s" % (
        f.get("function"), " (inlined)" if f.get("inlined") else "", base(f.get("file")),
        f.get("line"), base(f.get("module")), f.get("offset"),
        " build_id=%s" % f.get("build_id") if not f.get("function") else "")


def stack_str(stack):
    if stack is None:
        return "      null"
    return "\n".join("      #%d %s %s" % (i, f.get("address"), frame_str(f))
                     for i, f in enumerate(stack))


def leak_str(rec):
    return "%s %s bytes in %s blocks (%s)\n%s" % (
        rec.get("kind"), rec.get("bytes"), rec.get("blocks"),
        rec.get("allocator"), stack_str(rec.get("stack")))
