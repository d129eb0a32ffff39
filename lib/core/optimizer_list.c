/* The list of optimizers (see daoe/optimizer_list.h). */
#include "daoe/optimizer_list.h"
#include "rules.h"
#include <string.h>

/* each member alone, then the variants its rule declares (adamw after adam), then the ensemble */
#define VARIANT_(N, name, display, wd) {#name, display, DAOE_M_##N, 1, wd},
#define ALONE_(ID, N, dflt) {#N, DAOE_RULE_##N##_DISPLAY, DAOE_##ID, 0, 0}, DAOE_RULE_##N##_VARIANTS(VARIANT_)
const daoe_optimizer_info daoe_optimizers[] = {DAOE_MEMBERS(ALONE_){"daoe", "DAO-E", -1, 0, 0}};
const int daoe_n_optimizers = (int)(sizeof daoe_optimizers / sizeof daoe_optimizers[0]);
#define NAME_(ID, N, dflt) #N,
#define DISPLAY_(ID, N, dflt) DAOE_RULE_##N##_DISPLAY,
const char *const daoe_member_names[DAOE_K] = {DAOE_MEMBERS(NAME_)};
const char *const daoe_member_display[DAOE_K] = {DAOE_MEMBERS(DISPLAY_)};

const daoe_optimizer_info *daoe_optimizer_find(const char *name) {
    for (int i = 0; i < daoe_n_optimizers; i++)
        if (!strcmp(daoe_optimizers[i].name, name)) return &daoe_optimizers[i];
    return NULL;
}

const char *daoe_optimizer_choices(void) {
    static char buf[128];
    if (!buf[0])
        for (int i = 0; i < daoe_n_optimizers; i++) {
            if (i) strcat(buf, "|");
            strcat(buf, daoe_optimizers[i].name);
        }
    return buf;
}
