"""PyTorch side of daoe-bench-cpu: the same training steps (forward, backward,
SGD step) of the CIFAR ResNet-18 on random data; prints 'median_ms X'.
Modes (--mode):
  eager     fp32, NCHW (the default memory format)
  cl        fp32, channels_last (model and input): the layout oneDNN-backed ATen prefers
  bf16      channels_last, the forward pass and loss under torch.autocast("cpu", bfloat16)
            (PyTorch's mixed precision: convolutions in bf16, parameters fp32)
  compile   fp32 channels_last, the model under torch.compile (inductor, PyTorch >= 2);
            its compilation happens in the warm-up steps and is not timed
--bf16 is the old spelling of --mode bf16 with NCHW (kept for the recorded files)."""
import argparse
import time

import torch

from torch_resnet import ResNet18, train_step

ap = argparse.ArgumentParser()
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--mode", choices=["eager", "cl", "bf16", "compile"], default="eager")
ap.add_argument("--bf16", action="store_true", help="forward and loss under torch.autocast('cpu', bfloat16), NCHW")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = ResNet18(a.width).train()
x = torch.rand(a.batch, 3, 32, 32) * 2 - 1
y = torch.arange(a.batch) % 10
bf16 = a.bf16 or a.mode == "bf16"
if a.mode in ("cl", "bf16", "compile"):
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
fwd = model
warmup = a.warmup
if a.mode == "compile":
    if not hasattr(torch, "compile"):
        raise SystemExit("torch.compile needs PyTorch >= 2 (this is %s)" % torch.__version__)
    fwd = torch.compile(model)
    warmup = max(warmup, 3)  # the first calls compile the forward and backward graphs


ts = []
for i in range(warmup + a.steps):
    t = time.perf_counter()
    train_step(fwd, opt, x, y, "cpu", bf16)
    ts.append(time.perf_counter() - t)
cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
print("torch", torch.__version__, "threads", torch.get_num_threads(), "mode", a.mode if not a.bf16 else "bf16-nchw",
      "capability", cap, "warmup_s %.1f" % sum(ts[:warmup]))
ts = sorted(ts[warmup:])
print("median_ms %.3f" % (ts[len(ts) // 2] * 1e3))
print("range_ms %.3f %.3f" % (ts[0] * 1e3, ts[-1] * 1e3))
