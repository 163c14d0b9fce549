#!/usr/bin/env bash
# Run the integration suites (tests/integration/test_*.py) against the binaries in
# $VOEPY_BUILD_DIR (default build). Each suite starts its own PostgreSQL, Redis and services.
#   tests/integration/run.sh                 every suite, VOEPY_IT_JOBS (default 2) at a time
#   tests/integration/run.sh test_api        one module (any unittest name)
set -euo pipefail
cd "$(dirname "$0")"
if [ $# -eq 0 ]; then
    exec python3 parallel.py -j "${VOEPY_IT_JOBS:-2}"
fi
exec python3 -m unittest -v "$@"
