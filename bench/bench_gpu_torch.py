"""PyTorch side of the GPU benchmark: the same training step (CIFAR ResNet-18,
width 64, batch 128, SGD momentum 0.9 wd 5e-4, synthetic data resident on the
GPU) in eager fp32 (TF32 off), eager TF32, eager AMP bf16 with channels_last,
and torch.compile of the AMP bf16 channels_last model. Timed with CUDA events
after warm-up; prints img/s per mode and writes JSON lines with --json."""
import argparse
import json
import time

import torch

from torch_resnet import ResNet18, train_step

ap = argparse.ArgumentParser()
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--warmup", type=int, default=15)
ap.add_argument("--modes", default="eager_fp32,eager_tf32,eager_amp_bf16_cl,compile_amp_bf16_cl")
ap.add_argument("--json", default=None)
a = ap.parse_args()
dev = torch.device("cuda")
torch.manual_seed(0)
out = open(a.json, "w") if a.json else None


def run(mode):
    tf32 = mode == "eager_tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    amp = "amp" in mode
    cl = mode.endswith("_cl")
    model = ResNet18(a.width).to(dev)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    fwd = torch.compile(model) if mode.startswith("compile") else model
    x = torch.randn(a.batch, 3, 32, 32, device=dev)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.batch,), device=dev)

    def step():
        train_step(fwd, opt, x, y, "cuda", amp)

    t0 = time.time()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    warm_s = time.time() - t0
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(a.steps):
        step()
    e1.record()
    torch.cuda.synchronize()
    ms = e0.elapsed_time(e1) / a.steps
    ips = a.batch / (ms / 1e3)
    print(f"torch {mode:22s} {ips:9.0f} img/s {ms:8.3f} ms/step (warm-up incl. compile {warm_s:.1f} s)", flush=True)
    if out:
        out.write(json.dumps({"kind": "torch", "mode": mode, "img_per_s": ips, "ms_per_step": ms, "warmup_s": warm_s,
                              "torch": torch.__version__, "device": torch.cuda.get_device_name()}) + "\n")
        out.flush()


print("torch", torch.__version__, torch.cuda.get_device_name(), flush=True)
for m in a.modes.split(","):
    try:
        run(m)
    except Exception as e:  # report and go on: one failing mode must not hide the others
        print(f"torch {m}: FAILED: {type(e).__name__}: {e}", flush=True)
