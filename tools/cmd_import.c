/*  pulsedb import COLLECTIVE FILE.jsonl - posts the experiences of a file,
    one per line, in batches (POST .../experiences:batch, up to --batch
    lines or the body limit each, one durable commit per batch), a few
    requests in flight at once (libcurl multi, connections reused).

    A line that is not an experience object, or that the server refuses, is
    reported with its number and counted as failed; the import goes on
    unless --strict. A batch is written whole or not at all: when the server
    refuses one of its items, that line is reported and the others are sent
    again without it. If the gateway cannot be reached at all the import
    stops: every further line would fail the same way.
*/
#include "bounds.h"
#include "cli.h"
#include "clock.h"
#include "cmd.h"
#include "body.h"
#include "ibatch.h"
#include "jsonl.h"
#include "progress.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define IMPORT_CONCURRENCY_DEFAULT 4u   // a few: enough to fill a group commit
#define IMPORT_CONCURRENCY_MAX 64u
#define IMPORT_POLL_MS 100
//  Lines per request: the server's limit. Fewer when 1 MiB of lines comes first.
#define IMPORT_BATCH_DEFAULT PDB_WRITE_BATCH_MAX

static const char s_help[] =
    "usage: pulsedb import COLLECTIVE FILE.jsonl [--concurrency N] [--batch N]\n"
    "                      [--strict] [--url URL] [--json]\n"
    "Adds the experiences of FILE (one JSON object per line, as accepted by\n"
    "POST /v1/collectives/{id}/experiences; '-' reads standard input).\n"
    "COLLECTIVE is an id or a name. Blank lines are skipped. A bad line is\n"
    "reported with its number and the import goes on; at the end it prints the\n"
    "imported and failed counts and exits 1 if any line failed. Progress goes to\n"
    "standard error: a bar with rate and ETA on a terminal, else a line per 10%.\n"
    "Lines go in batches (one request and one durable commit each, all or none);\n"
    "a line the server refuses is reported and the rest of its batch sent again.\n"
    "  --concurrency N       requests in flight, 1..64 [4]\n"
    "  --batch N             lines per request, 1..1000 (and at most 1 MiB) [1000]\n"
    "  --strict              stop at the first failed line\n"
    "  --json                print the final counts as JSON\n"
    CLI_COMMON_HELP;

typedef struct {
    cli_t *cli;
    FILE *in;
    const char *file;
    char path[128];               // POST target
    unsigned concurrency;
    unsigned batch_max;           // lines per request
    ibatch_t *open;               // the batch being filled
    bool strict;
    progress_t progress;          // on stderr
    CURLM *multi;
    char *line;                   // read buffer
    size_t line_cap;
    uint64_t lineno;
    uint64_t total;               // non-blank lines, 0 when unknown (stdin)
    uint64_t imported, failed;
    unsigned inflight;
    bool eof, stop, unreachable;
    char unreachable_why[PDB_ERRMSG_MAX];
    uint64_t started_ms;
} import_t;

//  Reads one line of at most PDB_HTTP_BODY_MAX bytes (plus newline) into
//  self->line. Longer lines are read through and flagged, never kept.
//  Returns 1 with *len set, or 0 at end of input.
static int
s_read_line(import_t *self, size_t *len, bool *too_long)
{
    *len = 0;
    *too_long = false;
    bool any = false;
    while (true) {
        if (self->line_cap - *len < 4096 && self->line_cap < PDB_HTTP_BODY_MAX + 2) {
            size_t cap = self->line_cap ? self->line_cap * 2 : 65536;
            cap = cap > PDB_HTTP_BODY_MAX + 2 ? PDB_HTTP_BODY_MAX + 2 : cap;
            char *grown = realloc(self->line, cap);
            if (!grown)
                return 0;
            self->line = grown;
            self->line_cap = cap;
        }
        size_t room = self->line_cap - *len;
        if (room < 2) {                  // over the cap: discard from here on
            *too_long = true;
            *len = 0;
            room = self->line_cap;
        }
        if (!fgets(self->line + *len, (int) room, self->in))
            return any;
        any = true;
        *len += strlen(self->line + *len);
        if (*len > 0 && self->line[*len - 1] == '\n')
            return 1;
    }
}

//  Counts non-blank lines for the progress total, then rewinds. Leaves 0
//  (unknown) for input that cannot be rewound.
static void
s_count(import_t *self)
{
    if (self->in == stdin || fseek(self->in, 0, SEEK_SET) != 0)
        return;
    size_t len;
    bool too_long;
    uint64_t n = 0;
    while (s_read_line(self, &len, &too_long))
        n += too_long || strspn(self->line, " \t\r\n") < len;   // not blank
    if (fseek(self->in, 0, SEEK_SET) == 0)
        self->total = n;
    clearerr(self->in);
}

//  The open batch, handed over (NULL when none is open).
static ibatch_t *
s_take_open(import_t *self)
{
    ibatch_t *ready = self->open;
    self->open = NULL;
    return ready;
}

//  One failed line: its number and why, on its own line above the bar.
static void
s_line_failed(import_t *self, uint64_t lineno, const char *why)
{
    char text[PATH_MAX + PDB_ERRMSG_MAX + 32];
    snprintf(text, sizeof text, "%s:%llu: %s", self->file, (unsigned long long) lineno, why);
    progress_print(&self->progress, stderr, text);
    self->failed++;
    if (self->strict)
        self->stop = true;
}

//  Adds the current line to the open batch. Returns the batch when it is
//  ready to send (full, or this line did not fit and opens the next one).
static ibatch_t *
s_add_line(import_t *self, const char *text, size_t len)
{
    if (!self->open)
        self->open = ibatch_new(self->batch_max);
    if (self->open && ibatch_add(self->open, text, len, self->lineno))
        return self->open->n < self->batch_max ? NULL : s_take_open(self);
    ibatch_t *ready = self->open && self->open->n > 0 ? s_take_open(self) : NULL;
    if (!self->open)
        self->open = ibatch_new(self->batch_max);
    if (!self->open || !ibatch_add(self->open, text, len, self->lineno))
        s_line_failed(self, self->lineno, "out of memory");
    return ready;
}

//  Reads lines until a batch is ready to send (returns it) or the input
//  ends (returns the last one, or NULL). Bad lines are reported on the way.
static ibatch_t *
s_next_batch(import_t *self)
{
    size_t len, start, body_len;
    bool too_long;
    char why[PDB_ERRMSG_MAX];
    while (!self->stop && s_read_line(self, &len, &too_long)) {
        self->lineno++;
        int rc = too_long ? PDB_ETOOBIG : jsonl_check(self->line, len, &start, &body_len, why);
        if (rc == JSONL_BLANK)
            continue;
        if (!rc && !ibatch_fits(body_len))
            rc = PDB_ETOOBIG;
        if (rc == PDB_ETOOBIG)
            snprintf(why, sizeof why, "line longer than a batch request can carry (%u bytes)",
                     PDB_HTTP_BODY_MAX);
        if (rc) {
            s_line_failed(self, self->lineno, why);
            continue;
        }
        ibatch_t *full = s_add_line(self, self->line + start, body_len);
        if (full)
            return full;
    }
    self->eof = true;
    return s_take_open(self);
}

//  Sends a batch; it rides with its request (the tag) until s_finish.
static void
s_submit(import_t *self, ibatch_t *batch)
{
    ibatch_close(batch);
    client_req_t *req = client_req_new(self->cli->client, "POST", self->path, batch->body,
                                       batch->len, (unsigned long long) (uintptr_t) batch);
    if (!req) {
        for (size_t i = 0; i < batch->n; i++)
            s_line_failed(self, batch->lines[i], "out of memory");
        ibatch_destroy(&batch);
        return;
    }
    curl_multi_add_handle(self->multi, client_req_easy(req));
    self->inflight++;      // req (and batch) now owned by the multi until it completes
}

static void
s_fill(import_t *self)
{
    while (self->inflight < self->concurrency && !self->eof && !self->stop) {
        ibatch_t *batch = s_next_batch(self);
        if (batch)
            s_submit(self, batch);
    }
}

//  The item a refusal names ("index" in the error object), or false.
static bool
s_refused_index(const client_reply_t *reply, size_t n, size_t *index)
{
    json_t *root = json_loadb(reply->body, reply->len, 0, NULL);
    json_t *value = json_object_get(json_object_get(root, "error"), "index");
    bool found = json_is_integer(value) && json_integer_value(value) >= 0
              && (uint64_t) json_integer_value(value) < n;
    if (found)
        *index = (size_t) json_integer_value(value);
    json_decref(root);
    return found;
}

//  A refused batch: the item it names is reported and the others go again;
//  without a named item, every line of the batch failed for the same reason.
static void
s_refused(import_t *self, ibatch_t *batch, const client_reply_t *reply)
{
    char why[PDB_ERRMSG_MAX], text[PDB_ERRMSG_MAX + 8], prefix[48];
    body_error_text(reply->status, reply->body, reply->len, why, sizeof why);
    size_t index;
    if (!s_refused_index(reply, batch->n, &index)) {
        snprintf(text, sizeof text, "error: %s", why);
        for (size_t i = 0; i < batch->n; i++)
            s_line_failed(self, batch->lines[i], text);
        return;
    }
    //  The line number says which item it was: the request's own index goes.
    snprintf(prefix, sizeof prefix, "experiences[%zu]: ", index);
    char *at = strstr(why, prefix);
    if (at)
        memmove(at, at + strlen(prefix), strlen(at + strlen(prefix)) + 1);
    snprintf(text, sizeof text, "error: %s", why);
    s_line_failed(self, batch->lines[index], text);
    if (self->stop || batch->n == 1)
        return;
    ibatch_t *rest = ibatch_without(batch, index);
    if (rest)
        s_submit(self, rest);
    else
        for (size_t i = 0; i < batch->n; i++)
            if (i != index)
                s_line_failed(self, batch->lines[i], "out of memory");
}

static void
s_finish(import_t *self, CURLMsg *msg)
{
    client_req_t *req = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
    curl_multi_remove_handle(self->multi, msg->easy_handle);
    self->inflight--;
    ibatch_t *batch = (ibatch_t *) (uintptr_t) client_req_tag(req);
    client_reply_t reply;
    char why[PDB_ERRMSG_MAX];
    int rc = client_req_result(req, msg->data.result, &reply, why);
    if (rc == PDB_EUNAVAIL) {
        //  Reported once, at the end: every further line would fail alike.
        if (!self->unreachable)
            snprintf(self->unreachable_why, sizeof self->unreachable_why, "%s", why);
        self->unreachable = self->stop = true;
    }
    else if (rc)
        for (size_t i = 0; i < batch->n; i++)
            s_line_failed(self, batch->lines[i], why);
    else if (reply.status < 200 || reply.status >= 300)
        s_refused(self, batch, &reply);
    else
        self->imported += batch->n;
    client_reply_release(&reply);
    client_req_destroy(&req);
    ibatch_destroy(&batch);
}

static void
s_run(import_t *self)
{
    self->started_ms = clock_mono_ms();
    progress_begin(&self->progress, stderr, isatty(STDERR_FILENO), "import", self->started_ms);
    s_fill(self);
    while (self->inflight > 0) {
        int running;
        curl_multi_perform(self->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(self->multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                s_finish(self, msg);
        s_fill(self);
        progress_update(&self->progress, self->imported + self->failed, self->total,
                        self->failed, clock_mono_ms());
        if (self->inflight > 0)
            curl_multi_poll(self->multi, NULL, 0, IMPORT_POLL_MS, NULL);
    }
    progress_update(&self->progress, self->imported + self->failed, self->total, self->failed,
                    clock_mono_ms());
    progress_end(&self->progress, clock_mono_ms());
}

static int
s_report(import_t *self)
{
    uint64_t ms = clock_mono_ms() - self->started_ms;
    if (self->unreachable)
        fprintf(stderr, "error: %s\n", self->unreachable_why);
    if (self->cli->json)
        printf("{\"imported\":%llu,\"failed\":%llu,\"stopped\":%s}\n",
               (unsigned long long) self->imported, (unsigned long long) self->failed,
               self->stop ? "true" : "false");
    else
        printf("imported %llu, failed %llu%s in %.1fs (%.0f/s)\n",
               (unsigned long long) self->imported, (unsigned long long) self->failed,
               self->stop ? " (stopped early)" : "", (double) ms / 1000.0,
               progress_rate(self->imported, ms));
    return self->failed || self->stop ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

//  Parses the arguments into self; returns 0 or an exit code.
static int
s_parse(import_t *self, const char **collective)
{
    const char *flag, *value;
    char why[PDB_ERRMSG_MAX];
    uint64_t n;
    int rc;
    while ((rc = cli_next(self->cli, &flag, &value)) == 1) {
        if (!flag && !*collective)
            *collective = value;
        else if (!flag && !self->file)
            self->file = value;
        else if (!flag)
            return cli_usage_error(self->cli, "too many arguments");
        else if (strcmp(flag, "--strict") == 0)
            self->strict = true;
        else if (strcmp(flag, "--batch") == 0) {
            if (args_uint("--batch", value, 1, PDB_WRITE_BATCH_MAX, &n, why))
                return cli_usage_error(self->cli, why);
            self->batch_max = (unsigned) n;
        }
        else if (args_uint("--concurrency", value, 1, IMPORT_CONCURRENCY_MAX, &n, why))
            return cli_usage_error(self->cli, why);
        else
            self->concurrency = (unsigned) n;
    }
    if (rc == 0 && !self->file)
        return cli_usage_error(self->cli, "import needs a COLLECTIVE and a FILE");
    return rc;
}

static int
s_import(cli_t *cli)
{
    import_t self = { .cli = cli, .concurrency = IMPORT_CONCURRENCY_DEFAULT,
                      .batch_max = IMPORT_BATCH_DEFAULT };
    const char *collective = NULL;
    char id[64];
    int rc = s_parse(&self, &collective);
    if (rc == 0)
        rc = cli_collective(cli, collective, id);   // also creates cli->client
    if (rc)
        return rc;
    snprintf(self.path, sizeof self.path, "/v1/collectives/%s/experiences:batch", id);
    self.in = strcmp(self.file, "-") == 0 ? stdin : fopen(self.file, "r");
    if (!self.in) {
        fprintf(stderr, "error: cannot open %s: %s\n", self.file, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    self.multi = curl_multi_init();
    if (self.multi) {
        curl_multi_setopt(self.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) self.concurrency);
        s_count(&self);
        s_run(&self);
        rc = s_report(&self);
        curl_multi_cleanup(self.multi);
    }
    else
        rc = CLI_EXIT_FAIL;
    if (self.in != stdin)
        fclose(self.in);
    ibatch_destroy(&self.open);
    free(self.line);
    return rc;
}

int
cmd_import(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    static const args_opt_t opts[] = { { "--concurrency", true }, { "--batch", true },
                                       { "--strict", false },
                                       CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "import", argc, argv, opts);
    if (rc == 0)
        rc = s_import(&cli);
    cli_end(&cli);
    return rc;
}
