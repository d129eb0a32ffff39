/* CIFAR-10 in the official binary layout (cifar-10-batches-bin/):
 * data_batch_1..5.bin and test_batch.bin, 10,000 records of 1 label byte +
 * 3,072 pixel bytes (R, G, B planes of 32x32) each. */
#ifndef DAOE_CIFAR10_H
#define DAOE_CIFAR10_H
#include <stddef.h>
#include <stdint.h>

#define DAOE_IMG_BYTES 3072
#define DAOE_REC_BYTES 3073
#define DAOE_FILE_RECORDS 10000

typedef struct {
    uint8_t *train_images;  /* [50000][3][32][32] in file order */
    int32_t *train_labels;
    int ntrain;
    uint8_t *test_images;   /* [10000][3][32][32] */
    int32_t *test_labels;
    int ntest;
} daoe_cifar;

/* Per-channel mean and std of the 50,000 training images (pixel/255,
 * population std), from the exact pixel sums in shared/data/README.md. */
extern const float daoe_cifar_mean[3];
extern const float daoe_cifar_std[3];

/* Official sha256 of each file (index 0..4: data_batch_1..5, 5: test_batch). */
extern const char *const daoe_cifar_files[6];
extern const char *const daoe_cifar_sha256[6];

/* Loads and checks sizes, record counts and label range; verify != 0 also
 * checks each file's sha256. Returns 0, or -1 with a one-line message in err
 * naming the file and the problem. */
int daoe_cifar_load(const char *dir, int verify, daoe_cifar *out, char *err, size_t errlen);
void daoe_cifar_free(daoe_cifar *d);
/* One batch file's bytes (nrec records) into images [nrec][3072] and labels
 * [nrec]: checks the length and every label; 0, or -1 with err naming name. */
int daoe_cifar_parse(const char *name, const uint8_t *raw, size_t len, int nrec, uint8_t *images,
                     int32_t *labels, char *err, size_t errlen);
/* sha256 of a file as 64 hex chars; returns 0 or -1 (err set). */
int daoe_sha256_file(const char *path, char hex[65], char *err, size_t errlen);
#endif
