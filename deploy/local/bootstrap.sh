#!/usr/bin/env bash
# First-run set-up of `make up` (idempotent): the sandbox carrier as the platform's default
# route, a rate for every destination, and a sandbox tenant with a number and $10 of credit.
# Its API key is kept in $VOEPY_DATA_DIR/sandbox_api_key (readable by you only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
. "$here/lib.sh"
api="http://127.0.0.1:$VOEPY_API_PORT"
token=${VOEPY_ADMIN_TOKEN:-$(cat "$VOEPY_DATA_DIR/admin_token")}
admin() { curl -fsS -X "$1" "$api$2" -H "Authorization: Bearer $token" \
              -H 'Content-Type: application/json' ${3:+-d "$3"}; }
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }

keyfile=$VOEPY_DATA_DIR/sandbox_api_key
if [ ! -f "$keyfile" ]; then
    vp_log "first run: creating the sandbox route, rate and tenant"
    route=$(admin POST /admin/v1/routes "{\"name\":\"sandbox carrier\",\"sip_uri\":\"sip:127.0.0.1:$VOEPY_SANDBOX_SIP_PORT\",\"transport\":\"udp\",\"platform_default\":true}" | json '["id"]')
    admin POST /admin/v1/rates '{"prefix":"","cents_per_minute":"1.2"}' >/dev/null
    admin POST /admin/v1/numbers "{\"numbers\":[\"+15005550100\",\"+15005550101\",\"+15005550102\"],\"route_id\":\"$route\"}" >/dev/null
    created=$(admin POST /admin/v1/tenants '{"name":"sandbox"}')
    tenant=$(echo "$created" | json '["tenant"]["id"]')
    (umask 077; echo "$created" | json '["api_key"]' >"$keyfile")
    admin POST "/admin/v1/tenants/$tenant/credit" '{"amount_cents":1000,"description":"sandbox credit"}' >/dev/null
    curl -fsS -X POST "$api/v1/phone_numbers" -H "Authorization: Bearer $(cat "$keyfile")" \
        -H 'Content-Type: application/json' -d '{"phone_number":"+15005550100"}' >/dev/null
fi
key=$(cat "$keyfile")
cat <<MSG

voepy is up.
  API            $api            (logs: $VOEPY_DATA_DIR/logs/)
  operator token $token
  sandbox key    $key
  sandbox SIP    sip:127.0.0.1:$VOEPY_SANDBOX_SIP_PORT (answers every call with a chime)

Place a first call (the sandbox carrier answers; it hangs up after 10 s):
  curl -s -X POST $api/v1/calls \\
    -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
    -H "Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" \\
    -d '{"from":"+15005550100","to":"+15005550199","time_limit_secs":10}'
Then: curl -s -H 'Authorization: Bearer $key' $api/v1/calls

Stop everything with: make down   (data is kept in $VOEPY_DATA_DIR)
MSG
