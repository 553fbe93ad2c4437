#!/usr/bin/env bash
# memtrace's two entry points for a fresh Debian 12 machine (run as root, or a
# user with sudo):
#   ./quickstart.sh demo   install dependencies, build, trace a bundled leaky program
#   ./quickstart.sh test   install dependencies, build, run static analysis
#                          (tests/lint/run.sh) and the whole test suite
#                          (a -Werror build, then an ASan+UBSan build), then
#                          fuzz every parser for 20 s (clang, libFuzzer)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config libunwind-dev libdw-dev libelf-dev zlib1g-dev
          libcapstone-dev libcmocka-dev libiberty-dev libc6-dbg python3 elfutils libdebuginfod1
          valgrind                      # the reference tests/valgrind/ compares with
          python3-jsonschema python3-rfc3987   # the SARIF tests' validator (URI formats too)
          chromium                      # the flame graph tests render it in a browser
          libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0   # other allocators' fixtures
          rustc musl-tools              # the Rust and musl fixtures
          redis-server redis-tools      # a real server the attach tests join
          cppcheck clang-tidy-14        # static analysis
          man-db                        # the install test renders docs/memtrace.1 (man -l)
          clang libclang-rt-14-dev llvm-14)   # the fuzz targets (libFuzzer; llvm-14:
                                              # llvm-symbolizer for their leak reports)

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "quickstart: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {   # build DIR [cmake options...]
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

case "${1:-}" in
demo)
    install_packages
    build build
    echo
    echo "quickstart: memtrace run ./build/fixtures/fx_seed   (fixtures/seed.c: one leak, one double free)"
    echo
    ./build/tracer/memtrace run ./build/fixtures/fx_seed
    ;;
test)
    install_packages
    build build -DMEMTRACE_WERROR=ON
    bash tests/lint/run.sh build   # fails early: a finding stops CI before the tests
    ctest --test-dir build --output-on-failure -j2
    echo "quickstart: again with memtrace built with AddressSanitizer and UBSan"
    build build-asan -DMEMTRACE_WERROR=ON -DMEMTRACE_SANITIZE=ON
    ctest --test-dir build-asan --output-on-failure -j2
    echo "quickstart: fuzzing every parser for 20 s (tests/fuzz/README.md)"
    CC=clang build build-fuzz -DMEMTRACE_WERROR=ON -DMEMTRACE_FUZZ=ON
    tests/fuzz/run.sh build-fuzz 20
    ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac
