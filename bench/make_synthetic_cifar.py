"""Writes random data in the official CIFAR-10 binary layout (5 training files
and a test file of 10,000 records: 1 label byte + 3,072 pixel bytes), for
timing and smoke-testing the trainer where the real data is not at hand.
Accuracy on it means nothing (labels are random)."""
import os
import sys

import numpy as np

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(0)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    rec = rng.integers(0, 256, size=(10000, 3073), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, size=10000, dtype=np.uint8)
    rec.tofile(os.path.join(d, name))
print("wrote synthetic CIFAR-10 layout to", d)
