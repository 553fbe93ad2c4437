#!/usr/bin/env bash
# Static analysis of memtrace's own code: cppcheck and clang-tidy over every
# file of tracer/, symbols/ and tests/ in BUILD_DIR's compile_commands.json
# (fixtures/ are deliberately buggy programs and are not checked).
#   tests/lint/run.sh BUILD_DIR
# Prints each finding and exits 1 if there is any (2 if it cannot run).
# Configuration, each exception with its reason: .clang-tidy (checks),
# tests/lint/cppcheck.cfg (corrected libc models), tests/lint/cppcheck.suppress
# (whole-program suppressions), and inline cppcheck-suppress / NOLINT comments.
# LINT_JOBS sets the parallelism (default: the number of CPUs).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
usage="usage: $0 BUILD_DIR (a CMake build directory of memtrace)"
[ $# -eq 1 ] || { echo "$usage" >&2; exit 2; }
build=$(cd "$1" 2>/dev/null && pwd) || { echo "lint: no directory $1; $usage" >&2; exit 2; }
db=$build/compile_commands.json
[ -f "$db" ] || { echo "lint: $db missing: configure $build with cmake first" >&2; exit 2; }
jobs=${LINT_JOBS:-$(nproc)}

find_tool() {   # find_tool NAME...: the first one on PATH
    local t
    for t in "$@"; do
        command -v "$t" && return 0
    done
    echo "lint: none of $* found (quickstart.sh installs them)" >&2
    return 1
}
cppcheck=$(find_tool cppcheck) || exit 2
clang_tidy=$(find_tool clang-tidy-14 clang-tidy) || exit 2

# The compilation database restricted to memtrace's own sources.
work=$build/lint
rm -rf "$work" && mkdir -p "$work/tidy" || exit 2
python3 - "$root" "$db" "$work/compile_commands.json" <<'EOF' || exit 2
import json, os, sys
root, src, dst = sys.argv[1:]
own = ("tracer/", "symbols/", "tests/")
# C only: the --fast stub is assembly (tracer/engine/fast_stub.S).
entries = [e for e in json.load(open(src))
           if os.path.relpath(os.path.join(e["directory"], e["file"]), root).startswith(own)
           and not e["file"].endswith(".S")]
if not entries:
    sys.exit("lint: no source of tracer/, symbols/ or tests/ in " + src)
json.dump(entries, open(dst, "w"), indent=1)
EOF
mapfile -t files < <(python3 -c '
import json, os, sys
for e in json.load(open(sys.argv[1])):
    print(os.path.join(e["directory"], e["file"]))' "$work/compile_commands.json" | sort -u)

status=0
start=$SECONDS

echo "lint: cppcheck on ${#files[@]} files"
"$cppcheck" --project="$work/compile_commands.json" -j"$jobs" --quiet \
    --enable=warning,style,performance,portability \
    --library=posix --library="$root/tests/lint/cppcheck.cfg" \
    --inline-suppr --suppressions-list="$root/tests/lint/cppcheck.suppress" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    --error-exitcode=1 2>"$work/cppcheck.txt"
cppcheck_rc=$?
cppcheck_findings=$(grep -cE '^[^ ]+:[0-9]+:[0-9]+: [a-z]+: ' "$work/cppcheck.txt")
cat "$work/cppcheck.txt"
if [ "$cppcheck_rc" -ne 0 ] || [ "$cppcheck_findings" -ne 0 ]; then
    echo "lint: cppcheck: $cppcheck_findings finding(s) (exit status $cppcheck_rc)"
    status=1
fi

echo "lint: clang-tidy on ${#files[@]} files ($jobs in parallel)"
# One output file per source, so parallel runs do not interleave.
printf '%s\0' "${files[@]}" | xargs -0 -P"$jobs" -I{} bash -c '
    out=$2/$(printf "%s" "$3" | md5sum | cut -c1-16)
    "$0" -p "$1" --quiet "$3" >"$out.txt" 2>&1
    echo "$? $3" >"$out.rc"' "$clang_tidy" "$work" "$work/tidy" {}
tidy_failed=0
for rc_file in "$work"/tidy/*.rc; do
    read -r rc file <"$rc_file"
    out=${rc_file%.rc}.txt
    if [ "$rc" -ne 0 ] || grep -qE ': (warning|error): ' "$out"; then
        grep -vE '^[0-9]+ (warning|error)s? generated\.$' "$out"
        [ "$rc" -eq 0 ] || { echo "lint: clang-tidy exited with $rc on $file"; tidy_failed=1; }
    fi
done
# A header's finding shows once per file that includes it: count it once.
tidy_findings=$(cat "$work"/tidy/*.txt | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' | sort -u)
if [ -n "$tidy_findings" ] || [ "$tidy_failed" -ne 0 ]; then
    echo "lint: clang-tidy: $(printf '%s\n' "$tidy_findings" | grep -c .) finding(s):"
    printf '%s\n' "$tidy_findings"
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "lint: clean ($((SECONDS - start)) s)"
else
    echo "lint: FAILED ($((SECONDS - start)) s): fix the findings above, or justify an exception (see tests/lint/run.sh)"
fi
exit $status
