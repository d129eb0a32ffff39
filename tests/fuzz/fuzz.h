/* The libFuzzer entry points every target in this folder defines. Built with
 * -fsanitize=fuzzer (DAOE_FUZZ=ON) they are fuzzers; linked with replay.c
 * (every build) they feed each corpus and crasher file to the plain reader. */
#ifndef DAOE_FUZZ_H
#define DAOE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* a rejection message must be one non-empty line: anything else is a bug */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static inline void fuzz_check_message(const char *what, const char *err) {
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "%s: rejection message empty or not one line: \"%s\"\n", what, err);
        abort();
    }
}
#endif
