/*
 * voepy-webhook-verify - check a webhook delivery's signatures as a receiver would.
 *
 *   voepy-webhook-verify --body FILE [--secret whsec_...] [--public-key whpk_...]
 *                        [--id ID] [--timestamp TS] [--signature SIG]
 *                        [--voepy-signature SIG] [--scheme v1,v1a,voepy] [--now UNIX]
 *
 * FILE holds the exact body received ("-": stdin). Every option but --body and --scheme
 * may come from the environment instead: WEBHOOK_SECRET, WEBHOOK_PUBLIC_KEY, WEBHOOK_ID,
 * WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE (the webhook-* headers) and VOEPY_SIGNATURE.
 *
 * Schemes (webhook_sig.h): v1 (Standard Webhooks HMAC, needs --secret), v1a (Ed25519,
 * needs --public-key), voepy (the voepy-signature header, needs --secret). Without
 * --scheme, each scheme whose key and at least one of its headers were given is checked.
 * Every scheme checked must pass, within 300 s of now (--now: another clock, for tests).
 *
 * Prints "ok <schemes>" and exits 0, or "<scheme>: <reason>" and exits 1; bad usage
 * exits 2.
 */
#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/webhook_sig.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX (64u << 20)

enum scheme { S_V1 = 1, S_V1A = 2, S_VOEPY = 4 };

struct args {
    const char *body_file, *secret, *public_key, *id, *timestamp, *signature, *voepy;
    unsigned schemes; /* 0: decide from what was given */
    int64_t now;
};

static void usage(void)
{
    fputs("usage: voepy-webhook-verify --body FILE [--secret whsec_...] [--public-key whpk_...]\n"
          "         [--id ID] [--timestamp TS] [--signature SIG] [--voepy-signature SIG]\n"
          "         [--scheme v1,v1a,voepy] [--now UNIX]\n"
          "environment: WEBHOOK_SECRET WEBHOOK_PUBLIC_KEY WEBHOOK_ID WEBHOOK_TIMESTAMP\n"
          "             WEBHOOK_SIGNATURE VOEPY_SIGNATURE\n",
          stderr);
    exit(2);
}

static unsigned parse_schemes(const char *s)
{
    unsigned out = 0;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "v1") == 0)
            out |= S_V1;
        else if (strcmp(t, "v1a") == 0)
            out |= S_V1A;
        else if (strcmp(t, "voepy") == 0)
            out |= S_VOEPY;
        else
            usage();
    }
    return out ? out : (usage(), 0u);
}

static void parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {{"body", required_argument, NULL, 'b'},
                                         {"secret", required_argument, NULL, 's'},
                                         {"public-key", required_argument, NULL, 'p'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"timestamp", required_argument, NULL, 't'},
                                         {"signature", required_argument, NULL, 'g'},
                                         {"voepy-signature", required_argument, NULL, 'v'},
                                         {"scheme", required_argument, NULL, 'S'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *a = (struct args){NULL,
                       getenv("WEBHOOK_SECRET"),
                       getenv("WEBHOOK_PUBLIC_KEY"),
                       getenv("WEBHOOK_ID"),
                       getenv("WEBHOOK_TIMESTAMP"),
                       getenv("WEBHOOK_SIGNATURE"),
                       getenv("VOEPY_SIGNATURE"),
                       0,
                       (int64_t)time(NULL)};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            a->body_file = optarg;
            break;
        case 's':
            a->secret = optarg;
            break;
        case 'p':
            a->public_key = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case 't':
            a->timestamp = optarg;
            break;
        case 'g':
            a->signature = optarg;
            break;
        case 'v':
            a->voepy = optarg;
            break;
        case 'S':
            a->schemes = parse_schemes(optarg);
            break;
        case 'n':
            a->now = strtoll(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !a->body_file)
        usage();
}

/* The whole body; exits 2 when it cannot be read. */
static char *read_body(const char *path, size_t *lenp)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = vp_malloc(cap);
    for (size_t n; (n = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += n;
        if (len == cap && cap < BODY_MAX)
            buf = vp_realloc(buf, cap *= 2);
        else if (len == cap)
            break;
    }
    if (ferror(f) || len >= BODY_MAX) {
        fprintf(stderr, "%s: unreadable or larger than %u bytes\n", path, BODY_MAX);
        exit(2);
    }
    if (f != stdin)
        fclose(f);
    *lenp = len;
    return buf;
}

static bool given(const char *s)
{
    return s && *s;
}

/* What each webhook_sig result means to a person. */
static const char *reason(int err)
{
    switch (err) {
    case VP_E_UNAUTHORIZED:
        return "no matching signature";
    case VP_E_TIMEOUT:
        return "timestamp out of tolerance (300 s)";
    default:
        return "malformed key, timestamp or signature";
    }
}

/* The first missing header of the Standard Webhooks three, or NULL. */
static const char *missing(const struct args *a)
{
    return !given(a->id)          ? "missing webhook-id"
           : !given(a->timestamp) ? "missing webhook-timestamp"
           : !given(a->signature) ? "missing webhook-signature"
                                  : NULL;
}

static unsigned auto_schemes(const struct args *a)
{
    bool sw = given(a->id) || given(a->timestamp) || given(a->signature);
    return (given(a->secret) && sw ? S_V1 : 0) | (given(a->public_key) && sw ? S_V1A : 0) |
           (given(a->secret) && given(a->voepy) ? S_VOEPY : 0);
}

/* Check one scheme; prints why it fails. */
static bool check(const struct args *a, enum scheme s, const char *body, size_t len)
{
    const char *name = s == S_V1 ? "v1" : s == S_V1A ? "v1a" : "voepy";
    const char *why = NULL;
    if (s != S_VOEPY && missing(a))
        why = missing(a);
    else if (s == S_V1A && !given(a->public_key))
        why = "no public key (--public-key)";
    else if (s != S_V1A && !given(a->secret))
        why = "no secret (--secret)";
    else if (s == S_VOEPY && !given(a->voepy))
        why = "missing voepy-signature";
    int err = why ? VP_E_INVALID_PARAMETER
              : s == S_V1
                  ? webhook_verify(a->secret, a->id, a->timestamp, a->signature, body, len, a->now)
              : s == S_V1A ? webhook_verify_ed25519(a->public_key, a->id, a->timestamp,
                                                    a->signature, body, len, a->now)
                           : webhook_verify_voepy(a->secret, a->voepy, body, len, a->now);
    if (err)
        printf("%s: %s\n", name, why ? why : reason(err));
    return err == 0;
}

int main(int argc, char **argv)
{
    struct args a;
    parse_args(argc, argv, &a);
    if (crypto_init())
        return 2;
    size_t len;
    char *body = read_body(a.body_file, &len);
    unsigned schemes = a.schemes ? a.schemes : auto_schemes(&a);
    bool ok = schemes != 0;
    if (!schemes)
        printf("nothing to verify: give a secret or public key and the signature headers\n");
    static const enum scheme all[] = {S_V1, S_V1A, S_VOEPY};
    for (size_t i = 0; i < 3; i++)
        if (schemes & all[i])
            ok = check(&a, all[i], body, len) && ok;
    if (ok)
        printf("ok%s%s%s\n", schemes & S_V1 ? " v1" : "", schemes & S_V1A ? " v1a" : "",
               schemes & S_VOEPY ? " voepy" : "");
    free(body);
    return ok ? 0 : 1;
}
