/* CIFAR-10 binary reader with size, record and label checks and optional
 * sha256 verification (OpenSSL's EVP digest). It does not augment or
 * normalise: that is the backend's load_batch. */
#include "daoe/cifar10.h"
#include "daoe/util.h"
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mean = sum/(50000*1024*255); std from the README's table (population). */
const float daoe_cifar_mean[3] = {0.49139968f, 0.48215841f, 0.44653091f};
const float daoe_cifar_std[3] = {0.24703223f, 0.24348513f, 0.26158784f};

/* the official files and their sha256, from lib/core/cifar10.sha256 (the one
 * list, which Makefile.artifact and the GPU scripts read too; CMake turns it
 * into daoe_cifar_sha256.h) */
#include "daoe_cifar_sha256.h"
const char *const daoe_cifar_files[6] = {DAOE_CIFAR_FILES};
const char *const daoe_cifar_sha256[6] = {DAOE_CIFAR_SHA256};

int daoe_sha256_file(const char *path, char hex[65], char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        daoe_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad) {
        daoe_errf(err, errlen, "%s: read error", path);
        return -1;
    }
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    hex[64] = 0;
    return 0;
}

int daoe_cifar_parse(const char *name, const uint8_t *raw, size_t len, int nrec, uint8_t *images,
                     int32_t *labels, char *err, size_t errlen) {
    size_t expect = (size_t)nrec * DAOE_REC_BYTES;
    if (len != expect) {
        daoe_errf(err, errlen, "%s: %s: %zu bytes, expected %zu (%d records of %d bytes)", name,
                  len < expect ? "truncated" : "wrong size", len, expect, nrec, DAOE_REC_BYTES);
        return -1;
    }
    for (int r = 0; r < nrec; r++) {
        const uint8_t *rec = raw + (size_t)r * DAOE_REC_BYTES;
        if (rec[0] > 9) {
            daoe_errf(err, errlen, "%s: record %d: label %d out of range 0-9 (corrupt file?)", name, r, rec[0]);
            return -1;
        }
        labels[r] = rec[0];
        memcpy(images + (size_t)r * DAOE_IMG_BYTES, rec + 1, DAOE_IMG_BYTES);
    }
    return 0;
}

static int read_batch(const char *dir, int fi, int verify, uint8_t *images, int32_t *labels,
                      char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, daoe_cifar_files[fi]);
    struct stat st;
    if (stat(path, &st) != 0) {
        daoe_errf(err, errlen, "%s: missing (%s)", path, strerror(errno));
        return -1;
    }
    /* the size is checked before reading so that a wrong file costs no 30 MB read */
    size_t expect = (size_t)DAOE_REC_BYTES * DAOE_FILE_RECORDS;
    if (S_ISREG(st.st_mode) && (size_t)st.st_size != expect) {
        daoe_errf(err, errlen, "%s: %s: %lld bytes, expected %zu (%d records of %d bytes)", path,
                  (size_t)st.st_size < expect ? "truncated" : "wrong size", (long long)st.st_size, expect,
                  DAOE_FILE_RECORDS, DAOE_REC_BYTES);
        return -1;
    }
    size_t len;
    uint8_t *raw = daoe_read_file(path, &len, err, errlen);
    if (!raw) return -1;
    int rc = daoe_cifar_parse(path, raw, len, DAOE_FILE_RECORDS, images, labels, err, errlen);
    if (rc == 0 && verify) {
        /* the bytes just loaded, not the file read again */
        unsigned char md[32];
        char hex[65];
        EVP_Digest(raw, len, md, NULL, EVP_sha256(), NULL);
        for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
        if (strcmp(hex, daoe_cifar_sha256[fi]) != 0) {
            daoe_errf(err, errlen, "%s: sha256 %s differs from the official %s", path, hex,
                      daoe_cifar_sha256[fi]);
            rc = -1;
        }
    }
    free(raw);
    return rc;
}

int daoe_cifar_load(const char *dir, int verify, daoe_cifar *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st) != 0) {
        daoe_errf(err, errlen, "%s: data directory missing (%s); set --data or CIFAR10_DIR", dir,
                  strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        daoe_errf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    out->ntrain = 5 * DAOE_FILE_RECORDS;
    out->ntest = DAOE_FILE_RECORDS;
    out->train_images = daoe_xmalloc((size_t)out->ntrain * DAOE_IMG_BYTES);
    out->train_labels = daoe_xmalloc((size_t)out->ntrain * sizeof(int32_t));
    out->test_images = daoe_xmalloc((size_t)out->ntest * DAOE_IMG_BYTES);
    out->test_labels = daoe_xmalloc((size_t)out->ntest * sizeof(int32_t));
    for (int fi = 0; fi < 6; fi++) {
        int rc = fi < 5 ? read_batch(dir, fi, verify,
                                     out->train_images + (size_t)fi * DAOE_FILE_RECORDS * DAOE_IMG_BYTES,
                                     out->train_labels + fi * DAOE_FILE_RECORDS, err, errlen)
                        : read_batch(dir, fi, verify, out->test_images, out->test_labels, err, errlen);
        if (rc != 0) {
            daoe_cifar_free(out);
            return -1;
        }
    }
    return 0;
}

void daoe_cifar_free(daoe_cifar *d) {
    free(d->train_images);
    free(d->train_labels);
    free(d->test_images);
    free(d->test_labels);
    memset(d, 0, sizeof *d);
}
