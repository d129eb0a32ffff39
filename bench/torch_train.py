"""PyTorch twin of one daoe-train run, for comparing accuracy and wall time on
the same recipe: the CIFAR ResNet-18 of bench/torch_resnet.py, batch 128, SGD
(momentum 0.9, weight decay 5e-4 on every parameter), cosine schedule stepped
per iteration, the first 45,000 training images (the last 5,000 held out for
validation), random crop with 4 pixels of black padding and horizontal flip,
per-channel normalisation with daoe-train's constants, incomplete last batch
dropped, Kaiming-normal convolutions. The data stays on the GPU as bytes and
is augmented there; eager mode, AMP bf16, channels_last (the fastest eager
mode in results/gpu_check/). Its random numbers are PyTorch's, not Philox, so
it matches a daoe-train run in distribution, not bit for bit.

  python3 bench/torch_train.py --data $CIFAR10_DIR --epochs 10 --json out.json
Prints one line per epoch and a final line with test accuracy and wall time."""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_resnet import ResNet18  # noqa: E402

# lib/core/cifar10.c: daoe_cifar_mean / daoe_cifar_std
MEAN = (0.49139968, 0.48215841, 0.44653091)
STD = (0.24703223, 0.24348513, 0.26158784)
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]


def read_cifar(folder, names):
    raw = np.concatenate([np.fromfile(os.path.join(folder, n), dtype=np.uint8) for n in names])
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def augment(xb, gen):
    """xb: [N, 3, 32, 32] uint8 on the device -> random 32x32 crop of the
    4-padded image (padding = black pixels) and a random horizontal flip."""
    n = xb.shape[0]
    padded = F.pad(xb, (4, 4, 4, 4))
    oy = torch.randint(0, 9, (n,), device=xb.device, generator=gen)
    ox = torch.randint(0, 9, (n,), device=xb.device, generator=gen)
    flip = torch.rand(n, device=xb.device, generator=gen) < 0.5
    ar = torch.arange(32, device=xb.device)
    rows = (oy[:, None] + ar[None, :])                                  # [N, 32]
    cols = ox[:, None] + torch.where(flip[:, None], 31 - ar[None, :], ar[None, :])
    idx_r = rows[:, None, :, None].expand(n, 3, 32, 40)
    out = torch.gather(padded, 2, idx_r)                                # [N, 3, 32, 40]
    idx_c = cols[:, None, None, :].expand(n, 3, 32, 32)
    return torch.gather(out, 3, idx_c)                                  # [N, 3, 32, 32]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--val", type=int, default=5000)
    ap.add_argument("--train-subset", type=int, default=0)
    ap.add_argument("--test-subset", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--no-amp", action="store_true", help="fp32 instead of AMP bf16")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (torch.set_num_threads; 0: torch's default)")
    ap.add_argument("--no-channels-last", action="store_true", help="NCHW tensors instead of channels_last")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if not a.data:
        sys.exit("torch_train.py: no data folder: pass --data or set CIFAR10_DIR")
    t_start = time.time()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.manual_seed(a.seed)
    torch.backends.cudnn.benchmark = True
    x_all, y_all = read_cifar(a.data, TRAIN_FILES)
    nval = a.val
    ntrain = len(x_all) - nval
    if a.train_subset:
        ntrain = min(ntrain, a.train_subset)
    x_test, y_test = read_cifar(a.data, ["test_batch.bin"])
    if a.test_subset:
        x_test, y_test = x_test[:a.test_subset], y_test[:a.test_subset]
    to = lambda v: torch.from_numpy(np.ascontiguousarray(v)).to(dev)   # noqa: E731
    xtr, ytr = to(x_all[:ntrain]), to(y_all[:ntrain])
    xva, yva = to(x_all[len(x_all) - nval:]), to(y_all[len(x_all) - nval:])
    xte, yte = to(x_test), to(y_test)
    mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=dev).view(1, 3, 1, 1)
    cl = torch.contiguous_format if a.no_channels_last else torch.channels_last

    def prep(xb):
        return ((xb.float() * (1.0 / 255.0) - mean) / std).contiguous(memory_format=cl)

    model = ResNet18(a.width)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    model = model.to(dev).to(memory_format=cl)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    spe = ntrain // a.batch
    total = spe * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1.0 + math.cos(math.pi * k / total)))
    amp = not a.no_amp
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)

    def evaluate(x, y):
        model.eval()
        correct, loss = 0, 0.0
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            for i in range(0, len(x), 1000):
                out = model(prep(x[i:i + 1000])).float()
                loss += F.cross_entropy(out, y[i:i + 1000], reduction="sum").item()
                correct += (out.argmax(1) == y[i:i + 1000]).sum().item()
        model.train()
        return loss / max(1, len(x)), correct / max(1, len(x))

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name() if cuda else 'cpu'}: "
          f"{ntrain} training images, {spe} steps/epoch, {a.epochs} epochs, amp bf16 {amp}, "
          f"{torch.get_num_threads()} threads", flush=True)
    epochs, train_s = [], 0.0
    setup_s = time.time() - t_start
    for ep in range(a.epochs):
        sync()
        t0 = time.time()
        perm = torch.randperm(ntrain, device=dev, generator=gen)
        tl = torch.zeros((), device=dev)
        tc = torch.zeros((), device=dev)
        for s in range(spe):
            idx = perm[s * a.batch:(s + 1) * a.batch]
            xb, yb = prep(augment(xtr[idx], gen)), ytr[idx]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                out = model(xb)
                loss = F.cross_entropy(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tl += loss.detach()
            tc += (out.argmax(1) == yb).sum()
        sync()
        dt = time.time() - t0
        train_s += dt
        test_loss, test_acc = evaluate(xte, yte)
        row = {"epoch": ep + 1, "train_loss": tl.item() / spe, "train_acc": tc.item() / (spe * a.batch),
               "test_loss": test_loss, "test_acc": test_acc, "train_seconds": dt,
               "images_per_second": spe * a.batch / dt}
        epochs.append(row)
        print(f"epoch {ep + 1:3d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
              f"test acc {test_acc:.4f}  {row['images_per_second']:.0f} img/s", flush=True)
    val_loss, val_acc = evaluate(xva, yva) if nval else (float("nan"), float("nan"))
    wall = time.time() - t_start
    res = {"kind": "torch_train", "torch": torch.__version__,
           "device": torch.cuda.get_device_name() if cuda else "cpu", "amp_bf16": amp, "channels_last": not a.no_channels_last,
           "threads": torch.get_num_threads(), "train": "bench/torch_train.py",
           "width": a.width, "batch": a.batch, "epochs": a.epochs, "lr": a.lr, "momentum": a.momentum, "wd": a.wd,
           "seed": a.seed, "train_images": ntrain, "steps_per_epoch": spe, "final_test_acc": epochs[-1]["test_acc"],
           "final_val_acc": val_acc, "train_seconds": train_s, "setup_seconds": setup_s, "wall_seconds": wall,
           "images_per_second": spe * a.batch * a.epochs / train_s, "per_epoch": epochs}
    print(f"torch_train: final test acc {res['final_test_acc']:.4f}  val acc {val_acc:.4f}  "
          f"training {train_s:.1f} s  wall {wall:.1f} s  {res['images_per_second']:.0f} img/s", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
