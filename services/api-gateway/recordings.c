/*
 * recordings.c - /v1/recordings: list, get, download, delete.
 *
 * Placeholder while the work is in progress: answers 501 not_implemented.
 */
#include "api.h"

void recordings_list(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void recordings_get(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void recordings_download(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void recordings_delete(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}
