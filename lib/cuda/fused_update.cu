/* CUDA backend, optimizer: the fused pass over the flat buffers
 * (daoe_fused_elem from lib/core/rules.h, the same per-element code as the CPU) with
 * per-block partial reductions, and the controller (daoe_ctrl_update, one
 * thread after a deterministic reduction of the partials). The update rules
 * themselves are in baselines/ (via lib/core/rules.h), not here. */
#include "cuda_common.cuh"
#include "rules.h"

extern "C" {
#include "daoe/util.h"
}

__global__ void __launch_bounds__(TPB) k_opt(daoe_opt_cfg cfg, const daoe_step_consts *__restrict__ scp,
                                              const daoe_ctrl_state *__restrict__ state, daoe_opt_bufs b, size_t n,
                                              float *part, int pass) {
    const daoe_step_consts sc = *scp;
    float alpha[DAOE_K];
    for (int i = 0; i < DAOE_K; i++) alpha[i] = state->alpha[i];
    float acc[DAOE_NRED], c[DAOE_NRED];
    for (int r = 0; r < DAOE_NRED; r++) acc[r] = 0.0f;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        if (pass == DAOE_PASS_REDUCE) {
            daoe_contrib r = daoe_reduce_elem(&cfg, &sc, &b, j);
            daoe_contrib_put(&r, c);
        } else {
            daoe_fused_elem(&cfg, &sc, alpha, &b, j, c);
        }
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
                       const float *stats, const daoe_step_consts *sc, daoe_trace *trace, int cap, int phase) {
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
        /* the row of the step that begins (STEP, PRE) or ends (POST) */
        daoe_trace *tr = &trace[(phase == DAOE_CTRL_POST ? state->t - 1 : state->t) % cap];
        if (phase == DAOE_CTRL_PRE) daoe_ctrl_pre(&cfg, state, r, stats, sc->epoch, tr);
        else if (phase == DAOE_CTRL_POST) daoe_ctrl_post(&cfg, state, r, tr);
        else daoe_ctrl_update(&cfg, state, r, stats, sc->epoch, tr);
    }
}

static int opt_grid(cuda_impl *im, size_t n) {
    size_t g = nblocks(n, TPB), cap = (size_t)im->sm_count * 8;
    return (int)(g < cap ? g : cap);
}

void cuda_opt_step(daoe_backend *be, daoe_opt *o, int pass) {
    cuda_impl *im = cuda_impl_of(be);
    int g = opt_grid(im, o->n);
    if ((size_t)g * DAOE_NRED > im->part_floats) daoe_fatal("optimizer reduction buffer too small");
    k_opt<<<g, TPB, 0, im->stream>>>(o->cfg, o->consts, o->state, o->bufs, o->n, im->part, pass);
    LAUNCH_CHECK(im, "k_opt");
}

void cuda_ctrl_step(daoe_backend *be, daoe_opt *o, int phase) {
    cuda_impl *im = cuda_impl_of(be);
    k_ctrl<<<1, 32 * DAOE_NRED, 0, im->stream>>>(o->ctrl, im->part, opt_grid(im, o->n), o->red, o->state, o->stats, o->consts,
                                     o->trace, o->trace_cap, phase);
    LAUNCH_CHECK(im, "k_ctrl");
}

