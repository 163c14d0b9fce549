#!/usr/bin/env bash
# api-gateway GET /v1/calls/{id} against nginx serving the same bytes (see README.md).
#   tests/bench/api/run.sh              install wrk/nginx if missing, Release build, bench
#   tests/bench/api/run.sh --profile    the same, then profile the gateway (perf/callgrind)
# The build goes to $VOEPY_BUILD_DIR (default build-bench, CMAKE_BUILD_TYPE=Release); the
# bench itself is bounded by VOEPY_BENCH_TIMEOUT seconds (default 110; 300 with --profile).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. deploy/local/lib.sh

. tests/bench/lib.sh

# Packages for the bench only (deps.sh has what the build and tests need).
bench_install wrk nginx valgrind
bench_build voepy-api-gateway voepy-migrate voepy-ledger-check

limit=${VOEPY_BENCH_TIMEOUT:-110}
[[ " $* " == *" --profile "* ]] && limit=${VOEPY_BENCH_TIMEOUT:-300}
exec timeout -k 15 "$limit" python3 tests/bench/api/bench.py "$@"
