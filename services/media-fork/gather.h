/*
 * gather.h - collecting DTMF digits for `gather` (voepy-calls.txt, IVR primitives): a
 * pure state machine driven by digits and a clock the caller passes in (loop time in
 * the service, a fake clock in tests).
 *
 *   GATHER_IDLE --start(prompt)--> GATHER_PROMPTING --prompt done / first digit--+
 *        |                                                                        v
 *        +------------------------start(no prompt)------------------------> GATHER_WAITING
 *   PROMPTING, WAITING --terminating digit / maximum / timeout / cancel--> GATHER_DONE
 *
 * The parameters (their API names) mean:
 * - timeout_millis: how long to wait for the first digit, counted from the end of the
 *   prompt (or from the start without one). No digit by then: status "timeout".
 * - inter_digit_timeout_millis: after each digit, how long to wait for the next. When it
 *   passes the gather ends with the digits so far: "valid" if there are at least
 *   minimum_digits, else "invalid".
 * - terminating_digit: ends the gather at once; it is not part of the digits. With fewer
 *   than minimum_digits before it: "invalid" (also for a terminator pressed first).
 *   Absent (0): no terminator, every key is a digit.
 * - maximum_digits: the gather ends "valid" as soon as this many digits are collected.
 * - minimum_digits: fewer than this at the end is "invalid".
 * - A digit during the prompt stops the prompt (barge-in) and counts.
 * - stop_gather: "cancelled", with the digits collected so far.
 */
#ifndef MF_GATHER_H
#define MF_GATHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GATHER_MAX_DIGITS 128

enum gather_state {
    GATHER_IDLE,
    GATHER_PROMPTING, /* prompt playing: no timer runs */
    GATHER_WAITING,   /* deadline runs */
    GATHER_DONE,      /* status and digits final */
};

enum gather_status {
    GATHER_VALID,
    GATHER_INVALID,
    GATHER_TIMEOUT,
    GATHER_CANCELLED,
};

struct gather_params {
    unsigned min_digits, max_digits; /* 1 <= min <= max <= GATHER_MAX_DIGITS */
    char terminator;                 /* a DTMF character, or 0 for none */
    unsigned timeout_ms, inter_digit_ms;
};

struct gather {
    enum gather_state state;
    enum gather_status status; /* valid in GATHER_DONE */
    struct gather_params p;
    char digits[GATHER_MAX_DIGITS + 1];
    size_t n;
    uint64_t deadline; /* ms, valid in GATHER_WAITING */
};

/* VP_E_INVALID_PARAMETER when p is out of the ranges above; else 0. */
int gather_params_check(const struct gather_params *p);
/* Begin (p already checked): prompting waits for gather_prompt_done(). */
void gather_start(struct gather *g, const struct gather_params *p, bool prompting, uint64_t now);
/* The prompt ended (or was stopped): the first-digit timeout starts now. */
void gather_prompt_done(struct gather *g, uint64_t now);
/* A key press. Returns true when it ended the gather. Ignored unless prompting/waiting. */
bool gather_digit(struct gather *g, char digit, uint64_t now);
/* Returns true when a deadline passed and ended the gather now. */
bool gather_poll(struct gather *g, uint64_t now);
/* Ends a running gather as cancelled; returns whether one was running. */
bool gather_cancel(struct gather *g);
bool gather_running(const struct gather *g);

const char *gather_state_name(enum gather_state s);
const char *gather_status_name(enum gather_status s);

#endif
