/*
 * Helpers shared by the two kinds of dialog (sip_dialog.h).
 */
#include "sip_dialog.h"

#include "voepy/err.h"

int sip_dialog_add_headers(osip_message_t *m, const struct sip_dialog_req *r)
{
    for (const char *const *h = r->headers; h && h[0]; h += 2) {
        if (!h[1] || osip_message_set_header(m, h[0], h[1]) != 0)
            return VP_E_INVALID_PARAMETER;
    }
    return 0;
}
