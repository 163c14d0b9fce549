#!/usr/bin/env bash
# Everything `make check` runs, in order, failing fast:
#  1. install missing packages; 2. clang-format check; 3. lint of the API contract;
#  4. plain build + unit tests; 5. integration tests (every response checked against the
#  contract); 6. the same unit and integration tests under ASan+UBSan; 7. a bounded
#  libFuzzer run of the request and body decoders.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
step() { printf '\n==== %s ====\n' "$*"; }
start=$(date +%s)

step "dependencies"
deploy/local/deps.sh

step "format"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

step "contract lint (proto/openapi.yaml)"
tests/contract/lint.sh

step "build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

step "build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVOEPY_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"

for b in build build-asan; do
    step "unit tests ($b)"
    ASAN_OPTIONS=detect_leaks=1 tests/with-services.sh ctest --test-dir "$b" --output-on-failure -j"$JOBS"
    step "integration tests ($b)"
    VOEPY_BUILD_DIR=$b tests/integration/run.sh
done

step "fuzzing (bounded, clang + libFuzzer)"
tests/fuzz/run-bounded.sh .

step "all green in $(( $(date +%s) - start )) s"
