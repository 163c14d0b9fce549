/*
 * play / speak / stop_playback with target_legs and media-fork's per-leg queue; see
 * call_play.h for the rules. Each targeted call's list (kept in its media state by
 * call_media.c) holds one entry per play sent to its leg, in the order sent, which is the
 * order media-fork plays them. A play of both legs has an entry on each leg naming the
 * other call: the action completes when the last of the two ends.
 */
#include "call_play.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "call_speech.h"
#include "cc_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

/* Per leg: media-fork plays one and queues 16; refused ones still report their end. */
#define PLAYS_MAX 32

struct play_entry {
    char action[ID_MAX];
    char owner[ID_MAX];      /* the call whose action it is */
    char other[ID_MAX];      /* both: the other targeted call ("" none) */
    char stop[ID_MAX];       /* a stop_playback waiting for this playback's end ("" none) */
    char stop_owner[ID_MAX]; /* ... and its call */
    bool failed;
    char note[256]; /* the failure (the first one, of either leg) */
};

struct call_play {
    size_t n;
    struct play_entry e[PLAYS_MAX];
    /* the ringback this call plays: a transfer's child on its parent's leg
     * (call_play_ringback), a call with early media on its own (call_play_early) */
    bool ringback;
    char rb_parent[ID_MAX]; /* the leg's call: the parent, or the call itself */
};

static struct call_play *list_of(struct cc *cc, const char *call_id, bool make)
{
    struct call_play **slot = call_media__plays(cc, call_id, make);
    if (slot && !*slot && make)
        *slot = VP_NEW(*slot);
    return slot ? *slot : NULL;
}

static int find(const struct call_play *l, const char *action)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->e[i].action, action) == 0)
            return (int)i;
    return -1;
}

static void take(struct call_play *l, int i, struct play_entry *out)
{
    *out = l->e[i];
    memmove(&l->e[i], &l->e[i + 1], (l->n - (size_t)i - 1) * sizeof(l->e[0]));
    l->n--;
}

/* Drop call_id's list when empty, then its media state when nothing else is pending. */
static void tidy(struct cc *cc, const char *call_id)
{
    struct call_play **slot = call_media__plays(cc, call_id, false);
    if (slot && *slot && (*slot)->n == 0 && !(*slot)->ringback) {
        free(*slot);
        *slot = NULL;
    }
    call_media__tidy(cc, call_id);
}

void call_play_free(struct call_play *p)
{
    free(p);
}

/* ---- completing rows ---- */

static void direct_cb(int status, const struct pg_result *res, void *arg)
{
    (void)res;
    if (status)
        log_warn("media.outcome_lost", "a play's outcome was not recorded: %s",
                 vp_err_message(status));
    else
        cc__kick_outbox(arg);
}

/* Complete action of call_id: on its queue while it is here, else directly. */
static void record(struct cc *cc, const char *call_id, const char *action, bool done,
                   const char *note)
{
    struct call *c = call__find(cc, call_id);
    if (c && c->abandoned)
        return; /* stopping: nothing more is recorded */
    if (c) {
        store__action_result(c, action, done, note);
        return;
    }
    const char *params[] = {call_id, cc->node_id, action, done ? "true" : "false", note};
    if (pg_exec(cc->pg, "SELECT cc_action_result($1, $2, $3, $4, $5)", 5, params, direct_cb, cc) !=
        0)
        log_warn("media.outcome_lost", "a play's outcome was not recorded: the queue is full");
}

/*
 * Entry e of target_id's leg ended (already taken from its list): complete the stop
 * waiting for it, and the action unless its other leg still plays (which then inherits
 * the failure). done_note: the note of a done row (NULL none).
 */
static void entry_ended(struct cc *cc, const char *target_id, const struct play_entry *e,
                        const char *done_note)
{
    if (e->stop[0])
        record(cc, e->stop_owner, e->stop, true, NULL);
    struct call_play *o = e->other[0] ? list_of(cc, e->other, false) : NULL;
    int j = find(o, e->action);
    if (j >= 0 && e->failed && !o->e[j].failed) {
        o->e[j].failed = true;
        memcpy(o->e[j].note, e->note, sizeof(e->note));
    }
    if (j < 0)
        record(cc, e->owner, e->action, !e->failed, e->failed ? e->note : done_note);
    tidy(cc, target_id);
}

/* ---- play ---- */

/* The call c is bridged with on its media node, or NULL. */
static struct call *peer_of(struct call *c)
{
    struct call *p = c->peer_id[0] ? call__find(c->cc, c->peer_id) : NULL;
    if (!p || p->abandoned || call_state_terminal(p->state) || p->media.state != MEDIA_ALLOCATED ||
        strcmp(p->peer_id, c->id) != 0 || strcmp(p->media.node, c->media.node) != 0)
        return NULL;
    return p;
}

static int send_play(struct call *t, const char *action, const json_t *p, char *why, size_t n)
{
    /* speak (call_speech.c) is a play of rendered text: same ids, same completion */
    bool speak = vjson_str(p, "payload") != NULL;
    json_t *cmd = speak ? call_speech_speak_command(t->leg_id, p)
                        : json_pack("{s:s, s:s}", "op", "play", "leg_id", t->leg_id);
    if (!speak) {
        json_object_set_new(cmd, "audio", json_string(vjson_str(p, "url")));
        json_t *loop = json_object_get(p, "loop");
        if (loop && !json_is_null(loop))
            json_object_set(cmd, "loop", loop);
    }
    json_object_set_new(cmd, "playback_id", json_string(action));
    return media__send_or_why(t, cmd, why, n);
}

static void add_entry(struct call *t, const char *action, const struct call *owner,
                      const struct call *other, const char *failed)
{
    struct call_play *l = list_of(t->cc, t->id, true);
    struct play_entry *e = &l->e[l->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->action, sizeof(e->action), "%s", action);
    snprintf(e->owner, sizeof(e->owner), "%s", owner->id);
    snprintf(e->other, sizeof(e->other), "%s", other ? other->id : "");
    e->failed = failed != NULL;
    snprintf(e->note, sizeof(e->note), "%s", failed ? failed : "");
}

/* The legs target_legs names: 1 or 2 (t[0] first), or a negative VP_E_* with why. */
static int targets(struct call *c, const json_t *params, struct call *t[2], char *why, size_t n)
{
    const char *legs = vjson_str(params, "target_legs");
    if (!legs || strcmp(legs, "self") == 0) {
        t[0] = c;
        return 1;
    }
    bool both = strcmp(legs, "both") == 0;
    if (!both && strcmp(legs, "opposite") != 0) {
        snprintf(why, n, "target_legs must be self, opposite or both");
        return VP_E_INVALID_PARAMETER;
    }
    struct call *p = peer_of(c);
    if (!p) {
        snprintf(why, n,
                 "no_opposite_leg: target_legs %s needs a second leg, and call %s is not "
                 "bridged with another call on this node",
                 legs, c->id);
        return VP_E_CONFLICT;
    }
    t[0] = both ? c : p;
    t[1] = p;
    return both ? 2 : 1;
}

int call_play_action(struct call *c, const char *op, const char *action, const json_t *params,
                     char *why, size_t n)
{
    (void)op; /* play or speak: speak's params carry payload */
    struct call *t[2] = {NULL, NULL};
    int nt = targets(c, params, t, why, n);
    if (nt < 0)
        return nt;
    for (int i = 0; i < nt; i++) {
        struct call_play *l = list_of(c->cc, t[i]->id, false);
        if (l && l->n == PLAYS_MAX) {
            snprintf(why, n, "queue_full: %d plays already wait on the leg of call %s", PLAYS_MAX,
                     t[i]->id);
            return VP_E_CONFLICT;
        }
    }
    int err = send_play(t[0], action, params, why, n);
    if (err)
        return err;
    if (nt == 1) {
        add_entry(t[0], action, c, NULL, NULL);
        return 0;
    }
    char note[256];
    if (send_play(t[1], action, params, note, sizeof(note)) != 0) {
        add_entry(t[0], action, c, NULL, note); /* fails when the first ends */
        return 0;
    }
    add_entry(t[0], action, c, t[1], NULL);
    add_entry(t[1], action, c, t[0], NULL);
    return 0;
}

bool call_play_has(struct call *c, const char *action)
{
    if (find(list_of(c->cc, c->id, false), action) >= 0)
        return true;
    struct call *p = peer_of(c);
    return p && find(list_of(c->cc, p->id, false), action) >= 0;
}

/* ---- stop_playback ---- */

static bool plays_of(const struct call_play *l, const char *owner)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->e[i].owner, owner) == 0)
            return true;
    return false;
}

int call_play_stop(struct call *c, const char *action, const json_t *params, char *why, size_t n)
{
    const char *stop = vjson_str(params, "stop");
    bool current = stop && strcmp(stop, "current") == 0;
    struct call *t[2] = {c, peer_of(c)};
    if (t[1] && !plays_of(list_of(c->cc, t[1]->id, false), c->id))
        t[1] = NULL; /* none of ours plays there */
    struct play_entry *wait = NULL;
    for (int i = 0; i < 2 && t[i]; i++) {
        json_t *cmd = json_pack("{s:s, s:s, s:s}", "op", "stop_playback", "leg_id", t[i]->leg_id,
                                "stop", current ? "current" : "all");
        int err = media__send_or_why(t[i], cmd, why, n);
        if (err && i == 0)
            return err;
        struct call_play *l = err ? NULL : list_of(c->cc, t[i]->id, false);
        if (l && l->n)
            wait = &l->e[current ? 0 : l->n - 1];
    }
    if (!wait) {
        store__action_result(c, action, true, NULL);
        return 0;
    }
    if (wait->stop[0]) /* an earlier stop waiting for the same end: done too */
        record(c->cc, wait->stop_owner, wait->stop, true, NULL);
    snprintf(wait->stop, sizeof(wait->stop), "%s", action);
    snprintf(wait->stop_owner, sizeof(wait->stop_owner), "%s", c->id);
    return 0;
}

/* ---- what media-fork reports ---- */

static const char *or_else(const char *v, const char *def)
{
    return v ? v : def;
}

void call_play_ended(struct cc *cc, struct call *c, const char *call_id, const json_t *m)
{
    (void)c;
    const char *id = vjson_str(m, "playback_id"), *reason = vjson_str(m, "reason");
    vlog_kv(VLOG_INFO, "media.playback_ended", "a playback ended", "call_id", call_id,
            "playback_id", id, "reason", reason, "error", vjson_str(m, "error"), NULL);
    if (!id || !id_valid(id, "act"))
        return; /* a beep, or not ours */
    bool failed = !reason || strcmp(reason, "failed") == 0;
    char note[256];
    snprintf(note, sizeof(note), "%.64s: %.180s", or_else(vjson_str(m, "error"), "failed"),
             or_else(vjson_str(m, "detail"), "the audio could not be played"));
    struct call_play *l = list_of(cc, call_id, false);
    int i = find(l, id);
    if (i < 0) { /* not known here (sent before a restart): the leg's own call's */
        record(cc, call_id, id, !failed, failed ? note : NULL);
        return;
    }
    struct play_entry e;
    take(l, i, &e);
    if (failed && !e.failed) {
        e.failed = true;
        memcpy(e.note, note, sizeof(note));
    }
    entry_ended(cc, call_id, &e, NULL);
}

void call_play_released(struct call *c)
{
    call_play_ringback_stop(c);
    struct call_play *l;
    while ((l = list_of(c->cc, c->id, false)) && l->n) {
        struct play_entry e;
        take(l, 0, &e);
        if (c->abandoned)
            tidy(c->cc, c->id); /* stopping: nothing is recorded */
        else
            entry_ended(c->cc, c->id, &e,
                        "the call ended before media-fork reported the playback's end");
    }
}

/*
 * ---- ringback: the creation's audio_url, heard by the parent of a ringing transfer, or
 * on the call's own leg while it has early media ----
 */

/* The ringback's playback_id on the parent's leg: "ringback~<child call id>". */
static void ringback_id(const char *child_id, char *out, size_t n)
{
    snprintf(out, n, "ringback~%.40s", child_id);
}

/* A parent that can hear a ringback: answered or bridged with a media leg, not relaying. */
static struct call *ringback_parent(struct cc *cc, const char *parent_id)
{
    struct call *p = call__find(cc, parent_id);
    if (!p || p->abandoned || p->relay || p->media.state != MEDIA_ALLOCATED ||
        (p->state != CALL_ANSWERED && p->state != CALL_BRIDGED))
        return NULL;
    return p;
}

/* The leg that hears ch's ringback now: its parent's, or with early media (and no
 * parent) its own; NULL when ch no longer rings or nobody can hear it. */
static struct call *ringback_leg(struct call *ch)
{
    if (ch->state != CALL_RINGING || ch->abandoned)
        return NULL;
    if (ch->parent_id[0])
        return ringback_parent(ch->cc, ch->parent_id);
    return ch->early_media && ch->media.state == MEDIA_ALLOCATED ? ch : NULL;
}

struct rb_lookup {
    struct cc *cc;
    char child_id[ID_MAX];
};

static void ringback_url_cb(int status, const struct pg_result *res, void *arg)
{
    struct rb_lookup *q = arg;
    const char *url = status == 0 && pg_ntuples(res) > 0 ? pg_get(res, 0, "url") : NULL;
    struct call *ch = url ? call__find(q->cc, q->child_id) : NULL;
    struct call *p = ch ? ringback_leg(ch) : NULL;
    struct call_play *had = ch ? list_of(q->cc, ch->id, false) : NULL;
    if (p && !(had && had->ringback)) {
        char id[ID_MAX];
        ringback_id(ch->id, id, sizeof(id));
        json_t *cmd = json_pack("{s:s, s:s, s:s, s:i, s:s}", "op", "play", "leg_id", p->leg_id,
                                "audio", url, "loop", 100, "playback_id", id);
        if (media__send_verb(p, cmd) == 0) {
            struct call_play *l = list_of(q->cc, ch->id, true);
            l->ringback = true;
            snprintf(l->rb_parent, sizeof(l->rb_parent), "%s", p->id);
            vlog_kv(VLOG_INFO, "media.ringback",
                    p == ch ? "early media: the far end hears audio_url"
                            : "the parent hears the ringback",
                    "call_id", p->id, "child_call_id", p == ch ? NULL : ch->id, NULL);
        }
    }
    free(q);
}

/* Read the audio_url of call owner_id (calls.options), then play it as ch's ringback. */
static void ringback_lookup(struct call *ch, const char *owner_id)
{
    struct rb_lookup *q = VP_NEW(q);
    q->cc = ch->cc;
    snprintf(q->child_id, sizeof(q->child_id), "%s", ch->id);
    const char *params[] = {owner_id};
    if (pg_exec(ch->cc->pg, "SELECT options->>'audio_url' AS url FROM calls WHERE id = $1", 1,
                params, ringback_url_cb, q) != 0) {
        log_warn("media.ringback_lost", "no ringback for call %s: the queue is full", ch->id);
        free(q);
    }
}

void call_play_ringback(struct call *child)
{
    if (!child->parent_id[0] || !ringback_parent(child->cc, child->parent_id))
        return; /* not a transfer's child, or a forwarding's (its caller is not answered) */
    ringback_lookup(child, child->parent_id);
}

void call_play_early(struct call *c)
{
    if (c->parent_id[0] || !ringback_leg(c))
        return; /* a child's parent has its own ringback (call_play_ringback) */
    ringback_lookup(c, c->id);
}

void call_play_ringback_stop(struct call *child)
{
    struct call_play *l = list_of(child->cc, child->id, false);
    if (!l || !l->ringback)
        return;
    l->ringback = false;
    struct call *p = call__find(child->cc, l->rb_parent);
    if (p && !p->abandoned && p->media.state == MEDIA_ALLOCATED) {
        char id[ID_MAX];
        ringback_id(child->id, id, sizeof(id));
        media__send_verb(p, json_pack("{s:s, s:s, s:s}", "op", "stop_playback", "leg_id", p->leg_id,
                                      "playback_id", id));
    }
    tidy(child->cc, child->id);
}
