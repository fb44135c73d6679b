/*  api_entities.h - the handlers of collectives, experiences, relations and insights: create,
    read, list, patch, reinforce and delete, each written through storage
    and read back.
*/
#ifndef GW_API_ENTITIES_H
#define GW_API_ENTITIES_H

#include "api.h"

void api_collectives_list(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_collective_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_collective_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_collective_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_experiences_list(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_experience_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
//  POST .../experiences:batch (api_batch.c): many creates, one durable commit.
void api_experiences_batch(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_experience_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_experience_patch(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_experience_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_experience_reinforce(api_t *api, http_req_t *req, const pdb_id_t *id,
                              http_reply_t *reply);
void api_experience_relations(api_t *api, http_req_t *req, const pdb_id_t *id,
                              http_reply_t *reply);
void api_relation_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_relation_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_relation_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_insight_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_insight_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_insight_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);

#endif
