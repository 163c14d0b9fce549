#!/usr/bin/env bash
# `make up`: run the whole platform on this machine, from binaries already built.
# PostgreSQL and Redis run from Debian's packages with their data under $VOEPY_DATA_DIR,
# then the schema is migrated, the five services start, and the sandbox carrier (SIPp on
# loopback, answering every call with a tone) is made the platform's default route.
# The first run also creates a sandbox tenant with a number and some credit, so that the
# printed curl line places a real call at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
. "$here/lib.sh"

run=$VOEPY_DATA_DIR/run
logs=$VOEPY_DATA_DIR/logs
mkdir -p "$run" "$logs"
chmod 755 "$VOEPY_DATA_DIR"

for s in $VOEPY_SERVICES; do
    if [ -f "$run/$s.pid" ] && kill -0 "$(cat "$run/$s.pid")" 2>/dev/null; then
        vp_die "voepy is already running (voepy-$s pid $(cat "$run/$s.pid")); run make down first"
    fi
done

if [ -z "${VOEPY_ADMIN_TOKEN:-}" ]; then
    [ -f "$VOEPY_DATA_DIR/admin_token" ] ||
        (umask 077; python3 -c 'import secrets; print("vpadm_" + secrets.token_urlsafe(24))' \
            >"$VOEPY_DATA_DIR/admin_token")
    VOEPY_ADMIN_TOKEN=$(cat "$VOEPY_DATA_DIR/admin_token")
fi

vp_log "starting PostgreSQL on 127.0.0.1:$VOEPY_LOCAL_PG_PORT and Redis on 127.0.0.1:$VOEPY_LOCAL_REDIS_PORT"
vp_pg_start "$VOEPY_DATA_DIR/pg" "$VOEPY_LOCAL_PG_PORT"
vp_redis_start "$VOEPY_DATA_DIR/redis" "$VOEPY_LOCAL_REDIS_PORT"

export VOEPY_PG_DSN="host=127.0.0.1 port=$VOEPY_LOCAL_PG_PORT dbname=voepy user=voepy"
export VOEPY_REDIS_HOST=127.0.0.1 VOEPY_REDIS_PORT=$VOEPY_LOCAL_REDIS_PORT
export VOEPY_API_PORT VOEPY_SIP_PORT VOEPY_ADMIN_TOKEN
export VOEPY_URL_ALLOW_PRIVATE=${VOEPY_URL_ALLOW_PRIVATE:-true}
export VOEPY_URL_ALLOW_PORTS=${VOEPY_URL_ALLOW_PORTS:-*}
# media-fork writes recordings here and the gateway serves them (the default,
# /var/lib/voepy/recordings, is for packaged installs)
export VOEPY_RECORDINGS_DIR=${VOEPY_RECORDINGS_DIR:-$VOEPY_DATA_DIR/recordings}
mkdir -p "$VOEPY_RECORDINGS_DIR"

vp_log "migrating"
"$VOEPY_BUILD_DIR/tools/migrate/voepy-migrate" --dir "$VOEPY_ROOT/proto/sql" >>"$logs/migrate.log"

ops_port=9100
for s in $VOEPY_SERVICES; do
    VOEPY_OPS_PORT=$ops_port VOEPY_NODE_ID="$s-local" \
        setsid "$VOEPY_BUILD_DIR/services/$s/voepy-$s" >>"$logs/$s.log" 2>&1 </dev/null &
    echo $! >"$run/$s.pid"
    echo "$ops_port" >"$run/$s.ops_port"
    ops_port=$((ops_port + 1))
done
for s in $VOEPY_SERVICES; do
    port=$(cat "$run/$s.ops_port")
    for i in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        kill -0 "$(cat "$run/$s.pid")" 2>/dev/null || { tail -n 20 "$logs/$s.log" >&2; vp_die "voepy-$s exited"; }
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || vp_die "voepy-$s is not ready (see $logs/$s.log)"
done

vp_log "starting the sandbox carrier (SIPp) on 127.0.0.1:$VOEPY_SANDBOX_SIP_PORT"
python3 "$here/make-tone.py" "$run/sandbox-tone.wav"
cp "$here/sandbox-carrier.xml" "$run/"
(
    cd "$run"
    setsid sipp -sf sandbox-carrier.xml -i 127.0.0.1 -p "$VOEPY_SANDBOX_SIP_PORT" \
        -mp "$VOEPY_SANDBOX_MEDIA_PORT" -buff_size 4194304 -nostdin -trace_err \
        -error_file "$logs/sandbox-errors.log" >>"$logs/sandbox.log" 2>&1 </dev/null &
    echo $! >"$run/sandbox.pid"
)

"$here/bootstrap.sh"
