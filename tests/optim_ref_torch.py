"""Independent reference for the four baseline optimizers (tests/test_optim_ref.c).

Runs STEPS steps of torch.optim (SGD, Adam, AdamW, RMSprop) and of Lion written
from its paper (Chen et al. 2023, "Symbolic Discovery of Optimization
Algorithms", Algorithm 2) in torch ops, on the same random parameters and
per-step random gradients, in float64, and writes

    p0              F32 [N]          initial parameters
    grad            F32 [STEPS, N]   the gradient of each step
    <case>.p        F64 [STEPS, N]   expected parameters after each step
    <case>.unstable U8 [N]           Lion only: 1 where |c| came within float32
                                     rounding of 0 at some step (sign may flip)

plus metadata "cases" (names, ';'-separated) and "args.<case>": the daoe-train
command-line flags that select the same optimizer and settings, which the C
test parses with daoe_config_parse (so the flag mapping is tested too).

Hyper-parameters are rounded to float32 here, as our configuration stores them.
Decoupled weight decay for SGD and RMSprop (not torch.optim options) is the
SGDW form of Loshchilov & Hutter: p *= 1 - lr*wd, then the plain step.

usage: optim_ref_torch.py OUT.safetensors   (exit 77 when torch is missing)"""
import os
import re
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    # a reference left by an earlier run must not be checked against this build
    try:
        os.remove(sys.argv[1])
    except (OSError, IndexError):
        pass
    print(f"SKIPPED: cannot import numpy/torch ({e}) with {sys.executable}; "
          "install python3-torch and python3-numpy (make -f Makefile.artifact deps)")
    sys.exit(77)

from torch_resnet import save_safetensors  # noqa: E402

N = 4099      # odd, so no vector-width assumptions hide
STEPS = 10
SEED = 20240601
# Lion: |c| below this fraction of |beta1*m| + |(1-beta1)*g| counts as a
# possible sign flip (float32 rounding of c is ~1e-7 of that sum)
UNSTABLE_REL = 1e-5


def f32(x):
    return float(np.float32(x))


class LionRef:
    """Lion, Algorithm 2 of the paper (decoupled weight decay):
        c = beta1*m + (1-beta1)*g;  p = p - lr*(sign(c) + wd*p);  m = beta2*m + (1-beta2)*g
    coupled=True feeds g + wd*p instead (our --lion-wd-mode coupled)."""

    def __init__(self, p, lr, beta1=0.9, beta2=0.99, wd=0.0, coupled=False):
        self.p, self.lr, self.b1, self.b2, self.wd, self.coupled = p, lr, beta1, beta2, wd, coupled
        self.m = torch.zeros_like(p)
        self.unstable = torch.zeros(p.shape, dtype=torch.bool)

    def step(self):
        with torch.no_grad():
            g = self.p.grad
            if self.coupled:
                g = g + self.wd * self.p
            c = self.b1 * self.m + (1 - self.b1) * g
            # sign() is discontinuous: where |c| is within float32 rounding of
            # 0, our sign may differ; such elements are excluded from then on
            mag = (self.b1 * self.m).abs() + ((1 - self.b1) * g).abs()
            self.unstable |= c.abs() <= UNSTABLE_REL * mag
            upd = torch.sign(c)
            if not self.coupled:
                upd = upd + self.wd * self.p
            self.p.sub_(self.lr * upd)
            self.m.mul_(self.b2).add_(g, alpha=1 - self.b2)


class DecoupledWrap:
    """p *= 1 - lr*wd, then the wrapped optimizer's step (decay from the old p)."""

    def __init__(self, opt, p, lr, wd):
        self.opt, self.p, self.lr, self.wd = opt, p, lr, wd

    def step(self):
        with torch.no_grad():
            self.p.mul_(1 - self.lr * self.wd)
        self.opt.step()


def sgd(p, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0, decoupled=False):
    o = torch.optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=0.0 if decoupled else wd)
    return DecoupledWrap(o, p, lr, wd) if decoupled else o


def rmsprop(p, lr, alpha=0.99, eps=1e-8, momentum=0.0, centered=False, wd=0.0, decoupled=False):
    o = torch.optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered,
                            weight_decay=0.0 if decoupled else wd)
    return DecoupledWrap(o, p, lr, wd) if decoupled else o


# name, daoe-train flags, constructor: the "torch-case" lines of the rules' files
# (baselines/<name>.h), so that a rule carries its own reference cases.
RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "baselines")
CASES = []
for fn in sorted(os.listdir(RULES)):
    if not fn.endswith(".h"):
        continue
    with open(os.path.join(RULES, fn)) as f:
        for line in f:
            m = re.match(r"\s*\*\s*torch-case\s+(\S+)\s*\|\s*(.+?)\s*\|\s*(.+?)\s*$", line)
            if m:
                name, args, expr = m.groups()
                CASES.append((name, args, eval("lambda p: " + expr)))
if not CASES:
    print(f"no torch-case lines in {RULES}")
    sys.exit(1)

rng = np.random.default_rng(SEED)
# parameters of both signs, away from zero (so relative errors are meaningful)
p0 = (rng.choice([-1.0, 1.0], N) * rng.uniform(0.5, 1.5, N)).astype(np.float32)
# per-element gradient scale over two decades, so eps and the momentum terms
# meet gradients of different sizes
scale_np = 10.0 ** rng.uniform(-2.0, 0.0, N)
grads = (rng.standard_normal((STEPS, N)) * scale_np).astype(np.float32)

out = {"p0": p0, "grad": grads}
names = []
unstable = {}
for name, args, make in CASES:
    p = torch.nn.Parameter(torch.from_numpy(p0.astype(np.float64)))
    opt = make(p)
    traj = np.empty((STEPS, N), dtype=np.float64)
    for t in range(STEPS):
        p.grad = torch.from_numpy(grads[t].astype(np.float64))
        opt.step()
        traj[t] = p.detach().numpy()
    if isinstance(opt, LionRef):
        out[name + ".unstable"] = opt.unstable.numpy().astype(np.uint8)
        unstable[name] = int(opt.unstable.sum())
    out[name + ".p"] = traj
    names.append(name)

# a handful is expected; many would make the Lion comparison meaningless
if max(unstable.values()) > N // 100:
    print(f"Lion: too many elements with c near 0: {unstable}")
    sys.exit(1)

meta = {"cases": ";".join(names), "steps": STEPS, "n": N, "seed": SEED, "torch": torch.__version__}
for name, args, _ in CASES:
    meta["args." + name] = args
os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
save_safetensors(sys.argv[1] + ".part", out, meta)
os.replace(sys.argv[1] + ".part", sys.argv[1])   # never a half-written reference under the final name
print(f"wrote {sys.argv[1]}: {len(names)} cases x {STEPS} steps x {N} elements, torch {torch.__version__}, "
      f"Lion elements excluded (c within rounding of 0): {unstable}")
