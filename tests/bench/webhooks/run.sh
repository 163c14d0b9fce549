#!/usr/bin/env bash
# webhook-dispatcher's signed deliveries/s into nginx, against nginx's own wrk ceiling with
# the same request, and p50/p99 event -> delivery latency at a fixed rate (see README.md).
#   tests/bench/webhooks/run.sh              install wrk/nginx if missing, Release build, bench
#   tests/bench/webhooks/run.sh --profile    the same, then perf samples of one drain
# The build goes to $VOEPY_BUILD_DIR (default build-bench, CMAKE_BUILD_TYPE=Release); the
# bench itself is bounded by VOEPY_BENCH_TIMEOUT seconds (default 170).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. deploy/local/lib.sh

. tests/bench/lib.sh

# Packages for the bench only (deps.sh has what the build and tests need).
extra=()
[[ " $* " == *" --profile "* ]] && ! command -v perf >/dev/null && extra+=(linux-perf)
bench_install wrk nginx "${extra[@]}"
bench_build voepy-webhook-dispatcher voepy-migrate voepy-ledger-check

exec timeout -k 15 "${VOEPY_BENCH_TIMEOUT:-170}" python3 tests/bench/webhooks/bench.py "$@"
