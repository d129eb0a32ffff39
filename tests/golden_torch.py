"""Golden reference from PyTorch (float64): reads golden_in.safetensors that our
code wrote (a width-4 ResNet-18 under the reference names, a batch, labels),
runs forward, loss, backward and three torch.optim.SGD steps (lr 0.1,
momentum 0.9, weight decay 5e-4) on the same batch, and writes
golden_ref.safetensors. Exit 77 (CTest skip) when torch is missing."""
import os
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    # a reference left by an earlier run must not be checked against this build
    try:
        os.remove(os.path.join(sys.argv[1], "golden_ref.safetensors"))
    except (OSError, IndexError):
        pass
    print(f"SKIPPED: cannot import numpy/torch ({e}) with {sys.executable}; "
          "install python3-torch and python3-numpy (make -f Makefile.artifact deps)")
    sys.exit(77)

from torch_resnet import ResNet18, load_safetensors, save_safetensors  # noqa: E402

d = sys.argv[1]
inp = load_safetensors(os.path.join(d, "golden_in.safetensors"))
width = int(inp["__metadata__"]["width"])
torch.set_default_dtype(torch.float64)
model = ResNet18(width).double().train()
state = {k: torch.from_numpy(v) for k, v in inp.items() if k not in ("__metadata__", "input", "labels")}
model.load_state_dict(state)          # strict: every name and shape must match
x = torch.from_numpy(inp["input"]).double()
y = torch.from_numpy(inp["labels"]).long()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
out = {}
for step in range(3):
    opt.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    out[f"step{step}.logits"] = logits.detach().numpy().copy()
    out[f"step{step}.loss"] = np.array(loss.item(), dtype=np.float64)
    for name, p in model.named_parameters():
        out[f"step{step}.grad.{name}"] = p.grad.detach().numpy().copy()
    opt.step()
for name, t in model.state_dict().items():
    out[f"final.{name}"] = t.detach().numpy() if t.dtype != torch.int64 else t.numpy()
ref = os.path.join(d, "golden_ref.safetensors")
save_safetensors(ref + ".part", out, {"torch": torch.__version__})
os.replace(ref + ".part", ref)   # never a half-written reference under the final name
print("wrote", os.path.join(d, "golden_ref.safetensors"), "torch", torch.__version__)
