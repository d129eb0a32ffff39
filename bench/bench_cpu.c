/* CPU training-step benchmark: forward, backward and an SGD step of the CIFAR
 * ResNet-18 on random data at batch 128, after a warm-up; median of timed
 * steps. Prints img/s, GFLOP/s (counted from the layer shapes) and, when
 * --torch is given, runs the same steps in PyTorch (bench/bench_cpu_torch.py)
 * in the same invocation and prints the ratio. Also measures the sgemm peak.
 * --cpu-conv im2col,dnnl,dnnl-bf16 (the default: every engine this build
 * and CPU have) times each convolution engine of the CPU backend on the same
 * steps; dnnl-bf16 (--precision bf16) is compared with PyTorch under
 * torch.autocast(bfloat16) as well as with PyTorch fp32; --convs
 * also times the network's convolutions alone per engine (their rows use
 * the step's FLOP count, of which the linear layer is a negligible part). */
#include "daoe/session.h"
#include "daoe/cpu_blas.h"
#include "daoe/rng.h"
#include "daoe/util.h"
#include "tool.h"
#include "bench_parts.h"
#include <cjson/cJSON.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The network's convolutions alone (bench_convs_alone, bench/bench_parts.c: each
 * direction's best of reps): seconds per step of convolutions (what the step spends
 * outside them is batch norm, pooling, the head, the optimizer and the reorders). */
static double conv_seconds(daoe_backend *be, const daoe_net *net, int N, int reps) {
    double t[3];
    bench_convs_alone(be, be, net, N, reps, t);
    return t[0] + t[1] + t[2];
}

static double sgemm_peak(void) {
    const int n = 2048;
    float *a = daoe_xmalloc(sizeof(float) * n * n), *b = daoe_xmalloc(sizeof(float) * n * n),
          *c = daoe_xmalloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (float)((i * 7919) % 1000) / 1000.0f;
        b[i] = (float)((i * 104729) % 1000) / 1000.0f;
    }
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t = daoe_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = daoe_now() - t;
        if (r && t < best) best = t;
    }
    free(a); free(b); free(c);
    return 2.0 * n * n * n / best / 1e9;
}


/* One PyTorch measurement: PY bench_cpu_torch.py ... --mode MODE; returns the
 * median ms per step (NAN when the run failed or the mode is not available:
 * torch.compile before PyTorch 2), and the range in lo/hi. */
static double torch_ms(const char *py, const char *mode, int w, int batch, int threads, int nsteps, int warm, double *lo,
                       double *hi) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/bench_cpu_torch.py --width %d --batch %d --threads %d --steps %d --warmup %d %s 2>&1",
             py, DAOE_BENCH_DIR, w, batch, threads, nsteps, warm, mode);
    FILE *p = popen(cmd, "r");
    double tms = NAN;
    char line[512];
    *lo = *hi = NAN;
    while (p && fgets(line, sizeof line, p)) {
        if (!strncmp(line, "median_ms ", 10)) tms = atof(line + 10);
        else if (!strncmp(line, "range_ms ", 9)) sscanf(line + 9, "%lf %lf", lo, hi);
        else if (!strncmp(line, "torch ", 6)) printf("#   %s", line); /* version, threads, mode, ATen's ISA */
    }
    if (p) pclose(p);
    return tms;
}

/* "pt2.15" for the PyTorch that PY imports ("" when it has none) */
static void torch_tag(const char *py, char *tag, size_t n) {
    char cmd[600], line[128] = "";
    snprintf(cmd, sizeof cmd, "%s -c 'import torch; v = torch.__version__.split(\".\"); print(v[0] + \".\" + v[1])' 2>/dev/null", py);
    FILE *p = popen(cmd, "r");
    if (p && fgets(line, sizeof line, p)) line[strcspn(line, "\n")] = 0;
    if (p) pclose(p);
    snprintf(tag, n, "%s%s", line[0] ? "pt" : "", line);
}

int main(int argc, char **argv) {
    int threads = 2, batch = 128, with_torch = 0, warm = 2, steps64 = 5, steps16 = 15, conv_only = 0, parts = 0;
    const char *optimizer = "sgd";
    /* --torch-py: further Pythons whose PyTorch runs beside Debian's 1.13 (/usr/bin/python3): a
     * virtual environment with the current PyTorch (README, "CPU speed"); also DAOE_TORCH_PY */
    char torch_py[1024] = "";
    if (getenv("DAOE_TORCH_PY")) snprintf(torch_py, sizeof torch_py, "%s", getenv("DAOE_TORCH_PY"));
    /* the engines: convolutions and precision */
    static const struct { const char *name; daoe_cpu_conv conv; daoe_precision prec; } known[] = {
        {"im2col", DAOE_CPU_CONV_IM2COL, DAOE_FP32},
        {"dnnl", DAOE_CPU_CONV_DNNL, DAOE_FP32},
        {"dnnl-bf16", DAOE_CPU_CONV_DNNL, DAOE_BF16},
    };
    enum { NKNOWN = 3 };
    int engines[NKNOWN], ne = 0, asked = 0; /* indices into known */
    for (int k = 0; k < NKNOWN; k++) engines[ne++] = k;
    int widths[8] = {64, 16}, nw = 2;
    int steps = 0;
    const char *torch_py_arg = NULL, *convs_arg = NULL, *widths_arg = NULL;
    const tool_flag flags[] = {
        {"--threads", TOOL_FLAG_INT, &threads, 1, 4096, "N", NULL},
        {"--batch", TOOL_FLAG_INT, &batch, 1, 1 << 16, "N", NULL},
        {"--steps", TOOL_FLAG_INT, &steps, 1, 1 << 20, "N", NULL},
        {"--widths", TOOL_FLAG_STR, &widths_arg, 0, 0, "64,16", NULL},
        {"--optimizer", TOOL_FLAG_STR, &optimizer, 0, 0, "sgd|daoe", NULL},
        {"--cpu-conv", TOOL_FLAG_STR, &convs_arg, 0, 0, "im2col,dnnl,dnnl-bf16", NULL},
        {"--convs", TOOL_FLAG_SWITCH, &conv_only, 0, 0, NULL, "also time the network's convolutions alone (each engine)"},
        {"--parts", TOOL_FLAG_SWITCH, &parts, 0, 0, NULL,
         "instead of the table, one step taken apart per engine, SGD and DAO-E: time per op family against the\n"
         "    measured sgemm peak and copy bandwidth, evaluation per image (bench/bench_parts.c)"},
        {"--torch", TOOL_FLAG_SWITCH, &with_torch, 0, 0, NULL, "PyTorch 1.13 (/usr/bin/python3) on the same steps"},
        {"--torch-py", TOOL_FLAG_STR, &torch_py_arg, 0, 0, "PY,...",
         "also each PY's PyTorch (eager NCHW, eager channels_last, torch.compile, autocast bf16 where the CPU\n"
         "    has bf16)"},
    };
    tool_flags(argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), NULL);
    if (steps) steps64 = steps16 = steps;
    if (torch_py_arg) snprintf(torch_py, sizeof torch_py, "%s", torch_py_arg);
    char list[1024];
    if (convs_arg) {
        ne = 0;
        asked = 1;
        snprintf(list, sizeof list, "%s", convs_arg);
        for (char *t = strtok(list, ","); t && ne < NKNOWN; t = strtok(NULL, ",")) {
            int k = 0;
            while (k < NKNOWN && strcmp(t, known[k].name)) k++;
            if (k == NKNOWN) tool_die("--cpu-conv: unknown engine '%s' (im2col|dnnl|dnnl-bf16)", t);
            engines[ne++] = k;
        }
    }
    if (widths_arg) {
        nw = 0;
        snprintf(list, sizeof list, "%s", widths_arg);
        for (char *t = strtok(list, ","); t && nw < 8; t = strtok(NULL, ",")) widths[nw++] = tool_parse_int("--widths", t, 1, 4096);
    }
    char err[512];
    const daoe_backend_options bo = tool_backend_options(DAOE_FP32, threads, DAOE_CPU_CONV_IM2COL);
    daoe_backend *be = daoe_cpu_backend_create(&bo, err, sizeof err);
    double peak = sgemm_peak();
    printf("CPU training-step benchmark: batch %d, %d threads, optimizer %s\n", batch, threads, optimizer);
    const daoe_blas_info *bi = daoe_blas_get_info();
    printf("machine: %s\n", be->desc);
    printf("CPU vector ISA: %s; OpenBLAS kernels: %s (%s), chosen by %s%s%s; self-check %s\n",
           daoe_blas_isa_name(bi->cpu_isa), bi->core, daoe_blas_isa_name(bi->core_isa), bi->chosen_by,
           bi->note[0] ? "; " : "", bi->note, bi->selfcheck_ok ? "ok" : "FAILED");
    printf("OpenBLAS sgemm 2048^3 (the im2col engine's kernels): %.1f GFLOP/s\n", peak);
    be->destroy(be);
    daoe_backend *bes[NKNOWN];
    int have_bf16 = 0;
    for (int e = 0; e < ne; e++) {
        const int k = engines[e];
        const daoe_backend_options ko = tool_backend_options(known[k].prec, threads, known[k].conv);
        bes[e] = daoe_cpu_backend_create(&ko, err, sizeof err);
        if (!bes[e]) {
            /* an engine asked for must run; one of the default list may be missing here */
            printf("engine %s: not here: %s\n", known[k].name, err);
            if (asked) return 2;
            memmove(engines + e, engines + e + 1, sizeof engines[0] * (size_t)(ne - e - 1));
            ne--, e--;
            continue;
        }
        if (known[k].prec == DAOE_BF16) have_bf16 = 1;
    }
    /* random normalised input and labels, the same batch every step of every engine */
    float *xin = daoe_xmalloc(sizeof(float) * batch * 3072);
    for (long i = 0; i < (long)batch * 3072; i++) {
        philox4x32_ctr_t r = daoe_philox(7, (uint32_t)i, 0, 0, 9);
        xin[i] = (float)((double)r.v[0] / 4294967296.0 * 2.0 - 1.0);
    }
    printf("%-6s %-14s %10s %10s %10s %12s %10s\n", "width", "impl", "ms/step", "img/s", "GFLOP/s",
           "%sgemm-peak", "vs torch");
    for (int wi = 0; wi < nw && !parts; wi++) { /* --parts: the parts tables alone */
        int w = widths[wi];
        daoe_config cfg;
        daoe_config_defaults(&cfg);
        cfg.width = w;
        cfg.batch = batch;
        cfg.seed = 1;
        if (daoe_config_set(&cfg, "optimizer", optimizer, err, sizeof err) ||
            daoe_config_validate(&cfg, 0, err, sizeof err)) {
            fprintf(stderr, "daoe-bench-cpu: %s\n", err);
            return 2;
        }
        int nsteps = w >= 64 ? steps64 : steps16;
        double ours[NKNOWN] = {0}, flops = 0;
        for (int e = 0; e < ne; e++) {
            daoe_backend *b = bes[e];
            daoe_session_opts so = {.be = b, .total_steps = 1000};
            daoe_session *ss = daoe_session_create(&cfg, &so, err, sizeof err);
            daoe_net *net = &ss->net;
            b->act_from_host(b, net->x, batch, 3, 32, 32, xin);
            for (int i = 0; i < batch; i++) net->y[i] = i % 10;
            double *ts = daoe_xmalloc(sizeof(double) * (size_t)(nsteps + warm));
            for (int s = 0; s < warm + nsteps; s++) {
                double t = daoe_now();
                daoe_session_step(ss, 0);
                ts[s] = daoe_now() - t;
            }
            qsort(ts + warm, (size_t)nsteps, sizeof(double), cmpd);
            double med = ts[warm + nsteps / 2];
            flops = daoe_net_train_flops(net) * batch;
            ours[e] = batch / med;
            char name[32];
            snprintf(name, sizeof name, "daoe-c %s", known[engines[e]].name);
            printf("%-6d %-14s %10.1f %10.1f %10.1f %11.0f%% %10s\n", w, name, med * 1e3, ours[e],
                   flops / med / 1e9, 100.0 * flops / med / 1e9 / peak, "");
            if (conv_only) {
                double tc = conv_seconds(b, net, batch, 2);
                char cname[32];
                snprintf(cname, sizeof cname, "  convs %s", known[engines[e]].name);
                printf("%-6d %-14s %10.1f %10.1f %10.1f %11.0f%% %10s  (convolutions alone: %.0f %% of the step)\n", w,
                       cname, tc * 1e3, batch / tc, flops / tc / 1e9, 100.0 * flops / tc / 1e9 / peak, "",
                       100.0 * tc / med);
            }
            fflush(stdout);
            free(ts);
            daoe_session_free(ss);
        }
        if (with_torch) {
            /* PyTorch fp32, and with autocast bf16 when a bf16 engine runs */
            double ti[2] = {NAN, NAN};
            for (int b16 = 0; b16 <= have_bf16; b16++) {
                char cmd[1024];
                snprintf(cmd, sizeof cmd,
                         "/usr/bin/python3 %s/bench_cpu_torch.py --width %d --batch %d --threads %d --steps %d --warmup %d%s",
                         DAOE_BENCH_DIR, w, batch, threads, nsteps, warm, b16 ? " --bf16" : "");
                FILE *p = popen(cmd, "r");
                double tms = NAN;
                char line[512];
                while (p && fgets(line, sizeof line, p))
                    if (!strncmp(line, "median_ms ", 10)) tms = atof(line + 10);
                if (p) pclose(p);
                const char *tname = b16 ? "torch-bf16" : "torch";
                if (!isfinite(tms)) {
                    printf("%-6d %-14s  (PyTorch run failed: is python3-torch installed?)\n", w, tname);
                    continue;
                }
                ti[b16] = batch / (tms / 1e3);
                printf("%-6d %-14s %10.1f %10.1f %10.1f %11.0f%% %10s\n", w, tname, tms, ti[b16],
                       flops / (tms / 1e3) / 1e9, 100.0 * flops / (tms / 1e3) / 1e9 / peak, "1.00x");
            }
            for (int e = 0; e < ne; e++) {
                char rname[48];
                snprintf(rname, sizeof rname, "ratio %s", known[engines[e]].name);
                printf("%-6d %-14s %10s %10s %10s %12s %9.2fx", w, rname, "", "", "", "", ours[e] / ti[0]);
                if (known[engines[e]].prec == DAOE_BF16) printf("  (vs torch-bf16: %.2fx)", ours[e] / ti[1]);
                printf("\n");
            }
            fflush(stdout);
            /* the current PyTorch: each mode once, then our engines against its best fp32 mode */
            char pys[1024];
            snprintf(pys, sizeof pys, "%s", torch_py);
            char *save = NULL;
            for (char *py = strtok_r(pys, ",", &save); py; py = strtok_r(NULL, ",", &save)) {
                char tag[32];
                torch_tag(py, tag, sizeof tag);
                if (!tag[0]) {
                    printf("%-6d %-14s  (no PyTorch in %s)\n", w, "torch-py", py);
                    continue;
                }
                static const char *const modes[] = {"eager", "cl", "compile", "bf16"};
                double best = NAN, bf = NAN;
                const char *best_mode = "";
                for (int m = 0; m < 4; m++) {
                    if (m == 3 && !have_bf16) continue; /* autocast bf16 only where the CPU has bf16 */
                    char arg[32], name[48];
                    snprintf(arg, sizeof arg, "--mode %s", modes[m]);
                    snprintf(name, sizeof name, "%s-%s", tag, modes[m]);
                    double lo, hi, tms = torch_ms(py, arg, w, batch, threads, nsteps, warm, &lo, &hi);
                    if (!isfinite(tms)) {
                        printf("%-6d %-14s  (failed or not available)\n", w, name);
                        continue;
                    }
                    double ips = batch / (tms / 1e3);
                    printf("%-6d %-14s %10.1f %10.1f %10.1f %11.0f%% %10s  (step %.1f-%.1f ms)\n", w, name, tms, ips,
                           flops / (tms / 1e3) / 1e9, 100.0 * flops / (tms / 1e3) / 1e9 / peak, "", lo, hi);
                    if (m == 3) bf = ips;
                    else if (!(ips <= best)) best = ips, best_mode = modes[m];
                    fflush(stdout);
                }
                for (int e = 0; e < ne; e++) {
                    char rname[48];
                    snprintf(rname, sizeof rname, "vs-%s %s", tag, known[engines[e]].name);
                    printf("%-6d %-14s %10s %10s %10s %12s %9.2fx  (best fp32 mode: %s)", w, rname, "", "", "", "",
                           ours[e] / best, best_mode);
                    if (known[engines[e]].prec == DAOE_BF16 && isfinite(bf)) printf("  (vs %s-bf16: %.2fx)", tag, ours[e] / bf);
                    printf("\n");
                }
                fflush(stdout);
            }
        }
    }
    if (parts) {
        double bw = bench_copy_bandwidth(threads);
        for (int wi = 0; wi < nw; wi++)
            for (int e = 0; e < ne; e++)
                for (int o = 0; o < 2; o++)
                    if (bench_parts(bes[e], known[engines[e]].name, widths[wi], batch, o ? "daoe" : "sgd",
                                    widths[wi] >= 64 ? steps64 : steps16, peak, bw))
                        return 2;
    }
    for (int e = 0; e < ne; e++) {
        if (known[engines[e]].conv == DAOE_CPU_CONV_DNNL) {
            cJSON *o = cJSON_CreateObject();
            bes[e]->describe(bes[e], o);
            cJSON *d = cJSON_GetObjectItem(o, "onednn");
            cJSON *isa = d ? cJSON_GetObjectItem(d, "isa") : NULL, *im = d ? cJSON_GetObjectItem(d, "implementations") : NULL;
            printf("%s engine: %s; oneDNN ISA %s; implementations chosen: %s\n", known[engines[e]].name, bes[e]->desc,
                   isa ? isa->valuestring : "?", im ? im->valuestring : "?");
            cJSON_Delete(o);
        }
        bes[e]->destroy(bes[e]);
    }
    free(xin);
    return 0;
}
