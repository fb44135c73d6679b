/*  fuzz_texts.c - the texts an operator or a client writes that are not
    JSON or MessagePack: a sync/peers list (common/peerspec.h), a token file
    (common/tokens.h) and an embedding in base64 (embedding_b64, b64.h). The
    first byte picks one; the rest is the text.
    Promises checked: a refusal says why and hands nothing back, and a token
    file's refusal never quotes a token; a peers list that parses holds only
    peers the grammar allows, each named once; every token of a file that
    parses is known with its line's role and label; base64 decodes exactly
    when it is canonical, and to the bytes that encode back to it.
*/
#include "b64.h"
#include "err.h"
#include "fuzz_check.h"
#include "peerspec.h"
#include "tokens.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
s_peers(const char *text)
{
    peerspec_t *peers = (peerspec_t *) 1;
    size_t n = 1;
    char why[PDB_ERRMSG_MAX] = "";
    int rc = peerspec_list_parse(text, &peers, &n, why);
    if (rc) {
        if (rc != PDB_EINVAL && rc != -ENOMEM)
            FUZZ_FAIL("peers: unexpected code %d", rc);
        if (peers || n)
            FUZZ_FAIL("peers: a refusal handed peers back");
        if (rc == PDB_EINVAL && !why[0])
            FUZZ_FAIL("peers: refused without a reason");
        return;
    }
    if (n > PEERSPEC_LIST_MAX || (n > 0) != (peers != NULL))
        FUZZ_FAIL("peers: %zu peers", n);
    for (size_t i = 0; i < n; i++) {
        const peerspec_t *p = &peers[i];
        if (!peerspec_name_valid(p->name, strlen(p->name), PEERSPEC_LIST_NAME_MAX))
            FUZZ_FAIL("peers: a bad name was taken");
        for (size_t k = 0; k < i; k++)
            if (strcmp(peers[k].name, p->name) == 0)
                FUZZ_FAIL("peers: a name taken twice");
        if (strncmp(p->address, "tcp://", 6) != 0 && strncmp(p->address, "http://", 7) != 0
            && strncmp(p->address, "https://", 8) != 0)
            FUZZ_FAIL("peers: an address of another scheme was taken");
        if (p->direction != PEERSPEC_BOTH && p->direction != PEERSPEC_PUSH
            && p->direction != PEERSPEC_PULL)
            FUZZ_FAIL("peers: direction %d", (int) p->direction);
        if (p->collectives_n > PEERSPEC_COLLECTIVES_MAX)
            FUZZ_FAIL("peers: %zu collectives", p->collectives_n);
        size_t key = strlen(p->public_key);
        if (key != 0 && key != PEERSPEC_KEY_LEN)
            FUZZ_FAIL("peers: a key of %zu characters", key);
    }
    free(peers);
}

//  The next word of a token file line: runs of anything but space and tab.
static const char *
s_word(const char **p, const char *end, size_t *len)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
    const char *start = *p;
    while (*p < end && **p != ' ' && **p != '\t')
        (*p)++;
    *len = (size_t) (*p - start);
    return start;
}

//  Each line's token is known, with the line's role and label.
static void
s_tokens_known(const tokens_t *tokens, const char *text)
{
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        const char *end = line + len;
        while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        const char *p = line;
        size_t role_len, token_len, label_len;
        const char *role = s_word(&p, end, &role_len);
        if (role_len && role[0] != '#') {
            const char *token = s_word(&p, end, &token_len);
            const char *label = s_word(&p, end, &label_len);
            const char *known_label;
            token_role_t r = tokens_role(tokens, token, token_len, &known_label);
            bool peer = role_len > 5 && memcmp(role, TOKENS_PEER_PREFIX, 5) == 0;
            const char *want = peer ? "peer" : tokens_role_name(r);
            if (r == TOKEN_ROLE_NONE || strlen(want) != (peer ? 4 : role_len)
                || (!peer && memcmp(want, role, role_len) != 0) || (peer && r != TOKEN_ROLE_PEER))
                FUZZ_FAIL("tokens: a line's token is not known with its role");
            const char *expect = peer ? role + 5 : label;
            size_t expect_len = peer ? role_len - 5 : label_len;
            if (strlen(known_label) != expect_len || memcmp(known_label, expect, expect_len) != 0)
                FUZZ_FAIL("tokens: a line's token is known with another label");
        }
        line += len + (line[len] == '\n');
    }
}

static void
s_tokens(const char *text)
{
    tokens_t *tokens = NULL;
    char why[PDB_ERRMSG_MAX] = "";
    int rc = tokens_parse(text, &tokens, why);
    if (rc == 0) {
        if (!tokens || tokens_count(tokens) > TOKENS_MAX)
            FUZZ_FAIL("tokens: parsed into nothing or too much");
        s_tokens_known(tokens, text);
        tokens_destroy(&tokens);
        return;
    }
    if ((rc != PDB_EINVAL && rc != -ENOMEM) || tokens)
        FUZZ_FAIL("tokens: refused with code %d or handed something back", rc);
    if (rc == -ENOMEM)
        return;
    if (!why[0])
        FUZZ_FAIL("tokens: refused without a reason");
    //  No word of at least a token's shortest length is quoted back.
    for (const char *p = text, *end = text + strlen(text); p < end;) {
        size_t n = strcspn(p, " \t\r\n");
        if (n >= TOKENS_LEN_MIN && n < sizeof why) {
            char word[PDB_ERRMSG_MAX];
            memcpy(word, p, n);
            word[n] = '\0';
            if (strstr(why, word))
                FUZZ_FAIL("tokens: the reason quotes the text: %s", why);
        }
        p += n ? n : 1;
    }
}

static const char s_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

//  Standard padded base64 of bytes, into out (room for 4 * ceil(n / 3) + 1).
static size_t
s_encode(const uint8_t *bytes, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) bytes[i] << 16 | (i + 1 < n ? (uint32_t) bytes[i + 1] << 8 : 0)
                   | (i + 2 < n ? bytes[i + 2] : 0);
        out[o++] = s_alphabet[v >> 18 & 63];
        out[o++] = s_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? s_alphabet[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? s_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

//  True when text is what s_encode gives for some bytes: padded, in the
//  alphabet, '=' only as the last one or two characters, no bits left over.
static bool
s_canonical(const char *text, size_t len)
{
    if (len % 4)
        return false;
    size_t pad = len >= 1 && text[len - 1] == '=' ? (len >= 2 && text[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++)
        if (!text[i] || !strchr(s_alphabet, text[i]))
            return false;
    if (pad == 0)
        return true;
    size_t last = (size_t) (strchr(s_alphabet, text[len - pad - 1]) - s_alphabet);
    return pad == 2 ? (last & 15) == 0 : (last & 3) == 0;
}

static void
s_base64(const char *text, size_t len)
{
    static uint8_t out[B64_DECODED_MAX(PEERSPEC_TEXT_MAX) + 3];
    static char again[PEERSPEC_TEXT_MAX + 8];
    size_t n = 0;
    int rc = b64_decode(text, len, out, &n);
    if ((rc == 0) != s_canonical(text, len))
        FUZZ_FAIL("base64: %s canonical text", rc == 0 ? "took a non-" : "refused a");
    if (rc == 0 && (n > B64_DECODED_MAX(len) || s_encode(out, n, again) != len
                    || memcmp(again, text, len) != 0))
        FUZZ_FAIL("base64: the bytes do not encode back to the text");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len == 0 || len - 1 > PEERSPEC_TEXT_MAX)
        return 0;
    char *text = malloc(len);
    if (!text)
        return 0;
    memcpy(text, data + 1, len - 1);
    text[len - 1] = '\0';
    switch (data[0] % 3) {
    case 0: s_peers(text); break;
    case 1: s_tokens(text); break;
    default: s_base64((const char *) data + 1, len - 1); break;
    }
    free(text);
    return 0;
}
