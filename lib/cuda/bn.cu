/* CUDA backend, batch norm with the fused residual add and ReLU on NHWC
 * activations: forward (training and eval) and backward, as deterministic
 * two-level reductions (no atomics) followed by one elementwise pass. */
#include "cuda_common.cuh"

extern "C" {
#include "daoe/util.h"
}

/* NHWC: M rows of C channels.
 * stats: blocks of 32 channels x 8 row lanes over a range of rows; each thread
 * keeps a Welford (n, mean, m2); merged in a fixed order within the block and
 * then across row blocks in double. */
#define BN_LANES 8

static void bn_grid(cuda_impl *im, int M, int C, int *nrb, int *rpb) {
    int cg = (C + 31) / 32;
    int target = (4 * im->sm_count) / cg;
    if (target < 1) target = 1;
    int maxrb = (M + 63) / 64;
    *nrb = target < maxrb ? target : maxrb;
    if (*nrb < 1) *nrb = 1;
    *rpb = (M + *nrb - 1) / *nrb;
}

__device__ __forceinline__ void welford_merge(float &n, float &mean, float &m2, float nb, float meanb, float m2b) {
    if (nb == 0.0f) return;
    float nn = n + nb, d = meanb - mean;
    mean += d * (nb / nn);
    m2 += m2b + d * d * (n * nb / nn);
    n = nn;
}

template <typename T>
__global__ void k_bn_stats(const T *__restrict__ x, int M, int C, int rpb, float *part) {
    int c = blockIdx.x * 32 + threadIdx.x, rb = blockIdx.y;
    int r0 = rb * rpb, r1 = r0 + rpb < M ? r0 + rpb : M;
    float n = 0, mean = 0, m2 = 0;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += BN_LANES) {
            float v = ld(x, (size_t)r * C + c);
            n += 1.0f;
            float d = v - mean;
            mean += d / n;
            m2 += d * (v - mean);
        }
    __shared__ float sh[3][BN_LANES][32];
    sh[0][threadIdx.y][threadIdx.x] = n;
    sh[1][threadIdx.y][threadIdx.x] = mean;
    sh[2][threadIdx.y][threadIdx.x] = m2;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int l = 1; l < BN_LANES; l++)
            welford_merge(n, mean, m2, sh[0][l][threadIdx.x], sh[1][l][threadIdx.x], sh[2][l][threadIdx.x]);
        float *o = part + ((size_t)rb * C + c) * 3;
        o[0] = n, o[1] = mean, o[2] = m2;
    }
}

__global__ void k_bn_finalize_train(const float *part, int nrb, int C, int M, const float *gamma, const float *beta,
                                    float *rm, float *rv, float *smean, float *sinv, float *coef, float momentum,
                                    float eps) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double n = 0, mean = 0, m2 = 0;
    for (int rb = 0; rb < nrb; rb++) {
        const float *o = part + ((size_t)rb * C + c) * 3;
        double nb = o[0];
        if (nb == 0) continue;
        double nn = n + nb, d = o[1] - mean;
        mean += d * nb / nn;
        m2 += o[2] + d * d * n * nb / nn;
        n = nn;
    }
    double var = m2 / M;
    float meanf = (float)mean, invstd = (float)(1.0 / sqrt(var + (double)eps));
    smean[c] = meanf;
    sinv[c] = invstd;
    double unb = M > 1 ? m2 / (M - 1) : var;
    rm[c] = (1.0f - momentum) * rm[c] + momentum * meanf;
    rv[c] = (1.0f - momentum) * rv[c] + momentum * (float)unb;
    float scale = gamma[c] * invstd;
    coef[c] = scale;
    coef[C + c] = beta[c] - meanf * scale;
}

__global__ void k_bn_finalize_eval(int C, const float *gamma, const float *beta, const float *rm, const float *rv,
                                   float *coef, float eps) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float invstd = (float)(1.0 / sqrt((double)rv[c] + (double)eps));
    float scale = gamma[c] * invstd;
    coef[c] = scale;
    coef[C + c] = beta[c] - rm[c] * scale;
}

template <typename T>
__global__ void k_bn_apply(const T *__restrict__ x, const T *__restrict__ res, T *__restrict__ y,
                           const float *__restrict__ coef, size_t total, int C, int relu) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i % C);
        float v = ld(x, i) * coef[c] + coef[C + c];
        if (res) v += ld(res, i);
        if (relu) v = v > 0.0f ? v : (v != v ? v : 0.0f);
        st(y, i, v);
    }
}

static unsigned elem_grid(cuda_impl *im, size_t total) {
    size_t nb = nblocks(total, TPB), cap = (size_t)im->sm_count * 16;
    return (unsigned)(nb < cap ? nb : cap);
}

void cuda_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *x, const void *res, void *y,
                 const float *gamma, const float *beta, float *rmean, float *rvar, float *smean, float *sinv,
                 int training, int relu, float momentum, float eps) {
    cuda_impl *im = cuda_impl_of(be);
    int M = N * HW;
    if ((size_t)2 * C > im->chan_floats) daoe_fatal("too many channels");
    if (training) {
        int nrb, rpb;
        bn_grid(im, M, C, &nrb, &rpb);
        if ((size_t)nrb * C * 3 > im->part_floats) daoe_fatal("BN reduction buffer too small");
        dim3 grid((C + 31) / 32, nrb), block(32, BN_LANES);
        if (im->bf16) k_bn_stats<<<grid, block, 0, im->stream>>>((const __nv_bfloat16 *)x, M, C, rpb, im->part);
        else k_bn_stats<<<grid, block, 0, im->stream>>>((const float *)x, M, C, rpb, im->part);
        LAUNCH_CHECK(im, "k_bn_stats");
        k_bn_finalize_train<<<nblocks(C, 128), 128, 0, im->stream>>>(im->part, nrb, C, M, gamma, beta, rmean, rvar,
                                                                      smean, sinv, im->chan, momentum, eps);
        LAUNCH_CHECK(im, "k_bn_finalize_train");
    } else {
        k_bn_finalize_eval<<<nblocks(C, 128), 128, 0, im->stream>>>(C, gamma, beta, rmean, rvar, im->chan, eps);
        LAUNCH_CHECK(im, "k_bn_finalize_eval");
    }
    size_t total = (size_t)M * C;
    if (im->bf16)
        k_bn_apply<<<elem_grid(im, total), TPB, 0, im->stream>>>((const __nv_bfloat16 *)x, (const __nv_bfloat16 *)res,
                                                                 (__nv_bfloat16 *)y, im->chan, total, C, relu);
    else
        k_bn_apply<<<elem_grid(im, total), TPB, 0, im->stream>>>((const float *)x, (const float *)res, (float *)y,
                                                                 im->chan, total, C, relu);
    LAUNCH_CHECK(im, "k_bn_apply");
}

template <typename T>
__global__ void k_bn_bwd_reduce(const T *__restrict__ dy, const T *__restrict__ y, const T *__restrict__ x,
                                T *__restrict__ dres, const float *__restrict__ smean, int M, int C, int rpb, int relu,
                                float *part) {
    int c = blockIdx.x * 32 + threadIdx.x, rb = blockIdx.y;
    int r0 = rb * rpb, r1 = r0 + rpb < M ? r0 + rpb : M;
    float a = 0, b = 0;
    if (c < C) {
        float mean = smean[c];
        for (int r = r0 + threadIdx.y; r < r1; r += BN_LANES) {
            size_t i = (size_t)r * C + c;
            float dz = ld(dy, i);
            if (relu && !(ld(y, i) > 0.0f)) dz = 0.0f;
            if (dres) st(dres, i, dz);
            a += dz;
            b += dz * (ld(x, i) - mean);
        }
    }
    __shared__ float sh[2][BN_LANES][32];
    sh[0][threadIdx.y][threadIdx.x] = a;
    sh[1][threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int l = 1; l < BN_LANES; l++) a += sh[0][l][threadIdx.x], b += sh[1][l][threadIdx.x];
        part[((size_t)rb * C + c) * 2] = a;
        part[((size_t)rb * C + c) * 2 + 1] = b;
    }
}

__global__ void k_bn_bwd_finalize(const float *part, int nrb, int C, int M, const float *gamma, const float *smean,
                                  const float *sinv, float *dgamma, float *dbeta, float *coef) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double sdz = 0, sdzx = 0;
    for (int rb = 0; rb < nrb; rb++) {
        sdz += part[((size_t)rb * C + c) * 2];
        sdzx += part[((size_t)rb * C + c) * 2 + 1];
    }
    float inv = sinv[c], mean = smean[c];
    sdzx *= inv;
    dgamma[c] = (float)sdzx;
    dbeta[c] = (float)sdz;
    double k = (double)gamma[c] * inv, A = sdz / M, Bm = sdzx / M;
    coef[c] = (float)k;
    coef[C + c] = (float)(-k * inv * Bm);
    coef[2 * C + c] = (float)(-k * A + k * mean * inv * Bm);
}

template <typename T>
__global__ void k_bn_bwd_apply(const T *__restrict__ dy, const T *__restrict__ y, const T *__restrict__ x,
                               T *__restrict__ dx, const float *__restrict__ coef, size_t total, int C, int relu) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i % C);
        float dz = ld(dy, i);
        if (relu && !(ld(y, i) > 0.0f)) dz = 0.0f;
        st(dx, i, coef[c] * dz + coef[C + c] * ld(x, i) + coef[2 * C + c]);
    }
}

void cuda_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dy, const void *y, const void *x,
                 const float *gamma, const float *smean, const float *sinv, void *dx, void *dres, float *dgamma,
                 float *dbeta, int relu) {
    cuda_impl *im = cuda_impl_of(be);
    int M = N * HW, nrb, rpb;
    bn_grid(im, M, C, &nrb, &rpb);
    if ((size_t)nrb * C * 2 > im->part_floats || (size_t)3 * C > im->chan_floats) daoe_fatal("BN buffers too small");
    dim3 grid((C + 31) / 32, nrb), block(32, BN_LANES);
    if (im->bf16)
        k_bn_bwd_reduce<<<grid, block, 0, im->stream>>>((const __nv_bfloat16 *)dy, (const __nv_bfloat16 *)y,
                                                        (const __nv_bfloat16 *)x, (__nv_bfloat16 *)dres, smean, M, C,
                                                        rpb, relu, im->part);
    else
        k_bn_bwd_reduce<<<grid, block, 0, im->stream>>>((const float *)dy, (const float *)y, (const float *)x,
                                                        (float *)dres, smean, M, C, rpb, relu, im->part);
    LAUNCH_CHECK(im, "k_bn_bwd_reduce");
    k_bn_bwd_finalize<<<nblocks(C, 128), 128, 0, im->stream>>>(im->part, nrb, C, M, gamma, smean, sinv, dgamma, dbeta,
                                                                im->chan);
    LAUNCH_CHECK(im, "k_bn_bwd_finalize");
    size_t total = (size_t)M * C;
    if (im->bf16)
        k_bn_bwd_apply<<<elem_grid(im, total), TPB, 0, im->stream>>>((const __nv_bfloat16 *)dy, (const __nv_bfloat16 *)y,
                                                                     (const __nv_bfloat16 *)x, (__nv_bfloat16 *)dx,
                                                                     im->chan, total, C, relu);
    else
        k_bn_bwd_apply<<<elem_grid(im, total), TPB, 0, im->stream>>>((const float *)dy, (const float *)y,
                                                                     (const float *)x, (float *)dx, im->chan, total, C,
                                                                     relu);
    LAUNCH_CHECK(im, "k_bn_bwd_apply");
}

