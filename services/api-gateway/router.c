/*
 * router.c - matching request paths against the route table (router.h).
 *
 * The table is small (a few dozen routes), so a linear scan with a segment-wise compare
 * is simpler than a tree and fast enough: no allocation, bounded by the path length.
 */
#include "router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "voepy/err.h"

/* Match one pattern; params are written to m only on success. */
static bool pattern_match(const char *pat, const char *path, struct router_match *m)
{
    char params[ROUTER_MAX_PARAMS][ROUTER_PARAM_MAX];
    size_t np = 0;
    while (*pat && *path) {
        if (*pat != '{') {
            if (*pat++ != *path++)
                return false;
            continue;
        }
        const char *close = strchr(pat, '}');
        size_t len = strcspn(path, "/");
        if (!close || len == 0 || len >= ROUTER_PARAM_MAX || np == ROUTER_MAX_PARAMS)
            return false;
        memcpy(params[np], path, len);
        params[np++][len] = '\0';
        pat = close + 1;
        path += len;
    }
    if (*pat || *path)
        return false;
    memcpy(m->params, params, sizeof(params[0]) * np);
    m->nparams = np;
    return true;
}

static void allow_add(struct router_match *m, const char *method)
{
    size_t used = strlen(m->allow);
    if (strstr(m->allow, method))
        return;
    snprintf(m->allow + used, sizeof(m->allow) - used, "%s%s", used ? ", " : "", method);
}

int router_match(const struct router_route *routes, size_t n, const char *method, const char *path,
                 struct router_match *m)
{
    memset(m, 0, sizeof(*m));
    bool path_known = false;
    for (size_t i = 0; i < n; i++) {
        struct router_match tmp;
        if (!pattern_match(routes[i].pattern, path, &tmp))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            memcpy(m->params, tmp.params, sizeof(tmp.params[0]) * tmp.nparams);
            m->nparams = tmp.nparams;
            m->route = &routes[i];
            m->allow[0] = '\0';
            return 0;
        }
        path_known = true;
        allow_add(m, routes[i].method);
    }
    return path_known ? VP_E_METHOD_NOT_ALLOWED : VP_E_NOT_FOUND;
}
