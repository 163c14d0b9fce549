#!/usr/bin/env bash
# Rated calls/s into the ledger by voepy-rating against pgbench running the same per-call
# ledger transaction (rating_apply) on the same PostgreSQL, in one run (see README.md).
#   tests/bench/rating/run.sh        Release build, then the bench
# The build goes to $VOEPY_BUILD_DIR (default build-bench, CMAKE_BUILD_TYPE=Release); the
# bench itself is bounded by VOEPY_BENCH_TIMEOUT seconds (default 300).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. deploy/local/lib.sh

. tests/bench/lib.sh

command -v pgbench >/dev/null || bench_install postgresql-contrib
bench_build voepy-rating voepy-migrate voepy-ledger-check

exec timeout -k 15 "${VOEPY_BENCH_TIMEOUT:-300}" python3 tests/bench/rating/bench.py "$@"
