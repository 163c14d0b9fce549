#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL and Redis on free loopback ports.
#   tests/with-services.sh ctest --test-dir build
# The command sees VOEPY_TEST_PG_DSN, VOEPY_TEST_REDIS_HOST and VOEPY_TEST_REDIS_PORT.
# Everything lives in a temporary directory that is removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../deploy/local/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/voepy-test.XXXXXX")
chmod 755 "$tmp"
pg_port=$(vp_free_port)
redis_port=$(vp_free_port)
cleanup() {
    vp_redis_stop "$tmp/redis" "$redis_port"
    vp_pg_stop "$tmp/pg"
    rm -rf "$tmp"
}
trap cleanup EXIT
VOEPY_PG_FSYNC=off vp_pg_start "$tmp/pg" "$pg_port"
vp_redis_start "$tmp/redis" "$redis_port"

export VOEPY_TEST_PG_DSN="host=127.0.0.1 port=$pg_port dbname=voepy user=voepy"
export VOEPY_TEST_REDIS_HOST=127.0.0.1
export VOEPY_TEST_REDIS_PORT=$redis_port
export VOEPY_TEST_TMP=$tmp
"$@"
