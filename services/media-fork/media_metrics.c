/* media-fork's metric series; see media_metrics.h. */
#include "media_metrics.h"

#include <stdio.h>

#include "voepy/metrics.h"

#define PKTS    "voepy_media_rtp_packets_total"
#define BYTES   "voepy_media_rtp_bytes_total"
#define INVALID "voepy_media_rtp_invalid_total"
#define ALLOC   "voepy_media_allocation_failures_total"

static struct metric *invalid(const char *reason)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
    return metrics_counter(INVALID, "Datagrams refused on RTP/RTCP ports.", labels);
}

static void init_invalid(struct media_metrics *m)
{
    for (int f = RTP_FAULT_SHORT; f <= RTP_FAULT_RTCP; f++)
        m->invalid_fault[f] = invalid(rtp_fault_name((enum rtp_fault)f));
    m->invalid_source = invalid("source");
    m->invalid_rtcp = invalid("rtcp_malformed");
    m->invalid_oversize = invalid("oversize");
}

static void init_verbs(struct media_metrics *m)
{
    const char *digits = "voepy_media_dtmf_digits_total",
               *dh = "DTMF digits heard (RFC 4733 always, in-band while a gather runs).";
    m->digits_rfc4733 = metrics_counter(digits, dh, "source=\"rfc4733\"");
    m->digits_inband = metrics_counter(digits, dh, "source=\"inband\"");
    m->dtmf_sent = metrics_counter("voepy_media_dtmf_sent_total",
                                   "DTMF digits sent as RFC 4733 events.", NULL);
    const char *plays = "voepy_media_playbacks_total", *ph = "Playbacks ended (not prompts).";
    m->play_finished = metrics_counter(plays, ph, "reason=\"finished\"");
    m->play_stopped = metrics_counter(plays, ph, "reason=\"stopped\"");
    const char *status[] = {"valid", "invalid", "timeout", "cancelled"};
    for (int i = 0; i < 4; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "status=\"%s\"", status[i]);
        m->gathers[i] = metrics_counter("voepy_media_gathers_total", "Gathers completed.", labels);
    }
}

/* Receiver statistics and RTCP (leg_rtcp.c). */
static void init_quality(struct media_metrics *m)
{
    static const double ms[] = {1, 2, 5, 10, 20, 30, 50, 100, 200, 500, 1000};
    size_t n = sizeof(ms) / sizeof(ms[0]);
    m->rtcp_out = metrics_counter("voepy_media_rtcp_packets_total", "RTCP compound packets.",
                                  "direction=\"out\"");
    m->lost = metrics_counter("voepy_media_rtp_lost_total",
                              "RTP packets of far ends never received (RFC 3550 A.3).", NULL);
    m->jitter_ms =
        metrics_histogram("voepy_media_rtp_jitter_ms",
                          "Far ends' interarrival jitter at each RTCP report (ms).", NULL, ms, n);
    m->rtt_ms =
        metrics_histogram("voepy_media_rtcp_rtt_ms",
                          "Round-trip times from far ends' RTCP reports (ms).", NULL, ms, n);
}

void media_metrics_init(struct media_metrics *m)
{
    m->legs = metrics_gauge("voepy_media_legs", "Legs holding an RTP/RTCP port pair.", NULL);
    m->ports_free = metrics_gauge("voepy_media_ports_free", "Free RTP/RTCP port pairs.", NULL);
    m->packets_in = metrics_counter(PKTS, "RTP packets.", "direction=\"in\"");
    m->packets_out = metrics_counter(PKTS, "RTP packets.", "direction=\"out\"");
    m->bytes_in = metrics_counter(BYTES, "RTP bytes (whole datagrams).", "direction=\"in\"");
    m->bytes_out = metrics_counter(BYTES, "RTP bytes (whole datagrams).", "direction=\"out\"");
    m->rtcp_in = metrics_counter("voepy_media_rtcp_packets_total", "RTCP compound packets.",
                                 "direction=\"in\"");
    init_invalid(m);
    init_quality(m);
    m->flood = metrics_counter("voepy_media_rx_throttled_total",
                               "Times a leg hit its per-tick receive budget.", NULL);
    m->send_errors = metrics_counter("voepy_media_rtp_send_errors_total",
                                     "RTP packets dropped because the socket refused them.", NULL);
    m->alloc_no_ports = metrics_counter(ALLOC, "Refused allocations.", "reason=\"no_ports\"");
    m->alloc_draining = metrics_counter(ALLOC, "Refused allocations.", "reason=\"draining\"");
    m->alloc_io = metrics_counter(ALLOC, "Refused allocations.", "reason=\"io_error\"");
    m->reaped = metrics_counter("voepy_media_legs_reaped_total",
                                "Legs released for lack of RTP and commands.", NULL);
    m->tick_overruns = metrics_counter("voepy_media_tick_overruns_total",
                                       "20 ms periods skipped because the loop was late.", NULL);
    init_verbs(m);
}
