/* fuzz_sdp.c - the SDP answer parser on bodies of any shape (exact-size copies). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    memcpy(body, data, size);
    struct sdp_answer a;
    if (sdp_parse_answer(body, size, &a) == 0) {
        /* What the parser accepts is what call-control hands to media-fork. */
        if (a.port <= 0 || a.port > 65535 || a.payload_type < 0 || a.payload_type > 127 ||
            (strcmp(a.codec, "PCMU") != 0 && strcmp(a.codec, "PCMA") != 0 &&
             strcmp(a.codec, "G722") != 0 && strcmp(a.codec, "OPUS") != 0))
            abort();
        /* A dynamic codec (OPUS) is only ever on a dynamic payload type (sdp.h). */
        if (strcmp(a.codec, "OPUS") == 0 && (a.payload_type < 96 || a.payload_type > 127))
            abort();
    }
    free(body);
    return 0;
}
