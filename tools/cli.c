#include "cli.h"
#include "body.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_VECTOR_SHOWN 4      // numbers of an embedding shown before "..."

bool
cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int
cli_help(const char *text)
{
    fputs(text, stdout);
    return CLI_EXIT_OK;
}

int
cli_begin(cli_t *self, const char *cmd, int argc, char **argv, const args_opt_t *opts)
{
    memset(self, 0, sizeof *self);
    self->cmd = cmd;
    char why[PDB_ERRMSG_MAX];
    if (cfg_load(&self->cfg, argc, argv, self->rest, CLI_ARGS_MAX, &self->rest_n, why)) {
        fprintf(stderr, "error: %s\n", why);
        return CLI_EXIT_USAGE;
    }
    log_set_level(self->cfg.log_level);
    client_default_url(self->cfg.http_host, self->cfg.http_port, self->url, sizeof self->url);
    args_init(&self->args, argv, self->rest, self->rest_n, opts);
    return 0;
}

int
cli_usage_error(cli_t *self, const char *what)
{
    fprintf(stderr, "error: %s\n(see: pulsedb %s --help)\n", what, self->cmd);
    return CLI_EXIT_USAGE;
}

int
cli_next(cli_t *self, const char **flag, const char **value)
{
    char why[PDB_ERRMSG_MAX];
    while (true) {
        int rc = args_next(&self->args, flag, value, why);
        if (rc < 0)
            return cli_usage_error(self, why);
        if (rc == 0 || !*flag)
            return rc;
        if (strcmp(*flag, "--json") == 0)
            self->json = true;
        else if (strcmp(*flag, "--help") == 0 || strcmp(*flag, "-h") == 0)
            self->help = true;
        else if (strcmp(*flag, "--url") == 0) {
            if (strncmp(*value, "http://", 7) != 0 && strncmp(*value, "https://", 8) != 0)
                return cli_usage_error(self, "--url: expected http://HOST:PORT");
            snprintf(self->url, sizeof self->url, "%s", *value);
        }
        else
            return 1;
    }
}

static int
s_connect(cli_t *self)
{
    if (self->client)
        return 0;
    self->client = client_new(self->url, getenv(CLI_TOKEN_ENV));
    if (!self->client) {
        fprintf(stderr, "error: bad gateway URL '%.200s' or bad %s\n", self->url,
                CLI_TOKEN_ENV);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int
cli_call(cli_t *self, const char *method, const char *path, const json_t *body,
         client_reply_t *reply, json_t **parsed)
{
    memset(reply, 0, sizeof *reply);
    if (parsed)
        *parsed = NULL;
    int rc = s_connect(self);
    if (rc)
        return rc;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char why[PDB_ERRMSG_MAX];
    if (body && !text) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    rc = client_call(self->client, method, path, text, text ? strlen(text) : 0, reply, why);
    free(text);
    if (rc) {
        fprintf(stderr, "error: %s\n", why);
        return CLI_EXIT_FAIL;
    }
    if (reply->status < 200 || reply->status >= 300) {
        body_error_text(reply->status, reply->body, reply->len, why, sizeof why);
        fprintf(stderr, "error: %s\n", why);
        client_reply_release(reply);
        return CLI_EXIT_FAIL;
    }
    if (parsed) {
        *parsed = json_loadb(reply->body, reply->len, 0, NULL);
        if (!*parsed) {
            fprintf(stderr, "error: %s %s: the reply is not JSON\n", method, path);
            client_reply_release(reply);
            return CLI_EXIT_FAIL;
        }
    }
    return 0;
}

int
cli_get_bare(cli_t *self, const char *what, const char *path, client_reply_t *reply,
             json_t **parsed)
{
    const char *flag, *value;
    int rc = cli_next(self, &flag, &value);
    if (rc == 1) {
        char why[96];
        snprintf(why, sizeof why, "%s takes no arguments", what);
        return cli_usage_error(self, why);
    }
    return rc ? rc : cli_call(self, "GET", path, NULL, reply, parsed);
}

int
cli_collective(cli_t *self, const char *arg, char id[64])
{
    if (body_is_uuid(arg)) {
        snprintf(id, 64, "%s", arg);
        return s_connect(self);     // callers rely on the client existing after this
    }
    client_reply_t reply;
    json_t *list;
    int rc = cli_call(self, "GET", "/v1/collectives", NULL, &reply, &list);
    if (rc)
        return rc;
    const char *found = body_collective_id(list, arg);
    if (found)
        snprintf(id, 64, "%s", found);
    else
        fprintf(stderr, "error: not_found: no collective named '%.128s' (see: pulsedb "
                "collective list)\n", arg);
    json_decref(list);
    client_reply_release(&reply);
    return found ? 0 : CLI_EXIT_FAIL;
}

void
cli_print_raw(const client_reply_t *reply)
{
    fwrite(reply->body, 1, reply->len, stdout);
    if (reply->len == 0 || reply->body[reply->len - 1] != '\n')
        fputc('\n', stdout);
}

static bool
s_is_vector(const json_t *value)
{
    if (!json_is_array(value) || json_array_size(value) <= CLI_VECTOR_SHOWN)
        return false;
    size_t i;
    const json_t *x;
    json_array_foreach(value, i, x)
        if (!json_is_number(x))
            return false;
    return true;
}

static void
s_print_value(const char *key, const json_t *value)
{
    printf("%-22s ", key);
    if (json_is_string(value))
        printf("%s\n", json_string_value(value));
    else if (s_is_vector(value)) {
        printf("[%zu numbers:", json_array_size(value));
        for (size_t i = 0; i < CLI_VECTOR_SHOWN; i++)
            printf(" %g,", json_number_value(json_array_get(value, i)));
        printf(" ...]\n");
    }
    else {
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%s\n", text ? text : "?");
        free(text);
    }
}

static void
s_print_object(const char *prefix, const json_t *obj)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *) obj, key, value) {
        char name[128];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(value) && json_object_size(value) > 0)
            s_print_object(name, value);
        else
            s_print_value(name, value);
    }
}

void
cli_print_object(const json_t *obj)
{
    s_print_object("", obj);
}

void
cli_end(cli_t *self)
{
    client_destroy(&self->client);
}
