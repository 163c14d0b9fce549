/* The plays waiting on a leg; see play_queue.h. A ring of PLAY_QUEUE_MAX items. */
#include "play_queue.h"

#include <string.h>

static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static struct play_item *at(struct play_queue *q, unsigned i)
{
    return &q->items[(q->head + i) % PLAY_QUEUE_MAX];
}

static int find(struct play_queue *q, uint32_t token)
{
    for (unsigned i = 0; token && i < q->count; i++)
        if (at(q, i)->token == token)
            return (int)i;
    return -1;
}

uint32_t play_queue_push(struct play_queue *q, struct audio *a, unsigned loops, const char *id,
                         const char *reply_to)
{
    if (q->count == PLAY_QUEUE_MAX)
        return 0;
    if (++q->next_token == 0) /* wrapped: 0 means "full" */
        q->next_token = 1;
    struct play_item *it = at(q, q->count++);
    it->token = q->next_token;
    it->audio = a;
    it->loops = loops ? loops : 1;
    copy(it->id, sizeof(it->id), id);
    copy(it->reply_to, sizeof(it->reply_to), reply_to);
    return it->token;
}

bool play_queue_ready(struct play_queue *q, uint32_t token, struct audio *a)
{
    int i = find(q, token);
    if (i < 0 || at(q, (unsigned)i)->audio)
        return false;
    at(q, (unsigned)i)->audio = a;
    return true;
}

const struct play_item *play_queue_head(const struct play_queue *q)
{
    return q->count ? &q->items[q->head] : NULL;
}

bool play_queue_take(struct play_queue *q, uint32_t token, struct play_item *out)
{
    int i = find(q, token);
    if (i < 0)
        return false;
    *out = *at(q, (unsigned)i);
    for (unsigned k = (unsigned)i; k + 1 < q->count; k++) /* close the gap, order kept */
        *at(q, k) = *at(q, k + 1);
    q->count--;
    return true;
}

bool play_queue_pop(struct play_queue *q, struct play_item *out)
{
    if (!q->count)
        return false;
    *out = q->items[q->head];
    q->head = (q->head + 1) % PLAY_QUEUE_MAX;
    q->count--;
    return true;
}

unsigned play_queue_count(const struct play_queue *q)
{
    return q->count;
}
