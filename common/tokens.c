/*  tokens.c - the API token file: parsing and constant-time lookup.
*/
#include "tokens.h"
#include "secret.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    token_role_t role;
    size_t len;
    char token[TOKENS_LEN_MAX + 1];
    char label[TOKENS_LABEL_MAX + 1];
    char peer[TOKENS_PEER_NAME_MAX + 1];     // TOKEN_ROLE_PEER: the peer's name
} s_entry_t;

struct tokens {
    s_entry_t *entries;
    size_t n;
};

static const char *s_role_names[] = { "none", "read", "write", "admin", "peer" };

const char *
tokens_role_name(token_role_t role)
{
    return role <= TOKEN_ROLE_PEER ? s_role_names[role] : "none";
}

//  "read", "write" or "admin" -> 0 with *role, or PDB_EINVAL (a peer role
//  is parsed with its name by the file reader, not here).
static int
s_role_parse(const char *name, size_t len, token_role_t *role)
{
    for (token_role_t r = TOKEN_ROLE_READ; r <= TOKEN_ROLE_ADMIN; r++)
        if (strlen(s_role_names[r]) == len && memcmp(s_role_names[r], name, len) == 0) {
            *role = r;
            return 0;
        }
    return PDB_EINVAL;
}

static bool
s_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || strchr("-._~+/=", c) != NULL;
}

//  The next white-space separated word of the line at *p; len 0 at its end.
static const char *
s_word(const char **p, size_t *len)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
    const char *start = *p;
    while (**p && **p != ' ' && **p != '\t')
        (*p)++;
    *len = (size_t) (*p - start);
    return start;
}

//  "peer:NAME" with a sync peer name (peerspec_name_valid's characters).
static bool
s_peer_role(const char *word, size_t len, s_entry_t *e)
{
    size_t prefix = strlen(TOKENS_PEER_PREFIX);
    if (len <= prefix || len - prefix > TOKENS_PEER_NAME_MAX
        || memcmp(word, TOKENS_PEER_PREFIX, prefix) != 0)
        return false;
    for (size_t i = prefix; i < len; i++)
        if (!((word[i] >= 'a' && word[i] <= 'z') || (word[i] >= 'A' && word[i] <= 'Z')
              || (word[i] >= '0' && word[i] <= '9') || strchr("._-", word[i])))
            return false;
    e->role = TOKEN_ROLE_PEER;
    memcpy(e->peer, word + prefix, len - prefix);
    return true;
}

//  One non-comment line into e. Returns NULL or the problem.
static const char *
s_parse_line(const char *line, s_entry_t *e)
{
    const char *p = line;
    size_t len;
    const char *word = s_word(&p, &len);
    if (s_role_parse(word, len, &e->role) && !s_peer_role(word, len, e))
        return "does not start with a role (read, write, admin or peer:NAME)";
    word = s_word(&p, &len);
    if (len < TOKENS_LEN_MIN || len > TOKENS_LEN_MAX)
        return "has a token shorter than 16 or longer than 256 characters";
    for (size_t i = 0; i < len; i++)
        if (!s_token_char(word[i]))
            return "has a token with a character outside A-Z a-z 0-9 - . _ ~ + / =";
    memcpy(e->token, word, len);
    e->len = len;
    word = s_word(&p, &len);
    if (len > TOKENS_LABEL_MAX)
        return "has a label longer than 64 bytes";
    memcpy(e->label, word, len);
    s_word(&p, &len);
    return len ? "has more than a role, a token and a label" : NULL;
}

static const char *
s_duplicate(const tokens_t *self, const s_entry_t *e)
{
    for (size_t i = 0; i < self->n; i++) {
        const s_entry_t *other = &self->entries[i];
        if (other->len == e->len && memcmp(other->token, e->token, e->len) == 0)
            return "repeats a token of an earlier line";
        if (e->role == TOKEN_ROLE_PEER && other->role == TOKEN_ROLE_PEER
            && strcmp(other->peer, e->peer) == 0)
            return "gives a second token for the same peer";
    }
    return NULL;
}

//  Adds the line [line, end) unless it is blank or a comment.
static int
s_add_line(tokens_t *self, const char *line, size_t len, unsigned number, char *why)
{
    char text[TOKENS_LEN_MAX + TOKENS_LABEL_MAX + 64];
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t skip = strspn(line, " \t");
    if (skip >= len || line[skip] == '#')
        return 0;
    const char *problem = len >= sizeof text ? "is too long" : NULL;
    s_entry_t *e = &self->entries[self->n];
    memset(e, 0, sizeof *e);
    if (!problem) {
        memcpy(text, line, len);
        text[len] = '\0';
        problem = s_parse_line(text, e);
    }
    if (!problem && self->n == TOKENS_MAX)
        problem = "is one token too many (at most 1024)";
    if (!problem)
        problem = s_duplicate(self, e);
    if (problem) {
        snprintf(why, PDB_ERRMSG_MAX, "token file line %u %s", number, problem);
        return PDB_EINVAL;
    }
    self->n++;
    return 0;
}

int
tokens_parse(const char *text, tokens_t **out, char why[PDB_ERRMSG_MAX])
{
    *out = NULL;
    tokens_t *self = calloc(1, sizeof *self);
    if (!self || !(self->entries = calloc(TOKENS_MAX + 1, sizeof *self->entries))) {
        free(self);
        return -ENOMEM;
    }
    unsigned number = 1;
    for (const char *line = text; *line; number++) {
        size_t len = strcspn(line, "\n");
        int rc = s_add_line(self, line, len, number, why);
        if (rc) {
            tokens_destroy(&self);
            return rc;
        }
        line += len + (line[len] == '\n');
    }
    if (self->n == 0) {
        snprintf(why, PDB_ERRMSG_MAX, "token file holds no token: every request would be "
                 "refused (leave gateway/api_tokens empty to serve without tokens)");
        tokens_destroy(&self);
        return PDB_EINVAL;
    }
    *out = self;
    return 0;
}

int
tokens_load(const char *path, tokens_t **out, char why[PDB_ERRMSG_MAX])
{
    char *text = NULL;
    int rc = secret_file_read(path, &text, why);
    if (rc == 0)
        rc = tokens_parse(text, out, why);
    if (text) {
        memset(text, 0, strlen(text));   // no copies of secrets left in freed memory
        free(text);
    }
    return rc;
}

void
tokens_destroy(tokens_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tokens_t *self = *self_p;
    if (self->entries) {
        memset(self->entries, 0, (TOKENS_MAX + 1) * sizeof *self->entries);
        free(self->entries);
    }
    free(self);
    *self_p = NULL;
}

size_t
tokens_count(const tokens_t *self)
{
    return self->n;
}

token_role_t
tokens_role(const tokens_t *self, const char *token, size_t len, const char **label)
{
    token_role_t role = TOKEN_ROLE_NONE;
    const char *found = "";
    //  No early exit: every entry is compared whatever matched before.
    for (size_t i = 0; i < self->n; i++) {
        const s_entry_t *e = &self->entries[i];
        if (secret_equal(token, len, e->token, e->len)) {
            role = e->role;
            found = e->role == TOKEN_ROLE_PEER ? e->peer : e->label;
        }
    }
    if (label)
        *label = found;
    return role;
}

const char *
tokens_peer(const tokens_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->entries[i].role == TOKEN_ROLE_PEER && strcmp(self->entries[i].peer, name) == 0)
            return self->entries[i].token;
    return NULL;
}

bool
tokens_for_api(const tokens_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->entries[i].role != TOKEN_ROLE_PEER)
            return true;
    return false;
}
