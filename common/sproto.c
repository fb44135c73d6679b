#include "sproto.h"

#include <stdbool.h>

static void
s_write_raw(msgpack_packer *pk, const void *data, size_t len)
{
    //  Already-packed MessagePack goes in as is.
    (void) pk->callback(pk->data, data, len);
}

void
sproto_pack_request(msgpack_packer *pk, uint64_t request_id, const char *op,
                    const void *args_packed, size_t args_len)
{
    mpk_pack_array(pk, 4);
    mpk_pack_u64(pk, SPROTO_VERSION);
    mpk_pack_u64(pk, request_id);
    mpk_pack_str(pk, op);
    if (args_packed && args_len)
        s_write_raw(pk, args_packed, args_len);
    else
        mpk_pack_array(pk, 0);
}

void
sproto_pack_reply(msgpack_packer *pk, uint64_t request_id, int rc, const char *message,
                  const void *result_packed, size_t result_len)
{
    mpk_pack_array(pk, 4);
    mpk_pack_u64(pk, request_id);
    mpk_pack_i64(pk, rc);
    mpk_pack_str(pk, message ? message : "");
    if (result_packed && result_len)
        s_write_raw(pk, result_packed, result_len);
    else
        mpk_pack_nil(pk);
}
