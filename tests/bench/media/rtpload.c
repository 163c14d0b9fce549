/*
 * rtpload - the far ends of N bridged calls for tests/bench/media: 2N UDP sockets on
 * 127.0.0.1, each sending one 20 ms G.711 packet (payload type 0, 172-byte datagrams) 50
 * times a second to the relay under test and counting what the relay delivers to it.
 *
 * Talks to its driver (bench.py) on stdin/stdout, one line each way:
 *   rtpload LEGS WARMUP_S MEASURE_S
 *   -> "ports P1 P2 ... P<LEGS>"         the sockets' ports (the relay's far ends)
 *   <- "dest D1 D2 ... D<LEGS>"          where each socket sends (the relay's ports)
 *   -> one JSON line with the figures    after WARMUP_S + MEASURE_S seconds of traffic
 *                                        (with its own CPU seconds, the 1 ms send slots
 *                                        it started over 5 ms late and how far behind it
 *                                        got: a saturated generator shows there)
 *
 * Loss is counted end to end, by content: every payload starts with the sender's tick
 * number (big-endian, first byte 0, which G.711 silence never has), and a relay copies
 * payloads of bridged legs of one codec unchanged. For each socket, the ticks in the
 * measured window [W, W+M) that arrived at least once are counted; loss = 1 - arrived /
 * expected over all sockets. Nothing that happens in the warm-up or after the window
 * (jitter buffers filling or draining) counts. Sends are spread over the 20 ms period
 * (socket i sends in millisecond i % 20), as real calls are not in phase.
 *
 * Bench tool, not part of voepy: loopback only, bounded by its arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_MS 20
#define PAYLOAD   160
#define MAX_LEGS  20000
#define MAX_TICKS 4096 /* ticks of one run: (warm-up + measure + 1 s) * 50 at most */

struct leg {
    int fd;
    struct sockaddr_in dest;
    uint8_t seen[MAX_TICKS / 8];
    uint64_t received, sent, send_errors;
};

static struct leg *legs;
static int nlegs;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int open_legs(int epfd)
{
    for (int i = 0; i < nlegs; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int buf = 1 << 20;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) ||
            bind(fd, (struct sockaddr *)&a, sizeof(a)))
            return -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
            return -1;
        legs[i].fd = fd;
    }
    return 0;
}

static int print_ports(void)
{
    printf("ports");
    for (int i = 0; i < nlegs; i++) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        if (getsockname(legs[i].fd, (struct sockaddr *)&a, &len))
            return -1;
        printf(" %u", ntohs(a.sin_port));
    }
    printf("\n");
    return fflush(stdout);
}

static int read_dests(void)
{
    char word[16];
    if (scanf("%15s", word) != 1 || strcmp(word, "dest") != 0)
        return -1;
    for (int i = 0; i < nlegs; i++) {
        unsigned port;
        if (scanf("%u", &port) != 1 || port == 0 || port > 65535)
            return -1;
        legs[i].dest = (struct sockaddr_in){.sin_family = AF_INET,
                                            .sin_port = htons((uint16_t)port),
                                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        /* Connected: the kernel keeps the route, sends skip its lookup (the generator's
         * cost per packet is what caps the calls it can offer). A relay answers from the
         * port it was sent to, so nothing it sends is filtered out. */
        if (connect(legs[i].fd, (struct sockaddr *)&legs[i].dest, sizeof(legs[i].dest)))
            return -1;
    }
    return 0;
}

static void send_tick(struct leg *l, int i, uint32_t tick)
{
    uint8_t pkt[12 + PAYLOAD];
    memset(pkt, 0x55, sizeof(pkt));
    pkt[0] = 0x80;
    pkt[1] = 0;
    uint16_t seq = htons((uint16_t)tick);
    uint32_t ts = htonl(tick * 160u), ssrc = htonl(0x10000u + (uint32_t)i);
    uint32_t mark = htonl(tick & 0xffffffu);
    memcpy(pkt + 2, &seq, 2);
    memcpy(pkt + 4, &ts, 4);
    memcpy(pkt + 8, &ssrc, 4);
    memcpy(pkt + 12, &mark, 4);
    if (send(l->fd, pkt, sizeof(pkt), 0) < 0)
        l->send_errors++;
    else
        l->sent++;
}

/* One datagram from the relay: the tick its payload carries is marked as arrived. */
static void count(struct leg *l, const uint8_t *buf, size_t n)
{
    if (n < 12 + 4 || (buf[0] & 0xc0) != 0x80)
        return;
    size_t hdr = 12u + 4u * (buf[0] & 0x0fu);
    if (n < hdr + 4 || buf[hdr] != 0)
        return; /* silence or anything not ours */
    uint32_t tick = ((uint32_t)buf[hdr + 1] << 16) | ((uint32_t)buf[hdr + 2] << 8) | buf[hdr + 3];
    l->received++;
    if (tick < MAX_TICKS)
        l->seen[tick / 8] |= (uint8_t)(1u << (tick % 8));
}

#define BATCH 8

/* Read until the socket is empty: recvmmsg returning fewer than asked has emptied it. */
static void drain(struct leg *l)
{
    static uint8_t buf[BATCH][2048];
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];
    for (;;) {
        for (int k = 0; k < BATCH; k++) {
            iov[k] = (struct iovec){.iov_base = buf[k], .iov_len = sizeof(buf[k])};
            mm[k].msg_hdr = (struct msghdr){.msg_iov = &iov[k], .msg_iovlen = 1};
        }
        int got = recvmmsg(l->fd, mm, BATCH, MSG_DONTWAIT, NULL);
        for (int k = 0; k < got; k++)
            count(l, buf[k], mm[k].msg_len);
        if (got < BATCH)
            return;
    }
}

static void poll_for(int epfd, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(epfd, evs, 256, timeout_ms);
    for (int k = 0; k < n; k++)
        drain(&legs[evs[k].data.u32]);
}

static uint64_t late_slots; /* slots sent more than LATE_US after their time */
static uint64_t max_lag_us; /* the furthest behind its schedule the sending got */
#define LATE_US 5000

/* Run the traffic: send slot by slot (1 ms each), reading whatever comes in between. What
 * has arrived is read after every slot's sends, also when sending runs behind: a generator
 * that only read when it was ahead of time would, once saturated, stop reading, let its
 * sockets overflow and count its own drops as the relay's loss. */
static void run(int epfd, uint32_t ticks)
{
    uint64_t start = now_us();
    for (uint32_t slot = 0; slot < ticks * PERIOD_MS; slot++) {
        uint32_t tick = slot / PERIOD_MS, phase = slot % PERIOD_MS;
        uint64_t due = start + (uint64_t)slot * 1000u, now = now_us();
        if (now > due + LATE_US)
            late_slots++;
        if (now > due && now - due > max_lag_us)
            max_lag_us = now - due;
        for (int i = (int)phase; i < nlegs; i += PERIOD_MS)
            send_tick(&legs[i], i, tick);
        poll_for(epfd, 0);
        for (;;) {
            int64_t left = (int64_t)(start + (uint64_t)(slot + 1) * 1000u) - (int64_t)now_us();
            if (left <= 0)
                break;
            poll_for(epfd, left >= 1000 ? (int)(left / 1000) : 0);
            if (left < 1000)
                break;
        }
    }
    uint64_t end = now_us() + 500000u; /* late packets of the last ticks */
    while (now_us() < end)
        poll_for(epfd, 20);
}

static void report(uint32_t lo, uint32_t hi)
{
    uint64_t expected = 0, arrived = 0, sent = 0, received = 0, errors = 0;
    for (int i = 0; i < nlegs; i++) {
        for (uint32_t t = lo; t < hi; t++)
            arrived += (legs[i].seen[t / 8] >> (t % 8)) & 1u;
        expected += hi - lo;
        sent += legs[i].sent;
        received += legs[i].received;
        errors += legs[i].send_errors;
    }
    double loss = expected ? 1.0 - (double)arrived / (double)expected : 1.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    printf("{\"legs\": %d, \"expected\": %llu, \"arrived\": %llu, \"loss\": %.6f, "
           "\"sent\": %llu, \"received\": %llu, \"send_errors\": %llu, "
           "\"gen_cpu_s\": %.3f, \"gen_late_slots\": %llu, \"gen_max_lag_ms\": %.1f}\n",
           nlegs, (unsigned long long)expected, (unsigned long long)arrived, loss,
           (unsigned long long)sent, (unsigned long long)received, (unsigned long long)errors, cpu,
           (unsigned long long)late_slots, (double)max_lag_us / 1000.0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: rtpload LEGS WARMUP_S MEASURE_S\n");
        return 2;
    }
    nlegs = atoi(argv[1]);
    int warmup = atoi(argv[2]), measure = atoi(argv[3]);
    uint32_t lo = (uint32_t)warmup * 50u, hi = lo + (uint32_t)measure * 50u;
    if (nlegs < 1 || nlegs > MAX_LEGS || warmup < 0 || measure < 1 || hi + 50 > MAX_TICKS) {
        fprintf(stderr, "rtpload: arguments out of range\n");
        return 2;
    }
    legs = calloc((size_t)nlegs, sizeof(*legs));
    int epfd = epoll_create1(0);
    if (!legs || epfd < 0 || open_legs(epfd) || print_ports() || read_dests()) {
        fprintf(stderr, "rtpload: set-up failed: %s\n", strerror(errno));
        return 1;
    }
    run(epfd, hi + 5); /* a few ticks past the window, so its last ticks are not the end */
    report(lo, hi);
    return 0;
}
