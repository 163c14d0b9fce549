/*
 * The refer verb (RFC 3515): hand an answered call to another SIP address on the far
 * end's side. We send REFER in the call's dialog with Refer-To (the action's
 * sip_address) and Referred-By (our party of the call); the far end answers 202 and
 * reports the transfer's progress in NOTIFYs (message/sipfrag), each answered 200.
 *
 * The action's call_actions row completes:
 *   done    when a NOTIFY reports a 2xx: the transfer happened, so our part of the call is
 *           over: it ends completed, initiator api (our BYE, unless the far end's came);
 *   failed  when the REFER is refused (a final answer >= 300, or none), when a NOTIFY
 *           reports a final failure (>= 300: the call goes on, the note says the status),
 *           or when the call ends before the transfer's outcome is known.
 * One refer at a time per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call_dialog.h"
#include "sip_msg.h"
#include "sip_ua.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

#define SIP_ADDRESS_MAX 256

struct call_refer {
    char action[ID_MAX];
    bool accepted; /* 202 */
};

static void finish_action(struct call *c, bool done, const char *note)
{
    struct call_refer *r = c->refer;
    if (!r)
        return;
    vlog_kv(VLOG_INFO, "call.refer_outcome", done ? "the transfer happened" : "the refer failed",
            "call_id", c->id, "action_id", r->action, "note", note, NULL);
    store__action_result(c, r->action, done, note);
    c->refer = NULL;
    free(r);
}

static void refer_answer_cb(void *arg, int status, const osip_message_t *resp)
{
    struct call *c = arg;
    (void)resp;
    if (!c->refer)
        return;
    if (status >= 200 && status < 300) {
        c->refer->accepted = true;
        log_info("call.refer_accepted", "call %s: the far end accepted the REFER (%d)", c->id,
                 status);
        return;
    }
    char note[96];
    snprintf(note, sizeof(note), "the far end refused the REFER: SIP %d", status);
    finish_action(c, false, note);
}

/* A usable Refer-To: a sip:/sips: URI without anything that would break the header. */
static bool address_ok(const char *a)
{
    if (!a || strlen(a) >= SIP_ADDRESS_MAX)
        return false;
    if (strncasecmp(a, "sip:", 4) != 0 && strncasecmp(a, "sips:", 5) != 0)
        return false;
    char host[256];
    int port;
    if (strncasecmp(a, "sip:", 4) == 0 && sip_msg_uri_hostport(a, host, sizeof(host), &port) != 0)
        return false;
    return strpbrk(a, "\r\n<>\" ") == NULL;
}

static int send_refer(struct call *c, const char *address, char *why, size_t n)
{
    char refer_to[SIP_ADDRESS_MAX + 2], by[160];
    const char *host = sip_ua_advertised_host(c->cc->ua);
    bool v6 = strchr(host, ':') != NULL;
    snprintf(refer_to, sizeof(refer_to), "<%s>", address);
    snprintf(by, sizeof(by), "<sip:%s@%s%s%s>", c->inbound ? c->to : c->from, v6 ? "[" : "", host,
             v6 ? "]" : "");
    const char *headers[] = {"Refer-To", refer_to, "Referred-By", by, "Event", "refer", NULL};
    struct sip_dialog_req req = {.method = "REFER", .headers = headers};
    int err = call_dialog__request(c, &req, refer_answer_cb, c);
    if (err)
        snprintf(why, n, "the REFER could not be sent: %s", vp_err_message(err));
    return err;
}

int call_refer_action(struct cc *cc, const char *call_id, const char *action_id,
                      const json_t *params, char *why, size_t n)
{
    struct call *c = call__find(cc, call_id);
    const char *address = vjson_str(params, "sip_address");
    if (!c || c->abandoned) {
        snprintf(why, n, "call %s is not live on this node", call_id);
        return VP_E_NOT_FOUND;
    }
    if (c->refer && strcmp(c->refer->action, action_id) == 0)
        return 0; /* the same action read twice */
    if (c->state != CALL_ANSWERED || c->refer) {
        snprintf(why, n, "call %s is not answered, or a refer is already in progress", call_id);
        return VP_E_CALL_NOT_IN_REQUIRED_STATE;
    }
    if (!address_ok(address)) {
        snprintf(why, n, "sip_address is not a usable sip: or sips: URI");
        return VP_E_INVALID_PARAMETER;
    }
    int err = send_refer(c, address, why, n);
    if (err)
        return err;
    struct call_refer *r = VP_NEW(r);
    snprintf(r->action, sizeof(r->action), "%s", action_id);
    c->refer = r;
    vlog_kv(VLOG_INFO, "call.refer", "REFER sent", "call_id", c->id, "refer_to", address, NULL);
    return 0;
}

/* The status code of a message/sipfrag body ("SIP/2.0 200 OK"), 0 when none. */
static int sipfrag_status(const osip_message_t *req)
{
    size_t len = 0;
    const char *body = sip_msg_body(req, &len);
    char line[32];
    if (!body || len < 11)
        return 0;
    snprintf(line, sizeof(line), "%.*s", (int)(len < 31 ? len : 31), body);
    if (strncasecmp(line, "SIP/2.0 ", 8) != 0)
        return 0;
    int st = atoi(line + 8);
    return st >= 100 && st <= 699 ? st : 0;
}

/* The transfer happened: our part of the call is over (from the loop, after the NOTIFY's
 * 200 has gone: the far end sees 200 then our BYE). */
static void transferred_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    call__finish(c, "completed", "api", 0, vtime_now_ms());
}

int call_refer__notify(struct call *c, const osip_message_t *req)
{
    if (!c->refer)
        return 481; /* no subscription of ours (RFC 6665 4.1.3) */
    int st = sipfrag_status(req);
    char note[96];
    log_info("call.refer_notify", "call %s: the transfer reports %d", c->id, st);
    if (st >= 200 && st < 300) {
        finish_action(c, true, NULL);
        uv_timer_start(&c->timer, transferred_cb, 0, 0); /* replaces the time limit */
    } else if (st >= 300) {
        snprintf(note, sizeof(note), "the transfer failed: SIP %d", st);
        finish_action(c, false, note);
    }
    return 200;
}

void call_refer__ending(struct call *c)
{
    finish_action(c, false, "the call ended before the transfer's outcome was known");
}

void call_refer__free(struct call *c)
{
    free(c->refer);
    c->refer = NULL;
}
