/* The training session (see daoe/session.h): one configuration's backend,
 * network, optimizer and controller, batch buffers and image sets, and the
 * training step that runs on them. */
#include "daoe/session.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void daoe_step_run(void *ctx) {
    daoe_step *s = ctx;
    daoe_backend *be = s->be;
    daoe_net_forward(s->net, s->batch, 1);
    be->xent(be, s->batch, s->net->nclass, s->net->logits, s->net->y, s->net->dlogits, s->opt->stats);
    daoe_net_backward(s->net, s->batch);
    if (s->opt->ctrl.two_pass) {
        /* reductions, alpha of this step from them and this batch, then the update */
        be->opt_step(be, s->opt, DAOE_PASS_REDUCE);
        be->ctrl_step(be, s->opt, DAOE_CTRL_PRE);
        be->opt_step(be, s->opt, DAOE_PASS_UPDATE);
        be->ctrl_step(be, s->opt, DAOE_CTRL_POST);
    } else {
        be->opt_step(be, s->opt, DAOE_PASS_UPDATE);
        be->ctrl_step(be, s->opt, DAOE_CTRL_STEP);
    }
    be->refresh_weights(be);
}

daoe_session *daoe_session_create(const daoe_config *cfg, const daoe_session_opts *opts, char *err,
                                  size_t errlen) {
    daoe_session_opts o = {0};
    if (opts) o = *opts;
    daoe_session *s = daoe_xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->batch = cfg->batch;
    s->steps_per_epoch = daoe_config_steps_per_epoch(cfg);
    s->total_steps = o.total_steps > 0 ? o.total_steps : (long)s->steps_per_epoch * cfg->epochs;
    s->warmup_steps = lround(cfg->warmup_epochs * s->steps_per_epoch);
    s->graph_key = o.graph_key;
    daoe_net *net = &s->net;
    daoe_net_layout(net, cfg->width);
    /* the initial weights on the host first: a bad --init-from fails before any device work */
    float *hp = daoe_xmalloc(sizeof(float) * net->nparams);
    float *hb = daoe_xmalloc(sizeof(float) * (net->nbufs ? net->nbufs : 1));
    int64_t nbt = 0;
    daoe_net_init_host(net, cfg->seed, hp, hb);
    char e2[2048];
    if (cfg->init_from[0] && daoe_net_load(net, cfg->init_from, hp, hb, &nbt, e2, sizeof e2) != 0) {
        daoe_errf(err, errlen, "--init-from %s", e2);
        goto fail;
    }
    s->be = o.be;
    if (!s->be) {
        const daoe_backend_options bo = daoe_config_backend_options(cfg);
        s->be = daoe_backend_create(cfg->backend, &bo, err, errlen);
        if (!s->be) goto fail;
        s->own_be = 1;
    }
    daoe_backend *be = s->be;
    daoe_net_alloc(net, be, s->batch);
    daoe_opt_setup(&s->opt, be, cfg, net->params, net->grads, net->nparams, net->nparams_real, (int)s->total_steps,
                   o.trace_cap > 0 ? o.trace_cap : 64);
    s->eval_stats = be->alloc(be, sizeof(float) * DAOE_NSTAT);
    s->idx = be->alloc(be, sizeof(int32_t) * (size_t)s->batch);
    be->to_device(be, net->params, hp, sizeof(float) * net->nparams);
    be->to_device(be, net->bufs, hb, sizeof(float) * net->nbufs);
    net->num_batches_tracked = nbt;
    be->refresh_weights(be);
    s->step = (daoe_step){be, net, &s->opt, s->batch};
    free(hp);
    free(hb);
    return s;
fail:
    free(hp);
    free(hb);
    free(net->tensors);
    free(s);
    return NULL;
}

void daoe_session_free(daoe_session *s) {
    if (!s) return;
    daoe_backend *be = s->be;
    for (int k = 0; k < DAOE_NSETS; k++)
        if (s->set[k].images) {
            be->free(be, s->set[k].images);
            be->free(be, s->set[k].labels);
        }
    be->free(be, s->eval_stats);
    be->free(be, s->idx);
    daoe_opt_free(&s->opt, be);
    daoe_net_free(&s->net);
    free(s->net.tensors);
    if (s->own_be) be->destroy(be);
    free(s);
}

void daoe_session_set_images(daoe_session *s, int set, const uint8_t *images, const int32_t *labels, int n) {
    daoe_backend *be = s->be;
    if (s->set[set].images) {
        be->free(be, s->set[set].images);
        be->free(be, s->set[set].labels);
    }
    s->set[set].images = be->alloc(be, (size_t)n * 3072);
    s->set[set].labels = be->alloc(be, sizeof(int32_t) * (size_t)n);
    s->set[set].n = n;
    be->to_device(be, s->set[set].images, images, (size_t)n * 3072);
    be->to_device(be, s->set[set].labels, labels, sizeof(int32_t) * (size_t)n);
}

void daoe_session_load_batch(daoe_session *s, int set, const int32_t *idx, int n, int epoch, int training) {
    daoe_backend *be = s->be;
    be->to_device(be, s->idx, idx, sizeof(int32_t) * (size_t)n);
    if (training)
        be->load_batch(be, s->set[set].images, s->set[set].labels, s->idx, n, s->cfg.augment, s->cfg.seed, epoch,
                       s->net.x, s->net.y, s->opt.stats);
    else
        be->load_batch(be, s->set[set].images, s->set[set].labels, s->idx, n, 0, 0, 0, s->net.x, s->net.y,
                       s->eval_stats);
}

void daoe_session_begin_step(daoe_session *s, int epoch) {
    daoe_step_consts sc;
    daoe_step_consts_fill(&s->cfg, ++s->t, epoch, s->total_steps, s->warmup_steps, &sc);
    s->be->to_device(s->be, s->opt.consts, &sc, sizeof sc);
}

void daoe_session_step(daoe_session *s, int epoch) {
    daoe_session_begin_step(s, epoch);
    s->be->run_step(s->be, s->graph_key, daoe_step_run, &s->step);
    s->net.num_batches_tracked++;
}

void daoe_session_train_step(daoe_session *s, const int32_t *idx, int epoch) {
    daoe_session_load_batch(s, DAOE_SET_TRAIN, idx, s->batch, epoch, 1);
    daoe_session_step(s, epoch);
}

void daoe_session_evaluate(daoe_session *s, int set, int start, int count, double *loss, double *acc) {
    daoe_backend *be = s->be;
    const int B = s->batch;
    int32_t *idx = daoe_xmalloc(sizeof(int32_t) * (size_t)B);
    double ls = 0.0, correct = 0.0;
    for (int i = 0; i < count; i += B) {
        int n = count - i < B ? count - i : B;
        for (int k = 0; k < n; k++) idx[k] = start + i + k;
        daoe_session_load_batch(s, set, idx, n, 0, 0);
        daoe_net_forward(&s->net, n, 0);
        be->xent(be, n, s->net.nclass, s->net.logits, s->net.y, NULL, s->eval_stats);
        float st[DAOE_NSTAT];
        be->to_host(be, st, s->eval_stats, sizeof st);
        ls += (double)st[DAOE_ST_LOSS] * n;
        correct += st[DAOE_ST_CORRECT];
        daoe_test_kill("eval", NULL);
    }
    free(idx);
    *loss = count ? ls / count : NAN;
    *acc = count ? correct / count : NAN;
}

void daoe_session_read_trace(daoe_session *s, daoe_trace *ring) {
    s->be->to_host(s->be, ring, s->opt.trace, sizeof(daoe_trace) * (size_t)s->opt.trace_cap);
}

void daoe_session_alpha(daoe_session *s, float alpha[DAOE_K]) {
    daoe_ctrl_state st;
    s->be->to_host(s->be, &st, s->opt.state, sizeof st);
    memcpy(alpha, st.alpha, sizeof st.alpha);
}

void daoe_session_get_weights(daoe_session *s, float *params, float *bufs) {
    s->be->to_host(s->be, params, s->net.params, sizeof(float) * s->net.nparams);
    s->be->to_host(s->be, bufs, s->net.bufs, sizeof(float) * s->net.nbufs);
}

int daoe_session_save_weights(daoe_session *s, const char *path, char *err, size_t errlen) {
    float *hp = daoe_xmalloc(sizeof(float) * s->net.nparams);
    float *hb = daoe_xmalloc(sizeof(float) * (s->net.nbufs ? s->net.nbufs : 1));
    daoe_session_get_weights(s, hp, hb);
    const char *meta[] = {"format", "pt", "producer", "daoe " DAOE_VERSION, NULL};
    int rc = daoe_net_save(&s->net, path, hp, hb, s->net.num_batches_tracked, meta, err, errlen);
    free(hp);
    free(hb);
    return rc;
}

int daoe_session_save_state(daoe_session *s, const char *path, const daoe_st_tensor *extra, int nextra,
                            const char *const *meta, char *err, size_t errlen) {
    daoe_backend *be = s->be;
    daoe_net *net = &s->net;
    daoe_state_buf sb[DAOE_MAX_STATE_BUFS];
    int ns = daoe_opt_state_list(&s->opt, sb, DAOE_MAX_STATE_BUFS);
    int nt = 3 + nextra + ns;
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
    for (int i = 0; i < nextra; i++) t[3 + i] = extra[i];
    for (int i = 0; i < ns; i++) {
        int k = 3 + nextra + i;
        host[k] = daoe_xmalloc(sb[i].bytes);
        be->to_host(be, host[k], sb[i].ptr, sb[i].bytes);
        size_t es = daoe_dtype_size(sb[i].dtype);
        t[k] = (daoe_st_tensor){sb[i].name, sb[i].dtype, 1, {(int64_t)(sb[i].bytes / es)}, host[k]};
    }
    /* the digest of the data bytes (laid out in t's order) catches a damaged checkpoint on load */
    const void **chunk = daoe_xcalloc((size_t)nt, sizeof(void *));
    size_t *clen = daoe_xcalloc((size_t)nt, sizeof(size_t));
    for (int i = 0; i < nt; i++) {
        chunk[i] = t[i].data;
        size_t ne = 1;
        for (int d = 0; d < t[i].ndim; d++) ne *= (size_t)t[i].shape[d];
        clen[i] = ne * daoe_dtype_size(t[i].dtype);
    }
    char hex[65];
    daoe_sha256_chunks(chunk, clen, nt, hex);
    free(chunk);
    free(clen);
    int nm = 0;
    while (meta && meta[nm]) nm++;
    const char **m2 = daoe_xcalloc((size_t)nm + 3, sizeof(char *));
    for (int i = 0; i < nm; i++) m2[i] = meta[i];
    m2[nm] = "data_sha256";
    m2[nm + 1] = hex;
    int rc = daoe_st_write(path, t, nt, m2, err, errlen);
    free(m2);
    for (int i = 0; i < nt; i++) free(host[i]);
    free(host);
    free(t);
    return rc;
}

int daoe_session_check_state(const daoe_st_file *f, char *err, size_t errlen) {
    const char *want = daoe_st_meta(f, "data_sha256");
    if (!want) return 0; /* written before checkpoints carried a digest */
    size_t len;
    const void *data = daoe_st_data(f, &len);
    char hex[65];
    daoe_sha256_chunks(&data, &len, 1, hex);
    if (strcmp(hex, want) != 0) {
        daoe_errf(err, errlen, "damaged: the data's sha256 differs from the one it was written with");
        return -1;
    }
    return 0;
}

int daoe_session_load_state(daoe_session *s, const daoe_st_file *f, char *err, size_t errlen) {
    daoe_backend *be = s->be;
    daoe_net *net = &s->net;
    if (daoe_session_check_state(f, err, errlen) != 0) return -1;
    int64_t shp[2] = {(int64_t)net->nparams, 0};
    const void *p = daoe_st_get(f, "params", "F32", 1, shp, err, errlen);
    if (!p) return -1;
    be->to_device(be, net->params, p, net->nparams * sizeof(float));
    shp[0] = (int64_t)net->nbufs;
    p = daoe_st_get(f, "buffers", "F32", 1, shp, err, errlen);
    if (!p) return -1;
    be->to_device(be, net->bufs, p, net->nbufs * sizeof(float));
    p = daoe_st_get(f, "num_batches_tracked", "I64", 0, shp, err, errlen);
    if (!p) return -1;
    memcpy(&net->num_batches_tracked, p, sizeof(int64_t));
    daoe_state_buf sb[DAOE_MAX_STATE_BUFS];
    int ns = daoe_opt_state_list(&s->opt, sb, DAOE_MAX_STATE_BUFS);
    /* a checkpoint from before the controller was stored by name */
    int nd;
    int64_t s1[4];
    int legacy = daoe_st_shape(f, "controller.t", &nd, s1) != 0 && daoe_st_shape(f, "controller.state", &nd, s1) == 0;
    if (legacy && daoe_opt_load_legacy_ctrl(&s->opt, be, f, err, errlen) != 0) return -1;
    for (int i = 0; i < ns; i++) {
        if (legacy && !strncmp(sb[i].name, "controller.", 11)) continue;
        shp[0] = (int64_t)(sb[i].bytes / daoe_dtype_size(sb[i].dtype));
        p = daoe_st_get(f, sb[i].name, sb[i].dtype, 1, shp, err, errlen);
        if (!p) return -1;
        be->to_device(be, sb[i].ptr, p, sb[i].bytes);
    }
    be->refresh_weights(be);
    return 0;
}
