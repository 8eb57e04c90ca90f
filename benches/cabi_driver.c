/*
 * Drives the engine through its C ABI exactly as a C caller would (the
 * header, the shared library, a progress callback, br_string_free), so the
 * benchmark measures what a non-Rust host pays, FFI and JSON included.
 *
 *   cabi_driver backup      OPTIONS_JSON   one br_backup call; prints the report
 *   cabi_driver fingerprint OPTIONS_JSON   one br_fingerprint call (the "unchanged?" check)
 *   cabi_driver statwalk    DIR            a bare lstat walk of DIR (skipping
 *                                          node_modules and __pycache__, as the engine does)
 *
 * stdout: the result JSON (statwalk: {"files":N,"dirs":N}); stderr: one line
 * "driver-seconds <s> callbacks <n>" timed around the call only, so the
 * harness can separate the engine's time from process start-up.
 * Exit status: 0 on BR_STATUS_OK, 1 on any failure (message on stderr).
 */
#define _GNU_SOURCE
#include <fts.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backup_repo.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A host's typical callback: look at the numbers, never cancel. */
static int32_t on_progress(const struct br_progress *p, void *userdata) {
    uint64_t *calls = (uint64_t *)userdata;
    *calls += 1;
    (void)p->phase;
    (void)p->bytes_done;
    return 0;
}

static int stat_walk(const char *dir) {
    char *paths[] = {(char *)dir, NULL};
    /* FTS_PHYSICAL: lstat, never follow links (as the engine). */
    FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
    if (!fts) {
        perror("fts_open");
        return 1;
    }
    uint64_t files = 0, dirs = 0, bytes = 0;
    FTSENT *e;
    while ((e = fts_read(fts)) != NULL) {
        if (e->fts_info == FTS_D) {
            if (e->fts_level > 0 &&
                (strcmp(e->fts_name, "node_modules") == 0 || strcmp(e->fts_name, "__pycache__") == 0)) {
                fts_set(fts, e, FTS_SKIP);
                continue;
            }
            dirs++;
        } else if (e->fts_info == FTS_F) {
            files++;
            bytes += (uint64_t)e->fts_statp->st_size;
        }
    }
    fts_close(fts);
    printf("{\"files\":%llu,\"dirs\":%llu,\"bytes\":%llu}\n", (unsigned long long)files,
           (unsigned long long)dirs, (unsigned long long)bytes);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s backup|fingerprint OPTIONS_JSON | statwalk DIR\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    uint64_t calls = 0;
    char *result = NULL;
    br_status st;
    double t0 = now_seconds();
    if (strcmp(mode, "statwalk") == 0) {
        int rc = stat_walk(argv[2]);
        fprintf(stderr, "driver-seconds %.6f callbacks 0\n", now_seconds() - t0);
        return rc;
    } else if (strcmp(mode, "backup") == 0) {
        st = br_backup(argv[2], on_progress, &calls, &result);
    } else if (strcmp(mode, "fingerprint") == 0) {
        st = br_fingerprint(argv[2], on_progress, &calls, &result);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    double elapsed = now_seconds() - t0;
    fprintf(stderr, "driver-seconds %.6f callbacks %llu\n", elapsed, (unsigned long long)calls);
    if (st != BR_STATUS_OK) {
        fprintf(stderr, "br_%s failed (%u): %s\n", mode, (unsigned)st, br_last_error());
        return 1;
    }
    fputs(result, stdout);
    fputc('\n', stdout);
    br_string_free(result);
    return 0;
}
