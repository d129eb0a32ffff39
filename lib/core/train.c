/* daoe_train_run: one training run from a configuration to a run folder.
 *   setup   the data (checked before anything is written), the session,
 *           config.json, --resume from the checkpoint;
 *   epochs  train (steps, trace rows into alpha.csv, divergence check),
 *           evaluate, log (epochs.csv, alpha.csv), checkpoint;
 *   finish  summary.json and final.safetensors.
 * Every file is written atomically (a write error: exit 5, the old file
 * kept); NaN/Inf stops the run as "diverged". SIGTERM/SIGINT/SIGUSR1 stop it
 * at the next step with a checkpoint (exit 4). A checkpoint holds everything
 * the rest of the run depends on, the epoch log and alpha.csv's text
 * included, so a run killed at any moment and resumed ends with the same
 * bytes: rows written after the checkpoint are rewritten from it. */
#define _GNU_SOURCE
#include "daoe/train.h"
#include "daoe/data.h"
#include "daoe/rng.h"
#include "daoe/safetensors.h"
#include "daoe/util.h"
#include "daoe_git.h" /* generated at build time */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <math.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TRACE_CAP 64
#define READ_EVERY 10

/* epochs.csv columns (and the rows of the checkpoint's log.epochs) */
enum {
    COL_EPOCH, COL_TRAIN_LOSS, COL_TRAIN_ACC, COL_VAL_LOSS, COL_VAL_ACC, COL_TEST_LOSS, COL_TEST_ACC, COL_LR,
    COL_SECONDS, COL_TRAIN_SECONDS, COL_IPS, COL_ALPHA, COL_SHARE = COL_ALPHA + DAOE_K, NCOL = COL_SHARE + DAOE_K
};
static const char *const EPOCH_COLS[COL_ALPHA] = {
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
    "train_seconds", "images_per_second"};

/* what the run has recorded so far (restored by --resume) */
typedef struct {
    double *rows;  /* [nrows][NCOL] */
    int nrows;
    daoe_strbuf alpha; /* alpha.csv */
    long t;            /* steps whose trace rows were read */
    double train_seconds, train_images;
} runlog;

/* one epoch's sums over its trace rows (a checkpoint inside an epoch keeps
 * them as the F64 vector log.epoch_sums: loss, correct, n, nrec, alpha, share) */
typedef struct {
    double loss, correct, n, alpha[DAOE_K], share[DAOE_K];
    long nrec;
} epoch_sums;
#define NSUMS (4 + 2 * DAOE_K)

typedef struct {
    const daoe_config *cfg;
    daoe_cifar data;
    daoe_session *s;
    runlog lg;
    char *fp;             /* the settings a checkpoint must match */
    char fp_sha[65];      /* its sha256, in summary.json */
    char ckpt[2048];
    int spe, nsplit, ntrain, start_epoch;
    int start_step;       /* steps of start_epoch done before a resume inside it */
    epoch_sums start_sums;
    double start_secs;
    int stop_sig, stop_step; /* a stop signal seen before step stop_step of the epoch */
    int already_done;     /* --resume of a finished run */
    int lock_fd;          /* the output folder, flock-ed while the run writes there */
    long T, W;
    int32_t *perm;        /* [ntrain] this epoch's order */
    daoe_trace *ring;     /* [TRACE_CAP] host copy of the device trace */
    float alpha_first[DAOE_K], alpha_last[DAOE_K];
    int diverged;
    long div_step;
    int tty;
    double t_run0, last_ckpt, eval_secs_est;
    char err[2048];
} trainer;

/* ------------------------------------------------------------------ small pieces */
static int cmp_key(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Order of the n training images in epoch e: sort by Philox keys. */
static void epoch_perm(uint64_t seed, int epoch, int n, int shuffle, int32_t *perm) {
    if (!shuffle) {
        for (int i = 0; i < n; i++) perm[i] = i;
        return;
    }
    uint64_t *k = daoe_xmalloc(sizeof(uint64_t) * 2 * (size_t)n);
    for (int i = 0; i < n; i++) {
        philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)i, (uint32_t)epoch, 0, DAOE_STREAM_SHUFFLE);
        k[2 * i] = ((uint64_t)r.v[0] << 32) | r.v[1];
        k[2 * i + 1] = (uint64_t)i;
    }
    qsort(k, (size_t)n, 2 * sizeof(uint64_t), cmp_key);
    for (int i = 0; i < n; i++) perm[i] = (int32_t)k[2 * i + 1];
    free(k);
}

static void fmt_num(daoe_strbuf *sb, double v, const char *fmt) {
    if (isnan(v)) daoe_sb_printf(sb, "nan");
    else if (isinf(v)) daoe_sb_printf(sb, v > 0 ? "inf" : "-inf");
    else daoe_sb_printf(sb, fmt, v);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void json_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* 0, or DAOE_EXIT_WRITE with err set */
static int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return daoe_write_file_atomic(path, text, strlen(text), err, errlen) == 0 ? 0 : DAOE_EXIT_WRITE;
}

/* ------------------------------------------------------------------ CSV text */
static void epochs_csv(daoe_strbuf *sb, const double *rows, int nrows) {
    for (int c = 0; c < COL_ALPHA; c++) daoe_sb_printf(sb, "%s%s", c ? "," : "", EPOCH_COLS[c]);
    for (int i = 0; i < DAOE_K; i++) daoe_sb_printf(sb, ",alpha_%s", daoe_member_names[i]);
    for (int i = 0; i < DAOE_K; i++) daoe_sb_printf(sb, ",share_%s", daoe_member_names[i]);
    daoe_sb_printf(sb, "\n");
    for (int r = 0; r < nrows; r++) {
        const double *row = rows + (size_t)r * NCOL;
        for (int c = 0; c < NCOL; c++) {
            if (c) daoe_sb_printf(sb, ",");
            const char *fmt = c == COL_EPOCH ? "%.0f"
                              : c == COL_LR  ? "%.6g"
                              : (c >= COL_SECONDS && c <= COL_IPS) ? "%.3f"
                                                                   : "%.6f";
            fmt_num(sb, row[c], fmt);
        }
        daoe_sb_printf(sb, "\n");
    }
}

static void alpha_header(daoe_strbuf *sb) {
    daoe_sb_printf(sb, "step,epoch,lr_scale,loss,batch_acc");
    for (int f = 0; f < DAOE_NFEAT; f++) daoe_sb_printf(sb, ",%s", daoe_feature_names[f]);
    const char *grp[4] = {"alpha", "dnorm", "share", "h"};
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < DAOE_K; i++) daoe_sb_printf(sb, ",%s_%s", grp[g], daoe_member_names[i]);
    /* the controller's inputs: standardised and clipped (progress raw), 0 while undefined */
    for (int f = 0; f < DAOE_NFEAT; f++) daoe_sb_printf(sb, ",in_%s", daoe_feature_names[f]);
    daoe_sb_printf(sb, "\n");
}

/* A feature switched off (features bit clear) is written empty in both groups. */
static void alpha_row(daoe_strbuf *sb, const daoe_trace *r, double sched, unsigned features) {
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
            daoe_sb_printf(sb, ",");
            fmt_num(sb, grp[g][i], "%.6g");
        }
    for (int f = 0; f < DAOE_NFEAT; f++) {
        daoe_sb_printf(sb, ",");
        if ((features >> f) & 1u) fmt_num(sb, r->fstd[f], "%.6g");
    }
    daoe_sb_printf(sb, "\n");
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
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 2;
                    c[strcspn(c, "\n")] = 0;
                    cJSON_AddStringToObject(m, "cpu", c);
                }
                break;
            }
        fclose(f);
    }
    cJSON_AddNumberToObject(m, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(m, "device", be->desc);
}

/* The environment switches that change how a run computes (null: unset). */
static void environment_json(cJSON *o) {
    static const char *const names[] = {"DAOE_NO_GRAPH",  "DAOE_OPT_GENERIC", "DAOE_CUDNN_SEARCH",
                                        "DAOE_DEBUG_SYNC", "DAOE_BLAS_AUTO",   "OPENBLAS_CORETYPE"};
    cJSON *e = cJSON_AddObjectToObject(o, "environment");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v) cJSON_AddStringToObject(e, names[i], v);
        else cJSON_AddNullToObject(e, names[i]);
    }
}

static char *extra_json(const daoe_config *cfg, daoe_backend *be, const daoe_net *net, int spe, long T) {
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
    machine_json(o, be);
    environment_json(o);
    if (be->describe) be->describe(be, o);
    cJSON_AddNumberToObject(o, "parameters", (double)net->nparams_real);
    cJSON_AddNumberToObject(o, "steps_per_epoch", spe);
    cJSON_AddNumberToObject(o, "total_steps", (double)T);
    cJSON_AddStringToObject(o, "controller_timing", cfg->ctrl_two_pass && cfg->controller == DAOE_CTRL_HYPERGRAD
                                                        ? "two passes: reductions, then the update with this step's alpha"
                                                        : "one pass, controller one step behind (SPEC 3.3)");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The settings that define the run's result (what must match to resume). */
static char *fingerprint(const daoe_config *cfg) {
    daoe_config c = *cfg;
    c.out[0] = c.data[0] = 0;
    c.threads = c.quiet = c.resume = c.debug_sync = 0;
    c.verify = 0;
    return daoe_config_json(&c, NULL);
}

static void settings_digest(const char *fp, char hex[65]) {
    const void *p = fp;
    size_t n = strlen(fp);
    daoe_sha256_chunks(&p, &n, 1, hex);
}

static int write_config_json(trainer *tr) {
    char *extra = extra_json(&tr->s->cfg, tr->s->be, &tr->s->net, tr->spe, tr->T);
    char *cj = daoe_config_json(tr->cfg, extra);
    free(extra);
    int rc = write_text(tr->cfg->out, "config.json", cj, tr->err, sizeof tr->err);
    free(cj);
    return rc;
}

/* ------------------------------------------------------------------ checkpoints */
/* The state after step lg->t: es and secs are the sums and train seconds of
 * the epoch's first epoch_step steps (0: at an epoch boundary). */
static int save_checkpoint(trainer *tr, int epoch_step, const epoch_sums *es, double secs) {
    const runlog *lg = &tr->lg;
    double sums[NSUMS] = {0};
    if (es) {
        sums[0] = es->loss, sums[1] = es->correct, sums[2] = es->n, sums[3] = (double)es->nrec;
        memcpy(sums + 4, es->alpha, sizeof es->alpha);
        memcpy(sums + 4 + DAOE_K, es->share, sizeof es->share);
    }
    daoe_st_tensor extra[5] = {
        {"log.epochs", "F64", 2, {lg->nrows, NCOL}, lg->rows},
        {"log.alpha_csv", "U8", 1, {(int64_t)lg->alpha.len}, lg->alpha.s},
        {"log.epoch_sums", "F64", 1, {NSUMS}, sums},
        {"log.alpha_first", "F32", 1, {DAOE_K}, tr->alpha_first},
        {"log.alpha_last", "F32", 1, {DAOE_K}, tr->alpha_last},
    };
    char tstr[32], ts[64], ti[64], es_str[32], secs_str[64];
    snprintf(tstr, sizeof tstr, "%ld", lg->t);
    snprintf(ts, sizeof ts, "%.17g", lg->train_seconds);
    snprintf(ti, sizeof ti, "%.17g", lg->train_images);
    snprintf(es_str, sizeof es_str, "%d", epoch_step);
    snprintf(secs_str, sizeof secs_str, "%.17g", secs);
    const char *meta[] = {"format", "daoe-checkpoint", "config", tr->fp, "step", tstr, "train_seconds", ts,
                          "train_images", ti, "epoch_step", es_str, "epoch_seconds", secs_str, NULL};
    if (daoe_session_save_state(tr->s, tr->ckpt, extra, 5, meta, tr->err, sizeof tr->err) != 0)
        return DAOE_EXIT_WRITE;
    return 0;
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
static int load_runlog(trainer *tr, const daoe_st_file *f, const char *path, char *err, size_t errlen) {
    runlog *lg = &tr->lg;
    int64_t sh[2] = {-1, NCOL};
    const void *p = log_tensor(f, path, "log.epochs", "F64", 2, sh, err, errlen);
    if (!p) return -1;
    if (sh[0] > tr->cfg->epochs) {
        daoe_errf(err, errlen, "%s: log.epochs has %lld rows for %d epochs", path, (long long)sh[0],
                  tr->cfg->epochs);
        return -1;
    }
    lg->rows = daoe_xmalloc(sizeof(double) * (size_t)(sh[0] + 1) * NCOL);
    memcpy(lg->rows, p, sizeof(double) * (size_t)sh[0] * NCOL);
    lg->nrows = (int)sh[0];
    sh[0] = -1;
    p = log_tensor(f, path, "log.alpha_csv", "U8", 1, sh, err, errlen);
    if (!p) return -1;
    lg->alpha.len = 0;
    daoe_sb_printf(&lg->alpha, "%.*s", (int)sh[0], (const char *)p);
    /* checkpoints of an earlier version end at an epoch and lack these: the
     * sums start at zero, alpha at both ends is the checkpoint's */
    int nd;
    int64_t s4[4];
    if (daoe_st_shape(f, "log.epoch_sums", &nd, s4) != 0) return 0;
    sh[0] = NSUMS;
    const double *sums = log_tensor(f, path, "log.epoch_sums", "F64", 1, sh, err, errlen);
    sh[0] = DAOE_K;
    const float *a0 = log_tensor(f, path, "log.alpha_first", "F32", 1, sh, err, errlen);
    const float *a1 = log_tensor(f, path, "log.alpha_last", "F32", 1, sh, err, errlen);
    if (!sums || !a0 || !a1) return -1;
    epoch_sums *es = &tr->start_sums;
    es->loss = sums[0], es->correct = sums[1], es->n = sums[2], es->nrec = (long)sums[3];
    memcpy(es->alpha, sums + 4, sizeof es->alpha);
    memcpy(es->share, sums + 4 + DAOE_K, sizeof es->share);
    memcpy(tr->alpha_first, a0, sizeof tr->alpha_first);
    memcpy(tr->alpha_last, a1, sizeof tr->alpha_last);
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

static int load_checkpoint(trainer *tr, char *err, size_t errlen) {
    const char *path = tr->ckpt;
    daoe_st_file *f = daoe_st_open(path, err, errlen);
    if (!f) return -1;
    int rc = -1;
    const char *cfp = daoe_st_meta(f, "config");
    double t, ts, ti, es = 0, secs = 0; /* epoch_*: absent in checkpoints of an earlier version */
    if (!cfp || meta_num(f, "step", 0, (double)tr->T, 0, &t) || meta_num(f, "train_seconds", 0, 1e300, 0, &ts) ||
        meta_num(f, "train_images", 0, 1e300, 0, &ti) || meta_num(f, "epoch_step", 0, tr->spe - 1, 1, &es) ||
        meta_num(f, "epoch_seconds", 0, 1e300, 1, &secs)) {
        daoe_errf(err, errlen, "%s: not a daoe checkpoint (metadata missing or malformed)", path);
    } else if (strcmp(cfp, tr->fp) != 0) {
        daoe_errf(err, errlen, "%s: written with other settings; use a new --out or delete the folder", path);
    } else if (daoe_session_load_state(tr->s, f, err, errlen) != 0) {
        char e2[1024];
        snprintf(e2, sizeof e2, "%.1000s", err);
        daoe_errf(err, errlen, "%s: %s", path, e2);
    } else if (load_runlog(tr, f, path, err, errlen) == 0) {
        tr->lg.t = (long)t;
        tr->lg.train_seconds = ts;
        tr->lg.train_images = ti;
        tr->start_step = (int)es;
        tr->start_secs = secs;
        tr->s->t = tr->lg.t;
        if (tr->lg.t != (long)tr->lg.nrows * tr->spe + tr->start_step)
            daoe_errf(err, errlen, "%s: step %ld does not match epoch %d step %d", path, tr->lg.t, tr->lg.nrows,
                      tr->start_step);
        else rc = 0;
    }
    daoe_st_close(f);
    return rc;
}

/* --resume of a run that already ended: summary.json says finished (or
 * diverged) with these settings and final.safetensors opens. 1 then, with the
 * status to return in *status; 0 to train (a damaged end is reported). */
static int ended_before(trainer *tr, int *status) {
    char p[2300], e[1024];
    snprintf(p, sizeof p, "%s/summary.json", tr->cfg->out);
    if (!daoe_file_exists(p)) return 0;
    char *text = daoe_read_file(p, NULL, e, sizeof e);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "settings_sha256");
    int ended = 0;
    if (!cJSON_IsString(st)) {
        fprintf(stderr, "daoe-train: %s: damaged (not a summary); ignored\n", p);
    } else if (strcmp(st->valuestring, "finished") && strcmp(st->valuestring, "diverged")) {
        /* interrupted: the checkpoint goes on */
    } else if (cJSON_IsString(sha) && strcmp(sha->valuestring, tr->fp_sha) != 0) {
        daoe_errf(tr->err, sizeof tr->err, "--resume: %s: the run there ended with other settings; use a new "
                  "--out or delete the folder", p);
        *status = DAOE_EXIT_ERROR;
        ended = 1;
    } else if (!strcmp(st->valuestring, "diverged")) {
        fprintf(stderr, "daoe-train: %s already ended: diverged (summary.json); nothing to do\n", tr->cfg->out);
        *status = DAOE_EXIT_DIVERGED;
        ended = 1;
    } else {
        snprintf(p, sizeof p, "%s/final.safetensors", tr->cfg->out);
        daoe_st_file *f = daoe_st_open(p, e, sizeof e);
        if (f && daoe_st_count(f) > 0) {
            fprintf(stderr, "daoe-train: %s already finished (summary.json, final.safetensors); nothing to do\n",
                    tr->cfg->out);
            *status = 0;
            ended = 1;
        } else {
            fprintf(stderr, "daoe-train: %s says finished but %s is damaged (%s); training again\n",
                    tr->cfg->out, p, f ? "no tensors" : e);
        }
        daoe_st_close(f);
    }
    cJSON_Delete(j);
    /* a kill after summary.json and before the checkpoint's removal leaves one behind */
    if (ended && *status != DAOE_EXIT_ERROR && daoe_file_exists(tr->ckpt)) unlink(tr->ckpt);
    return ended;
}

/* Temporary files of writes a kill interrupted ("NAME.tmp.PID"). */
static void remove_stale_temps(const char *out) {
    DIR *d = opendir(out);
    if (!d) return;
    struct dirent *ent;
    char p[2300];
    while ((ent = readdir(d)))
        if (strstr(ent->d_name, ".tmp.")) {
            snprintf(p, sizeof p, "%s/%s", out, ent->d_name);
            unlink(p);
        }
    closedir(d);
}

/* A run that starts over leaves no earlier result behind. */
static void remove_old_results(const char *out) {
    const char *files[] = {"summary.json", "final.safetensors", "checkpoint.safetensors", NULL};
    char p[2300];
    for (int i = 0; files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        unlink(p);
    }
}

/* ------------------------------------------------------------------ setup */
/* One run at a time in a folder: a second one (a sweep restarted while the
 * run it stopped still writes its checkpoint) waits for the first. */
static int lock_out(trainer *tr) {
    const char *out = tr->cfg->out;
    tr->lock_fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tr->lock_fd < 0) {
        daoe_errf(tr->err, sizeof tr->err, "%s: cannot open: %s", out, strerror(errno));
        return DAOE_EXIT_ERROR;
    }
    /* a file system without folder locks (some NFS setups) runs unlocked */
    if (flock(tr->lock_fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) return 0;
    fprintf(stderr, "daoe-train: %s: another daoe-train is writing there; waiting for it to stop\n", out);
    while (flock(tr->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) return 0;
        if (daoe_stop_requested()) {
            fprintf(stderr, "daoe-train: stopped while waiting for %s\n", out);
            return DAOE_EXIT_INTERRUPTED;
        }
    }
    return 0;
}

/* 0, or the exit status (tr->already_done: --resume of an ended run) */
static int setup(trainer *tr) {
    const daoe_config *cfg = tr->cfg;
    char e[2048];
    if (daoe_cifar_load(cfg->data, cfg->verify, &tr->data, tr->err, sizeof tr->err) != 0) return DAOE_EXIT_ERROR;
    tr->nsplit = daoe_config_split(cfg);
    tr->ntrain = daoe_config_ntrain(cfg);
    daoe_session_opts so = {.trace_cap = TRACE_CAP};
    tr->s = daoe_session_create(cfg, &so, tr->err, sizeof tr->err);
    if (!tr->s) return DAOE_EXIT_ERROR;
    tr->spe = tr->s->steps_per_epoch;
    tr->T = tr->s->total_steps;
    tr->W = tr->s->warmup_steps;
    if (daoe_mkdir_p(cfg->out, tr->err, sizeof tr->err) != 0) return DAOE_EXIT_WRITE;
    int ls = lock_out(tr);
    if (ls) return ls;
    tr->fp = fingerprint(cfg);
    settings_digest(tr->fp, tr->fp_sha);
    remove_stale_temps(cfg->out);
    snprintf(tr->ckpt, sizeof tr->ckpt, "%s/checkpoint.safetensors", cfg->out);
    daoe_session_alpha(tr->s, tr->alpha_first);
    memcpy(tr->alpha_last, tr->alpha_first, sizeof tr->alpha_last);
    int status = 0;
    if (cfg->resume && ended_before(tr, &status)) {
        tr->already_done = 1;
        return status;
    }
    if (cfg->resume && daoe_file_exists(tr->ckpt)) {
        if (load_checkpoint(tr, e, sizeof e) != 0) {
            daoe_errf(tr->err, sizeof tr->err, "--resume: %s (delete it to start over)", e);
            return DAOE_EXIT_ERROR;
        }
        tr->start_epoch = tr->lg.nrows;
        if (!cfg->quiet)
            fprintf(stderr, "daoe-train: resuming %s at epoch %d step %d (step %ld of the run)\n", cfg->out,
                    tr->start_epoch + 1, tr->start_step, tr->lg.t);
    } else {
        remove_old_results(cfg->out);
        alpha_header(&tr->lg.alpha);
    }
    tr->lg.rows = realloc(tr->lg.rows, sizeof(double) * NCOL * (size_t)(cfg->epochs + 1));
    if (write_config_json(tr) != 0) return DAOE_EXIT_WRITE;
    if (cfg->save_init && tr->lg.t == 0) {
        char path[2048];
        snprintf(path, sizeof path, "%s/init.safetensors", cfg->out);
        if (daoe_session_save_weights(tr->s, path, tr->err, sizeof tr->err) != 0) return DAOE_EXIT_WRITE;
    }
    daoe_session_set_images(tr->s, DAOE_SET_TRAIN, tr->data.train_images, tr->data.train_labels, tr->data.ntrain);
    daoe_session_set_images(tr->s, DAOE_SET_TEST, tr->data.test_images, tr->data.test_labels, tr->data.ntest);
    tr->perm = daoe_xmalloc(sizeof(int32_t) * (size_t)tr->ntrain);
    tr->ring = daoe_xmalloc(sizeof(daoe_trace) * TRACE_CAP);
    tr->tty = isatty(2) && !cfg->quiet;
    tr->t_run0 = tr->last_ckpt = daoe_now();
    return 0;
}

/* ------------------------------------------------------------------ one epoch */
/* Trace rows of steps (last_read, t]: epoch sums, alpha.csv, divergence. */
static void read_trace(trainer *tr, long last_read, long t, epoch_sums *es) {
    const daoe_config *cfg = tr->cfg;
    daoe_session_read_trace(tr->s, tr->ring);
    for (long u = last_read + 1; u <= t; u++) {
        const daoe_trace *r = &tr->ring[(u - 1) % TRACE_CAP];
        es->loss += r->loss;
        es->correct += r->correct;
        es->n += r->n;
        es->nrec++;
        for (int i = 0; i < DAOE_K; i++) {
            es->alpha[i] += r->alpha[i];
            es->share[i] += r->share[i];
        }
        memcpy(tr->alpha_last, r->alpha, sizeof tr->alpha_last);
        if (u % cfg->trace_every == 0 || u == 1)
            alpha_row(&tr->lg.alpha, r, daoe_schedule_factor(cfg, u - 1, tr->T, tr->W), cfg->features);
        if (!tr->diverged && (!isfinite(r->loss) || !isfinite(r->feat[DAOE_F_GNORM]))) {
            tr->diverged = 1;
            tr->div_step = u;
        }
    }
}

/* whether epoch e (from 0) is evaluated: every eval_every-th, and the last */
static int evaluated_epoch(const daoe_config *cfg, int e) {
    return e + 1 == cfg->epochs || (cfg->eval_every > 0 && (e + 1) % cfg->eval_every == 0);
}

static void progress(trainer *tr, int e, int s, long t, double t_tr0, const epoch_sums *es) {
    const int B = tr->s->batch;
    double el = daoe_now() - t_tr0, rate = (s + 1) * (double)B / el;
    int evals = 0;
    for (int k = e; k < tr->cfg->epochs; k++) evals += evaluated_epoch(tr->cfg, k);
    double left = (double)(tr->T - t) * B / rate + evals * tr->eval_secs_est;
    char eta[32];
    fmt_eta(eta, sizeof eta, left);
    fprintf(stderr, "\r  epoch %d/%d  step %d/%d  loss %.4f  %.1f img/s  ETA %s   ", e + 1, tr->cfg->epochs, s + 1,
            tr->spe, es->nrec ? es->loss / es->nrec : NAN, rate, eta);
}

/* The training steps of epoch e from step s0 (es: the sums of the steps
 * before it); returns their seconds. A stop signal ends it early at a step
 * boundary (tr->stop_sig, tr->stop_step), every trace row read. */
static double train_epoch(trainer *tr, int e, int s0, epoch_sums *es) {
    const int B = tr->s->batch;
    epoch_perm(tr->cfg->seed, e, tr->ntrain, tr->cfg->shuffle, tr->perm);
    long last_read = tr->lg.t;
    double t_tr0 = daoe_now();
    for (int s = s0; s < tr->spe && !tr->diverged; s++) {
        int sig = daoe_stop_requested();
        if (sig) {
            if (tr->s->t > last_read) read_trace(tr, last_read, tr->s->t, es);
            tr->lg.t = tr->s->t;
            tr->stop_sig = sig;
            tr->stop_step = s;
            break;
        }
        daoe_session_train_step(tr->s, tr->perm + (size_t)s * B, e);
        daoe_test_kill("step", NULL);
        long t = tr->s->t;
        if (t % READ_EVERY == 0 || s == tr->spe - 1) {
            read_trace(tr, last_read, t, es);
            last_read = tr->lg.t = t;
            if (tr->tty) progress(tr, e, s, t, t_tr0, es);
        }
    }
    tr->s->be->sync(tr->s->be);
    double secs = daoe_now() - t_tr0;
    if (tr->tty) fprintf(stderr, "\r%100s\r", "");
    return secs;
}

/* Evaluates (evaluated_epoch), appends the row of epoch e, rewrites epochs.csv and alpha.csv. */
static int log_epoch(trainer *tr, int e, const epoch_sums *es, double t_ep0, double tr_secs) {
    const daoe_config *cfg = tr->cfg;
    runlog *lg = &tr->lg;
    const int B = tr->s->batch;
    lg->train_seconds += tr_secs;
    lg->train_images += (double)tr->spe * B;
    double t_ev0 = daoe_now();
    double vl = NAN, va = NAN, tl = NAN, ta = NAN;
    if (evaluated_epoch(cfg, e)) {
        if (cfg->val) daoe_session_evaluate(tr->s, DAOE_SET_TRAIN, tr->nsplit, cfg->val, &vl, &va);
        daoe_session_evaluate(tr->s, DAOE_SET_TEST, 0, cfg->test_subset ? cfg->test_subset : tr->data.ntest, &tl, &ta);
        tr->eval_secs_est = daoe_now() - t_ev0;
    }
    double *row = lg->rows + (size_t)lg->nrows * NCOL;
    double nrec = es->nrec ? es->nrec : 1;
    row[COL_EPOCH] = e + 1;
    row[COL_TRAIN_LOSS] = es->loss / nrec;
    row[COL_TRAIN_ACC] = es->correct / (es->n > 0 ? es->n : 1);
    row[COL_VAL_LOSS] = vl;
    row[COL_VAL_ACC] = va;
    row[COL_TEST_LOSS] = tl;
    row[COL_TEST_ACC] = ta;
    row[COL_LR] = daoe_member_lr(cfg, __builtin_ctz(cfg->members)) *
                  daoe_schedule_factor(cfg, (long)(e + 1) * tr->spe - 1, tr->T, tr->W);
    row[COL_SECONDS] = daoe_now() - t_ep0;
    row[COL_TRAIN_SECONDS] = tr_secs;
    row[COL_IPS] = (double)tr->spe * B / tr_secs;
    for (int i = 0; i < DAOE_K; i++) {
        row[COL_ALPHA + i] = es->alpha[i] / nrec;
        row[COL_SHARE + i] = es->share[i] / nrec;
    }
    lg->nrows++;
    daoe_strbuf csv = {0};
    epochs_csv(&csv, lg->rows, lg->nrows);
    int wr = write_text(cfg->out, "epochs.csv", csv.s, tr->err, sizeof tr->err);
    daoe_sb_free(&csv);
    if (wr == 0) wr = write_text(cfg->out, "alpha.csv", lg->alpha.s, tr->err, sizeof tr->err);
    if (wr != 0) return wr;
    if (!cfg->quiet) {
        char eta[32];
        double done_frac = (double)(e + 1 - tr->start_epoch) / (cfg->epochs - tr->start_epoch);
        fmt_eta(eta, sizeof eta, (daoe_now() - tr->t_run0) * (1.0 - done_frac) / done_frac);
        fprintf(stderr, "epoch %3d/%d  train loss %.4f acc %.4f  val %.4f  test loss %.4f acc %.4f  lr %.3g  "
                        "%.1fs  %.1f img/s  ETA %s\n",
                e + 1, cfg->epochs, row[COL_TRAIN_LOSS], row[COL_TRAIN_ACC], va, tl, ta, row[COL_LR],
                row[COL_SECONDS], row[COL_IPS], eta);
    }
    return 0;
}

static char *summary_json(trainer *tr, const char *status);

/* A stop signal came: checkpoint, summary.json "interrupted", exit 4. */
static int interrupted(trainer *tr, const epoch_sums *es, double secs) {
    int rc = save_checkpoint(tr, tr->stop_step, es, secs);
    if (rc) return rc;
    char *js = summary_json(tr, "interrupted");
    rc = write_text(tr->cfg->out, "summary.json", js, tr->err, sizeof tr->err);
    free(js);
    if (rc) return rc;
    fprintf(stderr, "daoe-train: interrupted by signal %d at step %ld: checkpoint written; the same command with "
                    "--resume goes on\n", tr->stop_sig, tr->lg.t);
    return DAOE_EXIT_INTERRUPTED;
}

/* Train, evaluate, log, checkpoint. Returns 0 or the exit status (a write
 * error, a stop signal); a diverged epoch ends without a row. */
static int run_epoch(trainer *tr, int e) {
    double t_ep0 = daoe_now();
    epoch_sums es;
    memset(&es, 0, sizeof es);
    int s0 = 0;
    double prev_secs = 0;
    if (e == tr->start_epoch && tr->start_step > 0) {
        es = tr->start_sums;
        s0 = tr->start_step;
        prev_secs = tr->start_secs;
    }
    double tr_secs = prev_secs + train_epoch(tr, e, s0, &es);
    if (tr->diverged) return 0;
    if (tr->stop_sig) return interrupted(tr, &es, tr_secs);
    int rc = log_epoch(tr, e, &es, t_ep0, tr_secs);
    if (rc) return rc;
    int last = e + 1 == tr->cfg->epochs;
    if (!last && daoe_now() - tr->last_ckpt >= 60.0 * tr->cfg->checkpoint_minutes) {
        rc = save_checkpoint(tr, 0, NULL, 0);
        if (rc) return rc;
        tr->last_ckpt = daoe_now();
    }
    return 0;
}

/* ------------------------------------------------------------------ finish */
static char *summary_json(trainer *tr, const char *status) {
    const daoe_config *cfg = tr->cfg;
    const runlog *lg = &tr->lg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddStringToObject(o, "optimizer", cfg->optimizer);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "epochs", cfg->epochs);
    cJSON_AddNumberToObject(o, "epochs_completed", lg->nrows);
    cJSON_AddNumberToObject(o, "steps", (double)lg->t);
    const double *fin = lg->nrows ? lg->rows + (size_t)(lg->nrows - 1) * NCOL : NULL;
    double best = NAN;
    int best_ep = 0;
    for (int r = 0; r < lg->nrows; r++) {
        double v = lg->rows[(size_t)r * NCOL + COL_VAL_ACC];
        if (isfinite(v) && !(v <= best)) {
            best = v;
            best_ep = r + 1;
        }
    }
    if (tr->diverged) {
        cJSON_AddNumberToObject(o, "diverged_at_step", (double)tr->div_step);
        cJSON_AddNullToObject(o, "final_test_acc");
        cJSON_AddNullToObject(o, "final_val_acc");
    } else {
        json_num(o, "final_test_acc", fin ? fin[COL_TEST_ACC] : NAN);
        json_num(o, "final_test_loss", fin ? fin[COL_TEST_LOSS] : NAN);
        json_num(o, "final_val_acc", fin ? fin[COL_VAL_ACC] : NAN);
        json_num(o, "final_val_loss", fin ? fin[COL_VAL_LOSS] : NAN);
        json_num(o, "final_train_loss", fin ? fin[COL_TRAIN_LOSS] : NAN);
        json_num(o, "final_train_acc", fin ? fin[COL_TRAIN_ACC] : NAN);
    }
    json_num(o, "best_val_acc", best);
    cJSON_AddNumberToObject(o, "best_val_epoch", best_ep);
    json_num(o, "images_per_second", lg->train_seconds > 0 ? lg->train_images / lg->train_seconds : NAN);
    json_num(o, "train_seconds", lg->train_seconds);
    json_num(o, "wall_seconds", daoe_now() - tr->t_run0);
    cJSON *a0 = cJSON_AddObjectToObject(o, "alpha_start");
    cJSON *a1 = cJSON_AddObjectToObject(o, "alpha_end");
    for (int i = 0; i < DAOE_K; i++)
        if ((cfg->members >> i) & 1u) {
            json_num(a0, daoe_member_names[i], tr->alpha_first[i]);
            json_num(a1, daoe_member_names[i], tr->alpha_last[i]);
        }
    cJSON_AddStringToObject(o, "backend", cfg->backend);
    cJSON_AddStringToObject(o, "device", tr->s->be->desc);
    cJSON_AddStringToObject(o, "settings_sha256", tr->fp_sha);
    char *js = cJSON_Print(o);
    cJSON_Delete(o);
    return js;
}

/* final.safetensors (diverged: alpha.csv instead), then summary.json, then
 * the checkpoint goes; returns the exit status. A kill between these steps
 * resumes from the checkpoint, or finds the run ended. */
static int finish(trainer *tr) {
    const daoe_config *cfg = tr->cfg;
    int wr;
    if (!tr->diverged) {
        char path[2048];
        snprintf(path, sizeof path, "%s/final.safetensors", cfg->out);
        wr = daoe_session_save_weights(tr->s, path, tr->err, sizeof tr->err) == 0 ? 0 : DAOE_EXIT_WRITE;
    } else {
        wr = write_text(cfg->out, "alpha.csv", tr->lg.alpha.s, tr->err, sizeof tr->err);
    }
    if (wr) return wr;
    char *js = summary_json(tr, tr->diverged ? "diverged" : "finished");
    wr = write_text(cfg->out, "summary.json", js, tr->err, sizeof tr->err);
    free(js);
    if (wr) return wr;
    if (daoe_file_exists(tr->ckpt)) remove(tr->ckpt);
    if (tr->diverged) {
        fprintf(stderr, "daoe-train: diverged: non-finite loss or gradient at step %ld (epoch %ld); "
                        "summary.json says status \"diverged\"\n", tr->div_step, (tr->div_step - 1) / tr->spe + 1);
        return DAOE_EXIT_DIVERGED;
    }
    if (!cfg->quiet) {
        const runlog *lg = &tr->lg;
        double acc = lg->nrows ? lg->rows[(size_t)(lg->nrows - 1) * NCOL + COL_TEST_ACC] : NAN;
        fprintf(stderr, "daoe-train: finished: test acc %.4f, %s/summary.json\n", acc, cfg->out);
    }
    return 0;
}

static void teardown(trainer *tr) {
    if (tr->lock_fd > 0) close(tr->lock_fd);
    free(tr->perm);
    free(tr->ring);
    free(tr->fp);
    free(tr->lg.rows);
    daoe_sb_free(&tr->lg.alpha);
    daoe_session_free(tr->s);
    daoe_cifar_free(&tr->data);
}

/* ------------------------------------------------------------------ the run */
int daoe_train_run(const daoe_config *cfg) {
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = cfg;
    daoe_stop_signals_install();
    int status = setup(&tr);
    if (!tr.already_done) {
        for (int e = tr.start_epoch; status == 0 && e < cfg->epochs && !tr.diverged; e++)
            status = run_epoch(&tr, e);
        if (status == 0) status = finish(&tr);
    }
    if (status == DAOE_EXIT_ERROR || status == DAOE_EXIT_WRITE) fprintf(stderr, "daoe-train: error: %s\n", tr.err);
    teardown(&tr);
    return status;
}
