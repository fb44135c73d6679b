#include "progress.h"

#include <stdio.h>
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

void
progress_line(char *out, size_t out_len, uint64_t done, uint64_t total, uint64_t failed,
              uint64_t elapsed_ms)
{
    double rate = progress_rate(done, elapsed_ms);
    char failed_text[40] = "";
    if (failed)
        snprintf(failed_text, sizeof failed_text, "  failed %llu", (unsigned long long) failed);
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
    char eta[24] = "?";
    if (rate > 0)
        progress_duration(eta, sizeof eta, (uint64_t) ((double) (total - shown) / rate + 0.5));
    snprintf(out, out_len, "[%s]  %llu/%llu  %3u%%  %.0f/s  ETA %s%s", bar,
             (unsigned long long) shown, (unsigned long long) total,
             (unsigned) (shown * 100 / total), rate, eta, failed_text);
}
