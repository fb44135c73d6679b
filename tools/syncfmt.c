#include "syncfmt.h"
#include "progress.h"

#include <stdio.h>
#include <string.h>

static void
s_dash(char *out, size_t len)
{
    snprintf(out, len, "-");
}

void
syncfmt_count(char *out, size_t len, const json_t *value)
{
    if (!json_is_integer(value)) {
        s_dash(out, len);
        return;
    }
    snprintf(out, len, "%lld", (long long) json_integer_value(value));
}

void
syncfmt_age(char *out, size_t len, const json_t *ms, uint64_t now_ms)
{
    if (!json_is_integer(ms) || json_integer_value(ms) <= 0) {
        s_dash(out, len);
        return;
    }
    uint64_t then = (uint64_t) json_integer_value(ms);
    if (then >= now_ms || now_ms - then < 1000) {
        snprintf(out, len, "just now");
        return;
    }
    char text[32];
    progress_duration(text, sizeof text, (now_ms - then) / 1000);
    snprintf(out, len, "%s ago", text);
}

//  "u64" member of obj, and whether it is there.
static int
s_member(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *value = json_object_get(obj, key);
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return 0;
    *out = (uint64_t) json_integer_value(value);
    return 1;
}

void
syncfmt_snapshot(char *out, size_t len, const json_t *snapshot)
{
    uint64_t done = 0, total = 0, rate = 0, eta_ms = 0;
    if (!json_is_object(snapshot)) {
        s_dash(out, len);
        return;
    }
    (void) s_member(snapshot, "done", &done);
    int has_total = s_member(snapshot, "total", &total) && total > 0;
    int has_rate = s_member(snapshot, "rate", &rate);
    int has_eta = s_member(snapshot, "eta_ms", &eta_ms);
    char rate_text[32] = "", eta[32] = "?";
    if (has_rate)
        snprintf(rate_text, sizeof rate_text, " %llu/s", (unsigned long long) rate);
    if (!has_total) {
        snprintf(out, len, "%llu done%s", (unsigned long long) done, rate_text);
        return;
    }
    if (done >= total)
        snprintf(eta, sizeof eta, "done");
    else if (has_eta && (eta_ms > 0 || rate > 0))
        progress_duration(eta, sizeof eta, (eta_ms + 999) / 1000);
    uint64_t shown = done > total ? total : done;
    snprintf(out, len, "%llu/%llu (%llu%%)%s ETA %s", (unsigned long long) done,
             (unsigned long long) total, (unsigned long long) (shown * 100 / total), rate_text,
             eta);
}

void
syncfmt_error(char *out, size_t len, const json_t *error, const json_t *failures)
{
    const char *text = json_string_value(error);
    json_int_t n = json_integer_value(failures);
    if (!text || !*text) {
        s_dash(out, len);
        return;
    }
    size_t text_len = strlen(text);
    int shown = (int) (text_len > SYNCFMT_ERROR_SHOWN ? SYNCFMT_ERROR_SHOWN - 3 : text_len);
    const char *more = text_len > SYNCFMT_ERROR_SHOWN ? "..." : "";
    if (n > 0)
        snprintf(out, len, "%.*s%s (%lld failure%s)", shown, text, more, (long long) n,
                 n == 1 ? "" : "s");
    else
        snprintf(out, len, "%.*s%s", shown, text, more);
}

void
syncfmt_past_error(char *out, size_t len, const json_t *error, const json_t *at_ms,
                   uint64_t now_ms)
{
    char text[SYNCFMT_CELL_MAX], when[SYNCFMT_CELL_MAX];
    syncfmt_error(text, sizeof text, error, NULL);
    if (strcmp(text, "-") == 0) {
        s_dash(out, len);
        return;
    }
    syncfmt_age(when, sizeof when, at_ms, now_ms);
    snprintf(out, len, "none (last %s: %s)", when, text);
}

void
syncfmt_collectives(char *out, size_t len, const json_t *list)
{
    size_t n = json_array_size(list);
    if (n == 0)
        snprintf(out, len, "%s", json_is_array(list) ? "all" : "-");
    else if (n == 1 && json_is_string(json_array_get(list, 0)))
        snprintf(out, len, "%s", json_string_value(json_array_get(list, 0)));
    else
        snprintf(out, len, "%zu collectives", n);
}

int
syncfmt_name_width(const json_t *list, const char *member, int min_width, int max_width)
{
    int width = min_width;
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        size_t n = json_string_length(json_object_get(item, member));
        if (n > (size_t) width)
            width = n > (size_t) max_width ? max_width : (int) n;
    }
    return width;
}
