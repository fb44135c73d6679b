/*  fuzz_json_map.c - a JSON request body into an entity's field map
    (services/gateway/json_map.h), as the HTTP API reads it. The first byte
    picks the entity type, operation, caller and embedding size; the rest
    is the body. An accepted body must come back out as JSON text
    (json_map_to_json, json_text_dump) that reads in again to the very same
    MessagePack: what the API shows a client, the client can write back.
    With the first byte's top bit set, the rest is a stored record instead
    (MessagePack, any bytes): json_map_write must write valid JSON, or
    refuse it and leave the text as it was.
*/
#include "entity.h"
#include "err.h"
#include "fuzz_check.h"
#include "json_map.h"
#include "json_text.h"
#include "mpk.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

typedef struct {
    ent_type_t type;
    change_op_t op;
    bool from_client;
    uint32_t dim;
} s_case_t;

static s_case_t
s_case(uint8_t b)
{
    return (s_case_t) { .type = (ent_type_t) (1 + (b & 3)),
                        .op = (change_op_t) (1 + ((b >> 2) & 3) % 3),
                        .from_client = (b >> 4) & 1, .dim = (b >> 5) & 1 ? 3 : 0 };
}

//  Converts a body; 0 and out filled (caller releases out either way).
static int
s_convert(const s_case_t *k, const json_t *body, mpk_out_t *out)
{
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_init(out);
    int rc = json_map_from_json(k->type, k->op, body, k->from_client, k->dim, out, why);
    if ((rc == PDB_EINVAL || rc == PDB_ETOOBIG) && why[0] == '\0')
        FUZZ_FAIL("json_map_from_json refused (rc=%d) without a reason", rc);
    return rc;
}

//  The accepted fields as the API would show them, as JSON text.
static char *
s_show(const s_case_t *k, const mpk_out_t *fields)
{
    msgpack_unpacked u;
    if (mpk_parse(fields->buf.data, fields->buf.size, &u) != 0)
        FUZZ_FAIL("json_map_from_json packed fields that do not parse");
    json_t *shown = json_object();
    if (!shown)
        FUZZ_FAIL("out of memory");
    int rc = json_map_to_json(k->type, &u.data, NULL, 0, shown);
    if (rc)
        FUZZ_FAIL("accepted fields do not convert back to JSON (rc=%d)", rc);
    char *text = json_text_dump(shown, NULL);
    if (!text)
        FUZZ_FAIL("out of memory");
    json_decref(shown);
    msgpack_unpacked_destroy(&u);
    return text;
}

static void
s_check_round_trip(const s_case_t *k, const mpk_out_t *first)
{
    char *text = s_show(k, first);
    json_error_t error;
    json_t *again = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!again)
        FUZZ_FAIL("shown fields are not JSON: %s: %s", error.text, text);
    mpk_out_t second;
    int rc = s_convert(k, again, &second);
    if (rc)
        FUZZ_FAIL("shown fields are refused (rc=%d): %s", rc, text);
    if (first->buf.size != second.buf.size
        || memcmp(first->buf.data, second.buf.data, first->buf.size) != 0)
        FUZZ_FAIL("shown fields read back to other bytes: %s", text);
    mpk_out_release(&second);
    json_decref(again);
    free(text);
}

//  A record as a read shows it: written into an object after one member.
static void
s_check_stored(const s_case_t *k, const uint8_t *data, size_t len)
{
    msgpack_unpacked u;
    if (mpk_parse(data, len, &u) != 0)
        return;
    static const char head[] = "{\"id\":1";
    json_text_t out = JSON_TEXT_INIT;
    json_text_puts(&out, head);
    bool first = false;
    int rc = json_map_write(k->type, &u.data, NULL, 0, &out, &first);
    msgpack_unpacked_destroy(&u);
    json_text_put(&out, "}", 1);
    size_t text_len = 0;
    char *text = json_text_take(&out, &text_len);
    if (!text)
        FUZZ_FAIL("out of memory");
    if (rc != 0 && rc != PDB_ECORRUPT)
        FUZZ_FAIL("json_map_write failed with rc=%d", rc);
    if (rc && strcmp(text, "{\"id\":1}") != 0)
        FUZZ_FAIL("a refused record left text behind: %s", text);
    json_error_t error;
    json_t *shown = json_loadb(text, text_len, 0, &error);
    if (!shown || !json_is_object(shown))
        FUZZ_FAIL("a stored record is shown as invalid JSON: %s: %s", error.text, text);
    json_decref(shown);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    s_case_t k = s_case(data[0]);
    if (data[0] & 0x80) {
        s_check_stored(&k, data + 1, len - 1);
        return 0;
    }
    json_error_t error;
    json_t *body = json_loadb((const char *) data + 1, len - 1, JSON_REJECT_DUPLICATES, &error);
    if (!body)
        return 0;
    mpk_out_t out;
    if (s_convert(&k, body, &out) == 0)
        s_check_round_trip(&k, &out);
    mpk_out_release(&out);
    json_decref(body);
    return 0;
}
