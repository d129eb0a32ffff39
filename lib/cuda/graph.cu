/* CUDA backend, run_step: a training step captured as a CUDA graph (per key)
 * after one direct run, and replayed after; cuda_drop_graphs releases them
 * (every free and every move of the cuDNN workspace does: a graph holds raw
 * addresses). No op lives here. */
#include "cuda_common.cuh"

void cuda_drop_graphs(cuda_impl *im) {
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    for (int i = 0; i < im->ngraphs; i++)
        if (im->graphs[i].exec) {
            CUDA_CHECK(cudaGraphExecDestroy(im->graphs[i].exec));
            CUDA_CHECK(cudaGraphDestroy(im->graphs[i].graph));
        }
    im->ngraphs = 0;
}

void cuda_run_step(daoe_backend *be, int key, void (*fn)(void *), void *ctx) {
    cuda_impl *im = cuda_impl_of(be);
    if (im->debug_sync || im->no_graph) {
        fn(ctx);
        return;
    }
    int gi = -1;
    for (int i = 0; i < im->ngraphs; i++)
        if (im->graphs[i].key == key) gi = i;
    if (gi >= 0 && im->graphs[gi].ctx != ctx) { /* other buffers under the same key: capture anew */
        cuda_drop_graphs(im);
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
        im->graph_captures++;
    }
    CUDA_CHECK(cudaGraphLaunch(im->graphs[gi].exec, im->stream));
    LAUNCH_CHECK(im, "cudaGraphLaunch");
}

