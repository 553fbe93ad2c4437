"""The case list: the case_* functions of suites/*.py and the cases/*.case
files, each with its ctest settings."""
import glob
import importlib
import os
import pkgutil

E2E_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES_DIR = os.path.join(E2E_DIR, "suites")
CASES_DIR = os.path.join(E2E_DIR, "cases")

# The settings a case may carry (printed by --list, read by CMake):
#   timeout=SECONDS  ctest TIMEOUT (default 120)
#   labels=A,B       ctest LABELS (`ctest -LE heavy` leaves the heavy ones out)
#   repeat=N         registered N times, <prefix><case>_1 .. _N
#   needs=TARGET     registered only when the build has TARGET
SETTINGS = ("timeout", "labels", "repeat", "needs")


def ctest(**settings):
    """Decorator: ctest settings of a case function."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError("unknown ctest settings %s" % unknown)

    def deco(fn):
        fn.ctest = {k: str(v) for k, v in settings.items()}
        return fn
    return deco


class Case:
    def __init__(self, name, run, settings, origin):
        self.name = name
        self.run = run            # run(env)
        self.settings = settings  # {setting: str}
        self.origin = origin      # where it is defined, for messages

    def list_line(self):
        return self.name + "".join(" %s=%s" % (k, self.settings[k])
                                   for k in sorted(self.settings))


def collect(group):
    """{name: Case} of GROUP, sorted by name: "e2e" (every suite module
    whose GROUP is "e2e", the default, and cases/*.case) or "symbols"."""
    from . import casefile
    cases = {}

    def add(case):
        if case.name in cases:
            raise SystemExit("case %s defined twice: %s and %s" % (
                case.name, cases[case.name].origin, case.origin))
        cases[case.name] = case

    for info in sorted(pkgutil.iter_modules([SUITES_DIR]), key=lambda i: i.name):
        mod = importlib.import_module("suites." + info.name)
        if getattr(mod, "GROUP", "e2e") != group:
            continue
        for name, fn in vars(mod).items():
            if name.startswith("case_") and callable(fn) and fn.__module__ == mod.__name__:
                add(Case(name[len("case_"):], fn, getattr(fn, "ctest", {}),
                         "suites/%s.py" % info.name))
    if group == "e2e":
        for path in sorted(glob.glob(os.path.join(CASES_DIR, "*.case"))):
            cf = casefile.parse(path)
            add(Case(cf.name, cf.run, cf.settings, "cases/" + os.path.basename(path)))
    return dict(sorted(cases.items()))
