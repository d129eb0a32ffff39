/* The list of optimizers (see daoe/optimizers.h). */
#include "daoe/optimizers.h"
#include <string.h>

const daoe_optimizer_info daoe_optimizers[] = {
    {"sgd", "SGD", DAOE_SGD, 0, 0},
    {"adam", "Adam", DAOE_ADAM, 0, 0},
    {"adamw", "AdamW", DAOE_ADAM, 1, 0.05f}, /* lr*wd = 5e-5, as SGD's 0.1 x 5e-4 */
    {"rmsprop", "RMSProp", DAOE_RMSPROP, 0, 0},
    {"lion", "Lion", DAOE_LION, 0, 0},
    {"daoe", "DAO-E", -1, 0, 0},
};
const int daoe_n_optimizers = (int)(sizeof daoe_optimizers / sizeof daoe_optimizers[0]);
const char *const daoe_member_names[DAOE_K] = {"sgd", "adam", "rmsprop", "lion"};
const char *const daoe_member_display[DAOE_K] = {"SGD", "Adam", "RMSProp", "Lion"};

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
