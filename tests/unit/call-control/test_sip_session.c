/*
 * The SIP layer against a real far end: SIPp on loopback plays each scenario of
 * tests/integration/sip for one call, our UA places the call, and both sides must agree
 * that the dialog went as the scenario says (SIPp exits 0 only then).
 */
#include "vp_test.h"

#include "sdp.h"
#include "sip_session.h"
#include "sip_stack.h"
#include "sip_ua.h"
#include "sipp_child.h"
#include "voepy/crypto.h"
#include "voepy/log.h"

enum action {
    HANG_UP_ON_ANSWER,  /* BYE once answered */
    CANCEL_ON_PROGRESS, /* terminate at the 180: CANCEL */
    TERMINATE_AT_ONCE,  /* terminate before anything came back: CANCEL at the 180 */
    WAIT_FOR_FAR_END,   /* the far end ends it (BYE or failure) */
};

struct t {
    uv_loop_t loop;
    struct sip_ua *ua;
    struct sip_session *s;
    struct sipp_child sipp;
    enum action act;
    enum sip_proto proto;
    uv_timer_t start;
    int progress, answered, failed, closed;
    int fail_status;
    int64_t answered_at;
    struct sdp_answer ans;
    int sdp_err;
    struct sip_stack_stats stats;
    bool done;
};

static void end_session(struct t *t)
{
    if (t->s) {
        sip_session_terminate(t->s);
        t->s = NULL;
    }
}

static void session_cb(struct sip_session *s, enum sip_session_event ev,
                       const struct sip_session_info *info, void *arg)
{
    struct t *t = arg;
    assert_ptr_equal(s, t->s);
    assert_true(info->at_ms > 1700000000000LL);
    switch (ev) {
    case SIP_SESS_PROGRESS:
        t->progress++;
        assert_int_equal(info->status, 180);
        if (t->act == CANCEL_ON_PROGRESS)
            end_session(t);
        break;
    case SIP_SESS_ANSWERED:
        t->answered++;
        t->answered_at = info->at_ms;
        assert_int_equal(info->status, 200);
        t->sdp_err = sdp_parse_answer(info->sdp, info->sdp_len, &t->ans);
        if (t->act == HANG_UP_ON_ANSWER)
            end_session(t);
        break;
    case SIP_SESS_FAILED:
        t->failed++;
        t->fail_status = info->status;
        end_session(t);
        break;
    case SIP_SESS_CLOSED:
        t->closed++;
        end_session(t);
        break;
    }
}

static void connect_cb(uv_timer_t *timer)
{
    struct t *t = timer->data;
    char ruri[128], to[128], sdp[1024];
    snprintf(ruri, sizeof(ruri), "sip:+15558675309@127.0.0.1:%d", t->sipp.port);
    snprintf(to, sizeof(to), "sip:+15558675309@127.0.0.1");
    struct buf b = BUF_INIT;
    struct sdp_offer_params op = {.ip = "127.0.0.1", .port = 40000, .session_id = 1, .version = 1};
    assert_int_equal(sdp_build_offer(&b, &op), 0);
    snprintf(sdp, sizeof(sdp), "%s", b.data);
    buf_free(&b);
    struct sip_connect_opts o = {.ruri = ruri,
                                 .to_uri = to,
                                 .from_user = "+15125550100",
                                 .proto = t->proto,
                                 .dest_ip = "127.0.0.1",
                                 .dest_port = t->sipp.port,
                                 .sdp = sdp};
    assert_int_equal(sip_session_connect(&t->s, t->ua, &o, session_cb, t), 0);
    if (t->act == TERMINATE_AT_ONCE)
        end_session(t);
}

static bool finished(struct t *t)
{
    return t->sipp.exited && !t->s && sip_ua_sessions(t->ua) == 0;
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

/* Run one call against `scenario`; returns SIPp's exit status. */
static int64_t run(struct t *t, const char *scenario, enum sip_proto proto, enum action act,
                   const char *const *extra)
{
    memset(t, 0, sizeof(*t));
    t->act = act;
    t->proto = proto;
    uv_loop_init(&t->loop);
    struct sip_ua_opts uo = {.host = "127.0.0.1", .port = 0};
    assert_int_equal(sip_ua_create(&t->ua, &t->loop, &uo), 0);
    assert_int_equal(sipp_start(&t->loop, &t->sipp, scenario, proto == SIP_TCP, extra), 0);
    uv_timer_init(&t->loop, &t->start);
    t->start.data = t;
    uv_timer_start(&t->start, connect_cb, 300, 0);
    uv_timer_t check;
    uv_timer_init(&t->loop, &check);
    check.data = t;
    uv_timer_start(&check, check_cb, 20, 20);
    bool ok = vp_test_run_until(&t->loop, &t->done, 25000);
    if (!ok)
        sipp_kill(&t->sipp);
    uv_close((uv_handle_t *)&check, NULL);
    uv_close((uv_handle_t *)&t->start, NULL);
    end_session(t);
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
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_answer.xml", SIP_UDP, HANG_UP_ON_ANSWER, NULL), 0);
    assert_int_equal(t.progress, 1);
    assert_int_equal(t.answered, 1);
    assert_int_equal(t.failed, 0);
    assert_int_equal(t.sdp_err, 0);
    assert_string_equal(t.ans.ip, "127.0.0.1");
    assert_int_equal(t.ans.port, t.sipp.media_port);
    assert_int_equal(t.ans.payload_type, 0);
}

static void test_answer_then_our_bye_tcp(void **state)
{
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_answer.xml", SIP_TCP, HANG_UP_ON_ANSWER, NULL), 0);
    assert_int_equal(t.answered, 1);
    assert_int_equal(t.ans.port, t.sipp.media_port);
}

static void test_far_end_hangs_up(void **state)
{
    struct t t;
    (void)state;
    const char *extra[] = {"-d", "500", NULL};
    assert_int_equal(run(&t, "uas_answer_bye.xml", SIP_UDP, WAIT_FOR_FAR_END, extra), 0);
    assert_int_equal(t.answered, 1);
    assert_int_equal(t.closed, 1);
}

static void test_far_end_hangs_up_tcp(void **state)
{
    struct t t;
    (void)state;
    const char *extra[] = {"-d", "300", NULL};
    assert_int_equal(run(&t, "uas_answer_bye.xml", SIP_TCP, WAIT_FOR_FAR_END, extra), 0);
    assert_int_equal(t.closed, 1);
}

static void test_busy(void **state)
{
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_busy.xml", SIP_UDP, WAIT_FOR_FAR_END, NULL), 0);
    assert_int_equal(t.answered, 0);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.fail_status, 486);
}

static void test_cancel_while_ringing(void **state)
{
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_ring.xml", SIP_UDP, CANCEL_ON_PROGRESS, NULL), 0);
    assert_int_equal(t.progress, 1);
    assert_int_equal(t.answered + t.failed, 0); /* nothing after terminate */
}

static void test_cancel_before_any_answer(void **state)
{
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_ring.xml", SIP_UDP, TERMINATE_AT_ONCE, NULL), 0);
    assert_int_equal(t.progress, 0);
}

static void test_cancel_crossing_200(void **state)
{
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_cancel_crossing.xml", SIP_UDP, CANCEL_ON_PROGRESS, NULL), 0);
    assert_int_equal(t.answered, 0);
}

/*
 * The far end sits on our INVITE (uas_slow.xml waits 1.8 s): timer A sends it again at
 * 0.5 s and 1.5 s. (SIPp cannot drop just the first INVITE: it takes the second for a
 * retransmission of the first and never moves past it.)
 */
static void test_invite_retransmitted(void **state)
{
    struct t t;
    (void)state;
    assert_int_equal(run(&t, "uas_slow.xml", SIP_UDP, HANG_UP_ON_ANSWER, NULL), 0);
    assert_true(t.stats.retransmissions >= 2); /* timer A: 0.5 s, then 1.5 s */
    assert_int_equal(t.answered, 1);
    assert_int_equal(t.ans.payload_type, 8);
    assert_string_equal(t.ans.codec, "PCMA");
}

int main(void)
{
    crypto_init();
    vlog_init("test", "t", getenv("VOEPY_TEST_DEBUG") ? VLOG_DEBUG : VLOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_then_our_bye_udp),
        cmocka_unit_test(test_answer_then_our_bye_tcp),
        cmocka_unit_test(test_far_end_hangs_up),
        cmocka_unit_test(test_far_end_hangs_up_tcp),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_cancel_while_ringing),
        cmocka_unit_test(test_cancel_before_any_answer),
        cmocka_unit_test(test_cancel_crossing_200),
        cmocka_unit_test(test_invite_retransmitted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
