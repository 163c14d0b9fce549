/* Receiver statistics (RFC 3550 A.1, A.3, A.8); see rtp_stats.h. */
#include "rtp_stats.h"

#include <string.h>

#define SEQ_MOD      65536u
#define MAX_DROPOUT  3000u /* ahead by less than this: in order, with a gap */
#define MAX_MISORDER 100u  /* behind by less than this: late or duplicate */

void rtp_stats_init(struct rtp_stats *s, uint32_t clock_rate)
{
    memset(s, 0, sizeof(*s));
    s->clock_rate = clock_rate ? clock_rate : 8000;
}

void rtp_stats_set_clock(struct rtp_stats *s, uint32_t clock_rate)
{
    if (!clock_rate || clock_rate == s->clock_rate)
        return;
    s->clock_rate = clock_rate;
    s->timed = false;
    s->jitter16 = 0;
}

/* The loss so far, folded into lost_before before the sequence state restarts. */
static void carry_loss(struct rtp_stats *s)
{
    int64_t lost = rtp_stats_lost(s);
    if (lost > 0)
        s->lost_before += lost;
}

/* A.1 init_seq: seq is the first packet of a (new) source. */
static void init_seq(struct rtp_stats *s, uint32_t ssrc, uint16_t seq)
{
    if (s->started)
        carry_loss(s);
    s->started = true;
    s->ssrc = ssrc;
    s->first_seq = seq;
    s->max_seq = seq;
    s->cycles = 0;
    s->base_seq = seq;
    s->bad_seq = SEQ_MOD + 1; /* no jump pending */
    s->received = 0;
    s->expected_prior = 0;
    s->received_prior = 0;
    s->timed = false;
    s->jitter16 = 0;
}

/* A.1 update_seq: whether the packet counts. */
static bool update_seq(struct rtp_stats *s, uint32_t ssrc, uint16_t seq)
{
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (udelta < MAX_DROPOUT) {
        if (seq < s->max_seq)
            s->cycles += SEQ_MOD; /* wrapped */
        s->max_seq = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
        /* A large jump: the source restarted, or a stray packet. A second packet right
         * after it confirms the restart. */
        if (seq != s->bad_seq) {
            s->bad_seq = (seq + 1u) & (SEQ_MOD - 1);
            return false;
        }
        init_seq(s, ssrc, seq);
    }
    /* else: late or duplicate, counted as received (A.3 allows negative loss) */
    return true;
}

/* A.8: J += (|D| - J) / 16, kept times 16. */
static void update_jitter(struct rtp_stats *s, uint32_t ts, uint32_t arrival)
{
    uint32_t transit = arrival - ts;
    if (s->timed) {
        int32_t d = (int32_t)(transit - s->transit);
        uint32_t ad = d < 0 ? (uint32_t) - (int64_t)d : (uint32_t)d;
        s->jitter16 += ad - ((s->jitter16 + 8) >> 4);
    }
    s->transit = transit;
    s->timed = true;
}

bool rtp_stats_update(struct rtp_stats *s, uint32_t ssrc, uint16_t seq, uint32_t ts,
                      uint32_t arrival, bool timed)
{
    if (!s->started || ssrc != s->ssrc)
        init_seq(s, ssrc, seq);
    else if (!update_seq(s, ssrc, seq))
        return false;
    s->received++;
    if (timed)
        update_jitter(s, ts, arrival);
    return true;
}

uint32_t rtp_stats_arrival(const struct rtp_stats *s, uint64_t now_ns)
{
    /* Split so that the product cannot overflow for any clock below 4.29 GHz. */
    uint64_t sec = now_ns / 1000000000u, frac = now_ns % 1000000000u;
    return (uint32_t)(sec * s->clock_rate + frac * s->clock_rate / 1000000000u);
}

uint32_t rtp_stats_ext_max(const struct rtp_stats *s)
{
    return s->cycles + s->max_seq;
}

uint32_t rtp_stats_expected(const struct rtp_stats *s)
{
    return s->started ? rtp_stats_ext_max(s) - s->base_seq + 1 : 0;
}

int64_t rtp_stats_lost(const struct rtp_stats *s)
{
    return (int64_t)rtp_stats_expected(s) - (int64_t)s->received;
}

int64_t rtp_stats_lost_total(const struct rtp_stats *s)
{
    int64_t lost = rtp_stats_lost(s);
    return s->lost_before + (lost > 0 ? lost : 0);
}

uint8_t rtp_stats_interval(struct rtp_stats *s)
{
    uint32_t expected = rtp_stats_expected(s);
    uint32_t exp_int = expected - s->expected_prior;
    uint32_t rec_int = s->received - s->received_prior;
    s->expected_prior = expected;
    s->received_prior = s->received;
    int64_t lost_int = (int64_t)exp_int - (int64_t)rec_int;
    if (exp_int == 0 || lost_int <= 0)
        return 0;
    uint64_t f = ((uint64_t)lost_int << 8) / exp_int;
    return f > 255 ? 255 : (uint8_t)f;
}

uint32_t rtp_stats_jitter(const struct rtp_stats *s)
{
    return s->jitter16 >> 4;
}

uint32_t rtp_stats_jitter_ms(const struct rtp_stats *s)
{
    return (uint32_t)(((uint64_t)rtp_stats_jitter(s) * 1000u + s->clock_rate / 2) / s->clock_rate);
}
