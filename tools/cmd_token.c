/*  pulsedb token new ROLE [LABEL] --file FILE - makes an API token and
    appends it to a token file (gateway/api_tokens), created owner-only.
    The token is printed once, on stdout; the file is its only other copy.
*/
#include "args.h"
#include "cli.h"
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_RANDOM_BYTES 32     // 256 bits: beyond any guessing
#define TOKEN_LABEL_MAX 64        // as the gateway's token file allows

static const char s_help[] =
    "usage: pulsedb token new ROLE [LABEL] --file FILE\n"
    "Makes a random token with ROLE (read, write, admin or peer:NAME), appends the line\n"
    "'ROLE TOKEN LABEL' to FILE (created readable by its owner only) and prints\n"
    "the token. Start the node with --api-tokens FILE; clients send the token as\n"
    "'Authorization: Bearer TOKEN' (the pulsedb command: PULSEDB_TOKEN=TOKEN).\n"
    "Roles: read (GET, search, watch, status, metrics), write (also creates,\n"
    "updates and deletes experiences, relations, insights), admin (also deletes\n"
    "collectives and manages sync peers), peer:NAME (the token this node and HTTP\n"
    "sync peer NAME share: put the same token under peer:THIS-NODE in that peer's\n"
    "file; it opens /v1/sync/OP and nothing else).\n";

static bool
s_label_valid(const char *label)
{
    size_t len = strlen(label);
    if (len == 0 || len > TOKEN_LABEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (label[i] <= ' ' || label[i] > '~')
            return false;
    return true;
}

static int
s_random_hex(char out[2 * TOKEN_RANDOM_BYTES + 1])
{
    unsigned char bytes[TOKEN_RANDOM_BYTES];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t) sizeof bytes)
        return -errno;
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    memset(bytes, 0, sizeof bytes);
    return 0;
}

//  Appends line to path, creating it 0600; refuses a file others can read.
static int
s_append(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "error: cannot open %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_FAIL;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        fprintf(stderr, "error: %s is not a regular file readable by its owner only "
                "(chmod 600 it)\n", path);
        close(fd);
        return CLI_EXIT_FAIL;
    }
    size_t len = strlen(line);
    bool ok = write(fd, line, len) == (ssize_t) len && fsync(fd) == 0;
    if (!ok)
        fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(errno));
    return close(fd) == 0 && ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
s_new(const char *role, const char *label, const char *file)
{
    bool peer = strncmp(role, "peer:", 5) == 0
             && peerspec_name_valid(role + 5, strlen(role + 5), PEERSPEC_NAME_MAX);
    if (!peer && strcmp(role, "read") && strcmp(role, "write") && strcmp(role, "admin")) {
        fprintf(stderr, "error: ROLE must be read, write, admin or peer:NAME, not '%.32s'\n",
                role);
        return CLI_EXIT_USAGE;
    }
    if (label && !s_label_valid(label)) {
        fprintf(stderr, "error: LABEL must be 1..64 printable characters without spaces\n");
        return CLI_EXIT_USAGE;
    }
    char token[2 * TOKEN_RANDOM_BYTES + 1], line[2 * TOKEN_RANDOM_BYTES + 128];
    int rc = s_random_hex(token);
    if (rc) {
        fprintf(stderr, "error: no randomness: %s\n", strerror(-rc));
        return CLI_EXIT_FAIL;
    }
    snprintf(line, sizeof line, "%s %s%s%s\n", role, token, label ? " " : "", label ? label : "");
    rc = s_append(file, line);
    if (rc == CLI_EXIT_OK)
        printf("%s\n", token);
    memset(token, 0, sizeof token);
    memset(line, 0, sizeof line);
    return rc;
}

int
cmd_token(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    static const args_opt_t opts[] = { { "--file", true }, { NULL, false } };
    int idx[CLI_ARGS_MAX], n = 0;
    for (int i = 1; i < argc && n < CLI_ARGS_MAX; i++)
        idx[n++] = i;
    args_t args;
    args_init(&args, argv, idx, n, opts);
    const char *words[3] = { NULL, NULL, NULL }, *file = NULL, *flag, *value;
    size_t words_n = 0;
    char why[PDB_ERRMSG_MAX];
    int rc;
    while ((rc = args_next(&args, &flag, &value, why)) == 1) {
        if (flag)
            file = value;
        else if (words_n < 3)
            words[words_n++] = value;
        else
            words_n = 4;
    }
    if (rc) {
        fprintf(stderr, "error: %s (see: pulsedb token --help)\n", why);
        return CLI_EXIT_USAGE;
    }
    if (words_n < 2 || words_n > 3 || strcmp(words[0], "new") != 0 || !file || !*file) {
        fprintf(stderr, "error: expected: pulsedb token new ROLE [LABEL] --file FILE\n");
        return CLI_EXIT_USAGE;
    }
    return s_new(words[1], words[2], file);
}
