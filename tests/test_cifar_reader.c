/* Hostile CIFAR-10 folders: missing folder or file, short, long and corrupt
 * batch files and a wrong checksum, each rejected by daoe_cifar_load with one
 * line naming the file and the problem. The batch files are sparse (all-zero
 * records: label 0, black images), so the test writes almost nothing. */
#include "daoe/cifar10.h"
#include "daoe/util.h"
#include "testutil.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[1024];

static void sized(const char *name, long long size) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) printf("cannot create %s\n", path);
    if (fd >= 0) close(fd);
}

static void poke(const char *name, long long at, int byte) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int fd = open(path, O_WRONLY);
    unsigned char b = (unsigned char)byte;
    if (fd < 0 || pwrite(fd, &b, 1, (off_t)at) != 1) printf("cannot write %s\n", path);
    if (fd >= 0) close(fd);
}

static void expect(const char *what, const char *dir, int verify, const char *want) {
    char err[1024] = "";
    daoe_cifar d;
    int rc = daoe_cifar_load(dir, verify, &d, err, sizeof err);
    CHECK(rc != 0, "%s: accepted", what);
    if (rc == 0) daoe_cifar_free(&d);
    CHECK(strstr(err, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, want);
    CHECK(!d.train_images && !d.test_images, "%s: buffers left allocated", what);
    printf("  %-26s -> %s\n", what, err);
}

int main(int argc, char **argv) {
    char err[1024], path[2048];
    snprintf(g_dir, sizeof g_dir, "%s", argc > 1 ? argv[1] : "t_cifar_reader");
    if (daoe_mkdir_p(g_dir, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const long long full = (long long)DAOE_REC_BYTES * DAOE_FILE_RECORDS;
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, daoe_cifar_files[i]);
        unlink(path);
    }
    printf("malformed CIFAR-10 folders, each rejected:\n");
    snprintf(path, sizeof path, "%s/nope", g_dir);
    expect("folder missing", path, 0, "data directory missing");
    sized("plain_file", 1);
    snprintf(path, sizeof path, "%s/plain_file", g_dir);
    expect("folder is a file", path, 0, "not a directory");
    expect("batch file missing", g_dir, 0, "data_batch_1.bin: missing");
    sized("data_batch_1.bin", 0);
    expect("empty batch file", g_dir, 0, "data_batch_1.bin: truncated: 0 bytes, expected 30730000");
    sized("data_batch_1.bin", full - 1);
    expect("short batch file", g_dir, 0, "data_batch_1.bin: truncated: 30729999 bytes");
    sized("data_batch_1.bin", full + 3073);
    expect("long batch file", g_dir, 0, "data_batch_1.bin: wrong size: 30733073 bytes");
    snprintf(path, sizeof path, "%s/data_batch_1.bin", g_dir);
    unlink(path);
    CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
    expect("batch file a folder", g_dir, 0, "data_batch_1.bin: not a regular file");
    rmdir(path);
    for (int i = 0; i < 5; i++) sized(daoe_cifar_files[i], full);
    expect("test batch missing", g_dir, 0, "test_batch.bin: missing");
    sized("test_batch.bin", full);
    daoe_cifar d;
    CHECK(daoe_cifar_load(g_dir, 0, &d, err, sizeof err) == 0, "well-formed folder rejected: %s", err);
    if (d.train_images) {
        CHECK(d.ntrain == 50000 && d.ntest == 10000 && d.train_labels[49999] == 0, "counts");
        daoe_cifar_free(&d);
    }
    expect("wrong checksum", g_dir, 1, "data_batch_1.bin: sha256 ");
    poke("test_batch.bin", 5LL * DAOE_REC_BYTES, 200);
    expect("label out of range", g_dir, 0, "test_batch.bin: record 5: label 200 out of range 0-9");
    poke("data_batch_3.bin", 9999LL * DAOE_REC_BYTES, 10);
    expect("last label out of range", g_dir, 0, "data_batch_3.bin: record 9999: label 10");

    /* the parser alone, on buffers */
    uint8_t raw[2 * DAOE_REC_BYTES] = {0}, img[2 * DAOE_IMG_BYTES];
    int32_t lab[2];
    raw[0] = 3;
    raw[DAOE_REC_BYTES] = 9;
    raw[DAOE_REC_BYTES + 1] = 77;
    CHECK(daoe_cifar_parse("buf", raw, sizeof raw, 2, img, lab, err, sizeof err) == 0 && lab[0] == 3 && lab[1] == 9 &&
          img[DAOE_IMG_BYTES] == 77, "parse: %s", err);
    CHECK(daoe_cifar_parse("buf", raw, sizeof raw - 1, 2, img, lab, err, sizeof err) != 0 && strstr(err, "truncated"),
          "parse short: %s", err);
    CHECK(daoe_cifar_parse("buf", raw, 0, 0, img, lab, err, sizeof err) == 0, "parse empty");
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, daoe_cifar_files[i]);
        unlink(path);
    }
    return test_result("test_cifar_reader");
}
