#include "sdp_uas.h"

#include <uv.h>

#include "voepy/err.h"

static const char *family_of(const char *ip)
{
    unsigned char probe[16];
    if (uv_inet_pton(AF_INET, ip, probe) == 0)
        return "IP4";
    if (uv_inet_pton(AF_INET6, ip, probe) == 0)
        return "IP6";
    return NULL;
}

int sdp_build_answer(struct buf *out, const struct sdp_answer_params *p)
{
    const struct sdp_answer *o = p->offer;
    const char *family = p->ip ? family_of(p->ip) : NULL;
    const char *rtpmap = o ? sdp_codec_rtpmap(o->codec) : NULL;
    if (!family || p->port <= 0 || p->port > 65535 || !rtpmap ||
        !sdp_codec_pt_ok(o->codec, o->payload_type))
        return VP_E_INVALID_PARAMETER;
    buf_printf(out,
               "v=0\r\n"
               "o=voepy %llu %llu IN %s %s\r\n"
               "s=voepy\r\n"
               "c=IN %s %s\r\n"
               "t=0 0\r\n",
               (unsigned long long)p->session_id, (unsigned long long)(p->version ? p->version : 1),
               family, p->ip, family, p->ip);
    if (o->dtmf_pt >= 0)
        buf_printf(out, "m=audio %d RTP/AVP %d %d\r\n", p->port, o->payload_type, o->dtmf_pt);
    else
        buf_printf(out, "m=audio %d RTP/AVP %d\r\n", p->port, o->payload_type);
    buf_printf(out, "a=rtpmap:%d %s\r\n", o->payload_type, rtpmap);
    if (o->dtmf_pt >= 0)
        buf_printf(out, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", o->dtmf_pt,
                   o->dtmf_pt);
    buf_printf(out, "a=ptime:20\r\na=%s\r\n", sdp_dir_name(p->dir));
    return 0;
}
