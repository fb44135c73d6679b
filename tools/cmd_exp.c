/*  pulsedb put / get / search: one experience in, one out, nearest ones. */
#include "body.h"
#include "bounds.h"
#include "cli.h"
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#define EXP_CONTENT_SHOWN 60      // bytes of content in a search result line
#define EXP_K_DEFAULT 10

static const char s_put_help[] =
    "usage: pulsedb put COLLECTIVE --content TEXT --embedding '[0.1,...]'\n"
    "                   [--importance X] [--confidence X] [--domain a,b]\n"
    "                   [--tag KEY=VALUE]... [--url URL] [--json]\n"
    "Adds one experience and prints its id. COLLECTIVE is an id or a name.\n"
    "  --content TEXT        the experience (UTF-8, at most 64 KiB)\n"
    "  --embedding JSON      array of the collective's embedding size of numbers\n"
    "  --importance X        0..1 (server default when omitted)\n"
    "  --confidence X        0..1 (server default when omitted)\n"
    "  --domain a,b          comma-separated domain list (at most 32)\n"
    "  --tag KEY=VALUE       a tag; repeat for more (at most 64)\n"
    CLI_COMMON_HELP;

static const char s_get_help[] =
    "usage: pulsedb get EXPERIENCE_ID [--url URL] [--json]\n"
    "Shows one experience (the embedding abbreviated; --json prints all of it).\n"
    CLI_COMMON_HELP;

static const char s_search_help[] =
    "usage: pulsedb search COLLECTIVE --embedding '[0.1,...]' [--k N] [--url URL] [--json]\n"
    "Lists the K experiences nearest to the embedding (score, id, content).\n"
    "COLLECTIVE is an id or a name.\n"
    "  --embedding JSON      array of the collective's embedding size of numbers\n"
    "  --k N                 results, 1..1000 [10]\n"
    CLI_COMMON_HELP;

//  Sets key in body from the flag's value; returns 0 or writes `why`.
static int
s_put_option(json_t *body, const char *flag, const char *value, char *why)
{
    double unit;
    json_t *made = NULL;
    int rc = 0;
    if (strcmp(flag, "--content") == 0) {
        if (strlen(value) > PDB_CONTENT_MAX) {
            snprintf(why, PDB_ERRMSG_MAX, "--content: at most %u bytes", PDB_CONTENT_MAX);
            return PDB_EINVAL;
        }
        made = json_string(value);
        if (!made)
            snprintf(why, PDB_ERRMSG_MAX, "--content: not valid UTF-8");
        return made ? json_object_set_new(body, "content", made) : PDB_EINVAL;
    }
    if (strcmp(flag, "--embedding") == 0)
        rc = body_embedding(value, &made, why);
    else if (strcmp(flag, "--domain") == 0)
        rc = body_domain(value, &made, why);
    else if (strcmp(flag, "--tag") == 0) {
        json_t *tags = json_object_get(body, "tags");
        if (!tags) {
            tags = json_object();
            json_object_set_new(body, "tags", tags);   // body holds the reference
        }
        return body_tag_add(tags, value, why);
    }
    else {
        rc = args_double(flag, value, 0.0, 1.0, &unit, why);
        made = rc ? NULL : json_real(unit);
    }
    if (rc)
        return rc;
    return json_object_set_new(body, flag + 2, made);  // "--embedding" -> "embedding"
}

static int
s_put(cli_t *cli, json_t *body)
{
    const char *flag, *value, *collective = NULL;
    char why[PDB_ERRMSG_MAX];
    int rc;
    while ((rc = cli_next(cli, &flag, &value)) == 1) {
        if (!flag && collective)
            return cli_usage_error(cli, "too many arguments");
        else if (!flag)
            collective = value;
        else if (s_put_option(body, flag, value, why))
            return cli_usage_error(cli, why);
    }
    if (rc)
        return rc;
    if (!collective)
        return cli_usage_error(cli, "put needs a COLLECTIVE (id or name)");
    if (!json_object_get(body, "content") || !json_object_get(body, "embedding"))
        return cli_usage_error(cli, "put needs --content and --embedding");
    char id[64], path[128];
    rc = cli_collective(cli, collective, id);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "/v1/collectives/%s/experiences", id);
    client_reply_t reply;
    json_t *made;
    rc = cli_call(cli, "POST", path, body, &reply, &made);
    if (rc)
        return rc;
    if (cli->json)
        cli_print_raw(&reply);
    else
        printf("%s\n", json_string_value(json_object_get(made, "id")));
    json_decref(made);
    client_reply_release(&reply);
    return 0;
}

int
cmd_put(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_put_help);
    static const args_opt_t opts[] = {
        { "--content", true }, { "--embedding", true }, { "--importance", true },
        { "--confidence", true }, { "--domain", true }, { "--tag", true }, CLI_COMMON_OPTS
    };
    cli_t cli;
    int rc = cli_begin(&cli, "put", argc, argv, opts);
    json_t *body = json_object();
    if (rc == 0)
        rc = body ? s_put(&cli, body) : CLI_EXIT_FAIL;
    json_decref(body);
    cli_end(&cli);
    return rc;
}

static int
s_get(cli_t *cli)
{
    const char *flag, *value, *id = NULL;
    int rc;
    while ((rc = cli_next(cli, &flag, &value)) == 1) {
        if (id)
            return cli_usage_error(cli, "too many arguments");
        id = value;
    }
    if (rc)
        return rc;
    if (!id || !body_is_uuid(id))
        return cli_usage_error(cli, "get needs an EXPERIENCE_ID (a UUID)");
    char path[128];
    snprintf(path, sizeof path, "/v1/experiences/%s", id);
    client_reply_t reply;
    json_t *exp;
    rc = cli_call(cli, "GET", path, NULL, &reply, &exp);
    if (rc)
        return rc;
    if (cli->json)
        cli_print_raw(&reply);
    else
        cli_print_object(exp);
    json_decref(exp);
    client_reply_release(&reply);
    return 0;
}

int
cmd_get(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_get_help);
    static const args_opt_t opts[] = { CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "get", argc, argv, opts);
    if (rc == 0)
        rc = s_get(&cli);
    cli_end(&cli);
    return rc;
}

//  Bytes of text to show, at most max, never ending inside a UTF-8 sequence
//  or past a newline.
static int
s_shown_len(const char *text, size_t max)
{
    size_t n = strcspn(text, "\r\n");
    if (n <= max)
        return (int) n;
    n = max;
    while (n > 0 && ((unsigned char) text[n] & 0xC0) == 0x80)
        n--;
    return (int) n;
}

static void
s_print_results(const json_t *reply)
{
    const json_t *results = json_object_get(reply, "results");
    if (json_array_size(results) == 0) {
        printf("no results\n");
        return;
    }
    printf("%4s  %8s  %-36s  %s\n", "RANK", "SCORE", "ID", "CONTENT");
    size_t i;
    const json_t *r;
    json_array_foreach(results, i, r) {
        const json_t *exp = json_object_get(r, "experience");
        const char *content = json_string_value(json_object_get(exp, "content"));
        const char *rid = json_string_value(json_object_get(r, "id"));
        content = content ? content : "";
        int shown = s_shown_len(content, EXP_CONTENT_SHOWN);
        printf("%4zu  %8.4f  %-36s  %.*s%s\n", i + 1,
               json_number_value(json_object_get(r, "score")), rid ? rid : "?", shown,
               content, content[shown] ? "..." : "");
    }
}

static int
s_search(cli_t *cli)
{
    const char *flag, *value, *collective = NULL;
    json_t *embedding = NULL;
    uint64_t k = EXP_K_DEFAULT;
    char why[PDB_ERRMSG_MAX];
    int rc;
    while ((rc = cli_next(cli, &flag, &value)) == 1) {
        if (!flag && collective)
            rc = cli_usage_error(cli, "too many arguments");
        else if (!flag)
            collective = value;
        else if (strcmp(flag, "--k") == 0 && args_uint("--k", value, 1, PDB_SEARCH_K_MAX, &k, why))
            rc = cli_usage_error(cli, why);
        else if (strcmp(flag, "--embedding") == 0) {
            json_decref(embedding);
            embedding = NULL;
            if (body_embedding(value, &embedding, why))
                rc = cli_usage_error(cli, why);
        }
        if (rc != 1)
            break;
    }
    if (rc == 0 && (!collective || !embedding))
        rc = cli_usage_error(cli, "search needs a COLLECTIVE and --embedding");
    char id[64], path[128];
    if (rc == 0)
        rc = cli_collective(cli, collective, id);
    json_t *body = rc ? NULL : json_pack("{s:O, s:I}", "embedding", embedding, "k",
                                         (json_int_t) k);
    json_decref(embedding);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "/v1/collectives/%s/search", id);
    client_reply_t reply;
    json_t *found;
    rc = body ? cli_call(cli, "POST", path, body, &reply, &found) : CLI_EXIT_FAIL;
    json_decref(body);
    if (rc)
        return rc;
    if (cli->json)
        cli_print_raw(&reply);
    else
        s_print_results(found);
    json_decref(found);
    client_reply_release(&reply);
    return 0;
}

int
cmd_search(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_search_help);
    static const args_opt_t opts[] = { { "--embedding", true }, { "--k", true },
                                       CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "search", argc, argv, opts);
    if (rc == 0)
        rc = s_search(&cli);
    cli_end(&cli);
    return rc;
}
