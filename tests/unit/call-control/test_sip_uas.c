/*
 * Inbound dialogs (sip_uas.c) against a real caller: SIPp on loopback plays one of the
 * uac_inbound_*.xml scenarios of tests/integration/sip for one call to our UA, and both
 * sides must agree that the dialog went as the scenario says (SIPp exits 0 only then).
 * No database: the test is the owner the call-control node would be.
 */
#include "vp_test.h"

#include "sdp.h"
#include "sdp_uas.h"
#include "sip_stack.h"
#include "sip_ua.h"
#include "sip_uas.h"
#include "sipp_child.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define DID "+15125550100"

enum action {
    ANSWER_THEN_BYE, /* ring, answer, BYE once the ACK came */
    EARLY_THEN_BYE,  /* ring, 183 with our answer (early media), answer, BYE after the ACK */
    ANSWER_AND_WAIT, /* ring, answer, the caller hangs up */
    RING_THEN_486,   /* ring, then busy */
    RING_AND_WAIT,   /* ring until the caller cancels */
    REFUSE_AT_ONCE,  /* 404 in the handler */
};

struct t {
    uv_loop_t loop;
    struct sip_ua *ua;
    struct sip_uas *u;
    struct sipp_child sipp;
    enum action act;
    bool no_handler;
    int invites, confirmed, canceled, closed, failed;
    char to_user[32], from_user[32];
    struct sdp_answer offer;
    int offer_err;
    struct sip_stack_stats stats;
    bool done;
};

static void end_uas(struct t *t, int status)
{
    if (t->u) {
        sip_uas_end(t->u, status);
        t->u = NULL;
    }
}

/* Our SDP answer to the caller's offer (127.0.0.1:40000), into b. */
static void our_answer(struct t *t, struct buf *b)
{
    struct sdp_answer_params p = {
        .ip = "127.0.0.1", .port = 40000, .session_id = 1, .offer = &t->offer};
    assert_int_equal(sdp_build_answer(b, &p), 0);
}

static void answer(struct t *t)
{
    struct buf b = BUF_INIT;
    our_answer(t, &b);
    if (t->act == EARLY_THEN_BYE)
        assert_int_equal(sip_uas_progress(t->u, b.data), 0); /* the 183 before the 200 */
    assert_int_equal(sip_uas_answer(t->u, b.data), 0);
    assert_int_not_equal(sip_uas_answer(t->u, b.data), 0); /* once only */
    /* no early media once answered */
    assert_int_equal(sip_uas_progress(t->u, b.data), VP_E_CLOSED);
    buf_free(&b);
}

static void uas_cb(struct sip_uas *u, enum sip_uas_event ev, int64_t at_ms, void *arg)
{
    struct t *t = arg;
    assert_ptr_equal(u, t->u);
    assert_true(at_ms > 1700000000000LL);
    switch (ev) {
    case SIP_UAS_CONFIRMED:
        t->confirmed++;
        if (t->act == ANSWER_THEN_BYE || t->act == EARLY_THEN_BYE)
            end_uas(t, 0);
        break;
    case SIP_UAS_CANCELED:
        t->canceled++;
        /* the INVITE is answered 487 already: no 183 after it */
        assert_int_equal(sip_uas_progress(u, "v=0\r\n"), VP_E_CLOSED);
        end_uas(t, 0);
        break;
    case SIP_UAS_CLOSED:
        t->closed++;
        end_uas(t, 0);
        break;
    case SIP_UAS_FAILED:
        t->failed++;
        end_uas(t, 0);
        break;
    }
}

static void invite_cb(struct sip_uas *u, const struct sip_uas_offer *o, void *arg)
{
    struct t *t = arg;
    t->invites++;
    snprintf(t->to_user, sizeof(t->to_user), "%s", o->to_user);
    snprintf(t->from_user, sizeof(t->from_user), "%s", o->from_user);
    assert_non_null(o->sdp);
    t->offer_err = sdp_parse_answer(o->sdp, o->sdp_len, &t->offer);
    if (t->act == REFUSE_AT_ONCE) {
        sip_uas_end(u, 404);
        return;
    }
    t->u = u;
    sip_uas_bind(u, uas_cb, t);
    assert_int_equal(sip_uas_ringing(u), 0);
    if (t->act == RING_THEN_486)
        end_uas(t, 486);
    else if (t->act == ANSWER_THEN_BYE || t->act == ANSWER_AND_WAIT || t->act == EARLY_THEN_BYE)
        answer(t);
}

static bool finished(struct t *t)
{
    return t->sipp.exited && !t->u && sip_ua_sessions(t->ua) == 0;
}

static void check_cb(uv_timer_t *timer)
{
    struct t *t = timer->data;
    t->done = finished(t);
}

static void ua_closed_cb(void *arg)
{
    *(bool *)arg = true;
}

/* One call from SIPp playing `scenario`; returns SIPp's exit status. */
static int64_t run(struct t *t, const char *scenario, bool tcp, enum action act,
                   const char *pause_ms)
{
    bool no_handler = t->no_handler;
    memset(t, 0, sizeof(*t));
    t->act = act;
    uv_loop_init(&t->loop);
    struct sip_ua_opts uo = {.host = "127.0.0.1", .port = 0};
    assert_int_equal(sip_ua_create(&t->ua, &t->loop, &uo), 0);
    if (!no_handler)
        sip_ua_on_invite(t->ua, invite_cb, t);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", sip_ua_port(t->ua));
    const char *extra[] = {"-s", DID, "-d", pause_ms ? pause_ms : "0", target, NULL};
    assert_int_equal(sipp_start(&t->loop, &t->sipp, scenario, tcp, extra), 0);
    uv_timer_t check;
    uv_timer_init(&t->loop, &check);
    check.data = t;
    uv_timer_start(&check, check_cb, 20, 20);
    bool ok = vp_test_run_until(&t->loop, &t->done, 25000);
    if (!ok)
        sipp_kill(&t->sipp);
    uv_close((uv_handle_t *)&check, NULL);
    end_uas(t, 500);
    sip_stack_stats(sip_ua_stack(t->ua), &t->stats);
    bool closed = false;
    sip_ua_close(t->ua, ua_closed_cb, &closed);
    vp_test_run_until(&t->loop, &closed, 5000);
    assert_true(closed);
    vp_test_run_until(&t->loop, &t->sipp.exited, 5000);
    vp_test_loop_done(&t->loop);
    assert_true(ok);
    return t->sipp.status;
}

static void test_answer_then_our_bye_udp(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_answer.xml", false, ANSWER_THEN_BYE, NULL), 0);
    assert_int_equal(t.invites, 1);
    assert_string_equal(t.to_user, DID);
    assert_string_equal(t.from_user, "+15125550199");
    assert_int_equal(t.offer_err, 0);
    assert_int_equal(t.offer.port, t.sipp.media_port);
    assert_int_equal(t.offer.payload_type, 0);
    assert_int_equal(t.offer.dtmf_pt, 101);
    assert_int_equal(t.confirmed, 1);
    assert_int_equal(t.closed + t.canceled + t.failed, 0);
}

static void test_answer_then_our_bye_tcp(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_answer.xml", true, ANSWER_THEN_BYE, NULL), 0);
    assert_int_equal(t.confirmed, 1);
}

/* The caller acknowledges only after 1.8 s: our 200 goes again at 0.5 s and 1.5 s. */
static void test_200_sent_again_until_the_ack(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_late_ack.xml", false, ANSWER_THEN_BYE, "1800"), 0);
    assert_int_equal(t.confirmed, 1);
    /* 100, 180, 200, BYE and the 200's two repetitions at least */
    assert_true(t.stats.out >= 6);
}

/*
 * Early media on an inbound call: sip_uas_progress sends 183 with our SDP answer in the
 * dialog of our 180 (the caller checks the SDP and that its To tag is the 180's), before
 * the 200; the dialog then goes on as any answered call.
 */
static void test_183_with_sdp_before_the_answer(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_early.xml", false, EARLY_THEN_BYE, NULL), 0);
    assert_int_equal(t.invites, 1);
    assert_int_equal(t.confirmed, 1);
    assert_int_equal(t.closed + t.canceled + t.failed, 0);
    assert_true(t.stats.out >= 5); /* 100, 180, 183, 200, BYE */
}

static void test_183_with_sdp_before_the_answer_tcp(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_early.xml", true, EARLY_THEN_BYE, NULL), 0);
    assert_int_equal(t.confirmed, 1);
}

static void test_caller_hangs_up(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_answer_bye.xml", false, ANSWER_AND_WAIT, "300"), 0);
    assert_int_equal(t.confirmed, 1);
    assert_int_equal(t.closed, 1);
}

static void test_caller_hangs_up_tcp(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_answer_bye.xml", true, ANSWER_AND_WAIT, "300"), 0);
    assert_int_equal(t.closed, 1);
}

static void test_busy(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_busy.xml", false, RING_THEN_486, NULL), 0);
    assert_int_equal(t.confirmed + t.canceled + t.closed, 0);
}

static void test_caller_cancels(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_cancel.xml", false, RING_AND_WAIT, "300"), 0);
    assert_int_equal(t.canceled, 1);
    assert_int_equal(t.confirmed, 0);
}

static void test_refused_in_the_handler(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_unknown.xml", false, REFUSE_AT_ONCE, NULL), 0);
    assert_int_equal(t.invites, 1);
}

static void test_no_handler_is_480(void **state)
{
    struct t t = {.no_handler = true};
    (void)state;
    assert_int_equal(run(&t, "uac_inbound_unassigned.xml", false, REFUSE_AT_ONCE, NULL), 0);
    assert_int_equal(t.invites, 0);
}

/*
 * INVITEs whose top Via names no address we can answer (port 0 without rport, a maddr
 * that is no IP): libosip2's IST would fail its first send and end itself under a
 * session holding it. They are refused at once and never reach the handler; a good
 * INVITE afterwards still does (checked under ASan for use after free).
 */
struct raw {
    struct t t;
    uv_udp_t sock;
    int sent;
};

static void raw_send(struct raw *r, const char *via_tail, const char *call_id)
{
    char msg[1024];
    int n = snprintf(msg, sizeof(msg),
                     "INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s\r\n"
                     "From: <sip:+15125550199@127.0.0.1>;tag=a%s\r\n"
                     "To: <sip:%s@127.0.0.1>\r\n"
                     "Call-ID: %s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                     "Content-Length: 0\r\n\r\n",
                     DID, sip_ua_port(r->t.ua), via_tail, call_id, call_id, DID, call_id);
    struct sockaddr_in to;
    uv_ip4_addr("127.0.0.1", sip_ua_port(r->t.ua), &to);
    uv_buf_t b = uv_buf_init(msg, (unsigned)n);
    assert_int_equal(uv_udp_try_send(&r->sock, &b, 1, (const struct sockaddr *)&to), n);
    r->sent++;
}

static void raw_invite_cb(struct sip_uas *u, const struct sip_uas_offer *o, void *arg)
{
    struct raw *r = arg;
    (void)o;
    r->t.invites++;
    sip_uas_end(u, 486);
}

static void raw_step_cb(uv_timer_t *timer)
{
    struct raw *r = timer->data;
    if (r->sent == 0)
        raw_send(r, "127.0.0.1:0", "bad-port");
    else if (r->sent == 1)
        raw_send(r, "127.0.0.1:5060;maddr=not.an.ip", "bad-maddr");
    else if (r->sent == 2)
        raw_send(r, "127.0.0.1:9;rport", "good");
    else
        r->t.done = sip_ua_sessions(r->t.ua) == 0;
}

static void test_unanswerable_via_is_refused(void **state)
{
    struct raw r;
    (void)state;
    memset(&r, 0, sizeof(r));
    uv_loop_init(&r.t.loop);
    struct sip_ua_opts uo = {.host = "127.0.0.1", .port = 0};
    assert_int_equal(sip_ua_create(&r.t.ua, &r.t.loop, &uo), 0);
    sip_ua_on_invite(r.t.ua, raw_invite_cb, &r);
    uv_udp_init(&r.t.loop, &r.sock);
    struct sockaddr_in any;
    uv_ip4_addr("127.0.0.1", 0, &any);
    assert_int_equal(uv_udp_bind(&r.sock, (const struct sockaddr *)&any, 0), 0);
    uv_timer_t step;
    uv_timer_init(&r.t.loop, &step);
    step.data = &r;
    uv_timer_start(&step, raw_step_cb, 100, 100);
    bool ok = vp_test_run_until(&r.t.loop, &r.t.done, 5000);
    uv_close((uv_handle_t *)&step, NULL);
    uv_close((uv_handle_t *)&r.sock, NULL);
    bool closed = false;
    sip_ua_close(r.t.ua, ua_closed_cb, &closed);
    vp_test_run_until(&r.t.loop, &closed, 5000);
    vp_test_loop_done(&r.t.loop);
    assert_true(ok);
    assert_int_equal(r.t.invites, 1); /* only the good one */
}

int main(void)
{
    crypto_init();
    vlog_init("test", "t", getenv("VOEPY_TEST_DEBUG") ? VLOG_DEBUG : VLOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_then_our_bye_udp),
        cmocka_unit_test(test_answer_then_our_bye_tcp),
        cmocka_unit_test(test_200_sent_again_until_the_ack),
        cmocka_unit_test(test_183_with_sdp_before_the_answer),
        cmocka_unit_test(test_183_with_sdp_before_the_answer_tcp),
        cmocka_unit_test(test_caller_hangs_up),
        cmocka_unit_test(test_caller_hangs_up_tcp),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_caller_cancels),
        cmocka_unit_test(test_refused_in_the_handler),
        cmocka_unit_test(test_no_handler_is_480),
        cmocka_unit_test(test_unanswerable_via_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
