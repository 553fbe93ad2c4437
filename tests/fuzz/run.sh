#!/usr/bin/env bash
# Runs every libFuzzer target of a MEMTRACE_FUZZ build for a bounded time,
# starting from its seed corpus (tests/fuzz/corpus/<target>/, copied to a
# temporary directory so the repository is not modified), as many at once
# as there are CPUs. Prints the executions of each target; fails when any
# target finds a crash, a leak, a timeout or a sanitizer report (the input
# is kept in BUILD_DIR/fuzz-artifacts/).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (TARGET: cli, procfs, ...)
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for dir in "$here"/corpus/*/; do
        targets+=("$(basename "$dir")")
    done
fi
for t in "${targets[@]}"; do
    if [ ! -x "$build/tests/fuzz/fuzz_$t" ]; then
        echo "fuzz: $build/tests/fuzz/fuzz_$t is not built (configure with CC=clang -DMEMTRACE_FUZZ=ON)" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/memtrace-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

run_target() {   # run_target NAME: its output in $work/NAME.log, its status in $work/NAME.rc
    local t=$1
    mkdir -p "$work/corpus-$t"
    cp -R "$here/corpus/$t/." "$work/corpus-$t/"
    local rc=0
    # libdw's leaks are told apart by the libdw frame that allocated: that
    # takes the slow unwinder (libc's asprintf has no frame pointers)
    local asan=${ASAN_OPTIONS:-}
    case $t in symbols | debuginfo) asan="fast_unwind_on_malloc=0${asan:+:$asan}" ;; esac
    # ... and by its name: the suppressions need the stacks symbolized, and
    # Debian's llvm-14 installs only the versioned llvm-symbolizer-14
    local symbolizer
    symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
    [ -n "$symbolizer" ] && asan="external_symbolizer_path=$symbolizer${asan:+:$asan}"
    (cd "$work" && TMPDIR="$work" LSAN_OPTIONS="suppressions=$here/lsan.supp" ASAN_OPTIONS="$asan" \
        "$build/tests/fuzz/fuzz_$t" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" "$work/corpus-$t") >"$work/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$work/$t.rc"
}

jobs=$(nproc 2>/dev/null || echo 1)
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait

status=0
for t in "${targets[@]}"; do
    rc=$(cat "$work/$t.rc")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
    corpus=$(ls "$work/corpus-$t" | wc -l)
    if [ "$rc" -eq 0 ]; then
        printf 'fuzz: %-14s %10s executions in %ss, corpus %s inputs: ok\n' "$t" "${execs:-?}" "$seconds" "$corpus"
    else
        printf 'fuzz: %-14s %10s executions: FAILED (status %s), input kept in %s\n' "$t" "${execs:-?}" "$rc" "$artifacts"
        tail -n 60 "$work/$t.log" | sed "s/^/fuzz_$t: /"
        status=1
    fi
done
exit $status
