/*
 * The transcription models of a node, by language (asr.h). Read once at start from
 * VOEPY_ASR_MODELS / VOEPY_ASR_MODEL_DIR, checked on disk, then read-only: any thread may
 * read them while recognitions run.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "asr.h"
#include "voepy/alloc.h"

#define MODELS_MAX 32
#define DEBIAN_EN  "/usr/share/pocketsphinx/model/en-us"
#define EN_US      "en-US"
#define LIST_BYTES (MODELS_MAX * LANG_TAG_MAX)

struct asr_models {
    struct asr_model model[MODELS_MAX];
    const char *tags[MODELS_MAX]; /* model[i].language, for lang_pick */
    size_t n;
    char list[LIST_BYTES]; /* "en-US,es-ES" */
};

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return VP_E_INVALID_PARAMETER;
}

/* A BCP-47 tag as the gateway takes it: 2-3 letters, then "-" and letters or digits. */
static int tag_valid(const char *s, size_t len)
{
    size_t lead = 0;
    while (lead < len && isalpha((unsigned char)s[lead]))
        lead++;
    if (lead < 2 || lead > 3 || len >= LANG_TAG_MAX || s[len - 1] == '-')
        return 0;
    for (size_t i = lead; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && (s[i] != '-' || s[i + 1] == '-'))
            return 0;
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Debian's layout around acoustic model directory hmm: hmm.lm.bin, cmudict-NAME.dict. */
static void debian_files(struct asr_model *m)
{
    const char *slash = strrchr(m->hmm, '/');
    size_t dirlen = slash ? (size_t)(slash - m->hmm) + 1 : 0;
    m->lm = vp_asprintf("%s.lm.bin", m->hmm);
    m->dict = vp_asprintf("%.*scmudict-%s.dict", (int)dirlen, m->hmm, m->hmm + dirlen);
}

static int check_files(const struct asr_model *m, char *why, size_t n)
{
    if (!is_dir(m->hmm))
        return fail(why, n, "%s: acoustic model %s is not a directory", m->language, m->hmm);
    if (!is_file(m->lm))
        return fail(why, n, "%s: language model %s is not a file", m->language, m->lm);
    if (!is_file(m->dict))
        return fail(why, n, "%s: dictionary %s is not a file", m->language, m->dict);
    return 0;
}

/* Add language tag (len bytes) with paths "HMM" or "HMM:LM:DICT" (plen bytes). */
static int add(struct asr_models *ms, const char *tag, size_t len, const char *paths, size_t plen,
               char *why, size_t n)
{
    char t[LANG_TAG_MAX];
    snprintf(t, sizeof(t), "%.*s", (int)(len < sizeof(t) ? len : sizeof(t) - 1), tag);
    if (!tag_valid(tag, len))
        return fail(why, n, "%s is not a language tag such as en-US", t);
    for (size_t i = 0; i < ms->n; i++)
        if (strcasecmp(ms->model[i].language, t) == 0)
            return fail(why, n, "%s is configured twice", t);
    if (ms->n == MODELS_MAX)
        return fail(why, n, "more than %d models (at %s)", MODELS_MAX, t);
    struct asr_model *m = &ms->model[ms->n];
    snprintf(m->language, sizeof(m->language), "%s", t);
    char *p = vp_strndup(paths, plen), *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c1 && (!c2 || strchr(c2 + 1, ':'))) {
        free(p);
        return fail(why, n, "%s: give HMM or HMM:LM:DICT, not %.*s", t, (int)plen, paths);
    }
    if (c1)
        *c1 = *c2 = '\0';
    m->hmm = vp_strdup(p);
    if (c1) {
        m->lm = vp_strdup(c1 + 1);
        m->dict = vp_strdup(c2 + 1);
    } else {
        debian_files(m);
    }
    free(p);
    ms->tags[ms->n++] = m->language; /* freed with the set from now on */
    return check_files(m, why, n);
}

/* One "TAG=PATHS" entry of len bytes (spaces around it ignored). */
static int add_entry(struct asr_models *ms, const char *s, size_t len, char *why, size_t n)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (!len)
        return 0;
    const char *eq = memchr(s, '=', len);
    if (!eq || eq == s || eq == s + len - 1)
        return fail(why, n, "VOEPY_ASR_MODELS entry %.*s is not TAG=PATH", (int)len, s);
    return add(ms, s, (size_t)(eq - s), eq + 1, len - (size_t)(eq - s) - 1, why, n);
}

static int parse(struct asr_models *ms, const char *spec, const char *en_us_dir, char *why,
                 size_t n)
{
    int err = 0;
    for (const char *p = spec ? spec : ""; !err && *p;) {
        size_t len = strcspn(p, ",");
        err = add_entry(ms, p, len, why, n);
        p += len + (p[len] == ',');
    }
    bool has_en = false;
    for (size_t i = 0; i < ms->n; i++)
        has_en = has_en || strcasecmp(ms->model[i].language, EN_US) == 0;
    bool dir_set = en_us_dir && en_us_dir[0];
    if (!err && !has_en && (dir_set || ms->n == 0)) {
        char *hmm = vp_asprintf("%s/en-us", dir_set ? en_us_dir : DEBIAN_EN);
        err = add(ms, EN_US, strlen(EN_US), hmm, strlen(hmm), why, n);
        free(hmm);
    }
    return err;
}

int asr_models_create(struct asr_models **mp, const char *spec, const char *en_us_dir, char *why,
                      size_t whylen)
{
    struct asr_models *ms = VP_NEW(ms);
    int err = parse(ms, spec, en_us_dir, why, whylen);
    if (err)
        goto out;
    for (size_t i = 0; i < ms->n; i++) {
        size_t used = strlen(ms->list);
        snprintf(ms->list + used, sizeof(ms->list) - used, "%s%s", i ? "," : "",
                 ms->model[i].language);
    }
    *mp = ms;
out:
    if (err)
        asr_models_destroy(ms);
    return err;
}

const struct asr_model *asr_models_pick(const struct asr_models *ms, const char *language)
{
    int i = lang_pick(language, ms->tags, ms->n);
    return i < 0 ? NULL : &ms->model[i];
}

const char *asr_models_languages(const struct asr_models *ms)
{
    return ms->list;
}

void asr_models_destroy(struct asr_models *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->model[i].hmm);
        free(ms->model[i].lm);
        free(ms->model[i].dict);
    }
    free(ms);
}
