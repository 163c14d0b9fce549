/*
 * metrics.c - the process-wide Prometheus registry.
 *
 * A family is one metric name (help, type, histogram bounds); a series is one label set
 * of a family. Families keep their series in creation order and the registry keeps
 * families in creation order, so the exposition is stable and grouped by name. Two
 * chained hash tables find a family by name and a series by (name, labels). Everything
 * lives until metrics_reset(): pointers handed out stay valid until then.
 */
#include "voepy/metrics.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct family {
    char *name;
    char *help;
    enum metric_type type;
    double *bounds; /* histograms: nbounds ascending upper bounds, +Inf implied */
    size_t nbounds;
    struct metric *first, *last;
    struct family *next;  /* creation order */
    struct family *hnext; /* hash chain */
};

struct metric {
    struct family *fam;
    char *labels;      /* "" when none */
    int64_t value;     /* counter/gauge */
    uint64_t *buckets; /* histograms: nbounds + 1 non-cumulative counts, last is +Inf */
    uint64_t count;
    double sum;
    uint64_t hash;
    struct metric *next;  /* next series of the family */
    struct metric *hnext; /* hash chain */
};

struct table {
    void **slots;
    size_t nslots; /* power of two */
    size_t n;
};

static struct family *families_first, *families_last;
static struct table family_table, series_table;

const double metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1,     2.5,  5,     10};
const size_t metrics_latency_nbuckets =
    sizeof(metrics_latency_buckets) / sizeof(metrics_latency_buckets[0]);

/* FNV-1a over name, a separator that cannot occur in a name, then the labels. */
static uint64_t hash_key(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

/* Chains are threaded through hnext, so the table only stores heads. */
static void **table_slot(struct table *t, uint64_t h)
{
    return &t->slots[h & (t->nslots - 1)];
}

static uint64_t family_hash(const struct family *f)
{
    return hash_key(f->name, "");
}

static void table_grow_families(void)
{
    struct table *t = &family_table;
    size_t old = t->nslots;
    void **slots = t->slots;
    t->nslots = old ? old * 2 : 16;
    t->slots = vp_calloc(t->nslots, sizeof(void *));
    for (size_t i = 0; i < old; i++) {
        for (struct family *f = slots[i], *nx; f; f = nx) {
            nx = f->hnext;
            void **s = table_slot(t, family_hash(f));
            f->hnext = *s;
            *s = f;
        }
    }
    free(slots);
}

static void table_grow_series(void)
{
    struct table *t = &series_table;
    size_t old = t->nslots;
    void **slots = t->slots;
    t->nslots = old ? old * 2 : 64;
    t->slots = vp_calloc(t->nslots, sizeof(void *));
    for (size_t i = 0; i < old; i++) {
        for (struct metric *m = slots[i], *nx; m; m = nx) {
            nx = m->hnext;
            void **s = table_slot(t, m->hash);
            m->hnext = *s;
            *s = m;
        }
    }
    free(slots);
}

static struct family *family_find(const char *name)
{
    if (!family_table.nslots)
        return NULL;
    for (struct family *f = *table_slot(&family_table, hash_key(name, "")); f; f = f->hnext)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct family *family_add(const char *name, const char *help, enum metric_type type,
                                 const double *bounds, size_t nbounds)
{
    struct family *f = VP_NEW(f);
    f->name = vp_strdup(name);
    f->help = vp_strdup(help ? help : "");
    f->type = type;
    if (type == METRIC_HISTOGRAM && nbounds) {
        f->bounds = vp_malloc(nbounds * sizeof(double));
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
        f->nbounds = nbounds;
    }
    if (family_table.n + 1 > family_table.nslots)
        table_grow_families();
    void **s = table_slot(&family_table, family_hash(f));
    f->hnext = *s;
    *s = f;
    family_table.n++;
    if (families_last)
        families_last->next = f;
    else
        families_first = f;
    families_last = f;
    return f;
}

static struct metric *series_find(const struct family *f, const char *labels, uint64_t h)
{
    if (!series_table.nslots)
        return NULL;
    for (struct metric *m = *table_slot(&series_table, h); m; m = m->hnext)
        if (m->hash == h && m->fam == f && strcmp(m->labels, labels) == 0)
            return m;
    return NULL;
}

static struct metric *series_add(struct family *f, const char *labels, uint64_t h)
{
    struct metric *m = VP_NEW(m);
    m->fam = f;
    m->labels = vp_strdup(labels);
    m->hash = h;
    if (f->type == METRIC_HISTOGRAM)
        m->buckets = vp_calloc(f->nbounds + 1, sizeof(uint64_t));
    if (series_table.n + 1 > series_table.nslots / 2)
        table_grow_series();
    void **s = table_slot(&series_table, h);
    m->hnext = *s;
    *s = m;
    series_table.n++;
    if (f->last)
        f->last->next = m;
    else
        f->first = m;
    f->last = m;
    return m;
}

/*
 * Find or create a series. Registering one name with two types is a programming error
 * that the first run exposes: it aborts rather than hand out a series that would render
 * an invalid exposition.
 */
static struct metric *lookup(const char *name, const char *help, const char *labels,
                             enum metric_type type, const double *bounds, size_t nbounds)
{
    labels = labels ? labels : "";
    struct family *f = family_find(name);
    if (!f) {
        f = family_add(name, help, type, bounds, nbounds);
    } else if (f->type != type) {
        log_error("metrics.type_clash", "metric %s registered with two types", name);
        abort();
    }
    uint64_t h = hash_key(name, labels);
    struct metric *m = series_find(f, labels, h);
    return m ? m : series_add(f, labels, h);
}

struct metric *metrics_counter(const char *name, const char *help, const char *labels)
{
    return lookup(name, help, labels, METRIC_COUNTER, NULL, 0);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return lookup(name, help, labels, METRIC_GAUGE, NULL, 0);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
                                 const double *bounds, size_t nbounds)
{
    return lookup(name, help, labels, METRIC_HISTOGRAM, bounds, nbounds);
}

void metric_inc(struct metric *m)
{
    metric_add(m, 1);
}

/* Counters only go up: a negative amount on a counter is ignored. */
void metric_add(struct metric *m, int64_t v)
{
    if (m->fam->type == METRIC_HISTOGRAM || (m->fam->type == METRIC_COUNTER && v < 0))
        return;
    m->value += v;
}

void metric_set(struct metric *m, int64_t v)
{
    if (m->fam->type == METRIC_GAUGE)
        m->value = v;
}

/* A value lands in the first bucket whose bound is >= v (Prometheus "le"). */
void metric_observe(struct metric *m, double v)
{
    const struct family *f = m->fam;
    if (f->type != METRIC_HISTOGRAM)
        return;
    size_t i = 0;
    while (i < f->nbounds && !(v <= f->bounds[i]))
        i++;
    m->buckets[i]++;
    m->count++;
    m->sum += v;
}

int64_t metric_value(const struct metric *m)
{
    return m->fam->type == METRIC_HISTOGRAM ? (int64_t)m->count : m->value;
}

/*
 * The shortest decimal that reads back as the same double, printed like Go's
 * strconv.FormatFloat(v, 'g', -1, 64) that the reference Prometheus client uses: plain
 * notation for exponents in [-4, 21) ("10", "0.0025"), exponent notation outside.
 */
static void format_double(char *out, size_t n, double v)
{
    if (isnan(v) || isinf(v)) {
        snprintf(out, n, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(out, n, "%.*e", prec - 1, v);
        if (strtod(out, NULL) == v)
            break;
    }
    snprintf(out, n, "%.*e", prec - 1, v);
    int exp10 = atoi(strchr(out, 'e') + 1);
    if (exp10 >= -4 && exp10 < 21)
        snprintf(out, n, "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, v);
}

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static int render_help(struct buf *out, const struct family *f)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    int err = buf_printf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; !err && *p; p++) {
        if (*p == '\\')
            err = buf_puts(out, "\\\\");
        else if (*p == '\n')
            err = buf_puts(out, "\\n");
        else
            err = buf_putc(out, *p);
    }
    return err ? err : buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
}

/* name{labels} or name when the label set is empty. */
static int render_name(struct buf *out, const char *name, const char *suffix, const char *labels)
{
    if (*labels)
        return buf_printf(out, "%s%s{%s} ", name, suffix, labels);
    return buf_printf(out, "%s%s ", name, suffix);
}

static int render_histogram(struct buf *out, const struct metric *m)
{
    const struct family *f = m->fam;
    const char *sep = *m->labels ? "," : "";
    uint64_t cum = 0;
    int err = 0;
    char num[32];
    for (size_t i = 0; !err && i <= f->nbounds; i++) {
        cum += m->buckets[i];
        if (i < f->nbounds)
            format_double(num, sizeof(num), f->bounds[i]);
        else
            snprintf(num, sizeof(num), "+Inf");
        err = buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, m->labels, sep, num,
                         (unsigned long long)cum);
    }
    format_double(num, sizeof(num), m->sum);
    if (!err)
        err = render_name(out, f->name, "_sum", m->labels);
    if (!err)
        err = buf_printf(out, "%s\n", num);
    if (!err)
        err = render_name(out, f->name, "_count", m->labels);
    return err ? err : buf_printf(out, "%llu\n", (unsigned long long)m->count);
}

static int render_series(struct buf *out, const struct metric *m)
{
    if (m->fam->type == METRIC_HISTOGRAM)
        return render_histogram(out, m);
    int err = render_name(out, m->fam->name, "", m->labels);
    return err ? err : buf_printf(out, "%lld\n", (long long)m->value);
}

int metrics_render(struct buf *out)
{
    for (const struct family *f = families_first; f; f = f->next) {
        int err = render_help(out, f);
        for (const struct metric *m = f->first; !err && m; m = m->next)
            err = render_series(out, m);
        if (err)
            return err;
    }
    return 0;
}

static void family_free(struct family *f)
{
    for (struct metric *m = f->first, *nx; m; m = nx) {
        nx = m->next;
        free(m->labels);
        free(m->buckets);
        free(m);
    }
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

/* Every pointer handed out becomes invalid: only call when nobody holds one (tests). */
void metrics_reset(void)
{
    for (struct family *f = families_first, *nx; f; f = nx) {
        nx = f->next;
        family_free(f);
    }
    families_first = families_last = NULL;
    free(family_table.slots);
    free(series_table.slots);
    memset(&family_table, 0, sizeof(family_table));
    memset(&series_table, 0, sizeof(series_table));
}
