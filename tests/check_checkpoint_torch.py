"""Loads a final.safetensors our trainer wrote into the reference PyTorch
ResNet-18 (load_state_dict, strict: every name, shape and dtype), evaluates it
on the CIFAR-10 test set with the same normalisation, and prints the accuracy.
usage: check_checkpoint_torch.py FILE WIDTH CIFAR_DIR. Exit 77 without torch."""
import os
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("python3-torch not installed: skipped")
    sys.exit(77)
from torch_resnet import ResNet18, state_dict_from_file  # noqa: E402

path, width, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(2)
model = ResNet18(width)
model.load_state_dict(state_dict_from_file(path), strict=True)
model.eval()
raw = np.fromfile(os.path.join(data, "test_batch.bin"), dtype=np.uint8).reshape(10000, 3073)
labels = torch.from_numpy(raw[:, 0].astype(np.int64))
x = raw[:, 1:].reshape(10000, 3, 32, 32).astype(np.float32) / 255.0
mean = np.array([0.49139968, 0.48215841, 0.44653091], dtype=np.float32).reshape(1, 3, 1, 1)
std = np.array([0.24703223, 0.24348513, 0.26158784], dtype=np.float32).reshape(1, 3, 1, 1)
x = torch.from_numpy((x - mean) / std)
correct = 0
with torch.no_grad():
    for i in range(0, 10000, 500):
        correct += (model(x[i:i + 500]).argmax(1) == labels[i:i + 500]).sum().item()
print(f"torch_test_acc {correct / 10000:.4f}")
