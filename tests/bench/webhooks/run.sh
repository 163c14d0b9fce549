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

# Packages for the bench only (deps.sh has what the build and tests need).
missing=()
for p in wrk nginx; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ " $* " == *" --profile "* ]] && ! command -v perf >/dev/null; then
    missing+=("linux-perf")
fi
if [ ${#missing[@]} -gt 0 ]; then
    vp_log "bench: installing ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || vp_die "need root or sudo to install: ${missing[*]}"
        SUDO=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The package may start a system nginx on port 80; the bench runs its own.
    if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null &&
        systemctl is-active --quiet nginx 2>/dev/null; then
        $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
fi

export VOEPY_BUILD_DIR=${VOEPY_BUILD_DIR:-build-bench}
cmake -S . -B "$VOEPY_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$VOEPY_BUILD_DIR" --target voepy-webhook-dispatcher voepy-migrate -j"${JOBS:-2}" >/dev/null

exec timeout -k 15 "${VOEPY_BENCH_TIMEOUT:-170}" python3 tests/bench/webhooks/bench.py "$@"
