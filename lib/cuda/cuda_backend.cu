/* The CUDA backend's table: daoe_cuda_backend_create opens the device, the
 * stream and the cuDNN and cuBLAS handles, allocates the fixed scratch and
 * fills every entry with the cuda_* op of the same name (declared in
 * cuda_common.cuh, one family per file: mem.cu, data.cu, conv.cu, bn.cu,
 * head.cu, opt.cu, graph.cu); destroy releases it all. No op is computed
 * here. Activations are NHWC, fp32 or bf16; every op runs on one stream. */
#include "cuda_common.cuh"

extern "C" {
#include "daoe/util.h"
}

static void cuda_destroy(daoe_backend *be) {
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

extern "C" int daoe_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" daoe_backend *daoe_cuda_backend_create(daoe_precision prec, unsigned flags, char *err, size_t errlen) {
    int deterministic = (flags & DAOE_BE_DETERMINISTIC) != 0;
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
    const char *ds = getenv("DAOE_DEBUG_SYNC"); /* the environment switch still works beside --debug-sync */
    im->debug_sync = (flags & DAOE_BE_DEBUG_SYNC) || (ds && ds[0] == '1');
    const char *search = getenv("DAOE_CUDNN_SEARCH");
    im->timed_search = !(search && !strcmp(search, "heuristic"));
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
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->to_device = cuda_to_device;
    be->to_host = cuda_to_host;
    be->sync = cuda_sync;
    be->act_bytes = cuda_act_bytes;
    be->act_to_host = cuda_act_to_host;
    be->act_from_host = cuda_act_from_host;
    be->bind_params = cuda_bind_params;
    be->refresh_weights = cuda_refresh_weights;
    be->load_batch = cuda_load_batch;
    be->conv_fwd = cuda_conv_fwd;
    be->conv_bwd_data = cuda_conv_bwd_data;
    be->conv_bwd_filter = cuda_conv_bwd_filter;
    be->bn_fwd = cuda_bn_fwd;
    be->bn_bwd = cuda_bn_bwd;
    be->avgpool_fwd = cuda_avgpool_fwd;
    be->avgpool_bwd = cuda_avgpool_bwd;
    be->linear_fwd = cuda_linear_fwd;
    be->linear_bwd = cuda_linear_bwd;
    be->xent = cuda_xent;
    be->opt_step = cuda_opt_step;
    be->ctrl_step = cuda_ctrl_step;
    be->run_step = cuda_run_step;
    be->destroy = cuda_destroy;
    return be;
}
