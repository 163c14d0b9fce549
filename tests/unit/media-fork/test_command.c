/* command_parse: the voepy:mf:{node} messages, valid and hostile; reply bodies. */
#include "vp_test.h"

#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "command.h"
#include "reply.h"

static int parse(const char *body, struct mf_command *c, struct vp_error *e)
{
    return command_parse(body, strlen(body), c, e);
}

static void test_allocate(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"allocate\",\"leg_id\":\"voepy_leg_1\",\"call_id\":"
                           "\"voepy_call_1\",\"tenant_id\":\"voepy_tenant_1\",\"reply_to\":"
                           "\"voepy:cc:cc-1\",\"future_field\":[1,2]}",
                           &c, &e),
                     0);
    assert_int_equal(c.op, MF_OP_ALLOCATE);
    assert_string_equal(c.leg_id, "voepy_leg_1");
    assert_string_equal(c.call_id, "voepy_call_1");
    assert_string_equal(c.tenant_id, "voepy_tenant_1");
    assert_string_equal(c.reply_to, "voepy:cc:cc-1");
}

static void expect_invalid(const char *body, const char *field)
{
    struct mf_command c;
    struct vp_error e;
    int rc = parse(body, &c, &e);
    if (rc != VP_E_INVALID_PARAMETER || strcmp(e.field, field) != 0)
        fail_msg("%s: rc %d field '%s' (want '%s')", body, rc, e.field, field);
}

static void test_allocate_refused(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("", &c, &e), VP_E_PARSE);
    assert_int_equal(parse("[1]", &c, &e), VP_E_PARSE);
    assert_int_equal(parse("{\"op\":\"allocate\"", &c, &e), VP_E_PARSE);
    assert_int_equal(parse("{\"op\":\"allocate\",\"op\":\"release\"}", &c, &e), VP_E_PARSE);
    assert_int_equal(command_parse("{\"op\":1}xx", 8, &c, &e), VP_E_INVALID_PARAMETER);
    expect_invalid("{}", "op");
    expect_invalid("{\"op\":\"dance\",\"leg_id\":\"l\"}", "op");
    expect_invalid("{\"op\":7}", "op");
    expect_invalid("{\"op\":\"allocate\",\"reply_to\":\"voepy:cc:x\"}", "leg_id");
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":\"\",\"reply_to\":\"voepy:cc:x\"}", "leg_id");
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":\"a b\",\"reply_to\":\"voepy:cc:x\"}",
                   "leg_id");
    /* jansson refuses NUL inside strings outright. */
    assert_int_equal(
        parse("{\"op\":\"allocate\",\"leg_id\":\"a\\u0000b\",\"reply_to\":\"v\"}", &c, &e),
        VP_E_PARSE);
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":\"l\\n\",\"reply_to\":\"voepy:cc:x\"}",
                   "leg_id");
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":[],\"reply_to\":\"voepy:cc:x\"}", "leg_id");
    char longid[200];
    snprintf(longid, sizeof(longid),
             "{\"op\":\"allocate\",\"leg_id\":\"%064d\",\"reply_to\":\"voepy:cc:x\"}", 0);
    expect_invalid(longid, "leg_id");
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":\"l\"}", "reply_to");
    /* reply_to must be a call-control inbox: nobody makes us write into other streams. */
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":\"l\",\"reply_to\":\"voepy:events:0\"}",
                   "reply_to");
    expect_invalid("{\"op\":\"allocate\",\"leg_id\":\"l\",\"reply_to\":\"voepy:cc:x\","
                   "\"call_id\":5}",
                   "call_id");
    /* What was read before the failure is kept: the asker can still be answered. */
    assert_int_equal(parse("{\"op\":\"allocate\",\"leg_id\":\"leg9\",\"reply_to\":\"voepy:cc:n\","
                           "\"call_id\":false}",
                           &c, &e),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(c.op, MF_OP_ALLOCATE);
    assert_string_equal(c.leg_id, "leg9");
    assert_string_equal(c.reply_to, "voepy:cc:n");
}

static void test_release(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"release\",\"leg_id\":\"l1\"}", &c, &e), 0);
    assert_int_equal(c.op, MF_OP_RELEASE);
    assert_string_equal(c.reply_to, "");
    assert_int_equal(
        parse("{\"op\":\"release\",\"leg_id\":\"l1\",\"reply_to\":\"voepy:cc:a\"}", &c, &e), 0);
    assert_string_equal(c.reply_to, "voepy:cc:a");
    expect_invalid("{\"op\":\"release\",\"leg_id\":\"l1\",\"reply_to\":\"x\"}", "reply_to");
}

#define CONNECT(extra)                                                                             \
    "{\"op\":\"connect\",\"leg_id\":\"l1\",\"remote_ip\":\"127.0.0.1\",\"remote_port\":6000" extra \
    "}"

static void test_connect(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse(CONNECT(",\"payload_type\":0,\"codec\":\"PCMU\",\"ptime\":20,"
                                   "\"mode\":\"echo\""),
                           &c, &e),
                     0);
    assert_int_equal(c.op, MF_OP_CONNECT);
    assert_int_equal(c.remote.addr.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&c.remote.addr)->sin_port), 6000);
    assert_ptr_equal(c.remote.codec, codec_by_name("PCMU"));
    assert_int_equal(c.remote.pt, 0);
    assert_int_equal(c.remote.ptime_ms, 20);
    assert_int_equal(c.remote.mode, LEG_MODE_ECHO);
    /* Codec from the payload type alone; mode defaults to silence. */
    assert_int_equal(parse(CONNECT(",\"payload_type\":8"), &c, &e), 0);
    assert_ptr_equal(c.remote.codec, codec_by_name("PCMA"));
    assert_int_equal(c.remote.mode, LEG_MODE_SILENCE);
    /* Payload type from the codec alone, or a dynamic one given with it. */
    assert_int_equal(parse(CONNECT(",\"codec\":\"pcma\""), &c, &e), 0);
    assert_int_equal(c.remote.pt, 8);
    assert_int_equal(parse(CONNECT(",\"codec\":\"PCMU\",\"payload_type\":96"), &c, &e), 0);
    assert_int_equal(c.remote.pt, 96);
    assert_int_equal(parse("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"::1\","
                           "\"remote_port\":7000,\"codec\":\"PCMU\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.remote.addr.ss_family, AF_INET6);
}

static void test_connect_refused(void **state)
{
    (void)state;
    expect_invalid(CONNECT(""), "codec");
    expect_invalid(CONNECT(",\"codec\":\"G729\""), "codec");
    expect_invalid(CONNECT(",\"payload_type\":18"), "payload_type");
    expect_invalid(CONNECT(",\"payload_type\":128"), "payload_type");
    expect_invalid(CONNECT(",\"payload_type\":-1"), "payload_type");
    expect_invalid(CONNECT(",\"codec\":\"PCMU\",\"payload_type\":72"), "payload_type");
    expect_invalid(CONNECT(",\"payload_type\":\"0\""), "payload_type");
    expect_invalid(CONNECT(",\"payload_type\":0.5"), "payload_type");
    expect_invalid(CONNECT(",\"codec\":\"PCMU\",\"ptime\":30"), "ptime");
    expect_invalid(CONNECT(",\"codec\":\"PCMU\",\"mode\":\"loud\""), "mode");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_port\":6000,\"codec\":\"PCMU\"}",
                   "remote_ip");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"example.com\","
                   "\"remote_port\":6000,\"codec\":\"PCMU\"}",
                   "remote_ip");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                   "\"remote_port\":0,\"codec\":\"PCMU\"}",
                   "remote_port");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                   "\"remote_port\":65536,\"codec\":\"PCMU\"}",
                   "remote_port");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                   "\"codec\":\"PCMU\"}",
                   "remote_port");
}

static void test_replies(void **state)
{
    (void)state;
    char *s = reply_allocated("l\"1", "c1", "mf-1", "127.0.0.1", 20000);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "media.allocated");
    assert_string_equal(json_string_value(json_object_get(o, "leg_id")), "l\"1");
    assert_int_equal(json_integer_value(json_object_get(o, "port")), 20000);
    assert_string_equal(json_string_value(json_object_get(o, "media_node")), "mf-1");
    json_decref(o);
    free(s);
    struct leg_report r = {.leg_id = "l1",
                           .call_id = "c1",
                           .reason = "idle",
                           .counters = {.packets_in = 150, .bytes_in = 25800, .packets_out = 3}};
    s = reply_released(&r, "mf-1");
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "media.released");
    assert_int_equal(json_integer_value(json_object_get(o, "packets_in")), 150);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes_in")), 25800);
    assert_int_equal(json_integer_value(json_object_get(o, "packets_out")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes_out")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "idle");
    json_decref(o);
    free(s);
    s = reply_failed("l1", "", "mf-1", "no_ports", "allocate", NULL);
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "no_ports");
    assert_string_equal(json_string_value(json_object_get(o, "request")), "allocate");
    assert_null(json_object_get(o, "detail"));
    json_decref(o);
    free(s);
}

static void test_media_verbs(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"play\",\"leg_id\":\"l\",\"audio\":\"file:///a/b.wav\","
                           "\"loop\":3,\"playback_id\":\"p1\",\"reply_to\":\"voepy:cc:n\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.op, MF_OP_PLAY);
    assert_string_equal(c.audio, "file:///a/b.wav");
    assert_int_equal(c.loops, 3);
    assert_string_equal(c.media_id, "p1");
    assert_string_equal(c.reply_to, "voepy:cc:n");
    assert_int_equal(parse("{\"op\":\"play\",\"leg_id\":\"l\",\"audio\":\"a.wav\"}", &c, &e), 0);
    assert_int_equal(c.loops, 1);
    assert_string_equal(c.reply_to, "");

    /* gather: the API's defaults when absent. */
    assert_int_equal(parse("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\"}", &c, &e), 0);
    assert_int_equal(c.op, MF_OP_GATHER);
    assert_int_equal(c.gather.min_digits, 1);
    assert_int_equal(c.gather.max_digits, 128);
    assert_int_equal(c.gather.terminator, '#');
    assert_int_equal(c.gather.timeout_ms, 60000);
    assert_int_equal(c.gather.inter_digit_ms, 5000);
    assert_string_equal(c.audio, "");
    assert_int_equal(gather_params_check(&c.gather), 0);
    assert_int_equal(parse("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\","
                           "\"minimum_digits\":2,\"maximum_digits\":4,\"terminating_digit\":"
                           "\"*\",\"timeout_millis\":5000,\"inter_digit_timeout_millis\":2000,"
                           "\"play\":\"menu.wav\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.gather.min_digits, 2);
    assert_int_equal(c.gather.max_digits, 4);
    assert_int_equal(c.gather.terminator, '*');
    assert_int_equal(c.gather.timeout_ms, 5000);
    assert_int_equal(c.gather.inter_digit_ms, 2000);
    assert_string_equal(c.audio, "menu.wav");
    assert_int_equal(parse("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\","
                           "\"terminating_digit\":null}",
                           &c, &e),
                     0);
    assert_int_equal(c.gather.terminator, 0);

    assert_int_equal(parse("{\"op\":\"send_dtmf\",\"leg_id\":\"l\",\"digits\":\"12w#aD\"}", &c, &e),
                     0);
    assert_string_equal(c.digits, "12w#aD");
    assert_int_equal(c.duration_ms, 250);
    assert_int_equal(parse("{\"op\":\"stop_gather\",\"leg_id\":\"l\"}", &c, &e), 0);
    assert_int_equal(c.op, MF_OP_STOP_GATHER);
    assert_string_equal(c.media_id, "");
    assert_int_equal(parse("{\"op\":\"stop_playback\",\"leg_id\":\"l\"}", &c, &e), 0);
    assert_int_equal(c.op, MF_OP_STOP_PLAYBACK);

    /* connect's telephone-event payload type. */
    assert_int_equal(parse("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                           "\"remote_port\":4000,\"codec\":\"PCMA\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.remote.te_pt, 101);
    assert_int_equal(parse("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                           "\"remote_port\":4000,\"codec\":\"PCMU\",\"dtmf_payload_type\":96}",
                           &c, &e),
                     0);
    assert_int_equal(c.remote.te_pt, 96);
}

static void test_media_verbs_refused(void **state)
{
    (void)state;
    expect_invalid("{\"op\":\"play\",\"leg_id\":\"l\"}", "audio");
    expect_invalid("{\"op\":\"play\",\"leg_id\":\"l\",\"audio\":\"a b.wav\"}", "audio");
    expect_invalid("{\"op\":\"play\",\"leg_id\":\"l\",\"audio\":\"a.wav\",\"loop\":0}", "loop");
    expect_invalid("{\"op\":\"play\",\"leg_id\":\"l\",\"audio\":\"a.wav\",\"loop\":101}", "loop");
    expect_invalid("{\"op\":\"play\",\"leg_id\":\"l\",\"audio\":\"a.wav\",\"reply_to\":\"x\"}",
                   "reply_to");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\"}", "gather_id");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"minimum_digits\":0}",
                   "minimum_digits");
    expect_invalid(
        "{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"maximum_digits\":129}",
        "maximum_digits");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"minimum_digits\":5,"
                   "\"maximum_digits\":4}",
                   "minimum_digits");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"terminating_digit\":"
                   "\"##\"}",
                   "terminating_digit");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"terminating_digit\":"
                   "\"x\"}",
                   "terminating_digit");
    expect_invalid(
        "{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"terminating_digit\":5}",
        "terminating_digit");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"timeout_millis\":50}",
                   "timeout_millis");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\","
                   "\"inter_digit_timeout_millis\":\"5\"}",
                   "inter_digit_timeout_millis");
    expect_invalid("{\"op\":\"send_dtmf\",\"leg_id\":\"l\"}", "digits");
    expect_invalid("{\"op\":\"send_dtmf\",\"leg_id\":\"l\",\"digits\":\"12e\"}", "digits");
    expect_invalid(
        "{\"op\":\"send_dtmf\",\"leg_id\":\"l\",\"digits\":\"1\",\"duration_millis\":10}",
        "duration_millis");
    /* 65 digits do not fit. */
    char body[256];
    snprintf(body, sizeof(body), "{\"op\":\"send_dtmf\",\"leg_id\":\"l\",\"digits\":\"%065d\"}", 0);
    expect_invalid(body, "digits");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                   "\"remote_port\":4000,\"codec\":\"PCMU\",\"dtmf_payload_type\":95}",
                   "dtmf_payload_type");
    expect_invalid("{\"op\":\"connect\",\"leg_id\":\"l\",\"remote_ip\":\"127.0.0.1\","
                   "\"remote_port\":4000,\"payload_type\":101,\"codec\":\"PCMU\"}",
                   "dtmf_payload_type");
}

/* digit_in: one DTMF character (a-d as A-D), an optional duration_ms. */
static void test_digit_in(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"digit_in\",\"leg_id\":\"l\",\"digit\":\"d\","
                           "\"duration_ms\":160,\"reply_to\":\"voepy:cc:n\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.op, MF_OP_DIGIT_IN);
    assert_string_equal(c.digits, "D");
    assert_int_equal(c.duration_ms, 160);
    assert_int_equal(parse("{\"op\":\"digit_in\",\"leg_id\":\"l\",\"digit\":\"#\"}", &c, &e), 0);
    assert_string_equal(c.digits, "#");
    assert_int_equal(c.duration_ms, 0);
    assert_string_equal(command_op_name(MF_OP_DIGIT_IN), "digit_in");
    expect_invalid("{\"op\":\"digit_in\",\"leg_id\":\"l\"}", "digit");
    expect_invalid("{\"op\":\"digit_in\",\"leg_id\":\"l\",\"digit\":\"12\"}", "digit");
    expect_invalid("{\"op\":\"digit_in\",\"leg_id\":\"l\",\"digit\":\"e\"}", "digit");
    expect_invalid("{\"op\":\"digit_in\",\"leg_id\":\"l\",\"digit\":5}", "digit");
    expect_invalid("{\"op\":\"digit_in\",\"leg_id\":\"l\",\"digit\":\"5\",\"duration_ms\":-1}",
                   "duration_ms");
}

static void test_media_replies(void **state)
{
    (void)state;
    struct leg_event ev = {.type = LEG_EV_GATHER_COMPLETE,
                           .leg_id = "l",
                           .call_id = "c",
                           .reply_to = "voepy:cc:n",
                           .id = "g\"1",
                           .status = "valid",
                           .digits = "12"};
    char *s = reply_leg_event(&ev, "mf-1");
    json_t *o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "gather_complete");
    assert_string_equal(json_string_value(json_object_get(o, "gather_id")), "g\"1");
    assert_string_equal(json_string_value(json_object_get(o, "digits")), "12");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "valid");
    assert_string_equal(json_string_value(json_object_get(o, "media_node")), "mf-1");
    json_decref(o);
    free(s);
    ev = (struct leg_event){.type = LEG_EV_PLAYBACK_ENDED,
                            .leg_id = "l",
                            .call_id = "c",
                            .reply_to = "",
                            .id = "",
                            .reason = "finished"};
    s = reply_leg_event(&ev, "mf-1");
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "playback_ended");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "finished");
    assert_null(json_object_get(o, "playback_id")); /* none given: none sent */
    json_decref(o);
    free(s);
    s = reply_play_failed("l", "c", "mf-1", "p", "audio_not_found", "no such audio file");
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "failed");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "audio_not_found");
    assert_string_equal(json_string_value(json_object_get(o, "playback_id")), "p");
    json_decref(o);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocate),        cmocka_unit_test(test_allocate_refused),
        cmocka_unit_test(test_release),         cmocka_unit_test(test_connect),
        cmocka_unit_test(test_connect_refused), cmocka_unit_test(test_replies),
        cmocka_unit_test(test_media_verbs),     cmocka_unit_test(test_media_verbs_refused),
        cmocka_unit_test(test_media_replies),   cmocka_unit_test(test_digit_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
