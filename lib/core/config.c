/* Command-line options of daoe-train, their defaults (with sources), range
 * checks and the JSON record written to config.json. */
#include "daoe/config.h"
#include "daoe/optimizers.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const daoe_feature_names[DAOE_NFEAT] = {"x_mean",   "x_var",      "pred_entropy", "grad_norm",
                                                   "grad_var", "loss_delta", "progress"};

void daoe_config_defaults(daoe_config *c) {
    memset(c, 0, sizeof *c);
    const char *env = getenv("CIFAR10_DIR");
    if (env) snprintf(c->data, sizeof c->data, "%s", env);
    snprintf(c->backend, sizeof c->backend, "cpu");
    snprintf(c->optimizer, sizeof c->optimizer, "sgd");
    c->precision = DAOE_FP32;
    c->seed = 0;
    c->epochs = 100;   /* the paper */
    c->batch = 128;    /* the paper */
    c->width = 64;     /* ResNet-18 */
    c->schedule = DAOE_SCHED_COSINE;
    c->val = 5000;
    c->augment = 1;
    c->shuffle = 1;
    c->trace_every = 10;
    c->checkpoint_minutes = 2.0;
    /* SGD: kuangliu/pytorch-cifar main.py (lr 0.1, momentum 0.9, wd 5e-4) */
    c->opt.sgd = (daoe_sgd_hp){.lr = 0.1f, .momentum = 0.9f, .dampening = 0.0f, .wd = 5e-4f};
    /* Adam: torch.optim.Adam defaults (Kingma & Ba), with the same L2 5e-4 as SGD */
    c->opt.adam = (daoe_adam_hp){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .wd = 5e-4f};
    /* RMSProp: torch.optim.RMSprop defaults (alpha 0.99, eps 1e-8) at lr 1e-3 (SPEC 3.4), L2 5e-4 */
    c->opt.rms = (daoe_rmsprop_hp){.lr = 1e-3f, .alpha = 0.99f, .eps = 1e-8f, .wd = 5e-4f};
    /* Lion: Chen et al. 2023 (beta1 0.9, beta2 0.99, lr ~10x below AdamW's); decoupled wd 0.5 so
     * that lr*wd = 5e-5, the per-step shrink of SGD's lr 0.1 x wd 5e-4 */
    c->opt.lion = (daoe_lion_hp){.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.99f, .wd = 0.5f, .decoupled = 1};
    c->members = 0xF;
    c->features = (1u << DAOE_NFEAT) - 1;
    c->controller = DAOE_CTRL_HYPERGRAD;
    c->meta_lr = 10.0; /* SPEC 3.3: 4..40 sane in the prototype */
    c->tau = 1.0;
    c->meta_every = 1;
}

float daoe_member_lr(const daoe_config *c, int i) {
    switch (i) {
    case DAOE_SGD: return c->opt.sgd.lr;
    case DAOE_ADAM: return c->opt.adam.lr;
    case DAOE_RMSPROP: return c->opt.rms.lr;
    default: return c->opt.lion.lr;
    }
}

/* ------------------------------------------------------------------ parsing */
enum { T_INT, T_DBL, T_FLT, T_U64, T_STR, T_FLAG, T_NOFLAG, T_SPECIAL };

/* generic optimizer flags, applied to the chosen single optimizer */
enum { G_LR, G_MOMENTUM, G_WD, G_NESTEROV, G_DAMPENING, G_BETA1, G_BETA2, G_EPS, G_ALPHA, G_CENTERED,
       G_WDMODE, G_N };

typedef struct {
    const char *name;
    int type;
    size_t off;        /* into daoe_config, or special id */
    double lo, hi;
    int member;        /* -1: not a member flag */
    int generic;       /* -1: not generic */
    const char *help;
} optdef;

#define OFF(f) offsetof(daoe_config, f)
enum { S_BACKEND = 1, S_PRECISION, S_OPTIMIZER, S_SCHEDULE, S_MEMBERS, S_FEATURES, S_CONTROLLER,
       S_HYPERGRAD, S_ALPHA_INIT, S_WDMODE_SGD, S_WDMODE_ADAM, S_WDMODE_RMS, S_WDMODE_LION, S_HELP };

static const optdef OPTS[] = {
    {"data", T_STR, OFF(data), 0, 0, -1, -1, "DIR   CIFAR-10 binary folder (default $CIFAR10_DIR)"},
    {"out", T_STR, OFF(out), 0, 0, -1, -1, "DIR   run folder (created)"},
    {"backend", T_SPECIAL, S_BACKEND, 0, 0, -1, -1, "cpu|cuda (default cpu)"},
    {"precision", T_SPECIAL, S_PRECISION, 0, 0, -1, -1, "fp32|tf32|bf16 (cuda; default fp32)"},
    {"deterministic", T_FLAG, OFF(deterministic), 0, 0, -1, -1, "deterministic GPU algorithms"},
    {"optimizer", T_SPECIAL, S_OPTIMIZER, 0, 0, -1, -1, "sgd|adam|adamw|rmsprop|lion|daoe (default sgd)"},
    {"seed", T_U64, OFF(seed), 0, 0, -1, -1, "N     seed of init, shuffling, augmentation (default 0)"},
    {"epochs", T_INT, OFF(epochs), 1, 100000, -1, -1, "N     (default 100)"},
    {"batch", T_INT, OFF(batch), 2, 8192, -1, -1, "N     (default 128)"},
    {"width", T_INT, OFF(width), 1, 1024, -1, -1, "N     ResNet-18 base width (default 64)"},
    {"schedule", T_SPECIAL, S_SCHEDULE, 0, 0, -1, -1, "cosine|constant, per iteration (default cosine)"},
    {"warmup-epochs", T_DBL, OFF(warmup_epochs), 0, 1000, -1, -1, "X     linear warm-up (default 0)"},
    {"train-subset", T_INT, OFF(train_subset), 0, 50000, -1, -1, "N     first N images of the training split"},
    {"val", T_INT, OFF(val), 0, 49000, -1, -1, "N     held-out validation images (default 5000)"},
    {"test-subset", T_INT, OFF(test_subset), 0, 10000, -1, -1, "N     evaluate on the first N test images only (default all)"},
    {"threads", T_INT, OFF(threads), 0, 1024, -1, -1, "N     CPU threads (default: all)"},
    {"no-augment", T_NOFLAG, OFF(augment), 0, 0, -1, -1, "no crop/flip"},
    {"no-shuffle", T_NOFLAG, OFF(shuffle), 0, 0, -1, -1, "visit training images in file order"},
    {"init-from", T_STR, OFF(init_from), 0, 0, -1, -1, "FILE  start from a safetensors checkpoint"},
    {"save-init", T_FLAG, OFF(save_init), 0, 0, -1, -1, "write init.safetensors before the first step"},
    {"quiet", T_FLAG, OFF(quiet), 0, 0, -1, -1, "no progress output"},
    {"verify-data", T_FLAG, OFF(verify), 0, 0, -1, -1, "check the official sha256 of each data file"},
    {"resume", T_FLAG, OFF(resume), 0, 0, -1, -1, "continue from --out's checkpoint if there is one"},
    {"trace-every", T_INT, OFF(trace_every), 1, 1000000, -1, -1, "N     alpha.csv row every N steps (default 10)"},
    {"checkpoint-minutes", T_DBL, OFF(checkpoint_minutes), 0, 1e6, -1, -1, "M     checkpoint for --resume at most every M minutes (default 2; 0: every epoch)"},
    {"debug-sync", T_FLAG, OFF(debug_sync), 0, 0, -1, -1, "synchronise after every GPU launch"},
    /* generic optimizer flags */
    {"lr", T_FLT, 0, 1e-12, 1e3, -1, G_LR, "X     learning rate of the chosen optimizer"},
    {"momentum", T_FLT, 0, 0, 0.999999, -1, G_MOMENTUM, "X     SGD/RMSProp momentum"},
    {"wd", T_FLT, 0, 0, 1e3, -1, G_WD, "X     weight decay"},
    {"wd-mode", T_SPECIAL, 0, 0, 0, -1, G_WDMODE, "coupled|decoupled"},
    {"nesterov", T_FLAG, 0, 0, 0, -1, G_NESTEROV, "SGD Nesterov momentum"},
    {"dampening", T_FLT, 0, 0, 1, -1, G_DAMPENING, "X     SGD dampening"},
    {"beta1", T_FLT, 0, 0, 0.999999, -1, G_BETA1, "X     Adam/Lion beta1"},
    {"beta2", T_FLT, 0, 0, 0.999999999, -1, G_BETA2, "X     Adam/Lion beta2"},
    {"eps", T_FLT, 0, 1e-30, 1, -1, G_EPS, "X     Adam/RMSProp epsilon"},
    {"alpha", T_FLT, 0, 0, 0.999999999, -1, G_ALPHA, "X     RMSProp smoothing constant"},
    {"centered", T_FLAG, 0, 0, 0, -1, G_CENTERED, "centred RMSProp"},
    /* members of the ensemble */
    {"sgd-lr", T_FLT, OFF(opt.sgd.lr), 1e-12, 1e3, DAOE_SGD, -1, NULL},
    {"sgd-momentum", T_FLT, OFF(opt.sgd.momentum), 0, 0.999999, DAOE_SGD, -1, NULL},
    {"sgd-wd", T_FLT, OFF(opt.sgd.wd), 0, 1e3, DAOE_SGD, -1, NULL},
    {"sgd-dampening", T_FLT, OFF(opt.sgd.dampening), 0, 1, DAOE_SGD, -1, NULL},
    {"sgd-nesterov", T_FLAG, OFF(opt.sgd.nesterov), 0, 0, DAOE_SGD, -1, NULL},
    {"sgd-wd-mode", T_SPECIAL, S_WDMODE_SGD, 0, 0, DAOE_SGD, -1, NULL},
    {"adam-lr", T_FLT, OFF(opt.adam.lr), 1e-12, 1e3, DAOE_ADAM, -1, NULL},
    {"adam-beta1", T_FLT, OFF(opt.adam.beta1), 0, 0.999999, DAOE_ADAM, -1, NULL},
    {"adam-beta2", T_FLT, OFF(opt.adam.beta2), 0, 0.999999999, DAOE_ADAM, -1, NULL},
    {"adam-eps", T_FLT, OFF(opt.adam.eps), 1e-30, 1, DAOE_ADAM, -1, NULL},
    {"adam-wd", T_FLT, OFF(opt.adam.wd), 0, 1e3, DAOE_ADAM, -1, NULL},
    {"adam-wd-mode", T_SPECIAL, S_WDMODE_ADAM, 0, 0, DAOE_ADAM, -1, NULL},
    {"rmsprop-lr", T_FLT, OFF(opt.rms.lr), 1e-12, 1e3, DAOE_RMSPROP, -1, NULL},
    {"rmsprop-alpha", T_FLT, OFF(opt.rms.alpha), 0, 0.999999999, DAOE_RMSPROP, -1, NULL},
    {"rmsprop-eps", T_FLT, OFF(opt.rms.eps), 1e-30, 1, DAOE_RMSPROP, -1, NULL},
    {"rmsprop-wd", T_FLT, OFF(opt.rms.wd), 0, 1e3, DAOE_RMSPROP, -1, NULL},
    {"rmsprop-momentum", T_FLT, OFF(opt.rms.momentum), 0, 0.999999, DAOE_RMSPROP, -1, NULL},
    {"rmsprop-centered", T_FLAG, OFF(opt.rms.centered), 0, 0, DAOE_RMSPROP, -1, NULL},
    {"rmsprop-wd-mode", T_SPECIAL, S_WDMODE_RMS, 0, 0, DAOE_RMSPROP, -1, NULL},
    {"lion-lr", T_FLT, OFF(opt.lion.lr), 1e-12, 1e3, DAOE_LION, -1, NULL},
    {"lion-beta1", T_FLT, OFF(opt.lion.beta1), 0, 0.999999, DAOE_LION, -1, NULL},
    {"lion-beta2", T_FLT, OFF(opt.lion.beta2), 0, 0.999999999, DAOE_LION, -1, NULL},
    {"lion-wd", T_FLT, OFF(opt.lion.wd), 0, 1e3, DAOE_LION, -1, NULL},
    {"lion-wd-mode", T_SPECIAL, S_WDMODE_LION, 0, 0, DAOE_LION, -1, NULL},
    /* DAO-E */
    {"members", T_SPECIAL, S_MEMBERS, 0, 0, -1, -1, "LIST  DAO-E members (default sgd,adam,rmsprop,lion)"},
    {"features", T_SPECIAL, S_FEATURES, 0, 0, -1, -1, "LIST  controller inputs, or all|none (default all)"},
    {"controller", T_SPECIAL, S_CONTROLLER, 0, 0, -1, -1, "fixed|hypergrad (default hypergrad)"},
    {"hypergrad", T_SPECIAL, S_HYPERGRAD, 0, 0, -1, -1, "cos|raw hypergradient signal (default cos)"},
    {"meta-lr", T_DBL, OFF(meta_lr), 0, 1e9, -1, -1, "C     meta-step budget per run: step = C/T (default 10)"},
    {"tau", T_DBL, OFF(tau), 1e-6, 1e6, -1, -1, "X     softmax temperature (default 1)"},
    {"meta-every", T_INT, OFF(meta_every), 1, 1000000, -1, -1,
     "K     one meta step every K steps, along the mean of the K meta-gradients (default 1)"},
    {"alpha-ema", T_DBL, OFF(alpha_ema), 0, 0.999999, -1, -1,
     "X     EMA on alpha: alpha = X alpha + (1-X) softmax (default 0: off); the meta-gradient includes the (1-X) factor"},
    {"controller-hidden", T_INT, OFF(ctrl_hidden), 0, DAOE_CTRL_MAXH, -1, -1,
     "H     hidden tanh layer of H units: z = W2 tanh(W1 f + b1) + b2 (default 0: linear z = W f + b)"},
    {"alpha-init", T_SPECIAL, S_ALPHA_INIT, 0, 0, -1, -1, "LIST  starting alpha per member (fixed: permanent)"},
    {"help", T_SPECIAL, S_HELP, 0, 0, -1, -1, "this text"},
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

void daoe_config_usage(FILE *f) {
    fprintf(f,
            "usage: daoe-train --out DIR [--data DIR] [options]\n"
            "Trains the CIFAR ResNet-18 on CIFAR-10 and writes config.json, epochs.csv, alpha.csv,\n"
            "summary.json and final.safetensors to --out. Exit status: 0 finished, 1 error,\n"
            "2 bad command line, 3 diverged (NaN/Inf).\n\noptions:\n");
    for (size_t i = 0; i < NOPTS; i++)
        if (OPTS[i].help) fprintf(f, "  --%-16s %s\n", OPTS[i].name, OPTS[i].help);
    fprintf(f,
            "\nper-member settings (DAO-E members, or the single optimizer):\n"
            "  --sgd-{lr,momentum,wd,dampening,nesterov,wd-mode}       defaults 0.1 0.9 5e-4 0 off coupled\n"
            "  --adam-{lr,beta1,beta2,eps,wd,wd-mode}                   defaults 1e-3 0.9 0.999 1e-8 5e-4 coupled\n"
            "  --rmsprop-{lr,alpha,eps,wd,momentum,centered,wd-mode}    defaults 1e-3 0.99 1e-8 5e-4 0 off coupled\n"
            "  --lion-{lr,beta1,beta2,wd,wd-mode}                       defaults 1e-4 0.9 0.99 0.5 decoupled\n"
            "  --optimizer adamw is Adam with decoupled decay (default wd 0.05, lr*wd = 5e-5).\n"
            "features: x_mean,x_var,pred_entropy,grad_norm,grad_var,loss_delta,progress\n");
}

static int parse_double(const char *name, const char *s, double lo, double hi, double *out, char *err,
                        size_t errlen) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        daoe_errf(err, errlen, "--%s: '%s' is not a number", name, s);
        return -1;
    }
    if (v < lo || v > hi) {
        daoe_errf(err, errlen, "--%s: %s out of range [%g, %g]", name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_list(const char *name, const char *s, const char *const *names, int n, unsigned *mask,
                      int *order, int *count, char *err, size_t errlen) {
    *mask = 0;
    *count = 0;
    if (!strcmp(s, "all")) {
        *mask = (1u << n) - 1;
        for (int i = 0; i < n; i++) order[(*count)++] = i;
        return 0;
    }
    if (!strcmp(s, "none")) return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int k = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(tok, names[i])) k = i;
        if (k < 0) {
            daoe_errf(err, errlen, "--%s: unknown name '%s'", name, tok);
            return -1;
        }
        if (*mask & (1u << k)) {
            daoe_errf(err, errlen, "--%s: '%s' given twice", name, tok);
            return -1;
        }
        *mask |= 1u << k;
        order[(*count)++] = k;
    }
    return 0;
}

static int parse_wdmode(const char *name, const char *v, int *out, char *err, size_t errlen) {
    if (!strcmp(v, "coupled")) *out = 0;
    else if (!strcmp(v, "decoupled")) *out = 1;
    else {
        daoe_errf(err, errlen, "--%s: '%s' is not coupled|decoupled", name, v);
        return -1;
    }
    return 0;
}

int daoe_config_parse(daoe_config *c, int argc, char **argv, char *err, size_t errlen) {
    double gval[G_N];
    int gset[G_N] = {0}, member_set[DAOE_K] = {0}, members_given = 0,
        wd_given[DAOE_K] = {0}, alpha_n = 0;
    double alpha_vals[DAOE_K];
    int member_order[DAOE_K], nmember_order = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            daoe_errf(err, errlen, "unexpected argument '%s' (options start with --)", a);
            return -1;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a + 2, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a + 2);
        }
        const optdef *o = NULL;
        for (size_t k = 0; k < NOPTS; k++)
            if (!strcmp(OPTS[k].name, name)) o = &OPTS[k];
        if (!o) {
            daoe_errf(err, errlen, "unknown option --%s (see --help)", name);
            return -1;
        }
        int needs_val = !(o->type == T_FLAG || o->type == T_NOFLAG || (o->type == T_SPECIAL && o->off == S_HELP));
        if (needs_val && !val) {
            if (i + 1 >= argc) {
                daoe_errf(err, errlen, "--%s needs a value", name);
                return -1;
            }
            val = argv[++i];
        } else if (!needs_val && val) {
            daoe_errf(err, errlen, "--%s takes no value", name);
            return -1;
        }
        if (o->member >= 0) {
            member_set[o->member] = 1;
            if (strstr(o->name, "-wd") && !strstr(o->name, "wd-mode")) wd_given[o->member] = 1;
        }
        if (o->generic >= 0) {
            gset[o->generic] = 1;
            if (o->type == T_FLAG) gval[o->generic] = 1;
            else if (o->type == T_SPECIAL) {
                int m;
                if (parse_wdmode(name, val, &m, err, errlen)) return -1;
                gval[o->generic] = m;
            } else if (parse_double(name, val, o->lo, o->hi, &gval[o->generic], err, errlen))
                return -1;
            continue;
        }
        char *base = (char *)c;
        double d;
        switch (o->type) {
        case T_INT:
            if (parse_double(name, val, o->lo, o->hi, &d, err, errlen)) return -1;
            if (d != floor(d)) {
                daoe_errf(err, errlen, "--%s: '%s' is not an integer", name, val);
                return -1;
            }
            *(int *)(base + o->off) = (int)d;
            break;
        case T_DBL:
            if (parse_double(name, val, o->lo, o->hi, &d, err, errlen)) return -1;
            *(double *)(base + o->off) = d;
            break;
        case T_FLT:
            if (parse_double(name, val, o->lo, o->hi, &d, err, errlen)) return -1;
            *(float *)(base + o->off) = (float)d;
            break;
        case T_U64: {
            char *end;
            errno = 0;
            unsigned long long u = strtoull(val, &end, 10);
            if (errno || end == val || *end || val[0] == '-') {
                daoe_errf(err, errlen, "--%s: '%s' is not a non-negative integer", name, val);
                return -1;
            }
            *(uint64_t *)(base + o->off) = u;
            break;
        }
        case T_STR:
            if (strlen(val) >= 1024 || !val[0]) {
                daoe_errf(err, errlen, "--%s: empty or too long", name);
                return -1;
            }
            snprintf(base + o->off, 1024, "%s", val);
            break;
        case T_FLAG: *(int *)(base + o->off) = 1; break;
        case T_NOFLAG: *(int *)(base + o->off) = 0; break;
        default:
            switch ((int)o->off) {
            case S_HELP: return 1;
            case S_BACKEND:
                if (strcmp(val, "cpu") && strcmp(val, "cuda")) {
                    daoe_errf(err, errlen, "--backend: '%s' is not cpu|cuda", val);
                    return -1;
                }
                snprintf(c->backend, sizeof c->backend, "%s", val);
                break;
            case S_PRECISION:
                if (!strcmp(val, "fp32")) c->precision = DAOE_FP32;
                else if (!strcmp(val, "tf32")) c->precision = DAOE_TF32;
                else if (!strcmp(val, "bf16")) c->precision = DAOE_BF16;
                else {
                    daoe_errf(err, errlen, "--precision: '%s' is not fp32|tf32|bf16", val);
                    return -1;
                }
                break;
            case S_OPTIMIZER:
                if (!daoe_optimizer_find(val)) {
                    daoe_errf(err, errlen, "--optimizer: '%s' is not %s", val, daoe_optimizer_choices());
                    return -1;
                }
                snprintf(c->optimizer, sizeof c->optimizer, "%s", val);
                break;
            case S_SCHEDULE:
                if (!strcmp(val, "cosine")) c->schedule = DAOE_SCHED_COSINE;
                else if (!strcmp(val, "constant")) c->schedule = DAOE_SCHED_CONSTANT;
                else {
                    daoe_errf(err, errlen, "--schedule: '%s' is not cosine|constant", val);
                    return -1;
                }
                break;
            case S_MEMBERS:
                if (parse_list(name, val, daoe_member_names, DAOE_K, &c->members, member_order, &nmember_order,
                               err, errlen))
                    return -1;
                if (!c->members) {
                    daoe_errf(err, errlen, "--members: at least one member needed");
                    return -1;
                }
                members_given = 1;
                break;
            case S_FEATURES: {
                int ord[DAOE_NFEAT], n;
                if (parse_list(name, val, daoe_feature_names, DAOE_NFEAT, &c->features, ord, &n, err, errlen))
                    return -1;
                break;
            }
            case S_CONTROLLER:
                if (!strcmp(val, "fixed")) c->controller = DAOE_CTRL_FIXED;
                else if (!strcmp(val, "hypergrad")) c->controller = DAOE_CTRL_HYPERGRAD;
                else {
                    daoe_errf(err, errlen, "--controller: '%s' is not fixed|hypergrad", val);
                    return -1;
                }
                break;
            case S_HYPERGRAD:
                if (!strcmp(val, "cos")) c->hyper_raw = 0;
                else if (!strcmp(val, "raw")) c->hyper_raw = 1;
                else {
                    daoe_errf(err, errlen, "--hypergrad: '%s' is not cos|raw", val);
                    return -1;
                }
                break;
            case S_ALPHA_INIT: {
                char buf[256];
                snprintf(buf, sizeof buf, "%s", val);
                alpha_n = 0;
                for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                    if (alpha_n >= DAOE_K) {
                        daoe_errf(err, errlen, "--alpha-init: more than %d values", DAOE_K);
                        return -1;
                    }
                    if (parse_double(name, tok, 0.0, 1.0, &alpha_vals[alpha_n++], err, errlen)) return -1;
                }
                c->alpha_init_set = 1;
                break;
            }
            case S_WDMODE_SGD: if (parse_wdmode(name, val, &c->opt.sgd.decoupled, err, errlen)) return -1; break;
            case S_WDMODE_ADAM: if (parse_wdmode(name, val, &c->opt.adam.decoupled, err, errlen)) return -1; break;
            case S_WDMODE_RMS: if (parse_wdmode(name, val, &c->opt.rms.decoupled, err, errlen)) return -1; break;
            case S_WDMODE_LION: if (parse_wdmode(name, val, &c->opt.lion.decoupled, err, errlen)) return -1; break;
            }
        }
    }
    /* ---- resolve the optimizer and its members */
    const daoe_optimizer_info *oi = daoe_optimizer_find(c->optimizer);
    int daoe = oi->member < 0;
    if (!daoe) {
        int m = oi->member;
        if (members_given) {
            daoe_errf(err, errlen, "--members is for --optimizer daoe");
            return -1;
        }
        c->members = 1u << m;
        c->controller = DAOE_CTRL_NONE;
        if (oi->decoupled) {
            c->opt.adam.decoupled = 1;
            if (!wd_given[DAOE_ADAM]) c->opt.adam.wd = 0.05f;
        }
        static const int applies[DAOE_K][G_N] = {
            /* LR MOM WD NEST DAMP B1 B2 EPS ALPHA CENT WDMODE */
            {1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1},
            {1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1},
            {1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1},
            {1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1}};
        static const char *gname[G_N] = {"lr", "momentum", "wd", "nesterov", "dampening", "beta1", "beta2",
                                         "eps", "alpha", "centered", "wd-mode"};
        for (int g = 0; g < G_N; g++) {
            if (!gset[g]) continue;
            if (!applies[m][g]) {
                daoe_errf(err, errlen, "--%s does not apply to --optimizer %s", gname[g], c->optimizer);
                return -1;
            }
            float v = (float)gval[g];
            switch (m) {
            case DAOE_SGD:
                if (g == G_LR) c->opt.sgd.lr = v;
                if (g == G_MOMENTUM) c->opt.sgd.momentum = v;
                if (g == G_WD) c->opt.sgd.wd = v;
                if (g == G_NESTEROV) c->opt.sgd.nesterov = 1;
                if (g == G_DAMPENING) c->opt.sgd.dampening = v;
                if (g == G_WDMODE) c->opt.sgd.decoupled = (int)v;
                break;
            case DAOE_ADAM:
                if (g == G_LR) c->opt.adam.lr = v;
                if (g == G_WD) c->opt.adam.wd = v;
                if (g == G_BETA1) c->opt.adam.beta1 = v;
                if (g == G_BETA2) c->opt.adam.beta2 = v;
                if (g == G_EPS) c->opt.adam.eps = v;
                if (g == G_WDMODE) c->opt.adam.decoupled = (int)v;
                break;
            case DAOE_RMSPROP:
                if (g == G_LR) c->opt.rms.lr = v;
                if (g == G_MOMENTUM) c->opt.rms.momentum = v;
                if (g == G_WD) c->opt.rms.wd = v;
                if (g == G_EPS) c->opt.rms.eps = v;
                if (g == G_ALPHA) c->opt.rms.alpha = v;
                if (g == G_CENTERED) c->opt.rms.centered = 1;
                if (g == G_WDMODE) c->opt.rms.decoupled = (int)v;
                break;
            default:
                if (g == G_LR) c->opt.lion.lr = v;
                if (g == G_WD) c->opt.lion.wd = v;
                if (g == G_BETA1) c->opt.lion.beta1 = v;
                if (g == G_BETA2) c->opt.lion.beta2 = v;
                if (g == G_WDMODE) c->opt.lion.decoupled = (int)v;
                break;
            }
        }
        if (c->opt.sgd.nesterov && (c->opt.sgd.momentum <= 0.0f || c->opt.sgd.dampening != 0.0f)) {
            daoe_errf(err, errlen, "--nesterov needs momentum > 0 and zero dampening");
            return -1;
        }
        if (c->alpha_init_set) {
            daoe_errf(err, errlen, "--alpha-init is for --optimizer daoe");
            return -1;
        }
    } else {
        for (int g = 0; g < G_N; g++)
            if (gset[g]) {
                daoe_errf(err, errlen, "with --optimizer daoe, set each member's own flags "
                                       "(--sgd-lr, --adam-beta1, ...) instead of the generic ones");
                return -1;
            }
        if (!members_given) {
            nmember_order = 0;
            for (int i = 0; i < DAOE_K; i++) member_order[nmember_order++] = i;
        }
    }
    for (int i = 0; i < DAOE_K; i++)
        if (member_set[i] && !(c->members & (1u << i))) {
            daoe_errf(err, errlen, "--%s-* given but %s is not a member (see --members / --optimizer)",
                      daoe_member_names[i], daoe_member_names[i]);
            return -1;
        }
    /* alpha: uniform over members unless --alpha-init */
    int K = 0;
    for (int i = 0; i < DAOE_K; i++) K += (c->members >> i) & 1u;
    for (int i = 0; i < DAOE_K; i++) c->alpha_init[i] = ((c->members >> i) & 1u) ? 1.0f / (float)K : 0.0f;
    if (!daoe) {
        for (int i = 0; i < DAOE_K; i++) c->alpha_init[i] = ((c->members >> i) & 1u) ? 1.0f : 0.0f;
    }
    if (c->alpha_init_set) {
        if (alpha_n != nmember_order) {
            daoe_errf(err, errlen, "--alpha-init: %d values for %d members", alpha_n, nmember_order);
            return -1;
        }
        double s = 0;
        for (int i = 0; i < alpha_n; i++) s += alpha_vals[i];
        if (fabs(s - 1.0) > 1e-6) {
            daoe_errf(err, errlen, "--alpha-init: values sum to %g, not 1", s);
            return -1;
        }
        if (c->controller == DAOE_CTRL_HYPERGRAD) {
            for (int i = 0; i < alpha_n; i++)
                if (alpha_vals[i] <= 0.0) {
                    daoe_errf(err, errlen, "--alpha-init: zeros need --controller fixed "
                                           "(the hypergradient controller starts from log alpha)");
                    return -1;
                }
        }
        for (int i = 0; i < alpha_n; i++) c->alpha_init[member_order[i]] = (float)alpha_vals[i];
    }
    /* ---- cross-checks */
    if (!c->out[0]) {
        daoe_errf(err, errlen, "--out DIR is required");
        return -1;
    }
    if (!c->data[0]) {
        daoe_errf(err, errlen, "no data folder: give --data DIR or set CIFAR10_DIR");
        return -1;
    }
    if (!strcmp(c->backend, "cpu") && c->precision != DAOE_FP32) {
        daoe_errf(err, errlen, "--precision tf32/bf16 needs --backend cuda (the CPU path is fp32)");
        return -1;
    }
    int ntrain = c->train_subset ? c->train_subset : 50000 - c->val;
    if (ntrain > 50000 - c->val) {
        daoe_errf(err, errlen, "--train-subset %d is larger than the training split (%d = 50000 - --val %d)",
                  c->train_subset, 50000 - c->val, c->val);
        return -1;
    }
    if (ntrain < c->batch) {
        daoe_errf(err, errlen, "the training split (%d images) is smaller than one batch (%d)", ntrain, c->batch);
        return -1;
    }
    if (c->warmup_epochs >= c->epochs) {
        daoe_errf(err, errlen, "--warmup-epochs %g must be below --epochs %d", c->warmup_epochs, c->epochs);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ JSON */
static cJSON *member_json(const daoe_config *c, int i) {
    cJSON *o = cJSON_CreateObject();
    switch (i) {
    case DAOE_SGD:
        cJSON_AddNumberToObject(o, "lr", c->opt.sgd.lr);
        cJSON_AddNumberToObject(o, "momentum", c->opt.sgd.momentum);
        cJSON_AddNumberToObject(o, "dampening", c->opt.sgd.dampening);
        cJSON_AddNumberToObject(o, "wd", c->opt.sgd.wd);
        cJSON_AddBoolToObject(o, "nesterov", c->opt.sgd.nesterov);
        cJSON_AddStringToObject(o, "wd_mode", c->opt.sgd.decoupled ? "decoupled" : "coupled");
        break;
    case DAOE_ADAM:
        cJSON_AddNumberToObject(o, "lr", c->opt.adam.lr);
        cJSON_AddNumberToObject(o, "beta1", c->opt.adam.beta1);
        cJSON_AddNumberToObject(o, "beta2", c->opt.adam.beta2);
        cJSON_AddNumberToObject(o, "eps", c->opt.adam.eps);
        cJSON_AddNumberToObject(o, "wd", c->opt.adam.wd);
        cJSON_AddStringToObject(o, "wd_mode", c->opt.adam.decoupled ? "decoupled" : "coupled");
        break;
    case DAOE_RMSPROP:
        cJSON_AddNumberToObject(o, "lr", c->opt.rms.lr);
        cJSON_AddNumberToObject(o, "alpha", c->opt.rms.alpha);
        cJSON_AddNumberToObject(o, "eps", c->opt.rms.eps);
        cJSON_AddNumberToObject(o, "wd", c->opt.rms.wd);
        cJSON_AddNumberToObject(o, "momentum", c->opt.rms.momentum);
        cJSON_AddBoolToObject(o, "centered", c->opt.rms.centered);
        cJSON_AddStringToObject(o, "wd_mode", c->opt.rms.decoupled ? "decoupled" : "coupled");
        break;
    default:
        cJSON_AddNumberToObject(o, "lr", c->opt.lion.lr);
        cJSON_AddNumberToObject(o, "beta1", c->opt.lion.beta1);
        cJSON_AddNumberToObject(o, "beta2", c->opt.lion.beta2);
        cJSON_AddNumberToObject(o, "wd", c->opt.lion.wd);
        cJSON_AddStringToObject(o, "wd_mode", c->opt.lion.decoupled ? "decoupled" : "coupled");
        break;
    }
    return o;
}

char *daoe_config_json(const daoe_config *c, const char *extra) {
    cJSON *o = cJSON_CreateObject();
    static const char *prec[] = {"fp32", "tf32", "bf16"};
    static const char *ctrl[] = {"none", "fixed", "hypergrad"};
    cJSON_AddStringToObject(o, "optimizer", c->optimizer);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "data", c->data);
    cJSON_AddStringToObject(o, "out", c->out);
    cJSON_AddStringToObject(o, "backend", c->backend);
    cJSON_AddStringToObject(o, "precision", prec[c->precision]);
    cJSON_AddBoolToObject(o, "deterministic", c->deterministic);
    cJSON_AddNumberToObject(o, "epochs", c->epochs);
    cJSON_AddNumberToObject(o, "batch", c->batch);
    cJSON_AddNumberToObject(o, "width", c->width);
    cJSON_AddStringToObject(o, "schedule", c->schedule == DAOE_SCHED_COSINE ? "cosine" : "constant");
    cJSON_AddNumberToObject(o, "warmup_epochs", c->warmup_epochs);
    cJSON_AddNumberToObject(o, "train_subset", c->train_subset);
    cJSON_AddNumberToObject(o, "val", c->val);
    cJSON_AddNumberToObject(o, "test_subset", c->test_subset);
    cJSON_AddNumberToObject(o, "threads", c->threads);
    cJSON_AddBoolToObject(o, "augment", c->augment);
    cJSON_AddBoolToObject(o, "shuffle", c->shuffle);
    cJSON_AddStringToObject(o, "init_from", c->init_from);
    cJSON_AddNumberToObject(o, "trace_every", c->trace_every);
    cJSON *mem = cJSON_AddArrayToObject(o, "members");
    cJSON *hp = cJSON_AddObjectToObject(o, "member_settings");
    cJSON *a0 = cJSON_AddArrayToObject(o, "alpha_init");
    for (int i = 0; i < DAOE_K; i++)
        if ((c->members >> i) & 1u) {
            cJSON_AddItemToArray(mem, cJSON_CreateString(daoe_member_names[i]));
            cJSON_AddItemToObject(hp, daoe_member_names[i], member_json(c, i));
            cJSON_AddItemToArray(a0, cJSON_CreateNumber(c->alpha_init[i]));
        }
    cJSON *fe = cJSON_AddArrayToObject(o, "features");
    for (int f = 0; f < DAOE_NFEAT; f++)
        if ((c->features >> f) & 1u) cJSON_AddItemToArray(fe, cJSON_CreateString(daoe_feature_names[f]));
    cJSON_AddStringToObject(o, "controller", ctrl[c->controller]);
    cJSON_AddStringToObject(o, "hypergrad", c->hyper_raw ? "raw" : "cos");
    cJSON_AddNumberToObject(o, "meta_lr", c->meta_lr);
    cJSON_AddNumberToObject(o, "tau", c->tau);
    cJSON_AddNumberToObject(o, "meta_every", c->meta_every);
    cJSON_AddNumberToObject(o, "alpha_ema", c->alpha_ema);
    cJSON_AddNumberToObject(o, "controller_hidden", c->ctrl_hidden);
    if (extra && extra[0]) {
        cJSON *x = cJSON_Parse(extra);
        if (x) {
            for (cJSON *e = x->child; e;) {
                cJSON *next = e->next;
                cJSON_AddItemToObject(o, e->string, cJSON_DetachItemViaPointer(x, e));
                e = next;
            }
            cJSON_Delete(x);
        }
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}
