#!/usr/bin/env bash
# Call setup rate: voepy (a relay number forwarding to SIPp) against Kamailio and SIPp
# direct, in one run (see README.md). Installs sip-tester and kamailio if missing, builds
# Release into $VOEPY_BUILD_DIR (default build-bench); bounded by VOEPY_BENCH_TIMEOUT
# seconds (default 600).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. deploy/local/lib.sh

. tests/bench/lib.sh

bench_install sip-tester kamailio
bench_build voepy-api-gateway voepy-call-control voepy-media-fork voepy-rating \
    voepy-webhook-dispatcher voepy-migrate voepy-ledger-check
exec timeout -k 15 "${VOEPY_BENCH_TIMEOUT:-600}" python3 tests/bench/sip/bench.py "$@"
