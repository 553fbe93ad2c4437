"""Env: the memtrace under test, the built fixtures and their sources."""
import os
import re

from .checks import Failure


class Env:
    """--memtrace, --fixtures-dir (the built programs), --source-dir (their
    sources, whose `/* @mark:NAME */` comments name the lines checked: no
    line number is hard-coded) and a private temporary directory."""

    def __init__(self, memtrace, fixtures_dir, source_dir, tmp):
        self.memtrace = os.path.abspath(memtrace)
        self.fixtures_dir = os.path.abspath(fixtures_dir)
        self.source_dir = os.path.abspath(source_dir)
        self.tmp = tmp
        self.last = None   # the last Traced run, dumped when a check fails
        self.live = []     # background memtraces, killed when the case ends
        self._marks = {}

    def fixture(self, name):
        """The built program fx_NAME."""
        path = os.path.join(self.fixtures_dir, "fx_" + name)
        if not os.access(path, os.X_OK):
            raise Failure("fixture %s not built (did the build run?)" % path)
        return path

    def path(self, name):
        """Any file the fixture build made (program, library, debug root)."""
        p = os.path.join(self.fixtures_dir, name)
        if not os.path.exists(p):
            raise Failure("fixture %s not built (did the build run?)" % p)
        return p

    @staticmethod
    def _source_name(source):
        """"seed" and "seed.c" both name seed.c."""
        return source if "." in source else source + ".c"

    def marks(self, source):
        """{mark name: line number} of SOURCE (a file of --source-dir; a name
        without extension is a .c file)."""
        source = self._source_name(source)
        if source not in self._marks:
            src = os.path.join(self.source_dir, source)
            found = {}
            with open(src) as fh:
                for lineno, line in enumerate(fh, 1):
                    for m in re.finditer(r"/\*\s*@mark:(\w+)\s*\*/", line):
                        if m.group(1) in found:
                            raise Failure("%s: mark %s twice" % (src, m.group(1)))
                        found[m.group(1)] = lineno
            self._marks[source] = found
        return self._marks[source]

    def line(self, source, mark):
        marks = self.marks(source)
        if mark not in marks:
            raise Failure("%s has no /* @mark:%s */" % (self._source_name(source), mark))
        return marks[mark]
