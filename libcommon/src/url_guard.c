/*
 * url_guard.c - classify addresses, parse and normalise customer URLs, and judge what
 * can be judged without a resolver (url_guard_vet). The asynchronous check is in
 * url_check.c, the operator's policy in url_policy.c.
 */
#include "url_internal.h"

#include "voepy/err.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdarg.h>
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

/* IPv6 ranges checked in order (the first match wins) after :: and ::1. */
static const struct net_range v6_ranges[] = {
    {"::ffff:0:0", 96, URL_ADDR_EMBEDDED},  /* IPv4-mapped */
    {"::", 96, URL_ADDR_EMBEDDED},          /* deprecated IPv4-compatible */
    {"64:ff9b::", 96, URL_ADDR_EMBEDDED},   /* NAT64 well-known prefix */
    {"64:ff9b:1::", 48, URL_ADDR_EMBEDDED}, /* local-use NAT64 */
    {"100::", 64, URL_ADDR_RESERVED},       /* discard-only */
    {"2001::", 32, URL_ADDR_EMBEDDED},      /* Teredo */
    {"2001:db8::", 32, URL_ADDR_RESERVED},  /* documentation */
    {"2001::", 23, URL_ADDR_RESERVED},      /* IETF protocol assignments, benchmarking */
    {"2002::", 16, URL_ADDR_EMBEDDED},      /* 6to4 */
    {"3fff::", 20, URL_ADDR_RESERVED},      /* documentation (RFC 9637) */
    {"fc00::", 7, URL_ADDR_PRIVATE},        /* unique local */
    {"fe80::", 10, URL_ADDR_LINK_LOCAL},    /* */
    {"fec0::", 10, URL_ADDR_PRIVATE},       /* deprecated site-local */
    {"ff00::", 8, URL_ADDR_MULTICAST},      /* */
};

bool url__prefix_match(const uint8_t *a, const uint8_t *net, int bits)
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
    return url__prefix_match(a, net, r->bits);
}

static enum url_addr_class classify_v4(const uint8_t a[4])
{
    for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++)
        if (in_range(AF_INET, a, &v4_ranges[i]))
            return v4_ranges[i].cls;
    return URL_ADDR_PUBLIC;
}

/*
 * An IPv6 address that carries an IPv4 one is refused as such (URL_ADDR_EMBEDDED), not
 * judged by the IPv4 part: what a NAT64 or 6to4 gateway near us would make of it is not
 * ours to guess. A mapped literal in a URL was already turned into IPv4 (url_guard_parse).
 */
static enum url_addr_class classify_v6(const uint8_t a[16])
{
    static const uint8_t zero[16];
    if (memcmp(a, zero, 15) == 0 && a[15] <= 1)
        return a[15] ? URL_ADDR_LOOPBACK : URL_ADDR_UNSPECIFIED;
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
    case URL_ADDR_EMBEDDED:
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
    case URL_ADDR_EMBEDDED:
        return "ipv4-embedded";
    case URL_ADDR_RESERVED:
        break;
    }
    return "reserved";
}

/* ---- host normalisation ------------------------------------------------------------- */

/*
 * One part of a numeric IPv4 host as inet_aton reads it: decimal, octal with a leading
 * 0, hexadecimal with 0x. False when the part is not a number of that form.
 */
static bool v4_part(const char *s, size_t n, uint64_t *v)
{
    int base = 10;
    if (n >= 2 && s[0] == '0' && s[1] == 'x') {
        base = 16;
        s += 2;
        n -= 2;
    } else if (n >= 2 && s[0] == '0') {
        base = 8;
    }
    if (n == 0 || n > 12)
        return false; /* "0x" alone, or more digits than any valid address has */
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : 99;
        if (d >= base)
            return false;
        *v = *v * (uint64_t)base + (uint64_t)d;
    }
    return true;
}

/* "2130706433", "0177.0.0.1", "0x7f.1", "127.1" -> the address; false when not numeric. */
static bool v4_parse(const char *host, uint8_t out[4])
{
    uint64_t part[4], last;
    size_t k = 0;
    for (const char *s = host;; k++) {
        size_t n = strcspn(s, ".");
        if (k == 4 || !v4_part(s, n, &part[k]))
            return false;
        if (!s[n])
            break;
        s += n + 1;
    }
    for (size_t i = 0; i < k; i++)
        if (part[i] > 255)
            return false;
    last = part[k];
    if (last >> (8 * (4 - k)))
        return false; /* the last part fills the bytes that are left, no more */
    uint32_t v = (uint32_t)last;
    for (size_t i = 0; i < k; i++)
        v |= (uint32_t)part[i] << (8 * (3 - i));
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(v >> (8 * (3 - i)));
    return true;
}

/* WHATWG's "ends in a number": a name like that is an address or nothing. */
static bool ends_in_number(const char *host)
{
    const char *last = strrchr(host, '.');
    last = last ? last + 1 : host;
    if (last[0] == '0' && last[1] == 'x')
        return strspn(last + 2, "0123456789abcdef") == strlen(last + 2);
    return *last && strspn(last, "0123456789") == strlen(last);
}

static bool name_chars_ok(const char *h)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
    size_t len = strlen(h);
    if (strspn(h, ok) != len || h[0] == '.' || h[len - 1] == '.' || strstr(h, ".."))
        return false; /* one trailing dot was dropped before: a second is an empty label */
    for (const char *s = h; *s; s += *s == '.') {
        size_t n = strcspn(s, ".");
        if (n > 63)
            return false;
        s += n;
    }
    return len <= 253;
}

static int set_host(struct url_target *t, const char *host, bool literal)
{
    if (snprintf(t->host, sizeof(t->host), "%s", host) >= (int)sizeof(t->host))
        return VP_E_INVALID_PARAMETER;
    t->literal = literal;
    return 0;
}

/* [v6] -> canonical text, or the IPv4 address of a mapped one (::ffff:a.b.c.d). */
static int normal_v6(const char *in, size_t n, struct url_target *t)
{
    char buf[64], out[INET6_ADDRSTRLEN];
    uint8_t a[16];
    if (n >= sizeof(buf))
        return VP_E_INVALID_PARAMETER;
    snprintf(buf, sizeof(buf), "%.*s", (int)n, in);
    if (inet_pton(AF_INET6, buf, a) != 1)
        return VP_E_INVALID_PARAMETER;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool v4 = memcmp(a, mapped, 12) == 0;
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a + 12 : a, out, sizeof(out)))
        return VP_E_INVALID_PARAMETER;
    return set_host(t, out, true);
}

/* Normalise the host libcurl gave us (see url_guard.h) into t->host. */
static int normal_host(const char *host, struct url_target *t)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        return normal_v6(host + 1, n - 2, t);
    char name[256];
    if (n == 0 || n >= sizeof(name))
        return VP_E_INVALID_PARAMETER;
    for (size_t i = 0; i <= n; i++)
        name[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    if (name[n - 1] == '.')
        name[--n] = '\0';
    uint8_t a[4];
    char ip[INET_ADDRSTRLEN];
    if (v4_parse(name, a) && inet_ntop(AF_INET, a, ip, sizeof(ip)))
        return set_host(t, ip, true);
    if (n == 0 || !name_chars_ok(name) || ends_in_number(name))
        return VP_E_INVALID_PARAMETER;
    return set_host(t, name, false);
}

/* "localhost" and "*.localhost" are the loopback (RFC 6761), whatever a resolver says. */
static bool localhost_name(const struct url_target *t)
{
    size_t n = strlen(t->host);
    return !t->literal && (strcmp(t->host, "localhost") == 0 ||
                           (n > 10 && strcmp(t->host + n - 10, ".localhost") == 0));
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

static int say(char *reason, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *reason, size_t len, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (reason && len)
        vsnprintf(reason, len, fmt, ap);
    va_end(ap);
    return err;
}

static int fill_target(CURLU *u, const struct url_guard_opts *opts, struct url_target *t,
                       char *reason, size_t len)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *zone = NULL;
    int err = say(reason, len, VP_E_INVALID_PARAMETER, "the URL has no host");
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0))
        goto out;
    snprintf(t->scheme, sizeof(t->scheme), "%s", scheme);
    t->port = scheme_port(t->scheme, opts);
    if (strlen(scheme) >= sizeof(t->scheme) || t->port == 0) {
        /* named before the host: "file:///x" is refused as file */
        err = say(reason, len, VP_E_FORBIDDEN, "the scheme %.16s is not allowed", scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0))
        goto out;
    if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
        err = say(reason, len, err, "an IPv6 zone id is not allowed");
        goto out; /* fe80::1%eth0: which interface is not the customer's choice */
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
        t->port = atoi(port);
    if (t->port <= 0 || t->port > 65535) {
        err = say(reason, len, err, "the port is not a number from 1 to 65535");
        goto out;
    }
    err = normal_host(host, t);
    if (err)
        say(reason, len, err, "the host \"%.200s\" is not a valid name or address", host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(zone);
    return err;
}

static int parse(const char *url, const struct url_guard_opts *opts, struct url_target *t,
                 char *reason, size_t len)
{
    memset(t, 0, sizeof(*t));
    if (!url || strlen(url) > URL_MAX_LEN)
        return say(reason, len, VP_E_INVALID_PARAMETER, "the URL is longer than %d bytes",
                   URL_MAX_LEN);
    CURLU *u = curl_url();
    if (!u)
        abort(); /* out of memory, as in vp_malloc */
    int err = say(reason, len, VP_E_INVALID_PARAMETER, "the URL does not parse");
    /* lower-cases the scheme; unknown schemes parse so that we can name the refusal */
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK)
        err = fill_target(u, opts, t, reason, len);
    curl_url_cleanup(u);
    return err;
}

int url_guard_parse(const char *url, const struct url_guard_opts *opts, struct url_target *t)
{
    return parse(url, opts, t, NULL, 0);
}

bool url__target_addr(const struct url_target *t, struct sockaddr_storage *ss)
{
    if (localhost_name(t))
        return url__sockaddr("127.0.0.1", ss);
    return t->literal && url__sockaddr(t->host, ss);
}

/* Judge a literal (or localhost) target: 0 or VP_E_FORBIDDEN with a reason. */
static int judge_literal(const struct url_guard_opts *opts, const struct url_target *t,
                         const struct sockaddr_storage *ss, enum url_addr_class *cls, char *reason,
                         size_t len)
{
    if (url_policy_judge(opts ? opts->policy : NULL, (const struct sockaddr *)ss, cls) == 0)
        return 0;
    if (!t->literal)
        return say(reason, len, VP_E_FORBIDDEN, "%s is a loopback name", t->host);
    return say(reason, len, VP_E_FORBIDDEN, "%s is %s %s address", t->host,
               *cls == URL_ADDR_UNSPECIFIED || *cls == URL_ADDR_EMBEDDED ? "an" : "a",
               url_addr_class_name(*cls));
}

int url__vet(const char *url, const struct url_guard_opts *opts, struct url_target *t,
             enum url_addr_class *cls, char *reason, size_t len)
{
    int err = parse(url, opts, t, reason, len);
    if (err)
        return err;
    if (!url_policy_port_allowed(opts ? opts->policy : NULL, t->port))
        return say(reason, len, VP_E_FORBIDDEN,
                   "port %d is not allowed (only 80, 443 and VOEPY_URL_ALLOW_PORTS)", t->port);
    struct sockaddr_storage ss;
    if (url__target_addr(t, &ss))
        return judge_literal(opts, t, &ss, cls, reason, len);
    return 0;
}

int url_guard_vet(const char *url, const struct url_guard_opts *opts, struct url_target *t,
                  char *reason, size_t reason_len)
{
    enum url_addr_class cls = URL_ADDR_PUBLIC;
    return url__vet(url, opts, t, &cls, reason, reason_len);
}
