/*
 * url_internal.h - what url_guard.c and url_policy.c share (not a public API).
 */
#ifndef VOEPY_URL_INTERNAL_H
#define VOEPY_URL_INTERNAL_H

#include "voepy/url_guard.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define URL_FAKE_MAX_ADDRS 16 /* addresses in one answer of the test resolver */

/* Whether names are looked up in the policy's fake answers instead of the system. */
bool url_policy__fake(const struct url_policy *p);
/*
 * The next fake answer for name (lower case, no trailing dot): copies up to max
 * addresses (port 0) into out and returns how many; each call is one lookup, so the
 * next call gets the next answer. VP_E_NOT_FOUND when the name is not listed.
 */
int url_policy__lookup(struct url_policy *p, const char *name, struct sockaddr_storage *out,
                       size_t max);
/* Whether address a (4 or 16 bytes) lies in net/bits. */
bool url__prefix_match(const uint8_t *a, const uint8_t *net, int bits);
/* Parse a numeric address written canonically (inet_pton, either family) into ss. */
bool url__sockaddr(const char *ip, struct sockaddr_storage *ss);

/* The address a literal or localhost target stands for; false for other names. */
bool url__target_addr(const struct url_target *t, struct sockaddr_storage *ss);
/* url_guard_vet(), also giving the class of a literal's address in *cls. */
int url__vet(const char *url, const struct url_guard_opts *opts, struct url_target *t,
             enum url_addr_class *cls, char *reason, size_t len);

#endif
