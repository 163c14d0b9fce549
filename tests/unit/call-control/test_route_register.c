/*
 * A registrar's answers as route_register_msg.c reads them: the expiry granted to our
 * Contact among other bindings of the AOR, the Expires header as a fallback, our own ask
 * when neither says, values that are no numbers, and a 423's Min-Expires.
 */
#include "vp_test.h"

#include <stdio.h>
#include <string.h>

#include "route_register.h"
#include "sip_msg.h"

#define OURS "sip:trunkuser@127.0.0.1:5062"

/* A 200 to a REGISTER with the given extra header lines (each ending in \r\n). */
static osip_message_t *answer(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "SIP/2.0 200 OK\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKabc;rport\r\n"
             "From: <sip:trunkuser@127.0.0.1>;tag=f1\r\n"
             "To: <sip:trunkuser@127.0.0.1>;tag=t1\r\n"
             "Call-ID: c1@127.0.0.1\r\n"
             "CSeq: 2 REGISTER\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             extra);
    osip_message_t *m = NULL;
    assert_int_equal(sip_msg_parse(text, strlen(text), &m), 0);
    assert_int_equal(sip_msg_validate(m, NULL), 0);
    return m;
}

static unsigned granted(const char *extra, unsigned asked)
{
    osip_message_t *m = answer(extra);
    unsigned v = route_register_granted_secs(m, OURS, asked);
    osip_message_free(m);
    return v;
}

static void test_contact_expires_of_our_binding(void **state)
{
    (void)state;
    /* another node's binding comes first: its expiry is not ours */
    assert_int_equal(granted("Contact: <sip:trunkuser@127.0.0.1:5070>;expires=900\r\n"
                             "Contact: <sip:trunkuser@127.0.0.1:5062>;expires=120\r\n"
                             "Expires: 3600\r\n",
                             3600),
                     120);
    /* several bindings in one header, case of the host, a quoted value */
    assert_int_equal(granted("Contact: <sip:other@127.0.0.1:5062>;expires=5, "
                             "<sip:trunkuser@127.0.0.1:5062;transport=udp>;expires=\"45\"\r\n",
                             3600),
                     45);
    assert_int_equal(granted("Contact: <sip:trunkuser@127.0.0.1:5062>;expires=0\r\n", 60), 0);
}

static void test_expires_header_and_default(void **state)
{
    (void)state;
    /* our Contact without expires, or not ours at all: the Expires header */
    assert_int_equal(granted("Contact: <sip:trunkuser@127.0.0.1:5062>\r\nExpires: 300\r\n", 60),
                     300);
    assert_int_equal(granted("Contact: <sip:trunkuser@127.0.0.1>;expires=7\r\nExpires: 30\r\n", 60),
                     30); /* no port is 5060, not our 5062 */
    /* nothing said: what we asked for */
    assert_int_equal(granted("", 3600), 3600);
    assert_int_equal(granted("Contact: <sip:trunkuser@127.0.0.2:5062>;expires=9\r\n", 600), 600);
}

static void test_values_that_are_no_numbers(void **state)
{
    (void)state;
    assert_int_equal(granted("Contact: <sip:trunkuser@127.0.0.1:5062>;expires=abc\r\n"
                             "Expires: 90\r\n",
                             60),
                     90);
    assert_int_equal(granted("Expires: -5\r\n", 60), 60);
    assert_int_equal(granted("Expires: 12x\r\n", 60), 60);
    assert_int_equal(granted("Expires: 99999999999\r\n", 60), 60);
    assert_int_equal(granted("Expires: 2147483648\r\n", 60), 60);
    assert_int_equal(granted("Expires: 2147483647\r\n", 60), 2147483647u);
    assert_int_equal(granted("Expires:  75 \r\n", 60), 75);
}

static void test_min_expires(void **state)
{
    (void)state;
    osip_message_t *m = answer("Min-Expires: 1800\r\n");
    assert_int_equal(route_register_min_expires(m), 1800);
    osip_message_free(m);
    m = answer("Min-Expires: soon\r\n");
    assert_int_equal(route_register_min_expires(m), 0);
    osip_message_free(m);
    m = answer("");
    assert_int_equal(route_register_min_expires(m), 0);
    /* a Contact URI we cannot parse is no binding of ours */
    assert_int_equal(route_register_granted_secs(m, "not a uri", 42), 42);
    assert_int_equal(route_register_granted_secs(m, NULL, 43), 43);
    osip_message_free(m);
}

int main(void)
{
    parser_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contact_expires_of_our_binding),
        cmocka_unit_test(test_expires_header_and_default),
        cmocka_unit_test(test_values_that_are_no_numbers),
        cmocka_unit_test(test_min_expires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
