#include "sdp.h"

#include "sip_osip.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "voepy/alloc.h"
#include "voepy/err.h"

/* The codecs we know, with the payload type we offer each with and its a=rtpmap. */
struct sdp_codec {
    const char *name;
    int pt;
    const char *rtpmap;
    size_t match; /* bytes of rtpmap an answer's a=rtpmap must start with (no channels) */
};

static const struct sdp_codec known[] = {
    {"PCMU", 0, "PCMU/8000", 9},
    {"PCMA", 8, "PCMA/8000", 9},
    {"G722", 9, "G722/8000", 9},               /* RFC 3551: clock 8000 for 16 kHz audio */
    {"OPUS", SDP_OPUS_PT, "opus/48000/2", 10}, /* RFC 7587: always 48000/2 */
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

/* The enabled codecs (indexes into known), in our order; set once at start-up. */
static size_t enabled[NKNOWN] = {0, 1, 2, 3};
static size_t nenabled = NKNOWN;

static const struct sdp_codec *known_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (strlen(known[i].name) == len && strncasecmp(known[i].name, name, len) == 0)
            return &known[i];
    return NULL;
}

static bool is_enabled(const struct sdp_codec *c)
{
    for (size_t i = 0; c && i < nenabled; i++)
        if (&known[enabled[i]] == c)
            return true;
    return false;
}

int sdp_codecs_set(const char *csv)
{
    size_t list[NKNOWN], n = 0;
    const char *p = csv ? csv : "";
    while (*p) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (!len)
            break;
        const struct sdp_codec *c = known_by_name(p, len);
        if (!c)
            return VP_E_INVALID_PARAMETER;
        for (size_t i = 0; i < n; i++)
            if (list[i] == (size_t)(c - known))
                return VP_E_INVALID_PARAMETER;
        list[n++] = (size_t)(c - known);
        p += len;
    }
    if (!n)
        return VP_E_INVALID_PARAMETER;
    memcpy(enabled, list, n * sizeof(list[0]));
    nenabled = n;
    return 0;
}

const char *sdp_codec_rtpmap(const char *codec)
{
    const struct sdp_codec *c = codec ? known_by_name(codec, strlen(codec)) : NULL;
    return c ? c->rtpmap : NULL;
}

bool sdp_codec_pt_ok(const char *codec, int pt)
{
    const struct sdp_codec *c = codec ? known_by_name(codec, strlen(codec)) : NULL;
    if (!c)
        return false;
    return c->pt < 96 ? pt == c->pt : pt >= 96 && pt <= 127;
}

int sdp_build_offer(struct buf *out, const struct sdp_offer_params *p)
{
    unsigned char probe[16];
    if (!p->ip || p->port <= 0 || p->port > 65535)
        return VP_E_INVALID_PARAMETER;
    const char *family = uv_inet_pton(AF_INET, p->ip, probe) == 0    ? "IP4"
                         : uv_inet_pton(AF_INET6, p->ip, probe) == 0 ? "IP6"
                                                                     : NULL;
    if (!family)
        return VP_E_INVALID_PARAMETER;
    buf_printf(out,
               "v=0\r\n"
               "o=voepy %llu %llu IN %s %s\r\n"
               "s=voepy\r\n"
               "c=IN %s %s\r\n"
               "t=0 0\r\n"
               "m=audio %d RTP/AVP",
               (unsigned long long)p->session_id, (unsigned long long)p->version, family, p->ip,
               family, p->ip, p->port);
    for (size_t i = 0; i < nenabled; i++)
        buf_printf(out, " %d", known[enabled[i]].pt);
    buf_printf(out, " %d\r\n", SDP_DTMF_PT);
    for (size_t i = 0; i < nenabled; i++)
        buf_printf(out, "a=rtpmap:%d %s\r\n", known[enabled[i]].pt, known[enabled[i]].rtpmap);
    buf_printf(out,
               "a=rtpmap:%d telephone-event/8000\r\n"
               "a=fmtp:%d 0-16\r\n"
               "a=ptime:20\r\n"
               "a=sendrecv\r\n",
               SDP_DTMF_PT, SDP_DTMF_PT);
    return 0;
}

const char *sdp_dir_name(enum sdp_dir d)
{
    static const char *names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    return d <= SDP_INACTIVE ? names[d] : "?";
}

/* A small non-negative integer, or -1. */
static int small_int(const char *s, int max)
{
    if (!s || !*s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > max)
        return -1;
    return (int)v;
}

/* The encoding name a=rtpmap gives payload type pt on media m, or NULL. */
static const char *rtpmap_name(sdp_message_t *sdp, int m, int pt, char *out, size_t n)
{
    for (int i = 0; sdp_message_a_att_field_get(sdp, m, i); i++) {
        const char *f = sdp_message_a_att_field_get(sdp, m, i);
        const char *v = sdp_message_a_att_value_get(sdp, m, i);
        if (strcasecmp(f, "rtpmap") != 0 || !v)
            continue;
        char *end;
        long got = strtol(v, &end, 10);
        if (end == v || got != pt || *end != ' ')
            continue;
        snprintf(out, n, "%s", end + 1);
        return out;
    }
    return NULL;
}

/* Which of our enabled codecs payload type pt is on media m ("PCMU" ... "OPUS", "DTMF"),
 * or NULL. Without an a=rtpmap only the static types 0, 8 and 9 are known. */
static const char *codec_of(sdp_message_t *sdp, int m, int pt)
{
    char name[64];
    const char *map = rtpmap_name(sdp, m, pt, name, sizeof(name));
    if (map && strncasecmp(map, "telephone-event/8000", 20) == 0)
        return "DTMF";
    for (size_t i = 0; i < NKNOWN; i++) {
        const struct sdp_codec *c = &known[i];
        /* a static number counts only as its own codec; a dynamic one as any */
        bool same = map ? strncasecmp(map, c->rtpmap, c->match) == 0 &&
                              (map[c->match] == '\0' || map[c->match] == '/') &&
                              (pt >= 96 || pt == c->pt)
                        : pt == c->pt && c->pt < 96;
        if (same)
            return is_enabled(c) ? c->name : NULL;
    }
    return NULL;
}

static void read_attributes(sdp_message_t *sdp, int m, struct sdp_answer *a)
{
    static const char *dirs[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    a->ptime = 20;
    a->dir = SDP_SENDRECV;
    for (int i = 0; sdp_message_a_att_field_get(sdp, m, i); i++) {
        const char *f = sdp_message_a_att_field_get(sdp, m, i);
        if (strcasecmp(f, "ptime") == 0) {
            int v = small_int(sdp_message_a_att_value_get(sdp, m, i), 1000);
            if (v >= 10)
                a->ptime = v;
        }
        for (int d = 0; d < 4; d++)
            if (strcasecmp(f, dirs[d]) == 0)
                a->dir = (enum sdp_dir)d;
    }
}

static int pick_codec(sdp_message_t *sdp, int m, struct sdp_answer *a)
{
    a->payload_type = -1;
    a->dtmf_pt = -1;
    for (int i = 0; sdp_message_m_payload_get(sdp, m, i); i++) {
        int pt = small_int(sdp_message_m_payload_get(sdp, m, i), 127);
        const char *codec = pt >= 0 ? codec_of(sdp, m, pt) : NULL;
        if (!codec)
            continue;
        if (strcmp(codec, "DTMF") == 0) {
            if (a->dtmf_pt < 0)
                a->dtmf_pt = pt;
        } else if (a->payload_type < 0) {
            a->payload_type = pt;
            snprintf(a->codec, sizeof(a->codec), "%s", codec);
        }
    }
    return a->payload_type < 0 ? VP_E_INVALID_PARAMETER : 0;
}

static int read_address(sdp_message_t *sdp, int m, struct sdp_answer *a)
{
    int level = sdp_message_c_addr_get(sdp, m, 0) ? m : -1;
    const char *net = sdp_message_c_nettype_get(sdp, level, 0);
    const char *type = sdp_message_c_addrtype_get(sdp, level, 0);
    const char *addr = sdp_message_c_addr_get(sdp, level, 0);
    unsigned char probe[16];
    if (!net || !type || !addr || strcasecmp(net, "IN") != 0)
        return VP_E_PARSE;
    int af = strcasecmp(type, "IP4") == 0 ? AF_INET : strcasecmp(type, "IP6") == 0 ? AF_INET6 : 0;
    if (!af || strlen(addr) >= sizeof(a->ip) || uv_inet_pton(af, addr, probe) != 0)
        return VP_E_PARSE;
    snprintf(a->ip, sizeof(a->ip), "%s", addr);
    return 0;
}

/* The index of the first audio stream, or -1. */
static int first_audio(sdp_message_t *sdp)
{
    for (int m = 0; !sdp_message_endof_media(sdp, m); m++) {
        const char *media = sdp_message_m_media_get(sdp, m);
        if (media && strcasecmp(media, "audio") == 0)
            return m;
    }
    return -1;
}

static int read_answer(sdp_message_t *sdp, struct sdp_answer *a)
{
    int m = first_audio(sdp);
    if (m < 0)
        return VP_E_PARSE;
    const char *proto = sdp_message_m_proto_get(sdp, m);
    if (!proto || strcasecmp(proto, "RTP/AVP") != 0)
        return VP_E_INVALID_PARAMETER;
    a->port = small_int(sdp_message_m_port_get(sdp, m), 65535);
    if (a->port < 0)
        return VP_E_PARSE;
    if (a->port == 0)
        return VP_E_INVALID_PARAMETER; /* stream rejected (RFC 3264 6) */
    int err = read_address(sdp, m, a);
    if (!err)
        err = pick_codec(sdp, m, a);
    if (!err)
        read_attributes(sdp, m, a);
    return err;
}

#define SDP_PARSE_SLACK 16

int sdp_parse_answer(const char *body, size_t len, struct sdp_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (!body || len == 0 || len > SDP_MAX_LEN || memchr(body, '\0', len))
        return VP_E_PARSE;
    /*
     * libosip2 5.3's SDP parser can step past the terminating NUL when the last line has
     * no line break (found by tests/fuzz/fuzz_sdp.c; ASan: strchr beyond the buffer). Hand
     * it a copy that always ends with CRLF, followed by spare NULs.
     */
    char *text = vp_calloc(1, len + 2 + SDP_PARSE_SLACK);
    memcpy(text, body, len);
    if (body[len - 1] != '\n')
        memcpy(text + len, "\r\n", 2);
    sdp_message_t *sdp = NULL;
    int err = VP_E_PARSE;
    if (sdp_message_init(&sdp) == 0 && sdp_message_parse(sdp, text) == 0)
        err = read_answer(sdp, a);
    if (sdp)
        sdp_message_free(sdp);
    free(text);
    return err;
}
