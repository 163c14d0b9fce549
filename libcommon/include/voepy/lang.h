/*
 * lang.h - which of the languages a service has serves a requested one.
 *
 * Languages are BCP-47 tags (en-US, es-ES, pt-BR), compared case-insensitively as BCP-47
 * says. A tag serves a request when it is the same tag, or failing that when its primary
 * subtag (the part before the first "-") is the request's: en-GB and plain en are served
 * by en-US, es-MX by es-ES. The same language with another region is what a local model
 * of that language hears (another accent, the same words); another language is not (an
 * English model turns Spanish into English words). Used by media-fork to pick a
 * transcription model and by the gateway to accept a language some media-fork node
 * advertises, so that both answer alike. Pure functions, any thread.
 */
#ifndef VOEPY_LANG_H
#define VOEPY_LANG_H

#include <stdbool.h>
#include <stddef.h>

#define LANG_TAG_MAX 36 /* a tag's bytes with its NUL (the gateway takes 2-35 chars) */

/*
 * Index in tags[0..n) of the tag that serves want: the same tag, else the first with
 * want's primary subtag; -1 when none (or want is NULL or empty).
 */
int lang_pick(const char *want, const char *const *tags, size_t n);
/* Whether one tag of the comma-separated list ("en-US,es-ES") serves want. */
bool lang_list_serves(const char *list, const char *want);

#endif
