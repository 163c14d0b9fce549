/*
 * Answering-machine detection on a leg (leg.h: leg_amd_start/leg_amd_stop): a tap feeds
 * the far end's audio to the detector (amd.h) and the outcome goes out as a leg event,
 * LEG_EV_AMD_COMPLETE, like a gather's result. The state lives from start to the
 * detector's decision, a stop, or the leg's close, whichever comes first.
 */
#include <stdio.h>
#include <stdlib.h>

#include "amd.h"
#include "leg_internal.h"
#include "leg_tap.h"
#include "voepy/alloc.h"
#include "voepy/log.h"

struct leg_amd {
    struct leg *leg;
    struct leg_tap *tap;
    struct amd *amd;
    char reply_to[STREAM_MAX];
};

static void report(struct leg_amd *m, enum amd_result r, bool beep)
{
    struct leg *l = m->leg;
    struct leg_event ev = {.type = LEG_EV_AMD_COMPLETE,
                           .leg_id = l->id,
                           .call_id = l->call_id,
                           .reply_to = m->reply_to[0] ? m->reply_to : l->reply_to,
                           .id = "",
                           .status = amd_result_name(r),
                           .beep = beep,
                           .elapsed_ms = amd_elapsed_ms(m->amd)};
    log_info("media.amd_complete", "leg %s: %s%s after %u ms", l->id, ev.status,
             beep ? " (beep)" : "", ev.elapsed_ms);
    if (l->ctx->leg_event)
        l->ctx->leg_event(l->ctx, &ev);
}

static void amd_free(struct leg_amd *m)
{
    m->leg->amd = NULL;
    amd_destroy(m->amd);
    free(m);
}

static void frame_cb(void *arg, const struct leg_tap_frame *f)
{
    struct leg_amd *m = arg;
    if (f->rate != 8000 || !amd_feed(m->amd, f->in, f->samples))
        return;
    report(m, amd_result(m->amd), amd_beep(m->amd));
    leg_tap_remove(m->leg, m->tap); /* allowed from inside the tap's own callback */
    amd_free(m);
}

/* The leg closes first: say what the detector has. */
static void closed_cb(void *arg)
{
    struct leg_amd *m = arg;
    report(m, amd_provisional(m->amd), false);
    amd_free(m);
}

static const struct leg_tap_ops amd_tap_ops = {.frame = frame_cb, .closed = closed_cb};

void leg_amd_start(struct leg *l, const char *reply_to)
{
    if (l->amd || l->state == LEG_CLOSING)
        return; /* one detection per leg: a repeated start (redelivery) changes nothing */
    struct leg_amd *m = VP_NEW(m);
    m->leg = l;
    m->amd = amd_create(NULL);
    snprintf(m->reply_to, sizeof(m->reply_to), "%s", reply_to ? reply_to : "");
    m->tap = leg_tap_add(l, &amd_tap_ops, m);
    l->amd = m;
}

bool leg_amd_stop(struct leg *l)
{
    struct leg_amd *m = l->amd;
    if (!m)
        return false;
    leg_tap_remove(l, m->tap);
    amd_free(m);
    return true;
}
