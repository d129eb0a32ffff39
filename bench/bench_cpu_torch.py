"""PyTorch side of daoe-bench-cpu: the same training steps (forward, backward,
SGD step) of the CIFAR ResNet-18 on random data; prints 'median_ms X'.
--bf16: the forward pass and loss under torch.autocast("cpu", bfloat16)
(PyTorch's mixed precision: convolutions in bf16, parameters fp32)."""
import argparse
import time

import torch

from torch_resnet import ResNet18

ap = argparse.ArgumentParser()
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--bf16", action="store_true", help="forward and loss under torch.autocast('cpu', bfloat16)")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = ResNet18(a.width).train()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
x = torch.rand(a.batch, 3, 32, 32) * 2 - 1
y = torch.arange(a.batch) % 10
ts = []
for i in range(a.warmup + a.steps):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    ts.append(time.perf_counter() - t)
ts = sorted(ts[a.warmup:])
print("torch", torch.__version__, "threads", torch.get_num_threads())
print("median_ms %.3f" % (ts[len(ts) // 2] * 1e3))
