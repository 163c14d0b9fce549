/*
 * The tone played when a recording starts (play_beep): 400 ms of 1 kHz at half scale, with
 * 5 ms ramps at both ends so it starts and stops without a click. Generated, not read
 * from a file: every node has it and nothing can be misconfigured.
 */
#include <math.h>
#include <stddef.h>

#include "audio_file.h"
#include "recorder.h"

#define BEEP_MS   400
#define BEEP_HZ   1000.0
#define BEEP_RAMP 40 /* samples: 5 ms */

struct audio *beep_audio(void)
{
    enum { N = AUDIO_RATE * BEEP_MS / 1000 };
    float pcm[N];
    for (size_t i = 0; i < N; i++) {
        double env = 0.5;
        if (i < BEEP_RAMP)
            env *= (double)i / BEEP_RAMP;
        else if (N - 1 - i < BEEP_RAMP)
            env *= (double)(N - 1 - i) / BEEP_RAMP;
        pcm[i] = (float)(env * sin(2.0 * M_PI * BEEP_HZ * (double)i / AUDIO_RATE));
    }
    struct audio *a = NULL;
    audio_from_float(pcm, N, AUDIO_RATE, &a); /* n and rate are not 0: cannot fail */
    return a;
}
