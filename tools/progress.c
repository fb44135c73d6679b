#include "progress.h"

#include <string.h>

double
progress_rate(uint64_t done, uint64_t elapsed_ms)
{
    return elapsed_ms ? (double) done * 1000.0 / (double) elapsed_ms : 0.0;
}

unsigned
progress_tenth(uint64_t done, uint64_t total)
{
    if (total == 0)
        return 0;
    if (done >= total)
        return 10;
    return (unsigned) (done * 10 / total);
}

void
progress_duration(char *out, size_t out_len, uint64_t seconds)
{
    if (seconds < 60)
        snprintf(out, out_len, "%llus", (unsigned long long) seconds);
    else if (seconds < 3600)
        snprintf(out, out_len, "%llum%02llus", (unsigned long long) (seconds / 60),
                 (unsigned long long) (seconds % 60));
    else
        snprintf(out, out_len, "%lluh%02llum", (unsigned long long) (seconds / 3600),
                 (unsigned long long) (seconds / 60 % 60));
}

//  The ETA of the rest at the rate so far: "5s", or "?" before any rate.
static void
s_eta(char *out, size_t out_len, uint64_t shown, uint64_t total, double rate)
{
    snprintf(out, out_len, "?");
    if (rate > 0)
        progress_duration(out, out_len, (uint64_t) ((double) (total - shown) / rate + 0.5));
}

static void
s_failed(char *out, size_t out_len, uint64_t failed, const char *sep)
{
    out[0] = '\0';
    if (failed)
        snprintf(out, out_len, "%sfailed %llu", sep, (unsigned long long) failed);
}

void
progress_line(char *out, size_t out_len, uint64_t done, uint64_t total, uint64_t failed,
              uint64_t elapsed_ms)
{
    double rate = progress_rate(done, elapsed_ms);
    char failed_text[40];
    s_failed(failed_text, sizeof failed_text, failed, "  ");
    if (total == 0) {
        snprintf(out, out_len, "%llu done  %.0f/s%s", (unsigned long long) done, rate,
                 failed_text);
        return;
    }
    uint64_t shown = done > total ? total : done;
    char bar[PROGRESS_BAR_WIDTH + 1];
    size_t filled = (size_t) (shown * PROGRESS_BAR_WIDTH / total);
    memset(bar, '#', filled);
    memset(bar + filled, '.', PROGRESS_BAR_WIDTH - filled);
    bar[PROGRESS_BAR_WIDTH] = '\0';
    char eta[24];
    s_eta(eta, sizeof eta, shown, total, rate);
    snprintf(out, out_len, "[%s]  %llu/%llu  %3u%%  %.0f/s  ETA %s%s", bar,
             (unsigned long long) shown, (unsigned long long) total,
             (unsigned) (shown * 100 / total), rate, eta, failed_text);
}

void
progress_counts(char *out, size_t out_len, uint64_t done, uint64_t total, uint64_t failed,
                uint64_t elapsed_ms)
{
    double rate = progress_rate(done, elapsed_ms);
    char failed_text[40];
    s_failed(failed_text, sizeof failed_text, failed, " ");
    if (total == 0) {
        snprintf(out, out_len, "%llu done %.0f/s%s", (unsigned long long) done, rate,
                 failed_text);
        return;
    }
    uint64_t shown = done > total ? total : done;
    char eta[24];
    s_eta(eta, sizeof eta, shown, total, rate);
    snprintf(out, out_len, "%llu/%llu (%u%%) %.0f/s ETA %s%s", (unsigned long long) shown,
             (unsigned long long) total, (unsigned) (shown * 100 / total), rate, eta,
             failed_text);
}

//  --------------------------------------------------------------------------
//  progress_t

void
progress_begin(progress_t *self, FILE *out, bool tty, const char *label, uint64_t now_ms)
{
    memset(self, 0, sizeof *self);
    self->out = out;
    self->tty = tty;
    snprintf(self->label, sizeof self->label, "%s", label);
    self->started_ms = now_ms;
    self->drawn_ms = now_ms;
}

static void
s_draw_bar(progress_t *self, uint64_t now_ms)
{
    char text[256];
    progress_line(text, sizeof text, self->done, self->total, self->failed,
                  now_ms - self->started_ms);
    fprintf(self->out, "\r%s  %s\x1b[K", self->label, text);
    fflush(self->out);
    self->shown = true;
    self->drawn_ms = now_ms;
}

static void
s_plain_line(progress_t *self, uint64_t now_ms)
{
    char text[256];
    progress_counts(text, sizeof text, self->done, self->total, self->failed,
                    now_ms - self->started_ms);
    fprintf(self->out, "%s: %s\n", self->label, text);
    fflush(self->out);
    self->printed = true;
    self->drawn_ms = now_ms;
}

void
progress_update(progress_t *self, uint64_t done, uint64_t total, uint64_t failed,
                uint64_t now_ms)
{
    bool changed = done != self->done || total != self->total || failed != self->failed;
    self->done = done;
    self->total = total;
    self->failed = failed;
    if (self->tty) {
        if (!self->shown || now_ms - self->drawn_ms >= PROGRESS_REDRAW_MS)
            s_draw_bar(self, now_ms);
        return;
    }
    self->printed = self->printed && !changed;
    unsigned tenth = progress_tenth(done, total);
    if (total && tenth > self->tenth) {
        self->tenth = tenth;
        s_plain_line(self, now_ms);
    }
    else if (!total && changed && now_ms - self->drawn_ms >= PROGRESS_PLAIN_MS)
        s_plain_line(self, now_ms);
}

void
progress_print(progress_t *self, FILE *to, const char *text)
{
    bool redraw = self->tty && self->shown;
    if (redraw) {
        fputs("\r\x1b[K", self->out);
        fflush(self->out);
    }
    fprintf(to, "%s\n", text);
    fflush(to);
    if (redraw)
        s_draw_bar(self, self->drawn_ms);
}

void
progress_end(progress_t *self, uint64_t now_ms)
{
    if (self->tty) {
        s_draw_bar(self, now_ms);
        fputc('\n', self->out);
        fflush(self->out);
        self->shown = false;
        return;
    }
    if (!self->printed)
        s_plain_line(self, now_ms);
}
