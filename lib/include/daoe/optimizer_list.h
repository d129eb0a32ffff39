/* The one list of optimizers: the name used on command lines, in profiles and
 * in result folders, the name printed in tables and figures, and the ensemble
 * member it runs (-1: DAO-E, the ensemble itself). The trainer, the sweep, the
 * statistics and the figures all read it; adding an optimizer starts here.
 * Order = the order of tables and figures. */
#ifndef DAOE_OPTIMIZER_LIST_H
#define DAOE_OPTIMIZER_LIST_H
#include "ensemble.h"

typedef struct {
    const char *name;     /* "sgd", ... as on the command line */
    const char *display;  /* "SGD", ... as in tables and figures */
    int member;           /* DAOE_SGD.. for an optimizer alone, -1 for the ensemble */
    int decoupled;        /* 1: forces decoupled weight decay (adamw) */
    float wd;             /* with decoupled: the decay unless --wd / --<member>-wd says otherwise */
} daoe_optimizer_info;

extern const daoe_optimizer_info daoe_optimizers[];
extern const int daoe_n_optimizers;
/* the member names (daoe_member_names[DAOE_SGD] = "sgd", ...) */
extern const char *const daoe_member_names[DAOE_K];
extern const char *const daoe_member_display[DAOE_K];

/* NULL when name is not an optimizer */
const daoe_optimizer_info *daoe_optimizer_find(const char *name);
/* "sgd|adam|adamw|rmsprop|lion|daoe" for error messages and --help */
const char *daoe_optimizer_choices(void);
#endif
