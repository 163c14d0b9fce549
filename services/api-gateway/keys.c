/*
 * keys.c - API keys and scopes: /v1/api_keys and /v1/whoami.
 *
 * Placeholder while the work is in progress: answers 501 not_implemented.
 */
#include "api.h"

void keys_whoami(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void keys_create(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void keys_list(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void keys_get(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void keys_rotate(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void keys_revoke(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}
