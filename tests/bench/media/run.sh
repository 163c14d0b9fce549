#!/usr/bin/env bash
# Bridged G.711 calls: media-fork against rtpengine (userspace), in one run (see README.md).
# Installs rtpengine-daemon if missing, builds Release into $VOEPY_BUILD_DIR (default
# build-bench); bounded by VOEPY_BENCH_TIMEOUT seconds (default 600).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. deploy/local/lib.sh

. tests/bench/lib.sh

bench_install rtpengine-daemon
# The package may start its own daemon (kernel forwarding, a fixed ng port): the bench
# runs its own, in userspace.
if command -v systemctl >/dev/null && systemctl is-active --quiet rtpengine-daemon 2>/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo systemctl disable --now rtpengine-daemon >/dev/null 2>&1 || true
fi
bench_build voepy-media-fork voepy-migrate voepy-ledger-check voepy-rtpload voepy-wsrecv
exec timeout -k 15 "${VOEPY_BENCH_TIMEOUT:-600}" python3 tests/bench/media/bench.py "$@"
