/*  pulsedb collective create NAME --dim N [--owner O]
    pulsedb collective list
*/
#include "bounds.h"
#include "cli.h"
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const char s_help[] =
    "usage: pulsedb collective create NAME --dim N [--owner OWNER] [--url URL] [--json]\n"
    "       pulsedb collective list [--url URL] [--json]\n"
    "  create   makes a collective; NAME is unique on this node (1..128 bytes),\n"
    "           --dim is the embedding size of its experiences (1..4096)\n"
    "  list     shows every collective: id, embedding size, name, owner\n"
    CLI_COMMON_HELP;

static int
s_create(cli_t *cli, const char *name, uint64_t dim, const char *owner)
{
    json_t *body = json_pack("{s:s, s:I}", "name", name, "embedding_dim", (json_int_t) dim);
    if (body && owner)
        json_object_set_new(body, "owner", json_string(owner));
    if (!body)
        return cli_usage_error(cli, "NAME and OWNER must be valid UTF-8");
    client_reply_t reply;
    json_t *made;
    int rc = cli_call(cli, "POST", "/v1/collectives", body, &reply, &made);
    json_decref(body);
    if (rc)
        return rc;
    if (cli->json)
        cli_print_raw(&reply);
    else
        printf("created collective %s id=%s dim=%lld\n", name,
               json_string_value(json_object_get(made, "id")),
               (long long) json_integer_value(json_object_get(made, "embedding_dim")));
    json_decref(made);
    client_reply_release(&reply);
    return 0;
}

static int
s_list(cli_t *cli)
{
    client_reply_t reply;
    json_t *list;
    int rc = cli_call(cli, "GET", "/v1/collectives", NULL, &reply, &list);
    if (rc)
        return rc;
    json_t *items = json_object_get(list, "collectives");
    if (cli->json)
        cli_print_raw(&reply);
    else if (json_array_size(items) == 0)
        printf("no collectives (create one with: pulsedb collective create NAME --dim N)\n");
    else {
        printf("%-36s  %5s  %-24s  %s\n", "ID", "DIM", "NAME", "OWNER");
        size_t i;
        json_t *c;
        json_array_foreach(items, i, c) {
            const char *owner = json_string_value(json_object_get(c, "owner"));
            printf("%-36s  %5lld  %-24s  %s\n", json_string_value(json_object_get(c, "id")),
                   (long long) json_integer_value(json_object_get(c, "embedding_dim")),
                   json_string_value(json_object_get(c, "name")), owner ? owner : "");
        }
    }
    json_decref(list);
    client_reply_release(&reply);
    return 0;
}

static int
s_run(cli_t *cli)
{
    const char *flag, *value, *action = NULL, *name = NULL, *owner = NULL;
    uint64_t dim = 0;
    int rc;
    char why[PDB_ERRMSG_MAX];
    while ((rc = cli_next(cli, &flag, &value)) == 1) {
        if (!flag && !action)
            action = value;
        else if (!flag && !name)
            name = value;
        else if (!flag)
            return cli_usage_error(cli, "too many arguments");
        else if (strcmp(flag, "--owner") == 0)
            owner = value;
        else if (args_uint("--dim", value, 1, PDB_DIM_MAX, &dim, why))
            return cli_usage_error(cli, why);
    }
    if (rc)
        return rc;
    if (action && strcmp(action, "list") == 0) {
        if (name || dim || owner)
            return cli_usage_error(cli, "list takes no arguments");
        return s_list(cli);
    }
    if (!action || strcmp(action, "create") != 0)
        return cli_usage_error(cli, "expected 'create' or 'list'");
    if (!name || !*name || strlen(name) > PDB_NAME_MAX)
        return cli_usage_error(cli, "create needs a NAME of 1..128 bytes");
    if (!dim)
        return cli_usage_error(cli, "create needs --dim N (the embedding size)");
    if (owner && strlen(owner) > PDB_NAME_MAX)
        return cli_usage_error(cli, "--owner: at most 128 bytes");
    return s_create(cli, name, dim, owner);
}

int
cmd_collective(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    static const args_opt_t opts[] = { { "--dim", true }, { "--owner", true },
                                       CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "collective", argc, argv, opts);
    if (rc == 0)
        rc = s_run(&cli);
    cli_end(&cli);
    return rc;
}
