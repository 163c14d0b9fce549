/* fuzz_mf_command.c - media-fork's command parser (JSON from the voepy:mf:{node} stream). */
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "fuzz.h"
#include "voepy/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = '\0';
    struct mf_command c;
    struct vp_error e;
    command_parse(body, size, &c, &e);
    free(body);
    return 0;
}
