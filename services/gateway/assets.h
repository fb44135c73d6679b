/*  assets.h - files built into the gateway (services/gateway/CMakeLists.txt
    turns each into a C array with gen/embed.cmake), so a gateway serves
    them without reading anything at run time:

      assets_status_page   status_page.html: GET /
      assets_openapi_json  docs/openapi.yaml as JSON (gen/yaml2json.c):
                           GET /openapi.json

    Each array holds the file's bytes and one NUL after them; _len counts
    the bytes only.
*/
#ifndef GW_ASSETS_H
#define GW_ASSETS_H

#include <stddef.h>

extern const unsigned char assets_status_page[];
extern const size_t assets_status_page_len;
extern const unsigned char assets_openapi_json[];
extern const size_t assets_openapi_json_len;

#endif
