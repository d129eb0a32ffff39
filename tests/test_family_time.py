#!/usr/bin/env python3
"""bench/family_time.py on synthetic run folders: machine time per part (epochs.csv's seconds
summed times the run's share of the machine, threads over cores; runs under way included), the per-machine split, the median pace, the estimate of the
runs left (at the median of their own part, else of all parts; the twin's at the twin's) and
the quick-epoch pace; bad command lines exit 2.
usage: test_family_time.py SOURCE_DIR WORK_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys

src, work = sys.argv[1], sys.argv[2]
tool = os.path.join(src, "bench", "family_time.py")
shutil.rmtree(work, ignore_errors=True)
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


def run_folder(part, name, secs, evals, status, device, threads=None, cores=None):
    d = os.path.join(work, part, name)
    os.makedirs(d)
    with open(os.path.join(d, "epochs.csv"), "w") as f:
        f.write("epoch,train_loss,test_acc,seconds\n")
        for i, (s, e) in enumerate(zip(secs, evals), 1):
            f.write(f"{i},1.0,{'0.5' if e else 'nan'},{s}\n")
    with open(os.path.join(d, "config.json"), "w") as f:
        cfg = {"machine": {"device": device}}
        if threads is not None:
            cfg["threads"] = threads
        if cores is not None:
            cfg["machine"]["cores"] = cores
        json.dump(cfg, f)
    if status:
        with open(os.path.join(d, "summary.json"), "w") as f:
            json.dump({"status": status}, f)


A, B = "cpu: machine A", "cpu: machine B"
# tuning: 3 ended runs (600 + 860 s on A, 2520 s on B), one under way (300 s, A): 4280 s
run_folder("tune", "a", [100, 200, 100, 200], [0, 1, 0, 1], "finished", A)     # 600; quick 600
# b: 1 thread of a 2-core machine (daoe-sweep -j 2): half its seconds, 1720 -> 860; quick 1320 -> 660
run_folder("tune", "b", [260, 400, 660, 400], [0, 1, 0, 1], "finished", A, threads=1, cores=2)
# c: 4 threads (all) of a 4-core machine: the whole machine
run_folder("tune", "c", [600, 700, 400, 420, 400], [0, 1, 0, 1, 0], "diverged", B, threads=4, cores=4)  # 2520; quick 400*3+420*2 = 2040
run_folder("tune", "d", [300], [0], None, A, threads=0, cores=2)               # under way; 0 threads: all
os.makedirs(os.path.join(work, "tune", "figures"))                             # not a run folder
# table: nothing ended
os.makedirs(os.path.join(work, "table"))
twin = os.path.join(work, "twin")
os.makedirs(twin)
for s, w in ((0, 1200.0), (1, 1800.0)):
    with open(os.path.join(twin, f"torch-sgd-s{s}.json"), "w") as f:
        json.dump({"wall_seconds": w}, f)

r = subprocess.run([sys.executable, tool, "--twin", twin, "--left", "tune=2", "--left", "table=4",
                    "--left", "twin=1", f"tune={work}/tune", f"table={work}/table"],
                   capture_output=True, text=True)
out = r.stdout
print(out)
check(r.returncode == 0, f"exit 0 (got {r.returncode}: {r.stderr.strip()})")
check("- machine time, tune: 1.2 h (3 runs ended: median 14 min a run (10 min to 42 min), 0.1 h in runs under way)" in out,
      "tuning: 4280 s (1.2 h), median 860 s, range 600-2520 s, 300 s under way")
check("- machine time, table: 0.0 h (0 runs ended: none finished yet)" in out, "table: nothing yet")
check("- machine time, PyTorch twin: 0.8 h (2 runs, median 25 min a run)" in out, "twin: 3000 s, median 1500 s")
check("- machine time in all so far: 2.0 h" in out, "in all: 4280 + 3000 = 7280 s")
check(out.index("  - 0.7 h of it on `cpu: machine B`") < out.index("  - 0.5 h of it on `cpu: machine A`"),
      "per machine, the most first: B 2520 s, A 600 + 860 + 300 = 1760 s")
# left: tune 2 x 860 + table 4 x 860 (no table run ended: all parts' median) + twin 1 x 1500 = 6660 s
m = re.search(r"- left: 2 tune runs at 14 min, 4 table runs at 14 min, 1 twin run at 25 min: about ([0-9.]+) h", out)
check(bool(m) and m.group(1) == "1.9", f"left: 6660 s = 1.9 h ({m.group(1) if m else 'no line'})")
# quick pace: median of 600, 660, 2040 = 660 s; 6 runs of our trainer left = 3960 s
check("median 11 min a run: roughly the pace of an otherwise idle machine): about 1.1 h" in out,
      "quick-epoch pace: median 660 s, 6 runs = 1.1 h")

# a part with runs of its own (another machine, quicker): its runs left are timed by them, the
# idle pace too, not by the other part's (the table on a Zen 4 after a tuning on a Zen 3)
run_folder("table2", "s", [150, 150], [0, 0], "finished", "cpu: machine C", threads=1, cores=1)  # 300; quick 300
r = subprocess.run([sys.executable, tool, "--left", "table2=4", f"tune={work}/tune", f"table2={work}/table2"],
                   capture_output=True, text=True)
print(r.stdout)
check("- left: 4 table2 runs at 5 min: about 0.3 h" in r.stdout and
      "median 5 min a run: roughly the pace of an otherwise idle machine): about 0.3 h" in r.stdout,
      "a part's own pace, measured and idle: 4 x 300 s = 0.3 h (not the tuning's 630 s)")

for bad in (["tune"], ["--left", "x=2", f"tune={work}/tune"], ["--left", "tune=two", f"tune={work}/tune"], []):
    r = subprocess.run([sys.executable, tool] + bad, capture_output=True, text=True)
    check(r.returncode == 2 and "family_time:" in r.stderr, f"refused with exit 2: {bad}")

sys.exit(1 if fails else 0)
