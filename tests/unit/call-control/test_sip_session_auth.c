/*
 * An outbound session against trunks that challenge its INVITE (sip_session.c with
 * sip_auth.c), SIPp on loopback playing the uas_auth_*.xml scenarios of
 * tests/integration/sip for one call: SIPp exits 0 only when the dialog went as the
 * scenario says (uas_auth_md5.xml also checks our digest with its verifyauth).
 */
#include "vp_test.h"

#include <string.h>

#include "sdp.h"
#include "sip_session.h"
#include "sip_stack.h"
#include "sip_ua.h"
#include "sipp_child.h"
#include "voepy/crypto.h"
#include "voepy/log.h"

struct t {
    uv_loop_t loop;
    struct sip_ua *ua;
    struct sip_session *s;
    struct sipp_child sipp;
    enum sip_proto proto;
    struct sip_auth_creds creds;
    uv_timer_t start;
    int answered, failed, fail_status;
    bool fail_local;
    bool stop_sipp; /* the scenario cannot end: stop SIPp once our side is over */
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
    if (ev == SIP_SESS_ANSWERED) {
        t->answered++;
        end_session(t); /* our BYE ends the scenario */
    } else if (ev == SIP_SESS_FAILED) {
        t->failed++;
        t->fail_status = info->status;
        t->fail_local = info->local;
        end_session(t);
    }
}

static void connect_cb(uv_timer_t *timer)
{
    struct t *t = timer->data;
    char ruri[128], sdp[1024];
    snprintf(ruri, sizeof(ruri), "sip:+15558675309@127.0.0.1:%d", t->sipp.port);
    struct buf b = BUF_INIT;
    struct sdp_offer_params op = {.ip = "127.0.0.1", .port = 40000, .session_id = 1, .version = 1};
    assert_int_equal(sdp_build_offer(&b, &op), 0);
    snprintf(sdp, sizeof(sdp), "%s", b.data);
    buf_free(&b);
    struct sip_connect_opts o = {.ruri = ruri,
                                 .to_uri = "sip:+15558675309@127.0.0.1",
                                 .from_user = "+15125550100",
                                 .proto = t->proto,
                                 .dest_ip = "127.0.0.1",
                                 .dest_port = t->sipp.port,
                                 .sdp = sdp,
                                 .auth = t->creds.username ? &t->creds : NULL,
                                 .timer_b_ms = 3000};
    assert_int_equal(sip_session_connect(&t->s, t->ua, &o, session_cb, t), 0);
}

static void check_cb(uv_timer_t *timer)
{
    struct t *t = timer->data;
    bool over = t->sipp.exited || (t->stop_sipp && t->failed + t->answered > 0);
    t->done = over && !t->s && sip_ua_sessions(t->ua) == 0;
}

static void ua_closed_cb(void *arg)
{
    *(bool *)arg = true;
}

/* One call against scenario with these credentials; returns SIPp's exit status. */
static int64_t run(struct t *t, const char *scenario, enum sip_proto proto, const char *user,
                   const char *password, const char *realm)
{
    bool stop_sipp = t->stop_sipp;
    memset(t, 0, sizeof(*t));
    t->stop_sipp = stop_sipp;
    t->proto = proto;
    t->creds = (struct sip_auth_creds){.username = user, .password = password, .realm = realm};
    uv_loop_init(&t->loop);
    struct sip_ua_opts uo = {.host = "127.0.0.1", .port = 0};
    assert_int_equal(sip_ua_create(&t->ua, &t->loop, &uo), 0);
    assert_int_equal(sipp_start(&t->loop, &t->sipp, scenario, proto == SIP_TCP, NULL), 0);
    uv_timer_init(&t->loop, &t->start);
    t->start.data = t;
    uv_timer_start(&t->start, connect_cb, 300, 0);
    uv_timer_t check;
    uv_timer_init(&t->loop, &check);
    check.data = t;
    uv_timer_start(&check, check_cb, 20, 20);
    bool ok = vp_test_run_until(&t->loop, &t->done, 20000);
    if (!ok || t->stop_sipp)
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

static void test_md5_qop_udp(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uas_auth_md5.xml", SIP_UDP, "trunkuser", "s3cret", NULL), 0);
    assert_int_equal(t.answered, 1);
    assert_int_equal(t.failed, 0);
}

static void test_md5_qop_tcp_with_realm(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uas_auth_md5.xml", SIP_TCP, "trunkuser", "s3cret", "voepy-test"), 0);
    assert_int_equal(t.answered, 1);
}

static void test_wrong_password_is_403(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uas_auth_md5.xml", SIP_UDP, "trunkuser", "nope", NULL), 0);
    assert_int_equal(t.answered, 0);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.fail_status, 403);
    assert_false(t.fail_local);
}

/* Credentials for another realm: the 401 is not answered, the call fails with it. SIPp
 * still waits for an INVITE with credentials: it is stopped. */
static void test_other_realm_is_not_answered(void **state)
{
    struct t t = {0};
    (void)state;
    t.stop_sipp = true;
    run(&t, "uas_auth_proxy.xml", SIP_UDP, "trunkuser", "s3cret", "voepy-test");
    assert_int_equal(t.answered, 0);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.fail_status, 407);
}

static void test_same_challenge_twice_fails(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uas_auth_refuse.xml", SIP_UDP, "trunkuser", "s3cret", NULL), 0);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.fail_status, 401);
}

static void test_stale_and_proxy(void **state)
{
    struct t t = {0};
    (void)state;
    assert_int_equal(run(&t, "uas_auth_stale.xml", SIP_UDP, "trunkuser", "s3cret", NULL), 0);
    assert_int_equal(t.answered, 1);
    assert_int_equal(run(&t, "uas_auth_proxy.xml", SIP_UDP, "trunkuser", "s3cret", NULL), 0);
    assert_int_equal(t.answered, 1);
    assert_int_equal(run(&t, "uas_auth_sha256.xml", SIP_TCP, "trunkuser", "s3cret", NULL), 0);
    assert_int_equal(t.answered, 1);
}

int main(void)
{
    crypto_init();
    vlog_init("test", "t", getenv("VOEPY_TEST_DEBUG") ? VLOG_DEBUG : VLOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_qop_udp),
        cmocka_unit_test(test_md5_qop_tcp_with_realm),
        cmocka_unit_test(test_wrong_password_is_403),
        cmocka_unit_test(test_other_realm_is_not_answered),
        cmocka_unit_test(test_same_challenge_twice_fails),
        cmocka_unit_test(test_stale_and_proxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
