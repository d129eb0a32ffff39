/* What goes into a run folder's files: epochs.csv and alpha.csv (columns and
 * number formats), config.json's records beside the settings (versions,
 * machine, environment, the backend's), summary.json, and the checkpoint
 * with the run's log (the epoch rows, alpha.csv's text, the epoch under way).
 * Every file is written atomically; a write error is DAOE_EXIT_WRITE with the
 * file named. Where the folder is and what state it is in: run_folder.c. */
#define _GNU_SOURCE
#include "daoe/run_folder.h"
#include "daoe/train.h"
#include "daoe_git.h" /* generated at build time */
#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* the first DAOE_COL_ALPHA columns of epochs.csv; then alpha_<member>, share_<member> */
static const char *const EPOCH_COLS[DAOE_COL_ALPHA] = {
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
    "train_seconds", "images_per_second"};
/* the per-member groups of alpha.csv, in daoe_trace's order */
static const char *const ALPHA_GROUPS[4] = {"alpha", "dnorm", "share", "h"};

/* The members with columns in the run's files (epochs.csv, alpha.csv, the
 * checkpoint's log): those of DAO-E's default mixture, always (so the files of
 * every optimizer line up), and any other member the run uses. A build with
 * more members writes the same files for the runs it already could. */
unsigned daoe_run_columns(const daoe_config *cfg) { return DAOE_DEFAULT_MEMBERS | cfg->members; }
static int ncolumns(unsigned cols) { return __builtin_popcount(cols); }

static void fmt_num(daoe_strbuf *sb, double v, const char *fmt) {
    if (isnan(v)) daoe_sb_printf(sb, "nan");
    else if (isinf(v)) daoe_sb_printf(sb, v > 0 ? "inf" : "-inf");
    else daoe_sb_printf(sb, fmt, v);
}

static void json_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

void daoe_run_log_free(daoe_run_log *lg) {
    free(lg->rows);
    daoe_sb_free(&lg->alpha);
    memset(lg, 0, sizeof *lg);
}

/* ------------------------------------------------------------------ CSV text */
static void epochs_csv(daoe_strbuf *sb, const double *rows, int nrows, unsigned cols) {
    for (int c = 0; c < DAOE_COL_ALPHA; c++) daoe_sb_printf(sb, "%s%s", c ? "," : "", EPOCH_COLS[c]);
    for (int q = 0; q < 2; q++)
        for (int i = 0; i < DAOE_K; i++)
            if ((cols >> i) & 1u) daoe_sb_printf(sb, ",%s_%s", q ? "share" : "alpha", daoe_member_names[i]);
    daoe_sb_printf(sb, "\n");
    for (int r = 0; r < nrows; r++) {
        const double *row = rows + (size_t)r * DAOE_NCOL;
        for (int c = 0; c < DAOE_NCOL; c++) {
            if (c >= DAOE_COL_ALPHA && !((cols >> ((c - DAOE_COL_ALPHA) % DAOE_K)) & 1u)) continue;
            if (c) daoe_sb_printf(sb, ",");
            const char *fmt = c == DAOE_COL_EPOCH ? "%.0f"
                              : c == DAOE_COL_LR  ? "%.6g"
                              : (c >= DAOE_COL_SECONDS && c <= DAOE_COL_IPS) ? "%.3f"
                                                                             : "%.6f";
            fmt_num(sb, row[c], fmt);
        }
        daoe_sb_printf(sb, "\n");
    }
}

void daoe_alpha_csv_header(daoe_strbuf *sb, unsigned cols) {
    daoe_sb_printf(sb, "step,epoch,lr_scale,loss,batch_acc");
    for (int f = 0; f < DAOE_NFEAT; f++) daoe_sb_printf(sb, ",%s", daoe_feature_names[f]);
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < DAOE_K; i++)
            if ((cols >> i) & 1u) daoe_sb_printf(sb, ",%s_%s", ALPHA_GROUPS[g], daoe_member_names[i]);
    /* the controller's inputs: standardised and clipped (progress raw), 0 while undefined */
    for (int f = 0; f < DAOE_NFEAT; f++) daoe_sb_printf(sb, ",in_%s", daoe_feature_names[f]);
    daoe_sb_printf(sb, "\n");
}

void daoe_alpha_csv_row(daoe_strbuf *sb, const daoe_trace *r, double sched, unsigned features, unsigned cols) {
    daoe_sb_printf(sb, "%d,%d,%.6g,", r->t, r->epoch + 1, sched);
    fmt_num(sb, r->loss, "%.6g");
    daoe_sb_printf(sb, ",");
    fmt_num(sb, r->n > 0 ? r->correct / r->n : NAN, "%.6g");
    for (int f = 0; f < DAOE_NFEAT; f++) {
        daoe_sb_printf(sb, ",");
        if ((features >> f) & 1u) fmt_num(sb, r->feat[f], "%.6g");
    }
    const float *grp[4] = {r->alpha, r->dnorm, r->share, r->h};
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < DAOE_K; i++) {
            if (!((cols >> i) & 1u)) continue;
            daoe_sb_printf(sb, ",");
            fmt_num(sb, grp[g][i], "%.6g");
        }
    for (int f = 0; f < DAOE_NFEAT; f++) {
        daoe_sb_printf(sb, ",");
        if ((features >> f) & 1u) fmt_num(sb, r->fstd[f], "%.6g");
    }
    daoe_sb_printf(sb, "\n");
}

int daoe_run_write_log(const daoe_run_folder *rf, const daoe_run_log *lg, char *err, size_t errlen) {
    daoe_strbuf csv = {0};
    epochs_csv(&csv, lg->rows, lg->nrows, daoe_run_columns(rf->cfg));
    int wr = daoe_run_write(rf, DAOE_RUN_EPOCHS, csv.s, err, errlen);
    daoe_sb_free(&csv);
    return wr ? wr : daoe_run_write(rf, DAOE_RUN_ALPHA, lg->alpha.s, err, errlen);
}

/* ------------------------------------------------------------------ config.json */
static void machine_json(cJSON *o, daoe_backend *be) {
    struct utsname u;
    cJSON *m = cJSON_AddObjectToObject(o, "machine");
    if (uname(&u) == 0) {
        cJSON_AddStringToObject(m, "hostname", u.nodename);
        char k[600];
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
        cJSON_AddStringToObject(m, "kernel", k);
    }
    daoe_cpu_info ci;
    daoe_cpu_describe(&ci);
    cJSON_AddStringToObject(m, "cpu", ci.label);
    if (ci.family >= 0) cJSON_AddNumberToObject(m, "cpu_family", ci.family);
    if (ci.model_number >= 0) cJSON_AddNumberToObject(m, "cpu_model", ci.model_number);
    cJSON_AddStringToObject(m, "cpu_simd", ci.simd);
    cJSON_AddNumberToObject(m, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(m, "cores_usable", (double)daoe_cpus_usable());
    cJSON_AddStringToObject(m, "device", be->desc);
}

/* config.json's fields beside the settings */
static char *extra_json(daoe_session *s) {
    const daoe_config *cfg = &s->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON *v = cJSON_AddObjectToObject(o, "versions");
    cJSON_AddStringToObject(v, "daoe", DAOE_VERSION);
    cJSON_AddStringToObject(v, "cjson", cJSON_Version());
    cJSON_AddStringToObject(v, "openssl", OPENSSL_VERSION_TEXT);
#ifdef DAOE_R123_VERSION
    cJSON_AddStringToObject(v, "random123", DAOE_R123_VERSION);
#endif
    cJSON_AddStringToObject(v, "git_commit", DAOE_GIT_COMMIT);
    cJSON_AddStringToObject(v, "compiler", __VERSION__);
    machine_json(o, s->be);
    daoe_config_environment_json(cfg, o); /* backend_options, environment: from the option table */
    if (s->be->describe) s->be->describe(s->be, o);
    cJSON_AddNumberToObject(o, "parameters", (double)s->net.nparams_real);
    cJSON_AddNumberToObject(o, "steps_per_epoch", s->steps_per_epoch);
    cJSON_AddNumberToObject(o, "total_steps", (double)s->total_steps);
    cJSON_AddStringToObject(o, "controller_timing", cfg->ctrl_two_pass && cfg->controller == DAOE_CTRL_HYPERGRAD
                                                        ? "two passes: reductions, then the update with this step's alpha"
                                                        : "one pass, controller one step behind (SPEC 3.3)");
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return js;
}

int daoe_run_write_config(const daoe_run_folder *rf, daoe_session *s, char *err, size_t errlen) {
    char *extra = extra_json(s);
    char *cj = daoe_config_json(rf->cfg, extra);
    free(extra);
    int rc = daoe_run_write(rf, DAOE_RUN_CONFIG, cj, err, errlen);
    free(cj);
    return rc;
}

/* ------------------------------------------------------------------ summary.json */
int daoe_run_write_summary(const daoe_run_folder *rf, const daoe_run_log *lg, const char *status, long diverged_at,
                           double wall_seconds, const char *device, char *err, size_t errlen) {
    const daoe_config *cfg = rf->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddStringToObject(o, "optimizer", cfg->optimizer);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "epochs", cfg->epochs);
    cJSON_AddNumberToObject(o, "epochs_completed", lg->nrows);
    cJSON_AddNumberToObject(o, "steps", (double)lg->t);
    const double *fin = lg->nrows ? lg->rows + (size_t)(lg->nrows - 1) * DAOE_NCOL : NULL;
    double best = NAN;
    int best_ep = 0;
    for (int r = 0; r < lg->nrows; r++) {
        double v = lg->rows[(size_t)r * DAOE_NCOL + DAOE_COL_VAL_ACC];
        if (isfinite(v) && !(v <= best)) {
            best = v;
            best_ep = r + 1;
        }
    }
    if (diverged_at > 0) {
        cJSON_AddNumberToObject(o, "diverged_at_step", (double)diverged_at);
        cJSON_AddNullToObject(o, "final_test_acc");
        cJSON_AddNullToObject(o, "final_val_acc");
    } else {
        json_num(o, "final_test_acc", fin ? fin[DAOE_COL_TEST_ACC] : NAN);
        json_num(o, "final_test_loss", fin ? fin[DAOE_COL_TEST_LOSS] : NAN);
        json_num(o, "final_val_acc", fin ? fin[DAOE_COL_VAL_ACC] : NAN);
        json_num(o, "final_val_loss", fin ? fin[DAOE_COL_VAL_LOSS] : NAN);
        json_num(o, "final_train_loss", fin ? fin[DAOE_COL_TRAIN_LOSS] : NAN);
        json_num(o, "final_train_acc", fin ? fin[DAOE_COL_TRAIN_ACC] : NAN);
    }
    json_num(o, "best_val_acc", best);
    cJSON_AddNumberToObject(o, "best_val_epoch", best_ep);
    json_num(o, "images_per_second", lg->train_seconds > 0 ? lg->train_images / lg->train_seconds : NAN);
    json_num(o, "train_seconds", lg->train_seconds);
    json_num(o, "wall_seconds", wall_seconds);
    cJSON *a0 = cJSON_AddObjectToObject(o, "alpha_start");
    cJSON *a1 = cJSON_AddObjectToObject(o, "alpha_end");
    for (int i = 0; i < DAOE_K; i++)
        if ((cfg->members >> i) & 1u) {
            json_num(a0, daoe_member_names[i], lg->alpha_first[i]);
            json_num(a1, daoe_member_names[i], lg->alpha_last[i]);
        }
    cJSON_AddStringToObject(o, "backend", cfg->backend);
    cJSON_AddStringToObject(o, "device", device);
    cJSON_AddStringToObject(o, "settings_sha256", rf->settings_sha256);
    char *js = cJSON_Print(o);
    cJSON_Delete(o);
    int rc = daoe_run_write(rf, DAOE_RUN_SUMMARY, js, err, errlen);
    free(js);
    return rc;
}

/* ------------------------------------------------------------------ the checkpoint */
int daoe_run_save_checkpoint(const daoe_run_folder *rf, daoe_session *s, const daoe_run_log *lg, char *err,
                             size_t errlen) {
    /* the log's member columns packed to the run's (daoe_run_columns) */
    const unsigned cols = daoe_run_columns(rf->cfg);
    const int nc = ncolumns(cols), width = DAOE_COL_ALPHA + 2 * nc;
    double *rows = daoe_xmalloc(sizeof(double) * (size_t)(lg->nrows ? lg->nrows : 1) * (size_t)width);
    for (int r = 0; r < lg->nrows; r++) {
        const double *src = lg->rows + (size_t)r * DAOE_NCOL;
        double *dst = rows + (size_t)r * width;
        memcpy(dst, src, sizeof(double) * DAOE_COL_ALPHA);
        for (int i = 0, k = 0; i < DAOE_K; i++)
            if ((cols >> i) & 1u) {
                dst[DAOE_COL_ALPHA + k] = src[DAOE_COL_ALPHA + i];
                dst[DAOE_COL_ALPHA + nc + k] = src[DAOE_COL_SHARE + i];
                k++;
            }
    }
    const daoe_epoch_sums *es = &lg->sums;
    double sums[4 + 2 * DAOE_K];
    float a0[DAOE_K], a1[DAOE_K];
    sums[0] = es->loss, sums[1] = es->correct, sums[2] = es->n, sums[3] = (double)es->nrec;
    for (int i = 0, k = 0; i < DAOE_K; i++)
        if ((cols >> i) & 1u) {
            sums[4 + k] = es->alpha[i], sums[4 + nc + k] = es->share[i];
            a0[k] = lg->alpha_first[i], a1[k] = lg->alpha_last[i];
            k++;
        }
    daoe_st_tensor extra[5] = {
        {"log.epochs", "F64", 2, {lg->nrows, width}, rows},
        {"log.alpha_csv", "U8", 1, {(int64_t)lg->alpha.len}, lg->alpha.s},
        {"log.epoch_sums", "F64", 1, {4 + 2 * nc}, sums},
        {"log.alpha_first", "F32", 1, {nc}, a0},
        {"log.alpha_last", "F32", 1, {nc}, a1},
    };
    char tstr[32], ts[64], ti[64], es_str[32], secs_str[64], path[2300];
    snprintf(tstr, sizeof tstr, "%ld", lg->t);
    snprintf(ts, sizeof ts, "%.17g", lg->train_seconds);
    snprintf(ti, sizeof ti, "%.17g", lg->train_images);
    snprintf(es_str, sizeof es_str, "%d", lg->epoch_step);
    snprintf(secs_str, sizeof secs_str, "%.17g", lg->epoch_seconds);
    const char *meta[] = {"format", "daoe-checkpoint", "config", rf->settings, "step", tstr, "train_seconds", ts,
                          "train_images", ti, "epoch_step", es_str, "epoch_seconds", secs_str, NULL};
    daoe_run_path(path, sizeof path, rf->dir, DAOE_RUN_CHECKPOINT);
    int rc = daoe_session_save_state(s, path, extra, 5, meta, err, errlen) == 0 ? 0 : DAOE_EXIT_WRITE;
    free(rows);
    return rc;
}

/* a tensor of the log: its bytes, or NULL with a message */
static const void *log_tensor(const daoe_st_file *f, const char *path, const char *name, const char *dtype,
                              int ndim, int64_t *shape, char *err, size_t errlen) {
    int nd;
    int64_t s2[4];
    if (daoe_st_shape(f, name, &nd, s2) != 0 || nd != ndim) {
        daoe_errf(err, errlen, "%s: tensor %s missing or malformed", path, name);
        return NULL;
    }
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0) shape[d] = s2[d];
    return daoe_st_get(f, name, dtype, ndim, shape, err, errlen);
}

/* the epoch log, the trace so far, the partial epoch and alpha at both ends */
static int load_log(const daoe_st_file *f, const char *path, int epochs, unsigned cols, daoe_run_log *lg, char *err,
                    size_t errlen) {
    const int nc = ncolumns(cols), width = DAOE_COL_ALPHA + 2 * nc;
    int64_t sh[2] = {-1, width};
    const double *p = log_tensor(f, path, "log.epochs", "F64", 2, sh, err, errlen);
    if (!p) return -1;
    if (sh[0] > epochs) {
        daoe_errf(err, errlen, "%s: log.epochs has %lld rows for %d epochs", path, (long long)sh[0], epochs);
        return -1;
    }
    lg->rows = daoe_xcalloc((size_t)(sh[0] + 1) * DAOE_NCOL, sizeof(double));
    for (int r = 0; r < (int)sh[0]; r++) {
        const double *src = p + (size_t)r * width;
        double *dst = lg->rows + (size_t)r * DAOE_NCOL;
        memcpy(dst, src, sizeof(double) * DAOE_COL_ALPHA);
        for (int i = 0, k = 0; i < DAOE_K; i++)
            if ((cols >> i) & 1u) {
                dst[DAOE_COL_ALPHA + i] = src[DAOE_COL_ALPHA + k];
                dst[DAOE_COL_SHARE + i] = src[DAOE_COL_ALPHA + nc + k];
                k++;
            }
    }
    lg->nrows = (int)sh[0];
    sh[0] = -1;
    const void *txt = log_tensor(f, path, "log.alpha_csv", "U8", 1, sh, err, errlen);
    if (!txt) return -1;
    lg->alpha.len = 0;
    daoe_sb_printf(&lg->alpha, "%.*s", (int)sh[0], (const char *)txt);
    /* checkpoints of an earlier version end at an epoch and lack these: the
     * sums start at zero, alpha at both ends is the checkpoint's */
    int nd;
    int64_t s4[4];
    if (daoe_st_shape(f, "log.epoch_sums", &nd, s4) != 0) return 0;
    sh[0] = 4 + 2 * nc;
    const double *sums = log_tensor(f, path, "log.epoch_sums", "F64", 1, sh, err, errlen);
    sh[0] = nc;
    const float *a0 = log_tensor(f, path, "log.alpha_first", "F32", 1, sh, err, errlen);
    const float *a1 = log_tensor(f, path, "log.alpha_last", "F32", 1, sh, err, errlen);
    if (!sums || !a0 || !a1) return -1;
    daoe_epoch_sums *es = &lg->sums;
    es->loss = sums[0], es->correct = sums[1], es->n = sums[2], es->nrec = (long)sums[3];
    for (int i = 0, k = 0; i < DAOE_K; i++)
        if ((cols >> i) & 1u) {
            es->alpha[i] = sums[4 + k], es->share[i] = sums[4 + nc + k];
            lg->alpha_first[i] = a0[k], lg->alpha_last[i] = a1[k];
            k++;
        }
    return 0;
}

/* a metadata number, checked; absent: *out unchanged when optional */
static int meta_num(const daoe_st_file *f, const char *key, double lo, double hi, int optional, double *out) {
    const char *v = daoe_st_meta(f, key);
    if (!v && optional) return 0;
    if (!v || !v[0]) return -1;
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

/* The settings were matched by daoe_run_probe (the caller's --resume asked it first). */
int daoe_run_load_checkpoint(const daoe_run_folder *rf, daoe_session *s, daoe_run_log *lg, char *err,
                             size_t errlen) {
    char path[2300];
    daoe_run_path(path, sizeof path, rf->dir, DAOE_RUN_CHECKPOINT);
    daoe_st_file *f = daoe_st_open(path, err, errlen);
    if (!f) return -1;
    const int spe = s->steps_per_epoch;
    int rc = -1;
    double t, ts, ti, es = 0, secs = 0; /* epoch_*: absent in checkpoints of an earlier version */
    if (!daoe_st_meta(f, "config") || meta_num(f, "step", 0, (double)s->total_steps, 0, &t) ||
        meta_num(f, "train_seconds", 0, 1e300, 0, &ts) || meta_num(f, "train_images", 0, 1e300, 0, &ti) ||
        meta_num(f, "epoch_step", 0, spe - 1, 1, &es) || meta_num(f, "epoch_seconds", 0, 1e300, 1, &secs)) {
        daoe_errf(err, errlen, "%s: not a daoe checkpoint (metadata missing or malformed)", path);
    } else if (daoe_session_load_state(s, f, err, errlen) != 0) {
        char e2[1024];
        snprintf(e2, sizeof e2, "%.1000s", err);
        daoe_errf(err, errlen, "%s: %s", path, e2);
    } else if (load_log(f, path, rf->cfg->epochs, daoe_run_columns(rf->cfg), lg, err, errlen) == 0) {
        lg->t = (long)t;
        lg->train_seconds = ts;
        lg->train_images = ti;
        lg->epoch_step = (int)es;
        lg->epoch_seconds = secs;
        s->t = lg->t;
        if (lg->t != (long)lg->nrows * spe + lg->epoch_step)
            daoe_errf(err, errlen, "%s: step %ld does not match epoch %d step %d", path, lg->t, lg->nrows,
                      lg->epoch_step);
        else rc = 0;
    }
    daoe_st_close(f);
    return rc;
}
