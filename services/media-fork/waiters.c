/* The callers of one audio job, told together; see waiters.h. */
#include "waiters.h"

#include <stdlib.h>

#include "audio_file.h"
#include "voepy/alloc.h"

struct waiter {
    struct waiter *next;
    audio_load_cb *cb;
    void *arg;
};

void waiters_add(struct waiters *ws, audio_load_cb *cb, void *arg)
{
    struct waiter *w = VP_NEW(w);
    *w = (struct waiter){ws->head, cb, arg};
    ws->head = w;
}

void waiters_tell(struct waiters *ws, struct audio *a, const struct vp_error *e)
{
    while (ws->head) {
        struct waiter *w = ws->head;
        ws->head = w->next; /* off the list before its callback runs */
        if (a)
            audio_ref(a);
        w->cb(a, a ? NULL : e, w->arg);
        free(w);
    }
}
