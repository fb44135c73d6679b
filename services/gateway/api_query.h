/*  api_query.h - the handlers that read a collective as a whole: search,
    watch (server-sent events from the WAL) and digest.
*/
#ifndef GW_API_QUERY_H
#define GW_API_QUERY_H

#include "api.h"

void api_search(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_watch(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_digest(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);

#endif
