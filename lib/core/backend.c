/* Backend selection by name. */
#include "daoe/backend.h"
#include "daoe/util.h"
#include <string.h>

daoe_backend *daoe_backend_create(const char *name, const daoe_backend_options *o, char *err, size_t errlen) {
    if (!strcmp(name, "cpu")) {
        return daoe_cpu_backend_create(o, err, errlen);
    }
    if (!strcmp(name, "cuda")) {
#ifdef DAOE_HAVE_CUDA
        return daoe_cuda_backend_create(o, err, errlen);
#else
        daoe_errf(err, errlen, "--backend cuda: this build has no CUDA support (configure with nvcc present)");
        return NULL;
#endif
    }
    daoe_errf(err, errlen, "unknown backend '%s' (cpu|cuda)", name);
    return NULL;
}
