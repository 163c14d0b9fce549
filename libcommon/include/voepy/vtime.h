/*
 * vtime.h - wall-clock and monotonic time, ISO-8601 at the API.
 *
 * The API speaks ISO-8601 UTC with milliseconds ("2026-05-12T14:32:18.000Z"); timers use
 * the monotonic clock so that a wall-clock step never fires or starves one.
 */
#ifndef VOEPY_VTIME_H
#define VOEPY_VTIME_H

#include <stddef.h>
#include <stdint.h>

#define VTIME_ISO_LEN 32 /* buffer size for vtime_format() */

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t vtime_now_ms(void);
/* Milliseconds from an arbitrary start (CLOCK_MONOTONIC). */
uint64_t vtime_mono_ms(void);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ"; returns 0 or VP_E_OVERFLOW when out is too small. */
int vtime_format(int64_t epoch_ms, char *out, size_t outlen);
/*
 * Parse ISO-8601 date-time with a zone: "Z" or "+hh:mm"/"-hh:mm" (also "+hhmm"), optional
 * fraction of any length (kept to milliseconds). Returns 0 or VP_E_PARSE.
 */
int vtime_parse(const char *s, int64_t *epoch_ms);

#endif
