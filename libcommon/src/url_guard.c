#include "voepy/url_guard.h"
#include "voepy/alloc.h"
#include "voepy/err.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX_LEN 2048

/* ---- address classification ------------------------------------------------------- */

struct net_range {
    const char *net; /* numeric network address */
    int bits;        /* prefix length */
    enum url_addr_class cls;
};

/* IPv4 ranges that are not public (RFC 6890 and friends); they do not overlap. */
static const struct net_range v4_ranges[] = {
    {"0.0.0.0", 8, URL_ADDR_UNSPECIFIED},     /* "this network"; 0.0.0.0 reaches the host */
    {"10.0.0.0", 8, URL_ADDR_PRIVATE},        /* RFC 1918 */
    {"100.64.0.0", 10, URL_ADDR_CGNAT},       /* RFC 6598 shared address space */
    {"127.0.0.0", 8, URL_ADDR_LOOPBACK},      /* */
    {"169.254.0.0", 16, URL_ADDR_LINK_LOCAL}, /* includes cloud metadata 169.254.169.254 */
    {"172.16.0.0", 12, URL_ADDR_PRIVATE},     /* RFC 1918 */
    {"192.0.0.0", 24, URL_ADDR_RESERVED},     /* IETF protocol assignments */
    {"192.0.2.0", 24, URL_ADDR_RESERVED},     /* TEST-NET-1 */
    {"192.88.99.0", 24, URL_ADDR_RESERVED},   /* deprecated 6to4 relay anycast */
    {"192.168.0.0", 16, URL_ADDR_PRIVATE},    /* RFC 1918 */
    {"198.18.0.0", 15, URL_ADDR_RESERVED},    /* benchmarking */
    {"198.51.100.0", 24, URL_ADDR_RESERVED},  /* TEST-NET-2 */
    {"203.0.113.0", 24, URL_ADDR_RESERVED},   /* TEST-NET-3 */
    {"224.0.0.0", 4, URL_ADDR_MULTICAST},     /* */
    {"240.0.0.0", 4, URL_ADDR_RESERVED},      /* future use and 255.255.255.255 */
};

/* IPv6 ranges checked in order after the special cases in classify_v6(). */
static const struct net_range v6_ranges[] = {
    {"::", 96, URL_ADDR_RESERVED},         /* deprecated IPv4-compatible addresses */
    {"64:ff9b:1::", 48, URL_ADDR_PRIVATE}, /* local-use NAT64 */
    {"100::", 64, URL_ADDR_RESERVED},      /* discard-only */
    {"2001:db8::", 32, URL_ADDR_RESERVED}, /* documentation */
    {"2001::", 23, URL_ADDR_RESERVED},     /* IETF protocol assignments, Teredo */
    {"3fff::", 20, URL_ADDR_RESERVED},     /* documentation (RFC 9637) */
    {"fc00::", 7, URL_ADDR_PRIVATE},       /* unique local */
    {"fe80::", 10, URL_ADDR_LINK_LOCAL},   /* */
    {"fec0::", 10, URL_ADDR_PRIVATE},      /* deprecated site-local */
    {"ff00::", 8, URL_ADDR_MULTICAST},     /* */
};

static bool prefix_match(const uint8_t *a, const uint8_t *net, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (net[whole] & mask);
}

static bool in_range(int af, const uint8_t *a, const struct net_range *r)
{
    uint8_t net[16];
    if (inet_pton(af, r->net, net) != 1)
        abort(); /* the tables above are constant: a typo there is a programming error */
    return prefix_match(a, net, r->bits);
}

static enum url_addr_class classify_v4(const uint8_t a[4])
{
    for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++)
        if (in_range(AF_INET, a, &v4_ranges[i]))
            return v4_ranges[i].cls;
    return URL_ADDR_PUBLIC;
}

/* IPv6 forms that carry an IPv4 address are as safe as that address. */
static const uint8_t *embedded_v4(const uint8_t a[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return a + 12; /* ::ffff:0:0/96, 64:ff9b::/96 */
    if (a[0] == 0x20 && a[1] == 0x02)
        return a + 2; /* 6to4 2002:V4ADDR::/48 */
    return NULL;
}

static enum url_addr_class classify_v6(const uint8_t a[16])
{
    static const uint8_t zero[16];
    if (memcmp(a, zero, 15) == 0 && a[15] <= 1)
        return a[15] ? URL_ADDR_LOOPBACK : URL_ADDR_UNSPECIFIED;
    const uint8_t *v4 = embedded_v4(a);
    if (v4)
        return classify_v4(v4);
    for (size_t i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++)
        if (in_range(AF_INET6, a, &v6_ranges[i]))
            return v6_ranges[i].cls;
    if ((a[0] & 0xe0) != 0x20)
        return URL_ADDR_RESERVED; /* outside 2000::/3, the global unicast space */
    return URL_ADDR_PUBLIC;
}

enum url_addr_class url_guard_classify(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        return classify_v4((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa && sa->sa_family == AF_INET6)
        return classify_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return URL_ADDR_RESERVED;
}

int url_guard_classify_ip(const char *ip, enum url_addr_class *cls)
{
    uint8_t a[16];
    if (ip && inet_pton(AF_INET, ip, a) == 1)
        *cls = classify_v4(a);
    else if (ip && inet_pton(AF_INET6, ip, a) == 1)
        *cls = classify_v6(a);
    else
        return VP_E_PARSE;
    return 0;
}

int url_guard_decide(enum url_addr_class cls, bool allow_private)
{
    switch (cls) {
    case URL_ADDR_PUBLIC:
        return 0;
    case URL_ADDR_LOOPBACK:
    case URL_ADDR_PRIVATE:
    case URL_ADDR_LINK_LOCAL:
    case URL_ADDR_CGNAT:
        return allow_private ? 0 : VP_E_FORBIDDEN;
    case URL_ADDR_MULTICAST:
    case URL_ADDR_UNSPECIFIED:
    case URL_ADDR_RESERVED:
        break;
    }
    return VP_E_FORBIDDEN;
}

const char *url_addr_class_name(enum url_addr_class cls)
{
    switch (cls) {
    case URL_ADDR_PUBLIC:
        return "public";
    case URL_ADDR_LOOPBACK:
        return "loopback";
    case URL_ADDR_PRIVATE:
        return "private";
    case URL_ADDR_LINK_LOCAL:
        return "link-local";
    case URL_ADDR_CGNAT:
        return "cgnat";
    case URL_ADDR_MULTICAST:
        return "multicast";
    case URL_ADDR_UNSPECIFIED:
        return "unspecified";
    case URL_ADDR_RESERVED:
        break;
    }
    return "reserved";
}

/* ---- URL parsing -------------------------------------------------------------------- */

static int scheme_port(const char *scheme, const struct url_guard_opts *o)
{
    bool ws = o && o->allow_ws;
    if (strcmp(scheme, "http") == 0 || (ws && strcmp(scheme, "ws") == 0))
        return 80;
    if (strcmp(scheme, "https") == 0 || (ws && strcmp(scheme, "wss") == 0))
        return 443;
    return 0;
}

static int copy_host(const char *host, struct url_target *t)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(t->host))
        return VP_E_INVALID_PARAMETER;
    memcpy(t->host, host, n);
    t->host[n] = '\0';
    return 0;
}

static int fill_target(CURLU *u, const struct url_guard_opts *opts, struct url_target *t)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *zone = NULL;
    int err = VP_E_INVALID_PARAMETER;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0))
        goto out;
    snprintf(t->scheme, sizeof(t->scheme), "%s", scheme);
    t->port = scheme_port(t->scheme, opts);
    if (strlen(scheme) >= sizeof(t->scheme) || t->port == 0) {
        err = VP_E_FORBIDDEN; /* named before the host: "file:///x" is refused as file */
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0))
        goto out;
    if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK)
        goto out; /* fe80::1%eth0: which interface is not the customer's choice */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
        t->port = atoi(port);
    if (t->port <= 0 || t->port > 65535)
        goto out;
    err = copy_host(host, t);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(zone);
    return err;
}

int url_guard_parse(const char *url, const struct url_guard_opts *opts, struct url_target *t)
{
    memset(t, 0, sizeof(*t));
    if (!url || strlen(url) > URL_MAX_LEN)
        return VP_E_INVALID_PARAMETER;
    CURLU *u = curl_url();
    if (!u)
        abort(); /* out of memory, as in vp_malloc */
    int err = VP_E_INVALID_PARAMETER;
    /* lower-cases the scheme; unknown schemes parse so that we can name the refusal */
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK)
        err = fill_target(u, opts, t);
    curl_url_cleanup(u);
    return err;
}

/* ---- the asynchronous check ------------------------------------------------------- */

struct url_check {
    uv_getaddrinfo_t req;
    struct url_target target;
    bool allow_private;
    bool canceled;
    url_guard_cb *cb;
    void *arg;
};

static void report(struct url_check *c, struct url_check_result *r)
{
    r->target = &c->target;
    c->cb(r, c->arg);
    free(c);
}

static void sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)len))
        snprintf(out, len, "?");
}

/* Every address must pass; the first one is where we will connect. */
static void judge(struct url_check *c, const struct addrinfo *ai)
{
    char ip[INET6_ADDRSTRLEN] = "", bad[INET6_ADDRSTRLEN], reason[384];
    struct url_check_result r = {.status = VP_E_IO, .reason = "the host has no address"};
    for (; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        enum url_addr_class cls = url_guard_classify(ai->ai_addr);
        if (url_guard_decide(cls, c->allow_private)) {
            sockaddr_text(ai->ai_addr, bad, sizeof(bad));
            snprintf(reason, sizeof(reason), "%s resolves to %s, a %s address", c->target.host, bad,
                     url_addr_class_name(cls));
            r = (struct url_check_result){.status = VP_E_FORBIDDEN, .cls = cls, .reason = reason};
            break;
        }
        if (!*ip) {
            sockaddr_text(ai->ai_addr, ip, sizeof(ip));
            r = (struct url_check_result){.status = 0, .ip = ip, .cls = cls};
        }
    }
    report(c, &r);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct url_check *c = req->data;
    char reason[384];
    if (c->canceled || status == UV_ECANCELED) {
        report(c, &(struct url_check_result){.status = VP_E_CANCELED, .reason = "canceled"});
    } else if (status < 0) {
        snprintf(reason, sizeof(reason), "cannot resolve %s: %s", c->target.host,
                 uv_strerror(status));
        report(c, &(struct url_check_result){.status = VP_E_IO, .reason = reason});
    } else {
        judge(c, res);
    }
    uv_freeaddrinfo(res);
}

int url_guard_check(uv_loop_t *loop, const char *url, const struct url_guard_opts *opts,
                    url_guard_cb *cb, void *arg, struct url_check **checkp)
{
    struct url_target t;
    int err = url_guard_parse(url, opts, &t);
    if (err)
        return err;
    struct url_check *c = VP_NEW(c);
    c->target = t;
    c->allow_private = opts && opts->allow_private;
    c->cb = cb;
    c->arg = arg;
    c->req.data = c;
    uint8_t lit[16];
    bool numeric = inet_pton(AF_INET, t.host, lit) == 1 || inet_pton(AF_INET6, t.host, lit) == 1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = numeric ? AI_NUMERICHOST : 0};
    /* Always through the thread pool, also for literals: cb never runs inside this call. */
    err = uv_getaddrinfo(loop, &c->req, resolved_cb, c->target.host, NULL, &hints);
    if (err) {
        free(c);
        return VP_E_IO;
    }
    if (checkp)
        *checkp = c;
    return 0;
}

void url_guard_cancel(struct url_check *c)
{
    c->canceled = true;
    uv_cancel((uv_req_t *)&c->req); /* fails harmlessly when the lookup already runs */
}
