"""Hostile binaries: programs whose ELF files are corrupt where only a
tool reads them (unwind tables, symbols, notes, debug info). They run
natively; memtrace must trace them to their end, report what they did, and
never crash, hang or print a sanitizer report: a corrupt section costs the
information in it, never the run."""
import json
import os

from memtrace_e2e.checks import check, check_true, log
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import json_path_for, load_traced, memtrace, native
from memtrace_e2e.shape import check_shape


def traced_ehhdr(env, variant, reason):
    """fx_ehhdr_VARIANT (fx_deep with its .eh_frame_hdr corrupted): exits
    0 natively and under memtrace, with one warning naming the file and
    REASON; the 48-byte leak keeps its whole stack (f0 .. main, by frame
    pointers where the tables are refused)."""
    name = "ehhdr_" + variant
    prog = env.fixture(name)
    check("native exit status", 0, native(env, name).returncode)
    json_path = json_path_for(env, name)
    p = memtrace(env, ["run", "--json", json_path, "--", prog])
    t = load_traced(env, p, json_path)
    check("memtrace exit status (the program's)", 0, t.status)
    check_shape(t.doc, [[prog]])
    warning = "memtrace: warning: %s: corrupt unwind tables, not used" % prog
    check("warnings", [True], [w.startswith(warning) and reason in w for w in t.warnings()])
    check("end", ("exited", 0), (t.process["end"], t.process["exit_code"]))
    check("definitely lost", {"bytes": 48, "blocks": 1}, t.summary["definitely_lost"])
    stack = [(f.get("function"), f.get("line")) for f in t.leak(48)["stack"][:5]]
    check("the leak's stack", [("f0", env.line("deep", "f0_alloc")),
                               ("f1", env.line("deep", "f1_call")),
                               ("f2", env.line("deep", "f2_call")),
                               ("f3", env.line("deep", "f3_call")),
                               ("main", env.line("deep", "main_call"))], stack)


def case_eh_frame_hdr_table_encoding(env):
    """A search table in an encoding libunwind does not know: it used to
    abort memtrace (and kill the program) at the first unwind."""
    traced_ehhdr(env, "table_encoding", "search table has encoding 0x1b")


def case_eh_frame_hdr_pointer_encoding(env):
    """eh_frame_ptr encoded "indirect": libunwind used to load through it
    in memtrace's own memory and die of SIGSEGV."""
    traced_ehhdr(env, "pointer_encoding", "eh_frame_ptr has encoding 0xbb")


def case_eh_frame_hdr_fde_count(env):
    """fde_count far beyond the section: the stacks used to end at the
    first frame (the binary search read past the table)."""
    traced_ehhdr(env, "fde_count", "fde_count 2147483632 is beyond")


def case_eh_frame_hdr_table_entries(env):
    """A search table of garbage: unsorted, FDEs outside .eh_frame."""
    traced_ehhdr(env, "table_entries", "outside .eh_frame")


def case_eh_frame_hdr_version(env):
    traced_ehhdr(env, "version", ".eh_frame_hdr has version 2")
