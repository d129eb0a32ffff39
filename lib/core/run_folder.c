/* The run folder as a place: its paths, the one rule for its state
 * (daoe_run_probe: what the trainer's --resume, both sweep engines and
 * daoe-stats decide from), clearing it for a run that starts over, the
 * settings fingerprint, and the lock and clean-up of the folder daoe-train
 * writes. What goes into its files is run_files.c. */
#define _GNU_SOURCE
#include "daoe/run_folder.h"
#include "daoe/train.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

const char *const daoe_run_state_names[DAOE_RUN_NSTATES] = {
    "empty", "resumable", DAOE_STATUS_FINISHED, DAOE_STATUS_DIVERGED, "damaged", "other settings", "failed"};

char *daoe_run_path(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

int daoe_run_epochs_done(const char *dir) {
    char p[2300];
    FILE *f = fopen(daoe_run_path(p, sizeof p, dir, DAOE_RUN_EPOCHS), "r");
    if (!f) return 0;
    int n = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n > 0 ? n - 1 : 0;
}

/* ------------------------------------------------------------------ the state */
/* the text after what is there already ("; " between) */
static void __attribute__((format(printf, 2, 3))) add_problem(daoe_run_info *info, const char *fmt, ...) {
    size_t len = strlen(info->problem);
    if (len + 3 >= sizeof info->problem) return;
    if (len) len += (size_t)snprintf(info->problem + len, sizeof info->problem - len, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->problem + len, sizeof info->problem - len, fmt, ap);
    va_end(ap);
}

/* final.safetensors opens and holds tensors. Absent, it was not kept (committed
 * results keep no weights: daoe-train writes it before summary.json says
 * "finished", so only a removal leaves a finished run without it): the results
 * stand, info->no_weights says so; absent when the trainer has just exited 0,
 * the trainer failed to write it. */
static void check_weights(const char *dir, const daoe_run_query *q, daoe_run_info *info) {
    char p[2300], err[1024];
    daoe_run_path(p, sizeof p, dir, DAOE_RUN_FINAL);
    if (!q->exited && !daoe_file_exists(p)) {
        info->no_weights = 1;
        return;
    }
    daoe_st_file *f = daoe_st_open(p, err, sizeof err);
    if (!f || daoe_st_count(f) == 0) add_problem(info, "%s", f ? DAOE_RUN_FINAL " has no tensors" : err);
    daoe_st_close(f);
}

/* What summary.json says has ended: FINISHED, DIVERGED or OTHER_SETTINGS when that
 * checks out, else EMPTY (a damaged end: info->problem says why). */
static daoe_run_state probe_end(const char *dir, const daoe_run_query *q, daoe_run_info *info) {
    char p[2300], e[512];
    daoe_run_path(p, sizeof p, dir, DAOE_RUN_SUMMARY);
    if (!daoe_file_exists(p)) return DAOE_RUN_EMPTY;
    char *text = daoe_read_file(p, NULL, e, sizeof e);
    cJSON *s = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(s, "settings_sha256");
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(s, "epochs_completed");
    daoe_run_state r = DAOE_RUN_EMPTY;
    int fin = cJSON_IsString(st) && !strcmp(st->valuestring, DAOE_STATUS_FINISHED);
    int div = cJSON_IsString(st) && !strcmp(st->valuestring, DAOE_STATUS_DIVERGED);
    if (!s) {
        add_problem(info, DAOE_RUN_SUMMARY " is not valid JSON");
    } else if (!cJSON_IsString(st)) {
        add_problem(info, DAOE_RUN_SUMMARY " has no status");
    } else if (!fin && !div) {
        /* interrupted: the checkpoint goes on */
    } else if (q->settings_sha256 && cJSON_IsString(sha) && strcmp(sha->valuestring, q->settings_sha256)) {
        add_problem(info, "%s: the run there ended with other settings", p);
        r = DAOE_RUN_OTHER_SETTINGS;
    } else if (!cJSON_IsNumber(done) || info->epochs_done != done->valueint) {
        add_problem(info, DAOE_RUN_EPOCHS " has %d rows, " DAOE_RUN_SUMMARY " says %d epochs", info->epochs_done,
                    cJSON_IsNumber(done) ? done->valueint : -1);
    } else if (div) {
        r = DAOE_RUN_DIVERGED;
    } else if (q->planned_epochs > 0 && info->epochs_done != q->planned_epochs) {
        add_problem(info, DAOE_RUN_EPOCHS " has %d rows for %d epochs", info->epochs_done, q->planned_epochs);
    } else {
        if (!q->results_only) check_weights(dir, q, info);
        if (!info->problem[0]) r = DAOE_RUN_FINISHED;
    }
    cJSON_Delete(s);
    return r;
}

/* The checkpoint: RESUMABLE when its bytes match their digest and its settings the query's. */
static daoe_run_state probe_checkpoint(const char *dir, const daoe_run_query *q, daoe_run_info *info) {
    char p[2300], err[1024], sha[65];
    daoe_run_path(p, sizeof p, dir, DAOE_RUN_CHECKPOINT);
    if (!daoe_file_exists(p)) return DAOE_RUN_EMPTY;
    if (q->results_only) return DAOE_RUN_RESUMABLE;
    daoe_st_file *f = daoe_st_open(p, err, sizeof err);
    daoe_run_state r = DAOE_RUN_RESUMABLE;
    if (!f) {
        add_problem(info, "%s", err);
        r = DAOE_RUN_DAMAGED;
    } else if (daoe_session_check_state(f, err, sizeof err) != 0) {
        add_problem(info, "%s: %s", p, err);
        r = DAOE_RUN_DAMAGED;
    } else if (q->settings_sha256 && daoe_st_meta(f, "config")) {
        const char *cfp = daoe_st_meta(f, "config");
        const void *c = cfp;
        size_t len = strlen(cfp);
        daoe_sha256_chunks(&c, &len, 1, sha);
        if (strcmp(sha, q->settings_sha256)) {
            add_problem(info, "%s: written with other settings", p);
            r = DAOE_RUN_OTHER_SETTINGS;
        }
    }
    daoe_st_close(f);
    return r;
}

daoe_run_state daoe_run_probe(const char *dir, const daoe_run_query *q, daoe_run_info *info) {
    static const daoe_run_query nothing_known = {0};
    if (!q) q = &nothing_known;
    memset(info, 0, sizeof *info);
    info->epochs_done = daoe_run_epochs_done(dir);
    daoe_run_state end = probe_end(dir, q, info);
    if (q->exited) {
        if (q->exit_status == DAOE_EXIT_INTERRUPTED) return DAOE_RUN_RESUMABLE;
        int want = end == DAOE_RUN_FINISHED ? DAOE_EXIT_OK : end == DAOE_RUN_DIVERGED ? DAOE_EXIT_DIVERGED : -2;
        return q->exit_status == want || (q->exit_status < 0 && want >= 0) ? end : DAOE_RUN_FAILED;
    }
    if (end != DAOE_RUN_EMPTY) return end;
    return probe_checkpoint(dir, q, info);
}

void daoe_run_clear(const char *dir) {
    const char *files[] = {DAOE_RUN_SUMMARY, DAOE_RUN_EPOCHS, DAOE_RUN_ALPHA, DAOE_RUN_FINAL, DAOE_RUN_CHECKPOINT,
                           DAOE_RUN_REJECTED};
    char p[2300];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(daoe_run_path(p, sizeof p, dir, files[i]));
}

int daoe_run_reject_end(const char *dir) {
    char from[2300], to[2300];
    daoe_run_path(from, sizeof from, dir, DAOE_RUN_SUMMARY);
    daoe_run_path(to, sizeof to, dir, DAOE_RUN_REJECTED);
    return rename(from, to) == 0 ? 1 : errno == ENOENT ? 0 : -1;
}

/* ------------------------------------------------------------------ the settings */
char *daoe_run_settings(const daoe_config *cfg, char sha256[65]) {
    daoe_config c = *cfg;
    c.out[0] = c.data[0] = 0;
    c.threads = c.quiet = c.resume = 0;
    c.verify = 0;
    char *fp = daoe_config_json(&c, NULL);
    if (sha256) {
        const void *p = fp;
        size_t n = strlen(fp);
        daoe_sha256_chunks(&p, &n, 1, sha256);
    }
    return fp;
}

/* ------------------------------------------------------------------ the folder daoe-train writes */
/* Temporary files of writes a kill interrupted ("NAME.tmp.PID"). */
static void remove_stale_temps(const char *out) {
    DIR *d = opendir(out);
    if (!d) return;
    struct dirent *ent;
    char p[2300];
    while ((ent = readdir(d)))
        if (strstr(ent->d_name, ".tmp.")) unlink(daoe_run_path(p, sizeof p, out, ent->d_name));
    closedir(d);
}

/* One run at a time in a folder: a second one (a sweep restarted while the
 * run it stopped still writes its checkpoint) waits for the first. */
static int lock_out(daoe_run_folder *rf, char *err, size_t errlen) {
    const char *out = rf->dir;
    rf->lock_fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rf->lock_fd < 0) {
        daoe_errf(err, errlen, "%s: cannot open: %s", out, strerror(errno));
        return DAOE_EXIT_ERROR;
    }
    /* a file system without folder locks (some NFS setups) runs unlocked */
    if (flock(rf->lock_fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) return 0;
    fprintf(stderr, "daoe-train: %s: another daoe-train is writing there; waiting for it to stop\n", out);
    while (flock(rf->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) return 0;
        if (daoe_stop_requested()) {
            fprintf(stderr, "daoe-train: stopped while waiting for %s\n", out);
            return DAOE_EXIT_INTERRUPTED;
        }
    }
    return 0;
}

int daoe_run_open(daoe_run_folder *rf, const daoe_config *cfg, char *err, size_t errlen) {
    memset(rf, 0, sizeof *rf);
    rf->cfg = cfg;
    rf->dir = cfg->out;
    if (daoe_mkdir_p(rf->dir, err, errlen) != 0) return DAOE_EXIT_WRITE;
    int rc = lock_out(rf, err, errlen);
    if (rc) return rc;
    rf->settings = daoe_run_settings(cfg, rf->settings_sha256);
    remove_stale_temps(rf->dir);
    return 0;
}

void daoe_run_close(daoe_run_folder *rf) {
    if (rf->lock_fd > 0) close(rf->lock_fd);
    free(rf->settings);
    memset(rf, 0, sizeof *rf);
}

int daoe_run_write(const daoe_run_folder *rf, const char *name, const char *text, char *err, size_t errlen) {
    char p[2300];
    daoe_run_path(p, sizeof p, rf->dir, name);
    return daoe_write_file_atomic(p, text, strlen(text), err, errlen) == 0 ? 0 : DAOE_EXIT_WRITE;
}
