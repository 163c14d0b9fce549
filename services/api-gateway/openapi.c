/*
 * openapi.c - GET /v1/openapi.yaml: the contract document, public (no key).
 *
 * The bytes are proto/openapi.yaml as it was when the gateway was built: CMake embeds the
 * file into a generated source (embed.cmake -> openapi_doc.c), so the running binary needs
 * no file and always serves the contract it was built against.
 */
#include "api.h"

/* Defined in the generated openapi_doc.c; read-only, lives as long as the process. */
extern const char openapi_doc[];
extern const size_t openapi_doc_len;

void openapi_get(struct api_req *r)
{
    reply_header(r, "Cache-Control", "no-cache");
    reply_send_media(r, 200, "application/yaml", openapi_doc, openapi_doc_len);
}
