"""The reference CIFAR ResNet-18 (kuangliu/pytorch-cifar, models/resnet.py)
with a width option, and a reader/writer for safetensors files (Debian has no
python3-safetensors). Used by the golden tests and the PyTorch benchmarks."""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class ResNet18(nn.Module):
    def __init__(self, width=64, num_classes=10):
        super().__init__()
        w = width
        self.in_planes = w
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.layer1 = self._make_layer(w, 1)
        self.layer2 = self._make_layer(2 * w, 2)
        self.layer3 = self._make_layer(4 * w, 2)
        self.layer4 = self._make_layer(8 * w, 2)
        self.linear = nn.Linear(8 * w, num_classes)

    def _make_layer(self, planes, stride):
        layers = []
        for s in (stride, 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)   # = avg_pool2d(out, 4) at 32x32 input
        return self.linear(out)


_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
_DT_INV = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64",
           np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}


def train_step(fwd, opt, x, y, device_type, bf16):
    """one training step of the benchmarks (bench_cpu_torch.py, bench_gpu_torch.py): forward and
    loss (under autocast bf16 on device_type when bf16), backward, the optimizer's step"""
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(fwd(x), y)
    loss.backward()
    opt.step()


def load_safetensors(path):
    """dict name -> numpy array (metadata under '__metadata__')."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            out[name] = e
            continue
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=_DT[e["dtype"]]).reshape(e["shape"]).copy()
    return out


def save_safetensors(path, tensors, metadata=None):
    header, off, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.asarray(arr).copy(order="C")
        b = arr.tobytes()
        header[name] = {"dtype": _DT_INV[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def state_dict_from_file(path):
    d = load_safetensors(path)
    d.pop("__metadata__", None)
    return {k: torch.from_numpy(v) for k, v in d.items()}
