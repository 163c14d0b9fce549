/* The gather state machine; see gather.h for the meaning of each parameter. */
#include "gather.h"

#include <assert.h>
#include <string.h>

#include "rfc4733.h"
#include "voepy/err.h"

const char *gather_state_name(enum gather_state s)
{
    switch (s) {
    case GATHER_IDLE:
        return "idle";
    case GATHER_PROMPTING:
        return "prompting";
    case GATHER_WAITING:
        return "waiting";
    case GATHER_DONE:
        return "done";
    }
    return "unknown";
}

const char *gather_status_name(enum gather_status s)
{
    switch (s) {
    case GATHER_VALID:
        return "valid";
    case GATHER_INVALID:
        return "invalid";
    case GATHER_TIMEOUT:
        return "timeout";
    case GATHER_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

int gather_params_check(const struct gather_params *p)
{
    if (p->min_digits < 1 || p->min_digits > p->max_digits || p->max_digits > GATHER_MAX_DIGITS)
        return VP_E_INVALID_PARAMETER;
    if (p->terminator && rfc4733_code(p->terminator) < 0)
        return VP_E_INVALID_PARAMETER;
    if (p->timeout_ms == 0 || p->inter_digit_ms == 0)
        return VP_E_INVALID_PARAMETER;
    return 0;
}

/* The one place the state changes; asserts the transition is legal. */
static void set_state(struct gather *g, enum gather_state to)
{
    assert(to == GATHER_PROMPTING || to == GATHER_WAITING ? g->state != GATHER_DONE : true);
    assert(to != GATHER_DONE || g->state == GATHER_PROMPTING || g->state == GATHER_WAITING);
    g->state = to;
}

static void finish(struct gather *g, enum gather_status st)
{
    set_state(g, GATHER_DONE);
    g->status = st;
}

void gather_start(struct gather *g, const struct gather_params *p, bool prompting, uint64_t now)
{
    memset(g, 0, sizeof(*g));
    g->p = *p;
    set_state(g, prompting ? GATHER_PROMPTING : GATHER_WAITING);
    g->deadline = now + p->timeout_ms;
}

bool gather_running(const struct gather *g)
{
    return g->state == GATHER_PROMPTING || g->state == GATHER_WAITING;
}

void gather_prompt_done(struct gather *g, uint64_t now)
{
    if (g->state != GATHER_PROMPTING)
        return;
    set_state(g, GATHER_WAITING);
    g->deadline = now + g->p.timeout_ms;
}

bool gather_digit(struct gather *g, char digit, uint64_t now)
{
    if (!gather_running(g))
        return false;
    if (g->p.terminator && digit == g->p.terminator) {
        finish(g, g->n >= g->p.min_digits ? GATHER_VALID : GATHER_INVALID);
        return true;
    }
    g->digits[g->n++] = digit;
    g->digits[g->n] = '\0';
    if (g->n >= g->p.max_digits) {
        finish(g, GATHER_VALID);
        return true;
    }
    if (g->state == GATHER_PROMPTING)
        set_state(g, GATHER_WAITING);
    g->deadline = now + g->p.inter_digit_ms;
    return false;
}

bool gather_poll(struct gather *g, uint64_t now)
{
    if (g->state != GATHER_WAITING || now < g->deadline)
        return false;
    if (g->n == 0)
        finish(g, GATHER_TIMEOUT);
    else
        finish(g, g->n >= g->p.min_digits ? GATHER_VALID : GATHER_INVALID);
    return true;
}

bool gather_cancel(struct gather *g)
{
    if (!gather_running(g))
        return false;
    finish(g, GATHER_CANCELLED);
    return true;
}
