/*
 * The C ABI under misuse: NULL everywhere, invalid UTF-8 in every string
 * argument, malformed, deeply nested and huge (10 MB) JSON, unknown keys,
 * br_string_free(NULL), and every function called from 8 threads at once
 * (each thread's last error is its own). Every call must return an error
 * status with a message, never crash. Run under ASan (run.sh) and valgrind
 * (run.sh valgrind). Last line: "N passed, M failed".
 */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_repo.h"

static int passed, failed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, const char *what, const char *detail) {
    pthread_mutex_lock(&lock);
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail ? " :: " : "", detail ? detail : "");
    if (ok) passed++; else failed++;
    pthread_mutex_unlock(&lock);
}

/* An error status, a non-empty message, and no result written. */
static void expect_error(br_status st, char *result, const char *what) {
    const char *msg = br_last_error();
    int ok = st != BR_STATUS_OK && st != BR_STATUS_PANIC && msg != NULL && msg[0] != '\0' && result == NULL;
    char detail[300];
    snprintf(detail, sizeof detail, "%s: %.200s", br_status_name(st), msg ? msg : "(null)");
    check(ok, what, detail);
    br_string_free(result);
}

static const char *bad_utf8 = "/tmp/\xff\xfe\xc3(";

static void misuse_once(int quiet) {
    char *r = NULL;
    (void)quiet;
    br_string_free(NULL);
    r = NULL; expect_error(br_select(NULL, NULL), r, "br_select(NULL, NULL)");
    r = NULL; expect_error(br_select(bad_utf8, &r), r, "br_select(invalid UTF-8)");
    r = NULL; expect_error(br_select("{", &r), r, "br_select(truncated JSON)");
    r = NULL; expect_error(br_select("null", &r), r, "br_select(null)");
    r = NULL; expect_error(br_select("{\"source\":123}", &r), r, "br_select(wrong type)");
    r = NULL; expect_error(br_select("{\"source\":\"/nonexistent-br\",\"bogus\":true}", &r), r, "br_select(unknown key)");
    r = NULL; expect_error(br_backup(NULL, NULL, NULL, &r), r, "br_backup(NULL options)");
    r = NULL; expect_error(br_backup("{}", NULL, NULL, NULL), r, "br_backup(NULL out)");
    r = NULL; expect_error(br_backup("{}", NULL, NULL, &r), r, "br_backup({} - no source)");
    r = NULL; expect_error(br_backup("{\"source\":\"/nonexistent-br\",\"destinations\":[\"\"]}", NULL, NULL, &r), r,
                           "br_backup(empty destination)");
    r = NULL; expect_error(br_fingerprint(bad_utf8, NULL, NULL, &r), r, "br_fingerprint(invalid UTF-8)");
    r = NULL; expect_error(br_verify(bad_utf8, NULL, NULL, NULL, &r), r, "br_verify(invalid UTF-8 path)");
    r = NULL; expect_error(br_verify("/nonexistent-br.zip", NULL, NULL, NULL, &r), r, "br_verify(missing file)");
    r = NULL; expect_error(br_verify("/etc/hostname", "{]", NULL, NULL, &r), r, "br_verify(malformed options)");
    r = NULL; expect_error(br_restore(NULL, NULL, NULL, NULL, NULL, NULL), r, "br_restore(all NULL)");
    r = NULL; expect_error(br_restore("/nonexistent-br.zip", bad_utf8, NULL, NULL, NULL, &r), r, "br_restore(invalid UTF-8 target)");
    r = NULL; expect_error(br_manifest_read(bad_utf8, &r), r, "br_manifest_read(invalid UTF-8)");
    r = NULL; expect_error(br_manifest_read("/etc/hostname", &r), r, "br_manifest_read(not a zip)");
    check(strcmp(br_status_name(9999), "BR_STATUS_UNKNOWN") == 0, "br_status_name(unknown)", NULL);
    check(br_version() != NULL && br_version()[0] != '\0', "br_version", NULL);
}

/* Each thread: the whole list, 20 times; its last error stays its own. */
static void *thread_main(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 20; i++) {
        char *r = NULL;
        char json[200];
        snprintf(json, sizeof json, "{\"source\":\"/nonexistent-br-thread-%ld\"}", id);
        br_status st = br_select(json, &r);
        char want[64];
        snprintf(want, sizeof want, "nonexistent-br-thread-%ld", id);
        const char *msg = br_last_error();
        int ok = st != BR_STATUS_OK && r == NULL && msg && strstr(msg, want) != NULL;
        if (!ok || i == 0) check(ok, "thread-local last error names this thread's path", msg);
        br_string_free(r);
        if (i % 5 == 0) misuse_once(1);
    }
    return NULL;
}

int main(void) {
    misuse_once(0);

    /* Huge JSON: a 10 MB string value, and 10 MB of nesting. */
    size_t big = 10u << 20;
    char *huge = malloc(big + 64);
    if (!huge) return 2;
    strcpy(huge, "{\"source\":\"");
    memset(huge + 11, 'a', big);
    strcpy(huge + 11 + big, "\"}");
    char *r = NULL;
    expect_error(br_select(huge, &r), r, "br_select(10 MB source path)");
    r = NULL;
    expect_error(br_backup(huge, NULL, NULL, &r), r, "br_backup(10 MB source path)");
    memset(huge, '[', big);
    huge[big] = '\0';
    r = NULL;
    expect_error(br_backup(huge, NULL, NULL, &r), r, "br_backup(10 MB of '[' nesting)");
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big] = '\0';
    r = NULL;
    expect_error(br_select(huge, &r), r, "br_select(10 MB unterminated object)");
    free(huge);

    pthread_t t[8];
    for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, thread_main, (void *)i);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
