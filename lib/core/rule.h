/* What an update rule's file (baselines/<name>.h) is written with, and what
 * it must define. For a rule called N (its line in daoe/members.h):
 *
 *   DAOE_RULE_N_DISPLAY      its name in tables and figures ("SGD")
 *   DAOE_RULE_N_HPARAMS(HP)  its hyper-parameters, one row each:
 *                              HP(N, field, type, default, lo, hi, help)
 *                            type FLOAT, FLAG (a switch) or WDMODE (coupled|decoupled);
 *                            the flag is --N-<field> ('_' written '-'), the config.json key
 *                            member_settings.N.<field>; write the source of each default
 *                            beside it. Every rule has lr and wd_mode.
 *   DAOE_RULE_N_STATE(S)     its state buffers per parameter, one row each:
 *                              S(N, index, torch_name, kept_when, kept_by_default)
 *                            index: the slot in s[] of daoe_N_delta; torch_name: the key of
 *                            torch.optim's state_dict (checkpoints store optim.N.<torch_name>);
 *                            kept_when: an expression of hp (the buffer exists only then);
 *                            kept_by_default: 0/1, the same at the default settings
 *   DAOE_RULE_N_VARIANTS(V)  optimizers that run this rule alone with decoupled weight decay:
 *                              V(N, name, display, default_wd)   (may be empty)
 *   DAOE_RULE_N_NCONST       how many per-step constants daoe_N_consts writes
 *   DAOE_RULE_HP_STRUCT(N);  the struct daoe_N_hp of its hyper-parameters (all float)
 *   daoe_N_check(hp, err, n)   0, or -1 with a message for a combination it refuses
 *   daoe_N_consts(hp, t, c)    the per-step constants of 1-based step t (host)
 *   daoe_N_delta(hp, lr, c, t, sm, g, p, s)   DAOE_HD: the element update. lr: the rate
 *                            times the schedule factor; c: the step's constants; sm: bit k set
 *                            when state k is kept; s: the state values (read and written);
 *                            g, p: gradient and parameter. Returns the proposed displacement
 *                            d (p is not written).
 *
 * Hyper-parameters are stored as floats (a switch as 0/1, wd_mode 0 coupled /
 * 1 decoupled), so the table of every member fits one flat array of the run's
 * configuration. */
#ifndef DAOE_RULE_H
#define DAOE_RULE_H
#include <math.h>
#include <stddef.h>
#include "daoe/hd.h"
#include "daoe/members.h"
#include <stdio.h>

#define DAOE_HP_FIELD_(N, field, type, def, lo, hi, help) float field;
#define DAOE_RULE_HP_STRUCT(N) typedef struct { DAOE_RULE_##N##_HPARAMS(DAOE_HP_FIELD_) } daoe_##N##_hp
#endif
