"""Which file a module is: a program that writes another name into its link
map (l_name, which memtrace reads from its memory) must not make memtrace
open that path (a secret file, a FIFO), nor lose the module's breakpoints;
a library replaced on disk while the process maps it (a package upgrade
renames a new file over the old path) is read as the process maps it. And
an allocator memtrace did not hook is said, never silently missed: a
static-pie program's malloc (a local symbol) is hooked, and a program
whose malloc cannot be found gets a warning.

fx_hostile_modules (fixtures/hostile_modules.c) dlopens
libfx_modules_dl.so (fixtures/modules_dl.c) and allocates through it."""
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time

from memtrace_e2e.checks import Failure, base, check, check_true, leak_str, log
from memtrace_e2e.expect import check_exited, first_frame_in, marked_leaks
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import (check_memtrace_ended, child_env, finish_traced, json_path_for,
                              memtrace, native, trace)
from suites.hostile import TEST_USER, as_unprivileged_user

IN_OPEN = 0x20
IN_NONBLOCK = os.O_NONBLOCK


class OpenWatch:
    """inotify on PATHS: whether anything opened one of them (no process
    but memtrace has a reason to)."""

    def __init__(self, paths):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise Failure("inotify_init1: %s" % os.strerror(ctypes.get_errno()))
        self.names = {}
        for p in paths:
            wd = self.libc.inotify_add_watch(self.fd, p.encode(), IN_OPEN)
            if wd < 0:
                raise Failure("inotify_add_watch %s: %s" % (p, os.strerror(ctypes.get_errno())))
            self.names[wd] = p

    def opened(self):
        """The watched paths opened since the watch began."""
        seen = set()
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            off = 0
            while off + 16 <= len(buf):
                wd, mask, _cookie, namelen = struct.unpack_from("iIII", buf, off)
                if mask & IN_OPEN and wd in self.names:
                    seen.add(self.names[wd])
                off += 16 + namelen
        os.close(self.fd)
        return sorted(seen)


def marked_frame(rec, env, mark):
    f = first_frame_in(rec["stack"], "hostile_modules.c")
    return f is not None and f.get("line") == env.line("hostile_modules", mark)


def check_renamed_run(env, t, lib, bogus):
    """The report of `fx_hostile_modules rename LIB OTHER BOGUS`: exited 0,
    the three leaks the fixture makes at their lines, the library's frame
    named from the library's real path, BOGUS named nowhere."""
    check_exited(t, 0)
    check_true("the fixture renamed two link-map entries", "renamed=2" in t.stdout, t.stdout)
    check("warnings", [], t.warnings())
    check("errors", [], t.errors)
    dl_line = env.line("modules_dl", "dl_alloc")
    for mark, nbytes, through_lib in (("before_rename", 24, True), ("after_rename", 40, True),
                                      ("main_leak", 42, False)):
        recs = [r for r in t.leaks if marked_frame(r, env, mark)]
        check("leak records at hostile_modules.c:%s" % mark, 1, len(recs))
        r = recs[0]
        check("%s: kind, bytes, blocks, allocator" % mark,
              ("definitely_lost", nbytes, 1, "malloc"),
              (r["kind"], r["bytes"], r["blocks"], r["allocator"]))
        top = r["stack"][0]
        if through_lib:
            check("%s: stack[0] function, file:line, module" % mark,
                  ("modules_dl_alloc", "modules_dl.c", dl_line, lib),
                  (top.get("function"), base(top.get("file")), top.get("line"),
                   top.get("module")))
        else:
            check("%s: stack[0] function, line" % mark,
                  ("rename_mode", env.line("hostile_modules", mark)),
                  (top.get("function"), top.get("line")))
    modules = {f.get("module") for p in t.procs for r in p["leaks"] for f in r["stack"]}
    check_true("no frame names %s as its module" % bogus, bogus not in modules, repr(modules))
    named = [l for l in t.stderr.splitlines() if bogus in l and "== Command: " not in l]
    check("lines of the text report naming %s (but for the command line)" % bogus, [], named)


def rename_run(env, bogus):
    """memtrace run on the fixture writing BOGUS over l_name; nothing opened
    BOGUS meanwhile. Returns (Traced, the library's path)."""
    lib = env.path("libfx_modules_dl.so")
    other = env.path("libfx_modules_dl_other.so")
    argv = ["rename", lib, other, bogus]
    check("native status", 0, native(env, "hostile_modules", argv).returncode)
    watch = OpenWatch([bogus])
    json_path = json_path_for(env, "hostile_modules")
    p = memtrace(env, ["run", "--json", json_path, "--", env.fixture("hostile_modules")] + argv)
    check("paths of the watch that were opened during the run", [], watch.opened())
    t = finish_traced(env, p, json_path, 0, [[env.fixture("hostile_modules")] + argv])
    return t, lib


@ctest(timeout=90)
def case_link_map_name_secret_file(env):
    """The program writes the path of a secret file (as /etc/shadow is)
    over the l_name of a library it dlopened and of libc, then dlopens
    another library so the link map is read again: memtrace (root) opens
    modules through /proc/PID/map_files/, never the name; it used to open
    the file, drop libc's module and leave its int3 bytes in malloc (the
    program died of SIGTRAP)."""
    secret = os.path.join(env.tmp, "shadow")
    with open(secret, "w") as fh:
        fh.write("root:$6$secret:19000:0:99999:7:::\n")
    os.chmod(secret, 0o600)
    t, lib = rename_run(env, secret)
    check_renamed_run(env, t, lib, secret)


@ctest(timeout=90)
def case_link_map_name_fifo(env):
    """The same with a FIFO's path: memtrace never opens it (opening a FIFO
    blocks until a writer comes) and the report is complete."""
    fifo = os.path.join(env.tmp, "fifo")
    os.mkfifo(fifo)
    t, lib = rename_run(env, fifo)
    check_renamed_run(env, t, lib, fifo)


@ctest(timeout=90)
def case_link_map_name_unprivileged(env):
    """A user without CAP_SYS_ADMIN cannot read /proc/PID/map_files/:
    memtrace opens the path /proc/PID/maps shows, once it checked that it
    is the mapped file, and still never the name in the link map (here a
    FIFO)."""
    work_files = [env.fixture("hostile_modules"), env.path("libfx_modules_dl.so"),
                  env.path("libfx_modules_dl_other.so")]
    fifo_dir = tempfile.mkdtemp(prefix="memtrace-fifo-")   # the user can reach it
    os.chmod(fifo_dir, 0o755)
    fifo = os.path.join(fifo_dir, "fifo")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    watch = OpenWatch([fifo])
    p, work = as_unprivileged_user(
        env, ["run", "--json", "@out.json", "--", "@fx_hostile_modules", "rename",
              "@libfx_modules_dl.so", "@libfx_modules_dl_other.so", fifo], work_files)
    try:
        check("paths of the watch that were opened during the run", [], watch.opened())
        err = p.stderr.decode("utf-8", "replace")
        log(err)
        check_memtrace_ended(p.returncode, err)
        check("memtrace exit status (the program's)", 0, p.returncode)
        check_true("no warning or error: %r" % err, "memtrace:" not in err)
        with open(os.path.join(work, "out.json")) as fh:
            doc = json.load(fh)
        proc = doc["processes"][0]
        check("end", ("exited", 0), (proc["end"], proc["exit_code"]))
        lib = os.path.join(work, "libfx_modules_dl.so")
        recs = [r for r in proc["leaks"] if marked_frame(r, env, "after_rename")]
        check("leak records at hostile_modules.c:after_rename", 1, len(recs))
        top = recs[0]["stack"][0]
        check("after_rename: bytes, stack[0] function, line, module",
              (40, "modules_dl_alloc", env.line("modules_dl", "dl_alloc"), lib),
              (recs[0]["bytes"], top.get("function"), top.get("line"), top.get("module")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(fifo_dir, ignore_errors=True)


def mapped_libc():
    """The C library this Python maps (the one the fixtures use)."""
    with open("/proc/self/maps") as fh:
        for line in fh:
            f = line.split()
            if len(f) >= 6 and base(f[5]).startswith("libc.so"):
                return f[5]
    raise Failure("this Python maps no libc.so")


def rebuilt_copy(src, dst):
    """A copy of the ELF file SRC at DST whose code differs: its executable
    segments filled with int3. A rebuilt package with the same layout: every
    function's first bytes differ from what a process that mapped SRC runs."""
    with open(src, "rb") as fh:
        data = bytearray(fh.read())
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    patched = 0
    for i in range(phnum):
        p_type, p_flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_flags & 1:   # PT_LOAD, PF_X
            data[p_offset:p_offset + p_filesz] = b"\xcc" * p_filesz
            patched += p_filesz
    if not patched:
        raise Failure("%s has no executable segment" % src)
    with open(dst, "wb") as fh:
        fh.write(data)


def replace(path, new_content_path):
    """What a package upgrade does: a new file renamed over PATH."""
    tmp = path + ".new"
    shutil.copy2(new_content_path, tmp)
    os.rename(tmp, path)


@ctest(timeout=120)
def case_attach_replaced_libraries(env):
    """A process runs with its own copy of libc and a dlopened library;
    both are replaced on disk (renamed over) before memtrace attaches, as a
    package upgrade does. memtrace reads the files the process maps (root:
    /proc/PID/map_files/): malloc is hooked and the library's frames are
    named from the build the process runs. It used to read the new files:
    no hook matched libc's code, attach ended with "no malloc found"."""
    libdir = os.path.join(env.tmp, "lib")
    os.mkdir(libdir)
    libc = os.path.join(libdir, "libc.so.6")
    lib = os.path.join(libdir, "libfx_modules_dl.so")
    shutil.copy2(mapped_libc(), libc)
    shutil.copy2(env.path("libfx_modules_dl.so"), lib)
    out_path = os.path.join(env.tmp, "loop.out")
    out = open(out_path, "w+")
    argv = [env.fixture("hostile_modules"), "loop", lib]
    target = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT,
                              env=child_env({"LD_LIBRARY_PATH": libdir}))
    try:
        deadline = time.time() + 10
        while "ready=" not in open(out_path).read():
            if target.poll() is not None or time.time() > deadline:
                raise Failure("fx_hostile_modules loop did not start: %r" % open(out_path).read())
            time.sleep(0.02)
        with open("/proc/%d/maps" % target.pid) as fh:
            maps = fh.read()
        check_true("the process maps the copy of libc %s" % libc, libc in maps, maps)
        rebuilt = os.path.join(env.tmp, "libc-rebuilt.so.6")
        rebuilt_copy(libc, rebuilt)
        replace(libc, rebuilt)
        replace(lib, env.path("libfx_modules_dl_other.so"))
        with open("/proc/%d/maps" % target.pid) as fh:
            maps = fh.read()
        check_true("the kernel shows both mapped files deleted",
                   "%s (deleted)" % libc in maps and "%s (deleted)" % lib in maps, maps)

        json_path = json_path_for(env, "attach_replaced")
        p = memtrace(env, ["attach", "--json", json_path, "--duration", "2", str(target.pid)])
        t = finish_traced(env, p, json_path, 0, [argv], mode="attach")
        check("process end", "detached", t.process["end"])
        check("warnings", [], t.warnings())
        check("errors", [], t.errors)
        check_true("allocations seen", t.summary["allocations"] > 0, repr(t.summary))
        line = env.line("hostile_modules", "loop_leak")
        lost = [r for r in t.leaks if r["kind"] == "definitely_lost"
                and marked_frame(r, env, "loop_leak")]
        check("definitely lost records allocated at loop_leak", 1, len(lost))
        r = lost[0]
        check_true("at least one 64-byte block lost", r["bytes"] >= 64 and r["bytes"] % 64 == 0,
                   leak_str(r))
        top, caller = r["stack"][0], r["stack"][1]
        check("stack[0]: function, file:line, module",
              ("modules_dl_alloc", "modules_dl.c", env.line("modules_dl", "dl_alloc"),
               "%s (deleted)" % lib),
              (top.get("function"), base(top.get("file")), top.get("line"), top.get("module")))
        check("stack[1]: function, line", ("loop_mode", line),
              (caller.get("function"), caller.get("line")))

        os.kill(target.pid, signal.SIGTERM)
        rc = target.wait(timeout=30)
        output = open(out_path).read()
        log("target output: %r" % output)
        check("target exit status", 0, rc)
        check_true("target printed ok=N", "\nok=" in output and "FAIL" not in output, output)
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
        out.close()


@ctest(needs="fx_static_pie")
def case_static_pie(env):
    """A static-pie executable: the C library is inside it, loaded at a
    random address, and its malloc is a local symbol of .symtab (free and
    calloc are global). Every allocator is hooked at its load bias: the
    42-byte malloc leak and the 64-byte calloc leak at their lines, the
    pair freed (malloc used to be missed: 2 allocations, no 42-byte leak).
    glibc's start-up allocates on its own (records with no static_pie.c
    frame): their stack[0] is a function of the executable."""
    check("native status", 0, native(env, "static_pie").returncode)
    t = trace(env, "static_pie", status=0)
    check_exited(t, 0)
    check("warnings", [], t.warnings())
    mine = [r for r in t.leaks if first_frame_in(r["stack"], "static_pie.c")]
    marked_leaks(env, {"pid": t.process["pid"], "leaks": mine}, "static_pie", {
        "leak": (42, 1, "malloc", "main", "definitely_lost"),
        "calloc_leak": (64, 1, "calloc", "main", "definitely_lost"),
    })
    for rec in t.leaks:
        if rec not in mine:
            f = rec["stack"][0] if rec["stack"] else {}
            check_true("start-up leak record: stack[0] is a named function of fx_static_pie",
                       f.get("function") and base(f.get("module")) == "fx_static_pie",
                       leak_str(rec))
    check("errors", [], t.errors)
    s = t.summary
    check("allocations - frees == unfreed blocks", s["allocations"] - s["frees"],
          s["unfreed"]["blocks"])
    check_true("frees >= 1 (the 24-byte pair)", s["frees"] >= 1, json.dumps(s))


def without_symtab(src, dst):
    """A copy of SRC without its .symtab (its section header made SHT_NULL):
    as a stripped static-pie, it names none of its functions."""
    with open(src, "rb") as fh:
        data = bytearray(fh.read())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3a)
    removed = 0
    for i in range(shnum):
        at = shoff + i * shentsize + 4   # sh_type
        if struct.unpack_from("<I", data, at)[0] == 2:   # SHT_SYMTAB
            struct.pack_into("<I", data, at, 0)
            removed += 1
    check("symbol tables removed from the copy", 1, removed)
    with open(dst, "wb") as fh:
        fh.write(data)
    os.chmod(dst, 0o755)


@ctest(needs="fx_static_pie")
def case_static_pie_stripped_refused(env):
    """A stripped static-pie program with no debug file: no allocator can be
    found, so nothing of it could be traced; memtrace says what it searched
    in one line and exits 2 without letting it run (no output of it), as for
    fx_attach_nomalloc, a static program with no C library at all."""
    prog = os.path.join(env.tmp, "fx_static_pie")
    without_symtab(env.fixture("static_pie"), prog)
    for target in (prog, env.fixture("attach_nomalloc")):
        p = memtrace(env, ["run", "--json", json_path_for(env, "refused"), "--", target])
        check("memtrace exit status", 2, p.returncode)
        lines = [l for l in p.stderr.splitlines() if l.startswith("memtrace")]
        check("memtrace's one line", 1, len(lines))
        check_true("it names the program and what was searched: %r" % lines,
                   re.fullmatch(r"memtrace: pid \d+: no allocator found in %s \(searched its "
                                r"symbol tables, and separate debug files for a static program, "
                                r"for malloc, C\+\+'s operator new, jemalloc's mallocx, "
                                r"tcmalloc's tc_malloc and mimalloc's mi_malloc\): nothing to "
                                r"trace" % re.escape(target), lines[0]) is not None)
        check_true("the program did not run on (no output): %r" % p.stdout, p.stdout == "")


@ctest(timeout=120)
def case_attach_replaced_libc_unprivileged(env):
    """The same upgrade seen by a user without CAP_SYS_ADMIN: the mapped
    copy of a replaced libc cannot be read (/proc/PID/map_files/ is root's)
    and the file at its path is another one. memtrace says so, refuses with
    exit status 2 (nothing to hook) and leaves the process running as
    before; it used to hook the new file's code, or report "does not match
    the file" with no cause."""
    work = tempfile.mkdtemp(prefix="memtrace-upgrade-")   # the user can reach it
    target = None
    try:
        os.chmod(work, 0o755)
        libdir = os.path.join(work, "lib")
        os.mkdir(libdir)
        libc = os.path.join(libdir, "libc.so.6")
        shutil.copy2(mapped_libc(), libc)
        prog = os.path.join(work, "fx_hostile_modules")
        lib = os.path.join(libdir, "libfx_modules_dl.so")
        tracer = os.path.join(work, "memtrace")
        for src, dst in ((env.fixture("hostile_modules"), prog),
                         (env.path("libfx_modules_dl.so"), lib), (env.memtrace, tracer)):
            shutil.copy2(src, dst)
        for name in (libdir, libc, prog, lib, tracer):
            os.chmod(name, 0o755)
        as_user = []
        if os.geteuid() == 0:
            if subprocess.run(["id", TEST_USER], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                                "/usr/sbin/nologin", TEST_USER], check=True)
            as_user = ["runuser", "-u", TEST_USER, "--"]
        out_path = os.path.join(env.tmp, "loop.out")
        out = open(out_path, "w+")
        target = subprocess.Popen(as_user + ["env", "LD_LIBRARY_PATH=" + libdir, prog, "loop",
                                             lib], stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, env=child_env())
        deadline = time.time() + 10
        while "ready=" not in open(out_path).read():
            if target.poll() is not None or time.time() > deadline:
                raise Failure("fx_hostile_modules loop did not start: %r" % open(out_path).read())
            time.sleep(0.02)
        pid = int(open(out_path).read().split("ready=")[1].split()[0])
        rebuilt = os.path.join(work, "libc-rebuilt.so.6")
        rebuilt_copy(libc, rebuilt)
        os.chmod(rebuilt, 0o755)
        os.rename(rebuilt, libc)

        cmd = as_user + [tracer, "attach", "--duration", "1", str(pid)]
        log("$ " + " ".join(cmd))
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                           env=child_env())
        err = p.stderr.decode("utf-8", "replace")
        log(err)
        check_memtrace_ended(p.returncode, err)
        check("memtrace exit status", 2, p.returncode)
        check("memtrace's lines", [
            "memtrace: warning: pid %d: %s was deleted or replaced on disk after the process "
            "mapped it; the mapped copy can only be read through /proc/%d/map_files/, which "
            "needs root (CAP_SYS_ADMIN); its code is neither hooked nor symbolized"
            % (pid, libc, pid),
            "memtrace: pid %d: no malloc found in %s or its libraries: nothing to trace"
            % (pid, prog)], [l for l in err.splitlines() if l.startswith("memtrace:")])
        with open("/proc/%d/status" % pid) as fh:
            status = fh.read()
        check_true("the process is not traced after the refusal", "TracerPid:\t0\n" in status,
                   status)
        os.kill(pid, signal.SIGTERM)
        rc = target.wait(timeout=30)
        output = open(out_path).read()
        log("target output: %r" % output)
        check("target exit status", 0, rc)
        check_true("target printed ok=N", "\nok=" in output and "FAIL" not in output, output)
    finally:
        if target is not None and target.poll() is None:
            target.kill()
            target.wait()
        shutil.rmtree(work, ignore_errors=True)
