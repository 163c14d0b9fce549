/*
 * fuzz_sip.c - a SIP message from the network as call-control sees it: libosip2's parser,
 * our validation, then every accessor the stack uses on a validated message, the extension
 * headers (sip_ext.h: Require, Session-Expires, Min-SE, RSeq, Allow), and the SDP answer
 * and dtmf-relay parsers on its body.
 */
#include <osipparser2/osip_parser.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sdp.h"
#include "sip_ext.h"
#include "sip_msg.h"

static void inspect(const osip_message_t *m)
{
    char buf[256];
    (void)sip_msg_call_id(m, buf, sizeof(buf));
    (void)sip_msg_from_tag(m);
    (void)sip_msg_to_tag(m);
    (void)sip_msg_cseq_method(m);
    char *contact = sip_msg_contact_uri(m);
    if (contact) {
        char host[256];
        int port;
        sip_msg_uri_hostport(contact, host, sizeof(host), &port);
        free(contact);
    }
    struct sip_session_expires se;
    bool we_refresh;
    (void)sip_ext_unsupported(m, SIP_EXT_UAS_SUPPORTED, buf, sizeof(buf));
    (void)sip_ext_has(m, "supported", "timer");
    (void)sip_ext_session_expires(m, &se);
    (void)sip_ext_uac_timer(m, &we_refresh);
    (void)sip_ext_min_se(m);
    (void)sip_ext_rseq(m);
    (void)sip_ext_allows(m, "UPDATE");
    size_t len;
    int duration;
    const char *body = sip_msg_body(m, &len);
    if (body && sip_msg_has_sdp(m)) {
        struct sdp_answer a;
        sdp_parse_answer(body, len, &a);
    }
    if (body)
        (void)sip_ext_dtmf_relay(body, len, &duration);
    char *text;
    if (sip_msg_to_text(m, &text, &len) == 0)
        osip_free(text);
}

/* libosip2 prints its parse errors on stderr by default: thousands of lines per run. */
static void quiet_trace_cb(const char *file, int line, osip_trace_level_t level, const char *fmt,
                           va_list ap)
{
    (void)file, (void)line, (void)level, (void)fmt, (void)ap;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        parser_init();
        osip_trace_initialize_func(OSIP_FATAL, quiet_trace_cb);
        ready = 1;
    }
    osip_message_t *m = NULL;
    if (sip_msg_parse((const char *)data, size, &m) == 0 && m) {
        const char *why;
        if (sip_msg_validate(m, &why) == 0)
            inspect(m);
    }
    if (m)
        osip_message_free(m);
    return 0;
}
