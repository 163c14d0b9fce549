/*
 * metrics.h - a process-wide Prometheus registry.
 *
 * Series are looked up by name and label set ("method=\"GET\",status=\"200\"", or NULL),
 * created on first use; keep the returned pointer for hot paths. Counters and gauges
 * are int64; histograms use fixed upper bounds given at creation (seconds, by
 * convention). Single-threaded: call from the loop thread only.
 */
#ifndef VOEPY_METRICS_H
#define VOEPY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/buf.h"

struct metric;

struct metric *metrics_counter(const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds; +Inf is implied. The first call fixes the bounds. */
struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
                                 const double *bounds, size_t nbounds);

void metric_inc(struct metric *m);
void metric_add(struct metric *m, int64_t v);
void metric_set(struct metric *m, int64_t v);    /* gauges */
void metric_observe(struct metric *m, double v); /* histograms */
int64_t metric_value(const struct metric *m);    /* counter/gauge value, histogram count */

/* Render the text exposition format (version 0.0.4), series grouped by name. */
int metrics_render(struct buf *out);
/* Drop every series (tests). */
void metrics_reset(void);

/* Default latency buckets in seconds: 1 ms .. 10 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

#endif
