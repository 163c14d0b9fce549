/*
 * sip_transport.h - SIP over UDP and TCP on one local address.
 *
 * One UDP socket and one TCP listener share host:port (port 0 picks a free port that is
 * free for both). TCP connections are made on demand to send and accepted from peers;
 * each is identified by a small id so that a server transaction can answer on the
 * connection its request came on. Stream framing is by Content-Length (sip_frame.h) with
 * a bounded input buffer per connection and a bounded number of connections.
 *
 * Received messages are handed up whole, with their source and arrival time; the
 * transport knows nothing about SIP beyond framing. All calls on the loop thread.
 */
#ifndef CC_SIP_TRANSPORT_H
#define CC_SIP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sip_transport;

enum sip_proto { SIP_UDP, SIP_TCP };

#define SIP_IP_MAX 46 /* INET6_ADDRSTRLEN */

struct sip_rx {
    enum sip_proto proto;
    const char *data; /* the message, valid during the callback only */
    size_t len;
    char src_ip[SIP_IP_MAX];
    int src_port;
    uint32_t conn_id; /* TCP connection it came on; 0 for UDP */
    int64_t at_ms;    /* wall clock at arrival (epoch ms) */
};

/* A message arrived. */
typedef void(sip_rx_cb)(const struct sip_rx *rx, void *arg);
/* A TCP connection to ip:port failed (connect refused, reset before a reply, ...). */
typedef void(sip_tp_error_cb)(enum sip_proto proto, const char *ip, int port, int err, void *arg);

struct sip_transport_opts {
    const char *host;   /* local IP address to bind, e.g. "127.0.0.1" */
    int port;           /* 0 = a free port */
    unsigned max_conns; /* TCP connections, default 1024 */
    unsigned idle_secs; /* close TCP connections idle this long, default 900 */
};

int sip_transport_create(struct sip_transport **tp, uv_loop_t *loop,
                         const struct sip_transport_opts *o, sip_rx_cb *rx, sip_tp_error_cb *err_cb,
                         void *arg);
/* The bound port (the same for UDP and TCP). */
int sip_transport_port(const struct sip_transport *t);
const char *sip_transport_host(const struct sip_transport *t);
const char *sip_proto_name(enum sip_proto p); /* "UDP" | "TCP" */
/* "udp"/"UDP" or "tcp"/"TCP" to the enum; returns 0 or VP_E_INVALID_PARAMETER. */
int sip_proto_parse(const char *s, enum sip_proto *p);
/* sa's address as text into ip (n >= SIP_IP_MAX) and its port into *port (may be NULL):
 * 0, or VP_E_INVALID_PARAMETER for a family other than IPv4/IPv6 (ip "", port 0). */
int sip_addr_name(const struct sockaddr *sa, char *ip, size_t n, int *port);
/* The address a uv_getaddrinfo lookup found (its status and res) into ip, "" when it
 * failed; frees res. For the lookups of route hosts (calls, OPTIONS, REGISTER). */
void sip_addr_resolved(int status, struct addrinfo *res, char *ip, size_t n);

/*
 * Send one message to ip:port (an IP literal). For TCP, conn_id (when non-zero and still
 * open) picks the connection, else an open connection to ip:port is used, else one is
 * opened and the message waits for it. Returns 0 when sent or queued, else VP_E_*
 * (VP_E_INVALID_PARAMETER for a bad address, VP_E_UNAVAILABLE when out of connections,
 * VP_E_IO when the socket refused it).
 */
int sip_transport_send(struct sip_transport *t, enum sip_proto proto, const char *ip, int port,
                       uint32_t conn_id, const char *data, size_t len);
/* Close sockets and connections (queued messages are dropped), free, then closed() runs. */
void sip_transport_close(struct sip_transport *t, void (*closed)(void *arg), void *arg);

#endif
