/*
 * url_policy.c - the operator's URL policy: private targets, the allow-listed ranges and
 * ports, and the fake resolver of the tests. Built once at start, read by every check;
 * only the fake resolver's per-name lookup counters change afterwards (on the loop
 * thread, inside url_guard_check).
 */
#include "url_internal.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX_ITEMS 256 /* ranges or ports in one variable */

struct cidr {
    int af;
    uint8_t net[16];
    int bits;
};

struct port_range {
    int lo, hi;
};

struct fake_answer {
    struct sockaddr_storage addrs[URL_FAKE_MAX_ADDRS];
    size_t n;
};

struct fake_name {
    char *name;
    struct fake_answer *answers;
    size_t n;
    size_t asked; /* lookups so far */
};

struct url_policy {
    bool allow_private;
    bool any_port;
    bool fake; /* names resolve from `names` only */
    struct cidr *cidrs;
    size_t ncidrs;
    struct port_range *ports;
    size_t nports;
    struct fake_name *names;
    size_t nnames;
    char *resolver_path;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return VP_E_CONFIG;
}

/* The next comma-separated item of *s, trimmed, into buf; false at the end. */
static bool next_item(const char **s, char *buf, size_t len, bool *too_long)
{
    while (**s == ',' || isspace((unsigned char)**s))
        (*s)++;
    if (!**s)
        return false;
    const char *end = strchr(*s, ',');
    size_t n = end ? (size_t)(end - *s) : strlen(*s);
    *too_long = n >= len;
    snprintf(buf, len, "%.*s", (int)n, *s);
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    *s += end ? (size_t)(end - *s) : strlen(*s);
    return true;
}

/* ---- ranges ------------------------------------------------------------------------- */

static bool host_bits_clear(const struct cidr *c)
{
    int len = c->af == AF_INET ? 4 : 16;
    for (int i = 0; i < len; i++) {
        int keep = c->bits - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        if (c->net[i] & (uint8_t)~mask)
            return false;
    }
    return true;
}

static int parse_cidr(const char *item, struct cidr *c, char *err, size_t errlen)
{
    char addr[64];
    const char *slash = strchr(item, '/');
    size_t n = slash ? (size_t)(slash - item) : strlen(item);
    if (n >= sizeof(addr))
        return fail(err, errlen, "VOEPY_URL_ALLOW_CIDRS: \"%s\" is not an address range", item);
    snprintf(addr, sizeof(addr), "%.*s", (int)n, item);
    c->af = strchr(addr, ':') ? AF_INET6 : AF_INET;
    int max = c->af == AF_INET ? 32 : 128;
    char *end = NULL;
    errno = 0;
    long bits = slash ? strtol(slash + 1, &end, 10) : max;
    if (inet_pton(c->af, addr, c->net) != 1 ||
        (slash && (!isdigit((unsigned char)slash[1]) || *end || errno || bits > max)))
        return fail(err, errlen,
                    "VOEPY_URL_ALLOW_CIDRS: \"%s\" is not an address range (like 10.1.0.0/16 "
                    "or ::1/128)",
                    item);
    c->bits = (int)bits;
    if (!host_bits_clear(c))
        return fail(err, errlen, "VOEPY_URL_ALLOW_CIDRS: \"%s\" has bits set after the /%d prefix",
                    item, c->bits);
    return 0;
}

static int parse_cidrs(struct url_policy *p, const char *s, char *err, size_t errlen)
{
    char item[80];
    bool too_long;
    while (s && next_item(&s, item, sizeof(item), &too_long)) {
        if (p->ncidrs == POLICY_MAX_ITEMS)
            return fail(err, errlen, "VOEPY_URL_ALLOW_CIDRS: more than %d ranges",
                        POLICY_MAX_ITEMS);
        p->cidrs = vp_realloc(p->cidrs, (p->ncidrs + 1) * sizeof(*p->cidrs));
        int e = too_long ? fail(err, errlen, "VOEPY_URL_ALLOW_CIDRS: \"%s...\" is too long", item)
                         : parse_cidr(item, &p->cidrs[p->ncidrs], err, errlen);
        if (e)
            return e;
        p->ncidrs++;
    }
    return 0;
}

/* ---- ports -------------------------------------------------------------------------- */

static bool parse_port(const char *s, char **end, int *port)
{
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    long v = strtol(s, end, 10);
    *port = (int)v;
    return !errno && v >= 1 && v <= 65535;
}

static int parse_port_item(const char *item, struct port_range *r, char *err, size_t errlen)
{
    char *end;
    bool ok = parse_port(item, &end, &r->lo);
    r->hi = r->lo;
    if (ok && *end == '-')
        ok = parse_port(end + 1, &end, &r->hi) && r->hi >= r->lo;
    if (!ok || *end)
        return fail(err, errlen,
                    "VOEPY_URL_ALLOW_PORTS: \"%s\" is not a port (1-65535) or a range "
                    "(9000-9100), nor *",
                    item);
    return 0;
}

static int parse_ports(struct url_policy *p, const char *s, char *err, size_t errlen)
{
    char item[32];
    bool too_long;
    while (s && next_item(&s, item, sizeof(item), &too_long)) {
        if (strcmp(item, "*") == 0) {
            p->any_port = true;
            continue;
        }
        if (p->nports == POLICY_MAX_ITEMS)
            return fail(err, errlen, "VOEPY_URL_ALLOW_PORTS: more than %d items", POLICY_MAX_ITEMS);
        p->ports = vp_realloc(p->ports, (p->nports + 1) * sizeof(*p->ports));
        int e = too_long ? fail(err, errlen, "VOEPY_URL_ALLOW_PORTS: \"%s...\" is too long", item)
                         : parse_port_item(item, &p->ports[p->nports], err, errlen);
        if (e)
            return e;
        p->nports++;
    }
    return 0;
}

/* ---- the fake resolver -------------------------------------------------------------- */

bool url__sockaddr(const char *ip, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

static int parse_answer(const char *list, struct fake_answer *a, char *err, size_t errlen)
{
    char item[64];
    bool too_long;
    a->n = 0;
    while (next_item(&list, item, sizeof(item), &too_long)) {
        if (a->n == URL_FAKE_MAX_ADDRS)
            return fail(err, errlen,
                        "VOEPY_URL_TEST_RESOLVER: more than %d addresses in one "
                        "answer",
                        URL_FAKE_MAX_ADDRS);
        if (too_long || !url__sockaddr(item, &a->addrs[a->n]))
            return fail(err, errlen, "VOEPY_URL_TEST_RESOLVER: \"%s\" is not an address", item);
        a->n++;
    }
    return a->n ? 0 : fail(err, errlen, "VOEPY_URL_TEST_RESOLVER: an empty answer");
}

static void name_free(struct fake_name *f)
{
    free(f->name);
    free(f->answers);
}

/* "Example.COM." -> "example.com", the form url_guard_parse gives hosts. */
static char *name_normal(const char *s, size_t n)
{
    if (n && s[n - 1] == '.')
        n--;
    char *name = vp_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)s[i]);
    name[n] = '\0';
    return name;
}

static struct fake_name *find_name(const struct url_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nnames; i++)
        if (strcmp(p->names[i].name, name) == 0)
            return &p->names[i];
    return NULL;
}

/* Parse "<name> <answer> [<answer> ...]" into f. */
static int parse_line(const char *line, struct fake_name *f, char *err, size_t errlen)
{
    const char *s = line + strspn(line, " \t");
    size_t n = strcspn(s, " \t\r\n");
    f->name = name_normal(s, n);
    for (s += n;; s += n) {
        s += strspn(s, " \t\r\n");
        n = strcspn(s, " \t\r\n");
        if (!n)
            break;
        char *ans = vp_malloc(n + 1);
        snprintf(ans, n + 1, "%.*s", (int)n, s);
        f->answers = vp_realloc(f->answers, (f->n + 1) * sizeof(*f->answers));
        int e = parse_answer(ans, &f->answers[f->n], err, errlen);
        free(ans);
        if (e)
            return e;
        f->n++;
    }
    if (!*f->name || !f->n)
        return fail(err, errlen, "VOEPY_URL_TEST_RESOLVER: \"%s\" needs a name and an answer",
                    line);
    return 0;
}

int url_policy_add_answers(struct url_policy *p, const char *line, char *err, size_t errlen)
{
    struct fake_name f = {0};
    int e = parse_line(line, &f, err, errlen);
    if (!e && find_name(p, f.name))
        e = fail(err, errlen, "VOEPY_URL_TEST_RESOLVER: %s is listed twice", f.name);
    if (e) {
        name_free(&f);
        return e;
    }
    p->names = vp_realloc(p->names, (p->nnames + 1) * sizeof(*p->names));
    p->names[p->nnames++] = f;
    p->fake = true;
    return 0;
}

static bool blank_or_comment(const char *line)
{
    line += strspn(line, " \t\r\n");
    return !*line || *line == '#';
}

static int load_resolver(struct url_policy *p, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "VOEPY_URL_TEST_RESOLVER: cannot open %s: %s", path,
                    strerror(errno));
    char line[4096];
    int e = 0;
    while (!e && fgets(line, sizeof(line), f))
        if (!blank_or_comment(line))
            e = url_policy_add_answers(p, line, err, errlen);
    fclose(f);
    p->fake = true; /* even an empty file: no name resolves, no DNS query is sent */
    p->resolver_path = vp_strdup(path);
    return e;
}

int url_policy__lookup(struct url_policy *p, const char *name, struct sockaddr_storage *out,
                       size_t max)
{
    struct fake_name *f = find_name(p, name);
    if (!f)
        return VP_E_NOT_FOUND;
    const struct fake_answer *a = &f->answers[f->asked < f->n ? f->asked : f->n - 1];
    f->asked++;
    size_t n = a->n < max ? a->n : max;
    memcpy(out, a->addrs, n * sizeof(*out));
    return (int)n;
}

bool url_policy__fake(const struct url_policy *p)
{
    return p && p->fake;
}

/* ---- the policy --------------------------------------------------------------------- */

int url_policy_create(struct url_policy **pp, const struct url_policy_config *c, char *err,
                      size_t errlen)
{
    struct url_policy *p = VP_NEW(p);
    p->allow_private = c->allow_private;
    int e = parse_cidrs(p, c->allow_cidrs, err, errlen);
    if (!e)
        e = parse_ports(p, c->allow_ports, err, errlen);
    if (!e && c->test_resolver && *c->test_resolver)
        e = load_resolver(p, c->test_resolver, err, errlen);
    if (e) {
        url_policy_free(p);
        return e;
    }
    *pp = p;
    return 0;
}

void url_policy_free(struct url_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nnames; i++)
        name_free(&p->names[i]);
    free(p->names);
    free(p->cidrs);
    free(p->ports);
    free(p->resolver_path);
    free(p);
}

bool url_policy_port_allowed(const struct url_policy *p, int port)
{
    if (port == 80 || port == 443 || (p && p->any_port))
        return true;
    for (size_t i = 0; p && i < p->nports; i++)
        if (port >= p->ports[i].lo && port <= p->ports[i].hi)
            return true;
    return false;
}

static bool allow_listed(const struct url_policy *p, const struct sockaddr *sa)
{
    const uint8_t *a = sa->sa_family == AF_INET
                           ? (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr
                           : ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    for (size_t i = 0; p && i < p->ncidrs; i++)
        if (p->cidrs[i].af == sa->sa_family &&
            url__prefix_match(a, p->cidrs[i].net, p->cidrs[i].bits))
            return true;
    return false;
}

int url_policy_judge(const struct url_policy *p, const struct sockaddr *sa,
                     enum url_addr_class *cls)
{
    enum url_addr_class c = url_guard_classify(sa);
    if (cls)
        *cls = c;
    if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) && allow_listed(p, sa))
        return 0;
    return url_guard_decide(c, p && p->allow_private);
}

void url_policy_log(const struct url_policy *p)
{
    if (p->allow_private)
        log_warn("url.allow_private", "VOEPY_URL_ALLOW_PRIVATE is on: customer URLs may reach "
                                      "loopback, private, link-local and CGNAT addresses");
    if (p->ncidrs)
        log_info("url.allow_cidrs", "customer URLs may reach %zu allow-listed range(s)", p->ncidrs);
    if (p->any_port || p->nports)
        log_info("url.allow_ports", "customer URLs may use %s besides 80 and 443",
                 p->any_port ? "every port" : "the allow-listed ports");
    if (p->fake)
        log_warn("url.test_resolver",
                 "TEST RESOLVER ON: customer URL names resolve only from %s (%zu names); "
                 "never use VOEPY_URL_TEST_RESOLVER in production",
                 p->resolver_path ? p->resolver_path : "answers added by the program", p->nnames);
}
