#!/usr/bin/env bash
# The dispatcher's SQL alone: what PostgreSQL spends per delivery in wh_claim + wh_record,
# without HTTP, the dispatcher or nginx (see README.md, "SQL alone").
#   tests/bench/webhooks/sql.sh [repo dir]     (default: this checkout)
# Loads proto/sql/*.sql of the repo dir into a throw-away PostgreSQL (tests/with-services.sh),
# pre-loads N deliveries (VOEPY_BENCH_DELIVERIES, default 20000) for one endpoint, then
# pgbench runs N/40 cycles, each two transactions as the dispatcher makes them: claim 40
# (wh_claim), record them as 204 successes (wh_record). Prints WAL bytes and PostgreSQL CPU
# time per delivery (all its processes, from /proc), time per function call, and how many
# delivery updates were HOT. Pass a second checkout (git worktree) to compare two versions;
# interleave runs, this machine is noisy: WAL bytes are steady, CPU time is not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "${1:-$here/../../..}" && pwd)
if [ -z "${VOEPY_TEST_PG_DSN:-}" ]; then
    exec "$here/../../with-services.sh" "$here/sql.sh" "$repo"
fi
n=${VOEPY_BENCH_DELIVERIES:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sql() { psql "$VOEPY_TEST_PG_DSN" -X -q -v ON_ERROR_STOP=1 "$@"; }
for f in "$repo"/proto/sql/*.sql; do sql -f "$f" >/dev/null; done
sql >/dev/null <<EOF
INSERT INTO tenants (id, name) VALUES ('voepy_tenant_b', 'b');
INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, active)
VALUES ('voepy_whk_b1', 'voepy_tenant_b', 'http://127.0.0.1:1/h', '{*}',
        'whsec_MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=', false);
INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload)
SELECT 'voepy_dlv_' || x.e, 'voepy_tenant_b', 'voepy_whk_b1', 'voepy_evt_' || x.e, 'call.started',
       '{"id":"voepy_evt_' || x.e || '","type":"call.started","created_at":"2026-11-21T12:00:00.000Z",'
       '"data":{"call_id":"voepy_call_bench0","customer_reference":"order-4711","status":"initiated",'
       '"direction":"outbound","from":"+15125550100","to":"+15558675309"}}'
  FROM generate_series(1, $n) g, LATERAL (SELECT 'b1' || lpad(g::text, 7, '0') AS e) x;
VACUUM ANALYZE webhook_deliveries;
UPDATE webhook_endpoints SET active = true;
CREATE FUNCTION bench_record(ids text[], att int[]) RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE k int := coalesce(array_length(ids, 1), 0);
BEGIN
    IF k = 0 THEN RETURN 0; END IF;
    PERFORM * FROM wh_record(ids, att, array_fill(204, ARRAY[k]), array_fill(NULL::text, ARRAY[k]),
        array_fill(1, ARRAY[k]), array_fill(''::text, ARRAY[k]), array_fill('succeeded'::text, ARRAY[k]),
        array_fill(0::bigint, ARRAY[k]), array_fill(false, ARRAY[k]), array_fill(NULL::bigint, ARRAY[k]),
        5000, 432000);
    RETURN k;
END \$\$;
ALTER SYSTEM SET track_functions = 'pl';
SELECT pg_reload_conf();
EOF
cat >"$tmp/cycle.sql" <<'EOF'
SELECT coalesce(string_agg(delivery_id, ','), '') AS ids, coalesce(string_agg(attempt::text, ','), '') AS att FROM wh_claim(40, 64, 35000) \gset
SELECT bench_record(string_to_array(':ids', ','), string_to_array(':att', ',')::int[]);
EOF
# CPU ticks of the postmaster, its children and its reaped children (pgbench's backend)
pg_ticks() {
    python3 - "$VOEPY_TEST_TMP/pg/postmaster.pid" <<'EOF'
import os, sys
pm, tot = int(open(sys.argv[1]).readline()), 0
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        st = open("/proc/%s/stat" % p).read()
    except OSError:
        continue
    f = st[st.rindex(")") + 2:].split()
    if int(p) == pm:
        tot += sum(int(x) for x in f[11:15])
    elif int(f[1]) == pm:
        tot += int(f[11]) + int(f[12])
print(tot)
EOF
}
sql -c "SELECT pg_stat_reset()" >/dev/null
w0=$(sql -Atc "SELECT pg_current_wal_lsn()")
c0=$(pg_ticks)
pgbench -n -t $((n / 40)) -f "$tmp/cycle.sql" "$VOEPY_TEST_PG_DSN" >"$tmp/pgbench.out" 2>&1 ||
    { cat "$tmp/pgbench.out" >&2; exit 1; }
c1=$(pg_ticks)
w1=$(sql -Atc "SELECT pg_current_wal_lsn()")
hz=$(getconf CLK_TCK)
sql -Atc "SELECT 'sql-bench: ' || count(*) FILTER (WHERE status = 'succeeded') || ' of ' || count(*)
                 || ' succeeded; WAL ' || round(pg_wal_lsn_diff('$w1', '$w0') / $n)
                 || ' bytes/delivery; PostgreSQL CPU ' || round(($c1 - $c0) * 1e6 / $hz / $n)
                 || ' us/delivery' FROM webhook_deliveries"
sql -Atc "SELECT 'sql-bench: ' || funcname || ' ' || round((total_time / calls)::numeric, 3)
                 || ' ms/call (' || calls || ' calls)'
            FROM pg_stat_user_functions WHERE funcname IN ('wh_claim', 'wh_record') ORDER BY 1"
sql -Atc "SELECT 'sql-bench: delivery updates ' || n_tup_upd || ', HOT ' || n_tup_hot_upd
            FROM pg_stat_user_tables WHERE relname = 'webhook_deliveries'"
