"""PyTorch round trip of the weights files, both ways (exit 77 without torch):
1. weights our trainer's writer saved (roundtrip_tool write: a width-4
   network after three SGD steps) load strictly into bench/torch_resnet.py's
   ResNet18 and give our eval-mode logits within 1e-5 (times max(1, |logit|));
2. a state_dict PyTorch trained (two steps in train mode, so the running
   statistics move) and saved through torch_resnet.save_safetensors loads
   here (--init-from's loader) and gives PyTorch's logits (roundtrip_tool check).
usage: torch_roundtrip.py ROUNDTRIP_TOOL WORKDIR"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("python3-torch not installed: skipped")
    sys.exit(77)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_resnet import ResNet18, load_safetensors, save_safetensors, state_dict_from_file  # noqa: E402

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
torch.set_num_threads(2)
fails = 0


def check(cond, msg):
    global fails
    print(("ok   " if cond else "FAIL ") + msg)
    fails += 0 if cond else 1


# 1. ours -> PyTorch
subprocess.run([tool, "write", work], check=True)
model = ResNet18(4)
model.load_state_dict(state_dict_from_file(os.path.join(work, "ours.safetensors")), strict=True)
model.eval()
d = load_safetensors(os.path.join(work, "ours_logits.safetensors"))
with torch.no_grad():
    logits = model(torch.from_numpy(d["input"])).numpy()
diff = float(np.abs(logits - d["logits"]).max())
tol = 1e-5 * max(1.0, float(np.abs(d["logits"]).max()))
check(diff <= tol, f"our weights in PyTorch: eval logits max abs diff {diff:.2e} (tol {tol:.1e})")

# 2. PyTorch -> ours
torch.manual_seed(5)
model = ResNet18(4)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model.train()
for _ in range(2):
    xb, yb = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(xb), yb).backward()
    opt.step()
model.eval()
x = torch.randn(16, 3, 32, 32)
with torch.no_grad():
    ref = model(x).numpy()
save_safetensors(os.path.join(work, "torch.safetensors"),
                 {k: v.detach().numpy() for k, v in model.state_dict().items()}, {"format": "pt"})
save_safetensors(os.path.join(work, "torch_logits.safetensors"), {"input": x.numpy(), "logits": ref})
r = subprocess.run([tool, "check", work], capture_output=True, text=True)
print(r.stdout + r.stderr, end="")
check(r.returncode == 0, "a PyTorch state_dict loads here and gives PyTorch's logits")
print("all checks passed" if not fails else f"{fails} check(s) failed")
sys.exit(1 if fails else 0)
