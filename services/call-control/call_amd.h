/*
 * call_amd.h - answering-machine detection for outbound calls (issue 5).
 *
 * A call created with `answering_machine_detection: "premium"` gets media-fork's
 * detector (amd_start on its leg) once answered; media-fork's amd_complete becomes the
 * call's amd_* columns, the call.amd_complete event and the `amd` usage charge
 * (cc_amd_complete in proto/sql/0037_amd.sql), whether or not the call is still live.
 */
#ifndef CC_CALL_AMD_H
#define CC_CALL_AMD_H

#include <jansson.h>
#include <stdbool.h>

struct call;
struct cc;
struct pg_result;

/* An outbound call's answered statement returned res (status 0) or failed: start the
 * detection when its "amd" column says the call wants it (cc_amd_wanted, 0037). */
void call_amd_answered(struct call *c, int status, const struct pg_result *res);
/* Whether op is media-fork's amd_complete. */
bool call_amd_is_outcome(const char *op);
/* Record media-fork's amd_complete m. */
void call_amd_outcome(struct cc *cc, const json_t *m);

#endif
