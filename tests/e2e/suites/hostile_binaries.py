"""Hostile binaries: programs whose ELF files are corrupt where only a
tool reads them (unwind tables, symbols, notes, debug info). They run
natively; memtrace must trace them to their end, report what they did, and
never crash, hang or print a sanitizer report: a corrupt section costs the
information in it, never the run."""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import struct
import subprocess

from memtrace_e2e.checks import Failure, check, log
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import child_env, json_path_for, load_traced, memtrace, native
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


# The sections a corrupted copy gets random bytes in: what only a tool
# reads (unwinders, symbolizers, debuggers).
CORRUPTIBLE = (".eh_frame", ".eh_frame_hdr", ".symtab", ".strtab", ".note.", ".debug_")
SHT_NOBITS = 8
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def elf_sections(path):
    """[(name, file offset, size)] of the sections of an ELF64 file that
    have bytes in it, from its section headers."""
    with open(path, "rb") as fh:
        image = fh.read()
    if image[:4] != b"\x7fELF" or image[4] != 2:
        raise Failure("%s: not an ELF64 file" % path)
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", image, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", image, shoff + i * shentsize) for i in range(shnum)]
    strtab_off, strtab_size = headers[shstrndx][4], headers[shstrndx][5]
    names = image[strtab_off:strtab_off + strtab_size]
    out = []
    for name_off, sh_type, _flags, _addr, offset, size in headers:
        name = names[name_off:names.index(b"\0", name_off)].decode()
        if sh_type != SHT_NOBITS and size > 0:
            out.append((name, offset, size))
    return out


def corrupt_copy(rng, src, dst):
    """Copies SRC to DST with random bytes in one corruptible section: a
    few scattered bytes, a run of bytes, or the whole section. Returns what
    was done, to name the copy in a failure."""
    sections = [s for s in elf_sections(src) if s[0].startswith(CORRUPTIBLE)]
    # each kind of section as likely as any other, however many .debug_* there are
    kinds = sorted({p for s in sections for p in CORRUPTIBLE if s[0].startswith(p)})
    kind = rng.choice(kinds)
    name, offset, size = rng.choice([s for s in sections if s[0].startswith(kind)])
    with open(src, "rb") as fh:
        image = bytearray(fh.read())
    how = rng.choice(("bytes", "run", "whole"))
    if how == "bytes":
        # headers are where parsers branch: half the spots in the first 16 bytes
        spots = [rng.randrange(min(size, 16) if rng.random() < 0.5 else size)
                 for _ in range(rng.randint(1, 8))]
        for at in spots:
            image[offset + at] = rng.randrange(256)
        what = "bytes at %s" % ",".join("%#x" % s for s in spots)
    elif how == "run":
        start = rng.randrange(size)
        length = min(size - start, rng.randint(4, 64))
        image[offset + start:offset + start + length] = bytes(rng.randrange(256) for _ in range(length))
        what = "%d bytes at %#x" % (length, start)
    else:
        image[offset:offset + size] = bytes(rng.randrange(256) for _ in range(size))
        what = "all %d bytes" % size
    with open(dst, "wb") as fh:
        fh.write(image)
    os.chmod(dst, os.stat(src).st_mode & 0o777)
    return "%s: %s of %s" % (os.path.basename(src), what, name)


def ended(returncode):
    """How a natively run program ended, as memtrace's JSON says it."""
    if returncode < 0:
        return ("signaled", signal.Signals(-returncode).name)
    return ("exited", returncode)


def run_variant(env, prog, json_path):
    """The program alone, then under memtrace: (native returncode,
    memtrace's CompletedProcess)."""
    native_p = subprocess.run([prog], stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                              env=child_env())
    p = subprocess.run([env.memtrace, "run", "--json", json_path, "--", prog],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=90,
                       env=child_env())
    return native_p.returncode, p


def variant_problems(prog, native_rc, p, json_path, expect_summary):
    """What is wrong with memtrace's run of one corrupted copy ([] if
    nothing): killed by a signal, a sanitizer report, an exit status other
    than the program's, a missing or invalid JSON report, a wrong end or
    wrong totals."""
    err = p.stderr.decode("utf-8", "replace")
    problems = []
    if p.returncode < 0:
        problems.append("memtrace killed by %s" % signal.Signals(-p.returncode).name)
    for mark in SANITIZER_MARKS:
        if mark in err:
            problems.append("sanitizer report (%s)" % mark)
    want_status = 128 - native_rc if native_rc < 0 else native_rc
    if p.returncode != want_status:
        problems.append("memtrace exit status %d, the program's is %d" % (p.returncode, want_status))
    try:
        with open(json_path) as fh:
            doc = json.load(fh)
        check_shape(doc, [[prog]])
        proc = doc["processes"][0]
        got_end = (proc["end"], proc["exit_code"] if proc["end"] == "exited" else proc["signal"])
        if got_end != ended(native_rc):
            problems.append("JSON end %r, natively %r" % (got_end, ended(native_rc)))
        summary = {k: proc["summary"][k] for k in expect_summary}
        if native_rc == 0 and summary != expect_summary:
            problems.append("summary %r, uncorrupted %r" % (summary, expect_summary))
    except (OSError, ValueError, KeyError, IndexError, Failure) as e:
        problems.append("no valid JSON report: %s" % e)
    if problems:
        problems.append("stderr: " + err[-1500:])
    return problems


@ctest(timeout=240)
def case_corrupted_sections(env):
    """40 copies of fx_deep and of fx_sym_debuglink's separate debug file,
    each with random bytes in one section only tools read (.eh_frame,
    .eh_frame_hdr, .symtab, .strtab, .note.*, .debug_*), from a fixed seed:
    memtrace traces each to its end with the program's exit status, a valid
    JSON report and the uncorrupted run's totals, and is never killed by a
    signal nor makes a sanitizer report (the ASan+UBSan build runs this
    too)."""
    sym_dir = os.path.join(env.fixtures_dir, "symbols")
    debuglink = os.path.join(sym_dir, "fx_sym_debuglink")
    debug_file = debuglink + ".debug"
    for f in (debuglink, debug_file):
        if not os.path.exists(f):
            raise Failure("fixture %s not built" % f)
    sources = [env.fixture("deep"), debug_file]
    # what the uncorrupted programs report
    expect = {}
    for prog in (env.fixture("deep"), debuglink):
        json_path = json_path_for(env, "clean-" + os.path.basename(prog))
        p = memtrace(env, ["run", "--json", json_path, "--", prog])
        t = load_traced(env, p, json_path)
        check("%s: memtrace exit status" % prog, 0, t.status)
        expect[os.path.basename(prog)] = {k: t.summary[k] for k in
                                          ("allocations", "frees", "unfreed", "definitely_lost")}
    rng = random.Random(1)
    jobs = []
    for i in range(40):
        src = sources[i % 2]
        work = os.path.join(env.tmp, "v%02d" % i)
        os.mkdir(work)
        if src == debug_file:
            prog = os.path.join(work, "fx_sym_debuglink")
            shutil.copy2(debuglink, prog)
            what = corrupt_copy(rng, debug_file, os.path.join(work, "fx_sym_debuglink.debug"))
        else:
            prog = os.path.join(work, "fx_deep")
            what = corrupt_copy(rng, src, prog)
        jobs.append((i, what, prog, os.path.join(work, "out.json")))

    def one(job):
        i, what, prog, json_path = job
        native_rc, p = run_variant(env, prog, json_path)
        return i, what, variant_problems(prog, native_rc, p, json_path,
                                         expect[os.path.basename(prog)])

    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for i, what, problems in pool.map(one, jobs):
            log("copy %02d (%s): %s" % (i, what, "; ".join(problems[:-1]) or "ok"))
            if problems:
                failures.append("copy %02d (%s):\n  %s" % (i, what, "\n  ".join(problems)))
    if failures:
        raise Failure("%d of 40 corrupted copies went wrong:\n%s" % (len(failures),
                                                                    "\n".join(failures)))
