/*  progress.h - how `pulsedb` shows a long job (import, sync once): on a
    terminal a bar with rate and ETA redrawn in place; otherwise plain
    lines, one per tenth of the job reached (per PROGRESS_PLAIN_MS when the
    total is unknown) and one at the end, so logs stay short and readable.

    The formatting functions are pure (the caller passes the clock); a
    progress_t draws on one stream. Single-threaded.
*/
#ifndef PDB_PROGRESS_H
#define PDB_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_BAR_WIDTH 30        // characters of the [####....] part
#define PROGRESS_REDRAW_MS 200u      // terminal: redraw at most this often
#define PROGRESS_PLAIN_MS 10000u     // plain, total unknown: a line at most this often
#define PROGRESS_LABEL_MAX 160       // "sync " + a 128-byte peer name + " snapshot"

//  "[#########.....................]  3000/10000  30%  1500/s  ETA 5s  failed 2"
//  total 0 means unknown: no bar, percentage or ETA. "failed" only when > 0.
void progress_line(char *out, size_t out_len, uint64_t done, uint64_t total, uint64_t failed,
                   uint64_t elapsed_ms);

//  The same without the bar, for plain lines: "3000/10000 (30%) 1500/s ETA 5s failed 2";
//  "3000 done 1500/s" when the total is unknown.
void progress_counts(char *out, size_t out_len, uint64_t done, uint64_t total, uint64_t failed,
                     uint64_t elapsed_ms);

//  How many tenths of total are done (0..10); 0 when total is 0.
unsigned progress_tenth(uint64_t done, uint64_t total);

//  A duration for people: "42s", "3m05s", "2h10m".
void progress_duration(char *out, size_t out_len, uint64_t seconds);

//  Items per second so far (0 before any time has passed).
double progress_rate(uint64_t done, uint64_t elapsed_ms);

typedef struct {
    FILE *out;                       // borrowed; stderr in the commands
    bool tty;                        // draw a bar, else plain lines
    char label[PROGRESS_LABEL_MAX];  // "import", "sync beta pull"
    uint64_t started_ms;
    uint64_t done, total, failed;
    uint64_t drawn_ms;               // terminal: last redraw; plain: last line
    unsigned tenth;                  // plain: the last tenth printed
    bool shown;                      // terminal: a bar is on the current line
    bool printed;                    // plain: the current counts have a line
} progress_t;

//  Starts a job at now_ms; nothing is drawn until the first update.
void progress_begin(progress_t *self, FILE *out, bool tty, const char *label, uint64_t now_ms);

//  New counts (total 0: unknown). Terminal: redraws when PROGRESS_REDRAW_MS
//  passed. Plain: "LABEL: COUNTS" when a new tenth is reached, or when the
//  total is unknown and PROGRESS_PLAIN_MS passed.
void progress_update(progress_t *self, uint64_t done, uint64_t total, uint64_t failed,
                     uint64_t now_ms);

//  A line of text to `to` (stdout or the progress stream) that does not
//  garble the bar: the bar is cleared, the line written, the bar redrawn.
void progress_print(progress_t *self, FILE *to, const char *text);

//  The final counts: the bar drawn one last time and its line ended, or a
//  last plain line unless the current counts already have one.
void progress_end(progress_t *self, uint64_t now_ms);

#endif
