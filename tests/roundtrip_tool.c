/* PyTorch round trip, our side (tests/torch_roundtrip.py drives it).
 *   roundtrip_tool write DIR   trains a width-4 network three SGD steps on a
 *                              random batch (so the running statistics move),
 *                              saves DIR/ours.safetensors as final.safetensors
 *                              is saved, and DIR/ours_logits.safetensors: an
 *                              input batch and our eval-mode logits on it
 *   roundtrip_tool check DIR   loads DIR/torch.safetensors (a state_dict
 *                              PyTorch saved through bench/torch_resnet.py's
 *                              writer) with --init-from's loader and compares
 *                              our eval-mode logits on the input of
 *                              DIR/torch_logits.safetensors with PyTorch's:
 *                              max |ours - torch| <= 1e-5 * max(1, max |torch|). */
#include "daoe/net.h"
#include "daoe/safetensors.h"
#include "daoe/session.h"
#include "daoe/util.h"
#include "testutil.h"
#include "session_util.h"

#define RW 4
#define RN 16

static daoe_session *make_session(const char *init_from, char *err, size_t errlen) {
    daoe_config cfg;
    ts_tool_config(&cfg, RW, RN, 4321);
    if (init_from) snprintf(cfg.init_from, sizeof cfg.init_from, "%s", init_from);
    if (daoe_config_validate(&cfg, 0, err, errlen)) return NULL;
    daoe_session_opts so = {.total_steps = 3, .trace_cap = 8};
    return daoe_session_create(&cfg, &so, err, errlen);
}

/* eval-mode logits [RN][DAOE_NET_CLASSES] of the batch x [RN][3][32][32] */
static void eval_logits(daoe_session *s, const float *x, float *logits) {
    daoe_backend *be = s->be;
    be->act_from_host(be, s->net.x, RN, 3, 32, 32, x);
    daoe_net_forward(&s->net, RN, 0);
    be->to_host(be, logits, s->net.logits, sizeof(float) * RN * DAOE_NET_CLASSES);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: roundtrip_tool write|check DIR\n");
        return 2;
    }
    char err[1024], path[2048];
    float *x = daoe_xmalloc(sizeof(float) * RN * 3072);
    float logits[RN * DAOE_NET_CLASSES];
    if (!strcmp(argv[1], "write")) {
        daoe_session *s = make_session(NULL, err, sizeof err);
        if (!s) {
            fprintf(stderr, "roundtrip_tool: %s\n", err);
            return 1;
        }
        fill_normal(x, (size_t)RN * 3072, 11, 1.0f);
        s->be->act_from_host(s->be, s->net.x, RN, 3, 32, 32, x);
        for (int i = 0; i < RN; i++) s->net.y[i] = (i * 7 + 2) % DAOE_NET_CLASSES;
        for (int step = 0; step < 3; step++) daoe_session_step(s, 0);
        daoe_mkdir_p(argv[2], err, sizeof err);
        snprintf(path, sizeof path, "%s/ours.safetensors", argv[2]);
        if (daoe_session_save_weights(s, path, err, sizeof err)) {
            fprintf(stderr, "roundtrip_tool: %s\n", err);
            return 1;
        }
        fill_normal(x, (size_t)RN * 3072, 12, 1.0f);
        eval_logits(s, x, logits);
        daoe_st_tensor t[2] = {{"input", "F32", 4, {RN, 3, 32, 32}, x},
                               {"logits", "F32", 2, {RN, DAOE_NET_CLASSES}, logits}};
        snprintf(path, sizeof path, "%s/ours_logits.safetensors", argv[2]);
        if (daoe_st_write(path, t, 2, NULL, err, sizeof err)) {
            fprintf(stderr, "roundtrip_tool: %s\n", err);
            return 1;
        }
        printf("wrote %s/ours.safetensors and ours_logits.safetensors\n", argv[2]);
        daoe_session_free(s);
        free(x);
        return 0;
    }
    snprintf(path, sizeof path, "%s/torch.safetensors", argv[2]);
    daoe_session *s = make_session(path, err, sizeof err);
    if (!s) {
        fprintf(stderr, "roundtrip_tool: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/torch_logits.safetensors", argv[2]);
    daoe_st_file *f = daoe_st_open(path, err, sizeof err);
    int64_t sx[4] = {RN, 3, 32, 32}, sl[2] = {RN, DAOE_NET_CLASSES};
    const float *in = f ? daoe_st_get(f, "input", "F32", 4, sx, err, sizeof err) : NULL;
    const float *ref = in ? daoe_st_get(f, "logits", "F32", 2, sl, err, sizeof err) : NULL;
    if (!ref) {
        fprintf(stderr, "roundtrip_tool: %s\n", err);
        return 1;
    }
    memcpy(x, in, sizeof(float) * RN * 3072);
    eval_logits(s, x, logits);
    double worst = 0, scale = 1;
    for (int i = 0; i < RN * DAOE_NET_CLASSES; i++) {
        double d = fabs((double)logits[i] - ref[i]);
        if (d > worst) worst = d;
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    }
    printf("PyTorch state_dict loaded here: eval logits max abs diff %.2e (tol %.1e)\n", worst, 1e-5 * scale);
    CHECK(worst <= 1e-5 * scale, "logits of the PyTorch-written state_dict differ by %.2e", worst);
    daoe_st_close(f);
    daoe_session_free(s);
    free(x);
    return test_result("roundtrip_tool check");
}
