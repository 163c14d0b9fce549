# The one-machine defaults of `make up` / `make down` (sourced). Override any from the
# environment. Tests never use these: they pick free ports of their own.
VOEPY_ROOT=${VOEPY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VOEPY_DATA_DIR=${VOEPY_DATA_DIR:-$VOEPY_ROOT/.voepy}
VOEPY_BUILD_DIR=${VOEPY_BUILD_DIR:-$VOEPY_ROOT/build}
VOEPY_API_PORT=${VOEPY_API_PORT:-8080}
VOEPY_SIP_PORT=${VOEPY_SIP_PORT:-5060}
VOEPY_LOCAL_PG_PORT=${VOEPY_LOCAL_PG_PORT:-55432}
VOEPY_LOCAL_REDIS_PORT=${VOEPY_LOCAL_REDIS_PORT:-56379}
VOEPY_SANDBOX_SIP_PORT=${VOEPY_SANDBOX_SIP_PORT:-5080}
VOEPY_SANDBOX_MEDIA_PORT=${VOEPY_SANDBOX_MEDIA_PORT:-16000}
VOEPY_SERVICES="api-gateway call-control media-fork rating webhook-dispatcher"
