/* Golden test against PyTorch, our side.
 *   golden_tool write DIR      writes DIR/golden_in.safetensors: a width-4
 *                              ResNet-18 initialised by our code (reference
 *                              names), a fixed batch (NCHW) and labels
 *   golden_tool check DIR      reads DIR/golden_ref.safetensors written by
 *                              tests/golden_torch.py (PyTorch, float64) and
 *                              compares our logits, loss, gradients and three
 *                              SGD training steps (daoe_session_step) (lr 0.1, momentum 0.9, wd 5e-4, the
 *                              same batch each step) with it.
 * Tolerances (relative, ||ours - ref|| / ||ref|| per tensor): logits 2e-5,
 * loss 1e-5 absolute, gradients 1e-4, parameters and running statistics after
 * three steps 2e-5. Our side is fp32, the reference fp64 (measured on the
 * 2-core CI machine: 5e-7, 7e-6 and 2e-6). */
#include "daoe/net.h"
#include "daoe/safetensors.h"
#include "daoe/session.h"
#include "daoe/util.h"
#include "testutil.h"
#include "session_util.h"

#define GW 4
#define GN 8

static double rel_err(const float *a, const double *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += b[i] * b[i];
    }
    return sqrt(d / (r + 1e-300));
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: golden_tool write|check DIR\n");
        return 2;
    }
    char err[1024], path[2048];
    /* SGD at constant rate through the library's session and training step */
    daoe_config cfg;
    ts_tool_config(&cfg, GW, GN, 1234);
    if (daoe_config_validate(&cfg, 0, err, sizeof err)) {
        fprintf(stderr, "golden_tool: %s\n", err);
        return 1;
    }
    daoe_session_opts so = {.total_steps = 3, .trace_cap = 8};
    daoe_session *s = daoe_session_create(&cfg, &so, err, sizeof err);
    if (!s) {
        fprintf(stderr, "golden_tool: %s\n", err);
        return 1;
    }
    daoe_backend *be = s->be;
    daoe_net *net = &s->net; /* cpu backend: host memory */
    float *x = daoe_xmalloc(sizeof(float) * GN * 3072);
    fill_normal(x, (size_t)GN * 3072, 99, 1.0f);
    int64_t labels[GN];
    for (int i = 0; i < GN; i++) labels[i] = (i * 3 + 1) % DAOE_NET_CLASSES;
    if (!strcmp(argv[1], "write")) {
        daoe_mkdir_p(argv[2], err, sizeof err);
        snprintf(path, sizeof path, "%s/golden_in.safetensors", argv[2]);
        int n = net->ntensors;
        daoe_st_tensor *t = daoe_xcalloc((size_t)n + 2, sizeof *t);
        int64_t nbt = 0;
        daoe_net_st_tensors(net, net->params, net->bufs, &nbt, t);
        t[n] = (daoe_st_tensor){"input", "F32", 4, {GN, 3, 32, 32}, x};
        t[n + 1] = (daoe_st_tensor){"labels", "I64", 1, {GN}, labels};
        const char *meta[] = {"width", "4", "producer", "daoe golden_tool", NULL};
        if (daoe_st_write(path, t, n + 2, meta, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        printf("wrote %s\n", path);
        free(t);
        free(x);
        daoe_session_free(s);
        return 0;
    }
    snprintf(path, sizeof path, "%s/golden_ref.safetensors", argv[2]);
    if (!daoe_file_exists(path)) {
        /* its generator (golden_torch) skipped: without the reference there is nothing to compare */
        printf("SKIPPED: %s not written: golden_torch skipped (python3-torch not installed?)\n", path);
        free(x);
        daoe_session_free(s);
        return SKIP_CODE;
    }
    daoe_st_file *f = daoe_st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "golden_tool: %s\n", err);
        return 1;
    }
    be->act_from_host(be, net->x, GN, 3, 32, 32, x);
    for (int i = 0; i < GN; i++) net->y[i] = (int32_t)labels[i];
    const float *stats = s->opt.stats;
    for (int step = 0; step < 3; step++) {
        /* the whole step; logits, loss and gradients are still those of its forward and backward */
        daoe_session_step(s, 0);
        char name[64];
        int64_t shp[4] = {GN, DAOE_NET_CLASSES};
        snprintf(name, sizeof name, "step%d.logits", step);
        const double *rl = daoe_st_get(f, name, "F64", 2, shp, err, sizeof err);
        snprintf(name, sizeof name, "step%d.loss", step);
        const double *rloss = daoe_st_get(f, name, "F64", 0, shp, err, sizeof err);
        if (!rl || !rloss) {
            fprintf(stderr, "golden_tool: %s\n", err);
            return 1;
        }
        double e = rel_err(net->logits, rl, GN * DAOE_NET_CLASSES);
        printf("step %d: logits rel err %.2e (tol 2e-5), loss %.7f vs %.7f\n", step, e, stats[DAOE_ST_LOSS], *rloss);
        CHECK(e < 2e-5, "step %d logits rel err %.2e", step, e);
        CHECK(fabs(stats[DAOE_ST_LOSS] - *rloss) < 1e-5, "step %d loss %.7f vs %.7f", step, stats[DAOE_ST_LOSS], *rloss);
        double worst = 0;
        const char *wn = "";
        for (int i = 0; i < net->ntensors; i++) {
            daoe_tensor_info *ti = &net->tensors[i];
            if (ti->kind != DAOE_T_PARAM) continue;
            snprintf(name, sizeof name, "step%d.grad.%s", step, ti->name);
            const double *rg = daoe_st_get(f, name, "F64", ti->ndim, ti->shape, err, sizeof err);
            if (!rg) {
                fprintf(stderr, "golden_tool: %s\n", err);
                return 1;
            }
            double ge = rel_err(net->grads + ti->off, rg, ti->numel);
            CHECK(ge < 1e-4, "step %d gradient %s rel err %.2e", step, ti->name, ge);
            if (ge > worst) worst = ge, wn = ti->name;
        }
        printf("step %d: gradients worst rel err %.2e (%s) (tol 1e-4)\n", step, worst, wn);
    }
    double worst = 0;
    const char *wn = "";
    for (int i = 0; i < net->ntensors; i++) {
        daoe_tensor_info *ti = &net->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "final.%s", ti->name);
        if (ti->kind == DAOE_T_COUNTER) {
            int64_t shp[1];
            const int64_t *c = daoe_st_get(f, name, "I64", 0, shp, err, sizeof err);
            CHECK(c && *c == net->num_batches_tracked, "%s", name);
            continue;
        }
        const double *r = daoe_st_get(f, name, "F64", ti->ndim, ti->shape, err, sizeof err);
        if (!r) {
            fprintf(stderr, "golden_tool: %s\n", err);
            return 1;
        }
        const float *ours = (ti->kind == DAOE_T_PARAM ? net->params : net->bufs) + ti->off;
        double e = rel_err(ours, r, ti->numel);
        CHECK(e < 2e-5, "after 3 SGD steps: %s rel err %.2e", ti->name, e);
        if (e > worst) worst = e, wn = ti->name;
    }
    printf("after 3 SGD steps: parameters and running stats worst rel err %.2e (%s) (tol 2e-5)\n", worst, wn);
    daoe_st_close(f);
    free(x);
    daoe_session_free(s);
    return test_result("test_golden");
}
