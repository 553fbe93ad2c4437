"""Programs memtrace cannot run: one line on stderr, exit status 2 (bad
command lines: cases/bad_*.case)."""
import os
import re
import stat
import struct

from memtrace_e2e.checks import check, check_true, log
from memtrace_e2e.run import memtrace


def expect_usage_error(env, args, what):
    """memtrace ARGS must exit 2 with exactly one stderr line 'memtrace: ...'."""
    log("-- %s" % what)
    p = memtrace(env, args, what)
    check("exit status (%s)" % what, 2, p.returncode)
    check_true("stderr is exactly one line starting with 'memtrace: '",
               re.fullmatch(r"memtrace: [^\n]+\n", p.stderr) is not None,
               "stderr: %r" % p.stderr)


def write_file(env, name, data, mode):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
    return path


def elf_header(ei_class, e_machine):
    """A bare little-endian ELF executable header (no program headers)."""
    if ei_class == 2:  # ELFCLASS64
        ident = b"\x7fELF\x02\x01\x01" + bytes(9)
        return ident + struct.pack("<HHIQQQIHHHHHH", 2, e_machine, 1, 0x400000, 0, 0,
                                   0, 64, 56, 0, 64, 0, 0)
    ident = b"\x7fELF\x01\x01\x01" + bytes(9)
    return ident + struct.pack("<HHIIIIIHHHHHH", 2, e_machine, 1, 0x8048000, 0, 0,
                               0, 52, 32, 0, 40, 0, 0)


def case_bad_text_file(env):
    path = write_file(env, "notes.txt", b"just some text\nnot a program\n", 0o755)
    expect_usage_error(env, ["run", path], "executable text file")


def case_bad_not_executable(env):
    with open(env.fixture("clean"), "rb") as fh:
        path = write_file(env, "fx_clean_noexec", fh.read(), 0o644)
    check_true("copy has no execute bit",
               not os.stat(path).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    expect_usage_error(env, ["run", path], "ELF without execute permission")
    expect_usage_error(env, ["run", env.tmp], "a directory")


def case_bad_not_elf(env):
    path = write_file(env, "garbage", bytes(range(256)) * 16, 0o755)
    expect_usage_error(env, ["run", path], "binary non-ELF file")


def case_bad_wrong_arch(env):
    aarch64 = write_file(env, "aarch64.elf", elf_header(2, 183), 0o755)  # EM_AARCH64
    expect_usage_error(env, ["run", aarch64], "64-bit ELF for aarch64")
    i386 = write_file(env, "i386.elf", elf_header(1, 3), 0o755)  # EM_386
    expect_usage_error(env, ["run", i386], "32-bit ELF for i386")


