#!/usr/bin/env bash
# Lint proto/openapi.yaml (or the file given) with the pinned @redocly/cli of
# package-lock.json and the rules of redocly.yaml (the recommended ruleset).
# Installs the pinned tool with `npm ci` when it is missing or package-lock.json changed;
# npm's cache lives in node_modules/.npm-cache (gitignored with node_modules/).
# Exit status 0 only when the document is lint-clean: no errors and no warnings.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
doc="${1:-$root/proto/openapi.yaml}"

command -v npm >/dev/null || { echo "lint.sh: npm is missing (deploy/local/deps.sh installs it)" >&2; exit 2; }

stamp="$here/node_modules/.voepy-lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -x "$here/node_modules/.bin/redocly" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cache "$here/node_modules/.npm-cache" >&2)
    echo "$want" > "$stamp"
fi

set +e
out="$(cd "$root" && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
       "$here/node_modules/.bin/redocly" lint --max-problems 500 --config "$here/redocly.yaml" "$doc" 2>&1)"
rc=$?
set -e
# Drop the Node.js version banner; keep the findings.
printf '%s\n' "$out" | grep -v '^ *[║╔╚]' | sed '/^$/N;/^\n$/D'
if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -qE 'You have [0-9]+ warnings?'; then
    echo "lint.sh: $doc is not lint-clean" >&2
    exit 1
fi
echo "lint.sh: $doc is lint-clean"
