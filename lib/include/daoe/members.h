/* The one list of update rules: the optimizers that run alone and the
 * members of the DAO-E ensemble. Slot order = member number, the order of
 * tables, figures and CSV columns. A rule is its file baselines/<name>.h
 * (hyper-parameters with their sources, state buffers, per-step constants,
 * element update; what it defines: lib/core/rule.h) plus one line here:
 *
 *   X(ID, name, default)   ID: the enum DAOE_<ID>; name: the file, the flag
 *                           prefix (--<name>-lr) and --optimizer <name>;
 *                           default: 1 if it is in DAO-E's default mixture
 *
 * Everything else (the enum, the option rows, the state buffers and their
 * checkpoint names, the fused loops on CPU and GPU, the byte counts of the
 * benchmarks) is generated from this list. The rules' code itself is private
 * to the library (lib/core/rules.h); this header only names them. */
#ifndef DAOE_MEMBERS_H
#define DAOE_MEMBERS_H

#define DAOE_MEMBERS(X)      \
    X(SGD, sgd, 1)           \
    X(ADAM, adam, 1)         \
    X(RMSPROP, rmsprop, 1)   \
    X(LION, lion, 1)         \
    X(RADAM, radam, 0)       \
    /* one line per rule, above this one */

#define DAOE_MEMBER_ENUM_(ID, name, dflt) DAOE_##ID,
#define DAOE_MEMBER_LOWER_(ID, name, dflt) DAOE_M_##name = DAOE_##ID,
#define DAOE_MEMBER_DEFAULT_(ID, name, dflt) | ((dflt) ? 1u << DAOE_##ID : 0u)
enum { DAOE_MEMBERS(DAOE_MEMBER_ENUM_) DAOE_K };
/* the same slots by the lowercase name (DAOE_M_sgd), for code generated from a rule's name */
enum { DAOE_MEMBERS(DAOE_MEMBER_LOWER_) DAOE_M_END_ };
/* the members of DAO-E when --members is not given */
enum { DAOE_DEFAULT_MEMBERS = 0u DAOE_MEMBERS(DAOE_MEMBER_DEFAULT_) };

/* capacities of one rule (checked against each rule at compile time) */
#define DAOE_MEMBER_MAXHP 8    /* hyper-parameters */
#define DAOE_MEMBER_MAXSTATE 4 /* state buffers per parameter */
#define DAOE_MEMBER_MAXCONST 4 /* per-step constants */
#endif
