"""Writes random data in the official CIFAR-10 binary layout (5 training files
and a test file of 10,000 records: 1 label byte + 3,072 pixel bytes), for
timing and smoke-testing the trainer where the real data is not at hand.
Accuracy on it means nothing (labels are random). The standard library only
(random.Random(0).randbytes): the same bytes on every machine, so a run on the
GPU machine and its CPU twin here read the same data (bench/gpu_compare.py
checks the sums)."""
import os
import random
import sys

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = random.Random(0)
to_label = bytes(i % 10 for i in range(256))
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    pixels = rng.randbytes(10000 * 3072)
    labels = rng.randbytes(10000).translate(to_label)
    rec = bytearray(10000 * 3073)
    for i in range(10000):
        rec[i * 3073] = labels[i]
        rec[i * 3073 + 1:(i + 1) * 3073] = pixels[i * 3072:(i + 1) * 3072]
    with open(os.path.join(d, name), "wb") as f:
        f.write(rec)
print("wrote synthetic CIFAR-10 layout to", d)
