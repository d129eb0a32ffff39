/* GPU benchmark (our side): device-to-device copy bandwidth and cuBLAS bf16
 * GEMM rate (the two ceilings), then training steps of the CIFAR ResNet-18
 * (width 64, batch 128, synthetic images, the whole step on the device and
 * replayed as a CUDA graph) per precision and optimizer, and the fused
 * optimizer pass alone with its bytes moved. Prints a table; --json FILE
 * writes the numbers for bench/gpu_table.py. */
#include "daoe/bf16.h"
#include "daoe/session.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include "tool.h"
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DAOE_HAVE_CUDA
int main(void) { fprintf(stderr, "daoe-bench-gpu: built without CUDA\n"); return 77; }
#else
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)

static double copy_bw(void) {
    size_t bytes = (size_t)1 << 30;
    void *a, *b;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemset(a, 1, bytes));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0); cudaEventCreate(&e1);
    for (int i = 0; i < 3; i++) CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    cudaEventRecord(e0, 0);
    for (int i = 0; i < 20; i++) CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0));
    cudaEventRecord(e1, 0);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaFree(a); cudaFree(b);
    return 2.0 * bytes * 20 / (ms / 1e3) / 1e9;
}

static double gemm_rate(void) {
    const int n = 8192;
    size_t cnt = (size_t)n * n;
    uint16_t *h = daoe_xmalloc(cnt * 2);
    for (size_t i = 0; i < cnt; i++) h[i] = daoe_f32_to_bf16((float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f);
    void *A, *B, *C;
    CK(cudaMalloc(&A, cnt * 2)); CK(cudaMalloc(&B, cnt * 2)); CK(cudaMalloc(&C, cnt * 4));
    CK(cudaMemcpy(A, h, cnt * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(B, h, cnt * 2, cudaMemcpyHostToDevice));
    free(h);
    cublasHandle_t hd;
    cublasCreate(&hd);
    float one = 1, zero = 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0); cudaEventCreate(&e1);
    for (int i = 0; i < 3; i++)
        cublasGemmEx(hd, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, CUDA_R_16BF, n, B, CUDA_R_16BF, n, &zero, C,
                     CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    cudaEventRecord(e0, 0);
    for (int i = 0; i < 10; i++)
        cublasGemmEx(hd, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, CUDA_R_16BF, n, B, CUDA_R_16BF, n, &zero, C,
                     CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    cudaEventRecord(e1, 0);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    cublasDestroy(hd);
    cudaFree(A); cudaFree(B); cudaFree(C);
    return 2.0 * n * n * (double)n * 10 / (ms / 1e3) / 1e12;
}

static FILE *js;

static void bench(daoe_precision prec, const char *optimizer, int width, int B, int warm, int steps, double bw) {
    static const char *pn[] = {"fp32", "tf32", "bf16"};
    char err[512];
    daoe_config cfg;
    daoe_config_defaults(&cfg);
    snprintf(cfg.backend, sizeof cfg.backend, "cuda");
    cfg.precision = prec;
    cfg.width = width;
    cfg.batch = B;
    cfg.seed = 1;
    if (daoe_config_set(&cfg, "optimizer", optimizer, err, sizeof err) || daoe_config_validate(&cfg, 0, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    daoe_session_opts so = {.total_steps = 100000};
    daoe_session *ss = daoe_session_create(&cfg, &so, err, sizeof err);
    if (!ss) { fprintf(stderr, "%s\n", err); exit(1); }
    daoe_backend *be = ss->be;
    const int NI = 4096;
    uint8_t *img = daoe_xmalloc((size_t)NI * 3072);
    int32_t *lab = daoe_xmalloc(sizeof(int32_t) * NI), *idx = daoe_xmalloc(sizeof(int32_t) * B);
    for (size_t i = 0; i < (size_t)NI * 3072; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
    for (int i = 0; i < NI; i++) lab[i] = i % 10;
    daoe_session_set_images(ss, DAOE_SET_TRAIN, img, lab, NI);
    double t0 = 0;
    for (int s = 0; s < warm + steps; s++) {
        if (s == warm) { be->sync(be); t0 = daoe_now(); }
        for (int i = 0; i < B; i++) idx[i] = (s * B + i) % NI;
        daoe_session_train_step(ss, idx, 0);
        if (s % 50 == 49) { daoe_trace tr[64]; daoe_session_read_trace(ss, tr); }
    }
    be->sync(be);
    double dt = daoe_now() - t0, ips = (double)B * steps / dt, tf = daoe_net_train_flops(&ss->net) * ips / 1e12;
    /* the fused optimizer pass alone, and the controller kernel alone */
    int reps = 50;
    be->sync(be);
    double o0 = daoe_now();
    for (int i = 0; i < reps; i++) be->opt_step(be, &ss->opt, DAOE_PASS_UPDATE);
    be->sync(be);
    double t_o1 = daoe_now();
    for (int i = 0; i < reps; i++) be->ctrl_step(be, &ss->opt, DAOE_CTRL_STEP);
    be->sync(be);
    double ot = (t_o1 - o0) / reps, ct = (daoe_now() - t_o1) / reps, gbs = (daoe_opt_bytes_per_elem(&ss->opt) * (double)ss->opt.n) / ot / 1e9;
    printf("%-5s %-8s width %-3d batch %-4d %9.0f img/s %8.3f ms/step %7.1f TFLOP/s | opt pass %7.1f us %7.0f GB/s (%3.0f%% of copy), controller %5.1f us\n",
           pn[prec], optimizer, width, B, ips, 1e3 * dt / steps, tf, ot * 1e6, gbs, 100 * gbs / bw, ct * 1e6);
    fflush(stdout);
    if (js)
        fprintf(js, "{\"kind\":\"daoe\",\"precision\":\"%s\",\"optimizer\":\"%s\",\"width\":%d,\"batch\":%d,\"img_per_s\":%.1f,"
                    "\"ms_per_step\":%.4f,\"tflops\":%.2f,\"opt_us\":%.2f,\"ctrl_us\":%.2f,\"opt_gbs\":%.1f,\"opt_bytes\":%.0f,\"device\":\"%s\"}\n",
                pn[prec], optimizer, width, B, ips, 1e3 * dt / steps, tf, ot * 1e6, ct * 1e6, gbs, (daoe_opt_bytes_per_elem(&ss->opt) * (double)ss->opt.n), be->desc);
    daoe_session_free(ss);
    free(img); free(lab); free(idx);
}

/* the optimizer pass alone for each configuration on an n-element buffer: kernel times by events */
static void opt_sweep(double bw) {
    static const char *cfgs[][2] = {{"sgd", NULL}, {"sgd", "--features none"}, {"adam", NULL},
                                    {"rmsprop", NULL}, {"lion", NULL}, {"daoe", "--controller fixed"},
                                    {"daoe", NULL}, {"daoe", "--features none"},
                                    {"daoe", "--members sgd,adam"}, {"daoe", "--members rmsprop,lion"}};
    char err[512];
    const daoe_backend_options bo = tool_backend_options(DAOE_FP32, 0, DAOE_CPU_CONV_IM2COL);
    daoe_backend *be = daoe_cuda_backend_create(&bo, err, sizeof err);
    const size_t n = 11173962;
    float *h = daoe_xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    float *p = be->alloc(be, sizeof(float) * n), *g = be->alloc(be, sizeof(float) * n);
    be->to_device(be, p, h, sizeof(float) * n);
    be->to_device(be, g, h, sizeof(float) * n);
    for (size_t c = 0; c < sizeof cfgs / sizeof *cfgs; c++) {
        daoe_config cfg;
        daoe_config_defaults(&cfg);
        char flags[128];
        snprintf(flags, sizeof flags, "--optimizer %s %s", cfgs[c][0], cfgs[c][1] ? cfgs[c][1] : "");
        if (daoe_config_from_flags(&cfg, flags, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
        daoe_opt o;
        daoe_opt_setup(&o, be, &cfg, p, g, n, n, 100000, 64);
        daoe_step_consts sc;
        daoe_step_consts_fill(&cfg, 5, 0, 100000, 0, &sc);
        be->to_device(be, o.consts, &sc, sizeof sc);
        for (int i = 0; i < 3; i++) { be->opt_step(be, &o, DAOE_PASS_UPDATE); be->ctrl_step(be, &o, DAOE_CTRL_STEP); }
        be->sync(be);
        double t0 = daoe_now();
        for (int i = 0; i < 20; i++) be->opt_step(be, &o, DAOE_PASS_UPDATE);
        be->sync(be);
        double t1 = daoe_now();
        for (int i = 0; i < 20; i++) be->ctrl_step(be, &o, DAOE_CTRL_STEP);
        be->sync(be);
        double t2 = daoe_now();
        double ko = (t1 - t0) / 20, kc = (t2 - t1) / 20, gb = (daoe_opt_bytes_per_elem(&o) * (double)o.n) / ko / 1e9;
        printf("opt-sweep %-8s %-22s opt %8.1f us %6.0f GB/s (%3.0f%%)  ctrl %7.1f us  %5.0f MB\n", cfgs[c][0],
               cfgs[c][1] ? cfgs[c][1] : "", ko * 1e6, gb, 100 * gb / bw, kc * 1e6, (daoe_opt_bytes_per_elem(&o) * (double)o.n) / 1e6);
        if (js)
            fprintf(js, "{\"kind\":\"opt_sweep\",\"optimizer\":\"%s\",\"extra\":\"%s\",\"opt_us\":%.2f,\"ctrl_us\":%.2f,\"gbs\":%.1f}\n",
                    cfgs[c][0], cfgs[c][1] ? cfgs[c][1] : "", ko * 1e6, kc * 1e6, gb);
        daoe_opt_free(&o, be);
    }
    be->free(be, p);
    be->free(be, g);
    be->destroy(be);
    free(h);
}

int main(int argc, char **argv) {
    int steps = 100, warm = 15, width = 64, B = 128, sweep_only = 0;
    const char *json = NULL;
    const tool_flag flags[] = {
        {"--steps", TOOL_FLAG_INT, &steps, 1, 1 << 20, "N", NULL},
        {"--width", TOOL_FLAG_INT, &width, 1, 4096, "N", NULL},
        {"--batch", TOOL_FLAG_INT, &B, 1, 1 << 16, "N", NULL},
        {"--json", TOOL_FLAG_STR, &json, 0, 0, "FILE", NULL},
        {"--opt-sweep", TOOL_FLAG_SWITCH, &sweep_only, 0, 0, NULL, NULL},
    };
    tool_flags(argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), NULL);
    if (daoe_cuda_device_count() == 0) { fprintf(stderr, "daoe-bench-gpu: no GPU\n"); return 77; }
    if (json) js = fopen(json, "w");
    double bw = copy_bw(), tf = gemm_rate();
    printf("device-to-device copy: %.0f GB/s (read + write); cuBLAS bf16 GEMM 8192^3: %.0f TFLOP/s\n", bw, tf);
    if (js) fprintf(js, "{\"kind\":\"ceilings\",\"copy_gbs\":%.1f,\"gemm_bf16_tflops\":%.1f}\n", bw, tf);
    opt_sweep(bw);
    if (sweep_only) { if (js) fclose(js); return 0; }
    bench(DAOE_BF16, "sgd", width, B, warm, steps, bw);
    bench(DAOE_BF16, "daoe", width, B, warm, steps, bw);
    bench(DAOE_TF32, "sgd", width, B, warm, steps / 2, bw);
    bench(DAOE_FP32, "sgd", width, B, warm, steps / 2, bw);
    bench(DAOE_FP32, "daoe", width, B, warm, steps / 2, bw);
    if (js) fclose(js);
    return 0;
}
#endif
