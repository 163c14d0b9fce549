#include "voepy/id.h"
#include "voepy/err.h"
#include "voepy/vtime.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static bool kind_valid(const char *kind)
{
    size_t n = strlen(kind);
    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (kind[i] < 'a' || kind[i] > 'z')
            return false;
    return true;
}

int id_new_at(char *out, size_t outlen, const char *kind, int64_t epoch_ms)
{
    if (!kind || !kind_valid(kind) || epoch_ms < 0 || epoch_ms >= (INT64_C(1) << 48))
        return VP_E_INVALID_PARAMETER;
    static bool sodium_ready;
    if (!sodium_ready) {
        if (sodium_init() < 0)
            return VP_E_INTERNAL;
        sodium_ready = true;
    }
    char ulid[ID_ULID_LEN + 1];
    uint64_t t = (uint64_t)epoch_ms;
    for (int i = 9; i >= 0; i--) {
        ulid[i] = crockford[t & 31];
        t >>= 5;
    }
    uint8_t rnd[10];
    randombytes_buf(rnd, sizeof(rnd));
    /* 80 bits -> 16 characters of 5 bits, most significant first. */
    for (int i = 0; i < 16; i++) {
        int bit = i * 5, v = 0;
        for (int k = 0; k < 5; k++, bit++)
            v = (v << 1) | ((rnd[bit / 8] >> (7 - bit % 8)) & 1);
        ulid[10 + i] = crockford[v];
    }
    ulid[ID_ULID_LEN] = '\0';
    int n = snprintf(out, outlen, "voepy_%s_%s", kind, ulid);
    return (n < 0 || (size_t)n >= outlen) ? VP_E_OVERFLOW : 0;
}

int id_new(char *out, size_t outlen, const char *kind)
{
    return id_new_at(out, outlen, kind, vtime_now_ms());
}

static int crockford_value(char c)
{
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

static const char *ulid_part(const char *s, const char *kind)
{
    if (!s || strncmp(s, "voepy_", 6) != 0)
        return NULL;
    const char *k = s + 6, *us = strchr(k, '_');
    if (!us || us == k || (size_t)(us - k) > 16)
        return NULL;
    for (const char *c = k; c < us; c++)
        if (*c < 'a' || *c > 'z')
            return NULL;
    if (kind && (strlen(kind) != (size_t)(us - k) || strncmp(k, kind, (size_t)(us - k)) != 0))
        return NULL;
    const char *u = us + 1;
    if (strlen(u) != ID_ULID_LEN || crockford_value(u[0]) > 7) /* 48-bit time fits 10 chars */
        return NULL;
    for (int i = 0; i < ID_ULID_LEN; i++)
        if (crockford_value(u[i]) < 0)
            return NULL;
    return u;
}

bool id_valid(const char *s, const char *kind)
{
    return ulid_part(s, kind) != NULL;
}

int64_t id_time_ms(const char *s)
{
    const char *u = ulid_part(s, NULL);
    if (!u)
        return -1;
    int64_t t = 0;
    for (int i = 0; i < 10; i++)
        t = (t << 5) | crockford_value(u[i]);
    return t;
}
