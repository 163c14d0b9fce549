/*
 * url_guard.h - may we fetch a URL a customer gave us? (server-side request forgery)
 *
 * Webhook URLs, audio_url and stream_url point wherever the customer likes, including
 * at our own network: the loopback, the cluster's private ranges, a cloud metadata
 * address. Before connecting, a service checks the URL here:
 *
 *   1. the URL parses (libcurl's parser, the same one that will send the request), its
 *      scheme is allowed (http, https; ws, wss for stream URLs) and its port is 80, 443
 *      or on the operator's list;
 *   2. the host is normalised (below); a literal address is judged as it is, a name is
 *      resolved once (uv_getaddrinfo, never blocking the loop; or the test resolver);
 *   3. every address is judged by the policy; if any is refused the URL is refused (a
 *      name that mixes an allowed and a refused address is a rebinding attempt);
 *   4. the caller gets the checked address and connects to exactly it (connect_ip of
 *      httpc_request), so a second resolution can never lead somewhere else.
 *
 * Who normalises what. libcurl 7.88's URL API (curl_url_set) already turns the numeric
 * IPv4 forms into a dotted quad ("2130706433", "0177.0.0.1", "0x7f.1", "127.1" all become
 * "127.0.0.1"), percent-decodes the host and drops a port's leading zeros. We then:
 * lower-case the host; drop one trailing dot ("127.0.0.1.", "example.com."); parse the
 * numeric IPv4 forms again ourselves (so a libcurl that stops doing it changes nothing);
 * refuse a host whose last label is a number but not a valid address ("127.0.0.256",
 * "1.2.3.4.5", "4294967296": a resolver might read them some other way); refuse hosts
 * that are not ASCII letters, digits, '-', '_' and '.' (international names must be
 * given in their punycode form); turn an IPv4-mapped IPv6 literal ("[::ffff:127.0.0.1]")
 * into its IPv4 address and judge that; write other IPv6 literals canonically.
 * "localhost" and names under ".localhost" are loopback without asking any resolver.
 *
 * Classes: loopback, private (RFC 1918, ULA, site-local), link-local and CGNAT are
 * refused unless the policy allows private targets (VOEPY_URL_ALLOW_PRIVATE=true, for
 * development). Multicast, unspecified, reserved (documentation, benchmarking, broadcast,
 * 240/4, IPv6 outside 2000::/3, ...) and the IPv4-embedding IPv6 ranges (NAT64
 * 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32, IPv4-mapped
 * ::ffff:0:0/96 and IPv4-compatible ::/96, whose IPv4 part a gateway might reach for us)
 * are refused always. The operator's allow-list (VOEPY_URL_ALLOW_CIDRS) allows a range
 * whatever its class; an IPv4 range never matches an IPv6 address, so allowing 10/8 does
 * not allow 64:ff9b::a00:1 (allow the IPv6 range itself for that).
 */
#ifndef VOEPY_URL_GUARD_H
#define VOEPY_URL_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "voepy/config.h"

enum url_addr_class {
    URL_ADDR_PUBLIC,
    URL_ADDR_LOOPBACK,    /* 127/8, ::1 */
    URL_ADDR_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
    URL_ADDR_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
    URL_ADDR_CGNAT,       /* 100.64/10 (shared address space) */
    URL_ADDR_MULTICAST,   /* 224/4, ff00::/8 */
    URL_ADDR_UNSPECIFIED, /* 0/8, :: */
    URL_ADDR_RESERVED,    /* everything else that is not global unicast */
    URL_ADDR_EMBEDDED,    /* IPv6 carrying an IPv4 address: NAT64, 6to4, Teredo, mapped */
};

/* Classify an AF_INET or AF_INET6 address; other families are URL_ADDR_RESERVED. */
enum url_addr_class url_guard_classify(const struct sockaddr *sa);
/* Classify a numeric address ("10.1.2.3", "::1"); VP_E_PARSE when ip is not one. */
int url_guard_classify_ip(const char *ip, enum url_addr_class *cls);
/* Whether a class may be connected to (no allow-list): 0, or VP_E_FORBIDDEN. */
int url_guard_decide(enum url_addr_class cls, bool allow_private);
/* "public", "loopback", "private", "ipv4-embedded", ... for logs and error messages. */
const char *url_addr_class_name(enum url_addr_class cls);

/* ---- the operator's policy (url_policy.c) ------------------------------------------ */

/*
 * The policy's settings as a service reads them (config.h): embed one in the service's
 * config struct and put URL_POLICY_VARS(type, member) in its config_var table, so every
 * service reads the same variables with the same defaults and prints them at start.
 */
struct url_policy_config {
    bool allow_private;  /* VOEPY_URL_ALLOW_PRIVATE */
    char *allow_cidrs;   /* VOEPY_URL_ALLOW_CIDRS: "127.0.0.2/32,10.1.0.0/16,::1/128" */
    char *allow_ports;   /* VOEPY_URL_ALLOW_PORTS: "8080,9000-9100", "*" = every port */
    char *test_resolver; /* VOEPY_URL_TEST_RESOLVER: a file of fake DNS answers (tests) */
};

#define URL_POLICY_VARS(type, m)                                                                \
    CONFIG_BOOL(type, m.allow_private, "VOEPY_URL_ALLOW_PRIVATE", "false",                      \
                "allow customer URLs on loopback, private, link-local and CGNAT addresses "     \
                "(development and tests only)"),                                                \
        CONFIG_STR(type, m.allow_cidrs, "VOEPY_URL_ALLOW_CIDRS", "", 0,                         \
                   "comma-separated address ranges customer URLs may reach whatever their "     \
                   "class (127.0.0.2/32,10.1.0.0/16,::1/128)"),                                 \
        CONFIG_STR(type, m.allow_ports, "VOEPY_URL_ALLOW_PORTS", "", 0,                         \
                   "comma-separated ports or ranges customer URLs may use besides 80 and 443 "  \
                   "(8080,9000-9100; * = every port)"),                                         \
        CONFIG_STR(type, m.test_resolver, "VOEPY_URL_TEST_RESOLVER", "", 0,                     \
                   "TESTS ONLY: file of fake DNS answers used instead of the system resolver; " \
                   "lines '<name> <addr>[,<addr>...] ...', the n-th lookup gets the n-th answer")

struct url_policy;

/*
 * Build the policy from its settings, once at start. Returns 0, or VP_E_CONFIG with a
 * sentence naming the variable in err (a bad range, port or resolver line, an unreadable
 * resolver file): the service should print it and refuse to start.
 */
int url_policy_create(struct url_policy **pp, const struct url_policy_config *c, char *err,
                      size_t errlen);
/* Free a policy (NULL is fine). No check that uses it may still be running. */
void url_policy_free(struct url_policy *p);
/*
 * Log what the policy allows beyond the defaults; warns loudly when private targets are
 * allowed or the test resolver is on. Call after logging is set up (service_start).
 */
void url_policy_log(const struct url_policy *p);
/* Whether a port is allowed: 80, 443 and the operator's list. */
bool url_policy_port_allowed(const struct url_policy *p, int port);
/*
 * Judge one address: 0 when the allow-list contains it or its class is allowed, else
 * VP_E_FORBIDDEN. *cls (when not NULL) receives its class either way.
 */
int url_policy_judge(const struct url_policy *p, const struct sockaddr *sa,
                     enum url_addr_class *cls);
/*
 * Add fake DNS answers, one line of the VOEPY_URL_TEST_RESOLVER format:
 *   <name> <answer> [<answer> ...]   each answer a comma-separated address list
 * The n-th lookup of the name gets the n-th answer, the last one repeats. Once a policy
 * has any answers (from the file or from here) names are looked up only there: a name
 * not listed does not resolve, no DNS query is ever sent. For tests; 0 or VP_E_CONFIG
 * with a reason in err.
 */
int url_policy_add_answers(struct url_policy *p, const char *line, char *err, size_t errlen);

/* ---- URLs ---------------------------------------------------------------------------- */

struct url_guard_opts {
    struct url_policy *policy; /* NULL: no private targets, ports 80/443, system resolver */
    bool allow_ws;             /* also accept ws:// and wss:// (stream URLs) */
};

/* The parts of a URL the guard looks at. */
struct url_target {
    char scheme[8]; /* lower case: "http", "https", "ws", "wss" */
    char host[256]; /* normalised (see above), without IPv6 brackets */
    int port;       /* explicit or the scheme's default */
    bool literal;   /* host is a numeric address (IPv4 dotted quad or canonical IPv6) */
};

/*
 * Parse url, check its scheme (http/https, plus ws/wss with allow_ws) and normalise its
 * host. Returns 0, VP_E_INVALID_PARAMETER for a URL that does not parse, has no host or a
 * bad one, carries an IPv6 zone id or is longer than 2048 bytes, or VP_E_FORBIDDEN for
 * another scheme. Neither the port nor the address is judged here.
 */
int url_guard_parse(const char *url, const struct url_guard_opts *opts, struct url_target *t);

/*
 * Everything that can be decided without a resolver: url_guard_parse(), then the port,
 * then a literal address (or a localhost name). Returns 0 (a name still to be resolved,
 * or an allowed literal), VP_E_INVALID_PARAMETER or VP_E_FORBIDDEN; on failure reason
 * (when not NULL) receives a sentence such as "port 22 is not allowed" or "127.0.0.1 is a
 * loopback address". The API uses this to refuse URLs at creation time.
 */
int url_guard_vet(const char *url, const struct url_guard_opts *opts, struct url_target *t,
                  char *reason, size_t reason_len);

struct url_check_result {
    /*
     * 0 (allowed), VP_E_INVALID_PARAMETER (the URL is malformed), VP_E_FORBIDDEN (the
     * scheme, port or an address is refused), VP_E_IO (the name does not resolve) or
     * VP_E_CANCELED (url_guard_cancel).
     */
    int status;
    const struct url_target *target;
    const char *ip;          /* allowed: the address to connect to; else NULL */
    enum url_addr_class cls; /* of ip, or of the refused address */
    const char *reason;      /* a sentence for logs and attempt records when status != 0 */
};

typedef void(url_guard_cb)(const struct url_check_result *res, void *arg);

struct url_check;

/*
 * Check url asynchronously. Returns 0 and cb runs exactly once, on the loop thread and
 * never inside this call, with every outcome (a malformed or refused URL included); or
 * returns VP_E_IO when the lookup cannot be started (cb will not run then). The name is
 * resolved once per check. opts->policy must outlive the check.
 * *checkp (when checkp is not NULL) may be passed to url_guard_cancel() until cb runs;
 * the check frees itself after cb returns.
 */
int url_guard_check(uv_loop_t *loop, const char *url, const struct url_guard_opts *opts,
                    url_guard_cb *cb, void *arg, struct url_check **checkp);
/*
 * Make cb run with VP_E_CANCELED: soon (from the loop) when the lookup has not started,
 * else when the running lookup returns (getaddrinfo cannot be interrupted).
 */
void url_guard_cancel(struct url_check *c);

#endif
