/* The CUDA backend's table: daoe_cuda_backend_create opens the device, the
 * stream and the cuDNN and cuBLAS handles, allocates the fixed scratch and
 * fills every entry with the cuda_* op of the same name (declared in
 * cuda_common.cuh, one family per file: mem.cu, load_batch.cu, conv.cu, bn.cu,
 * head.cu, fused_update.cu, graph.cu); describe records the GPU, the library
 * versions and the convolution algorithms in config.json; destroy releases
 * it all. No op is computed here. Activations are NHWC, fp32 or bf16; every
 * op runs on one stream. */
#include "cuda_common.cuh"
#include <cjson/cJSON.h>

extern "C" {
#include "daoe/util.h"
}

void cuda_destroy(daoe_backend *be) {
    cuda_impl *im = cuda_impl_of(be);
    cuda_drop_graphs(im);
    cuda_conv_destroy_plans(im);
    void *bufs[] = {im->wmirror, im->dwscratch, im->ws, im->cublas_ws, im->part, im->chan};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) cudaFree(bufs[i]);
    cublasDestroy(im->cublas);
    cudnnDestroy(im->cudnn);
    cudaStreamDestroy(im->stream);
    free(im);
    free(be);
}

/* a library version number (major * 10000 + minor * 100 + patch: cuDNN 9, cuBLAS) as "major.minor.patch" */
static void add_version(cJSON *o, const char *name, long v) {
    char b[32];
    snprintf(b, sizeof b, "%ld.%ld.%ld", v / 10000, (v % 10000) / 100, v % 100);
    cJSON_AddStringToObject(o, name, b);
}

/* config.json: the GPU and its driver, the CUDA, cuDNN and cuBLAS versions,
 * how the step runs (graphs, synchronisation, algorithm search), and the
 * convolution algorithms chosen so far (the training batch's: bind_params
 * chose them before config.json is written) */
void cuda_describe(daoe_backend *be, cJSON *o) {
    cuda_impl *im = cuda_impl_of(be);
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, im->device));
    int drv = 0, rt = 0, cublas = 0;
    CUDA_CHECK(cudaDriverGetVersion(&drv));
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    CUBLAS_CHECK(cublasGetVersion(im->cublas, &cublas));
    cJSON *v = cJSON_GetObjectItem(o, "versions");
    if (v) {
        char b[32];
        snprintf(b, sizeof b, "%d.%d", rt / 1000, (rt % 1000) / 10);
        cJSON_AddStringToObject(v, "cuda_runtime", b);
        snprintf(b, sizeof b, "%d.%d", drv / 1000, (drv % 1000) / 10);
        cJSON_AddStringToObject(v, "cuda_driver_api", b);
        add_version(v, "cudnn", (long)cudnnGetVersion());
        add_version(v, "cublas", cublas);
    }
    cJSON *g = cJSON_AddObjectToObject(o, "gpu");
    cJSON_AddStringToObject(g, "name", prop.name);
    char cc[16];
    snprintf(cc, sizeof cc, "%d.%d", prop.major, prop.minor);
    cJSON_AddStringToObject(g, "compute_capability", cc);
    cJSON_AddNumberToObject(g, "multiprocessors", prop.multiProcessorCount);
    cJSON_AddNumberToObject(g, "memory_bytes", (double)prop.totalGlobalMem);
    /* the kernel driver's own version (e.g. 580.159.04): only the proc file has it without NVML */
    char line[256] = "";
    FILE *f = fopen("/proc/driver/nvidia/version", "r");
    if (f) {
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
    }
    line[strcspn(line, "\n")] = 0;
    if (line[0]) cJSON_AddStringToObject(g, "driver", line);
    else cJSON_AddNullToObject(g, "driver");
    static const char *pn[] = {"fp32", "tf32", "bf16"};
    cJSON *c = cJSON_AddObjectToObject(o, "cuda");
    cJSON_AddStringToObject(c, "precision", pn[im->prec]);
    cJSON_AddBoolToObject(c, "deterministic", im->deterministic);
    cJSON_AddBoolToObject(c, "debug_sync", im->debug_sync);
    cJSON_AddBoolToObject(c, "graphs", !im->debug_sync && !im->no_graph);
    cJSON_AddStringToObject(c, "cudnn_search",
                            im->deterministic    ? "v7 heuristics, deterministic algorithms only"
                            : im->timed_search ? "cudnnFind (timed)"
                                                 : "v7 heuristics");
    cJSON_AddNumberToObject(c, "cudnn_workspace_bytes", (double)im->ws_size);
    cJSON_AddNumberToObject(c, "cudnn_workspace_moves", im->ws_moves);
    cJSON_AddNumberToObject(c, "graph_captures", im->graph_captures);
    cuda_conv_describe(im, cJSON_AddArrayToObject(c, "convolutions"));
}

extern "C" int daoe_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" daoe_backend *daoe_cuda_backend_create(const daoe_backend_options *o, char *err, size_t errlen) {
    const daoe_precision prec = o->prec;
    const int deterministic = o->deterministic != 0;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        daoe_errf(err, errlen, "--backend cuda: no CUDA GPU available (%s)",
                  e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
        cudaGetLastError();
        return NULL;
    }
    daoe_backend *be = (daoe_backend *)daoe_xcalloc(1, sizeof *be);
    cuda_impl *im = (cuda_impl *)daoe_xcalloc(1, sizeof *im);
    be->impl = im;
    CUDA_CHECK(cudaGetDevice(&im->device));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, im->device));
    im->sm_count = prop.multiProcessorCount;
    im->prec = prec;
    im->bf16 = prec == DAOE_BF16;
    im->deterministic = deterministic;
    im->debug_sync = o->debug_sync != 0;
    im->no_graph = o->no_graph != 0;
    im->timed_search = o->cudnn_search != DAOE_CUDNN_SEARCH_HEURISTIC;
    const char *wm = getenv("DAOE_TEST_WS_MOVE"); /* a test hook, not a setting */
    im->test_ws_move = wm && wm[0] == '1';
    CUDA_CHECK(cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
    CUDNN_CHECK(cudnnCreate(&im->cudnn));
    CUDNN_CHECK(cudnnSetStream(im->cudnn, im->stream));
    CUBLAS_CHECK(cublasCreate(&im->cublas));
    CUBLAS_CHECK(cublasSetStream(im->cublas, im->stream));
    CUBLAS_CHECK(cublasSetMathMode(im->cublas, prec == DAOE_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    size_t cws = (size_t)32 << 20; /* cuBLAS workspace set explicitly so graph capture allocates nothing */
    CUDA_CHECK(cudaMalloc(&im->cublas_ws, cws));
    CUBLAS_CHECK(cublasSetWorkspace(im->cublas, im->cublas_ws, cws));
    im->part_floats = (size_t)8 << 20;
    CUDA_CHECK(cudaMalloc(&im->part, im->part_floats * sizeof(float)));
    im->chan_floats = 3 * 8192;
    CUDA_CHECK(cudaMalloc(&im->chan, im->chan_floats * sizeof(float)));
    cuda_data_init();
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    static const char *pn[] = {"fp32", "tf32", "bf16"};
    snprintf(be->desc, sizeof be->desc, "%s (sm_%d%d, %d SMs, %.0f GiB), driver %d.%d, runtime %d.%d, cuDNN %zu, %s%s",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0,
             drv / 1000, (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10, cudnnGetVersion(), pn[prec],
             deterministic ? ", deterministic" : "");
    DAOE_BACKEND_SET_OPS(be, cuda);
    return be;
}
