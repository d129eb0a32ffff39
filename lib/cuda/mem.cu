/* CUDA backend, memory: allocation (zero-filled), transfers on the backend's
 * stream, the NHWC <-> NCHW conversion of activations (on the host, for tests),
 * the parameter binding (which has conv.cu choose the batch's convolution
 * algorithms) and the KRSC mirror of the convolution weights (fp32 or bf16)
 * that cuDNN reads, and the check after every launch. Captured graphs
 * are in graph.cu; the ops that compute are in their own files. */
#include "cuda_common.cuh"
#include "daoe/bf16.h"

extern "C" {
#include "daoe/util.h"
}

void cuda_after_launch(cuda_impl *im, const char *what, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && im->debug_sync && !im->capturing) e = cudaStreamSynchronize(im->stream);
    if (e != cudaSuccess) {
        fprintf(stderr, "daoe: CUDA error %s (%s) after %s at %s:%d\n", cudaGetErrorName(e), cudaGetErrorString(e),
                what, file, line);
        exit(1);
    }
}

void *cuda_alloc(daoe_backend *be, size_t bytes) {
    cuda_impl *im = cuda_impl_of(be);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 16);
    if (e != cudaSuccess) daoe_fatal("cudaMalloc(%zu bytes) failed: %s", bytes, cudaGetErrorString(e));
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes ? bytes : 16, im->stream));
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    return p;
}
/* A captured graph holds raw addresses: any free may leave one pointing at
 * released memory, so every free drops the graphs (they are recaptured on use). */
void cuda_free(daoe_backend *be, void *p) {
    if (!p) return;
    cuda_drop_graphs(cuda_impl_of(be));
    CUDA_CHECK(cudaFree(p));
}
void cuda_to_device(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_impl_of(be)->stream));
}
void cuda_to_host(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    cuda_impl *im = cuda_impl_of(be);
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, im->stream));
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
}
void cuda_sync(daoe_backend *be) { CUDA_CHECK(cudaStreamSynchronize(cuda_impl_of(be)->stream)); }
size_t cuda_act_bytes(daoe_backend *be, size_t count) { return count * (cuda_impl_of(be)->bf16 ? 2 : 4); }

/* NHWC (fp32 or bf16) <-> NCHW fp32, on the host */
void cuda_act_to_host(daoe_backend *be, const void *act, int n, int c, int h, int w, float *out) {
    cuda_impl *im = cuda_impl_of(be);
    size_t cnt = (size_t)n * c * h * w, es = im->bf16 ? 2 : 4;
    unsigned char *raw = (unsigned char *)daoe_xmalloc(cnt * es);
    cuda_to_host(be, raw, act, cnt * es);
    for (int ni = 0; ni < n; ni++)
        for (int p = 0; p < h * w; p++)
            for (int ci = 0; ci < c; ci++) {
                size_t s = ((size_t)ni * h * w + p) * c + ci, d = ((size_t)ni * c + ci) * h * w + p;
                out[d] = im->bf16 ? daoe_bf16_to_f32(((uint16_t *)raw)[s]) : ((float *)raw)[s];
            }
    free(raw);
}
void cuda_act_from_host(daoe_backend *be, void *act, int n, int c, int h, int w, const float *in) {
    cuda_impl *im = cuda_impl_of(be);
    size_t cnt = (size_t)n * c * h * w, es = im->bf16 ? 2 : 4;
    unsigned char *raw = (unsigned char *)daoe_xmalloc(cnt * es);
    for (int ni = 0; ni < n; ni++)
        for (int p = 0; p < h * w; p++)
            for (int ci = 0; ci < c; ci++) {
                size_t d = ((size_t)ni * h * w + p) * c + ci, s = ((size_t)ni * c + ci) * h * w + p;
                if (im->bf16) ((uint16_t *)raw)[d] = daoe_f32_to_bf16(in[s]);
                else ((float *)raw)[d] = in[s];
            }
    cuda_to_device(be, act, raw, cnt * es);
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    free(raw);
}

/* conv weights: OIHW fp32 (the flat parameters) <-> KRSC in the activation type (cuDNN). Both
 * swap the two inner axes, src [outer][a][b] -> dst [outer][b][a] (OIHW -> KRSC: a = cin, b = kh*kw;
 * back: a = kh*kw, b = cin), a thread per destination element, the type converted by ld/st. */
template <typename S, typename D>
__global__ void k_swap_inner(const S *__restrict__ src, D *__restrict__ dst, int outer, int a, int b) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)outer * a * b;
    if (i >= n) return;
    int ia = (int)(i % a);
    size_t t = i / a;
    int ib = (int)(t % b), o = (int)(t / b);
    st(dst, i, ld(src, ((size_t)o * a + ia) * b + ib));
}

void cuda_krsc_to_oihw(cuda_impl *im, const daoe_conv *cv, const void *src, float *dst) {
    size_t n = (size_t)cv->cout * cv->cin * cv->k * cv->k;
    const int kk = cv->k * cv->k;
    if (im->bf16)
        k_swap_inner<<<nblocks(n, TPB), TPB, 0, im->stream>>>((const __nv_bfloat16 *)src, dst, cv->cout, kk, cv->cin);
    else
        k_swap_inner<<<nblocks(n, TPB), TPB, 0, im->stream>>>((const float *)src, dst, cv->cout, kk, cv->cin);
    LAUNCH_CHECK(im, "k_swap_inner (KRSC -> OIHW)");
}

void cuda_bind_params(daoe_backend *be, float *params, float *grads, size_t n, const daoe_conv *convs, int nconv,
                      int batch) {
    cuda_impl *im = cuda_impl_of(be);
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
    if (im->wmirror) cuda_free(be, im->wmirror);
    if (im->dwscratch) cuda_free(be, im->dwscratch);
    im->wmirror = cuda_alloc(be, n * es);
    im->dwscratch = cuda_alloc(be, maxw * es);
    im->dwscratch_elems = maxw;
    cuda_conv_prepare(im, convs, nconv, batch); /* the training batch's algorithms, for config.json */
}

void cuda_refresh_weights(daoe_backend *be) {
    cuda_impl *im = cuda_impl_of(be);
    for (int i = 0; i < im->nconv; i++) {
        const daoe_conv *cv = &im->convs[i];
        size_t n = (size_t)cv->cout * cv->cin * cv->k * cv->k;
        const float *w = im->params + cv->w_off;
        if (im->bf16)
            k_swap_inner<<<nblocks(n, TPB), TPB, 0, im->stream>>>(w, (__nv_bfloat16 *)im->wmirror + cv->w_off, cv->cout,
                                                                  cv->cin, cv->k * cv->k);
        else
            k_swap_inner<<<nblocks(n, TPB), TPB, 0, im->stream>>>(w, (float *)im->wmirror + cv->w_off, cv->cout, cv->cin,
                                                                  cv->k * cv->k);
        LAUNCH_CHECK(im, "k_swap_inner (OIHW -> KRSC)");
    }
}

