/*
 * url_guard.h - may we fetch a URL a customer gave us? (server-side request forgery)
 *
 * Webhook URLs, audio_url and stream_url point wherever the customer likes, including
 * at our own network: the loopback, the cluster's private ranges, a cloud metadata
 * address. Before connecting, a service checks the URL here:
 *
 *   1. the URL parses (libcurl's parser, the same one that will send the request) and
 *      its scheme is allowed (http, https by default);
 *   2. the host is resolved with uv_getaddrinfo (never blocking the loop);
 *   3. every address it resolves to is classified; if any is refused the URL is refused
 *      (a name that mixes a public and a private address is a rebinding attempt);
 *   4. the caller gets the checked address and connects to exactly it (connect_ip of
 *      httpc_request), so a second resolution can never lead somewhere else.
 *
 * Loopback, private (RFC 1918, ULA), link-local and CGNAT addresses are refused unless
 * the operator sets allow_private (VOEPY_URL_ALLOW_PRIVATE=true, for development and
 * tests). Multicast, unspecified and reserved addresses (documentation, benchmarking,
 * broadcast, 240/4, IPv6 outside 2000::/3, ...) are refused always: nothing legitimate
 * listens there and several of them reach the local host.
 *
 * This is the minimal guard; later versions add port policy, redirects and per-tenant
 * allow lists on top of the same calls.
 */
#ifndef VOEPY_URL_GUARD_H
#define VOEPY_URL_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

enum url_addr_class {
    URL_ADDR_PUBLIC,
    URL_ADDR_LOOPBACK,    /* 127/8, ::1 */
    URL_ADDR_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48 */
    URL_ADDR_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
    URL_ADDR_CGNAT,       /* 100.64/10 (shared address space) */
    URL_ADDR_MULTICAST,   /* 224/4, ff00::/8 */
    URL_ADDR_UNSPECIFIED, /* 0/8, :: */
    URL_ADDR_RESERVED,    /* everything else that is not global unicast */
};

struct url_guard_opts {
    bool allow_private; /* allow loopback, private, link-local and CGNAT targets */
    bool allow_ws;      /* also accept ws:// and wss:// (stream URLs) */
};

/* Classify an AF_INET or AF_INET6 address; other families are URL_ADDR_RESERVED. */
enum url_addr_class url_guard_classify(const struct sockaddr *sa);
/* Classify a numeric address ("10.1.2.3", "::1"); VP_E_PARSE when ip is not one. */
int url_guard_classify_ip(const char *ip, enum url_addr_class *cls);
/* Whether a class may be connected to: 0, or VP_E_FORBIDDEN. */
int url_guard_decide(enum url_addr_class cls, bool allow_private);
/* "public", "loopback", "private", ... for logs and error messages. */
const char *url_addr_class_name(enum url_addr_class cls);

/* The parts of a URL the guard looks at. */
struct url_target {
    char scheme[8]; /* lower case: "http", "https", "ws", "wss" */
    char host[256]; /* without IPv6 brackets */
    int port;       /* explicit or the scheme's default */
};

/*
 * Parse url and check its scheme (http/https, plus ws/wss with allow_ws). Returns 0,
 * VP_E_INVALID_PARAMETER for a URL that does not parse, has no host, carries an IPv6
 * zone id or is longer than 2048 bytes, or VP_E_FORBIDDEN for another scheme.
 */
int url_guard_parse(const char *url, const struct url_guard_opts *opts, struct url_target *t);

struct url_check_result {
    /*
     * 0 (allowed), VP_E_FORBIDDEN (an address is refused), VP_E_IO (the name does not
     * resolve) or VP_E_CANCELED (url_guard_cancel).
     */
    int status;
    const struct url_target *target;
    const char *ip;          /* allowed: the address to connect to; else NULL */
    enum url_addr_class cls; /* of ip, or of the refused address */
    const char *reason;      /* a sentence for logs when status != 0 */
};

typedef void(url_guard_cb)(const struct url_check_result *res, void *arg);

struct url_check;

/*
 * Check url asynchronously. Returns 0 and cb runs exactly once, on the loop thread and
 * never inside this call; or returns what url_guard_parse() returns, or VP_E_IO when the
 * resolver cannot be started (cb will not run then).
 * *checkp (when checkp is not NULL) may be passed to url_guard_cancel() until cb runs;
 * the check frees itself after cb returns.
 */
int url_guard_check(uv_loop_t *loop, const char *url, const struct url_guard_opts *opts,
                    url_guard_cb *cb, void *arg, struct url_check **checkp);
/*
 * Make cb run with VP_E_CANCELED: at once (from the loop) when the lookup has not
 * started, else when the running lookup returns (getaddrinfo cannot be interrupted).
 */
void url_guard_cancel(struct url_check *c);

#endif
