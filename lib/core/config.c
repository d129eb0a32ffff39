/* The settings of a run, each declared once: the table of run options
 * (OPTS) and the table of member hyper-parameters (daoe_hparams, with the
 * source of every default). Everything else here is generated from the two
 * tables: the defaults, flag parsing (--<member>-<name> and the generic
 * --<name> of a single optimizer), --help, the range checks, the validation
 * of a run and the config.json record. */
#include "daoe/config.h"
#include "daoe/optimizer_list.h"
#include "daoe/util.h"
#include "rules.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const daoe_feature_names[DAOE_NFEAT] = {"x_mean",   "x_var",      "pred_entropy", "grad_norm",
                                                   "grad_var", "loss_delta", "progress"};

/* ------------------------------------------------------------------ member hyper-parameters */
/* The rows of every member's rule (baselines/<member>.h), in member order;
 * within a member the order of its member_settings in config.json. Defaults
 * are float literals so that the float fields get exactly them. */
#define HP_ROW_(N, field, type, d, lo, hi, help) \
    {DAOE_M_##N, #field, DAOE_HP_##type, (int)(offsetof(daoe_##N##_hp, field) / sizeof(float)), d, lo, hi, help},
#define HP_ROWS_(ID, N, dflt) DAOE_RULE_##N##_HPARAMS(HP_ROW_)
const daoe_hparam daoe_hparams[] = {DAOE_MEMBERS(HP_ROWS_)};
#undef HP_ROWS_
#undef HP_ROW_
const int daoe_n_hparams = (int)(sizeof daoe_hparams / sizeof daoe_hparams[0]);
_Static_assert(sizeof daoe_hparams / sizeof daoe_hparams[0] <= DAOE_MAX_HP, "DAOE_MAX_HP too small");

static float *hp_val(daoe_config *c, const daoe_hparam *h) { return &c->hp[h->member][h->index]; }

/* a row's name as its flag writes it: wd_mode -> wd-mode */
static const char *hp_flag(const daoe_hparam *h) {
    static char buf[64];
    snprintf(buf, sizeof buf, "%s", h->name);
    for (char *k = buf; *k; k++)
        if (*k == '_') *k = '-';
    return buf;
}

/* flag text (with '-') names the row called name (with '_') */
static int hp_is(const char *flag, const char *name) {
    for (; *flag && *name; flag++, name++)
        if (*flag != *name && !(*flag == '-' && *name == '_')) return 0;
    return !*flag && !*name;
}

/* index of member m's hyper-parameter called name (either spelling), -1 if it has none */
static int hp_find(int m, const char *name) {
    for (int h = 0; h < daoe_n_hparams; h++)
        if (daoe_hparams[h].member == m && hp_is(name, daoe_hparams[h].name)) return h;
    return -1;
}

/* the generic flag --name: the first entry of that name stands for all */
static int hp_generic(const char *name) {
    for (int h = 0; h < daoe_n_hparams; h++)
        if (hp_is(name, daoe_hparams[h].name)) return h;
    return -1;
}

/* the member flag --<member>-<name> */
static int hp_member_flag(const char *flag) {
    for (int h = 0; h < daoe_n_hparams; h++) {
        const char *m = daoe_member_names[daoe_hparams[h].member];
        size_t n = strlen(m);
        if (!strncmp(flag, m, n) && flag[n] == '-' && hp_is(flag + n + 1, daoe_hparams[h].name)) return h;
    }
    return -1;
}

float daoe_member_lr(const daoe_config *c, int i) {
    return c->hp[i][daoe_hparams[hp_find(i, "lr")].index];
}

/* ------------------------------------------------------------------ run options */
typedef struct {
    const char *name;
    int value;
} choice;
static const choice BACKENDS[] = {{"cpu", 0}, {"cuda", 1}, {NULL, 0}};
static const choice PRECISIONS[] = {{"fp32", DAOE_FP32}, {"tf32", DAOE_TF32}, {"bf16", DAOE_BF16}, {NULL, 0}};
static const choice CPU_CONVS[] = {{"im2col", DAOE_CPU_CONV_IM2COL}, {"dnnl", DAOE_CPU_CONV_DNNL}, {NULL, 0}};
static const choice SCHEDULES[] = {{"cosine", DAOE_SCHED_COSINE}, {"constant", DAOE_SCHED_CONSTANT}, {NULL, 0}};
static const choice CONTROLLERS[] = {{"fixed", DAOE_CTRL_FIXED}, {"hypergrad", DAOE_CTRL_HYPERGRAD}, {NULL, 0}};
static const choice HYPERGRADS[] = {{"cos", 0}, {"raw", 1}, {NULL, 0}};
static const choice CTRL_PASSES[] = {{"one", 0}, {"two", 1}, {NULL, 0}};
static const choice WDMODES[] = {{"coupled", 0}, {"decoupled", 1}, {NULL, 0}};
static const choice CUDNN_SEARCHES[] = {
    {"timed", DAOE_CUDNN_SEARCH_TIMED}, {"heuristic", DAOE_CUDNN_SEARCH_HEURISTIC}, {NULL, 0}};

enum {
    T_INT, T_DBL, T_U64, T_STR, T_FLAG, T_NOFLAG,
    T_CHOICE,     /* int field, one of choices */
    T_NAME,       /* char[16] field, one of choices (the name is stored) */
    T_OPTIMIZER,  /* a name of daoe_optimizers[] */
    T_MEMBERS, T_FEATURES, T_ALPHA_INIT, T_HELP
};

typedef struct {
    const char *name;     /* the flag, without "--" */
    int type;
    size_t off;           /* of the field in daoe_config */
    double def, lo, hi;   /* T_CHOICE: def is the value; T_NAME: the index */
    const choice *choices;
    const char *json;     /* key in config.json; NULL: not recorded (does not change the result) */
    const char *arg;      /* placeholder in --help */
    const char *help;
    /* the environment variable that sets the option where no flag does
     * (daoe_config_environment); such an option changes how the backend
     * computes, not what: config.json records it under backend_options (with
     * json as its key), out of the settings and their fingerprint */
    const char *env;
} optdef;

#define OFF(f) offsetof(daoe_config, f)
/* Order = the order of config.json (then the options it does not record). */
static const optdef OPTS[] = {
    {"optimizer", T_OPTIMIZER, OFF(optimizer), 0, 0, 0, NULL, "optimizer", NULL, "optimizer alone, or the ensemble", NULL},
    {"seed", T_U64, OFF(seed), 0, 0, 0, NULL, "seed", "N", "seed of init, shuffling, augmentation", NULL},
    {"data", T_STR, OFF(data), 0, 0, 0, NULL, "data", "DIR", "CIFAR-10 binary folder (default $CIFAR10_DIR)", NULL},
    {"out", T_STR, OFF(out), 0, 0, 0, NULL, "out", "DIR", "run folder (created)", NULL},
    {"backend", T_NAME, OFF(backend), 0, 0, 0, BACKENDS, "backend", NULL, "compute backend", NULL},
    {"precision", T_CHOICE, OFF(precision), DAOE_FP32, 0, 0, PRECISIONS, "precision", NULL, "arithmetic (tf32: cuda; bf16: cuda, or cpu with --cpu-conv dnnl on a CPU with AVX-512 BF16 or AMX)", NULL},
    {"deterministic", T_FLAG, OFF(deterministic), 0, 0, 0, NULL, "deterministic", NULL, "deterministic GPU algorithms", NULL},
    {"epochs", T_INT, OFF(epochs), 100, 1, 100000, NULL, "epochs", "N", "training epochs", NULL},
    {"batch", T_INT, OFF(batch), 128, 2, 8192, NULL, "batch", "N", "batch size", NULL},
    {"width", T_INT, OFF(width), 64, 1, 1024, NULL, "width", "N", "ResNet-18 base width", NULL},
    {"schedule", T_CHOICE, OFF(schedule), DAOE_SCHED_COSINE, 0, 0, SCHEDULES, "schedule", NULL,
     "learning-rate schedule, per iteration", NULL},
    {"warmup-epochs", T_DBL, OFF(warmup_epochs), 0, 0, 1000, NULL, "warmup_epochs", "X", "linear warm-up", NULL},
    {"train-subset", T_INT, OFF(train_subset), 0, 0, 50000, NULL, "train_subset", "N",
     "first N images of the training split (0: all)", NULL},
    {"val", T_INT, OFF(val), 5000, 0, 49000, NULL, "val", "N", "held-out validation images", NULL},
    {"test-subset", T_INT, OFF(test_subset), 0, 0, 10000, NULL, "test_subset", "N",
     "evaluate on the first N test images only (0: all)", NULL},
    {"eval-every", T_INT, OFF(eval_every), 1, 0, 100000, NULL, "eval_every", "N",
     "evaluate val and test every N epochs and after the last (0: after the last only; the other rows of "
     "epochs.csv get nan)", NULL},
    {"threads", T_INT, OFF(threads), 0, 0, 1024, NULL, "threads", "N", "CPU threads (0: all)", NULL},
    {"cpu-conv", T_CHOICE, OFF(cpu_conv), DAOE_CPU_CONV_DEFAULT, 0, 0, CPU_CONVS, "cpu_conv", NULL,
     "CPU convolutions: im2col (the reference: im2col + OpenBLAS sgemm, CNHW) or dnnl (oneDNN direct, NHWC; "
     "the default where the build has oneDNN)", NULL},
    {"no-augment", T_NOFLAG, OFF(augment), 0, 0, 0, NULL, "augment", NULL, "no crop/flip", NULL},
    {"no-shuffle", T_NOFLAG, OFF(shuffle), 0, 0, 0, NULL, "shuffle", NULL, "visit training images in file order", NULL},
    {"init-from", T_STR, OFF(init_from), 0, 0, 0, NULL, "init_from", "FILE", "start from a safetensors checkpoint", NULL},
    {"trace-every", T_INT, OFF(trace_every), 10, 1, 1000000, NULL, "trace_every", "N", "alpha.csv row every N steps", NULL},
    /* config.json: members, member_settings and alpha_init together */
    {"members", T_MEMBERS, OFF(members), 0, 0, 0, NULL, "members", "LIST", "DAO-E members", NULL},
    {"features", T_FEATURES, OFF(features), 0, 0, 0, NULL, "features", "LIST", "controller inputs, or all|none", NULL},
    {"controller", T_CHOICE, OFF(controller), DAOE_CTRL_HYPERGRAD, 0, 0, CONTROLLERS, "controller", NULL,
     "DAO-E controller rule", NULL},
    {"hypergrad", T_CHOICE, OFF(hyper_raw), 0, 0, 0, HYPERGRADS, "hypergrad", NULL, "hypergradient signal", NULL},
    /* SPEC 3.3: 4..40 sane in the prototype */
    {"meta-lr", T_DBL, OFF(meta_lr), 10, 0, 1e9, NULL, "meta_lr", "C", "meta-step budget per run: step = C/T", NULL},
    {"tau", T_DBL, OFF(tau), 1, 1e-6, 1e6, NULL, "tau", "X", "softmax temperature", NULL},
    {"meta-every", T_INT, OFF(meta_every), 1, 1, 1000000, NULL, "meta_every", "K",
     "one meta step every K steps (at t = K+1, 2K+1, ...: the first hypergradient is at step 2), along the mean of the window's finite meta-gradients", NULL},
    {"alpha-ema", T_DBL, OFF(alpha_ema), 0, 0, 0.999999, NULL, "alpha_ema", "X",
     "EMA on alpha: alpha = X alpha + (1-X) softmax (0: off); the meta-gradient includes the (1-X) factor", NULL},
    {"ctrl-pass", T_CHOICE, OFF(ctrl_two_pass), 0, 0, 0, CTRL_PASSES, "ctrl_pass", NULL,
     "one: one fused pass, the controller one step behind (its meta-gradient taken at the weights that produced the judged alpha); two: reductions, then the update with this step's alpha", NULL},
    {"controller-hidden", T_INT, OFF(ctrl_hidden), 0, 0, DAOE_CTRL_MAXH, NULL, "controller_hidden", "H",
     "hidden tanh layer of H units: z = W2 tanh(W1 f + b1) + b2 (0: linear, z = W f + b)", NULL},
    {"alpha-init", T_ALPHA_INIT, 0, 0, 0, 0, NULL, NULL, "LIST", "starting alpha per member (fixed: permanent)", NULL},
    {"save-init", T_FLAG, OFF(save_init), 0, 0, 0, NULL, NULL, NULL, "write init.safetensors before the first step", NULL},
    {"quiet", T_FLAG, OFF(quiet), 0, 0, 0, NULL, NULL, NULL, "no progress output", NULL},
    {"verify-data", T_FLAG, OFF(verify), 0, 0, 0, NULL, NULL, NULL, "check the official sha256 of each data file", NULL},
    {"resume", T_FLAG, OFF(resume), 0, 0, 0, NULL, NULL, NULL, "continue from --out's checkpoint if there is one", NULL},
    {"checkpoint-minutes", T_DBL, OFF(checkpoint_minutes), 2, 0, 1e6, NULL, NULL, "M",
     "checkpoint for --resume at most every M minutes (0: every epoch)", NULL},
    /* the backend's switches (order = config.json's environment) */
    {"no-graph", T_FLAG, OFF(no_graph), 0, 0, 0, NULL, "no_graph", NULL,
     "cuda: launch a step's kernels one by one (no CUDA graph capture and replay)", "DAOE_NO_GRAPH"},
    {"opt-generic", T_FLAG, OFF(opt_generic), 0, 0, 0, NULL, "opt_generic", NULL,
     "cpu: the generic fused optimizer loop instead of the specialised ones (to check them)",
     "DAOE_OPT_GENERIC"},
    {"cudnn-search", T_CHOICE, OFF(cudnn_search), DAOE_CUDNN_SEARCH_TIMED, 0, 0, CUDNN_SEARCHES, "cudnn_search",
     NULL, "cuda: convolution algorithms by a timed search (cudnnFind) or cuDNN's heuristic", "DAOE_CUDNN_SEARCH"},
    {"debug-sync", T_FLAG, OFF(debug_sync), 0, 0, 0, NULL, "debug_sync", NULL,
     "cuda: synchronise after every launch (an error names its kernel)", "DAOE_DEBUG_SYNC"},
    {"help", T_HELP, 0, 0, 0, 0, NULL, NULL, NULL, "this text", NULL},
};
#undef OFF
#define NOPTS (sizeof OPTS / sizeof OPTS[0])
_Static_assert(sizeof OPTS / sizeof OPTS[0] <= 64, "daoe_config_flags.opt_given has 64 bits");
/* read before main by lib/cpu/blas.c (the BLAS kernels are chosen there): no
 * flag can set them, config.json records them beside the options' variables */
static const char *const ENV_BEFORE_MAIN[] = {"DAOE_BLAS_AUTO", "OPENBLAS_CORETYPE"};

#define FIELD(c, o, type) ((type *)((char *)(c) + (o)->off))

static const optdef *opt_find(const char *name) {
    for (size_t k = 0; k < NOPTS; k++)
        if (!strcmp(OPTS[k].name, name)) return &OPTS[k];
    return NULL;
}

static const char *choice_name(const choice *ch, int v) {
    for (; ch->name; ch++)
        if (ch->value == v) return ch->name;
    return NULL;
}

/* "a|b|c" */
static const char *choice_list(const choice *ch, char *buf, size_t n) {
    buf[0] = 0;
    for (const choice *c = ch; c->name; c++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", c == ch ? "" : "|", c->name);
    }
    return buf;
}

void daoe_config_defaults(daoe_config *c) {
    memset(c, 0, sizeof *c);
    for (size_t k = 0; k < NOPTS; k++) {
        const optdef *o = &OPTS[k];
        switch (o->type) {
        case T_INT: *FIELD(c, o, int) = (int)o->def; break;
        case T_DBL: *FIELD(c, o, double) = o->def; break;
        case T_NOFLAG: *FIELD(c, o, int) = 1; break;
        case T_CHOICE: *FIELD(c, o, int) = (int)o->def; break;
        case T_NAME: snprintf(FIELD(c, o, char), 16, "%s", o->choices[(int)o->def].name); break;
        case T_OPTIMIZER: snprintf(FIELD(c, o, char), 16, "%s", daoe_optimizers[0].name); break;
        case T_MEMBERS: *FIELD(c, o, unsigned) = DAOE_DEFAULT_MEMBERS; break;
        case T_FEATURES: *FIELD(c, o, unsigned) = (1u << DAOE_NFEAT) - 1; break;
        default: break;
        }
    }
    const char *env = getenv("CIFAR10_DIR");
    if (env) snprintf(c->data, sizeof c->data, "%s", env);
    for (int h = 0; h < daoe_n_hparams; h++) {
        const daoe_hparam *p = &daoe_hparams[h];
        *hp_val(c, p) = (float)p->def;
    }
}

int daoe_config_split(const daoe_config *c) { return 50000 - c->val; }

int daoe_config_ntrain(const daoe_config *c) { return c->train_subset ? c->train_subset : daoe_config_split(c); }

int daoe_config_steps_per_epoch(const daoe_config *c) { return daoe_config_ntrain(c) / c->batch; }

/* ------------------------------------------------------------------ --help */
/* the default of option o as --help shows it (from a defaults config) */
static void default_text(const daoe_config *d, const optdef *o, char *buf, size_t n) {
    buf[0] = 0;
    switch (o->type) {
    case T_INT: snprintf(buf, n, "%d", *FIELD(d, o, const int)); break;
    case T_DBL: snprintf(buf, n, "%g", *FIELD(d, o, const double)); break;
    case T_U64: snprintf(buf, n, "%llu", (unsigned long long)*FIELD(d, o, const uint64_t)); break;
    case T_CHOICE: snprintf(buf, n, "%s", choice_name(o->choices, *FIELD(d, o, const int))); break;
    case T_NAME: case T_OPTIMIZER: snprintf(buf, n, "%s", FIELD(d, o, const char)); break;
    case T_MEMBERS:
        for (int i = 0; i < DAOE_K; i++)
            if ((d->members >> i) & 1u) {
                size_t l = strlen(buf);
                snprintf(buf + l, n - l, "%s%s", l ? "," : "", daoe_member_names[i]);
            }
        break;
    case T_FEATURES: snprintf(buf, n, "all"); break;
    case T_ALPHA_INIT: snprintf(buf, n, "uniform"); break;
    default: break;
    }
}

static const char *hp_arg(const daoe_hparam *p, char *buf, size_t n) {
    if (p->type == DAOE_HP_FLAG) return "";
    if (p->type == DAOE_HP_WDMODE) return choice_list(WDMODES, buf, n);
    return "X";
}

static void hp_default_text(const daoe_config *d, const daoe_hparam *p, char *buf, size_t n) {
    float v = d->hp[p->member][p->index];
    if (p->type == DAOE_HP_FLOAT) snprintf(buf, n, "%g", v);
    else if (p->type == DAOE_HP_FLAG) snprintf(buf, n, "%s", v != 0.0f ? "on" : "off");
    else snprintf(buf, n, "%s", choice_name(WDMODES, (int)v));
}

void daoe_config_usage(FILE *f) {
    daoe_config d;
    daoe_config_defaults(&d);
    char arg[128], def[128], flag[128];
    fprintf(f,
            "usage: daoe-train --out DIR [--data DIR] [options]\n"
            "Trains the CIFAR ResNet-18 on CIFAR-10 and writes config.json, epochs.csv, alpha.csv,\n"
            "summary.json and final.safetensors to --out.\n"
            "SIGTERM, SIGINT or SIGUSR1: a checkpoint at the next step, then exit 4; --resume goes on.\n"
            "Exit status: 0 finished (also: --resume of a finished run), 1 error, 2 bad command line,\n"
            "3 diverged (NaN/Inf), 4 interrupted (checkpoint written; --resume finishes it),\n"
            "5 an output file could not be written (full disk, read-only folder, quota).\n\noptions:\n");
    for (size_t k = 0; k < NOPTS; k++) {
        const optdef *o = &OPTS[k];
        const char *a = o->arg ? o->arg : "";
        if (o->choices) a = choice_list(o->choices, arg, sizeof arg);
        if (o->type == T_OPTIMIZER) a = daoe_optimizer_choices();
        default_text(&d, o, def, sizeof def);
        fprintf(f, "  --%-18s %-17s %s%s%s%s%s%s\n", o->name, a, o->help, def[0] ? " (default " : "", def,
                def[0] ? ")" : "", o->env ? "; environment: " : "", o->env ? o->env : "");
    }
    fprintf(f, "\nper-member settings (DAO-E members, or the single optimizer):\n");
    for (int h = 0; h < daoe_n_hparams; h++) {
        const daoe_hparam *p = &daoe_hparams[h];
        snprintf(flag, sizeof flag, "%s-%s", daoe_member_names[p->member], hp_flag(p));
        hp_default_text(&d, p, def, sizeof def);
        fprintf(f, "  --%-18s %-17s %s %s (default %s)\n", flag, hp_arg(p, arg, sizeof arg),
                daoe_member_display[p->member], p->help, def);
    }
    fprintf(f, "\nthe same without the member prefix set the single optimizer's own (--lr, --wd, ...):\n");
    for (int h = 0; h < daoe_n_hparams; h++) {
        const daoe_hparam *p = &daoe_hparams[h];
        if (hp_generic(p->name) != h) continue;
        char who[128] = "";
        for (int m = 0; m < DAOE_K; m++)
            if (hp_find(m, p->name) >= 0) {
                size_t l = strlen(who);
                snprintf(who + l, sizeof who - l, "%s%s", l ? ", " : "", daoe_member_names[m]);
            }
        fprintf(f, "  --%-18s %-17s %s (%s)\n", hp_flag(p), hp_arg(p, arg, sizeof arg), p->help, who);
    }
    for (int i = 0; i < daoe_n_optimizers; i++)
        if (daoe_optimizers[i].decoupled)
            fprintf(f, "  --optimizer %s is %s with decoupled decay (default wd %g).\n", daoe_optimizers[i].name,
                    daoe_member_display[daoe_optimizers[i].member], daoe_optimizers[i].wd);
    fprintf(f, "features:");
    for (int k = 0; k < DAOE_NFEAT; k++) fprintf(f, "%s%s", k ? "," : " ", daoe_feature_names[k]);
    fprintf(f, "\n");
}

/* ------------------------------------------------------------------ reading values */
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

static int parse_choice(const char *name, const char *s, const choice *ch, int *out, char *err, size_t errlen) {
    for (const choice *c = ch; c->name; c++)
        if (!strcmp(s, c->name)) {
            *out = c->value;
            return 0;
        }
    char buf[128];
    daoe_errf(err, errlen, "--%s: '%s' is not %s", name, s, choice_list(ch, buf, sizeof buf));
    return -1;
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

/* a member hyper-parameter's value: float in its range, 1 for a switch, 0/1 for wd-mode */
static int parse_hp(const daoe_hparam *p, const char *name, const char *val, double *out, char *err,
                    size_t errlen) {
    if (p->type == DAOE_HP_FLAG) {
        *out = 1;
        return 0;
    }
    if (p->type == DAOE_HP_WDMODE) {
        int m;
        if (parse_choice(name, val, WDMODES, &m, err, errlen)) return -1;
        *out = m;
        return 0;
    }
    return parse_double(name, val, p->lo, p->hi, out, err, errlen);
}

static void hp_store(daoe_config *c, const daoe_hparam *p, double v) { *hp_val(c, p) = (float)v; }

static int set_run_option(daoe_config *c, const optdef *o, const char *name, const char *val, char *err,
                          size_t errlen) {
    daoe_config_flags *g = &c->given;
    g->opt_given |= 1ull << (o - OPTS);
    double d;
    switch (o->type) {
    case T_INT:
        if (parse_double(name, val, o->lo, o->hi, &d, err, errlen)) return -1;
        if (d != floor(d)) {
            daoe_errf(err, errlen, "--%s: '%s' is not an integer", name, val);
            return -1;
        }
        *FIELD(c, o, int) = (int)d;
        return 0;
    case T_DBL:
        if (parse_double(name, val, o->lo, o->hi, &d, err, errlen)) return -1;
        *FIELD(c, o, double) = d;
        return 0;
    case T_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(val, &end, 10);
        if (errno || end == val || *end || val[0] == '-') {
            daoe_errf(err, errlen, "--%s: '%s' is not a non-negative integer", name, val);
            return -1;
        }
        *FIELD(c, o, uint64_t) = u;
        return 0;
    }
    case T_STR:
        if (strlen(val) >= 1024 || !val[0]) {
            daoe_errf(err, errlen, "--%s: empty or too long", name);
            return -1;
        }
        snprintf(FIELD(c, o, char), 1024, "%s", val);
        return 0;
    case T_FLAG: *FIELD(c, o, int) = 1; return 0;
    case T_NOFLAG: *FIELD(c, o, int) = 0; return 0;
    case T_CHOICE: return parse_choice(name, val, o->choices, FIELD(c, o, int), err, errlen);
    case T_NAME: {
        int v;
        if (parse_choice(name, val, o->choices, &v, err, errlen)) return -1;
        snprintf(FIELD(c, o, char), 16, "%s", val);
        return 0;
    }
    case T_OPTIMIZER:
        if (!daoe_optimizer_find(val)) {
            daoe_errf(err, errlen, "--%s: '%s' is not %s", name, val, daoe_optimizer_choices());
            return -1;
        }
        snprintf(FIELD(c, o, char), 16, "%s", val);
        return 0;
    case T_MEMBERS:
        if (parse_list(name, val, daoe_member_names, DAOE_K, &c->members, g->member_order, &g->nmember_order, err,
                       errlen))
            return -1;
        if (!c->members) {
            daoe_errf(err, errlen, "--members: at least one member needed");
            return -1;
        }
        g->members_given = 1;
        return 0;
    case T_FEATURES: {
        int ord[DAOE_NFEAT], n;
        return parse_list(name, val, daoe_feature_names, DAOE_NFEAT, &c->features, ord, &n, err, errlen);
    }
    case T_ALPHA_INIT: {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", val);
        g->alpha_n = 0;
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            if (g->alpha_n >= DAOE_K) {
                daoe_errf(err, errlen, "--alpha-init: more than %d values", DAOE_K);
                return -1;
            }
            if (parse_double(name, tok, 0.0, 1.0, &g->alpha_vals[g->alpha_n++], err, errlen)) return -1;
        }
        c->alpha_init_set = 1;
        return 0;
    }
    default: return 1; /* T_HELP */
    }
}

/* 1: the option takes a value, 0: a switch, -1: no such option */
static int takes_value(const char *name) {
    const optdef *o = opt_find(name);
    if (o) return !(o->type == T_FLAG || o->type == T_NOFLAG || o->type == T_HELP);
    int h = hp_member_flag(name);
    if (h < 0) h = hp_generic(name);
    if (h < 0) return -1;
    return daoe_hparams[h].type != DAOE_HP_FLAG;
}

int daoe_config_set(daoe_config *c, const char *name, const char *val, char *err, size_t errlen) {
    int tv = takes_value(name);
    if (tv < 0) {
        daoe_errf(err, errlen, "unknown option --%s (see --help)", name);
        return -1;
    }
    if (tv && !val) {
        daoe_errf(err, errlen, "--%s needs a value", name);
        return -1;
    }
    if (!tv && val) {
        daoe_errf(err, errlen, "--%s takes no value", name);
        return -1;
    }
    const optdef *o = opt_find(name);
    if (o) return set_run_option(c, o, name, val, err, errlen);
    double v;
    int h = hp_member_flag(name);
    if (h >= 0) {
        if (parse_hp(&daoe_hparams[h], name, val, &v, err, errlen)) return -1;
        c->given.hp_given |= 1ull << h;
        hp_store(c, &daoe_hparams[h], v);
        return 0;
    }
    h = hp_generic(name); /* applied to the single optimizer by daoe_config_validate */
    if (parse_hp(&daoe_hparams[h], name, val, &v, err, errlen)) return -1;
    c->given.generic_given |= 1ull << h;
    c->given.generic_val[h] = v;
    return 0;
}

int daoe_config_parse_flags(daoe_config *c, int argc, char **argv, char *err, size_t errlen) {
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
        if (takes_value(name) == 1 && !val) {
            if (i + 1 >= argc) {
                daoe_errf(err, errlen, "--%s needs a value", name);
                return -1;
            }
            val = argv[++i];
        }
        int rc = daoe_config_set(c, name, val, err, errlen);
        if (rc) return rc;
    }
    return daoe_config_environment(c, err, errlen);
}

int daoe_config_environment(daoe_config *c, char *err, size_t errlen) {
    for (size_t k = 0; k < NOPTS; k++) {
        const optdef *o = &OPTS[k];
        const char *v = o->env ? getenv(o->env) : NULL;
        if (!v || ((c->given.opt_given >> k) & 1u)) continue;
        if (o->type == T_FLAG) {
            *FIELD(c, o, int) = v[0] && strcmp(v, "0") != 0;
        } else if (parse_choice(o->env, v, o->choices, FIELD(c, o, int), err, errlen)) {
            char m[512];
            snprintf(m, sizeof m, "%s (environment; or --%s)", err, o->name);
            daoe_errf(err, errlen, "%s", m + 2); /* parse_choice's message starts with "--" */
            return -1;
        }
    }
    return 0;
}

daoe_backend_options daoe_config_backend_options(const daoe_config *c) {
    return (daoe_backend_options){.prec = c->precision,
                                  .threads = c->threads,
                                  .cpu_conv = (daoe_cpu_conv)c->cpu_conv,
                                  .opt_generic = c->opt_generic,
                                  .deterministic = c->deterministic,
                                  .debug_sync = c->debug_sync,
                                  .no_graph = c->no_graph,
                                  .cudnn_search = c->cudnn_search};
}

int daoe_backend_options_env(daoe_backend_options *o, char *err, size_t errlen) {
    daoe_config c;
    daoe_config_defaults(&c);
    if (daoe_config_environment(&c, err, errlen)) return -1;
    const daoe_backend_options e = daoe_config_backend_options(&c);
    o->opt_generic = e.opt_generic;
    o->debug_sync = e.debug_sync;
    o->no_graph = e.no_graph;
    o->cudnn_search = e.cudnn_search;
    return 0;
}

/* ------------------------------------------------------------------ validation */
/* A single optimizer: one member, no controller, the generic flags applied. */
static int resolve_single(daoe_config *c, const daoe_optimizer_info *oi, char *err, size_t errlen) {
    const daoe_config_flags *g = &c->given;
    int m = oi->member;
    if (g->members_given) {
        daoe_errf(err, errlen, "--members is for --optimizer daoe");
        return -1;
    }
    c->members = 1u << m;
    c->controller = DAOE_CTRL_NONE;
    if (oi->decoupled) {
        *hp_val(c, &daoe_hparams[hp_find(m, "wd_mode")]) = 1.0f;
        int wd = hp_find(m, "wd"); /* a generic --wd still wins below */
        if (!((g->hp_given >> wd) & 1u)) *hp_val(c, &daoe_hparams[wd]) = oi->wd;
    }
    for (int h = 0; h < daoe_n_hparams; h++) {
        if (!((g->generic_given >> h) & 1u)) continue;
        int mh = hp_find(m, daoe_hparams[h].name);
        if (mh < 0) {
            daoe_errf(err, errlen, "--%s does not apply to --optimizer %s", hp_flag(&daoe_hparams[h]), c->optimizer);
            return -1;
        }
        hp_store(c, &daoe_hparams[mh], g->generic_val[h]);
    }
    if (c->alpha_init_set) {
        daoe_errf(err, errlen, "--alpha-init is for --optimizer daoe");
        return -1;
    }
    for (int i = 0; i < DAOE_K; i++) c->alpha_init[i] = i == m ? 1.0f : 0.0f;
    return 0;
}

/* The ensemble takes each member's own flags only. */
static int check_ensemble(daoe_config *c, char *err, size_t errlen) {
    daoe_config_flags *g = &c->given;
    if (g->generic_given) {
        daoe_errf(err, errlen, "with --optimizer daoe, set each member's own flags "
                               "(--sgd-lr, --adam-beta1, ...) instead of the generic ones");
        return -1;
    }
    if (!g->members_given) {
        g->nmember_order = 0;
        for (int i = 0; i < DAOE_K; i++)
            if ((c->members >> i) & 1u) g->member_order[g->nmember_order++] = i;
    }
    return 0;
}

/* The ensemble's alpha: uniform over the members unless --alpha-init (in --members order). */
static int resolve_alpha(daoe_config *c, char *err, size_t errlen) {
    const daoe_config_flags *g = &c->given;
    int K = __builtin_popcount(c->members);
    for (int i = 0; i < DAOE_K; i++) c->alpha_init[i] = ((c->members >> i) & 1u) ? 1.0f / (float)K : 0.0f;
    if (!c->alpha_init_set) return 0;
    if (g->alpha_n != g->nmember_order) {
        daoe_errf(err, errlen, "--alpha-init: %d values for %d members", g->alpha_n, g->nmember_order);
        return -1;
    }
    double s = 0;
    for (int i = 0; i < g->alpha_n; i++) s += g->alpha_vals[i];
    if (fabs(s - 1.0) > 1e-6) {
        daoe_errf(err, errlen, "--alpha-init: values sum to %g, not 1", s);
        return -1;
    }
    if (c->controller == DAOE_CTRL_HYPERGRAD)
        for (int i = 0; i < g->alpha_n; i++)
            if (g->alpha_vals[i] <= 0.0) {
                daoe_errf(err, errlen, "--alpha-init: zeros need --controller fixed "
                                       "(the hypergradient controller starts from log alpha)");
                return -1;
            }
    for (int i = 0; i < g->alpha_n; i++) c->alpha_init[g->member_order[i]] = (float)g->alpha_vals[i];
    return 0;
}

int daoe_config_validate(daoe_config *c, int flags, char *err, size_t errlen) {
    const daoe_optimizer_info *oi = daoe_optimizer_find(c->optimizer);
    if (!oi) {
        daoe_errf(err, errlen, "--optimizer: '%s' is not %s", c->optimizer, daoe_optimizer_choices());
        return -1;
    }
    int ensemble = oi->member < 0;
    if (ensemble ? check_ensemble(c, err, errlen) : resolve_single(c, oi, err, errlen)) return -1;
    for (int h = 0; h < daoe_n_hparams; h++) {
        int i = daoe_hparams[h].member;
        if (((c->given.hp_given >> h) & 1u) && !(c->members & (1u << i))) {
            daoe_errf(err, errlen, "--%s-* given but %s is not a member (see --members / --optimizer)",
                      daoe_member_names[i], daoe_member_names[i]);
            return -1;
        }
    }
    if (ensemble && resolve_alpha(c, err, errlen)) return -1;
    for (int i = 0; i < DAOE_K; i++)
        if (((c->members >> i) & 1u) && daoe_rule_check(i, c->hp[i], err, errlen)) return -1;
    if (flags & DAOE_VALIDATE_RUN) {
        if (!c->out[0]) {
            daoe_errf(err, errlen, "--out DIR is required");
            return -1;
        }
        if (!c->data[0]) {
            daoe_errf(err, errlen, "no data folder: give --data DIR or set CIFAR10_DIR");
            return -1;
        }
    }
    if (!strcmp(c->backend, "cpu") && c->precision == DAOE_TF32) {
        daoe_errf(err, errlen, "--precision tf32 needs --backend cuda (the CPU has fp32, and bf16 with --cpu-conv dnnl)");
        return -1;
    }
    if (!strcmp(c->backend, "cpu") && c->precision == DAOE_BF16 && c->cpu_conv != DAOE_CPU_CONV_DNNL) {
        daoe_errf(err, errlen, "--precision bf16 on the CPU needs --cpu-conv dnnl (the im2col convolutions are fp32)");
        return -1;
    }
    int ntrain = daoe_config_ntrain(c);
    if (ntrain > daoe_config_split(c)) {
        daoe_errf(err, errlen, "--train-subset %d is larger than the training split (%d = 50000 - --val %d)",
                  c->train_subset, daoe_config_split(c), c->val);
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

int daoe_config_parse(daoe_config *c, int argc, char **argv, char *err, size_t errlen) {
    int rc = daoe_config_parse_flags(c, argc, argv, err, errlen);
    if (rc) return rc;
    return daoe_config_validate(c, DAOE_VALIDATE_RUN, err, errlen);
}

int daoe_config_from_flags(daoe_config *c, const char *flags, char *err, size_t errlen) {
    char buf[2048], *argv[128];
    int argc = 0;
    argv[argc++] = "config";
    snprintf(buf, sizeof buf, "%s", flags);
    for (char *t = strtok(buf, " "); t && argc < 128; t = strtok(NULL, " ")) argv[argc++] = t;
    int rc = daoe_config_parse_flags(c, argc, argv, err, errlen);
    if (rc > 0) daoe_errf(err, errlen, "--help is not a setting");
    if (rc) return -1;
    return daoe_config_validate(c, 0, err, errlen);
}

/* ------------------------------------------------------------------ JSON */
static cJSON *member_json(const daoe_config *c, int i) {
    cJSON *o = cJSON_CreateObject();
    for (int h = 0; h < daoe_n_hparams; h++) {
        const daoe_hparam *p = &daoe_hparams[h];
        if (p->member != i) continue;
        float v = c->hp[i][p->index];
        if (p->type == DAOE_HP_FLOAT) cJSON_AddNumberToObject(o, p->name, v);
        else if (p->type == DAOE_HP_FLAG) cJSON_AddBoolToObject(o, p->name, v != 0.0f);
        else cJSON_AddStringToObject(o, p->name, choice_name(WDMODES, (int)v));
    }
    return o;
}

/* members, member_settings and alpha_init of the members present */
static void members_json(cJSON *o, const daoe_config *c) {
    cJSON *mem = cJSON_AddArrayToObject(o, "members");
    cJSON *hp = cJSON_AddObjectToObject(o, "member_settings");
    cJSON *a0 = cJSON_AddArrayToObject(o, "alpha_init");
    for (int i = 0; i < DAOE_K; i++)
        if ((c->members >> i) & 1u) {
            cJSON_AddItemToArray(mem, cJSON_CreateString(daoe_member_names[i]));
            cJSON_AddItemToObject(hp, daoe_member_names[i], member_json(c, i));
            cJSON_AddItemToArray(a0, cJSON_CreateNumber(c->alpha_init[i]));
        }
}

static void option_json(cJSON *o, const daoe_config *c, const optdef *d) {
    const char *k = d->json;
    switch (d->type) {
    case T_INT: cJSON_AddNumberToObject(o, k, *FIELD(c, d, const int)); break;
    case T_DBL: cJSON_AddNumberToObject(o, k, *FIELD(c, d, const double)); break;
    case T_U64: {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)*FIELD(c, d, const uint64_t));
        cJSON_AddRawToObject(o, k, seed);
        break;
    }
    case T_STR: case T_NAME: case T_OPTIMIZER: cJSON_AddStringToObject(o, k, FIELD(c, d, const char)); break;
    case T_FLAG: case T_NOFLAG: cJSON_AddBoolToObject(o, k, *FIELD(c, d, const int)); break;
    case T_CHOICE: {
        const char *n = choice_name(d->choices, *FIELD(c, d, const int));
        cJSON_AddStringToObject(o, k, n ? n : "none"); /* controller of a single optimizer */
        break;
    }
    case T_MEMBERS: members_json(o, c); break;
    case T_FEATURES: {
        cJSON *fe = cJSON_AddArrayToObject(o, k);
        for (int f = 0; f < DAOE_NFEAT; f++)
            if ((c->features >> f) & 1u) cJSON_AddItemToArray(fe, cJSON_CreateString(daoe_feature_names[f]));
        break;
    }
    default: break;
    }
}

void daoe_config_environment_json(const daoe_config *c, cJSON *o) {
    cJSON *b = cJSON_AddObjectToObject(o, "backend_options");
    for (size_t k = 0; k < NOPTS; k++)
        if (OPTS[k].env) option_json(b, c, &OPTS[k]);
    cJSON *e = cJSON_AddObjectToObject(o, "environment");
    for (size_t k = 0; k < NOPTS + sizeof ENV_BEFORE_MAIN / sizeof ENV_BEFORE_MAIN[0]; k++) {
        const char *name = k < NOPTS ? OPTS[k].env : ENV_BEFORE_MAIN[k - NOPTS];
        const char *v = name ? getenv(name) : NULL;
        if (v) cJSON_AddStringToObject(e, name, v);
        else if (name) cJSON_AddNullToObject(e, name);
    }
}

char *daoe_config_json(const daoe_config *c, const char *extra) {
    cJSON *o = cJSON_CreateObject();
    for (size_t k = 0; k < NOPTS; k++)
        if (OPTS[k].json && !OPTS[k].env) option_json(o, c, &OPTS[k]);
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
