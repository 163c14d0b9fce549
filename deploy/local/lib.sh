# Shared shell functions for running voepy's dependencies on one machine.
# Sourced by up.sh, down.sh and the test runners; never run directly.
#
# PostgreSQL refuses to run as root: when we are root, the server runs as the
# unprivileged system user "voepy" (created on first use) and owns its data directory.

VOEPY_PG_BIN=${VOEPY_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

vp_log() { printf '%s %s\n' "[voepy]" "$*" >&2; }
vp_die() { vp_log "error: $*"; exit 1; }

# Install the Debian packages among "$@" that are missing (apt-get as root, sudo otherwise);
# does nothing when all are present. VP_INSTALLED lists what it installed.
vp_apt_install() {
    local p missing=() sudo=""
    VP_INSTALLED=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    vp_log "installing: ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || vp_die "need root or sudo to install: ${missing[*]}"
        sudo=sudo
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    VP_INSTALLED=("${missing[@]}")
}

# A TCP port nobody listens on right now (the kernel picks it).
vp_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

vp_as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u voepy -- "$@"
    else
        "$@"
    fi
}

vp_ensure_pg_user() {
    [ "$(id -u)" = 0 ] || return 0
    id voepy >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin voepy
}

# vp_pg_start DATADIR PORT: initdb on first use (trust auth on loopback and socket,
# database and role "voepy"), then start and wait until it accepts connections.
vp_pg_start() {
    local dir=$1 port=$2
    [ -x "$VOEPY_PG_BIN/pg_ctl" ] || vp_die "PostgreSQL server binaries not found (apt-get install postgresql)"
    vp_ensure_pg_user
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown voepy "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
        vp_as_pg_user "$VOEPY_PG_BIN/initdb" -D "$dir" -U voepy --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; vp_die "initdb failed"; }
    fi
    vp_as_pg_user "$VOEPY_PG_BIN/pg_ctl" -D "$dir" -w -t 30 -l "$dir/server.log" \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${VOEPY_PG_FSYNC:-on} -c max_connections=200" \
        start >/dev/null || { tail -n 20 "$dir/server.log" >&2; vp_die "PostgreSQL did not start"; }
    vp_as_pg_user "$VOEPY_PG_BIN/psql" -h 127.0.0.1 -p "$port" -U voepy -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname='voepy'" | grep -q 1 ||
        vp_as_pg_user "$VOEPY_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U voepy voepy
}

vp_pg_stop() {
    local dir=$1
    [ -f "$dir/postmaster.pid" ] || return 0
    vp_as_pg_user "$VOEPY_PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# vp_redis_start DIR PORT: append-only file on, so `make down` loses nothing.
vp_redis_start() {
    local dir=$1 port=$2
    command -v redis-server >/dev/null || vp_die "redis-server not found (apt-get install redis-server)"
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --appendonly yes \
        --save "" --protected-mode yes >/dev/null || vp_die "redis-server did not start"
    local i
    for i in $(seq 1 100); do
        redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    vp_die "redis-server did not answer on port $port"
}

vp_redis_stop() {
    local dir=$1 port=$2
    [ -f "$dir/redis.pid" ] || return 0
    redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
        kill -0 "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$dir/redis.pid"
}
