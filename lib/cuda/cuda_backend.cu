/* The CUDA backend: every op of the backend table on one stream. cuDNN does
 * the convolutions (cuda_conv.cu), cuBLAS the linear layer, kernels here the
 * rest: data loading with augmentation (the same Philox draws as the CPU),
 * batch norm with fused residual add and ReLU (deterministic two-level
 * reductions, no atomics), pooling, cross-entropy, the fused optimizer pass
 * over the flat buffers (daoe_fused_elem, shared with the CPU) and the
 * controller (daoe_ctrl_update, one thread). Activations are NHWC, fp32 or
 * bf16; a training step can be captured as a CUDA graph and replayed. */
#include "cuda_common.cuh"

extern "C" {
#include "daoe/data.h"
#include "daoe/util.h"
}

#define TPB 256

static cuda_impl *impl_of(daoe_backend *be) { return (cuda_impl *)be->impl; }

void cuda_after_launch(cuda_impl *im, const char *what, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && im->debug_sync && !im->capturing) e = cudaStreamSynchronize(im->stream);
    if (e != cudaSuccess) {
        fprintf(stderr, "daoe: CUDA error %s (%s) after %s at %s:%d\n", cudaGetErrorName(e), cudaGetErrorString(e),
                what, file, line);
        exit(1);
    }
}

void cuda_ensure_workspace(cuda_impl *im, size_t bytes) {
    if (bytes <= im->ws_size) return;
    if (im->capturing) {
        fprintf(stderr, "daoe: cuDNN workspace growth during CUDA graph capture\n");
        exit(1);
    }
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    if (im->ws) CUDA_CHECK(cudaFree(im->ws));
    CUDA_CHECK(cudaMalloc(&im->ws, bytes));
    im->ws_size = bytes;
}

static unsigned nblocks(size_t n, int tpb) { return (unsigned)((n + tpb - 1) / tpb); }

/* ------------------------------------------------------------------ element access */
__device__ __forceinline__ float ld(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(__nv_bfloat16 *p, size_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/* ------------------------------------------------------------------ memory */
static void *cu_alloc(daoe_backend *be, size_t bytes) {
    cuda_impl *im = impl_of(be);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 16);
    if (e != cudaSuccess) daoe_fatal("cudaMalloc(%zu bytes) failed: %s", bytes, cudaGetErrorString(e));
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes ? bytes : 16, im->stream));
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    return p;
}
static void drop_graphs(cuda_impl *im) {
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    for (int i = 0; i < im->ngraphs; i++)
        if (im->graphs[i].exec) {
            CUDA_CHECK(cudaGraphExecDestroy(im->graphs[i].exec));
            CUDA_CHECK(cudaGraphDestroy(im->graphs[i].graph));
        }
    im->ngraphs = 0;
}

/* A captured graph holds raw addresses: any free may leave one pointing at
 * released memory, so every free drops the graphs (they are recaptured on use). */
static void cu_free(daoe_backend *be, void *p) {
    if (!p) return;
    drop_graphs(impl_of(be));
    CUDA_CHECK(cudaFree(p));
}
static void cu_to_device(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, impl_of(be)->stream));
}
static void cu_to_host(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    cuda_impl *im = impl_of(be);
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, im->stream));
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
}
static void cu_copy(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, impl_of(be)->stream));
}
static void cu_fill_zero(daoe_backend *be, void *p, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, impl_of(be)->stream));
}
static void cu_sync(daoe_backend *be) { CUDA_CHECK(cudaStreamSynchronize(impl_of(be)->stream)); }
static size_t cu_act_bytes(daoe_backend *be, size_t count) { return count * (impl_of(be)->bf16 ? 2 : 4); }

/* NHWC (fp32 or bf16) <-> NCHW fp32, on the host */
static void cu_act_to_host(daoe_backend *be, const void *act, int n, int c, int h, int w, float *out) {
    cuda_impl *im = impl_of(be);
    size_t cnt = (size_t)n * c * h * w, es = im->bf16 ? 2 : 4;
    unsigned char *raw = (unsigned char *)daoe_xmalloc(cnt * es);
    cu_to_host(be, raw, act, cnt * es);
    for (int ni = 0; ni < n; ni++)
        for (int p = 0; p < h * w; p++)
            for (int ci = 0; ci < c; ci++) {
                size_t s = ((size_t)ni * h * w + p) * c + ci, d = ((size_t)ni * c + ci) * h * w + p;
                out[d] = im->bf16 ? daoe_bf16_to_f32(((uint16_t *)raw)[s]) : ((float *)raw)[s];
            }
    free(raw);
}
static void cu_act_from_host(daoe_backend *be, void *act, int n, int c, int h, int w, const float *in) {
    cuda_impl *im = impl_of(be);
    size_t cnt = (size_t)n * c * h * w, es = im->bf16 ? 2 : 4;
    unsigned char *raw = (unsigned char *)daoe_xmalloc(cnt * es);
    for (int ni = 0; ni < n; ni++)
        for (int p = 0; p < h * w; p++)
            for (int ci = 0; ci < c; ci++) {
                size_t d = ((size_t)ni * h * w + p) * c + ci, s = ((size_t)ni * c + ci) * h * w + p;
                if (im->bf16) ((uint16_t *)raw)[d] = daoe_f32_to_bf16(in[s]);
                else ((float *)raw)[d] = in[s];
            }
    cu_to_device(be, act, raw, cnt * es);
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    free(raw);
}

/* ------------------------------------------------------------------ weights */
template <typename T>
__global__ void k_oihw_to_krsc(const float *__restrict__ src, T *__restrict__ dst, int cout, int cin, int kk) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)cout * cin * kk;
    if (i >= n) return;
    int ci = (int)(i % cin);
    size_t t = i / cin;
    int q = (int)(t % kk), o = (int)(t / kk);
    st(dst, i, src[((size_t)o * cin + ci) * kk + q]);
}

template <typename T>
__global__ void k_krsc_to_oihw(const T *__restrict__ src, float *__restrict__ dst, int cout, int cin, int kk) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)cout * cin * kk;
    if (i >= n) return;
    int q = (int)(i % kk);
    size_t t = i / kk;
    int ci = (int)(t % cin), o = (int)(t / cin);
    dst[i] = ld(src, ((size_t)o * kk + q) * cin + ci);
}

void cuda_krsc_to_oihw(cuda_impl *im, const daoe_conv *cv, const void *src, float *dst) {
    size_t n = (size_t)cv->cout * cv->cin * cv->k * cv->k;
    if (im->bf16)
        k_krsc_to_oihw<<<nblocks(n, TPB), TPB, 0, im->stream>>>((const __nv_bfloat16 *)src, dst, cv->cout, cv->cin,
                                                                cv->k * cv->k);
    else
        k_krsc_to_oihw<<<nblocks(n, TPB), TPB, 0, im->stream>>>((const float *)src, dst, cv->cout, cv->cin,
                                                                cv->k * cv->k);
    LAUNCH_CHECK(im, "k_krsc_to_oihw");
}

static void cu_bind_params(daoe_backend *be, float *params, float *grads, size_t n, const daoe_conv *convs, int nconv) {
    cuda_impl *im = impl_of(be);
    if (nconv > 64) daoe_fatal("too many convolutions (%d)", nconv);
    im->params = params;
    im->grads = grads;
    im->nparams = n;
    im->nconv = nconv;
    memcpy(im->convs, convs, sizeof(daoe_conv) * (size_t)nconv);
    size_t es = im->bf16 ? 2 : 4, maxw = 0;
    for (int i = 0; i < nconv; i++) {
        size_t wn = (size_t)convs[i].cout * convs[i].cin * convs[i].k * convs[i].k;
        if (wn > maxw) maxw = wn;
    }
    if (im->wmirror) cu_free(be, im->wmirror);
    if (im->dwscratch) cu_free(be, im->dwscratch);
    im->wmirror = cu_alloc(be, n * es);
    im->dwscratch = cu_alloc(be, maxw * es);
    im->dwscratch_elems = maxw;
}

static void cu_refresh_weights(daoe_backend *be) {
    cuda_impl *im = impl_of(be);
    for (int i = 0; i < im->nconv; i++) {
        const daoe_conv *cv = &im->convs[i];
        size_t n = (size_t)cv->cout * cv->cin * cv->k * cv->k;
        if (im->bf16)
            k_oihw_to_krsc<<<nblocks(n, TPB), TPB, 0, im->stream>>>(
                im->params + cv->w_off, (__nv_bfloat16 *)im->wmirror + cv->w_off, cv->cout, cv->cin, cv->k * cv->k);
        else
            k_oihw_to_krsc<<<nblocks(n, TPB), TPB, 0, im->stream>>>(im->params + cv->w_off, (float *)im->wmirror + cv->w_off,
                                                                    cv->cout, cv->cin, cv->k * cv->k);
        LAUNCH_CHECK(im, "k_oihw_to_krsc");
    }
}

/* ------------------------------------------------------------------ block reductions (fixed order) */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* ------------------------------------------------------------------ data */
__constant__ float c_mean[3], c_istd[3];

template <typename T>
__global__ void k_load_batch(const uint8_t *__restrict__ images, const int32_t *__restrict__ labels,
                             const int32_t *__restrict__ idx, int N, int augment, uint64_t seed, int epoch, T *x,
                             int32_t *y, float *part) {
    size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    float s = 0.0f, s2 = 0.0f;
    if (p < (size_t)N * 1024) {
        int n = (int)(p / 1024), yy = (int)(p % 1024) / 32, xx = (int)(p % 32);
        int id = idx[n];
        daoe_aug a = {4, 4, 0};
        if (augment) a = daoe_aug_params(seed, epoch, id);
        int sy = yy + a.oy - 4, cx = a.flip ? 31 - xx : xx, sx = cx + a.ox - 4;
        int in = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
        const uint8_t *img = images + (size_t)id * DAOE_IMG_BYTES;
        for (int c = 0; c < 3; c++) {
            float m = c_mean[c], is = c_istd[c];
            float v = in ? ((float)img[c * 1024 + sy * 32 + sx] * (1.0f / 255.0f) - m) * is : (0.0f - m) * is;
            st(x, p * 3 + c, v);
            s += v;
            s2 += v * v;
        }
        if (p % 1024 == 0) y[n] = labels[id];
    }
    __shared__ float sh[2][TPB / 32];
    s = warp_sum(s);
    s2 = warp_sum(s2);
    if ((threadIdx.x & 31) == 0) sh[0][threadIdx.x / 32] = s, sh[1][threadIdx.x / 32] = s2;
    __syncthreads();
    if (threadIdx.x == 0) {
        float a = 0, b = 0;
        for (int w = 0; w < TPB / 32; w++) a += sh[0][w], b += sh[1][w];
        part[2 * blockIdx.x] = a;
        part[2 * blockIdx.x + 1] = b;
    }
}

__global__ void k_xstats(const float *part, int nb, int N, float *stats) {
    double s = 0, s2 = 0;
    for (int b = 0; b < nb; b++) s += part[2 * b], s2 += part[2 * b + 1];
    double cnt = (double)N * 3072.0, mean = s / cnt;
    stats[DAOE_ST_XMEAN] = (float)mean;
    stats[DAOE_ST_XVAR] = (float)(s2 / cnt - mean * mean);
    stats[DAOE_ST_N] = (float)N;
}

static void cu_load_batch(daoe_backend *be, const uint8_t *images, const int32_t *labels, const int32_t *idx, int N,
                          int augment, uint64_t seed, int epoch, void *x, int32_t *y, float *stats) {
    cuda_impl *im = impl_of(be);
    unsigned nb = nblocks((size_t)N * 1024, TPB);
    if ((size_t)nb * 2 > im->part_floats) daoe_fatal("batch too large for the reduction buffer");
    if (im->bf16)
        k_load_batch<<<nb, TPB, 0, im->stream>>>(images, labels, idx, N, augment, seed, epoch, (__nv_bfloat16 *)x, y,
                                                 im->part);
    else
        k_load_batch<<<nb, TPB, 0, im->stream>>>(images, labels, idx, N, augment, seed, epoch, (float *)x, y, im->part);
    LAUNCH_CHECK(im, "k_load_batch");
    k_xstats<<<1, 1, 0, im->stream>>>(im->part, (int)nb, N, stats);
    LAUNCH_CHECK(im, "k_xstats");
}

/* ------------------------------------------------------------------ batch norm (NHWC: M rows of C channels)
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

static void cu_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *x, const void *res, void *y,
                      const float *gamma, const float *beta, float *rmean, float *rvar, float *smean, float *sinv,
                      int training, int relu, float momentum, float eps) {
    cuda_impl *im = impl_of(be);
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

static void cu_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dy, const void *y, const void *x,
                      const float *gamma, const float *smean, const float *sinv, void *dx, void *dres, float *dgamma,
                      float *dbeta, int relu) {
    cuda_impl *im = impl_of(be);
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

/* ------------------------------------------------------------------ head */
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

static void cu_avgpool_fwd(daoe_backend *be, int N, int C, int HW, const void *x, float *y) {
    cuda_impl *im = impl_of(be);
    if (im->bf16) k_pool_fwd<<<nblocks((size_t)N * C, TPB), TPB, 0, im->stream>>>((const __nv_bfloat16 *)x, y, N, C, HW);
    else k_pool_fwd<<<nblocks((size_t)N * C, TPB), TPB, 0, im->stream>>>((const float *)x, y, N, C, HW);
    LAUNCH_CHECK(im, "k_pool_fwd");
}

static void cu_avgpool_bwd(daoe_backend *be, int N, int C, int HW, const float *dy, void *dx) {
    cuda_impl *im = impl_of(be);
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
static void cu_linear_fwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *b,
                          float *y) {
    cuda_impl *im = impl_of(be);
    k_bias_rows<<<nblocks((size_t)N * out, TPB), TPB, 0, im->stream>>>(y, b, N, out);
    LAUNCH_CHECK(im, "k_bias_rows");
    const float one = 1.0f;
    CUBLAS_CHECK(cublasSgemm(im->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, &one, W, in, x, in, &one, y, out));
    LAUNCH_CHECK(im, "cublasSgemm (linear forward)");
}

static void cu_linear_bwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *dy,
                          float *dx, float *dW, float *db) {
    cuda_impl *im = impl_of(be);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(im->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, &one, W, in, dy, out, &zero, dx, in));
    CUBLAS_CHECK(cublasSgemm(im->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, &one, x, in, dy, out, &zero, dW, in));
    LAUNCH_CHECK(im, "cublasSgemm (linear backward)");
    k_bias_grad<<<nblocks(out, 64), 64, 0, im->stream>>>(dy, db, N, out);
    LAUNCH_CHECK(im, "k_bias_grad");
}

__global__ void k_xent(const float *__restrict__ logits, const int32_t *__restrict__ y, float *dlogits, float *stats,
                       int N, int K) {
    double loss = 0, ent = 0, correct = 0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        const float *l = logits + (size_t)n * K;
        int am = 0;
        float mx = l[0];
        for (int k = 1; k < K; k++)
            if (l[k] > mx) mx = l[k], am = k;
        double se = 0;
        for (int k = 0; k < K; k++) se += exp((double)l[k] - mx);
        double lse = mx + log(se);
        loss += lse - l[y[n]];
        correct += am == y[n];
        double h = 0;
        for (int k = 0; k < K; k++) {
            double p = exp((double)l[k] - lse);
            if (p > 0.0) h -= p * ((double)l[k] - lse);
            if (dlogits) dlogits[(size_t)n * K + k] = (float)((p - (k == y[n])) / N);
        }
        ent += h;
    }
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

static void cu_xent(daoe_backend *be, int N, int K, const float *logits, const int32_t *y, float *dlogits,
                    float *stats) {
    cuda_impl *im = impl_of(be);
    k_xent<<<1, TPB, 0, im->stream>>>(logits, y, dlogits, stats, N, K);
    LAUNCH_CHECK(im, "k_xent");
}

/* ------------------------------------------------------------------ optimizer and controller */
__global__ void __launch_bounds__(TPB) k_opt(daoe_opt_cfg cfg, const daoe_step_consts *__restrict__ scp,
                                              const daoe_ctrl_state *__restrict__ state, daoe_opt_bufs b, size_t n,
                                              float *part) {
    const daoe_step_consts sc = *scp;
    float alpha[DAOE_K];
    for (int i = 0; i < DAOE_K; i++) alpha[i] = state->alpha[i];
    float acc[DAOE_NRED], c[DAOE_NRED];
    for (int r = 0; r < DAOE_NRED; r++) acc[r] = 0.0f;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        daoe_fused_elem(&cfg, &sc, alpha, &b, j, c);
#pragma unroll
        for (int r = 0; r < DAOE_NRED; r++) acc[r] += c[r];
    }
    __shared__ float sh[DAOE_NRED][TPB / 32];
#pragma unroll
    for (int r = 0; r < DAOE_NRED; r++) {
        float v = warp_sum(acc[r]);
        if ((threadIdx.x & 31) == 0) sh[r][threadIdx.x / 32] = v;
    }
    __syncthreads();
    if (threadIdx.x < DAOE_NRED) {
        float s = 0.0f;
        for (int w = 0; w < TPB / 32; w++) s += sh[threadIdx.x][w];
        part[(size_t)blockIdx.x * DAOE_NRED + threadIdx.x] = s;
    }
}

/* 10 warps: warp r adds reduction r over the blocks (lanes strided, then a
 * fixed shuffle tree: deterministic), thread 0 runs the controller */
__global__ void k_ctrl(daoe_ctrl_cfg cfg, const float *part, int nb, double *red, daoe_ctrl_state *state,
                       const float *stats, const daoe_step_consts *sc, daoe_trace *trace, int cap) {
    __shared__ double r[DAOE_NRED];
    const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (w < DAOE_NRED) {
        double s = 0.0;
        for (int b = lane; b < nb; b += 32) s += part[(size_t)b * DAOE_NRED + w];
        s = warp_sum_d(s);
        if (lane == 0) {
            r[w] = s;
            red[w] = s;
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int slot = state->t % cap;
        daoe_ctrl_update(&cfg, state, r, stats, sc->epoch, &trace[slot]);
    }
}

static int opt_grid(cuda_impl *im, size_t n) {
    size_t g = nblocks(n, TPB), cap = (size_t)im->sm_count * 8;
    return (int)(g < cap ? g : cap);
}

static void cu_opt_step(daoe_backend *be, daoe_opt *o) {
    cuda_impl *im = impl_of(be);
    int g = opt_grid(im, o->n);
    if ((size_t)g * DAOE_NRED > im->part_floats) daoe_fatal("optimizer reduction buffer too small");
    k_opt<<<g, TPB, 0, im->stream>>>(o->cfg, o->consts, o->state, o->bufs, o->n, im->part);
    LAUNCH_CHECK(im, "k_opt");
}

static void cu_ctrl_step(daoe_backend *be, daoe_opt *o) {
    cuda_impl *im = impl_of(be);
    k_ctrl<<<1, 32 * DAOE_NRED, 0, im->stream>>>(o->ctrl, im->part, opt_grid(im, o->n), o->red, o->state, o->stats, o->consts,
                                     o->trace, o->trace_cap);
    LAUNCH_CHECK(im, "k_ctrl");
}

/* ------------------------------------------------------------------ graphs */
static void cu_run_step(daoe_backend *be, int key, void (*fn)(void *), void *ctx) {
    cuda_impl *im = impl_of(be);
    if (im->debug_sync || getenv("DAOE_NO_GRAPH")) {
        fn(ctx);
        return;
    }
    int gi = -1;
    for (int i = 0; i < im->ngraphs; i++)
        if (im->graphs[i].key == key) gi = i;
    if (gi >= 0 && im->graphs[gi].ctx != ctx) { /* other buffers under the same key: capture anew */
        drop_graphs(im);
        gi = -1;
    }
    if (gi < 0) {
        if (im->ngraphs == MAX_GRAPHS) {
            fn(ctx);
            return;
        }
        gi = im->ngraphs++;
        im->graphs[gi].key = key;
        im->graphs[gi].ctx = ctx;
        im->graphs[gi].calls = 0;
        im->graphs[gi].exec = NULL;
    }
    if (im->graphs[gi].calls++ == 0) { /* first use: plans, workspaces, cuBLAS set-up happen outside capture */
        fn(ctx);
        return;
    }
    if (!im->graphs[gi].exec) {
        CUDA_CHECK(cudaStreamSynchronize(im->stream));
        CUDA_CHECK(cudaStreamBeginCapture(im->stream, cudaStreamCaptureModeThreadLocal));
        im->capturing = 1;
        fn(ctx);
        im->capturing = 0;
        CUDA_CHECK(cudaStreamEndCapture(im->stream, &im->graphs[gi].graph));
        CUDA_CHECK(cudaGraphInstantiate(&im->graphs[gi].exec, im->graphs[gi].graph, 0));
    }
    CUDA_CHECK(cudaGraphLaunch(im->graphs[gi].exec, im->stream));
    LAUNCH_CHECK(im, "cudaGraphLaunch");
}

/* ------------------------------------------------------------------ lifecycle */
static void cu_destroy(daoe_backend *be) {
    cuda_impl *im = impl_of(be);
    drop_graphs(im);
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

extern "C" daoe_backend *daoe_cuda_backend_create(daoe_precision prec, int deterministic, char *err, size_t errlen) {
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
    const char *ds = getenv("DAOE_DEBUG_SYNC");
    im->debug_sync = ds && ds[0] == '1';
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
    float mean[3], istd[3];
    for (int c = 0; c < 3; c++) {
        mean[c] = daoe_cifar_mean[c];
        istd[c] = 1.0f / daoe_cifar_std[c];
    }
    CUDA_CHECK(cudaMemcpyToSymbol(c_mean, mean, sizeof mean));
    CUDA_CHECK(cudaMemcpyToSymbol(c_istd, istd, sizeof istd));
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    static const char *pn[] = {"fp32", "tf32", "bf16"};
    snprintf(be->desc, sizeof be->desc, "%s (sm_%d%d, %d SMs, %.0f GiB), driver %d.%d, runtime %d.%d, cuDNN %zu, %s%s",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0,
             drv / 1000, (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10, cudnnGetVersion(), pn[prec],
             deterministic ? ", deterministic" : "");
    be->name = "cuda";
    be->precision = prec;
    be->deterministic = deterministic;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->to_device = cu_to_device;
    be->to_host = cu_to_host;
    be->copy = cu_copy;
    be->fill_zero = cu_fill_zero;
    be->sync = cu_sync;
    be->act_bytes = cu_act_bytes;
    be->act_to_host = cu_act_to_host;
    be->act_from_host = cu_act_from_host;
    be->bind_params = cu_bind_params;
    be->refresh_weights = cu_refresh_weights;
    be->load_batch = cu_load_batch;
    be->conv_fwd = cuda_conv_fwd;
    be->conv_bwd_data = cuda_conv_bwd_data;
    be->conv_bwd_filter = cuda_conv_bwd_filter;
    be->bn_fwd = cu_bn_fwd;
    be->bn_bwd = cu_bn_bwd;
    be->avgpool_fwd = cu_avgpool_fwd;
    be->avgpool_bwd = cu_avgpool_bwd;
    be->linear_fwd = cu_linear_fwd;
    be->linear_bwd = cu_linear_bwd;
    be->xent = cu_xent;
    be->opt_step = cu_opt_step;
    be->ctrl_step = cu_ctrl_step;
    be->run_step = cu_run_step;
    be->destroy = cu_destroy;
    return be;
}
