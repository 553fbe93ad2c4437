"""Mappings never unmapped and SysV segments never removed.

fx_maps MODE [clean] (fixtures/maps.c).  anon, devzero and sysv are the
user's document's three ways of sharing memory between a parent and its
forked child (the child writes the letters, the parent reads them), with
nothing released unless "clean".  Both processes are reported: a child
inherits its parent's mappings, so each one's record lists what it still
had mapped.  A SysV segment is reported by the process that created it
(and by any that still had it attached) while it is in the kernel at the
end; tests remove the segments their runs leave, pass or fail."""
import subprocess

from memtrace_e2e.checks import check, check_text_has, check_true, log, stack_str
from memtrace_e2e.expect import (check_dtv_records, check_exited, check_frame, check_kinds,
                                 check_summary, first_frame_in, marked_leaks, stdout_ints,
                                 stdout_ptrs)
from memtrace_e2e.registry import ctest
from memtrace_e2e.run import finish_traced, json_path_for, memtrace, trace


MAP_KEYS = ("kind", "address", "bytes", "prot", "flags", "backing", "path", "shared_state",
            "stack")
SYSV_KEYS = MAP_KEYS + ("shmid", "key", "created", "removed", "persists", "attached")


def mapping_str(m):
    return "%s %s bytes at %s %s %s path=%s shared_state=%s%s\n%s" % (
        m.get("kind"), m.get("bytes"), m.get("address"), m.get("prot"), m.get("flags"),
        m.get("path"), m.get("shared_state"),
        " shmid=%s created=%s removed=%s persists=%s attached=%s" % (
            m.get("shmid"), m.get("created"), m.get("removed"), m.get("persists"),
            m.get("attached")) if m.get("kind") == "sysv_shm" else "",
        stack_str(m.get("stack")))


def maps_run(env, args, nprocs=2, fixture="maps"):
    """fx_maps ARGS: NPROCS processes (the parent, then its child)."""
    prog = env.fixture(fixture)
    return check_maps_procs(trace(env, fixture, args, commands=[[prog] + list(args)] * nprocs))


def check_maps_procs(t):
    """Every process exited 0 without errors, its mappings well formed."""
    for proc in t.procs:
        check_exited(proc, 0)
        check("errors of pid %s" % proc["pid"], [], proc["errors"])
        for m in proc["mappings"]:
            keys = SYSV_KEYS if m.get("kind") == "sysv_shm" else MAP_KEYS
            check("missing keys of a mapping", [], [k for k in keys if k not in m])
        log("mappings of pid %s:\n%s" % (proc["pid"], "\n".join(
            mapping_str(m) for m in proc["mappings"]) or "  (none)"))
    return t


def check_no_mappings(t):
    for proc in t.procs:
        check("mappings of pid %s" % proc["pid"], [], [mapping_str(m) for m in proc["mappings"]])
    check_true("no MAPPINGS section in the text report", "MAPPINGS:" not in t.stderr,
               t.stderr[-3000:])


def check_mappings_header(t, pid, nmaps, shared, private, nsegs, seg_bytes):
    """The text report's MAPPINGS line of PID."""
    check_text_has("text report (stderr)", t.stderr,
                   "==%d== MAPPINGS: %d mapping%s never unmapped (%d bytes shared, %d bytes "
                   "private), %d SysV segment%s left in the kernel (%d bytes)\n" % (
                       pid, nmaps, "" if nmaps == 1 else "s", shared, private, nsegs,
                       "" if nsegs == 1 else "s", seg_bytes))


def check_text_record(env, t, pid, headline, m, function, mark):
    """The text report's record of mapping M: HEADLINE, then its first frame
    in FUNCTION at MARK's line."""
    check_text_has("text report (stderr)", t.stderr,
                   "==%d== %s\n==%d==    at %s: %s (maps.c:%d)\n" % (
                       pid, headline, pid, m["stack"][0]["address"], function,
                       env.line("maps", mark)))


def check_mapping(env, m, kind, nbytes, flags, backing, path, mark, function):
    """One JSON mapping: its fields, and its stack's first maps.c frame on
    MARK's line in FUNCTION."""
    check("mapping kind", kind, m["kind"])
    check("mapping bytes", nbytes, m["bytes"])
    check("mapping flags", flags, m["flags"])
    check("mapping backing", backing, m["backing"])
    check("mapping path", path, m["path"])
    check("mapping shared_state", flags[0] == "shared", m["shared_state"])
    if m["address"] is not None:
        check("mapping prot", "rw-", m["prot"])
    f = first_frame_in(m["stack"], "maps.c")
    check_true("the mapping's stack has a maps.c frame", f is not None, mapping_str(m))
    check_frame("first maps.c frame of the mapping", f, function, "maps.c",
                env.line("maps", mark))
    check_true("that frame is the caller of the mapping function (stack[0])",
               m["stack"][0] is f, mapping_str(m))


def shared_region_case(env, mode, flags, backing, path, mark, function):
    """The document's mmap programs without the munmap: the region stays
    mapped in the parent and in the child, at the same address."""
    t = maps_run(env, [mode])
    check_true("the child's letters reached the parent",
               "after the child: abcdefghijklmnopqrstuvwxyz\n" in t.stdout, t.stdout[-500:])
    for proc in t.procs:
        check("leaks of pid %s" % proc["pid"], [], proc["leaks"])
        check("number of mappings of pid %s" % proc["pid"], 1, len(proc["mappings"]))
        m = proc["mappings"][0]
        check_mapping(env, m, "mmap", 4096, flags, backing, path, mark, function)
        pid = proc["pid"]
        check_mappings_header(t, pid, 1, 4096, 0, 0, 0)
        check_text_record(env, t, pid, "4096 bytes at %s: shared anonymous mapping%s (rw-), never "
                          "unmapped: holds state shared with other processes" % (
                              m["address"], " of " + path if path else ""), m, function, mark)
    check("the child's mapping is the parent's (same address)",
          t.procs[0]["mappings"][0]["address"], t.procs[1]["mappings"][0]["address"])


def case_maps_anon(env):
    shared_region_case(env, "anon", ["shared", "anonymous"], "anonymous", None, "anon_mmap",
                       "anon_alloc")


def case_maps_anon_clean(env):
    check_no_mappings(maps_run(env, ["anon", "clean"]))


def case_maps_devzero(env):
    shared_region_case(env, "devzero", ["shared"], "anonymous", "/dev/zero", "devzero_mmap",
                       "devzero_alloc")


def case_maps_devzero_clean(env):
    check_no_mappings(maps_run(env, ["devzero", "clean"]))


def sysv_segments():
    """{shmid: (key, size)} of /proc/sysvipc/shm."""
    with open("/proc/sysvipc/shm") as fh:
        rows = [line.split() for line in fh.readlines()[1:]]
    return {int(r[1]): (int(r[0]), int(r[3])) for r in rows if len(r) > 3}


def remove_segment(shmid):
    """ipcrm -m SHMID, when the run left the segment behind."""
    if shmid is not None and shmid in sysv_segments():
        log("removing SysV segment %d" % shmid)
        subprocess.run(["ipcrm", "-m", str(shmid)], check=False)


def sysv_case(env, args, check_fn):
    """Runs fx_maps ARGS (a parent and its child), reads the segment id it
    prints and gives both to CHECK_FN; the segment is removed afterwards
    even when a check fails."""
    shmid = None
    prog = env.fixture("maps")
    json_path = json_path_for(env, "maps")
    try:
        p = memtrace(env, ["run", "--json", json_path, "--", prog] + list(args))
        shmid = stdout_ints(p.stdout).get("shmid")
        check_true("the fixture printed shmid=N", shmid is not None, p.stdout[-500:])
        t = check_maps_procs(finish_traced(env, p, json_path, 0, [[prog] + list(args)] * 2))
        check_fn(t, shmid)
    finally:
        remove_segment(shmid)


def check_sysv(env, m, shmid, created, attached):
    check("sysv mapping kind", "sysv_shm", m["kind"])
    check("sysv shmid", shmid, m["shmid"])
    check("sysv key (IPC_PRIVATE)", 0, m["key"])
    check("sysv bytes", 1024, m["bytes"])
    check("sysv created", created, m["created"])
    check("sysv removed", False, m["removed"])
    check("sysv persists", True, m["persists"])
    check("sysv attached", attached, m["attached"])
    check("sysv address", attached[0] if attached else None, m["address"])
    check("sysv flags", ["shared"], m["flags"])
    check("sysv shared_state", True, m["shared_state"])
    check_frame("sysv stack[0]: the shmget that created it", m["stack"][0], "sysv_alloc",
                "maps.c", env.line("maps", "shmget"))


def case_maps_sysv(env):
    # Both processes shmdt; nobody removes the segment: it is in
    # /proc/sysvipc/shm after the run.  The parent created it and reports
    # it; the child detached and reports nothing.
    def checks(t, shmid):
        parent, child = t.procs
        check_true("segment %d is still in /proc/sysvipc/shm" % shmid,
                   sysv_segments().get(shmid) == (0, 1024), repr(sysv_segments()))
        check("number of the parent's mappings", 1, len(parent["mappings"]))
        check_sysv(env, parent["mappings"][0], shmid, True, [])
        check("the child's mappings", [], [mapping_str(m) for m in child["mappings"]])
        pid = parent["pid"]
        check_mappings_header(t, pid, 0, 0, 0, 1, 1024)
        check_text_record(env, t, pid, "1024 bytes in SysV shared memory segment %d (key "
                          "0x00000000), created by this process, not attached at exit" % shmid,
                          parent["mappings"][0], "sysv_alloc", "shmget")
        check_text_has("text report (stderr)", t.stderr,
                       "==%d==  Never removed (shmctl IPC_RMID): it persists after the process "
                       "ends; remove it with: ipcrm -m %d\n" % (pid, shmid))
        check("ipcrm hints", 1, t.stderr.count("ipcrm -m"))
    sysv_case(env, ["sysv"], checks)


def case_maps_sysv_clean(env):
    def checks(t, shmid):
        check_no_mappings(t)
        check_true("segment %d is gone from /proc/sysvipc/shm" % shmid,
                   shmid not in sysv_segments(), repr(sysv_segments()))
    sysv_case(env, ["sysv", "clean"], checks)


def case_maps_sysv_attached(env):
    # Nobody detaches or removes: both processes had it attached at exit.
    def checks(t, shmid):
        parent, child = t.procs
        for proc, created in ((parent, True), (child, False)):
            check("number of mappings of pid %s" % proc["pid"], 1, len(proc["mappings"]))
            m = proc["mappings"][0]
            check_true("attached somewhere", m["attached"], mapping_str(m))
            check_sysv(env, m, shmid, created, m["attached"][:1])
            check_text_has("text report (stderr)", t.stderr,
                           "==%d== 1024 bytes in SysV shared memory segment %d (key 0x00000000), "
                           "created by %s process, still attached at %s\n" % (
                               proc["pid"], shmid, "this" if created else "another",
                               m["address"]))
        check("the child's attachment is the parent's", parent["mappings"][0]["attached"],
              child["mappings"][0]["attached"])
    sysv_case(env, ["sysv_attached"], checks)


def case_maps_sysv_child_rm(env):
    # The child removes the parent's segment: removed for both.
    def checks(t, shmid):
        check_no_mappings(t)
        check_true("segment %d is gone" % shmid, shmid not in sysv_segments())
    sysv_case(env, ["sysv_child_rm"], checks)


def case_maps_split(env):
    t = maps_run(env, ["split"], nprocs=1)
    maps = t.process["mappings"]
    check("number of mappings after unmapping the middle page", 2, len(maps))
    for m in maps:
        check_mapping(env, m, "mmap", 4096, ["private", "anonymous"], "anonymous", None,
                      "split_mmap", "split")
    check("distance between the two pieces", 8192,
          int(maps[1]["address"], 16) - int(maps[0]["address"], 16))
    check_mappings_header(t, t.process["pid"], 2, 0, 8192, 0, 0)
    check_text_has("text report (stderr)", t.stderr,
                   "4096 bytes at %s: private anonymous mapping (rw-), never unmapped: memory "
                   "never released (a leak in a long-running process)" % maps[1]["address"])


def case_maps_mremap(env):
    t = maps_run(env, ["mremap"], nprocs=1)
    maps = t.process["mappings"]
    check("number of mappings", 1, len(maps))
    check_mapping(env, maps[0], "mmap", 8192, ["private", "anonymous"], "anonymous", None,
                  "grow_mmap", "grow")
    check("address of the moved mapping", stdout_ptrs(t.stdout)["moved"],
          int(maps[0]["address"], 16))


def case_maps_bigmalloc(env):
    # glibc serves 256 KiB blocks with mmap, grows them with mremap, frees
    # them with munmap, and maps the thread's stack: none of it is the
    # program's.  Leaks: only the thread's DTV (pthread_create's).
    t = maps_run(env, ["bigmalloc"], nprocs=1)
    check_no_mappings(t)
    others = marked_leaks(env, t.process, "maps", {}, others=["create"])
    dtv_bytes, dtv_blocks = check_dtv_records(others["create"], 1)
    check_summary(t, allocations=16 + dtv_blocks, frees=16)


def case_maps_heapref(env):
    # The only pointer to a 77-byte block is in a /dev/zero MAP_SHARED page
    # that is never unmapped: the leak scan reads the program's mappings.
    t = maps_run(env, ["heapref"], nprocs=1)
    marked_leaks(env, t.process, "maps", {
        "heapref_malloc": (77, 1, "malloc", "keep_in_devzero", "still_reachable")})
    check_kinds(t, reachable=(77, 1))
    check("number of mappings", 1, len(t.process["mappings"]))
    check_mapping(env, t.process["mappings"][0], "mmap", 4096, ["shared"], "anonymous",
                  "/dev/zero", "devzero_mmap", "devzero_alloc")


@ctest(needs="fx_maps_static")
def case_maps_static(env):
    # fx_maps linked statically: the C library is the program's module, and
    # its own mappings (malloc's 256 KiB blocks, the thread's stack) still
    # are not the program's, while the program's own mmap calls are, at
    # their lines (code with line information is the program's).
    t = maps_run(env, ["split"], nprocs=1, fixture="maps_static")
    maps = t.process["mappings"]
    check("number of mappings after unmapping the middle page", 2, len(maps))
    for m in maps:
        check_mapping(env, m, "mmap", 4096, ["private", "anonymous"], "anonymous", None,
                      "split_mmap", "split")
    check_mappings_header(t, t.process["pid"], 2, 0, 8192, 0, 0)
    t = maps_run(env, ["bigmalloc"], nprocs=1, fixture="maps_static")
    check_no_mappings(t)
    t = maps_run(env, ["anon"], fixture="maps_static")
    check("the shared page, in parent and child", [1, 1],
          [len(p["mappings"]) for p in t.doc["processes"]])
