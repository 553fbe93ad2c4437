#!/usr/bin/env bash
# Installs a build and checks what was installed (ctest: install_into_prefix):
#   tests/install/run.sh SOURCE_DIR BUILD_DIR
# - `cmake --install BUILD --prefix TMP` and `DESTDIR=... cmake --install BUILD --prefix /usr`
#   put every file where cmake/Install.cmake says;
# - the installed memtrace prints its version and finds fx_seed's leak (30 bytes, definitely
#   lost) with --json;
# - the installed man page renders (man -l, else nroff -man) with its sections;
# - the installed bash completion offers the leak kinds after --show-leak-kinds;
# - every long option of tracer/cli/cli.c's longopts table is in the man page and is offered
#   by the completion.
# Exit 0 pass, 1 fail, 77 skip (only when the kernel does not permit ptrace, and every check
# that needs no tracing passed).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
cmake=${CMAKE:-cmake}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memtrace-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() {
    echo "ok: $*"
}

# --- install, twice --------------------------------------------------------------------------
prefix=$tmp/prefix
if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    echo "FAIL: cmake --install $build --prefix $prefix" >&2
    exit 1
fi
ok "cmake --install --prefix $prefix"
stage=$tmp/stage
if ! DESTDIR=$stage "$cmake" --install "$build" --prefix /usr >"$tmp/destdir.log" 2>&1; then
    cat "$tmp/destdir.log" >&2
    echo "FAIL: DESTDIR=$stage cmake --install $build --prefix /usr" >&2
    exit 1
fi
ok "DESTDIR=$stage cmake --install --prefix /usr"

expected=(bin/memtrace share/man/man1/memtrace.1 share/bash-completion/completions/memtrace
          share/doc/memtrace/README.md)
for doc in "$src"/docs/*.md; do
    expected+=("share/doc/memtrace/$(basename "$doc")")
done
for root in "$prefix" "$stage/usr"; do
    for f in "${expected[@]}"; do
        [ -f "$root/$f" ] || fail "$root/$f was not installed"
    done
    [ -x "$root/bin/memtrace" ] || fail "$root/bin/memtrace is not executable"
done
# Nothing outside the prefix: with DESTDIR, everything lands under $stage/usr.
outside=$(cd "$stage" && find . -mindepth 1 -maxdepth 1 ! -name usr)
[ -z "$outside" ] || fail "DESTDIR install wrote outside \$DESTDIR/usr: $outside"
# The copy in the prefix does not point back into the build tree.
if command -v readelf >/dev/null; then
    runpath=$(readelf -d "$prefix/bin/memtrace" | grep -E 'RPATH|RUNPATH' || true)
    case $runpath in
        *"$build"*) fail "installed memtrace keeps a run path into the build: $runpath" ;;
    esac
fi
ok "installed files: ${expected[*]}"

memtrace=$prefix/bin/memtrace
man_page=$prefix/share/man/man1/memtrace.1
completion=$prefix/share/bash-completion/completions/memtrace

# --- memtrace --version ----------------------------------------------------------------------
version_out=$("$memtrace" --version) || fail "memtrace --version exited $?"
if [[ $'\n'$version_out == *$'\nmemtrace '* ]]; then
    ok "memtrace --version: $(head -n 1 <<<"$version_out")"
else
    fail "memtrace --version printed no line starting 'memtrace ': $version_out"
fi
# The man page's header names the same version.
version=$(sed -n 's/^memtrace \([0-9][0-9.]*\).*/\1/p' <<<"$version_out" | head -n 1)
th=$(grep -m 1 '^\.TH ' "$man_page" || true)
if [ -n "$version" ] && [[ $th != *"\"memtrace $version\""* ]]; then
    fail "the man page's .TH line does not say \"memtrace $version\": $th (update docs/memtrace.1)"
fi

# --- the installed binary on fx_seed ---------------------------------------------------------
fx_seed=$build/fixtures/fx_seed
[ -x "$fx_seed" ] || { echo "FAIL: no $fx_seed (build the fixtures first)" >&2; exit 1; }
json=$tmp/seed.json
set +e
(cd "$tmp" && MEMTRACE_CACHE_DIR=$tmp/cache "$memtrace" run --json "$json" -- "$fx_seed") \
    >"$tmp/seed.out" 2>"$tmp/seed.err"
rc=$?
set -e
ptrace_forbidden=0
if [ "$rc" -eq 2 ] && grep -q "ptrace not permitted" "$tmp/seed.err"; then
    ptrace_forbidden=1   # the other checks go on; the test is skipped if they pass
    echo "the kernel does not permit ptrace here: fx_seed was not traced" >&2
    cat "$tmp/seed.err" >&2
elif [ "$rc" -ne 0 ]; then
    fail "installed memtrace run --json on fx_seed exited $rc (expected fx_seed's 0)"
    tail -n 40 "$tmp/seed.err" >&2
elif ! python3 - "$json" <<'EOF'
import json
import sys

with open(sys.argv[1]) as fh:
    doc = json.load(fh)
leaks = [rec for proc in doc["processes"] for rec in proc["leaks"]
         if rec["kind"] == "definitely_lost"]
shown = ["%d bytes in %d blocks" % (rec["bytes"], rec["blocks"]) for rec in leaks]
if len(leaks) != 1 or leaks[0]["bytes"] != 30 or leaks[0]["blocks"] != 1:
    sys.exit("expected exactly one definitely lost record, of 30 bytes in 1 block; "
             "the report has %d: %s" % (len(leaks), shown))
print("ok: fx_seed: one definitely lost record, %s" % shown[0])
EOF
then
    fail "the installed memtrace's JSON report on fx_seed"
fi

# --- the man page ----------------------------------------------------------------------------
rendered=$tmp/memtrace.1.txt
if command -v man >/dev/null; then
    renderer="man -l"
    MANWIDTH=100 man --warnings -l "$man_page" \
        >"$rendered" 2>"$tmp/man.err" || fail "man -l $man_page exited $?"
elif command -v nroff >/dev/null; then
    renderer="nroff -man"
    nroff -man -ww "$man_page" >"$rendered" 2>"$tmp/man.err" || fail "nroff -man exited $?"
else
    echo "FAIL: neither man (package man-db) nor nroff (package groff-base) is installed" >&2
    exit 1
fi
if [ -s "$tmp/man.err" ]; then
    fail "$renderer warned about $man_page:"
    cat "$tmp/man.err" >&2
fi
# Overstrikes (bold, underline) and SGR escapes out, whichever the formatter made.
sed -e 's/.\x08//g' -e 's/\x1b\[[0-9;]*m//g' "$rendered" >"$rendered.plain"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES \
               "SEE ALSO"; do
    grep -qx "$section" "$rendered.plain" || fail "the rendered man page has no $section section"
done
ok "$renderer renders the man page with its sections"

# --- the completion --------------------------------------------------------------------------
# complete WORD...: what the installed completion offers for the last WORD (bash's split of
# the command line: "--opt=" is the words "--opt" "=").
complete_words() {
    bash --norc --noprofile -c '
        source "$1" || exit 1
        shift
        spec=$(complete -p memtrace) || exit 1
        func=$(sed -n "s/.* -F \([^ ]*\) .*/\1/p" <<<"$spec")
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        "$func" memtrace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' complete "$completion" "$@"
}
for words in "run --show-leak-kinds =" "run --show-leak-kinds ''" "attach --show-leak-kinds ''"
do
    eval "set -- $words"
    offered=$(complete_words memtrace "$@") || fail "the completion failed on: memtrace $words"
    if grep -qx definite <<<"$offered"; then
        ok "completion of 'memtrace $words' offers definite"
    else
        fail "completion of 'memtrace $words' does not offer definite: ${offered//$'\n'/ }"
    fi
done
offered=$(complete_words memtrace run --flamegraph-cost '')
grep -qx peak <<<"$offered" || fail "completion of --flamegraph-cost does not offer peak"

# --- every long option of the command line is documented and completed ------------------------
mapfile -t longopts < <(sed -n '/ longopts\[\] = {/,/^};/ s/^ *{ *"\([a-z0-9-]*\)",.*/\1/p' \
                              "$src/tracer/cli/cli.c")
[ "${#longopts[@]}" -ge 20 ] || fail "found only ${#longopts[@]} long options in tracer/cli/cli.c"
# The man page's source with \- as - and font escapes out.
man_text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$man_page")
offered=$( { complete_words memtrace run --; complete_words memtrace attach --; } | sed 's/=$//')
missing=0
for opt in "${longopts[@]}"; do
    if ! grep -Eq -- "(^|[^a-z0-9-])--$opt([^a-z0-9-]|$)" <<<"$man_text"; then
        fail "--$opt (tracer/cli/cli.c) is not in the man page docs/memtrace.1"
        missing=$((missing + 1))
    fi
    if ! grep -qx -- "--$opt" <<<"$offered"; then
        fail "--$opt (tracer/cli/cli.c) is not offered by the completion docs/completion/memtrace"
        missing=$((missing + 1))
    fi
done
[ "$missing" -ne 0 ] ||
    ok "${#longopts[@]} long options of tracer/cli/cli.c: in the man page and the completion"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
if [ "$ptrace_forbidden" -ne 0 ]; then
    echo "SKIP: the installed memtrace could not trace fx_seed (ptrace not permitted)" >&2
    exit 77
fi
echo "PASS"
