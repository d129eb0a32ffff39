/* Fuzz target: the CIFAR-10 batch parser. The first byte picks how many
 * records the caller expects (0-3), the rest is the file's bytes. */
#include "fuzz.h"
#include "daoe/cifar10.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int nrec = data[0] % 4;
    static uint8_t images[3 * DAOE_IMG_BYTES];
    int32_t labels[3];
    char err[1024] = "";
    if (daoe_cifar_parse("fuzz", data + 1, size - 1, nrec, images, labels, err, sizeof err) != 0) {
        fuzz_check_message("daoe_cifar_parse", err);
        return 0;
    }
    for (int r = 0; r < nrec; r++)
        if (labels[r] < 0 || labels[r] > 9) abort();
    return 0;
}
