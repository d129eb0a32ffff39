/* Run configuration: every setting of a training run. Reading flags and
 * checking a run are separate steps, so a test or a benchmark builds a
 * configuration in code (daoe_config_defaults, daoe_config_set, then
 * daoe_config_validate) without a command line. The settings themselves are
 * declared in lib/core/config.c: one table of run options and one table of
 * member hyper-parameters, from which flags, defaults, --help, config.json
 * and the range checks all come. */
#ifndef DAOE_CONFIG_H
#define DAOE_CONFIG_H
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include "ensemble.h"
#include "optimizer_list.h"
#include "backend.h"

enum { DAOE_SCHED_COSINE = 0, DAOE_SCHED_CONSTANT = 1 };

/* One hyper-parameter of one member, a row of its rule's table
 * (baselines/<member>.h): flag --<member>-<name> ('_' written '-'; and the
 * generic --<name> for a single optimizer), JSON key <name> under
 * member_settings.<member>, value config.hp[member][index]. */
enum { DAOE_HP_FLOAT, DAOE_HP_FLAG, DAOE_HP_WDMODE };
typedef struct {
    int member;         /* DAOE_SGD.. */
    const char *name;   /* "lr", "wd_mode", ... */
    int type;           /* DAOE_HP_* */
    int index;          /* in config.hp[member] */
    double def, lo, hi; /* default (flags, wd_mode: 0/1) and accepted range */
    const char *help;
} daoe_hparam;
extern const daoe_hparam daoe_hparams[];
extern const int daoe_n_hparams;
#define DAOE_MAX_HP 64

/* What the flags said where daoe_config_validate still has to resolve it
 * (generic flags, member order, --alpha-init values). */
typedef struct {
    uint64_t hp_given;                /* bit h: --<member>-<name> of daoe_hparams[h] given */
    uint64_t generic_given;           /* bit h: generic --<name> given (h: the name's first entry) */
    double generic_val[DAOE_MAX_HP];
    int members_given;
    int member_order[DAOE_K], nmember_order; /* --members as listed */
    double alpha_vals[DAOE_K];
    int alpha_n;
    uint64_t opt_given;               /* bit k: the run option of row k given by its flag */
} daoe_config_flags;

typedef struct {
    char data[1024], out[1024], init_from[1024];
    char backend[16];
    daoe_precision precision;
    int deterministic;
    char optimizer[16];  /* a name in daoe_optimizers[] */
    uint64_t seed;
    int epochs, batch, width;
    int schedule;
    double warmup_epochs;
    int train_subset;    /* 0: whole training split */
    int val;             /* held-out images (last of the training files) */
    int test_subset;     /* 0: all 10,000 test images */
    int eval_every;      /* evaluate val and test every N epochs and after the last (0: after the last only) */
    int threads;
    int cpu_conv;        /* daoe_cpu_conv: the CPU backend's convolutions */
    int augment, shuffle, save_init, quiet, verify, resume;
    int trace_every;
    double checkpoint_minutes;
    /* how the backend computes, not what: out of the settings fingerprint,
     * in config.json's backend_options (daoe_config_backend_options) */
    int no_graph, opt_generic, cudnn_search, debug_sync;
    /* optimizer and controller */
    float hp[DAOE_K][DAOE_MEMBER_MAXHP]; /* member hyper-parameters (daoe_hparams; rates are base rates) */
    unsigned members;
    unsigned features;
    int controller;      /* DAOE_CTRL_* */
    int hyper_raw;
    double meta_lr, tau, alpha_ema;
    int ctrl_hidden;  /* hidden units of the controller, 0: linear */
    int ctrl_two_pass; /* --ctrl-pass two */
    int meta_every;
    float alpha_init[DAOE_K];
    int alpha_init_set;
    daoe_config_flags given;
} daoe_config;

extern const char *const daoe_feature_names[DAOE_NFEAT];

void daoe_config_defaults(daoe_config *c);
/* Sets one option by its flag name (no "--"), value NULL for a switch.
 * Returns 0, 1 for "help", -1 on error (message in err). Range checks of
 * single values happen here; combinations are daoe_config_validate's. */
int daoe_config_set(daoe_config *c, const char *name, const char *value, char *err, size_t errlen);
/* Reads argv's flags, then the environment variables of the options no flag
 * set (daoe_config_environment). Returns 0, 1 when --help was given, -1 on
 * error. */
int daoe_config_parse_flags(daoe_config *c, int argc, char **argv, char *err, size_t errlen);
/* The options with an environment variable (DAOE_NO_GRAPH, ...) that no flag
 * set, from the environment: a switch is on when its variable is set to
 * anything but "" or "0"; a choice takes the variable's value, which must be
 * one of its names. Returns 0 or -1 (err names the variable). */
int daoe_config_environment(daoe_config *c, char *err, size_t errlen);
/* The backend's options of the run (precision, threads, engines, switches). */
daoe_backend_options daoe_config_backend_options(const daoe_config *c);
/* For tests and benchmarks that make a backend without a run: o's switches
 * (opt_generic, debug_sync, no_graph, cudnn_search) as daoe-train would take
 * them from the environment alone. 0, or -1 with err naming the variable. */
int daoe_backend_options_env(daoe_backend_options *o, char *err, size_t errlen);
/* config.json's records of them into o: "backend_options" (each such
 * option's value, whether its flag or its variable set it) and "environment"
 * (each variable as it is, null when unset: the options' and those read
 * before main, DAOE_BLAS_AUTO and OPENBLAS_CORETYPE). */
void daoe_config_environment_json(const daoe_config *c, struct cJSON *o);
/* Checks combinations and resolves the optimizer's members, the generic
 * flags and alpha_init. DAOE_VALIDATE_RUN also requires --out and a data
 * folder (a run of daoe-train). Returns 0 or -1 (err set). */
enum { DAOE_VALIDATE_RUN = 1 };
int daoe_config_validate(daoe_config *c, int flags, char *err, size_t errlen);
/* The command line of daoe-train: parse_flags, then validate for a run. */
int daoe_config_parse(daoe_config *c, int argc, char **argv, char *err, size_t errlen);
/* For tests and benchmarks: space-separated flags (e.g. "--optimizer daoe
 * --members sgd,adam") on top of c, then validate without run paths. */
int daoe_config_from_flags(daoe_config *c, const char *flags, char *err, size_t errlen);
void daoe_config_usage(FILE *f);
/* JSON text (caller frees) of every setting; extra may add fields. */
char *daoe_config_json(const daoe_config *c, const char *extra_json_fields);
/* Base rate of member i (before the schedule). */
float daoe_member_lr(const daoe_config *c, int i);
/* The training split: the 50,000 training images less the last --val ones
 * (the validation split), and the images the run trains on: the first
 * --train-subset of the split, else all of it. */
int daoe_config_split(const daoe_config *c);
int daoe_config_ntrain(const daoe_config *c);
/* Steps per epoch of the configured run (ntrain / batch). */
int daoe_config_steps_per_epoch(const daoe_config *c);
#endif
