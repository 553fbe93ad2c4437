#!/usr/bin/env bash
# The choke points of tracer/ and symbols/, checked by grep: each kernel or
# library interface is used in the one place that owns it. Run by ctest as
# check_layers; prints every violation and exits 1 if there is any.
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
status=0

# only PATTERN in FILES-ALLOWED (a grep -E regex of paths): anywhere else in
# tracer/ and symbols/ is a violation.
only() {
    local what=$1 pattern=$2 allowed=$3
    local hits
    # Comments do not count: a comment line starts with /* or *.
    hits=$(grep -rnE --include='*.c' --include='*.h' "$pattern" tracer symbols |
           grep -vE "^($allowed):" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)' || true)
    if [ -n "$hits" ]; then
        echo "FAIL: $what outside $allowed:"
        echo "$hits"
        status=1
    else
        echo "ok: $what only in $allowed"
    fi
}

only "ptrace(/waitpid(" '\bptrace\(|\bwaitpid\(' 'tracer/kernel/ptrace_io\.c'
only "process_vm_readv/writev" 'process_vm_(readv|writev)\(' 'tracer/kernel/remote\.c'
only "libdw/libelf" '\b(dwfl|dwarf|gelf)_[a-z_]+\(|\belf_(begin|end|version|nextscn|getdata|strptr|getshdrstrndx|kind)\(|<(elfutils/|libelf|gelf)' 'symbols/[a-z_]+\.[ch]'
only "capstone" '\bcs_[a-z_]+\(|<capstone/' 'tracer/arch/insn\.c'
only "libunwind" '\b(unw|_UPT)_[a-z_]+\(|<libunwind' 'tracer/tracee/unwind\.c|tracer/cli/unwind_sigmask\.c'
only "fprintf(stderr" 'fprintf\(stderr' 'tracer/base/diag\.c|tracer/cli/[a-z_]+\.c'
only '"/proc/' '"/proc/' 'tracer/kernel/procfs\.c'
only "the trap address (rip - 1)" 'regs_ip\([^)]*\) - 1|->rip - 1|\.rip - 1' 'tracer/arch/x86_64\.h'
only "register names" '(regs|->|\.)(r10|r11|rax|rdi|rsi|rdx|rcx|r8|r9)\b' 'tracer/arch/[a-z_0-9]+\.[ch]|tracer/tracee/unwind\.c'

exit $status
