/*
 * actions.c - the call action verbs (all but hangup) and the call sub-resources.
 *
 * Placeholder while the work is in progress: answers 501 not_implemented.
 */
#include "api.h"

void calls_action(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void calls_streamings(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void calls_transcription(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void calls_amd(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}
