/*
 * url_check.c - the asynchronous URL check: vet the URL, resolve the name once (the
 * system resolver through uv_getaddrinfo, or the policy's fake answers), judge every
 * address, report the first allowed one as the address to connect to.
 *
 * Whatever is decided without a resolver (a malformed or refused URL, a literal, a fake
 * answer) is still reported from the loop: the check then goes through the thread pool
 * with an empty work item, so its callback never runs inside url_guard_check() and
 * url_guard_cancel() works the same way on both paths.
 */
#include "url_internal.h"

#include "voepy/alloc.h"
#include "voepy/err.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 384

struct url_check {
    union {
        uv_req_t req;
        uv_getaddrinfo_t gai; /* a name for the system resolver */
        uv_work_t work;       /* everything decided in url_guard_check */
    } u;
    struct url_target target;
    struct url_policy *policy;
    bool canceled;
    /* decided in url_guard_check (work path): a refusal, or addresses to judge */
    int status;
    enum url_addr_class cls;
    char reason[REASON_MAX];
    struct sockaddr_storage addrs[URL_FAKE_MAX_ADDRS];
    size_t naddrs;
    url_guard_cb *cb;
    void *arg;
};

/* The judgement of a list of addresses, built address by address. */
struct verdict {
    struct url_check_result r;
    char ip[INET6_ADDRSTRLEN];
    char reason[REASON_MAX];
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

static void verdict_init(struct verdict *v, const struct url_check *c)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->reason, sizeof(v->reason), "%s has no address", c->target.host);
    v->r = (struct url_check_result){.status = VP_E_IO, .reason = v->reason};
}

/* Every address must pass; the first is where we connect. False once one is refused. */
static bool judge_one(const struct url_check *c, const struct sockaddr *sa, struct verdict *v)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return true;
    enum url_addr_class cls;
    if (url_policy_judge(c->policy, sa, &cls)) {
        char bad[INET6_ADDRSTRLEN];
        sockaddr_text(sa, bad, sizeof(bad));
        snprintf(v->reason, sizeof(v->reason), "%s resolves to %s, %s %s address", c->target.host,
                 bad, cls == URL_ADDR_UNSPECIFIED || cls == URL_ADDR_EMBEDDED ? "an" : "a",
                 url_addr_class_name(cls));
        v->r = (struct url_check_result){.status = VP_E_FORBIDDEN, .cls = cls, .reason = v->reason};
        return false;
    }
    if (!v->ip[0]) {
        sockaddr_text(sa, v->ip, sizeof(v->ip));
        v->r = (struct url_check_result){.status = 0, .ip = v->ip, .cls = cls};
    }
    return true;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct url_check *c = req->data;
    struct verdict v;
    verdict_init(&v, c);
    if (c->canceled || status == UV_ECANCELED) {
        v.r = (struct url_check_result){.status = VP_E_CANCELED, .reason = "canceled"};
    } else if (status < 0) {
        snprintf(v.reason, sizeof(v.reason), "cannot resolve %s: %s", c->target.host,
                 uv_strerror(status));
    } else {
        for (const struct addrinfo *ai = res; ai && judge_one(c, ai->ai_addr, &v); ai = ai->ai_next)
            ;
    }
    uv_freeaddrinfo(res);
    report(c, &v.r);
}

static void nothing_work(uv_work_t *w)
{
    (void)w;
}

static void decided_cb(uv_work_t *w, int status)
{
    struct url_check *c = w->data;
    struct verdict v;
    verdict_init(&v, c);
    if (c->canceled || status == UV_ECANCELED) {
        v.r = (struct url_check_result){.status = VP_E_CANCELED, .reason = "canceled"};
    } else if (c->status) {
        v.r = (struct url_check_result){.status = c->status, .cls = c->cls, .reason = c->reason};
    } else {
        for (size_t i = 0; i < c->naddrs && judge_one(c, (struct sockaddr *)&c->addrs[i], &v); i++)
            ;
    }
    report(c, &v.r);
}

/* Vet the URL and find its addresses when that needs no system resolver; false else. */
static bool decide_now(struct url_check *c, const char *url, const struct url_guard_opts *opts)
{
    c->status = url__vet(url, opts, &c->target, &c->cls, c->reason, sizeof(c->reason));
    if (c->status)
        return true;
    if (url__target_addr(&c->target, &c->addrs[0])) {
        c->naddrs = 1;
        return true;
    }
    if (!url_policy__fake(c->policy))
        return false;
    int n = url_policy__lookup(c->policy, c->target.host, c->addrs, URL_FAKE_MAX_ADDRS);
    if (n < 0) {
        c->status = VP_E_IO;
        snprintf(c->reason, sizeof(c->reason),
                 "cannot resolve %s: not in the test resolver's answers", c->target.host);
    }
    c->naddrs = n < 0 ? 0 : (size_t)n;
    return true;
}

int url_guard_check(uv_loop_t *loop, const char *url, const struct url_guard_opts *opts,
                    url_guard_cb *cb, void *arg, struct url_check **checkp)
{
    struct url_check *c = VP_NEW(c);
    c->policy = opts ? opts->policy : NULL;
    c->cb = cb;
    c->arg = arg;
    c->u.req.data = c;
    int err;
    if (decide_now(c, url, opts)) {
        err = uv_queue_work(loop, &c->u.work, nothing_work, decided_cb);
    } else {
        const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        err = uv_getaddrinfo(loop, &c->u.gai, resolved_cb, c->target.host, NULL, &hints);
    }
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
    uv_cancel(&c->u.req); /* fails harmlessly when the lookup already runs */
}
