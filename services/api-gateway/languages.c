/*
 * languages.c - whether some media node transcribes a language (transcription_start).
 *
 * media-fork nodes advertise the languages they have transcription models for in the
 * node registry (proto/streams.md): the hash voepy:node:media-fork:{id} has "languages",
 * comma-separated ("en-US,es-ES"). A transcription_start is checked with one EVAL that
 * reads the alive nodes' lists (nodes_field_read, ccnodes.c): a language one of them serves
 * (lang.h: the same tag, or the same primary subtag) goes on, any other is refused 422
 * invalid_parameter on field "language", naming the languages there are. The gateway keeps no list
 * of its own.
 *
 * When no media node is known (none alive, one that advertises nothing, Redis down or
 * erring) nothing is refused here: media-fork refuses a language it cannot hear, and the
 * action then fails with its reason (call-control, call_speech.c).
 */
#include "api.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "voepy/http_server.h"
#include "voepy/lang.h"
#include "voepy/log.h"
#include "voepy/redis.h"

#define TAGS_MAX 32 /* languages named in a refusal */

/* One check in flight, in the request's arena. */
struct lang_check {
    struct api_req *r;
    const char *language;
    void (*next)(struct api_req *r);
};

/* The distinct languages of the lists seen, for the refusal's message. */
struct tags {
    char tag[TAGS_MAX][LANG_TAG_MAX];
    size_t n;
};

/* Add the tags of list (len bytes, comma-separated) that t does not have yet. */
static void add_tags(struct tags *t, const char *list, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(list + i, ",");
        n = n < len - i ? n : len - i;
        bool keep = n > 0 && n < LANG_TAG_MAX && t->n < TAGS_MAX;
        for (size_t k = 0; keep && k < t->n; k++)
            keep = strlen(t->tag[k]) != n || strncasecmp(t->tag[k], list + i, n) != 0;
        if (keep)
            snprintf(t->tag[t->n++], LANG_TAG_MAX, "%.*s", (int)n, list + i);
        i += n + 1;
    }
}

static void refuse(struct lang_check *c, const struct tags *t)
{
    char all[TAGS_MAX * (LANG_TAG_MAX + 2)] = "";
    for (size_t k = 0, used = 0; k < t->n; k++)
        used += (size_t)snprintf(all + used, sizeof(all) - used, "%s%s", k ? ", " : "", t->tag[k]);
    reply_fail(c->r, VP_E_INVALID_PARAMETER, "language",
               "No transcription model for language %s. Languages available: %s.", c->language,
               all);
}

/* The reply's lists: next(r) when one serves the language or a node says nothing. */
static void decide(struct lang_check *c, const redisReply *reply)
{
    struct tags t = {.n = 0};
    for (size_t i = 1; i < reply->elements; i += 2) { /* id, languages pairs */
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len == 0 || lang_list_serves(e->str, c->language)) {
            c->next(c->r); /* served, or a node we cannot judge */
            return;
        }
        add_tags(&t, e->str, e->len);
    }
    if (reply->elements == 0)
        c->next(c->r); /* no media node known yet: media-fork will judge */
    else
        refuse(c, &t);
}

static void listed_cb(int status, struct redisReply *reply, void *arg)
{
    struct lang_check *c = arg;
    if (status != 0 || reply->type != REDIS_REPLY_ARRAY) {
        log_debug("api.languages_unknown", "media nodes' languages not read: %s",
                  status                             ? vp_err_message(status)
                  : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                     : "unexpected reply");
        c->next(c->r); /* fail open: media-fork refuses what it cannot hear */
        return;
    }
    decide(c, reply);
}

void languages_check(struct api_req *r, const char *language, void (*next)(struct api_req *r))
{
    struct lang_check *c = http_request_alloc(r->http, sizeof(*c));
    *c = (struct lang_check){.r = r, .language = language, .next = next};
    if (!r->api->redis || !redis_connected(r->api->redis)) {
        next(r);
        return;
    }
    if (nodes_field_read(r->api->redis, "media-fork", "languages", listed_cb, c) != 0)
        next(r);
}
