/*
 * openapi.c - GET /v1/openapi.yaml: the contract document.
 *
 * Placeholder while the work is in progress: answers 501 not_implemented.
 */
#include "api.h"

void openapi_get(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}
