#!/usr/bin/env bash
# Bounded libFuzzer runs for CI: build the fuzz targets with clang (libFuzzer + ASan +
# UBSan) in BUILD_ROOT/build-fuzz and fuzz each for a fixed time, starting from a COPY of
# its committed corpus (tests/fuzz/corpus/<target> is never written to). Fails on any
# crash, leak, sanitizer report, timeout or out-of-memory; prints the executions per target.
#
#   tests/fuzz/run-bounded.sh [BUILD_ROOT] [TARGET...]
#
# BUILD_ROOT defaults to the repository root. Without targets: http and json_body get
# VOEPY_FUZZ_SECONDS each (default 30); the other targets share what is left of
# VOEPY_FUZZ_BUDGET (default 160 s of fuzzing, about 3 minutes with start-up and corpus
# loading), at least 5 s each, else are skipped.
# Named targets get VOEPY_FUZZ_SECONDS each. Crash inputs and logs are kept in
# BUILD_ROOT/build-fuzz/fuzz-out/. A crash input goes into the corpus together with its fix
# (DEVELOPERS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

root=${1:-.}
[ $# -gt 0 ] && shift
mkdir -p "$root"
build=$(cd "$root" && pwd)/build-fuzz
out=$build/fuzz-out
each=${VOEPY_FUZZ_SECONDS:-30}
budget=${VOEPY_FUZZ_BUDGET:-160}
main_targets=(http json_body)
other_targets=(sip sdp sip_frame rtp mf_command)

say() { printf '[fuzz] %s\n' "$*"; }

deploy/local/deps.sh # clang and libclang-rt-dev (libFuzzer) among them

# Which targets, for how long each: "name seconds" lines.
plan() {
    if [ $# -gt 0 ]; then
        for t in "$@"; do echo "$t $each"; done
        return
    fi
    for t in "${main_targets[@]}"; do echo "$t $each"; done
    local left=$((budget - each * ${#main_targets[@]}))
    local share=$((left / ${#other_targets[@]}))
    if [ "$share" -ge 5 ]; then
        for t in "${other_targets[@]}"; do echo "$t $share"; done
    else
        say "no time left in VOEPY_FUZZ_BUDGET=$budget for: ${other_targets[*]}" >&2
    fi
}
mapfile -t runs < <(plan "$@")

# Debug keeps assert() as an oracle; -O1 makes it fast enough to find something.
say "configuring $build (clang, libFuzzer, ASan+UBSan)"
CC=clang cmake -S "$repo" -B "$build" -DVOEPY_FUZZ=ON -DVOEPY_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 >/dev/null
targets=()
for r in "${runs[@]}"; do targets+=("fuzz_${r%% *}"); done
cmake --build "$build" --target "${targets[@]}" -j"${JOBS:-2}" >/dev/null

symbolizer=$(command -v llvm-symbolizer llvm-symbolizer-14 2>/dev/null | head -n 1 || true)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0${symbolizer:+:external_symbolizer_path=$symbolizer}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/voepy-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# fuzz NAME SECONDS: one bounded run; prints "NAME execs seconds"; non-zero on a finding.
fuzz() {
    local t=$1 secs=$2 log=$out/$1.log
    cp -r "tests/fuzz/corpus/$t" "$work/$t"
    local start=$SECONDS rc=0
    # -timeout=10: one input running longer than 10 s is a hang, reported with its input
    # (the targets tolerate the SIGALRM libFuzzer uses for it); timeout(1) bounds libFuzzer.
    timeout -k 10 $((3 * secs + 90)) "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" \
        -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/$t-" "$work/$t" >"$log" 2>&1 || rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    printf '%-11s %10s execs in %3d s  corpus %d -> %d inputs\n' "$t" "${execs:-?}" \
        $((SECONDS - start)) "$(ls "tests/fuzz/corpus/$t" | wc -l)" "$(ls "$work/$t" | wc -l)"
    if [ "$rc" -ne 0 ]; then
        say "fuzz_$t FAILED (exit $rc); log: $log"
        grep -E -A30 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY' \
            "$log" | head -n 60 || tail -n 40 "$log"
        ls "$out/$t-"* 2>/dev/null | sed 's/^/[fuzz] input: /'
        return 1
    fi
}

failed=()
start=$SECONDS
for r in "${runs[@]}"; do
    fuzz ${r% *} ${r#* } || failed+=("${r% *}")
done
if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]} (inputs and logs in $out)"
    exit 1
fi
say "no crash in ${#runs[@]} targets, $((SECONDS - start)) s of fuzzing"
