/* Fuzz target: daoe-train's command line (daoe_config_parse). The input is
 * the arguments, one per line; an accepted command line is also turned into
 * config.json text. */
#include "fuzz.h"
#include "daoe/config.h"

#define MAXARG 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[MAXARG + 2];
    int argc = 0;
    argv[argc++] = "daoe-train";
    for (char *s = buf; argc <= MAXARG;) {
        argv[argc++] = s;
        char *nl = memchr(s, '\n', (size_t)(buf + size - s));
        if (!nl) break;
        *nl = 0;
        s = nl + 1;
    }
    argv[argc] = NULL;
    daoe_config c;
    daoe_config_defaults(&c);
    char err[1024] = "";
    int rc = daoe_config_parse(&c, argc, argv, err, sizeof err);
    if (rc < 0) fuzz_check_message("daoe_config_parse", err);
    if (rc == 0) free(daoe_config_json(&c, NULL));
    free(buf);
    return 0;
}
