/*
 * An inbound dialog whose INVITE server transaction libosip2 ends under it: every send
 * of the IST fails (the top Via's maddr is an IPv6 address and our UDP socket is IPv4,
 * so the 100 Trying already fails), osip kills the transaction, and the session that
 * holds it must forget it (sip_stack_watch) instead of handing responses to freed memory.
 * The owner hears SIP_UAS_FAILED, ringing and answering are refused, and ending it is
 * safe. Run under ASan: before the fix, the ringing below was a use after free.
 */
#include "vp_test.h"

#include <string.h>

#include "sip_stack.h"
#include "sip_ua.h"
#include "sip_uas.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define DID "+15125550100"

struct t {
    uv_loop_t loop;
    struct sip_ua *ua;
    struct sip_uas *u;
    uv_udp_t sock;
    int invites, failed, other_events, step;
    int ringing_err, answer_err;
    bool done;
};

static void uas_cb(struct sip_uas *u, enum sip_uas_event ev, int64_t at_ms, void *arg)
{
    struct t *t = arg;
    assert_ptr_equal(u, t->u);
    assert_true(at_ms > 1700000000000LL);
    if (ev == SIP_UAS_FAILED)
        t->failed++;
    else
        t->other_events++;
}

/* The owner keeps the session ringing-to-be, as call_in.c does while the row is written. */
static void invite_cb(struct sip_uas *u, const struct sip_uas_offer *o, void *arg)
{
    struct t *t = arg;
    (void)o;
    t->invites++;
    t->u = u;
    sip_uas_bind(u, uas_cb, t);
}

static void send_invite(struct t *t, const char *via)
{
    char msg[1024];
    int n = snprintf(msg, sizeof(msg),
                     "INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP %s;branch=z9hG4bKgone1\r\n"
                     "From: <sip:+15125550199@127.0.0.1>;tag=gone\r\n"
                     "To: <sip:%s@127.0.0.1>\r\n"
                     "Call-ID: gone-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                     "Content-Length: 0\r\n\r\n",
                     DID, sip_ua_port(t->ua), via, DID);
    struct sockaddr_in to;
    uv_ip4_addr("127.0.0.1", sip_ua_port(t->ua), &to);
    uv_buf_t b = uv_buf_init(msg, (unsigned)n);
    assert_int_equal(uv_udp_try_send(&t->sock, &b, 1, (const struct sockaddr *)&to), n);
}

static void step_cb(uv_timer_t *timer)
{
    struct t *t = timer->data;
    switch (t->step++) {
    case 0:
        send_invite(t, "127.0.0.1:5060;maddr=::1");
        break;
    case 1:
    case 2:
        break; /* let the 100 fail and the IST die */
    case 3:
        /* The transaction is gone: these must not touch it. */
        assert_non_null(t->u);
        t->ringing_err = sip_uas_ringing(t->u);
        t->answer_err = sip_uas_answer(t->u, "v=0\r\n");
        sip_uas_end(t->u, 480);
        t->u = NULL;
        break;
    default:
        t->done = sip_ua_sessions(t->ua) == 0;
    }
}

static void ua_closed_cb(void *arg)
{
    *(bool *)arg = true;
}

static void test_ist_ended_by_osip_is_forgotten(void **state)
{
    struct t t;
    (void)state;
    memset(&t, 0, sizeof(t));
    uv_loop_init(&t.loop);
    struct sip_ua_opts uo = {.host = "127.0.0.1", .port = 0};
    assert_int_equal(sip_ua_create(&t.ua, &t.loop, &uo), 0);
    sip_ua_on_invite(t.ua, invite_cb, &t);
    uv_udp_init(&t.loop, &t.sock);
    struct sockaddr_in any;
    uv_ip4_addr("127.0.0.1", 0, &any);
    assert_int_equal(uv_udp_bind(&t.sock, (const struct sockaddr *)&any, 0), 0);
    uv_timer_t step;
    uv_timer_init(&t.loop, &step);
    step.data = &t;
    uv_timer_start(&step, step_cb, 100, 100);
    bool ok = vp_test_run_until(&t.loop, &t.done, 5000);
    struct sip_stack_stats st;
    sip_stack_stats(sip_ua_stack(t.ua), &st);
    uv_close((uv_handle_t *)&step, NULL);
    uv_close((uv_handle_t *)&t.sock, NULL);
    bool closed = false;
    sip_ua_close(t.ua, ua_closed_cb, &closed);
    vp_test_run_until(&t.loop, &closed, 5000);
    vp_test_loop_done(&t.loop);
    assert_true(ok);
    assert_int_equal(t.invites, 1);
    assert_int_equal(t.failed, 1); /* the owner was told, once */
    assert_int_equal(t.other_events, 0);
    assert_int_equal(t.ringing_err, VP_E_CLOSED);
    assert_int_equal(t.answer_err, VP_E_CLOSED);
    assert_int_equal(st.transactions, 0); /* osip ended the IST; nothing else was made */
}

int main(void)
{
    crypto_init();
    vlog_init("test", "t", getenv("VOEPY_TEST_DEBUG") ? VLOG_DEBUG : VLOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ist_ended_by_osip_is_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
