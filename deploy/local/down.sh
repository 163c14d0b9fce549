#!/usr/bin/env bash
# `make down`: stop what `make up` started. Services get SIGTERM and drain (live calls end,
# in-flight work finishes); Redis writes its append-only file; PostgreSQL shuts down
# cleanly. Nothing under $VOEPY_DATA_DIR is removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
. "$here/lib.sh"
run=$VOEPY_DATA_DIR/run

stop_pid() {
    local name=$1 pidfile=$2 wait_s=$3 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        vp_log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((wait_s * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { vp_log "$name did not stop in ${wait_s}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    rm -f "$pidfile"
}

# The gateway first (no new calls), the media plane last.
for s in api-gateway call-control rating webhook-dispatcher media-fork; do
    stop_pid "voepy-$s" "$run/$s.pid" 40
done
stop_pid "sandbox carrier" "$run/sandbox.pid" 5
vp_redis_stop "$VOEPY_DATA_DIR/redis" "$VOEPY_LOCAL_REDIS_PORT"
vp_pg_stop "$VOEPY_DATA_DIR/pg"
vp_log "voepy is down (data kept in $VOEPY_DATA_DIR)"
