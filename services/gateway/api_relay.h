/*  api_relay.h - the sync protocol over HTTP: the body goes unchanged to
    the syncer (syncrelay.h).
*/
#ifndef GW_API_RELAY_H
#define GW_API_RELAY_H

#include "api.h"

//  POST /v1/sync/{hello,push,pull,snapshot}: the sync protocol over HTTP,
//  relayed to the syncer.
void api_relay(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);

#endif
