#!/usr/bin/env python3
"""The PyTorch twin of a profile's table: bench/torch_train.py trains the profile's
recipe (width, batch, epochs, data split, cosine schedule, augmentation) with SGD at
the tuned rate, one run per seed of the profile's "twin" block, each into
RESULTS/twin/torch-sgd-s<seed>.json (with its log beside it). daoe-stats shows their
mean beside our SGD's (a row of the final-accuracy table and a Welch test).

  bench/run_twin.py PROFILE.json --results DIR [--python PY] [--threads N] [--dry-run]

The profile's block, e.g. bench/profiles/cpu.json:
  "twin": {"optimizer": "sgd", "seeds": [0, 1, 2]}
The rate is the tuned one (the profile's lr_from, winners.sgd.args; while the tuning goes on,
tuned.partial.json beside it once SGD's grid has ended: "settled"), else torch_train's
default 0.1 (said). A run whose JSON exists is skipped; a killed run starts over (the
twin keeps no checkpoint). Needs a Python with torch and numpy (Debian's python3-torch:
/usr/bin/python3, the default here).
Exit status: 0 every twin run is there, 1 a run failed, 2 bad command line or profile."""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def die(msg, code=2):
    print(f"run_twin: {msg}", file=sys.stderr)
    sys.exit(code)


def twin_args(profile, tuned):
    """the torch_train.py flags of the profile's recipe and the tuned SGD rate"""
    tr = profile.get("train", {})
    known = {"width": "--width", "batch": "--batch", "epochs": "--epochs", "val": "--val",
             "train_subset": "--train-subset", "test_subset": "--test-subset"}
    args = []
    for k, flag in known.items():
        if k in tr:
            args += [flag, str(tr[k])]
    if tr.get("schedule", "cosine") != "cosine":
        die(f"the twin trains with a cosine schedule; the profile's is {tr['schedule']}")
    if tr.get("backend", "cpu") == "cpu":
        args += ["--device", "cpu"]
    if tr.get("precision", "fp32") == "fp32":
        args += ["--no-amp"]
    sgd = (tuned or {}).get("winners", {}).get("sgd", {}).get("args", [])
    lr = None
    for i, a in enumerate(sgd):
        if a == "--lr" and i + 1 < len(sgd):
            lr = sgd[i + 1]
        elif a.startswith("--") and a != "--lr":
            die(f"the tuned SGD arguments {sgd} hold more than a rate; the twin takes only --lr")
    if lr is not None:
        args += ["--lr", str(lr)]
    return args, lr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile")
    ap.add_argument("--results", required=True)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    try:
        with open(a.profile) as f:
            profile = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{a.profile}: {e}")
    tw = profile.get("twin")
    if not tw:
        die(f"{a.profile} has no \"twin\" block")
    if tw.get("optimizer", "sgd") != "sgd":
        die("the twin trains SGD only (bench/torch_train.py)")
    seeds = tw.get("seeds", [0, 1, 2])
    if not a.data or not os.path.isfile(os.path.join(a.data, "test_batch.bin")):
        die(f"no CIFAR-10 folder ({a.data}): pass --data DIR or set CIFAR10_DIR")
    tuned, lr_from = None, profile.get("lr_from")
    if lr_from:
        partial = os.path.join(os.path.dirname(lr_from), "tuned.partial.json")
        if not os.path.isfile(lr_from) and os.path.isfile(partial):
            # the tuning goes on, but SGD's grid may have ended: its choice is then final
            with open(partial) as f:
                tuned = json.load(f)
            sgd = (tuned.get("winners") or {}).get("sgd") or {}
            if not sgd.get("settled"):
                die(f"{lr_from} is missing and SGD's grid in {partial} has not ended: tune first")
            print(f"run_twin: {lr_from} is not written yet (the tuning goes on); SGD's grid has ended, so its "
                  f"choice in {partial} is final", file=sys.stderr)
            lr_from = partial
        elif not os.path.isfile(lr_from):
            die(f"{lr_from} (the profile's lr_from) is missing: tune first")
        else:
            with open(lr_from) as f:
                tuned = json.load(f)
    args, lr = twin_args(profile, tuned)
    if lr is None:
        print("run_twin: no tuned SGD rate: torch_train.py's default 0.1", file=sys.stderr)
    out = os.path.join(a.results, "twin")
    os.makedirs(out, exist_ok=True)
    failed = 0
    for k, seed in enumerate(seeds):
        js = os.path.join(out, f"torch-sgd-s{seed}.json")
        cmd = [a.python, os.path.join(HERE, "torch_train.py"), "--data", a.data, "--seed", str(seed),
               "--threads", str(a.threads)] + args
        if os.path.exists(js):
            print(f"run_twin: {js}: there; skipped", file=sys.stderr)
            continue
        print(f"run_twin: seed {seed} ({k + 1} of {len(seeds)}): {' '.join(cmd)}", file=sys.stderr, flush=True)
        if a.dry_run:
            continue
        tmp = js + f".tmp.{os.getpid()}"
        t0 = time.time()
        with open(os.path.join(out, f"torch-sgd-s{seed}.log"), "w") as log:
            rc = subprocess.call(cmd + ["--json", tmp], stdout=log, stderr=subprocess.STDOUT)
        if rc != 0 or not os.path.exists(tmp):
            failed += 1
            print(f"run_twin: seed {seed} failed (exit {rc}): see {log.name}", file=sys.stderr)
            continue
        with open(tmp) as f:
            res = json.load(f)
        res["command"] = cmd
        res["lr_from"] = lr_from
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.replace(tmp, js)
        print(f"run_twin: seed {seed}: test acc {res['final_test_acc']:.4f}, {time.time() - t0:.0f} s",
              file=sys.stderr, flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
