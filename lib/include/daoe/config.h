/* Run configuration: every setting of a training run, its command-line
 * parsing (with range checks and one-line errors) and its JSON form. */
#ifndef DAOE_CONFIG_H
#define DAOE_CONFIG_H
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include "optim.h"
#include "optimizers.h"
#include "backend.h"

enum { DAOE_SCHED_COSINE = 0, DAOE_SCHED_CONSTANT = 1 };

typedef struct {
    char data[1024], out[1024], init_from[1024];
    char backend[16];
    daoe_precision precision;
    int deterministic;
    char optimizer[16];  /* sgd adam adamw rmsprop lion daoe */
    uint64_t seed;
    int epochs, batch, width;
    int schedule;
    double warmup_epochs;
    int train_subset;    /* 0: whole training split */
    int val;             /* held-out images (last of the training files) */
    int test_subset;     /* 0: all 10,000 test images */
    int threads;
    int augment, shuffle, save_init, quiet, verify, resume;
    int trace_every;
    double checkpoint_minutes;
    int debug_sync;
    /* optimizer and controller */
    daoe_opt_cfg opt;    /* member hyper-parameters (rates are base rates) */
    unsigned members;
    unsigned features;
    int controller;      /* DAOE_CTRL_* */
    int hyper_raw;
    double meta_lr, tau, alpha_ema;
    int ctrl_hidden;  /* hidden units of the controller, 0: linear */
    int meta_every;
    float alpha_init[DAOE_K];
    int alpha_init_set;
} daoe_config;

extern const char *const daoe_feature_names[DAOE_NFEAT];

void daoe_config_defaults(daoe_config *c);
/* Parses argv. Returns 0 on success, 1 when --help was printed, -1 on error
 * (message in err). */
int daoe_config_parse(daoe_config *c, int argc, char **argv, char *err, size_t errlen);
void daoe_config_usage(FILE *f);
/* JSON text (caller frees) of every setting; extra may add fields. */
char *daoe_config_json(const daoe_config *c, const char *extra_json_fields);
/* Base rate of member i (before the schedule). */
float daoe_member_lr(const daoe_config *c, int i);
#endif
