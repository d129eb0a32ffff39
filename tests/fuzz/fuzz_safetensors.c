/* Fuzz target: the safetensors reader on arbitrary bytes. An accepted file
 * has every tensor read in full under each dtype it claims (ASan catches a
 * byte outside the buffer); a rejected one must say why on one line. */
#include "fuzz.h"
#include "daoe/safetensors.h"

static const char *const DTYPES[] = {"F32", "F64", "I64", "I32", "U8", "BF16", "F16", "BOOL", "U64"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024] = "";
    daoe_st_file *f = daoe_st_open_mem(data, size, "fuzz", err, sizeof err);
    if (!f) {
        fuzz_check_message("daoe_st_open_mem", err);
        return 0;
    }
    unsigned sum = 0;
    for (int i = 0; i < daoe_st_count(f); i++) {
        const char *name = daoe_st_name(f, i);
        int nd;
        int64_t shape[4];
        if (daoe_st_shape(f, name, &nd, shape) != 0) continue;
        size_t numel = 1;
        for (int d = 0; d < nd; d++) numel *= (size_t)shape[d];
        for (size_t k = 0; k < sizeof DTYPES / sizeof *DTYPES; k++) {
            const uint8_t *p = daoe_st_get(f, name, DTYPES[k], nd, shape, err, sizeof err);
            if (!p) {
                fuzz_check_message("daoe_st_get", err);
                continue;
            }
            size_t nb = numel * daoe_dtype_size(DTYPES[k]);
            for (size_t b = 0; b < nb; b++) sum += p[b];
        }
    }
    const char *m = daoe_st_meta(f, "config");
    if (m) sum += (unsigned)strlen(m);
    daoe_st_close(f);
    return (int)(sum & 0); /* keep the reads */
}
