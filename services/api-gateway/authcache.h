/*
 * authcache.h - a small in-process cache of API key lookups (key hash -> who is calling).
 *
 * Every tenant request would otherwise cost a PostgreSQL round trip before its handler
 * runs. An entry is kept for ttl_ms after it was fetched; so a key revoked, a scope
 * changed or a tenant suspended elsewhere (another gateway process, or SQL by hand) takes
 * effect everywhere within ttl_ms. This process forgets a key at once when it revokes or
 * rotates it (authcache_forget_key) and forgets everything on an operator write
 * (authcache_clear). A key's own expires_at is honoured exactly (entries carry it).
 *
 * The cache is direct-mapped: slots are chosen by the first bits of the key hash (a
 * SHA-256, so uniformly spread) and a newer key simply takes an occupied slot. Size is
 * fixed at creation: memory stays bounded whatever the number of keys. Only successful
 * lookups are cached; unknown keys always reach the database (random strings never get
 * that far: apikey_well_formed() checks the checksum first).
 *
 * Pure (no I/O, no clock): callers pass the times. Not thread-safe (one loop).
 */
#ifndef VOEPY_GW_AUTHCACHE_H
#define VOEPY_GW_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "voepy/crypto.h"

#define AUTHCACHE_ID_MAX 64

/* What a key lookup found (api_auth_key in proto/sql/0011_api_keys.sql). */
struct authcache_entry {
    char key_hash[CRYPTO_SHA256_HEX_LEN];
    char tenant_id[AUTHCACHE_ID_MAX];
    char key_id[AUTHCACHE_ID_MAX];
    bool tenant_active;             /* tenants.status = 'active' */
    char scopes[APIKEY_SCOPES_MAX]; /* space-separated (apikey.h) */
    long api_requests_per_second;   /* the tenant's limits */
    long calls_per_minute;
    int64_t key_expires_ms; /* epoch ms; 0 = never */
    uint64_t stored_ms;     /* set by authcache_put */
};

struct authcache;

/* A cache of about nslots entries (rounded up to a power of two, at least 1). */
int authcache_create(struct authcache **cp, size_t nslots, uint64_t ttl_ms);
void authcache_free(struct authcache *c);
/*
 * Copy the entry of key_hash to out when it is cached, younger than ttl_ms at mono_ms
 * and its key not expired at wall_ms (epoch ms). A stale or expired entry is dropped.
 */
bool authcache_get(struct authcache *c, const char *key_hash, uint64_t mono_ms, int64_t wall_ms,
                   struct authcache_entry *out);
/* Keep e (copied) as of mono_ms; replaces whatever held its slot. */
void authcache_put(struct authcache *c, const struct authcache_entry *e, uint64_t mono_ms);
/* Drop the entries of key key_id (after this process revoked or rotated it). */
void authcache_forget_key(struct authcache *c, const char *key_id);
/* Drop everything (after an operator write: suspension, limits). */
void authcache_clear(struct authcache *c);
/* Entries currently held (tests, metrics). */
size_t authcache_count(const struct authcache *c);

#endif
