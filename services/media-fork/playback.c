/* Frame-by-frame playback of decoded audio; see playback.h. */
#include "playback.h"

#include <string.h>

#include "audio_file.h"

void playback_start(struct playback *p, struct audio *a, unsigned loops)
{
    playback_stop(p);
    p->audio = a;
    p->pos = 0;
    p->loops_left = loops ? loops - 1 : 0;
}

bool playback_active(const struct playback *p)
{
    return p->audio != NULL;
}

void playback_stop(struct playback *p)
{
    audio_unref(p->audio);
    p->audio = NULL;
    p->pos = 0;
}

bool playback_next(struct playback *p, int16_t pcm[PLAYBACK_FRAME])
{
    if (!p->audio)
        return false;
    size_t n;
    const int16_t *s = audio_samples(p->audio, &n);
    if (p->pos >= n) {
        if (p->loops_left == 0) {
            playback_stop(p);
            return false;
        }
        p->loops_left--;
        p->pos = 0;
    }
    size_t take = n - p->pos < PLAYBACK_FRAME ? n - p->pos : PLAYBACK_FRAME;
    memcpy(pcm, s + p->pos, take * sizeof(int16_t));
    memset(pcm + take, 0, (PLAYBACK_FRAME - take) * sizeof(int16_t));
    p->pos += take;
    return true;
}
