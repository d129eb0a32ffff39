/* CUDA backend, the network's head: global average pooling, the linear layer
 * (cuBLAS sgemm plus bias kernels) and softmax cross-entropy with the batch's
 * loss, accuracy and entropy statistics (one block, fixed-order sums).
 * Convolutions and batch norm are elsewhere. */
#include "cuda_common.cuh"
#include "xent_row.h"

template <typename T>
__global__ void k_pool_fwd(const T *__restrict__ x, float *__restrict__ y, int N, int C, int HW) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * C) return;
    int n = i / C, c = i % C;
    float s = 0.0f;
    for (int p = 0; p < HW; p++) s += ld(x, ((size_t)n * HW + p) * C + c);
    y[i] = s / (float)HW;
}

template <typename T>
__global__ void k_pool_bwd(const float *__restrict__ dy, T *__restrict__ dx, int N, int C, int HW) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, total = (size_t)N * C * HW;
    if (i >= total) return;
    int c = (int)(i % C);
    size_t n = i / ((size_t)C * HW);
    st(dx, i, dy[n * C + c] / (float)HW);
}

void cuda_avgpool_fwd(daoe_backend *be, int N, int C, int HW, const void *x, float *y) {
    cuda_impl *im = cuda_impl_of(be);
    if (im->bf16) k_pool_fwd<<<nblocks((size_t)N * C, TPB), TPB, 0, im->stream>>>((const __nv_bfloat16 *)x, y, N, C, HW);
    else k_pool_fwd<<<nblocks((size_t)N * C, TPB), TPB, 0, im->stream>>>((const float *)x, y, N, C, HW);
    LAUNCH_CHECK(im, "k_pool_fwd");
}

void cuda_avgpool_bwd(daoe_backend *be, int N, int C, int HW, const float *dy, void *dx) {
    cuda_impl *im = cuda_impl_of(be);
    size_t total = (size_t)N * C * HW;
    if (im->bf16) k_pool_bwd<<<nblocks(total, TPB), TPB, 0, im->stream>>>(dy, (__nv_bfloat16 *)dx, N, C, HW);
    else k_pool_bwd<<<nblocks(total, TPB), TPB, 0, im->stream>>>(dy, (float *)dx, N, C, HW);
    LAUNCH_CHECK(im, "k_pool_bwd");
}

__global__ void k_bias_rows(float *y, const float *b, int N, int out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * out) y[i] = b[i % out];
}

__global__ void k_bias_grad(const float *dy, float *db, int N, int out) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    double s = 0.0;
    for (int n = 0; n < N; n++) s += dy[(size_t)n * out + o];
    db[o] = (float)s;
}

/* row-major y[N,out] = x[N,in] W[out,in]^T + b  as column-major y^T = W x^T */
void cuda_linear_fwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *b,
                     float *y) {
    cuda_impl *im = cuda_impl_of(be);
    k_bias_rows<<<nblocks((size_t)N * out, TPB), TPB, 0, im->stream>>>(y, b, N, out);
    LAUNCH_CHECK(im, "k_bias_rows");
    const float one = 1.0f;
    CUBLAS_CHECK(cublasSgemm(im->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, &one, W, in, x, in, &one, y, out));
    LAUNCH_CHECK(im, "cublasSgemm (linear forward)");
}

void cuda_linear_bwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *dy,
                     float *dx, float *dW, float *db) {
    cuda_impl *im = cuda_impl_of(be);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(im->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, &one, W, in, dy, out, &zero, dx, in));
    CUBLAS_CHECK(cublasSgemm(im->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, &one, x, in, dy, out, &zero, dW, in));
    LAUNCH_CHECK(im, "cublasSgemm (linear backward)");
    k_bias_grad<<<nblocks(out, 64), 64, 0, im->stream>>>(dy, db, N, out);
    LAUNCH_CHECK(im, "k_bias_grad");
}

__global__ void k_xent(const float *__restrict__ logits, const int32_t *__restrict__ y, float *dlogits, float *stats,
                       int N, int K) {
    double sums[3] = {0, 0, 0}; /* loss, correct, entropy */
    daoe_xent_rows(logits, y, N, K, dlogits, threadIdx.x, blockDim.x, sums);
    double loss = sums[0], correct = sums[1], ent = sums[2];
    __shared__ double sh[3][TPB / 32];
    loss = warp_sum_d(loss);
    ent = warp_sum_d(ent);
    correct = warp_sum_d(correct);
    if ((threadIdx.x & 31) == 0) sh[0][threadIdx.x / 32] = loss, sh[1][threadIdx.x / 32] = ent, sh[2][threadIdx.x / 32] = correct;
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0, b = 0, c = 0;
        for (int w = 0; w < (int)blockDim.x / 32; w++) a += sh[0][w], b += sh[1][w], c += sh[2][w];
        stats[DAOE_ST_LOSS] = (float)(a / N);
        stats[DAOE_ST_CORRECT] = (float)c;
        stats[DAOE_ST_ENTROPY] = (float)(b / N / log((double)K));
    }
}

void cuda_xent(daoe_backend *be, int N, int K, const float *logits, const int32_t *y, float *dlogits,
               float *stats) {
    cuda_impl *im = cuda_impl_of(be);
    k_xent<<<1, TPB, 0, im->stream>>>(logits, y, dlogits, stats, N, K);
    LAUNCH_CHECK(im, "k_xent");
}

