/* Regression driver: runs the fuzz target on every file of the folders (or
 * files) given, in a build without libFuzzer. A crash, a sanitizer report
 * or an abort fails the test; a missing folder counts as empty. */
#include "fuzz.h"
#include "daoe/util.h"
#include <dirent.h>
#include <sys/stat.h>

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) { return 0; }

static int run_file(const char *path) {
    char err[1024];
    size_t n;
    uint8_t *d = daoe_read_file(path, &n, err, sizeof err);
    if (!d) {
        fprintf(stderr, "replay: %s\n", err);
        return -1;
    }
    LLVMFuzzerTestOneInput(d, n);
    free(d);
    return 0;
}

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(argv[i]) != 0;
            files++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md")) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            bad |= run_file(path) != 0;
            files++;
        }
        if (dir) closedir(dir);
    }
    fprintf(stderr, "replay: %d input(s) ran without a crash\n", files); /* stdout may be closed by the target */
    return bad;
}
