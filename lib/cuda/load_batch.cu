/* CUDA backend, data: load_batch on the GPU, one thread per output pixel,
 * with the same Philox crop and flip draws as the CPU (daoe_aug_params) and
 * the batch's input statistics reduced in a fixed order. The normalisation
 * constants sit in constant memory, set once by cuda_data_init. Reading the
 * CIFAR files is lib/core/cifar10.c, not here. */
#include "cuda_common.cuh"

extern "C" {
#include "daoe/cifar10.h"
#include "daoe/util.h"
}

__constant__ float c_mean[3], c_istd[3];

/* the constants live in this translation unit's module: set them here */
void cuda_data_init(void) {
    float mean[3], istd[3];
    for (int c = 0; c < 3; c++) {
        mean[c] = daoe_cifar_mean[c];
        istd[c] = 1.0f / daoe_cifar_std[c];
    }
    CUDA_CHECK(cudaMemcpyToSymbol(c_mean, mean, sizeof mean));
    CUDA_CHECK(cudaMemcpyToSymbol(c_istd, istd, sizeof istd));
}

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

void cuda_load_batch(daoe_backend *be, const uint8_t *images, const int32_t *labels, const int32_t *idx, int N,
                     int augment, uint64_t seed, int epoch, void *x, int32_t *y, float *stats) {
    cuda_impl *im = cuda_impl_of(be);
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

