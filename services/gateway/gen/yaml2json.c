/*  yaml2json - the build step that turns docs/openapi.yaml into the JSON
    the gateway serves at /openapi.json (embedded by embed.cmake).

    yaml2json IN.yaml OUT.json

    Reads one YAML document with libyaml and writes it as compact JSON.
    Only what a JSON document can say is accepted: mappings with string
    keys (each once), sequences and scalars. Quoted scalars are strings;
    plain ones are null (null, ~, empty), booleans (true, false), integers
    (12), numbers (1.5, 1.5e+10) or strings. Plain scalars that YAML 1.1
    readers take otherwise (yes/no/on/off/y/n as booleans; 1e5, 0755, .5,
    dates) are refused unquoted, so every reader of the YAML file sees the
    document this step serves. Anchors, aliases, tags and merge keys are
    refused too. Exit status 0, or 1 with the reason and line on stderr.
*/
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define Y2J_DEPTH_MAX 64     // nesting deeper than any API description needs

typedef struct {
    yaml_parser_t parser;
    const char *path;
    regex_t integer, number, numberish;
} y2j_t;

static json_t *s_value(y2j_t *self, yaml_event_t *event, int depth);

static bool
s_fail(const y2j_t *self, const yaml_event_t *event, const char *what)
{
    fprintf(stderr, "yaml2json: %s:%zu: %s\n", self->path,
            event ? event->start_mark.line + 1 : self->parser.problem_mark.line + 1, what);
    return false;
}

static bool
s_next(y2j_t *self, yaml_event_t *event)
{
    if (yaml_parser_parse(&self->parser, event))
        return true;
    return s_fail(self, NULL, self->parser.problem ? self->parser.problem : "parse error");
}

static bool
s_is(const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(text, *words) == 0)
            return true;
    return false;
}

static json_t *
s_text(y2j_t *self, const yaml_event_t *event, const char *text)
{
    json_t *value = json_string(text);
    if (!value)
        s_fail(self, event, "a string that is not valid UTF-8");
    return value;
}

static json_t *
s_plain(y2j_t *self, const yaml_event_t *event, const char *text)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
    static const char *const trues[] = { "true", "True", "TRUE", NULL };
    static const char *const falses[] = { "false", "False", "FALSE", NULL };
    static const char *const ambiguous[] = { "yes", "Yes", "YES", "no", "No", "NO", "on", "On",
                                             "ON", "off", "Off", "OFF", "y", "Y", "n", "N", NULL };
    if (s_is(text, nulls))
        return json_null();
    if (s_is(text, trues))
        return json_true();
    if (s_is(text, falses))
        return json_false();
    if (s_is(text, ambiguous)) {
        s_fail(self, event, "a plain yes/no/on/off is a boolean to YAML 1.1 readers: quote it");
        return NULL;
    }
    if (regexec(&self->integer, text, 0, NULL, 0) == 0) {
        errno = 0;
        long long n = strtoll(text, NULL, 10);
        if (errno == 0)
            return json_integer((json_int_t) n);
    }
    else if (regexec(&self->number, text, 0, NULL, 0) == 0)
        return json_real(strtod(text, NULL));
    //  1e5, 0755, 0x1f, 1_000, .5, 12:30, 1.0.3, 2024-01-01, .inf: numbers,
    //  dates or strings depending on the reader (prose like "1 to 128" is
    //  text to all).
    if (regexec(&self->numberish, text, 0, NULL, 0) == 0) {
        s_fail(self, event, "a plain scalar that only looks like a number: quote it, or "
               "write the number as 12 or 1.5 or 1.5e+10");
        return NULL;
    }
    return s_text(self, event, text);
}

static json_t *
s_scalar(y2j_t *self, const yaml_event_t *event)
{
    const char *text = (const char *) event->data.scalar.value;
    if (event->data.scalar.tag) {
        s_fail(self, event, "tags are not supported");
        return NULL;
    }
    if (strlen(text) != event->data.scalar.length) {
        s_fail(self, event, "a scalar holds a NUL character");
        return NULL;
    }
    if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return s_plain(self, event, text);     // says itself what failed
    return s_text(self, event, text);
}

static json_t *
s_sequence(y2j_t *self, int depth)
{
    json_t *array = json_array();
    yaml_event_t event;
    while (array && s_next(self, &event)) {
        if (event.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&event);
            return array;
        }
        json_t *item = s_value(self, &event, depth + 1);
        yaml_event_delete(&event);
        if (!item || json_array_append_new(array, item) != 0)
            break;
    }
    json_decref(array);
    return NULL;
}

//  A mapping key: a plain string the object does not hold yet. NULL (the
//  reason reported) otherwise; the caller frees it.
static char *
s_key(y2j_t *self, const yaml_event_t *event, const json_t *object)
{
    if (event->type != YAML_SCALAR_EVENT || event->data.scalar.tag
        || event->data.scalar.anchor) {
        s_fail(self, event, "mapping keys must be plain strings");
        return NULL;
    }
    const char *key = (const char *) event->data.scalar.value;
    if (strcmp(key, "<<") == 0) {
        s_fail(self, event, "merge keys are not supported");
        return NULL;
    }
    //  A plain 200 is the integer 200 to a YAML reader: JSON keys are text.
    if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        json_t *plain = s_plain(self, event, key);
        bool text = json_is_string(plain);
        json_decref(plain);
        if (!text) {
            if (plain)
                s_fail(self, event, "a plain key that YAML reads as a number, boolean or null: "
                       "quote it");
            return NULL;
        }
    }
    if (json_object_get(object, key)) {
        s_fail(self, event, "a key appears twice in one mapping");
        return NULL;
    }
    char *copy = strdup(key);
    if (!copy)
        s_fail(self, event, "out of memory");
    return copy;
}

static json_t *
s_mapping(y2j_t *self, int depth)
{
    json_t *object = json_object();
    yaml_event_t event;
    while (object && s_next(self, &event)) {
        if (event.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&event);
            return object;
        }
        char *key = s_key(self, &event, object);
        yaml_event_delete(&event);
        if (!key)
            break;
        json_t *value = NULL;
        if (s_next(self, &event)) {
            value = s_value(self, &event, depth + 1);
            yaml_event_delete(&event);
        }
        //  json_object_set_new drops the value when it fails.
        int rc = value ? json_object_set_new(object, key, value) : -1;
        free(key);
        if (rc != 0)
            break;
    }
    json_decref(object);
    return NULL;
}

//  The value that starts with `event` (which the caller deletes).
static json_t *
s_value(y2j_t *self, yaml_event_t *event, int depth)
{
    if (depth > Y2J_DEPTH_MAX) {
        s_fail(self, event, "nested too deeply");
        return NULL;
    }
    switch (event->type) {
    case YAML_SCALAR_EVENT:
        if (event->data.scalar.anchor)
            break;
        return s_scalar(self, event);
    case YAML_SEQUENCE_START_EVENT:
        if (event->data.sequence_start.anchor || event->data.sequence_start.tag)
            break;
        return s_sequence(self, depth);
    case YAML_MAPPING_START_EVENT:
        if (event->data.mapping_start.anchor || event->data.mapping_start.tag)
            break;
        return s_mapping(self, depth);
    default:
        break;
    }
    s_fail(self, event, "only mappings, sequences and scalars are supported (no anchors, "
           "aliases or tags)");
    return NULL;
}

//  STREAM-START DOCUMENT-START value DOCUMENT-END STREAM-END.
static json_t *
s_document(y2j_t *self)
{
    static const yaml_event_type_t before[] = { YAML_STREAM_START_EVENT,
                                                YAML_DOCUMENT_START_EVENT };
    static const yaml_event_type_t after[] = { YAML_DOCUMENT_END_EVENT, YAML_STREAM_END_EVENT };
    yaml_event_t event;
    for (size_t i = 0; i < 2; i++) {
        if (!s_next(self, &event))
            return NULL;
        bool ok = event.type == before[i];
        yaml_event_delete(&event);
        if (!ok) {
            s_fail(self, NULL, "expected one YAML document");
            return NULL;
        }
    }
    if (!s_next(self, &event))
        return NULL;
    json_t *root = s_value(self, &event, 0);
    yaml_event_delete(&event);
    for (size_t i = 0; root && i < 2; i++) {
        bool ok = s_next(self, &event);
        if (ok) {
            ok = event.type == after[i];
            yaml_event_delete(&event);
            if (!ok)
                s_fail(self, NULL, "expected exactly one YAML document");
        }
        if (!ok) {
            json_decref(root);
            root = NULL;
        }
    }
    return root;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: yaml2json IN.yaml OUT.json\n");
        return 1;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "yaml2json: cannot open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    y2j_t self = { .path = argv[1] };
    if (!yaml_parser_initialize(&self.parser)
        || regcomp(&self.integer, "^[-+]?(0|[1-9][0-9]*)$", REG_EXTENDED | REG_NOSUB) != 0
        || regcomp(&self.number, "^[-+]?(0|[1-9][0-9]*)\\.[0-9]+([eE][-+][0-9]+)?$",
                   REG_EXTENDED | REG_NOSUB) != 0
        || regcomp(&self.numberish, "^([-+]?\\.?[0-9][0-9a-zA-Z_.:+-]*"
                   "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|[-+]?\\.(inf|Inf|INF|nan|NaN|NAN))$",
                   REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "yaml2json: out of memory\n");
        fclose(in);
        return 1;
    }
    yaml_parser_set_input_file(&self.parser, in);
    json_t *root = s_document(&self);
    yaml_parser_delete(&self.parser);
    regfree(&self.integer);
    regfree(&self.number);
    regfree(&self.numberish);
    fclose(in);
    if (!root)
        return 1;
    int rc = json_dump_file(root, argv[2], JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc != 0) {
        fprintf(stderr, "yaml2json: cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}
