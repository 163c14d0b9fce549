/* Matching a requested language to the ones a service has; see lang.h. */
#include "voepy/lang.h"

#include <string.h>
#include <strings.h>

#define MATCH_NONE    0
#define MATCH_PRIMARY 1
#define MATCH_EXACT   2

/* Length of the primary subtag of s (its first len bytes). */
static size_t primary_len(const char *s, size_t len)
{
    const char *dash = memchr(s, '-', len);
    return dash ? (size_t)(dash - s) : len;
}

/* How the tag of len bytes at tag serves want. */
static int match(const char *want, const char *tag, size_t len)
{
    size_t wlen = strlen(want);
    if (len == 0 || wlen == 0)
        return MATCH_NONE;
    if (len == wlen && strncasecmp(want, tag, len) == 0)
        return MATCH_EXACT;
    size_t wp = primary_len(want, wlen), tp = primary_len(tag, len);
    return wp == tp && strncasecmp(want, tag, wp) == 0 ? MATCH_PRIMARY : MATCH_NONE;
}

int lang_pick(const char *want, const char *const *tags, size_t n)
{
    int best = -1, how = MATCH_NONE;
    for (size_t i = 0; want && i < n && how < MATCH_EXACT; i++) {
        int m = tags[i] ? match(want, tags[i], strlen(tags[i])) : MATCH_NONE;
        if (m > how) {
            how = m;
            best = (int)i;
        }
    }
    return best;
}

bool lang_list_serves(const char *list, const char *want)
{
    for (const char *p = list; want && p && *p;) {
        size_t len = strcspn(p, ",");
        while (len && p[0] == ' ') { /* "en-US, es-ES" */
            p++;
            len--;
        }
        if (match(want, p, len) != MATCH_NONE)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}
