/*
 * Digest answers to 401/407 challenges. libosip2 has already split each WWW-Authenticate
 * / Proxy-Authenticate header into its fields (quoted as they came); this file chooses
 * one challenge and computes the response (RFC 2617 3.2.2, RFC 8760 for SHA-256).
 */
#include "sip_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_md5.h>

#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/err.h"

void sip_auth_hash_hex(enum sip_auth_alg alg, const char *data, size_t len,
                       char out[SIP_AUTH_HEX_MAX])
{
    if (alg == SIP_AUTH_SHA256) {
        crypto_sha256_hex(data, len, out);
        return;
    }
    /* osip_MD5Update takes unsigned int lengths: our inputs are a few hundred bytes. */
    unsigned char digest[16];
    osip_MD5_CTX ctx;
    osip_MD5Init(&ctx);
    osip_MD5Update(&ctx, (unsigned char *)data, (unsigned int)len);
    osip_MD5Final(digest, &ctx);
    crypto_hex(digest, sizeof(digest), out);
}

/* v without its quotes and escapes, into out; false when absent or too long. */
static bool unquote(const char *v, char *out, size_t n)
{
    size_t len = v ? strlen(v) : 0, j = 0;
    if (!v)
        return false;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '\\' && i + 1 < len)
            i++;
        if (j + 1 >= n)
            return false;
        out[j++] = v[i];
    }
    out[j] = '\0';
    return true;
}

/* Whether a qop list ("auth,auth-int") offers plain auth. */
static bool offers_auth(const char *qop)
{
    char list[SIP_AUTH_FIELD_MAX], *save = NULL;
    if (!unquote(qop, list, sizeof(list)))
        return false;
    for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
        if (strcasecmp(t, "auth") == 0)
            return true;
    return false;
}

/* One challenge as we could answer it; false when we cannot. */
static bool read_challenge(const osip_www_authenticate_t *h, const struct sip_auth_creds *creds,
                           struct sip_auth_challenge *ch)
{
    char alg[32] = "MD5";
    memset(ch, 0, sizeof(*ch));
    if (!h->auth_type || strcasecmp(h->auth_type, "Digest") != 0)
        return false;
    if (!unquote(h->realm, ch->realm, sizeof(ch->realm)) ||
        !unquote(h->nonce, ch->nonce, sizeof(ch->nonce)) || !ch->nonce[0])
        return false;
    if (h->opaque && !unquote(h->opaque, ch->opaque, sizeof(ch->opaque)))
        return false;
    if (h->algorithm && !unquote(h->algorithm, alg, sizeof(alg)))
        return false;
    if (strcasecmp(alg, "SHA-256") == 0)
        ch->alg = SIP_AUTH_SHA256;
    else if (strcasecmp(alg, "MD5") != 0)
        return false; /* -sess variants, SHA-512-256, AKA: not ours */
    if (h->qop_options) {
        ch->qop_auth = offers_auth(h->qop_options);
        if (!ch->qop_auth)
            return false; /* auth-int only: we do not hash bodies */
    }
    char stale[16];
    ch->stale = h->stale && unquote(h->stale, stale, sizeof(stale)) && !strcasecmp(stale, "true");
    if (creds->realm && *creds->realm && strcmp(creds->realm, ch->realm) != 0)
        return false;
    return true;
}

int sip_auth_pick(const osip_message_t *resp, const struct sip_auth_creds *creds,
                  struct sip_auth_challenge *ch)
{
    bool proxy = resp->status_code == 407;
    const osip_list_t *list = proxy ? &resp->proxy_authenticates : &resp->www_authenticates;
    bool found = false;
    struct sip_auth_challenge c;
    for (int i = 0; i < osip_list_size(list); i++) {
        const osip_www_authenticate_t *h = osip_list_get(list, i);
        if (!read_challenge(h, creds, &c))
            continue;
        if (!found || c.alg > ch->alg) /* the first of the strongest */
            *ch = c;
        found = true;
    }
    ch->proxy = proxy;
    return found ? 0 : VP_E_NOT_FOUND;
}

/* A value we can put between quotes as it is. */
static bool quotable(const char *s)
{
    return s && !strpbrk(s, "\"\\\r\n");
}

static void hash_str(enum sip_auth_alg alg, const char *s, char out[SIP_AUTH_HEX_MAX])
{
    sip_auth_hash_hex(alg, s, strlen(s), out);
}

/* The request-digest of RFC 2617 3.2.2.1 (ha1, ha2 and response share one buffer size). */
static void response_hex(const struct sip_auth_challenge *ch, const struct sip_auth_creds *cr,
                         const char *method, const char *uri, const char *nc, const char *cnonce,
                         char out[SIP_AUTH_HEX_MAX])
{
    char ha1[SIP_AUTH_HEX_MAX], ha2[SIP_AUTH_HEX_MAX];
    char *a1 = vp_asprintf("%s:%s:%s", cr->username, ch->realm, cr->password);
    char *a2 = vp_asprintf("%s:%s", method, uri);
    hash_str(ch->alg, a1, ha1);
    hash_str(ch->alg, a2, ha2);
    explicit_bzero(a1, strlen(a1));
    free(a1);
    free(a2);
    char *kd = ch->qop_auth ? vp_asprintf("%s:%s:%s:%s:auth:%s", ha1, ch->nonce, nc, cnonce, ha2)
                            : vp_asprintf("%s:%s:%s", ha1, ch->nonce, ha2);
    hash_str(ch->alg, kd, out);
    explicit_bzero(ha1, sizeof(ha1));
    free(kd);
}

char *sip_auth_header(const struct sip_auth_challenge *ch, const struct sip_auth_creds *creds,
                      const char *method, const char *uri, unsigned nc, const char *cnonce)
{
    char fresh[17], ncs[9], resp[SIP_AUTH_HEX_MAX], opaque[SIP_AUTH_FIELD_MAX + 12] = "";
    if (!cnonce) {
        crypto_random_token(fresh, 16);
        cnonce = fresh;
    }
    if (!quotable(creds->username) || !quotable(ch->realm) || !quotable(ch->nonce) ||
        !quotable(ch->opaque) || !quotable(uri) || !quotable(cnonce) || !creds->password)
        return NULL;
    snprintf(ncs, sizeof(ncs), "%08x", nc);
    response_hex(ch, creds, method, uri, ncs, cnonce, resp);
    if (ch->opaque[0])
        snprintf(opaque, sizeof(opaque), ", opaque=\"%s\"", ch->opaque);
    const char *alg = ch->alg == SIP_AUTH_SHA256 ? "SHA-256" : "MD5";
    if (!ch->qop_auth)
        return vp_asprintf("Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                           "response=\"%s\", algorithm=%s%s",
                           creds->username, ch->realm, ch->nonce, uri, resp, alg, opaque);
    return vp_asprintf("Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                       "response=\"%s\", algorithm=%s, cnonce=\"%s\", qop=auth, nc=%s%s",
                       creds->username, ch->realm, ch->nonce, uri, resp, alg, cnonce, ncs, opaque);
}
