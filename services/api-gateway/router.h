/*
 * router.h - method + path pattern -> route, with path parameters.
 *
 * A pattern is a path whose segments are literals or parameters in braces:
 * "/v1/calls/{id}/actions/hangup". A parameter matches one non-empty segment (no '/') of
 * at most ROUTER_PARAM_MAX - 1 bytes, taken raw (not percent-decoded: ids never need it).
 * Paths are matched exactly: no trailing-slash or case folding.
 */
#ifndef VOEPY_GW_ROUTER_H
#define VOEPY_GW_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX  128
#define ROUTER_ALLOW_MAX  64

struct api_req;
typedef void(api_handler_fn)(struct api_req *r);

/* Who may call a route. */
enum router_auth {
    ROUTER_AUTH_TENANT, /* Authorization: Bearer voepy_live_..., holding the route's scope */
    ROUTER_AUTH_ADMIN,  /* Authorization: Bearer <VOEPY_ADMIN_TOKEN> */
    ROUTER_AUTH_NONE,   /* public: the contract document */
};

#define ROUTER_BODY     0x1u /* takes a JSON body: Content-Type is checked */
#define ROUTER_BODY_RAW 0x2u /* with ROUTER_BODY: not JSON, the handler checks the type */

struct router_route {
    const char *method;
    const char *pattern;
    api_handler_fn *handler;
    enum router_auth auth;
    unsigned flags;
    const char
        *scope; /* tenant routes: the scope the key must hold ("calls:write"); NULL: any key */
};

struct router_match {
    const struct router_route *route;
    size_t nparams;
    char params[ROUTER_MAX_PARAMS][ROUTER_PARAM_MAX];
    char allow[ROUTER_ALLOW_MAX]; /* for 405: the methods the path accepts, "GET, POST" */
};

/*
 * Find the route for method and path in routes[0..n). Returns 0 (m->route and params
 * set), VP_E_METHOD_NOT_ALLOWED (the path exists with other methods, listed in m->allow)
 * or VP_E_NOT_FOUND.
 */
int router_match(const struct router_route *routes, size_t n, const char *method, const char *path,
                 struct router_match *m);

#endif
