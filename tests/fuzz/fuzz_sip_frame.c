/* fuzz_sip_frame.c - cutting SIP messages out of a TCP byte stream: every frame it reports
 * must lie inside the bytes it was given. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sip_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t off = 0;
    while (off < size) {
        size_t skip = 0, msg_len = 0;
        if (sip_frame_next(buf + off, size - off, &skip, &msg_len) != 0)
            break;
        if (skip > size - off || msg_len > size - off - skip)
            abort();
        if (msg_len == 0 && skip == 0)
            break;
        off += skip + msg_len;
    }
    free(buf);
    return 0;
}
