/*
 * DTMF as SIP INFO (application/dtmf-relay), for far ends whose SDP has no
 * telephone-event: send_dtmf sends one INFO per digit ("Signal=5\r\nDuration=250") in the
 * call's dialog, the next one when the previous is answered and its duration plus a gap
 * has passed (digits are paced as a keypad would press them). The action is done when
 * the last digit's INFO is answered 2xx; failed at the first refusal or when the call
 * ends first.
 *
 * INFO from the far end: a digit in application/dtmf-relay ("Signal=5\r\nDuration=160")
 * or application/dtmf (the body is the digit, "5", or its event code, "11" for #) goes to
 * the call's media leg as digit_in (proto/streams.md), where it is heard as an RFC 4733
 * digit is: by a running gather, the leg's taps and streams. It is answered 200 whether
 * or not a leg is there to hear it (the far end cannot do better by retrying). Other INFO
 * bodies are answered 200 as well (keep-alives).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call_dialog.h"
#include "call_media.h"
#include "sip_ext.h"
#include "sip_msg.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"

#define DIGITS_MAX   64
#define DUR_DEFAULT  250
#define DUR_MIN      40
#define DUR_MAX      5000
#define GAP_MS       100 /* between one digit's end and the next */
#define BUSY_RETRY   100 /* another request of ours is pending in the dialog */
#define BUSY_RETRIES 50

struct call_info {
    uv_timer_t timer;
    struct call *c; /* NULL once the call let go */
    char action[ID_MAX];
    char digits[DIGITS_MAX + 1];
    size_t next;
    int duration_ms;
    int busy_tries;
    bool sending; /* an INFO awaits its answer */
};

static void send_next_cb(uv_timer_t *t);

static void finish(struct call_info *ci, bool done, const char *note)
{
    struct call *c = ci->c;
    if (!c || !ci->action[0])
        return;
    vlog_kv(VLOG_INFO, "call.info_dtmf_done",
            done ? "DTMF sent as SIP INFO" : "SIP INFO DTMF failed", "call_id", c->id, "action_id",
            ci->action, "note", note, NULL);
    store__action_result(c, ci->action, done, note);
    ci->action[0] = '\0';
    uv_timer_stop(&ci->timer);
}

static void info_answer_cb(void *arg, int status, const osip_message_t *resp)
{
    struct call_info *ci = arg;
    (void)resp;
    ci->sending = false;
    if (!ci->c || !ci->action[0])
        return;
    if (status < 200 || status >= 300) {
        char note[96];
        snprintf(note, sizeof(note), "the far end refused the INFO of digit %zu: SIP %d", ci->next,
                 status);
        finish(ci, false, note);
        return;
    }
    if (!ci->digits[ci->next]) {
        finish(ci, true, NULL);
        return;
    }
    uv_timer_start(&ci->timer, send_next_cb, (uint64_t)ci->duration_ms + GAP_MS, 0);
}

static void send_next_cb(uv_timer_t *t)
{
    struct call_info *ci = t->data;
    char body[64];
    if (!ci->c || !ci->action[0] || ci->sending)
        return;
    char d = ci->digits[ci->next];
    snprintf(body, sizeof(body), "Signal=%c\r\nDuration=%d\r\n", d, ci->duration_ms);
    struct sip_dialog_req req = {
        .method = "INFO", .content_type = "application/dtmf-relay", .body = body};
    int err = call_dialog__request(ci->c, &req, info_answer_cb, ci);
    if (err == VP_E_CONFLICT && ++ci->busy_tries < BUSY_RETRIES) {
        uv_timer_start(&ci->timer, send_next_cb, BUSY_RETRY, 0);
        return;
    }
    if (err) {
        finish(ci, false, "the INFO could not be sent");
        return;
    }
    ci->busy_tries = 0;
    ci->sending = true;
    ci->next++;
}

static bool digits_ok(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    return n > 0 && n <= DIGITS_MAX && strspn(d, "0123456789*#ABCDabcd") == n;
}

int call_info_send_dtmf(struct call *c, const char *action_id, const json_t *params, char *why,
                        size_t n)
{
    const char *digits = vjson_str(params, "digits");
    long long dur = vjson_int(params, "duration_millis", DUR_DEFAULT);
    if (!digits_ok(digits)) {
        snprintf(why, n, "digits must be 1 to %d of 0-9, *, #, A-D", DIGITS_MAX);
        return VP_E_INVALID_PARAMETER;
    }
    if (c->info && c->info->action[0]) {
        if (strcmp(c->info->action, action_id) == 0)
            return 0; /* the same action read twice */
        snprintf(why, n, "call %s is still sending digits as SIP INFO", c->id);
        return VP_E_CONFLICT;
    }
    if (!c->info) {
        c->info = VP_NEW(c->info);
        c->info->c = c;
        uv_timer_init(c->cc->loop, &c->info->timer);
        c->info->timer.data = c->info;
    }
    struct call_info *ci = c->info;
    snprintf(ci->action, sizeof(ci->action), "%s", action_id);
    snprintf(ci->digits, sizeof(ci->digits), "%s", digits);
    for (char *p = ci->digits; *p; p++)
        if (*p >= 'a' && *p <= 'd')
            *p = (char)(*p - 'a' + 'A');
    ci->next = 0;
    ci->busy_tries = 0;
    ci->duration_ms = dur < DUR_MIN ? DUR_MIN : dur > DUR_MAX ? DUR_MAX : (int)dur;
    vlog_kv(VLOG_INFO, "call.info_dtmf", "the far end has no telephone-event: digits as SIP INFO",
            "call_id", c->id, "action_id", action_id, NULL);
    uv_timer_start(&ci->timer, send_next_cb, 0, 0);
    return 0;
}

/* An application/dtmf body: one DTMF character, or the event code 10 (*) or 11 (#), with
 * white space around it; 0 for anything else. */
static char dtmf_body(const char *body, size_t len)
{
    while (len > 0 && strchr(" \t\r\n", body[len - 1]))
        len--;
    while (len > 0 && strchr(" \t\r\n", *body)) {
        body++;
        len--;
    }
    if (len == 2 && body[0] == '1' && (body[1] == '0' || body[1] == '1'))
        return body[1] == '0' ? '*' : '#';
    if (len != 1 || !strchr("0123456789*#ABCDabcd", body[0]))
        return 0;
    return body[0] >= 'a' ? (char)(body[0] - 'a' + 'A') : body[0];
}

/* Hand the digit to the call's media leg, if it has one that hears (answered, not over). */
static void digit_to_leg(struct call *c, char digit, int duration_ms)
{
    if ((c->state != CALL_ANSWERED && c->state != CALL_BRIDGED) ||
        c->media.state != MEDIA_ALLOCATED)
        return;
    char d[2] = {digit, '\0'};
    json_t *cmd = json_pack("{s:s, s:s, s:s, s:i}", "op", "digit_in", "leg_id", c->leg_id, "digit",
                            d, "duration_ms", duration_ms);
    int err = media__send_verb(c, cmd);
    if (err)
        log_warn("call.info_dtmf_lost", "call %s: the INFO digit could not reach media-fork: %s",
                 c->id, vp_err_message(err));
}

int call_info__incoming(struct call *c, const osip_message_t *req)
{
    const osip_content_type_t *ct = req->content_type;
    size_t len = 0;
    const char *body = sip_msg_body(req, &len);
    int duration = 0;
    char digit = 0;
    if (!ct || !ct->type || !ct->subtype || strcasecmp(ct->type, "application") != 0)
        return 200;
    if (strcasecmp(ct->subtype, "dtmf-relay") == 0)
        digit = sip_ext_dtmf_relay(body, len, &duration);
    else if (strcasecmp(ct->subtype, "dtmf") == 0)
        digit = body ? dtmf_body(body, len) : 0;
    else
        return 200;
    char d[2] = {digit, '\0'}, ms[12];
    snprintf(ms, sizeof(ms), "%d", duration);
    vlog_kv(VLOG_INFO, "call.info_dtmf_in", "the far end sent a digit as SIP INFO", "call_id",
            c->id, "digit", digit ? d : "(none)", "duration_ms", ms, NULL);
    if (digit)
        digit_to_leg(c, digit, duration);
    return 200;
}

void call_info__ending(struct call *c)
{
    if (c->info)
        finish(c->info, false, "the call ended before every digit was sent");
}

static void closed_cb(uv_handle_t *h)
{
    free(h->data);
}

void call_info__free(struct call *c)
{
    if (!c->info)
        return;
    c->info->c = NULL;
    uv_close((uv_handle_t *)&c->info->timer, closed_cb);
    c->info = NULL;
}
