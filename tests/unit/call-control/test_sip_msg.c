/* SIP messages: validation of what peers send, the requests and responses we build. */
#include "vp_test.h"

#include <string.h>

#include "sip_msg.h"
#include "voepy/crypto.h"
#include "voepy/err.h"

#define OK_HEADERS                                          \
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n" \
    "From: <sip:a@192.0.2.1>;tag=1\r\n"                     \
    "To: <sip:b@192.0.2.2>\r\n"                             \
    "Call-ID: xyz@192.0.2.1\r\n"                            \
    "CSeq: 7 BYE\r\n"

static const char *validate_text(const char *text)
{
    osip_message_t *m = NULL;
    if (sip_msg_parse(text, strlen(text), &m) != 0)
        return "unparseable";
    const char *why = NULL;
    int err = sip_msg_validate(m, &why);
    osip_message_free(m);
    if (err == 0)
        return NULL;
    assert_int_equal(err, VP_E_PARSE);
    assert_non_null(why);
    return why;
}

static void test_valid_request(void **state)
{
    (void)state;
    assert_null(validate_text("BYE sip:b@192.0.2.2 SIP/2.0\r\n" OK_HEADERS
                              "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"));
}

/* libosip2 parses all of these "successfully"; none may reach the call logic. */
static void test_missing_mandatory_headers(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"BYE sip:b@h SIP/2.0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: x\r\n"
         "CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
         "no Via"},
        {"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@h>\r\n"
         "Call-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
         "no From"},
        {"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\n"
         "Call-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
         "no To"},
        {"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\n"
         "To: <sip:b@h>\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
         "no Call-ID"},
        {"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\n"
         "To: <sip:b@h>\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n",
         "no or bad CSeq"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *why = validate_text(cases[i][0]);
        assert_non_null(why);
        assert_string_equal(why, cases[i][1]);
    }
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_string_equal(validate_text("BYE sip:b@h SIP/2.0\r\n"
                                      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
                                      "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\n"
                                      "Call-ID: xyz\r\nCSeq: 7 INVITE\r\n\r\n"),
                        "CSeq method differs from the request method");
    assert_string_equal(validate_text("BYE sip:b@h SIP/2.0\r\n"
                                      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
                                      "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\n"
                                      "Call-ID: xyz\r\nCSeq: 99999999999 BYE\r\n\r\n"),
                        "no or bad CSeq");
    assert_string_equal(validate_text("BYE sip:b@h SIP/2.0\r\n"
                                      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
                                      "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\n"
                                      "Call-ID: xyz\r\nCSeq: 3000000000 BYE\r\n\r\n"),
                        "CSeq number too large");
    assert_string_equal(
        validate_text("BYE sip:b@192.0.2.2 SIP/2.0\r\n" OK_HEADERS "Max-Forwards: seventy\r\n\r\n"),
        "bad Max-Forwards");
    assert_string_equal(
        validate_text("BYE sip:b@192.0.2.2 SIP/2.0\r\n" OK_HEADERS "Max-Forwards: 7000\r\n\r\n"),
        "bad Max-Forwards");
}

static void test_responses_validated_too(void **state)
{
    (void)state;
    assert_null(validate_text("SIP/2.0 200 OK\r\n" OK_HEADERS "Content-Length: 0\r\n\r\n"));
    assert_non_null(validate_text("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                  "Content-Length: 0\r\n\r\n"));
    assert_string_equal(validate_text("garbage"), "unparseable");
}

static void test_request_builder(void **state)
{
    (void)state;
    const char *routes[] = {"<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>"};
    struct sip_req_spec s = {.method = "INVITE",
                             .ruri = "sip:+15558675309@127.0.0.1:5080",
                             .via_proto = "UDP",
                             .via_host = "127.0.0.1",
                             .via_port = 5060,
                             .branch = "z9hG4bKtest",
                             .from_uri = "sip:+15125550100@127.0.0.1",
                             .from_tag = "ftag",
                             .to_uri = "sip:+15558675309@127.0.0.1",
                             .call_id = "cid@127.0.0.1",
                             .cseq = 1,
                             .contact = "sip:voepy@127.0.0.1:5060",
                             .routes = routes,
                             .nroutes = 2,
                             .content_type = "application/sdp",
                             .body = "v=0\r\n"};
    osip_message_t *m = NULL;
    assert_int_equal(sip_msg_request(&m, &s), 0);
    assert_int_equal(sip_msg_validate(m, NULL), 0);
    char cid[SIP_CALL_ID_MAX];
    assert_string_equal(sip_msg_call_id(m, cid, sizeof(cid)), "cid@127.0.0.1");
    assert_string_equal(sip_msg_from_tag(m), "ftag");
    assert_null(sip_msg_to_tag(m));
    assert_string_equal(sip_msg_cseq_method(m), "INVITE");
    assert_int_equal(sip_msg_cseq_number(m), 1);
    assert_true(sip_msg_has_sdp(m));
    size_t len;
    assert_string_equal(sip_msg_body(m, &len), "v=0\r\n");
    assert_int_equal(len, 5);
    char *text;
    assert_int_equal(sip_msg_to_text(m, &text, &len), 0);
    assert_non_null(strstr(text, "INVITE sip:+15558675309@127.0.0.1:5080 SIP/2.0\r\n"));
    assert_non_null(strstr(text, "branch=z9hG4bKtest"));
    assert_non_null(strstr(text, "Route: <sip:10.0.0.1;lr>\r\n"));
    assert_true(strstr(text, "10.0.0.1") < strstr(text, "10.0.0.2"));
    assert_non_null(strcasestr(text, "Max-Forwards: 70"));
    char *contact = sip_msg_contact_uri(m);
    assert_string_equal(contact, "sip:voepy@127.0.0.1:5060");
    osip_free(contact);
    osip_free(text);
    osip_message_free(m);
    s.via_host = NULL;
    assert_int_equal(sip_msg_request(&m, &s), VP_E_INVALID_PARAMETER);
}

static void test_response_builder(void **state)
{
    (void)state;
    const char *bye = "BYE sip:b@192.0.2.2 SIP/2.0\r\n" OK_HEADERS "Content-Length: 0\r\n\r\n";
    osip_message_t *req = NULL, *resp = NULL;
    assert_int_equal(sip_msg_parse(bye, strlen(bye), &req), 0);
    assert_int_equal(sip_msg_response(&resp, req, 200, "ttag"), 0);
    assert_int_equal(sip_msg_validate(resp, NULL), 0);
    assert_int_equal(resp->status_code, 200);
    assert_string_equal(sip_msg_to_tag(resp), "ttag");
    assert_string_equal(sip_msg_from_tag(resp), "1");
    assert_string_equal(sip_msg_cseq_method(resp), "BYE");
    osip_message_free(resp);
    assert_int_equal(sip_msg_response(&resp, req, 100, "ttag"), 0);
    assert_null(sip_msg_to_tag(resp)); /* no tag on 100 */
    osip_message_free(resp);
    assert_int_equal(sip_msg_response(&resp, req, 99, NULL), VP_E_INVALID_PARAMETER);
    assert_int_equal(sip_msg_response(&resp, req, 700, NULL), VP_E_INVALID_PARAMETER);
    osip_message_free(req);
}

static void test_uri_hostport(void **state)
{
    (void)state;
    char host[64];
    int port;
    assert_int_equal(sip_msg_uri_hostport("sip:127.0.0.1:5080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 5080);
    assert_int_equal(sip_msg_uri_hostport("<sip:trunk@carrier.example;transport=tcp>", host,
                                          sizeof(host), &port),
                     0);
    assert_string_equal(host, "carrier.example");
    assert_int_equal(port, 5060);
    assert_int_equal(sip_msg_uri_hostport("<sip:10.0.0.1;lr>", host, sizeof(host), &port), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_not_equal(sip_msg_uri_hostport("tel:+15551234", host, sizeof(host), &port), 0);
    assert_int_not_equal(sip_msg_uri_hostport("sip:h:99999", host, sizeof(host), &port), 0);
    assert_int_not_equal(sip_msg_uri_hostport("nonsense", host, sizeof(host), &port), 0);
    assert_int_not_equal(
        sip_msg_uri_hostport("sip:averyveryverylonghostname.example.com", host, 8, &port), 0);
}

static void test_identifiers(void **state)
{
    (void)state;
    char a[SIP_TOKEN_MAX], b[SIP_TOKEN_MAX], cid[SIP_TOKEN_MAX + 40];
    sip_msg_new_branch(a, sizeof(a));
    sip_msg_new_branch(b, sizeof(b));
    assert_true(strncmp(a, "z9hG4bK", 7) == 0);
    assert_true(strlen(a) > 20);
    assert_string_not_equal(a, b);
    sip_msg_new_tag(a, sizeof(a));
    sip_msg_new_tag(b, sizeof(b));
    assert_string_not_equal(a, b);
    sip_msg_new_call_id(cid, sizeof(cid), "127.0.0.1");
    assert_non_null(strstr(cid, "@127.0.0.1"));
}

int main(void)
{
    crypto_init();
    parser_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_request),   cmocka_unit_test(test_missing_mandatory_headers),
        cmocka_unit_test(test_bad_values),      cmocka_unit_test(test_responses_validated_too),
        cmocka_unit_test(test_request_builder), cmocka_unit_test(test_response_builder),
        cmocka_unit_test(test_uri_hostport),    cmocka_unit_test(test_identifiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
