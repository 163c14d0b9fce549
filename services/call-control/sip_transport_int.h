/*
 * sip_transport_int.h - what sip_transport.c (UDP, lifetime) and sip_tcp.c (connections)
 * share. Private to the transport.
 */
#ifndef CC_SIP_TRANSPORT_INT_H
#define CC_SIP_TRANSPORT_INT_H

#include <stdbool.h>

#include "sip_transport.h"

#define SIP_UDP_MAX 65536

struct sip_conn;

struct sip_transport {
    uv_loop_t *loop;
    uv_udp_t *udp; /* heap handles: a failed bind closes them without the transport */
    uv_tcp_t *listener;
    uv_timer_t sweep; /* closes idle TCP connections */
    char host[SIP_IP_MAX];
    int port;
    unsigned max_conns, idle_secs;
    sip_rx_cb *rx;
    sip_tp_error_cb *err_cb;
    void *arg;
    struct sip_conn *conns; /* every open connection */
    unsigned nconns;
    uint32_t next_conn_id;
    unsigned handles; /* open uv handles, including connections */
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
    char rbuf[SIP_UDP_MAX]; /* one read buffer: libuv reads one socket at a time */
};

/* Handle bookkeeping: every uv_close of the transport ends in sip_tp__handle_closed. */
void sip_tp__handle_closed(struct sip_transport *t);
int sip_tp__addr(const char *ip, int port, struct sockaddr_storage *ss);
void sip_tp__deliver(struct sip_transport *t, enum sip_proto proto, const char *data, size_t len,
                     const struct sockaddr *from, uint32_t conn_id);

/* Close a handle whose memory is its own allocation (freed in the close callback). */
void sip_tp__close_free(uv_handle_t *h);

/* sip_tcp.c */
/* A listening TCP handle on addr, or NULL (the error in *err). */
uv_tcp_t *sip_tcp__listen(uv_loop_t *loop, const struct sockaddr *addr, int *err);
void sip_tcp__start(struct sip_transport *t);
int sip_tcp__send(struct sip_transport *t, const char *ip, int port, uint32_t conn_id,
                  const char *data, size_t len);
void sip_tcp__sweep(struct sip_transport *t, uint64_t now_ms);
void sip_tcp__close_all(struct sip_transport *t);

#endif
