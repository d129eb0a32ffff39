/* daoe_train_run: one training run from a configuration to a run folder.
 * Loads and checks the data (before anything is written), builds the network
 * and optimizer on the chosen backend, trains with per-iteration schedule,
 * evaluates every epoch, writes config.json, epochs.csv, alpha.csv,
 * summary.json, final.safetensors (atomically), checkpoints for --resume, and
 * stops cleanly on NaN/Inf ("diverged"). */
#define _GNU_SOURCE
#include "daoe/train.h"
#include "daoe/data.h"
#include "daoe/rng.h"
#include "daoe/safetensors.h"
#include "daoe/util.h"
#include "daoe_git.h" /* generated at build time */
#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TRACE_CAP 64
#define READ_EVERY 10
#define NCOL 19

static const char *EPOCH_COLS[NCOL] = {
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
    "train_seconds", "images_per_second", "alpha_sgd", "alpha_adam", "alpha_rmsprop", "alpha_lion",
    "share_sgd", "share_adam", "share_rmsprop", "share_lion"};

typedef struct {
    const daoe_config *cfg;
    daoe_backend *be;
    daoe_net net;
    daoe_opt opt;
    int B;
    float *eval_stats;
    int32_t *idx_dev;
} trainer;

void daoe_step_run(void *ctx) {
    daoe_step *s = ctx;
    daoe_backend *be = s->be;
    daoe_net_forward(s->net, s->batch, 1);
    be->xent(be, s->batch, 10, s->net->logits, s->net->y, s->net->dlogits, s->opt->stats);
    daoe_net_backward(s->net, s->batch);
    be->opt_step(be, s->opt);
    be->ctrl_step(be, s->opt);
    be->refresh_weights(be);
}

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

static void evaluate(trainer *tr, const uint8_t *img, const int32_t *lab, int start, int count, double *loss,
                     double *acc) {
    daoe_backend *be = tr->be;
    int32_t *idx = daoe_xmalloc(sizeof(int32_t) * (size_t)tr->B);
    double ls = 0.0, correct = 0.0;
    for (int i = 0; i < count; i += tr->B) {
        int n = count - i < tr->B ? count - i : tr->B;
        for (int k = 0; k < n; k++) idx[k] = start + i + k;
        be->to_device(be, tr->idx_dev, idx, sizeof(int32_t) * (size_t)n);
        be->load_batch(be, img, lab, tr->idx_dev, n, 0, 0, 0, tr->net.x, tr->net.y, tr->eval_stats);
        daoe_net_forward(&tr->net, n, 0);
        be->xent(be, n, 10, tr->net.logits, tr->net.y, NULL, tr->eval_stats);
        float st[DAOE_NSTAT];
        be->to_host(be, st, tr->eval_stats, sizeof st);
        ls += (double)st[DAOE_ST_LOSS] * n;
        correct += st[DAOE_ST_CORRECT];
    }
    free(idx);
    *loss = count ? ls / count : NAN;
    *acc = count ? correct / count : NAN;
}

static void fmt_num(daoe_strbuf *sb, double v, const char *fmt) {
    if (isnan(v)) daoe_sb_printf(sb, "nan");
    else if (isinf(v)) daoe_sb_printf(sb, v > 0 ? "inf" : "-inf");
    else daoe_sb_printf(sb, fmt, v);
}

static void epochs_csv(daoe_strbuf *sb, const double *rows, int nrows) {
    for (int c = 0; c < NCOL; c++) daoe_sb_printf(sb, "%s%s", c ? "," : "", EPOCH_COLS[c]);
    daoe_sb_printf(sb, "\n");
    for (int r = 0; r < nrows; r++) {
        const double *row = rows + (size_t)r * NCOL;
        for (int c = 0; c < NCOL; c++) {
            if (c) daoe_sb_printf(sb, ",");
            fmt_num(sb, row[c], c == 0 ? "%.0f" : (c == 7 ? "%.6g" : (c >= 8 && c <= 10 ? "%.3f" : "%.6f")));
        }
        daoe_sb_printf(sb, "\n");
    }
}

static void alpha_header(daoe_strbuf *sb) {
    daoe_sb_printf(sb, "step,epoch,lr_scale,loss,batch_acc");
    static const char *fn[DAOE_NFEAT] = {"x_mean", "x_var", "pred_entropy", "grad_norm", "grad_var",
                                         "loss_delta", "progress"};
    for (int f = 0; f < DAOE_NFEAT; f++) daoe_sb_printf(sb, ",%s", fn[f]);
    const char *grp[4] = {"alpha", "dnorm", "share", "h"};
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < DAOE_K; i++) daoe_sb_printf(sb, ",%s_%s", grp[g], daoe_member_names[i]);
    daoe_sb_printf(sb, "\n");
}

static void alpha_row(daoe_strbuf *sb, const daoe_trace *r, double sched) {
    daoe_sb_printf(sb, "%d,%d,%.6g,", r->t, r->epoch + 1, sched);
    fmt_num(sb, r->loss, "%.6g");
    daoe_sb_printf(sb, ",");
    fmt_num(sb, r->n > 0 ? r->correct / r->n : NAN, "%.6g");
    for (int f = 0; f < DAOE_NFEAT; f++) {
        daoe_sb_printf(sb, ",");
        fmt_num(sb, r->feat[f], "%.6g");
    }
    const float *grp[4] = {r->alpha, r->dnorm, r->share, r->h};
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < DAOE_K; i++) {
            daoe_sb_printf(sb, ",");
            fmt_num(sb, grp[g][i], "%.6g");
        }
    daoe_sb_printf(sb, "\n");
}

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

static char *extra_json(daoe_backend *be, const daoe_net *net, int spe, long T) {
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
    if (be->describe) be->describe(be, o);
    cJSON_AddNumberToObject(o, "parameters", (double)net->nparams_real);
    cJSON_AddNumberToObject(o, "steps_per_epoch", spe);
    cJSON_AddNumberToObject(o, "total_steps", (double)T);
    cJSON_AddStringToObject(o, "controller_timing", "one pass, controller one step behind (SPEC 3.3)");
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

/* ------------------------------------------------------------------ checkpoints */
typedef struct {
    double *rows;
    int nrows;
    daoe_strbuf alpha;
    long t;
    double train_seconds, train_images;
} runlog;

static int save_checkpoint(trainer *tr, const char *path, const runlog *lg, const char *fp, char *err,
                           size_t errlen) {
    daoe_backend *be = tr->be;
    daoe_net *net = &tr->net;
    daoe_state_buf sb[16];
    int ns = daoe_opt_state_list(&tr->opt, sb, 16);
    int nt = 5 + ns;
    daoe_st_tensor *t = daoe_xcalloc((size_t)nt, sizeof *t);
    void **host = daoe_xcalloc((size_t)nt, sizeof(void *));
    size_t pb = net->nparams * sizeof(float), bb = net->nbufs * sizeof(float);
    host[0] = daoe_xmalloc(pb);
    be->to_host(be, host[0], net->params, pb);
    t[0] = (daoe_st_tensor){"params", "F32", 1, {(int64_t)net->nparams}, host[0]};
    host[1] = daoe_xmalloc(bb ? bb : 1);
    be->to_host(be, host[1], net->bufs, bb);
    t[1] = (daoe_st_tensor){"buffers", "F32", 1, {(int64_t)net->nbufs}, host[1]};
    t[2] = (daoe_st_tensor){"num_batches_tracked", "I64", 0, {0}, &net->num_batches_tracked};
    t[3] = (daoe_st_tensor){"log.epochs", "F64", 2, {lg->nrows, NCOL}, lg->rows};
    t[4] = (daoe_st_tensor){"log.alpha_csv", "U8", 1, {(int64_t)lg->alpha.len}, lg->alpha.s};
    for (int i = 0; i < ns; i++) {
        host[5 + i] = daoe_xmalloc(sb[i].bytes);
        be->to_host(be, host[5 + i], sb[i].ptr, sb[i].bytes);
        size_t es = daoe_dtype_size(sb[i].dtype);
        t[5 + i] = (daoe_st_tensor){sb[i].name, sb[i].dtype, 1, {(int64_t)(sb[i].bytes / es)}, host[5 + i]};
    }
    char tstr[32], ts[64], ti[64];
    snprintf(tstr, sizeof tstr, "%ld", lg->t);
    snprintf(ts, sizeof ts, "%.17g", lg->train_seconds);
    snprintf(ti, sizeof ti, "%.17g", lg->train_images);
    const char *meta[] = {"format", "daoe-checkpoint", "config", fp, "step", tstr, "train_seconds", ts,
                          "train_images", ti, NULL};
    int rc = daoe_st_write(path, t, nt, meta, err, errlen);
    for (int i = 0; i < nt; i++) free(host[i]);
    free(host);
    free(t);
    return rc;
}

static int load_checkpoint(trainer *tr, const char *path, runlog *lg, const char *fp, char *err,
                           size_t errlen) {
    daoe_backend *be = tr->be;
    daoe_net *net = &tr->net;
    daoe_st_file *f = daoe_st_open(path, err, errlen);
    if (!f) return -1;
    int rc = -1;
    const char *cfp = daoe_st_meta(f, "config"), *st = daoe_st_meta(f, "step");
    const char *ts = daoe_st_meta(f, "train_seconds"), *ti = daoe_st_meta(f, "train_images");
    if (!cfp || !st || !ts || !ti) {
        daoe_errf(err, errlen, "%s: not a daoe checkpoint (metadata missing)", path);
        goto done;
    }
    if (strcmp(cfp, fp) != 0) {
        daoe_errf(err, errlen, "%s: written with other settings; use a new --out or delete the folder", path);
        goto done;
    }
    int64_t shp[2] = {(int64_t)net->nparams, 0};
    const void *p = daoe_st_get(f, "params", "F32", 1, shp, err, errlen);
    if (!p) goto done;
    be->to_device(be, net->params, p, net->nparams * sizeof(float));
    shp[0] = (int64_t)net->nbufs;
    p = daoe_st_get(f, "buffers", "F32", 1, shp, err, errlen);
    if (!p) goto done;
    be->to_device(be, net->bufs, p, net->nbufs * sizeof(float));
    p = daoe_st_get(f, "num_batches_tracked", "I64", 0, shp, err, errlen);
    if (!p) goto done;
    memcpy(&net->num_batches_tracked, p, sizeof(int64_t));
    daoe_state_buf sb[16];
    int ns = daoe_opt_state_list(&tr->opt, sb, 16);
    for (int i = 0; i < ns; i++) {
        shp[0] = (int64_t)(sb[i].bytes / daoe_dtype_size(sb[i].dtype));
        p = daoe_st_get(f, sb[i].name, sb[i].dtype, 1, shp, err, errlen);
        if (!p) goto done;
        be->to_device(be, sb[i].ptr, p, sb[i].bytes);
    }
    /* the epoch log and the trace so far */
    lg->t = atol(st);
    lg->train_seconds = atof(ts);
    lg->train_images = atof(ti);
    int nd;
    int64_t s2[4];
    if (daoe_st_shape(f, "log.epochs", &nd, s2) != 0 || nd != 2 || s2[1] != NCOL) {
        daoe_errf(err, errlen, "%s: tensor log.epochs missing or malformed", path);
        goto done;
    }
    p = daoe_st_get(f, "log.epochs", "F64", 2, s2, err, errlen);
    if (!p) goto done;
    lg->rows = daoe_xmalloc(sizeof(double) * (size_t)(s2[0] + 1) * NCOL);
    memcpy(lg->rows, p, sizeof(double) * (size_t)s2[0] * NCOL);
    lg->nrows = (int)s2[0];
    if (daoe_st_shape(f, "log.alpha_csv", &nd, s2) != 0 || nd != 1) {
        daoe_errf(err, errlen, "%s: tensor log.alpha_csv missing or malformed", path);
        goto done;
    }
    p = daoe_st_get(f, "log.alpha_csv", "U8", 1, s2, err, errlen);
    if (!p) goto done;
    lg->alpha.len = 0;
    daoe_sb_printf(&lg->alpha, "%.*s", (int)s2[0], (const char *)p);
    rc = 0;
done:
    daoe_st_close(f);
    return rc;
}

/* ------------------------------------------------------------------ output files */
static int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return daoe_write_file_atomic(path, text, strlen(text), err, errlen);
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

/* ------------------------------------------------------------------ the run */
int daoe_train_run(const daoe_config *cfg) {
    char err[2048] = "";
    int status = 1;
    daoe_backend *be = NULL;
    daoe_cifar data;
    memset(&data, 0, sizeof data);
    if (daoe_cifar_load(cfg->data, cfg->verify, &data, err, sizeof err) != 0) {
        fprintf(stderr, "daoe-train: error: %s\n", err);
        return 1;
    }
    const int B = cfg->batch;
    const int nsplit = 50000 - cfg->val;
    const int ntrain = cfg->train_subset ? cfg->train_subset : nsplit;
    const int spe = ntrain / B;
    const long T = (long)spe * cfg->epochs;
    const long W = lround(cfg->warmup_epochs * spe);

    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = cfg;
    tr.B = B;
    daoe_net_layout(&tr.net, cfg->width);
    float *hp = daoe_xmalloc(sizeof(float) * tr.net.nparams);
    float *hb = daoe_xmalloc(sizeof(float) * (tr.net.nbufs ? tr.net.nbufs : 1));
    int64_t nbt = 0;
    daoe_net_init_host(&tr.net, cfg->seed, hp, hb);
    if (cfg->init_from[0] &&
        daoe_net_load(&tr.net, cfg->init_from, hp, hb, &nbt, err, sizeof err) != 0) {
        fprintf(stderr, "daoe-train: error: --init-from %s\n", err);
        goto out_data;
    }
    tr.be = daoe_backend_create(cfg->backend, cfg->precision, cfg->deterministic, cfg->threads, err, sizeof err);
    if (!tr.be) {
        fprintf(stderr, "daoe-train: error: %s\n", err);
        goto out_data;
    }
    be = tr.be;
    if (daoe_mkdir_p(cfg->out, err, sizeof err) != 0) {
        fprintf(stderr, "daoe-train: error: %s\n", err);
        goto out_be;
    }
    daoe_net_alloc(&tr.net, be, B);
    daoe_opt_setup(&tr.opt, be, cfg, tr.net.params, tr.net.grads, tr.net.nparams, tr.net.nparams_real, (int)T,
                   TRACE_CAP);
    tr.eval_stats = be->alloc(be, sizeof(float) * DAOE_NSTAT);
    tr.idx_dev = be->alloc(be, sizeof(int32_t) * (size_t)B);
    be->to_device(be, tr.net.params, hp, sizeof(float) * tr.net.nparams);
    be->to_device(be, tr.net.bufs, hb, sizeof(float) * tr.net.nbufs);
    tr.net.num_batches_tracked = nbt;
    be->refresh_weights(be);

    char *fp = fingerprint(cfg);
    runlog lg;
    memset(&lg, 0, sizeof lg);
    char ckpt[2048];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", cfg->out);
    int start_epoch = 0;
    if (cfg->resume && daoe_file_exists(ckpt)) {
        if (load_checkpoint(&tr, ckpt, &lg, fp, err, sizeof err) != 0) {
            fprintf(stderr, "daoe-train: error: --resume: %s\n", err);
            goto out_run;
        }
        start_epoch = lg.nrows;
        be->refresh_weights(be);
        if (!cfg->quiet) fprintf(stderr, "daoe-train: resuming %s after epoch %d (step %ld)\n", cfg->out, start_epoch, lg.t);
    } else {
        alpha_header(&lg.alpha);
    }
    if (!lg.rows) lg.rows = daoe_xmalloc(sizeof(double) * NCOL * (size_t)(cfg->epochs + 1));
    else lg.rows = realloc(lg.rows, sizeof(double) * NCOL * (size_t)(cfg->epochs + 1));

    char *extra = extra_json(be, &tr.net, spe, T);
    char *cj = daoe_config_json(cfg, extra);
    free(extra);
    if (write_text(cfg->out, "config.json", cj, err, sizeof err) != 0) {
        fprintf(stderr, "daoe-train: error: %s\n", err);
        free(cj);
        goto out_run;
    }
    free(cj);
    if (cfg->save_init && start_epoch == 0) {
        char path[2048];
        snprintf(path, sizeof path, "%s/init.safetensors", cfg->out);
        const char *meta[] = {"format", "pt", "producer", "daoe " DAOE_VERSION, NULL};
        if (daoe_net_save(&tr.net, path, hp, hb, nbt, meta, err, sizeof err) != 0) {
            fprintf(stderr, "daoe-train: error: %s\n", err);
            goto out_run;
        }
    }

    /* data on the backend */
    uint8_t *train_img = be->alloc(be, (size_t)data.ntrain * DAOE_IMG_BYTES);
    int32_t *train_lab = be->alloc(be, sizeof(int32_t) * (size_t)data.ntrain);
    uint8_t *test_img = be->alloc(be, (size_t)data.ntest * DAOE_IMG_BYTES);
    int32_t *test_lab = be->alloc(be, sizeof(int32_t) * (size_t)data.ntest);
    be->to_device(be, train_img, data.train_images, (size_t)data.ntrain * DAOE_IMG_BYTES);
    be->to_device(be, train_lab, data.train_labels, sizeof(int32_t) * (size_t)data.ntrain);
    be->to_device(be, test_img, data.test_images, (size_t)data.ntest * DAOE_IMG_BYTES);
    be->to_device(be, test_lab, data.test_labels, sizeof(int32_t) * (size_t)data.ntest);

    daoe_step step = {be, &tr.net, &tr.opt, B};
    int32_t *perm = daoe_xmalloc(sizeof(int32_t) * (size_t)ntrain);
    daoe_trace *ring = daoe_xmalloc(sizeof(daoe_trace) * TRACE_CAP);
    const int tty = isatty(2) && !cfg->quiet;
    double t_run0 = daoe_now(), last_ckpt = daoe_now();
    int diverged = 0;
    long div_step = 0;
    float alpha_first[DAOE_K] = {0}, alpha_last[DAOE_K] = {0};
    {
        daoe_ctrl_state st0;
        be->to_host(be, &st0, tr.opt.state, sizeof st0);
        memcpy(alpha_first, st0.alpha, sizeof alpha_first);
        memcpy(alpha_last, st0.alpha, sizeof alpha_last);
    }
    double eval_secs_est = 0.0;
    for (int e = start_epoch; e < cfg->epochs && !diverged; e++) {
        double t_ep0 = daoe_now();
        epoch_perm(cfg->seed, e, ntrain, cfg->shuffle, perm);
        double sum_loss = 0, sum_corr = 0, sum_n = 0, sum_alpha[DAOE_K] = {0}, sum_share[DAOE_K] = {0};
        long last_read = lg.t, nrec = 0;
        double t_tr0 = daoe_now();
        for (int s = 0; s < spe && !diverged; s++) {
            long t = (long)e * spe + s + 1;
            daoe_step_consts sc;
            daoe_step_consts_fill(cfg, t, e, T, W, &sc);
            be->to_device(be, tr.opt.consts, &sc, sizeof sc);
            be->to_device(be, tr.idx_dev, perm + (size_t)s * B, sizeof(int32_t) * (size_t)B);
            be->load_batch(be, train_img, train_lab, tr.idx_dev, B, cfg->augment, cfg->seed, e, tr.net.x,
                           tr.net.y, tr.opt.stats);
            be->run_step(be, 0, daoe_step_run, &step);
            tr.net.num_batches_tracked++;
            if (t % READ_EVERY == 0 || s == spe - 1) {
                be->to_host(be, ring, tr.opt.trace, sizeof(daoe_trace) * TRACE_CAP);
                for (long u = last_read + 1; u <= t; u++) {
                    const daoe_trace *r = &ring[(u - 1) % TRACE_CAP];
                    sum_loss += r->loss;
                    sum_corr += r->correct;
                    sum_n += r->n;
                    nrec++;
                    for (int i = 0; i < DAOE_K; i++) {
                        sum_alpha[i] += r->alpha[i];
                        sum_share[i] += r->share[i];
                    }
                    memcpy(alpha_last, r->alpha, sizeof alpha_last);
                    if (u % cfg->trace_every == 0 || u == 1)
                        alpha_row(&lg.alpha, r, daoe_schedule_factor(cfg, u - 1, T, W));
                    if (!diverged && (!isfinite(r->loss) || !isfinite(r->feat[DAOE_F_GNORM]))) {
                        diverged = 1;
                        div_step = u;
                    }
                }
                last_read = t;
                lg.t = t;
                if (tty) {
                    double el = daoe_now() - t_tr0, rate = (s + 1) * (double)B / el;
                    double left = (double)(T - t) * B / rate + (cfg->epochs - e) * eval_secs_est;
                    char eta[32];
                    fmt_eta(eta, sizeof eta, left);
                    fprintf(stderr, "\r  epoch %d/%d  step %d/%d  loss %.4f  %.1f img/s  ETA %s   ", e + 1,
                            cfg->epochs, s + 1, spe, nrec ? sum_loss / nrec : NAN, rate, eta);
                }
            }
        }
        be->sync(be);
        double tr_secs = daoe_now() - t_tr0;
        if (tty) fprintf(stderr, "\r%100s\r", "");
        if (diverged) break;
        lg.train_seconds += tr_secs;
        lg.train_images += (double)spe * B;
        double t_ev0 = daoe_now();
        double vl = NAN, va = NAN, tl, ta;
        if (cfg->val) evaluate(&tr, train_img, train_lab, nsplit, cfg->val, &vl, &va);
        evaluate(&tr, test_img, test_lab, 0, cfg->test_subset ? cfg->test_subset : data.ntest, &tl, &ta);
        eval_secs_est = daoe_now() - t_ev0;
        double *row = lg.rows + (size_t)lg.nrows * NCOL;
        row[0] = e + 1;
        row[1] = sum_loss / (nrec ? nrec : 1);
        row[2] = sum_corr / (sum_n > 0 ? sum_n : 1);
        row[3] = vl;
        row[4] = va;
        row[5] = tl;
        row[6] = ta;
        row[7] = daoe_member_lr(cfg, __builtin_ctz(cfg->members)) * daoe_schedule_factor(cfg, (long)(e + 1) * spe - 1, T, W);
        row[8] = daoe_now() - t_ep0;
        row[9] = tr_secs;
        row[10] = (double)spe * B / tr_secs;
        for (int i = 0; i < DAOE_K; i++) {
            row[11 + i] = sum_alpha[i] / (nrec ? nrec : 1);
            row[15 + i] = sum_share[i] / (nrec ? nrec : 1);
        }
        lg.nrows++;
        daoe_strbuf csv = {0};
        epochs_csv(&csv, lg.rows, lg.nrows);
        int wr = write_text(cfg->out, "epochs.csv", csv.s, err, sizeof err);
        daoe_sb_free(&csv);
        if (wr == 0) wr = write_text(cfg->out, "alpha.csv", lg.alpha.s, err, sizeof err);
        if (wr != 0) {
            fprintf(stderr, "daoe-train: error: %s\n", err);
            goto out_loop;
        }
        if (!cfg->quiet) {
            char eta[32];
            double done_frac = (double)(e + 1 - start_epoch) / (cfg->epochs - start_epoch);
            fmt_eta(eta, sizeof eta, (daoe_now() - t_run0) * (1.0 - done_frac) / done_frac);
            fprintf(stderr, "epoch %3d/%d  train loss %.4f acc %.4f  val %.4f  test loss %.4f acc %.4f  lr %.3g  "
                            "%.1fs  %.1f img/s  ETA %s\n",
                    e + 1, cfg->epochs, row[1], row[2], va, tl, ta, row[7], row[8], row[10], eta);
        }
        int last = e + 1 == cfg->epochs;
        if (!last && daoe_now() - last_ckpt >= 60.0 * cfg->checkpoint_minutes) {
            if (save_checkpoint(&tr, ckpt, &lg, fp, err, sizeof err) != 0) {
                fprintf(stderr, "daoe-train: error: %s\n", err);
                goto out_loop;
            }
            last_ckpt = daoe_now();
        }
    }
    /* ---- summary */
    {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", diverged ? "diverged" : "finished");
        cJSON_AddStringToObject(o, "optimizer", cfg->optimizer);
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->seed);
        cJSON_AddRawToObject(o, "seed", seed);
        cJSON_AddNumberToObject(o, "epochs", cfg->epochs);
        cJSON_AddNumberToObject(o, "epochs_completed", lg.nrows);
        cJSON_AddNumberToObject(o, "steps", (double)lg.t);
        const double *fin = lg.nrows ? lg.rows + (size_t)(lg.nrows - 1) * NCOL : NULL;
        double best = NAN;
        int best_ep = 0;
        for (int r = 0; r < lg.nrows; r++) {
            double v = lg.rows[(size_t)r * NCOL + 4];
            if (isfinite(v) && !(v <= best)) { best = v; best_ep = r + 1; }
        }
        if (diverged) {
            cJSON_AddNumberToObject(o, "diverged_at_step", (double)div_step);
            cJSON_AddNullToObject(o, "final_test_acc");
            cJSON_AddNullToObject(o, "final_val_acc");
        } else {
            json_num(o, "final_test_acc", fin ? fin[6] : NAN);
            json_num(o, "final_test_loss", fin ? fin[5] : NAN);
            json_num(o, "final_val_acc", fin ? fin[4] : NAN);
            json_num(o, "final_val_loss", fin ? fin[3] : NAN);
            json_num(o, "final_train_loss", fin ? fin[1] : NAN);
            json_num(o, "final_train_acc", fin ? fin[2] : NAN);
        }
        json_num(o, "best_val_acc", best);
        cJSON_AddNumberToObject(o, "best_val_epoch", best_ep);
        json_num(o, "images_per_second", lg.train_seconds > 0 ? lg.train_images / lg.train_seconds : NAN);
        json_num(o, "train_seconds", lg.train_seconds);
        json_num(o, "wall_seconds", daoe_now() - t_run0);
        cJSON *a0 = cJSON_AddObjectToObject(o, "alpha_start");
        cJSON *a1 = cJSON_AddObjectToObject(o, "alpha_end");
        for (int i = 0; i < DAOE_K; i++)
            if ((cfg->members >> i) & 1u) {
                json_num(a0, daoe_member_names[i], alpha_first[i]);
                json_num(a1, daoe_member_names[i], alpha_last[i]);
            }
        cJSON_AddStringToObject(o, "backend", cfg->backend);
        cJSON_AddStringToObject(o, "device", be->desc);
        char *js = cJSON_Print(o);
        cJSON_Delete(o);
        int wr = 0;
        if (!diverged) {
            char path[2048];
            snprintf(path, sizeof path, "%s/final.safetensors", cfg->out);
            be->to_host(be, hp, tr.net.params, sizeof(float) * tr.net.nparams);
            be->to_host(be, hb, tr.net.bufs, sizeof(float) * tr.net.nbufs);
            const char *meta[] = {"format", "pt", "producer", "daoe " DAOE_VERSION, NULL};
            wr = daoe_net_save(&tr.net, path, hp, hb, tr.net.num_batches_tracked, meta, err, sizeof err);
        } else {
            write_text(cfg->out, "alpha.csv", lg.alpha.s, err, sizeof err);
        }
        if (wr == 0) wr = write_text(cfg->out, "summary.json", js, err, sizeof err);
        free(js);
        if (wr != 0) {
            fprintf(stderr, "daoe-train: error: %s\n", err);
            goto out_loop;
        }
        if (daoe_file_exists(ckpt)) remove(ckpt);
        if (diverged) {
            fprintf(stderr, "daoe-train: diverged: non-finite loss or gradient at step %ld (epoch %ld); "
                            "summary.json says status \"diverged\"\n", div_step, (div_step - 1) / spe + 1);
            status = 3;
        } else {
            if (!cfg->quiet)
                fprintf(stderr, "daoe-train: finished: test acc %.4f, %s/summary.json\n", fin ? fin[6] : NAN, cfg->out);
            status = 0;
        }
    }
out_loop:
    free(perm);
    free(ring);
    be->free(be, train_img);
    be->free(be, train_lab);
    be->free(be, test_img);
    be->free(be, test_lab);
out_run:
    free(fp);
    free(lg.rows);
    daoe_sb_free(&lg.alpha);
    be->free(be, tr.eval_stats);
    be->free(be, tr.idx_dev);
    daoe_opt_free(&tr.opt, be);
    daoe_net_free(&tr.net);
out_be:
    if (be) be->destroy(be);
out_data:
    free(hp);
    free(hb);
    daoe_cifar_free(&data);
    if (tr.net.tensors) free(tr.net.tensors);
    return status;
}
