/*
 * A leg's RTCP (RFC 3550 section 6) and receiver statistics: every valid RTP packet of
 * the latched far end updates rtp_stats (loss, jitter) and the leg's counters; every
 * ~5 s (randomised 0.5-1.5x, the first after ~2.5 s as 6.2 allows) a connected leg sends
 * an SR while it sends RTP, else an RR, with one report block about the far end and an
 * SDES CNAME, and a last one with a BYE when a connected leg is released; the far end's
 * SR/RR give the round-trip time and what it hears of us.
 *
 * Reports go from the leg's RTCP socket to where the far end's RTCP comes from, else to
 * its RTP address with port + 1. Built in the engine's shared tx buffer and sent with
 * uv_udp_try_send like RTP: nothing here allocates.
 */
#include "leg_internal.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "rtcp_report.h"
#include "voepy/crypto.h"
#include "voepy/metrics.h"

#define RTCP_INTERVAL_MS 5000u
#define RTCP_FIRST_MS    2500u /* 6.2: the first report after half the minimum */

void leg__rtcp_init(struct leg *l)
{
    rtp_stats_init(&l->rx_stats, 8000);
    l->rtcp_next = 0;
}

static uint32_t clock_rate(const struct leg *l)
{
    return l->remote.codec ? l->remote.codec->clock_rate : 8000;
}

void leg__stats_rx(struct leg *l, const struct rtp_hdr *h)
{
    struct rtp_stats *s = &l->rx_stats;
    rtp_stats_set_clock(s, clock_rate(l));
    /* Only audio follows the media clock; RFC 4733 events repeat their start time. */
    bool timed = l->state != LEG_CONNECTED || h->pt == l->remote.pt;
    rtp_stats_update(s, h->ssrc, h->seq, h->ts, rtp_stats_arrival(s, uv_hrtime()), timed);
    int64_t lost = rtp_stats_lost_total(s);
    l->counters.lost = lost;
    l->counters.jitter_ms = rtp_stats_jitter_ms(s);
    if (lost > l->lost_counted) {
        metric_add(l->ctx->metrics.lost, lost - l->lost_counted);
        l->lost_counted = lost;
    }
}

void leg__rtcp_rx(struct leg *l, const uint8_t *pkt, size_t len)
{
    struct rtcp_heard h;
    if (rtcp_report_read(pkt, len, l->ssrc, &h))
        return; /* valid RTCP (counted), but no report we can read */
    uint64_t ntp = rtcp_ntp_now();
    if (h.has_sr) {
        l->peer_lsr = h.lsr;
        l->peer_lsr_ns = uv_hrtime();
    }
    if (!h.has_block)
        return;
    struct leg_counters *c = &l->counters;
    c->remote_known = true;
    c->remote_lost = h.block.lost;
    c->remote_jitter_ms = (uint32_t)((uint64_t)h.block.jitter * 1000u / clock_rate(l));
    int64_t rtt = rtcp_rtt_ms(rtcp_ntp_middle(ntp), h.block.lsr, h.block.dlsr);
    if (rtt < 0)
        return;
    c->rtt_known = true;
    c->rtt_ms = (uint32_t)rtt;
    metric_observe(l->ctx->metrics.rtt_ms, (double)rtt);
}

/* base ms times a random factor in [0.5, 1.5) (6.2: no synchronised reports). */
static uint64_t randomised(unsigned base)
{
    uint16_t r;
    crypto_random(&r, sizeof(r));
    return base / 2 + (uint64_t)base * r / 65536u;
}

/* The far end's RTCP source once heard, else its RTP address with port + 1. */
static void destination(const struct leg *l, struct sockaddr_storage *to)
{
    if (l->rtcp_seen) {
        *to = l->rtcp_addr;
        return;
    }
    *to = l->latched ? l->latch_addr : l->remote.addr;
    if (to->ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)to;
        a->sin6_port = htons((uint16_t)(ntohs(a->sin6_port) + 1));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)to;
        a->sin_port = htons((uint16_t)(ntohs(a->sin_port) + 1));
    }
}

/* The report block about the far end's RTP (closes the loss interval). */
static void fill_block(struct leg *l, struct rtcp_block *b)
{
    struct rtp_stats *s = &l->rx_stats;
    int64_t lost = rtp_stats_lost(s);
    *b = (struct rtcp_block){.ssrc = s->ssrc,
                             .fraction = rtp_stats_interval(s),
                             .lost = lost > INT32_MAX ? INT32_MAX : (int32_t)lost,
                             .ext_max = rtp_stats_ext_max(s),
                             .jitter = rtp_stats_jitter(s)};
    if (l->peer_lsr) {
        b->lsr = l->peer_lsr;
        b->dlsr = rtcp_dlsr(uv_hrtime() - l->peer_lsr_ns);
    }
    metric_observe(l->ctx->metrics.jitter_ms, (double)rtp_stats_jitter_ms(s));
}

/* An SR/RR + SDES (+ BYE when the leg is leaving) to the far end's RTCP address. */
static void send_report(struct leg *l, bool bye)
{
    const struct leg_counters *c = &l->counters;
    bool sending = c->packets_out != l->rtcp_last_out;
    l->rtcp_last_out = c->packets_out;
    struct rtcp_sender si = {.ntp = rtcp_ntp_now(),
                             .rtp_ts = l->ts,
                             .packets = (uint32_t)c->packets_out,
                             .octets = (uint32_t)(c->bytes_out - RTP_HEADER_LEN * c->packets_out)};
    struct rtcp_block b;
    if (l->rx_stats.started)
        fill_block(l, &b);
    char cname[32];
    snprintf(cname, sizeof(cname), "%08x@voepy", (unsigned)l->ssrc);
    size_t n = rtcp_report_build(l->ctx->tx_buf, sizeof(l->ctx->tx_buf), l->ssrc,
                                 sending ? &si : NULL, l->rx_stats.started ? &b : NULL, cname);
    if (bye && n)
        n = rtcp_report_add_bye(l->ctx->tx_buf, sizeof(l->ctx->tx_buf), n, l->ssrc);
    struct sockaddr_storage to;
    destination(l, &to);
    uv_buf_t buf = uv_buf_init((char *)l->ctx->tx_buf, (unsigned)n);
    if (n == 0 || uv_udp_try_send(&l->rtcp, &buf, 1, (const struct sockaddr *)&to) < 0) {
        metric_inc(l->ctx->metrics.send_errors);
        return;
    }
    l->counters.rtcp_out++;
    metric_inc(l->ctx->metrics.rtcp_out);
}

void leg__rtcp_tick(struct leg *l)
{
    uint64_t now = uv_now(l->ctx->loop);
    if (l->rtcp_next == 0) {
        l->rtcp_next = now + randomised(RTCP_FIRST_MS);
        return;
    }
    if (now < l->rtcp_next)
        return;
    l->rtcp_next = now + randomised(RTCP_INTERVAL_MS);
    send_report(l, false);
}

void leg__rtcp_bye(struct leg *l)
{
    send_report(l, true);
}
