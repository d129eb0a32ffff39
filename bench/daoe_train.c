/* daoe-train: the command-line trainer (see --help). */
#include "daoe/config.h"
#include "daoe/train.h"
#include <stdio.h>

int main(int argc, char **argv) {
    daoe_config cfg;
    char err[1024];
    daoe_config_defaults(&cfg);
    int rc = daoe_config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        daoe_config_usage(stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "daoe-train: error: %s\n", err);
        return DAOE_EXIT_USAGE;
    }
    return daoe_train_run(&cfg);
}
