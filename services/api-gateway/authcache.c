/*
 * authcache.c - the direct-mapped cache of key lookups (see authcache.h).
 */
#include "authcache.h"

#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"

struct authcache {
    struct authcache_entry *slots; /* slot unused when key_hash[0] == '\0' */
    size_t mask;
    uint64_t ttl_ms;
};

int authcache_create(struct authcache **cp, size_t nslots, uint64_t ttl_ms)
{
    size_t n = 1;
    while (n < nslots && n < ((size_t)1 << 24))
        n <<= 1;
    struct authcache *c = VP_NEW(c);
    c->slots = vp_calloc(n, sizeof(*c->slots));
    c->mask = n - 1;
    c->ttl_ms = ttl_ms;
    *cp = c;
    return 0;
}

void authcache_free(struct authcache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c);
}

/* The slot of a hex hash: its first 8 hex digits as a number (non-hex digits count 0). */
static struct authcache_entry *slot_of(const struct authcache *c, const char *key_hash)
{
    uint32_t v = 0;
    for (int i = 0; i < 8 && key_hash[i]; i++) {
        char ch = key_hash[i];
        uint32_t d = (ch >= '0' && ch <= '9')   ? (uint32_t)(ch - '0')
                     : (ch >= 'a' && ch <= 'f') ? (uint32_t)(ch - 'a' + 10)
                                                : 0;
        v = (v << 4) | d;
    }
    return &c->slots[v & c->mask];
}

bool authcache_get(struct authcache *c, const char *key_hash, uint64_t mono_ms, int64_t wall_ms,
                   struct authcache_entry *out)
{
    struct authcache_entry *e = slot_of(c, key_hash);
    if (!e->key_hash[0] || strcmp(e->key_hash, key_hash) != 0)
        return false;
    bool stale = mono_ms < e->stored_ms || mono_ms - e->stored_ms >= c->ttl_ms;
    bool expired = e->key_expires_ms != 0 && wall_ms >= e->key_expires_ms;
    if (stale || expired) {
        e->key_hash[0] = '\0';
        return false;
    }
    *out = *e;
    return true;
}

void authcache_put(struct authcache *c, const struct authcache_entry *e, uint64_t mono_ms)
{
    if (!e->key_hash[0])
        return;
    struct authcache_entry *s = slot_of(c, e->key_hash);
    *s = *e;
    s->stored_ms = mono_ms;
}

void authcache_forget_key(struct authcache *c, const char *key_id)
{
    for (size_t i = 0; i <= c->mask; i++)
        if (c->slots[i].key_hash[0] && strcmp(c->slots[i].key_id, key_id) == 0)
            c->slots[i].key_hash[0] = '\0';
}

void authcache_clear(struct authcache *c)
{
    for (size_t i = 0; i <= c->mask; i++)
        c->slots[i].key_hash[0] = '\0';
}

size_t authcache_count(const struct authcache *c)
{
    size_t n = 0;
    for (size_t i = 0; i <= c->mask; i++)
        n += c->slots[i].key_hash[0] != '\0';
    return n;
}
