/*
 * The C ABI as a C caller sees it: include the generated header, link the
 * built library, call every function, free every string (ASan checks leaks).
 * Prints "N passed, M failed" as its last line; exits non-zero on a failure.
 *
 * Checks marked ENGINE need the engine's select/fingerprint/archive/backup;
 * while those are todo!() stubs the library returns BR_STATUS_PANIC for
 * them (the panic boundary at work) and they fail.
 */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_repo.h"

static int passed, failed, engine_failed;

static void check(int ok, int needs_engine, const char *what, ...) {
    va_list ap;
    va_start(ap, what);
    printf("%s%s ", ok ? "ok   " : "FAIL ", needs_engine ? "[engine]" : "        ");
    vprintf(what, ap);
    printf("\n");
    va_end(ap);
    if (ok) {
        passed++;
    } else {
        failed++;
        if (needs_engine) engine_failed++;
    }
}

#define CHECK(cond, ...) check((cond) != 0, 0, __VA_ARGS__)
#define CHECK_ENGINE(cond, ...) check((cond) != 0, 1, __VA_ARGS__)

/* Status, its name, and the last error when it failed. */
static br_status show(const char *call, br_status st) {
    if (st != BR_STATUS_OK) {
        printf("     %s -> %s: %s\n", call, br_status_name(st), br_last_error());
    }
    return st;
}

static void write_file(const char *dir, const char *rel, const char *content) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* Create parent folders. */
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(content, f);
    fclose(f);
}

static char *make_temp_dir(const char *base, const char *name) {
    char *path = malloc(4096);
    if (!path) exit(2);
    if (base) {
        snprintf(path, 4096, "%s/%s", base, name);
        if (mkdir(path, 0755) != 0) {
            perror(path);
            exit(2);
        }
    } else {
        snprintf(path, 4096, "/tmp/%s-XXXXXX", name);
        if (!mkdtemp(path)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return path;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Files under `dir` (recursively) whose name ends in .zip or contains .partial. */
static int count_archives_and_partials(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0; /* a destination never created holds nothing */
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            n += count_archives_and_partials(path);
        } else if (ends_with(e->d_name, ".zip") || strstr(e->d_name, ".partial") != NULL) {
            printf("     found %s\n", path);
            n++;
        }
    }
    closedir(d);
    return n;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Progress callback state, passed as userdata. */
struct progress_seen {
    pthread_t caller;
    int calls;
    int wrong_thread;
    int null_current;
    int cancel_on_call; /* 0 = never */
};

static int32_t on_progress(const br_progress *p, void *userdata) {
    struct progress_seen *seen = userdata;
    seen->calls++;
    if (!pthread_equal(pthread_self(), seen->caller)) seen->wrong_thread++;
    if (p->current == NULL) seen->null_current++;
    return seen->cancel_on_call != 0 && seen->calls == seen->cancel_on_call;
}

int main(void) {
    char json[16384];
    char *result = NULL;
    br_status st;

    /* ---- version, names, free --------------------------------------- */
    CHECK(strcmp(br_version(), BR_VERSION_STRING) == 0, "br_version() == BR_VERSION_STRING (%s)", br_version());
    CHECK(strcmp(br_status_name(BR_STATUS_OK), "BR_STATUS_OK") == 0, "br_status_name(BR_STATUS_OK)");
    CHECK(strcmp(br_status_name(BR_STATUS_NO_SPACE), "BR_STATUS_NO_SPACE") == 0, "br_status_name(BR_STATUS_NO_SPACE)");
    CHECK(strcmp(br_status_name(BR_STATUS_PANIC), "BR_STATUS_PANIC") == 0, "br_status_name(BR_STATUS_PANIC)");
    CHECK(strcmp(br_status_name(12345), "BR_STATUS_UNKNOWN") == 0, "br_status_name(12345) is BR_STATUS_UNKNOWN");
    CHECK(BR_STATUS_PANIC == 100 && BR_STATUS_BUSY == 11 && BR_STATUS_OK == 0, "status numbers are fixed");
    CHECK(BR_PHASE_STARTING == 0 && BR_PHASE_DONE == 8, "phase numbers");
    br_string_free(NULL);
    CHECK(1, "br_string_free(NULL) is safe");
    CHECK(strcmp(br_last_error(), "") == 0, "no last error before any failure");

    /* ---- a repository, destinations, a cache ------------------------ */
    char *root = make_temp_dir(NULL, "br-c-test");
    char *repo = make_temp_dir(root, "repo");
    write_file(repo, ".git/HEAD", "ref: refs/heads/main\n");
    write_file(repo, ".git/config", "[core]\n\tbare = false\n");
    write_file(repo, "README.md", "# demo\n");
    write_file(repo, "environment.py", "ENV = 'prod'\n");
    write_file(repo, "src/app.py", "print('hello')\n");
    write_file(repo, "node_modules/left-pad/index.js", "module.exports = 1;\n");
    char *plain = make_temp_dir(root, "not-a-repo");
    write_file(plain, "notes.txt", "just a folder\n");
    char *cache = make_temp_dir(root, "cache");
    char *d1 = make_temp_dir(root, "dest1");
    char *d2 = make_temp_dir(root, "dest2");
    char *d3 = make_temp_dir(root, "dest3");
    char *d4 = make_temp_dir(root, "dest4");

    /* ---- argument errors (no engine needed) ------------------------- */
    char *const sentinel = (char *)&result; /* any non-NULL value to detect writes */
    result = sentinel;
    st = br_select(NULL, &result);
    CHECK(st == BR_STATUS_NULL_ARGUMENT, "br_select(NULL options) -> BR_STATUS_NULL_ARGUMENT (got %s)", br_status_name(st));
    CHECK(contains(br_last_error(), "options_json"), "last error names the argument: \"%s\"", br_last_error());
    CHECK(result == sentinel, "out-pointer untouched on failure");

    snprintf(json, sizeof json, "{\"source\":\"%s\"}", repo);
    st = br_select(json, NULL);
    CHECK(st == BR_STATUS_NULL_ARGUMENT, "br_select(NULL out) -> BR_STATUS_NULL_ARGUMENT (got %s)", br_status_name(st));
    CHECK(contains(br_last_error(), "result_json"), "last error names result_json: \"%s\"", br_last_error());

    st = br_backup("{\"source\": ", NULL, NULL, &result);
    CHECK(st == BR_STATUS_INVALID_JSON, "br_backup(truncated JSON) -> BR_STATUS_INVALID_JSON (got %s)", br_status_name(st));
    CHECK(strlen(br_last_error()) > 0, "invalid JSON sets the last error: \"%s\"", br_last_error());

    st = br_backup("{\"source\":\"\xff\xfe\"}", NULL, NULL, &result);
    CHECK(st == BR_STATUS_INVALID_UTF8, "br_backup(invalid UTF-8) -> BR_STATUS_INVALID_UTF8 (got %s)", br_status_name(st));

    snprintf(json, sizeof json, "{\"source\":\"%s\",\"destinatons\":[\"%s\"]}", repo, d1);
    st = br_backup(json, NULL, NULL, &result);
    CHECK(st == BR_STATUS_INVALID_JSON, "unknown option key -> BR_STATUS_INVALID_JSON (got %s)", br_status_name(st));
    CHECK(contains(br_last_error(), "destinatons"), "last error names the unknown key: \"%s\"", br_last_error());

    st = br_fingerprint("[1,2]", NULL, NULL, &result);
    CHECK(st == BR_STATUS_INVALID_JSON, "br_fingerprint(array) -> BR_STATUS_INVALID_JSON (got %s)", br_status_name(st));

    st = br_verify(NULL, NULL, NULL, NULL, &result);
    CHECK(st == BR_STATUS_NULL_ARGUMENT, "br_verify(NULL archive) -> BR_STATUS_NULL_ARGUMENT (got %s)", br_status_name(st));
    st = br_verify("/x.zip", "{\"nope\":1}", NULL, NULL, &result);
    CHECK(st == BR_STATUS_INVALID_JSON, "br_verify(unknown option) -> BR_STATUS_INVALID_JSON (got %s)", br_status_name(st));
    st = br_restore("/x.zip", NULL, NULL, NULL, NULL, &result);
    CHECK(st == BR_STATUS_NULL_ARGUMENT, "br_restore(NULL target) -> BR_STATUS_NULL_ARGUMENT (got %s)", br_status_name(st));
    st = br_manifest_read(NULL, &result);
    CHECK(st == BR_STATUS_NULL_ARGUMENT, "br_manifest_read(NULL) -> BR_STATUS_NULL_ARGUMENT (got %s)", br_status_name(st));
    CHECK(result == sentinel, "out-pointer still untouched after every failure");
    result = NULL;

    /* ---- br_manifest_read on things that are not our archives -------- */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.zip", root);
    st = br_manifest_read(missing, &result);
    CHECK(st == BR_STATUS_NOT_FOUND, "br_manifest_read(missing file) -> BR_STATUS_NOT_FOUND (got %s)", br_status_name(st));
    char notzip[4200];
    snprintf(notzip, sizeof notzip, "%s/notes.txt", plain);
    st = br_manifest_read(notzip, &result);
    CHECK(st == BR_STATUS_BAD_ARCHIVE, "br_manifest_read(text file) -> BR_STATUS_BAD_ARCHIVE (got %s)", br_status_name(st));

    /* ---- cancel before work: the callback runs on this thread -------- */
    struct progress_seen cancel_seen = {pthread_self(), 0, 0, 0, 1};
    snprintf(json, sizeof json, "{\"source\":\"%s\",\"destinations\":[\"%s\",\"%s\"],\"cache_dir\":\"%s\"}", repo, d3,
             d4, cache);
    st = br_backup(json, on_progress, &cancel_seen, &result);
    CHECK(st == BR_STATUS_CANCELLED, "br_backup with a callback returning 1 -> BR_STATUS_CANCELLED (got %s)",
          br_status_name(st));
    CHECK(cancel_seen.calls >= 1 && cancel_seen.wrong_thread == 0, "callback ran on the calling thread (%d calls)",
          cancel_seen.calls);
    CHECK(cancel_seen.null_current == 0, "br_progress.current is never NULL");
    CHECK(count_archives_and_partials(d3) + count_archives_and_partials(d4) == 0,
          "no *.zip and no *.partial after the cancel");
    CHECK(result == NULL, "no result after the cancel");

    /* ---- a progress callback on a full run: start + end at least ------ */
    struct progress_seen run_seen = {pthread_self(), 0, 0, 0, 0};
    snprintf(json, sizeof json, "{\"source\":\"%s\",\"cache_dir\":\"%s\"}", repo, cache);
    st = show("br_fingerprint", br_fingerprint(json, on_progress, &run_seen, &result));
    CHECK(run_seen.calls >= 2 && run_seen.wrong_thread == 0,
          "br_fingerprint: callback before and after, on the calling thread (%d calls)", run_seen.calls);
    CHECK(st == BR_STATUS_OK || strlen(br_last_error()) > 0, "a failed call always leaves a message");
    CHECK_ENGINE(st == BR_STATUS_OK && contains(result, "\"fingerprint\""), "br_fingerprint -> OK with a fingerprint");
    br_string_free(result);
    result = NULL;

    /* ---- engine: select ---------------------------------------------- */
    snprintf(json, sizeof json, "{\"source\":\"%s\"}", repo);
    st = show("br_select", br_select(json, &result));
    CHECK(st == BR_STATUS_OK || strlen(br_last_error()) > 0, "br_select failure (if any) has a message");
    CHECK_ENGINE(st == BR_STATUS_OK, "br_select -> BR_STATUS_OK");
    CHECK_ENGINE(st == BR_STATUS_OK && strcmp(br_last_error(), "") == 0, "success clears the last error");
    CHECK_ENGINE(contains(result, "environment.py"), "environment.py is selected");
    CHECK_ENGINE(contains(result, "src/app.py"), "src/app.py is selected");
    CHECK_ENGINE(contains(result, ".git/HEAD"), ".git/HEAD is selected");
    CHECK_ENGINE(result != NULL && !contains(result, "\"rel\":\"node_modules/"), "node_modules is not selected");
    CHECK_ENGINE(contains(result, "\"rule\":\"node_modules\""), "node_modules is reported as excluded by its rule");
    br_string_free(result);
    result = NULL;

    /* ---- engine: backups ---------------------------------------------- */
    snprintf(json, sizeof json, "{\"source\":\"%s\",\"destinations\":[\"%s\",\"%s\"],\"cache_dir\":\"%s\"}", repo, d1,
             d2, cache);
    st = show("br_backup", br_backup(json, NULL, NULL, &result));
    CHECK_ENGINE(st == BR_STATUS_OK && contains(result, "\"created\""), "first br_backup -> created");
    br_string_free(result);
    result = NULL;
    CHECK_ENGINE(count_archives_and_partials(d1) == 1 && count_archives_and_partials(d2) == 1,
                 "one archive in each destination");

    st = show("br_backup", br_backup(json, NULL, NULL, &result));
    CHECK_ENGINE(st == BR_STATUS_OK && contains(result, "\"skipped\""), "second br_backup (unchanged) -> skipped");
    br_string_free(result);
    result = NULL;

    /* ---- engine: not a repository / missing source -------------------- */
    snprintf(json, sizeof json, "{\"source\":\"%s/does-not-exist\",\"destinations\":[\"%s\"]}", root, d1);
    st = show("br_backup", br_backup(json, NULL, NULL, &result));
    CHECK_ENGINE(st == BR_STATUS_NOT_FOUND || st == BR_STATUS_NOT_A_REPOSITORY,
                 "missing source -> NOT_FOUND or NOT_A_REPOSITORY (got %s)", br_status_name(st));
    snprintf(json, sizeof json, "{\"source\":\"%s\",\"destinations\":[\"%s\"]}", plain, d1);
    st = show("br_backup", br_backup(json, NULL, NULL, &result));
    CHECK_ENGINE(st == BR_STATUS_NOT_A_REPOSITORY, "folder without .git/pyproject.toml/package.json -> NOT_A_REPOSITORY (got %s)",
                 br_status_name(st));
    CHECK(result == NULL, "no result from failed backups");

    remove_tree(root);
    free(repo);
    free(plain);
    free(cache);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
    free(root);

    if (engine_failed > 0) {
        printf("(%d of the failures need the engine: its todo!() stubs return BR_STATUS_PANIC)\n", engine_failed);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
