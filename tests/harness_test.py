#!/usr/bin/python3
"""Tests of the benchmark harness (daoe-sweep, daoe-stats, plots/*.gp).

  harness_test.py stats   BIN WORK         daoe-stats against scipy on synthetic run folders
  harness_test.py check   BIN WORK SRC     the regression check: passes on the reference,
                                           fails on degraded copies (and on SRC/results/reference/*)
  harness_test.py figures BIN WORK SRC     every gnuplot script on synthetic results
  harness_test.py report  BIN WORK SRC     report.html of results/smoke and of a synthetic ablation in
                                           headless Chromium (tests/browser_check.py), with a screenshot
  harness_test.py sweep   BIN WORK SRC DATA  daoe-sweep on tiny profiles: expansion, skip,
                                           re-run after delete, diverged, stale, tune -> lr_from

BIN holds daoe-sweep, daoe-stats and daoe-train. Exit 0 pass, 1 fail, 77 skip.
The statistics are recomputed here independently (numpy/scipy, Holm by hand)
from the same raw numbers the C code reads.
"""
import csv
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

FAILS = []


def ok(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)
    return cond


def close(a, b, what, rel=1e-9, abs_=1e-12):
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return ok((a is None) == (b is None or (isinstance(b, float) and math.isnan(b))), f"{what}: {a} vs {b}")
    return ok(abs(a - b) <= abs_ + rel * abs(b), f"{what}: daoe-stats {a!r} vs reference {b!r}")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------- synthetic run folders
EPOCH_COLS = ("epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,train_seconds,"
              "images_per_second,alpha_sgd,alpha_adam,alpha_rmsprop,alpha_lion,share_sgd,share_adam,"
              "share_rmsprop,share_lion")
MEMBERS = ["sgd", "adam", "rmsprop", "lion"]


def write_run(root, name, opt, seed, final, curve, secs, status="finished", width=16, epochs=5,
              group=None, setting="", setting_args=None, members=None, data_seed=None, device="", train_secs=None):
    """train_secs: epochs.csv's train_seconds (default 0.8 of each epoch's seconds)"""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    members = members or (MEMBERS if opt == "daoe" else [{"adamw": "adam"}.get(opt, opt)])
    cfg = {"optimizer": opt, "seed": seed, "epochs": epochs, "width": width, "batch": 128, "train_subset": 2560,
           "val": 500, "test_subset": 2000, "backend": "cpu", "members": members, "steps_per_epoch": 20,
           "machine": {"hostname": "synthetic", "cpu": "test cpu", "cores": 2, "device": device}}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    rows = []
    train_secs = train_secs or [s * 0.8 for s in secs]
    for e, (acc, loss, s, ts) in enumerate(zip(curve["test"], curve["loss"], secs, train_secs)):
        al = [0.25, 0.25, 0.25, 0.25] if opt == "daoe" else [1.0 if m == members[0] else 0.0 for m in MEMBERS]
        rows.append([e + 1, loss, 0.5, 1.0, curve["val"][e], 1.1, acc, 0.1, s, ts, 300.0] + al + al)
    with open(os.path.join(d, "epochs.csv"), "w") as f:
        f.write(EPOCH_COLS + "\n")
        for r in rows:
            f.write(",".join("nan" if (isinstance(v, float) and math.isnan(v)) else repr(v) for v in r) + "\n")
    # alpha.csv: the first loss and the input statistics depend on the initial weights and the batches, so on
    # the seed alone (data_seed: another data order, as if the seed did not key it)
    ds = seed if data_seed is None else data_seed
    with open(os.path.join(d, "alpha.csv"), "w") as f:
        f.write("step,epoch,loss,x_mean,x_var," + ",".join(f"alpha_{m}" for m in MEMBERS) + "," +
                ",".join(f"share_{m}" for m in MEMBERS) + "\n")
        for t in range(1, len(rows) * 20 + 1, 5):
            if opt == "daoe":
                a = 0.25 + 0.1 * math.sin(t / 7.0 + seed)
                al = [a, (1 - a) / 3, (1 - a) / 3, (1 - a) / 3]
            else:
                al = [1.0 if m == members[0] else 0.0 for m in MEMBERS]
            loss = 2.3 + 0.01 * ds if t == 1 else 2.3 - 0.01 * t + 0.001 * ((31 * t + sum(map(ord, name))) % 7)
            xs = [round(-0.25 + 0.01 * math.sin(3 * t + 11 * ds), 6), round(1.2 + 0.01 * math.cos(5 * t + 7 * ds), 6)]
            f.write(f"{t},{(t - 1) // 20 + 1},{loss}," + ",".join(map(str, xs + al + al)) + "\n")
    if group is not None:
        json.dump({"id": name, "group": group, "optimizer": opt, "setting": setting, "seed": seed,
                   "args": ["--optimizer", opt] + (setting_args or []), "setting_args": setting_args or []},
                  open(os.path.join(d, "sweep_run.json"), "w"))
    if status == "incomplete":
        return
    summ = {"status": status, "optimizer": opt, "seed": seed, "epochs": epochs, "epochs_completed": len(rows),
            "final_test_acc": final["test"] if status == "finished" else None,
            "final_val_acc": final["val"] if status == "finished" else None,
            "best_val_acc": max(curve["val"]), "images_per_second": final["ips"], "train_seconds": sum(secs) * 0.8,
            "wall_seconds": final["wall"], "backend": "cpu", "device": device}
    if status == "diverged":
        summ["diverged_at_step"] = 37
    json.dump(summ, open(os.path.join(d, "summary.json"), "w"))


def make_synthetic(root, rng, groups, seeds=(0, 1, 2), epochs=5, width=16, sweep_json=True, degrade=None,
                   diverge=(), incomplete=(), kind="compare", compare_to="daoe", target=0.3, other_data=(),
                   stopped=(), device_of=None):
    """groups: {name: (optimizer, mean_acc, sd_acc, setting, setting_args)}; returns the raw numbers.
    other_data: groups whose runs see other batches than the same seed of the other groups.
    stopped: runs whose epoch 2 was stopped inside and resumed by a trainer before 479fbd4, which
    recorded only the resumed part in epochs.csv's seconds and in wall_seconds (train_seconds kept
    the whole epoch's training); raw's secs and wall are the whole. device_of: run name -> device."""
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    raw = {}
    for gi, (g, (opt, mu, sd, setting, sargs)) in enumerate(groups.items()):
        for s in seeds:
            name = f"{g}-s{s}"
            acc = float(rng.normal(mu, sd))
            if degrade and g == degrade[0]:
                acc -= degrade[1]
            test = [float(acc * (0.4 + 0.6 * (e + 1) / epochs) + rng.normal(0, 0.01)) for e in range(epochs)]
            test[-1] = acc
            val = [float(t + rng.normal(0, 0.01)) for t in test]
            loss = [float(2.3 * math.exp(-(e + 1) / 3) + rng.normal(0, 0.02)) for e in range(epochs)]
            secs = [float(40 + rng.normal(0, 3)) for _ in range(epochs)]
            final = {"test": acc, "val": val[-1], "ips": float(300 + rng.normal(0, 10)),
                     "wall": float(sum(secs) + 2)}
            rec_secs, train_secs = secs, None
            if name in stopped:  # 3/4 of epoch 2's training before the stop; its seconds hold the rest
                train_secs = [s * 0.8 for s in secs]
                rec_secs = list(secs)
                rec_secs[1] = secs[1] * 0.25
                secs = list(secs)
                secs[1] = train_secs[1]
                final["wall"] = float(sum(rec_secs) + 2)
            status = "diverged" if name in diverge else "incomplete" if name in incomplete else "finished"
            # half of the groups carry sweep_run.json, the others are grouped by folder name
            write_run(root, name, opt, s, final, {"test": test, "val": val, "loss": loss}, rec_secs, status=status,
                      width=width, epochs=epochs, group=g if (gi % 2 == 0) else None, setting=setting,
                      setting_args=sargs, data_seed=s + 1000 if g in other_data else None,
                      device=device_of(name) if device_of else "", train_secs=train_secs)
            raw[name] = dict(group=g, status=status, test=acc, val=val[-1], best=max(val), curve=test, secs=secs,
                             ips=final["ips"], wall=max(final["wall"], sum(secs)), loss=loss, valcurve=val)
    if sweep_json:
        json.dump({"profile": os.path.basename(root), "kind": kind, "compare_to": compare_to, "target_acc": target,
                   "runs": [{"group": g} for g in groups]}, open(os.path.join(root, "sweep.json"), "w"))
    return raw


# ---------------------------------------------------------------- stats vs scipy
def ref_desc(x):
    import numpy as np
    from scipy import stats
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return dict(n=0, mean=None, sd=None, lo=None, hi=None, min=None, max=None)
    m = float(x.mean())
    if n < 2:
        return dict(n=1, mean=m, sd=None, lo=None, hi=None, min=float(x.min()), max=float(x.max()))
    sd = float(x.std(ddof=1))
    if sd == 0:  # scipy returns nan for a zero scale; the interval is the point
        return dict(n=n, mean=m, sd=0.0, lo=m, hi=m, min=float(x.min()), max=float(x.max()))
    lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=stats.sem(x))
    return dict(n=n, mean=m, sd=sd, lo=float(lo), hi=float(hi), min=float(x.min()), max=float(x.max()))


def ref_welch(a, b):
    import numpy as np
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    r = stats.ttest_ind(a, b, equal_var=False)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    diff = a.mean() - b.mean()
    h = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    sp = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    g = (1 - 3 / (4 * (len(a) + len(b)) - 9)) * diff / sp
    return dict(t=float(r.statistic), p=float(r.pvalue), df=float(df), diff=float(diff), lo=float(diff - h),
                hi=float(diff + h), g=float(g))


def ref_holm(ps):
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, run_max = [0.0] * len(ps), 0.0
    for k, i in enumerate(order):
        run_max = max(run_max, min(1.0, (len(ps) - k) * ps[i]))
        out[i] = run_max
    return out


def cmp_desc(got, ref, what):
    close(got["n"], ref["n"], f"{what} n")
    for k, kk in (("mean", "mean"), ("sd", "sd"), ("min", "min"), ("max", "max")):
        close(got[k], ref[kk], f"{what} {k}")
    # t quantiles: GSL and scipy agree to ~1e-9 relative
    close(got["ci95"][0], ref["lo"], f"{what} ci95 low", rel=1e-7)
    close(got["ci95"][1], ref["hi"], f"{what} ci95 high", rel=1e-7)


# ---------------------------------------------------------------- robust statistics vs scipy
MC_RUNS = 10  # scipy.stats.bootstrap runs (seeds 0..9) that measure the Monte-Carlo error


def boot_ci(data, stat, B, paired=False, seed=0):
    from scipy import stats
    r = stats.bootstrap(data, stat, n_resamples=B, method="percentile", paired=paired, vectorized=True,
                        random_state=seed)
    return float(r.confidence_interval.low), float(r.confidence_interval.high)


def mc_close(got, data, stat, B, what, paired=False, printed=0.0):
    """got: daoe-stats' [lo, hi]; within 4 Monte-Carlo sd of scipy.stats.bootstrap's (the sd over MC_RUNS
    seeds); an endpoint every seed agrees on (an atom of the bootstrap distribution) must match (printed: the
    rounding of a number read from a text file)."""
    import numpy as np
    cis = np.array([boot_ci(data, stat, B, paired, seed) for seed in range(MC_RUNS)])
    for k, end in enumerate(("low", "high")):
        m, sd = cis[:, k].mean(), cis[:, k].std(ddof=1)
        tol = 4 * sd * math.sqrt(1 + 1 / MC_RUNS) + 1e-9 * max(1.0, abs(m)) + printed
        ok(got is not None and got[k] is not None and abs(got[k] - m) <= tol,
           f"{what} bootstrap {end}: daoe-stats {got[k] if got else None} vs scipy {m:.6g} (MC sd {sd:.2g})")


def stat_mean(x, axis=-1):
    import numpy as np
    return np.mean(x, axis=axis)


def stat_iqm(x, axis=-1):
    from scipy import stats
    return stats.trim_mean(x, 0.25, axis=axis)


def stat_poi(a, b, axis=-1):
    import numpy as np
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    x, y = a[..., :, None], b[..., None, :]
    return (x > y).mean(axis=(-2, -1)) + 0.5 * (x == y).mean(axis=(-2, -1))


def check_robust(S, raw, groups, samples, root):
    """summary.json's robust statistics and plotdata against scipy and numpy"""
    import numpy as np
    from scipy import stats
    B = S["bootstrap"]["resamples"]
    ok(B == 10000 and S["bootstrap"]["seed"] == 20261203, f"bootstrap settings recorded: {S['bootstrap']}")
    G = {g["group"]: g for g in S["groups"]}
    for g, x in samples.items():
        rb = G[g]["final_test_acc_robust"]
        x = np.array(x)
        close(rb["iqm"]["estimate"], float(stats.trim_mean(x, 0.25)), f"{g} IQM", rel=1e-12)
        close(rb["mean"]["estimate"], float(x.mean()), f"{g} mean", rel=1e-12)
        mc_close(rb["mean"]["ci95_bootstrap"], (x,), stat_mean, B, f"{g} mean")
        mc_close(rb["iqm"]["ci95_bootstrap"], (x,), stat_iqm, B, f"{g} IQM")
    for n, r in raw.items():
        r["seed"] = int(n.rsplit("-s", 1)[1])
    by_seed = {g: {r["seed"]: r["test"] for r in raw.values() if r["group"] == g and r["status"] == "finished"}
               for g in groups}
    comps = {(c["a"], c["b"]): c for c in S["comparisons"]}
    pp = []
    for b in ["sgd", "adam", "rmsprop", "lion"]:
        c, a_, b_ = comps[("daoe", b)], np.array(samples["daoe"]), np.array(samples[b])
        u = stats.mannwhitneyu(a_, b_, alternative="two-sided").statistic
        ok(c["mann_whitney_u"] == float(u), f"daoe-{b} Mann-Whitney U {c['mann_whitney_u']} vs scipy {u}")
        close(c["prob_improvement"]["estimate"], float(u) / (len(a_) * len(b_)), f"daoe-{b} P(daoe > {b})",
              rel=1e-12)
        close(c["iqm_diff"]["estimate"], float(stats.trim_mean(a_, 0.25) - stats.trim_mean(b_, 0.25)),
              f"daoe-{b} IQM difference", rel=1e-12)
        mc_close(c["mean_diff"]["ci95_bootstrap"], (a_, b_), lambda x, y, axis=-1: np.mean(x, axis) - np.mean(y, axis),
                 B, f"daoe-{b} mean difference")
        mc_close(c["iqm_diff"]["ci95_bootstrap"], (a_, b_), lambda x, y, axis=-1: stat_iqm(x, axis) - stat_iqm(y, axis),
                 B, f"daoe-{b} IQM difference")
        mc_close(c["prob_improvement"]["ci95_bootstrap"], (a_, b_), stat_poi, B, f"daoe-{b} P(daoe > {b})")
        # pairs by seed
        seeds = sorted(set(by_seed["daoe"]) & set(by_seed[b]))
        pa, pb = np.array([by_seed["daoe"][k] for k in seeds]), np.array([by_seed[b][k] for k in seeds])
        P = c["paired"]
        tt = stats.ttest_rel(pa, pb)
        ok(P["n"] == len(seeds), f"daoe-{b} paired n {P['n']} vs {len(seeds)}")
        close(P["mean_diff"], float((pa - pb).mean()), f"daoe-{b} paired mean difference", rel=1e-12)
        close(P["t"], float(tt.statistic), f"daoe-{b} paired t", rel=1e-9)
        close(P["p"], float(tt.pvalue), f"daoe-{b} paired p", rel=1e-7, abs_=1e-12)
        h = stats.t.ppf(0.975, len(seeds) - 1) * (pa - pb).std(ddof=1) / math.sqrt(len(seeds))
        close(P["diff_ci95"][0], float((pa - pb).mean() - h), f"daoe-{b} paired t interval", rel=1e-7)
        mc_close(P["diff_ci95_bootstrap"], (pa, pb), lambda x, y, axis=-1: np.mean(x - y, axis), B,
                 f"daoe-{b} paired mean difference", paired=True)
        pp.append(float(tt.pvalue))
        # lion's runs saw other batches than the same seed of daoe: alpha.csv shows it
        want = 0 if b == "lion" else len(seeds)
        ok(P["pairs_traced"] == len(seeds) and P["pairs_same_start"] == want,
           f"daoe-{b} pairs shown to share their start: {P['pairs_same_start']} of {P['pairs_traced']}, want {want}")
    holm = ref_holm(pp)
    for b, h in zip(["sgd", "adam", "rmsprop", "lion"], holm):
        close(comps[("daoe", b)]["paired"]["p_holm"], h, f"daoe-{b} paired p_holm", rel=1e-7, abs_=1e-12)
    md = open(os.path.join(root, "summary.md")).read()
    ok("NO: 4 of 4 pairs differ" in md and "yes: 5 of 5 pairs" in md, "summary.md says which pairs share their start")
    # time to targets: every finished or diverged run, misses infinitely slow
    best = max(np.mean(v) for v in samples.values())
    want = sorted({0.30, *(math.floor(100 * f * best) / 100 for f in (0.5, 0.75, 0.9, 1.0))})
    ok(len(S["targets"]) == len(want) and all(abs(a - b) < 1e-12 for a, b in zip(S["targets"], want)),
       f"targets {S['targets']} vs {want}")
    for g in groups:
        runs = [r for r in raw.values() if r["group"] == g and r["status"] in ("finished", "diverged")]
        for j, tgt in enumerate(S["targets"]):
            ep = [next((e + 1 for e, a in enumerate(r["curve"]) if a >= tgt), math.inf) for r in runs]
            t = G[g]["time_to_targets"][j]
            med = float(np.median(ep))
            ok(t["runs"] == len(runs) and t["reached"] == sum(math.isfinite(e) for e in ep),
               f"{g} >= {tgt}: reached {t['reached']}/{t['runs']}")
            ok(t["median_missed"] == math.isinf(med) and (math.isinf(med) or abs(t["median_epochs"] - med) < 1e-12),
               f"{g} >= {tgt}: median epochs {t['median_epochs']} vs {med}")
            ok(math.isinf(med) or abs(t["median_steps"] - 20 * med) < 1e-9, f"{g} >= {tgt}: median steps")
    # performance profiles: the fraction of finished and diverged runs at or above each threshold
    rows = [[float(v) for v in l.split("\t")] for l in open(os.path.join(root, "plotdata", "profile.tsv"))
            if not l.startswith("#")]
    accs = sorted({100 * r["test"] for r in raw.values() if r["status"] == "finished"})
    taus = [accs[0] - 1] + accs + [accs[-1] + 1]
    ok(len(rows) == len(taus), f"profile.tsv rows {len(rows)} vs {len(taus)}")
    for row, tau in zip(rows, taus):
        ok(abs(row[0] - tau) < 1e-4, f"profile threshold {row[0]} vs {tau}")
        for k, g in enumerate(groups):
            fin = [100 * r["test"] for r in raw.values() if r["group"] == g and r["status"] == "finished"]
            ndiv = sum(r["status"] == "diverged" for r in raw.values() if r["group"] == g)
            ok(abs(row[k + 1] - sum(a >= tau for a in fin) / (len(fin) + ndiv)) < 1e-6, f"profile {g} at {tau}")
    # figure bands: the bootstrap interval of the mean with 5 runs (sgd), min-max with 4 (rmsprop)
    for g in ("sgd", "rmsprop"):
        band = [l.split("\t") for l in open(os.path.join(root, "plotdata", f"curves_{g}.tsv"))
                if not l.startswith("#")]
        fin = [r for r in raw.values() if r["group"] == g and r["status"] == "finished"]
        for e in range(5):
            x = np.array([100 * r["curve"][e] for r in fin])
            close(float(band[e][2]), float(x.mean()), f"{g} curve epoch {e + 1} mean", rel=1e-5)
            if len(x) >= 5:
                mc_close([float(band[e][3]), float(band[e][4])], (x,), stat_mean, B, f"{g} curve epoch {e + 1} band",
                         printed=5e-6)
            else:
                close(float(band[e][3]), float(x.min()), f"{g} curve epoch {e + 1} band low (min)", rel=1e-5)
                close(float(band[e][4]), float(x.max()), f"{g} curve epoch {e + 1} band high (max)", rel=1e-5)
    meta = open(os.path.join(root, "plotdata", "meta.gp")).read()
    ok('band_note = "band: 95 % bootstrap CI of the mean (5+ runs), else min-max"' in meta, "meta.gp's band note")


def check_twin(bindir, root, sgd, rng):
    """the PyTorch twin (DIR/twin/*.json, bench/run_twin.py): its row, summary.json's block and
    the Welch test of our SGD against it (scipy), and --twin-check's exit status both ways"""
    os.makedirs(os.path.join(root, "twin"), exist_ok=True)
    tw = {}

    def put(accs):
        for i, a in enumerate(accs):
            tw[i] = a
            with open(os.path.join(root, "twin", f"torch-sgd-s{i}.json"), "w") as f:
                json.dump({"kind": "torch_train", "torch": "1.13.1", "device": "cpu", "lr": 0.1,
                           "final_test_acc": a}, f)
    near = [float(x) for x in rng.normal(0.42, 0.015, 3)]
    put(near)
    with open(os.path.join(root, "twin", "notes.json"), "w") as f:
        json.dump({"kind": "something else"}, f)  # not a twin result: left out
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), root])
    ok(rc == 0, f"daoe-stats with a twin: exit {rc}: {err}")
    S = json.load(open(os.path.join(root, "summary.json")))
    T = S.get("torch_twin", {})
    ok(T.get("final_test_acc") == near and T.get("torch") == "1.13.1", f"twin block {T}")
    r = ref_welch(sgd, near)
    c = T.get("sgd_minus_twin", {})
    for k in ("t", "df", "diff"):
        close(c.get(k), r[k], f"twin Welch {k}")
    close(c.get("p"), r["p"], "twin Welch p", rel=1e-7, abs_=1e-12)
    md = open(os.path.join(root, "summary.md")).read()
    ok(f"*SGD, PyTorch twin (torch 1.13.1)* | 3 | 3 |" in md and "our SGD minus the twin" in md, "twin row and note")
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), "--twin-check", root])
    ok(rc == (0 if r["p"] >= 0.05 else 1) and "twin check" in err, f"--twin-check agrees: exit {rc}: {err}")
    far = [a + 0.10 for a in near]  # ten points above: more than the spread explains
    put(far)
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), "--twin-check", root])
    ok(rc == 1 and "MORE than the seeds' spread" in err, f"--twin-check disagrees: exit {rc}: {err}")
    import shutil
    # one twin run: no Welch test, and the note says so instead of judging the spread from NaNs
    shutil.rmtree(os.path.join(root, "twin"))
    os.makedirs(os.path.join(root, "twin"))
    put(near[:1])
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), root])
    md = open(os.path.join(root, "summary.md")).read()
    ok(rc == 0 and "(n = 5, 1): not tested yet (a Welch test needs at least 2 runs on each side)" in md and
       "nan" not in md.split("our SGD minus the twin")[1].split("\n")[0],
       f"a twin of one run is not tested: {md.split('our SGD minus the twin')[1][:200]}")
    shutil.rmtree(os.path.join(root, "twin"))
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), "--twin-check", root])
    ok(rc == 2 and "0 twin run(s)" in err, f"--twin-check without a twin: exit {rc}: {err}")
    run([os.path.join(bindir, "daoe-stats"), root])  # the summaries as they were


def test_stats(bindir, work):
    try:
        import numpy as np
        import scipy  # noqa: F401
    except ImportError:
        print("skip: numpy/scipy missing for /usr/bin/python3")
        return 77
    rng = np.random.default_rng(12345)
    root = os.path.join(work, "synth")
    groups = {"sgd": ("sgd", 0.42, 0.015, "", []), "adam": ("adam", 0.40, 0.03, "", []),
              "rmsprop": ("rmsprop", 0.35, 0.02, "", []), "lion": ("lion", 0.38, 0.01, "", []),
              "daoe": ("daoe", 0.43, 0.02, "", [])}
    raw = make_synthetic(root, rng, groups, seeds=(0, 1, 2, 3, 4), diverge=("rmsprop-s4",),
                         incomplete=("lion-s3",), target=0.30, other_data=("lion",), stopped=("sgd-s1", "daoe-s3"),
                         device_of=lambda n: "cpu: test, 1 thread" if n.startswith("daoe") else "cpu: test, 2 threads")
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), root])
    if not ok(rc == 0, f"daoe-stats exit {rc}: {err}"):
        return 1
    S = json.load(open(os.path.join(root, "summary.json")))
    ok(abs(S["target_acc"] - 0.30) < 1e-12, "target from sweep.json")
    G = {g["group"]: g for g in S["groups"]}
    ok(sorted(G) == sorted(groups), f"groups {sorted(G)}")
    ok([g["group"] for g in S["groups"]] == ["sgd", "adam", "rmsprop", "lion", "daoe"], "group order")
    samples = {}
    for g in groups:
        fin = [r for n, r in raw.items() if r["group"] == g and r["status"] == "finished"]
        samples[g] = [r["test"] for r in fin]
        cmp_desc(G[g]["final_test_acc"], ref_desc(samples[g]), f"{g} test")
        cmp_desc(G[g]["final_val_acc"], ref_desc([r["val"] for r in fin]), f"{g} val")
        cmp_desc(G[g]["best_val_acc"], ref_desc([r["best"] for r in fin]), f"{g} best val")
        cmp_desc(G[g]["images_per_second"], ref_desc([r["ips"] for r in fin]), f"{g} img/s")
        cmp_desc(G[g]["wall_seconds"], ref_desc([r["wall"] for r in fin]), f"{g} wall")
        ep, sec = [], []
        for r in fin:
            for e, a in enumerate(r["curve"]):
                if a >= 0.30:
                    ep.append(e + 1)
                    sec.append(sum(r["secs"][:e + 1]))
                    break
        cmp_desc(G[g]["epochs_to_target"], ref_desc(ep), f"{g} epochs to target")
        cmp_desc(G[g]["wall_seconds_to_target"], ref_desc(sec), f"{g} seconds to target")
        ok(G[g]["runs"] == 5, f"{g} runs")
    ok(G["rmsprop"]["diverged"] == 1 and G["rmsprop"]["finished"] == 4, "diverged run counted")
    ok(G["lion"]["incomplete"] == 1 and G["lion"]["finished"] == 4, "incomplete run counted")
    comps = {(c["a"], c["b"]): c for c in S["comparisons"]}
    ok(sorted(comps) == sorted(("daoe", b) for b in ["sgd", "adam", "rmsprop", "lion"]), f"comparisons {sorted(comps)}")
    refs = {b: ref_welch(samples["daoe"], samples[b]) for b in ["sgd", "adam", "rmsprop", "lion"]}
    holm = dict(zip(refs, ref_holm([refs[b]["p"] for b in refs])))
    for b, r in refs.items():
        c = comps[("daoe", b)]
        close(c["t"], r["t"], f"daoe-{b} t")
        close(c["df"], r["df"], f"daoe-{b} df")
        close(c["p"], r["p"], f"daoe-{b} p", rel=1e-7, abs_=1e-12)
        close(c["p_holm"], holm[b], f"daoe-{b} p_holm", rel=1e-7, abs_=1e-12)
        close(c["diff"], r["diff"], f"daoe-{b} diff")
        close(c["diff_ci95"][0], r["lo"], f"daoe-{b} diff ci low", rel=1e-7)
        close(c["diff_ci95"][1], r["hi"], f"daoe-{b} diff ci high", rel=1e-7)
        close(c["hedges_g"], r["g"], f"daoe-{b} Hedges g")
    # the claims, answered from the same tests: yes iff DAO-E is higher with Holm p < 0.05
    C = {r["question"]: r for r in S.get("claims", {}).get("rows", [])}
    names = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSProp", "lion": "Lion"}
    for b, r in refs.items():
        row = C.get(f"Does DAO-E beat {names[b]}?", {})
        want = "yes" if holm[b] < 0.05 and r["diff"] > 0 else "no" if holm[b] < 0.05 else "not shown"
        ok(row.get("answer", "").startswith(want), f"claim vs {b}: {row} (Holm p {holm[b]:.3g}, diff {r['diff']:+.4f})")
    # lion-s3 has not ended: 24 of the 25 runs planned, so the answers are provisional, and say so
    ok(any(q.startswith("Early") for q in C) and any(q.startswith("Late") for q in C) and
       S["claims"]["paragraph"].startswith("Provisional: 24 of the 25 runs planned have ended") and
       "At this scale, in final test accuracy" in S["claims"]["paragraph"] and S["claims"]["provisional"] is True and
       (S["claims"]["runs_planned"], S["claims"]["runs_ended"]) == (25, 24),
       f"claims rows and paragraph: {list(C)} {S['claims']['paragraph']}")
    # the paragraph reads without the tables: DAO-E's mean, and each baseline's mean and difference
    para = S["claims"]["paragraph"]
    ok(f"DAO-E ({100 * statistics.mean(samples['daoe']):.2f} % mean over "
       f"{len(samples['daoe'])} runs)" in para, f"DAO-E's mean in the paragraph: {para}")
    for b, r in refs.items():
        want = f"{names[b]} ({100 * statistics.mean(samples[b]):.2f} %: {100 * r['diff']:+.2f} points, Holm p = "
        ok(want in para, f"the paragraph names {b} as '{want}...': {para}")
    # where the paired test by seed and Welch's disagree at 5 % (Holm), the paragraph says so, and only there
    disagree = []
    for b, r in refs.items():
        P = comps[("daoe", b)]["paired"]
        wsig, psig = holm[b] < 0.05, P["p_holm"] < 0.05
        named = f"{names[b]} ({100 * P['mean_diff']:+.2f} points over {P['n']} seeds, Holm p = " in para
        if wsig != psig or (wsig and (P["mean_diff"] > 0) != (r["diff"] > 0)):
            disagree.append(b)
        ok(named == (b in disagree), f"paired vs Welch for {b}: Welch Holm p {holm[b]:.3g}, paired Holm p "
                                     f"{P['p_holm']:.3g}, named {named}: {para}")
    ok(bool(disagree) == ("The paired test by seed" in para), f"the paired sentence iff a disagreement: {para}")
    print(f"  paired vs Welch disagree for: {disagree or 'none'}")
    # a disagreement made on purpose: DAO-E's seeds ordered against SGD's, so the two groups' means stand
    # apart (Welch p about 0.013) while the per-seed differences (1.8, 1.2, 0.8, 0.4, -0.2 points) scatter
    # (paired p about 0.08)
    pv = os.path.join(work, "paired_vs_welch")
    shutil.rmtree(pv, ignore_errors=True)
    os.makedirs(pv)
    accs = {"sgd": [0.840, 0.842, 0.844, 0.846, 0.848], "daoe": [0.858, 0.854, 0.852, 0.850, 0.846]}
    for g, a in accs.items():
        for sd_, acc in enumerate(a):
            curve = {"test": [acc * 0.5, acc * 0.8, acc], "val": [acc * 0.5, acc * 0.8, acc], "loss": [2.0, 1.0, 0.5]}
            write_run(pv, f"{g}-s{sd_}", g, sd_, {"test": acc, "val": acc, "ips": 300.0, "wall": 92.0}, curve,
                      [30.0, 30.0, 30.0], epochs=3, group=g)
    json.dump({"profile": "pv", "kind": "compare", "compare_to": "daoe", "target_acc": 0.3,
               "runs": [{"group": "sgd"}, {"group": "daoe"}]}, open(os.path.join(pv, "sweep.json"), "w"))
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), pv])
    Sv = json.load(open(os.path.join(pv, "summary.json")))
    cv = Sv["comparisons"][0]
    from scipy import stats
    pa, pb = np.array(accs["daoe"]), np.array(accs["sgd"])
    tt = stats.ttest_rel(pa, pb)
    ok(rc == 0 and cv["p_holm"] < 0.05 and abs(cv["paired"]["p"] - tt.pvalue) < 1e-9 and tt.pvalue > 0.05 and
       "beats SGD (84.40 %: +0.80 points" in Sv["claims"]["paragraph"] and
       "does not confirm the difference from SGD (+0.80 points over 5 seeds, Holm p = 0.079)" in Sv["claims"]["paragraph"],
       f"Welch yes, paired no: Welch Holm p {cv['p_holm']:.3g}, paired p {tt.pvalue:.3g}: {Sv['claims']['paragraph']} {err}")
    # every planned run ended (the unended one gone from the folder and the plan, which lists groups
    # only here: the runs planned are then the folders): not provisional
    whole = os.path.join(work, "whole")
    shutil.rmtree(whole, ignore_errors=True)
    shutil.copytree(root, whole)
    shutil.rmtree(os.path.join(whole, "lion-s3"))
    sj = json.load(open(os.path.join(whole, "sweep.json")))
    sj["runs"] = [r for r in sj["runs"] if r.get("id") != "lion-s3"]
    json.dump(sj, open(os.path.join(whole, "sweep.json"), "w"))
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), whole])
    Sw = json.load(open(os.path.join(whole, "summary.json")))["claims"]
    ok(rc == 0 and Sw["paragraph"].startswith("At this scale, in final test accuracy") and Sw["provisional"] is False and
       (Sw["runs_planned"], Sw["runs_ended"]) == (24, 24), f"a complete table: {Sw['paragraph']} {err}")
    banner = "Not complete: 24 of the 25 runs planned (sweep.json) have ended"
    ok(f"**{banner}; every number below is from those.**" in open(os.path.join(root, "summary.md")).read() and
       "Not complete" not in open(os.path.join(whole, "summary.md")).read(), "summary.md says the table is not complete")
    for d in (root, whole):
        rc, out, err = run([os.path.join(bindir, "daoe-stats"), "--report", d])
        html = open(os.path.join(d, "report.html")).read()
        ok(rc == 0 and (f'<p id="incomplete"><strong>{banner}' in html) == (d == root) and
           ('id="incomplete"' in html) == (d == root), f"report.html of {d} says whether it is complete: {err}")
    # the update shares of the mixture claim: each finished DAO-E run's mean share over its traced steps
    # in the first (last) 10 % of its last traced step, then the mean over runs, from alpha.csv
    def window_shares(lo, hi):
        per_run = []
        for n, r in raw.items():
            if r["group"] != "daoe" or r["status"] != "finished":
                continue
            rows = list(csv.DictReader(open(os.path.join(root, n, "alpha.csv"))))
            last = float(rows[-1]["step"])
            sel = [x for x in rows if lo <= float(x["step"]) / last < hi]
            if sel:
                per_run.append([sum(float(x[f"share_{m}"]) for x in sel) / len(sel) for m in MEMBERS])
        return [sum(v[i] for v in per_run) / len(per_run) for i in range(len(MEMBERS))], len(per_run)
    labels = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSProp", "lion": "Lion"}
    US = S["claims"].get("update_shares", {})
    for q, key, lo, hi in (("Early", "first_10_percent", 0.0, 0.1), ("Late", "last_10_percent", 0.9, 1.0 + 1e-9)):
        sh, nr = window_shares(lo, hi)
        want = "update shares: " + ", ".join(f"{labels[m]} {100 * v:.0f} %" for m, v in zip(MEMBERS, sh))
        row = next((r for k, r in C.items() if k.startswith(q)), {})
        got = US.get(key, {})
        ok(nr == 5 and row.get("evidence") == want and got.get("runs") == nr and
           all(abs(got.get(m, -1) - v) < 1e-9 for m, v in zip(MEMBERS, sh)),
           f"{q} shares: {row.get('evidence')}, {got} (want {want}, {dict(zip(MEMBERS, sh))}, {nr} runs)")
    # a trace too sparse for the first 10 % (steps 1 and 10 only: 1/10 is not < 0.1): said, not 0 %
    sparse = os.path.join(work, "sparse")
    shutil.rmtree(sparse, ignore_errors=True)
    shutil.copytree(root, sparse)
    for n, r in raw.items():
        if r["group"] == "daoe" and os.path.isdir(os.path.join(sparse, n)):
            f = os.path.join(sparse, n, "alpha.csv")
            rows = open(f).read().splitlines()
            keep = [rows[0]] + [x for x in rows[1:] if x.split(",")[0] in ("1", "10")]
            if len(keep) < 3:  # the synthetic trace has steps 1, 6, 11, ...: make the step-10 row from step 11's
                keep.append("10" + next(x for x in rows[1:] if x.split(",")[0] == "11")[2:])
            open(f, "w").write("\n".join(keep) + "\n")
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), sparse])
    Sp = json.load(open(os.path.join(sparse, "summary.json")))
    Cp = {r["question"]: r for r in Sp.get("claims", {}).get("rows", [])}
    early = next((r for k, r in Cp.items() if k.startswith("Early")), {})
    late = next((r for k, r in Cp.items() if k.startswith("Late")), {})
    ok(rc == 0 and early.get("answer", "").startswith("cannot tell: no finished DAO-E run traced a step") and
       Sp["claims"]["update_shares"]["first_10_percent"] == {"runs": 0, **{m: None for m in MEMBERS}} and
       late.get("evidence", "").startswith("update shares:") and
       "cannot be told: no finished DAO-E run traced a step in the first 10 % of its steps" in Sp["claims"]["paragraph"],
       f"sparse trace: early {early}, late {late}, paragraph {Sp['claims']['paragraph']}")
    ok(abs(S["paper_reference"]["final_test_acc"] - 0.916) < 1e-12, "paper row")
    md = open(os.path.join(root, "summary.md")).read()
    ok("DAO-E, paper (reported)" in md and "91.60" in md, "paper row in summary.md")
    ok("rmsprop-s4 | 4 | diverged" in md, "diverged run listed in summary.md")
    ok("Device: cpu: test, 2 threads (20 runs); cpu: test, 1 thread (5 runs).  \n" in md,
       "every device named with its count in summary.md")
    tot = sum(r["wall"] for r in raw.values() if r["status"] != "incomplete")
    ok(f"Run time: {tot / 60:.1f} min in all" in md, f"run time with the stopped runs' whole epochs: {tot / 60:.1f} min")
    tex = open(os.path.join(root, "summary.tex")).read()
    ok("\\toprule" in tex and "91.60" in tex and "–" not in tex, "summary.tex")
    check_robust(S, raw, groups, samples, root)
    check_twin(bindir, root, samples["sgd"], rng)
    # n = 1 and n = 0 groups: no interval, no test, no crash
    root1 = os.path.join(work, "synth1")
    make_synthetic(root1, rng, {"sgd": ("sgd", 0.4, 0.01, "", []), "daoe": ("daoe", 0.4, 0.01, "", [])}, seeds=(0,),
                   target=0.3)
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), root1])
    ok(rc == 0, f"n=1: exit {rc} {err}")
    S1 = json.load(open(os.path.join(root1, "summary.json")))
    ok(S1["groups"][0]["final_test_acc"]["sd"] is None and S1["comparisons"][0]["p"] is None, "n=1 gives nulls")
    for bad in (["--target", "0.5x"], ["--target", "nan"], ["--alpha", ""]):
        rc, out, err = run([os.path.join(bindir, "daoe-stats"), *bad, root1])
        ok(rc == 2 and err.count("\n") == 1 and bad[0] in err, f"daoe-stats {' '.join(bad)} refused: {err}")
    # the figures take the display names from the plot data (the list lives in C)
    meta = open(os.path.join(root1, "plotdata", "meta.gp")).read()
    # every optimizer daoe-train knows (its --help), in its order, each with a display name; the
    # first rules and DAO-E with the names the paper uses (a new rule adds itself: no list here)
    rc, out, err = run([os.path.join(bindir, "daoe-train"), "--help"])
    known = re.search(r"--optimizer\s+(\S+)", out).group(1).split("|")
    names = re.search(r"^optimizers = \"([^\"]*)\"", meta, re.M)
    labels = re.search(r"^optimizer_labels = '(.*)'", meta, re.M)
    labels = re.findall(r'"([^"]*)"', labels.group(1)) if labels else []
    ok(names and names.group(1).split() == known and len(labels) == len(known) and
       labels[:5] == ["SGD", "Adam", "AdamW", "RMSProp", "Lion"] and labels[-1] == "DAO-E",
       f"meta.gp names the optimizers (daoe-train knows {known}; meta.gp: {names and names.group(1)}, {labels})")
    return 0


# ---------------------------------------------------------------- regression check
def test_check(bindir, work, src):
    import random
    rng_np = None
    try:
        import numpy as np
        rng_np = np.random.default_rng(7)
    except ImportError:
        print("skip: numpy missing")
        return 77
    groups = {"sgd": ("sgd", 0.42, 0.01, "", []), "adam": ("adam", 0.40, 0.01, "", []),
              "daoe": ("daoe", 0.43, 0.01, "", [])}
    ref = os.path.join(work, "reference")
    make_synthetic(ref, np.random.default_rng(7), groups, seeds=(0, 1))
    stats = os.path.join(bindir, "daoe-stats")
    same = os.path.join(work, "same")
    make_synthetic(same, np.random.default_rng(7), groups, seeds=(0, 1))
    rc, out, err = run([stats, "--check", same, "--reference", ref])
    ok(rc == 0, f"identical results pass: exit {rc}\n{out}{err}")
    # a fresh sample from the same distribution passes too
    fresh = os.path.join(work, "fresh")
    make_synthetic(fresh, np.random.default_rng(8), groups, seeds=(0, 1))
    rc, out, err = run([stats, "--check", fresh, "--reference", ref])
    ok(rc == 0, f"same-distribution sample passes: exit {rc}\n{out}{err}")
    # shared seeds: the paired lines (identical accuracies: the same bits; else the sd of the differences)
    ok("share a seed with the reference (6 with other bits)" in out and "false-alarm chance of the whole check" in out,
       f"paired report for other bits: {out}")
    rc, out, err = run([stats, "--check", same, "--reference", ref])
    ok("have exactly its accuracy" in out, f"paired report for the same bits: {out}")
    # adam 6 points down: fails and names adam and the numbers
    bad = os.path.join(work, "degraded")
    make_synthetic(bad, np.random.default_rng(7), groups, seeds=(0, 1), degrade=("adam", 0.06))
    rc, out, err = run([stats, "--check", bad, "--reference", ref])
    ok(rc == 1, f"degraded adam fails: exit {rc}")
    ok("adam" in err and "below the reference" in err and "sgd:" not in err, f"message names adam only: {err}")
    # adam 6 points up: two-sided by default, so it fails too; --one-sided lets it pass as ok-ROSE
    up = os.path.join(work, "risen")
    make_synthetic(up, np.random.default_rng(7), groups, seeds=(0, 1), degrade=("adam", -0.06))
    rc, out, err = run([stats, "--check", up, "--reference", ref])
    ok(rc == 1 and "adam" in err and "above the reference" in err and "sgd:" not in err,
       f"risen adam fails: exit {rc} {err}")
    ok(any(l.startswith("adam ") and l.endswith("FAIL-ROSE") for l in out.splitlines()), f"FAIL-ROSE line: {out}")
    rc, out, err = run([stats, "--check", up, "--reference", ref, "--one-sided"])
    ok(rc == 0 and any(l.startswith("adam ") and l.endswith("ok-ROSE") for l in out.splitlines()),
       f"--one-sided passes a rise as ok-ROSE: exit {rc}\n{out}{err}")
    # a run that diverged where the reference did not
    div = os.path.join(work, "diverged")
    make_synthetic(div, np.random.default_rng(7), groups, seeds=(0, 1), diverge=("sgd-s1",))
    rc, out, err = run([stats, "--check", div, "--reference", ref])
    ok(rc == 1 and "sgd" in err and "diverged" in err, f"new divergence fails: exit {rc} {err}")
    # another setting is not comparable
    wide = os.path.join(work, "wide")
    make_synthetic(wide, np.random.default_rng(7), groups, seeds=(0, 1), width=32)
    rc, out, err = run([stats, "--check", wide, "--reference", ref])
    ok(rc == 2 and "not comparable" in err, f"other width refused: exit {rc} {err}")
    # the table quotes each group's minimum detectable drop (80 % power)
    rc, out, err = run([stats, "--check", same, "--reference", ref])
    ok("mdd80" in out and len([l for l in out.splitlines() if l.startswith("adam ")]) == 1, f"mdd80 column: {out}")
    # --groups: only the named groups are judged (a sweep with --only)
    rc, out, err = run([stats, "--check", bad, "--reference", ref, "--groups", "sgd,daoe"])
    ok(rc == 0 and "left out by --groups" in out, f"--groups sgd,daoe ignores adam: exit {rc}\n{out}{err}")
    rc, out, err = run([stats, "--check", bad, "--reference", ref, "--groups", "adam"])
    ok(rc == 1 and "adam" in err, f"--groups adam catches adam: exit {rc} {err}")
    rc, out, err = run([stats, "--check", bad, "--reference", ref, "--groups", "adamx"])
    ok(rc != 0 and "not a group of the reference" in err, f"--groups with an unknown group refused: exit {rc} {err}")
    # --power: the allowed and detectable drops from the reference's pooled sd (scipy by hand)
    try:
        from scipy import stats as sst
        accs = {}
        for d in os.listdir(ref):
            sp = os.path.join(ref, d, "summary.json")
            if os.path.exists(sp):
                sj = json.load(open(sp))
                accs.setdefault(sj["optimizer"], []).append(100 * sj["final_test_acc"])
        df = sum(len(v) - 1 for v in accs.values())
        sp_ = (sum(np.var(v, ddof=1) * (len(v) - 1) for v in accs.values()) / df) ** 0.5
        for n_new, sided in ((2, []), (5, []), (5, ["--one-sided"])):
            se = sp_ * (1 / 2 + 1 / n_new) ** 0.5
            allowed = max(1.0, sst.t.ppf(1 - 0.01 / (1 if sided else 2), df) * se)
            mdd = allowed + sst.t.ppf(0.8, df) * se
            rc, out, err = run([stats, "--power", ref, "--n-new", str(n_new), *sided])
            line = [l for l in out.splitlines() if l.startswith("| Adam |")]
            ok(rc == 0 and len(line) == 1, f"--power prints Adam's row: exit {rc}\n{out}{err}")
            cells = [c.strip() for c in line[0].strip("|").split("|")] if line else []
            ok(len(cells) == 6 and abs(float(cells[4]) - allowed) < 0.006 and abs(float(cells[5]) - mdd) < 0.006,
               f"--power n_new {n_new}: allowed/MDD {cells[4:]} vs scipy {allowed:.3f}/{mdd:.3f}")
            ok(f"pooled within-group sd = **{sp_:.2f} points** (df = {df})" in out, f"--power quotes s and df: {out}")
    except ImportError:
        print("note: scipy missing: --power not compared")
    # a reference with one finished run in a group has no spread: refused
    thin = os.path.join(work, "thin")
    make_synthetic(thin, np.random.default_rng(7), groups, seeds=(0,))
    rc, out, err = run([stats, "--check", same, "--reference", thin])
    ok(rc == 2 and "at least 2 per group" in err, f"one-run reference refused: exit {rc} {err}")
    rc, out, err = run([stats, "--power", thin])
    ok(rc == 2 and "at least 2 per group" in err, f"--power of a one-run reference refused: exit {rc} {err}")
    # the committed references: pass against themselves, fail when degraded
    rdir = os.path.join(src, "results", "reference")
    for name in sorted(os.listdir(rdir)) if os.path.isdir(rdir) else []:
        r = os.path.join(rdir, name)
        rc, out, err = run([stats, "--check", r, "--reference", r])
        ok(rc == 0, f"{r} against itself: exit {rc}\n{out}{err}")
        copy = os.path.join(work, "ref-" + name)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(r, copy, ignore=shutil.ignore_patterns("*.safetensors", "figures", "plotdata"))
        victim = None
        for run_dir in sorted(os.listdir(copy)):
            sp = os.path.join(copy, run_dir, "summary.json")
            if not os.path.exists(sp):
                continue
            s = json.load(open(sp))
            if s.get("status") == "finished" and (victim is None or s["optimizer"] == victim):
                victim = s["optimizer"]
                s["final_test_acc"] -= 0.15
                json.dump(s, open(sp, "w"))
        rc, out, err = run([stats, "--check", copy, "--reference", r])
        ok(rc == 1 and victim in err, f"degraded copy of {r} ({victim} -15 points) fails: exit {rc} {err}")
    return 0


# ---------------------------------------------------------------- figures
def test_figures(bindir, work, src):
    if not shutil.which("gnuplot"):
        print("skip: gnuplot missing")
        return 77
    try:
        import numpy as np
    except ImportError:
        return 77
    rng = np.random.default_rng(3)
    cmp_dir = os.path.join(work, "fig-compare")
    abl_dir = os.path.join(work, "fig-ablation")
    make_synthetic(abl_dir, rng, {"daoe-full": ("daoe", 0.43, 0.01, "full", []),
                                  "daoe-fixed": ("daoe", 0.41, 0.01, "fixed", ["--controller", "fixed"]),
                                  "daoe-no-x_mean": ("daoe", 0.43, 0.01, "no-x_mean", [])},
                   seeds=(0, 1, 2), kind="ablation", compare_to="daoe-full")
    # a tuning: its figures draw the validation accuracy it selects on, never the test set's
    tune_dir = os.path.join(work, "fig-tune")
    raws = {cmp_dir: make_synthetic(cmp_dir, rng, {"sgd": ("sgd", 0.42, 0.01, "", []),
                                                   "adam": ("adam", 0.40, 0.02, "", []),
                                                   "daoe": ("daoe", 0.43, 0.01, "", [])}, seeds=(0, 1)),
            tune_dir: make_synthetic(tune_dir, rng, {"sgd-lr0.1": ("sgd", 0.42, 0.01, "", ["--lr", "0.1"]),
                                                     "sgd-lr0.3": ("sgd", 0.45, 0.01, "", ["--lr", "0.3"])},
                                     seeds=(100, 101), kind="tune", compare_to=None)}
    expect = {cmp_dir: ["test_accuracy", "train_loss", "alpha", "share", "final_accuracy", "throughput",
                        "performance_profile"],
              abl_dir: ["test_accuracy", "alpha", "final_accuracy", "ablation", "performance_profile"],
              tune_dir: ["val_accuracy", "train_loss", "final_accuracy", "performance_profile"]}
    for d, names in expect.items():
        rc, out, err = run([os.path.join(bindir, "daoe-stats"), d])
        ok(rc == 0, f"daoe-stats {d}: {err}")
        for script in ["curves", "alpha", "final", "throughput", "ablation", "profile"]:
            rc, out, err = run(["gnuplot", "-e", f"dir='{d}'", os.path.join(src, "plots", script + ".gp")])
            ok(rc == 0 and "error" not in err.lower() and "warning" not in err.lower(),
               f"gnuplot {script}.gp on {d}: exit {rc} {err}")
        for n in names:
            for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
                p = os.path.join(d, "figures", f"{n}.{ext}")
                ok(os.path.exists(p) and open(p, "rb").read(len(magic)) == magic and os.path.getsize(p) > 2000,
                   f"{p} written")
            svg = open(os.path.join(d, "figures", f"{n}.svg")).read()
            ok("<script" not in svg, f"{n}.svg has no script")
        # fewer than 5 runs per group: the bands are min-max, and the key says so
        meta = open(os.path.join(d, "plotdata", "meta.gp")).read()
        ok('band_note = "band: min-max of the runs (fewer than 5)"' in meta, f"{d}: band note: {meta}")
        if d not in raws:
            continue
        # the accuracy drawn: a group's mean in final.tsv and each run's point in runs.tsv are the test
        # accuracy, a tuning's the validation accuracy (and its test accuracy is drawn nowhere)
        key, other = ("val", "test") if d == tune_dir else ("test", "val")
        ok(f'acc = "{key}"' in meta, f"{d}: meta.gp names the accuracy drawn ({key}): {meta}")
        ok(os.path.exists(os.path.join(d, "figures", "test_accuracy.svg")) == (d != tune_dir),
           f"{d}: test_accuracy figure only outside a tuning")
        rows = [l.split("\t") for l in open(os.path.join(d, "plotdata", "final.tsv")) if not l.startswith("#")]
        for row in rows:
            xs = [r[key] for r in raws[d].values() if r["group"] == row[1]]
            want, wrong = 100 * sum(xs) / len(xs), 100 * sum(
                r[other] for r in raws[d].values() if r["group"] == row[1]) / len(xs)
            ok(abs(float(row[3]) - want) < 1e-3 and abs(want - wrong) > 1e-3,
               f"{d}: final.tsv {row[1]} mean {row[3]} is the {key} accuracy {want:.4f} (the {other}'s: {wrong:.4f})")
        pts = [l.split("\t") for l in open(os.path.join(d, "plotdata", "runs.tsv")) if not l.startswith("#")]
        col = 4 if key == "test" else 5  # acc_run_col, 1-based like gnuplot's
        ok(f"acc_run_col = {col}" in meta and len(pts) == len(raws[d]) and all(
            abs(float(p[col - 1]) - 100 * raws[d][f"{p[1]}-s{p[2]}"][key]) < 1e-3 for p in pts),
           f"{d}: runs.tsv column {col} is each run's {key} accuracy")
    return 0


# ---------------------------------------------------------------- report.html in a browser
RAW_FILES = ("config.json", "summary.json", "epochs.csv", "alpha.csv", "sweep_run.json", "train.log")


def make_report(bindir, src, d):
    """daoe-stats, every figure and daoe-stats --report on the results folder d; whether all ran"""
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), d])
    good = ok(rc == 0, f"daoe-stats {d}: {err}")
    for script in ["curves", "alpha", "final", "throughput", "ablation", "profile"]:
        rc, out, err = run(["gnuplot", "-e", f"dir='{d}'; formats='svg'", os.path.join(src, "plots", script + ".gp")])
        good &= ok(rc == 0, f"gnuplot {script}.gp on {d}: {err}")
    rc, out, err = run([os.path.join(bindir, "daoe-stats"), "--report", d])
    return good & ok(rc == 0 and os.path.exists(os.path.join(d, "report.html")), f"daoe-stats --report {d}: {err}")


def test_report(bindir, work, src):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import browser_check
    if not browser_check.chromium():
        print("skip: chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
        return 77
    if not shutil.which("gnuplot"):
        print("skip: gnuplot missing")
        return 77
    try:
        import numpy as np
    except ImportError:
        print("skip: numpy missing for /usr/bin/python3")
        return 77
    # the committed smoke results, raw files only
    smoke = os.path.join(work, "smoke")
    shutil.rmtree(smoke, ignore_errors=True)
    committed = os.path.join(src, "results", "smoke")
    for name in sorted(os.listdir(committed)):
        if os.path.exists(os.path.join(committed, name, "config.json")):
            os.makedirs(os.path.join(smoke, name))
            for f in RAW_FILES:
                if os.path.exists(os.path.join(committed, name, f)):
                    shutil.copy(os.path.join(committed, name, f), os.path.join(smoke, name, f))
    for f in ("sweep.json", "timings.tsv"):
        shutil.copy(os.path.join(committed, f), os.path.join(smoke, f))
    if not make_report(bindir, src, smoke):
        return 1
    page, shot = os.path.join(smoke, "report.html"), os.path.join(work, "report-smoke.png")
    problems, info = browser_check.check_page(page, shot)
    ok(not problems, "report.html of results/smoke in Chromium: " + "; ".join(problems))
    want = ["test_accuracy", "train_loss", "final_accuracy", "performance_profile", "alpha", "share", "throughput"]
    ok([i["src"] for i in info["images"]] == [f"figures/{n}.svg" for n in want], f"figures: {info['images']}")
    tables = {t["title"]: t for t in info["tables"]}
    for title in ("Final test accuracy (%)", "Robust statistics: mean and interquartile mean (IQM) of final test "
                  "accuracy (%)", "Paired by seed: per-seed differences of final test accuracy", "Runs"):
        ok(title in tables, f"table {title!r} in the page: {sorted(tables)}")
    ok(tables.get("Runs", {}).get("rows") == 10, "the run list has the 10 runs")
    html = open(page).read()
    ok(html.count("<td>finished</td>") == 10 and 'href="daoe-s1/alpha.csv"' in html, "run status and raw files linked")
    png = open(shot, "rb").read(24)
    ok(png[:4] == b"\x89PNG" and int.from_bytes(png[16:20], "big") == 1280 and int.from_bytes(png[20:24], "big") > 3000,
       f"screenshot {shot}")
    print(f"screenshot of results/smoke's report: {shot}")
    # a synthetic ablation, 5 seeds, a diverged run: bootstrap bands and the ablation figure
    abl = os.path.join(work, "ablation")
    make_synthetic(abl, np.random.default_rng(5), {"daoe-full": ("daoe", 0.43, 0.01, "full", []),
                                                   "daoe-fixed": ("daoe", 0.41, 0.01, "fixed", ["--controller", "fixed"])},
                   seeds=(0, 1, 2, 3, 4), kind="ablation", compare_to="daoe-full", diverge=("daoe-fixed-s4",))
    if make_report(bindir, src, abl):
        problems, info = browser_check.check_page(os.path.join(abl, "report.html"))
        ok(not problems, "report.html of a synthetic ablation: " + "; ".join(problems))
        ok("figures/ablation.svg" in [i["src"] for i in info["images"]], "the ablation figure in the page")
        ok("diverged (step 37)" in open(os.path.join(abl, "report.html")).read(), "the diverged run listed")
    # what the check must catch: a missing image, a console error, an empty table
    os.rename(os.path.join(smoke, "figures", "alpha.svg"), os.path.join(work, "alpha.svg"))
    problems, _ = browser_check.check_page(page)
    os.rename(os.path.join(work, "alpha.svg"), os.path.join(smoke, "figures", "alpha.svg"))
    ok(any("image did not load: figures/alpha.svg" in p for p in problems), f"a missing figure is caught: {problems}")
    bad = os.path.join(smoke, "bad.html")
    open(bad, "w").write(html.replace("</body>", "<script>console.error('injected')</script></body>"))
    problems, _ = browser_check.check_page(bad)
    ok(any("console.error: injected" in p for p in problems), f"a console error is caught: {problems}")
    start = html.index("<tbody>", html.index('id="robust"'))
    open(bad, "w").write(html[:start] + "<tbody>\n" + html[html.index("</tbody>", start):])
    problems, _ = browser_check.check_page(bad)
    ok(any(p.startswith("empty table: Robust statistics") for p in problems), f"an empty table is caught: {problems}")
    return 0


# ---------------------------------------------------------------- sweep
TINY = {"backend": "cpu", "width": 4, "batch": 128, "epochs": 1, "train_subset": 256, "val": 256,
        "test_subset": 256, "trace_every": 1, "checkpoint_minutes": 0}


def dry(sweep, prof, *extra):
    rc, out, err = run([sweep, "--dry-run", prof, *extra])
    rows = [l.split("\t") for l in out.splitlines() if l and not l.startswith("#")]
    return rc, {r[0]: (r[1], r[2]) for r in rows}, out + err


def mtime(p):
    return os.stat(p).st_mtime_ns


def test_sweep(bindir, work, src, data):
    sweep, stats = os.path.join(bindir, "daoe-sweep"), os.path.join(bindir, "daoe-stats")
    # the committed profiles expand as documented (no data needed for a dry run)
    expect = {"paper": 25, "quick": 15, "smoke": 10, "ablation": 54, "tune": 15}
    for name, n in expect.items():
        rc, rows, txt = dry(sweep, os.path.join(src, "bench", "profiles", name + ".json"), "--results",
                            os.path.join(work, "none"))
        ok(rc == 0 and len(rows) == n, f"profile {name}: {len(rows)} runs, expected {n} (exit {rc})\n{txt}")
    rc, rows, txt = dry(sweep, os.path.join(src, "bench", "profiles", "ablation.json"), "--results",
                        os.path.join(work, "none"))
    ok("daoe-no-grad_var-s2" in rows and "--features x_mean,x_var,pred_entropy,grad_norm,loss_delta,progress"
       in rows["daoe-no-grad_var-s2"][1], "ablation: feature removal expands to --features")
    ok("--members sgd,adam,rmsprop" in rows.get("daoe-k3-no-lion-s0", ("", ""))[1], "ablation: K = 3")
    ok("--controller-hidden 8" in rows.get("daoe-hidden8-s0", ("", ""))[1], "ablation: hidden layer")
    ok("--ctrl-pass two" in rows.get("daoe-two-pass-s0", ("", ""))[1], "ablation: two-pass controller")
    rc, rows, txt = dry(sweep, os.path.join(src, "bench", "profiles", "tune.json"), "--base", "smoke", "--results",
                        os.path.join(work, "none"))
    ok("sgd-lr0.3-s100" in rows and "--width 16" in rows["sgd-lr0.3-s100"][1] and
       rows["sgd-lr0.3-s100"][1].endswith("--lr 0.3"), "tune --base smoke")
    # bad profiles: one-line errors
    badp = os.path.join(work, "bad.json")
    json.dump({"name": "bad", "train": TINY, "optimizers": ["sgd"], "seeds": [0], "epoch": 3}, open(badp, "w"))
    rc, _, txt = dry(sweep, badp)
    ok(rc == 2 and "unknown profile key" in txt, f"unknown key refused: {txt}")
    # numbers on the command line are parsed whole: one line naming the flag, exit 2
    for bad in (["-j", "abc"], ["-j2x"], ["--threads", "-1"], ["-j", "99999999999"]):
        rc, _, txt = dry(sweep, badp, *bad)
        ok(rc == 2 and txt.count("\n") == 1 and bad[0][:2] in txt, f"daoe-sweep {' '.join(bad)} refused: {txt}")

    if not data or not os.path.isdir(data):
        print("skip: the run part needs CIFAR-10 (CIFAR10_DIR)")
        return 77 if not FAILS else 1
    env = dict(os.environ, CIFAR10_DIR=data)
    res = os.path.join(work, "results")
    shutil.rmtree(res, ignore_errors=True)
    prof = os.path.join(work, "tiny.json")
    json.dump({"name": "tiny", "train": TINY, "optimizers": ["sgd", "daoe"], "seeds": [0, 1], "compare_to": "daoe"},
              open(prof, "w"))
    R = os.path.join(res, "tiny")
    # threads per run come from the CPUs this process may use (a Slurm cpuset, taskset), not
    # from every CPU online: with 1 CPU allowed, 1 thread, never oversubscribed
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        rc, out, err = run(["taskset", "-c", str(min(os.sched_getaffinity(0))), sweep, "--dry-run", prof,
                            "--results", R], env=env)
        ok(rc == 0 and "# jobs 1, threads per job 1\n" in out, f"taskset -c 0: one thread per job: {out}{err}")
        rc, out, err = run([sweep, "--dry-run", prof, "--results", R], env=env)
        ok(f"# jobs 1, threads per job {len(os.sched_getaffinity(0))}\n" in out, f"every allowed CPU: {out}{err}")
    rc, rows, txt = dry(sweep, prof, "--results", R)
    ok(rc == 0 and list(rows) == ["sgd-s0", "daoe-s0", "sgd-s1", "daoe-s1"] and
       all(v[0] == "run" for v in rows.values()), f"expansion (seed-major ids): {rows}")
    rc, out, err = run([sweep, prof, "--results", R, "-j", "2", "--threads", "2"], env=env)
    ok(rc == 0, f"sweep exit {rc}: {err}")
    for i in rows:
        s = json.load(open(os.path.join(R, i, "summary.json")))
        ok(s["status"] == "finished", f"{i} finished")
    sj = json.load(open(os.path.join(R, "sweep.json")))
    ok(sj["counts"]["finished"] == 4 and len(sj["invocations"]) == 1, "sweep.json counts")
    before = {i: mtime(os.path.join(R, i, "summary.json")) for i in rows}
    sj_m = mtime(os.path.join(R, "sweep.json"))
    rc, out, err = run([sweep, prof, "--results", R], env=env)
    ok(rc == 0 and "nothing to run" in err, f"second sweep does nothing: {err}")
    ok(sj_m == mtime(os.path.join(R, "sweep.json")), "sweep.json untouched by a no-op sweep")
    ok(all(before[i] == mtime(os.path.join(R, i, "summary.json")) for i in rows), "finished runs untouched")
    # delete one run folder: only that run runs again
    shutil.rmtree(os.path.join(R, "daoe-s1"))
    rc, rows2, txt = dry(sweep, prof, "--results", R)
    ok([i for i, v in rows2.items() if v[0] == "run"] == ["daoe-s1"], f"only daoe-s1 pending: {rows2}")
    rc, out, err = run([sweep, prof, "--results", R], env=env)
    ok(rc == 0 and "[1/1] daoe-s1" in err, f"re-run after delete: {err}")
    ok(all(before[i] == mtime(os.path.join(R, i, "summary.json")) for i in rows if i != "daoe-s1"),
       "the other runs untouched")
    sj = json.load(open(os.path.join(R, "sweep.json")))
    ok(len(sj["invocations"]) == 2 and sj["invocations"][-1]["runs_started"] == 1, "invocation recorded")
    # an unfinished run (summary missing) is run again
    os.remove(os.path.join(R, "sgd-s0", "summary.json"))
    rc, rows3, txt = dry(sweep, prof, "--results", R)
    ok(rows3["sgd-s0"][0] == "run", f"unfinished run pending: {rows3['sgd-s0']}")
    rc, out, err = run([sweep, prof, "--results", R, "--only", "sgd-s0"], env=env)
    ok(rc == 0 and os.path.exists(os.path.join(R, "sgd-s0", "summary.json")), "--only reruns it")
    # a diverged run is kept, and re-run only on request
    sp = os.path.join(R, "sgd-s1", "summary.json")
    s = json.load(open(sp))
    s["status"] = "diverged"
    json.dump(s, open(sp, "w"))
    rc, rows4, txt = dry(sweep, prof, "--results", R)
    ok(rows4["sgd-s1"][0] == "diverged" and sum(v[0] == "run" for v in rows4.values()) == 0, f"diverged kept: {rows4}")
    rc, rows5, txt = dry(sweep, prof, "--results", R, "--retry-diverged")
    ok(rows5["sgd-s1"][0] == "run", "--retry-diverged")
    rc, out, err = run([stats, R])
    S = json.load(open(os.path.join(R, "summary.json")))
    G = {g["group"]: g for g in S["groups"]}
    ok(rc == 0 and G["sgd"]["diverged"] == 1 and G["sgd"]["finished"] == 1, "daoe-stats counts the diverged run")
    # an edited profile makes the old results stale, not silently reused
    json.dump({"name": "tiny", "train": dict(TINY, epochs=2), "optimizers": ["sgd", "daoe"], "seeds": [0, 1]},
              open(prof, "w"))
    rc, rows6, txt = dry(sweep, prof, "--results", R)
    ok(rc == 1 and all(v[0] == "stale" for v in rows6.values()), f"stale after a profile edit: {rows6}")
    # tune -> tuned.json -> lr_from
    tprof = os.path.join(work, "tinytune.json")
    beyond = {"low": {"id": "lr0.001", "args": ["--lr", "0.001"]}, "high": {"id": "lr1", "args": ["--lr", "1"]}}
    json.dump({"name": "tinytune", "train": TINY, "seeds": [100], "lr_from": None,
               "grid": {"sgd": {"flag": "--lr", "values": [0.01, 0.1]},
                        "daoe": [{"id": "x1", "args": ["--sgd-lr", "0.1"]}]},
               "grid_beyond": {"sgd": beyond}}, open(tprof, "w"))
    T = os.path.join(res, "tinytune")
    rc, out, err = run([sweep, tprof, "--results", T, "-j", "2", "--threads", "2"], env=env)
    ok(rc == 0, f"tune sweep: {err}")
    rc, out, err = run([stats, T])
    # a two-point grid's best point is at an edge: the point beyond that side is due, so the
    # tuning is not complete; the sweep run again runs it (and only it), then it is
    val = {}
    for lr in ("0.01", "0.1"):
        val[lr] = json.load(open(os.path.join(T, f"sgd-lr{lr}-s100", "summary.json")))["final_val_acc"]
    base_best = max(val, key=lambda k: (val[k], k == "0.01"))  # ties: the first grid point
    side = "low" if base_best == "0.01" else "high"
    part_p, tuned_p = os.path.join(T, "tuned.partial.json"), os.path.join(T, "tuned.json")
    part = json.load(open(part_p)) if os.path.exists(part_p) else {}
    ok(rc == 0 and not os.path.exists(tuned_p) and part.get("extend") == [
        {"optimizer": "sgd", "side": side, "id": beyond[side]["id"], "args": beyond[side]["args"]}] and
       part["winners"]["sgd"]["settled"] is False and part["winners"]["sgd"].get("extension_due") == side,
       f"the point beyond the {side} edge is due: {err} {part.get('extend')} {part.get('winners')}")
    # the point beyond planned (sweep.json lists it) but its folder gone, as when a run folder
    # that had just begun is moved aside: daoe-stats counts it as not ended, so it is not due;
    # the next sweep (nothing to run) must list its plan again so that it becomes due again
    sj_p = os.path.join(T, "sweep.json")
    sj = json.load(open(sj_p))
    sj["runs"].append(dict(sj["runs"][0], id=f"sgd-{beyond[side]['id']}-s100", status="pending"))
    json.dump(sj, open(sj_p, "w"))
    rc, out, err = run([stats, T])
    ok(json.load(open(part_p))["extend"] == [], f"a planned point beyond is not due while listed: {err}")
    rc, out, err = run([sweep, tprof, "--results", T, "-j", "2", "--threads", "2"], env=env)
    ok(rc == 0 and "nothing to run" in err, f"nothing to run: {err}")
    rc, out, err = run([stats, T])
    ok(len(json.load(open(part_p))["extend"]) == 1,
       f"sweep.json relisted without the gone point: it is due again: {err} {json.load(open(sj_p))['runs']}")
    rc, rows, txt = dry(sweep, tprof, "--results", T)
    ok(rc == 0 and [k for k, v in rows.items() if v[0] == "run"] == [f"sgd-{beyond[side]['id']}-s100"],
       f"the sweep runs the point beyond, and only it: {rows}")
    rc, out, err = run([sweep, tprof, "--results", T, "-j", "2", "--threads", "2"], env=env)
    ok(rc == 0, f"tune sweep, the point beyond: {err}")
    rc, out, err = run([stats, T])
    ok(rc == 0 and os.path.exists(tuned_p), f"tuned.json written: {err}")
    tuned = json.load(open(tuned_p))
    bid = beyond[side]["args"][1]
    val[bid] = json.load(open(os.path.join(T, f"sgd-{beyond[side]['id']}-s100", "summary.json")))["final_val_acc"]
    if json.load(open(os.path.join(T, f"sgd-{beyond[side]['id']}-s100", "summary.json")))["status"] != "finished":
        del val[bid]
    order = ["0.001", "0.01", "0.1"] if side == "low" else ["0.01", "0.1", "1"]
    best = max((k for k in order if k in val), key=lambda k: (val[k], -order.index(k)))
    ok(tuned["extend"] == [] and tuned["winners"]["sgd"]["settled"] is True and
       (tuned["winners"]["sgd"].get("edge") is not None) == (best in (order[0], order[-1])),
       f"after the point beyond: settled, edge said as it stands: {tuned['winners']['sgd']} {val}")
    ok(tuned["winners"]["sgd"]["args"] == ["--lr", best], f"sgd winner by validation accuracy: {tuned['winners']} {val}")
    ok(tuned["winners"]["daoe"]["args"] == ["--sgd-lr", "0.1"], "daoe winner args")
    ok("edge" not in tuned["winners"]["daoe"] and all(w["settled"] for w in tuned["winners"].values()),
       f"a grid of one point has no edge; all settled: {tuned['winners']}")
    md = open(os.path.join(T, "summary.md")).read()
    ok(("at an edge of its points" in md.lower()) == ("edge" in tuned["winners"]["sgd"]), "the edge said in summary.md")
    uprof = os.path.join(work, "tinyuse.json")
    json.dump({"name": "tinyuse", "train": TINY, "optimizers": ["sgd", "daoe"], "seeds": [0], "lr_from": tuned_p},
              open(uprof, "w"))
    rc, rows7, txt = dry(sweep, uprof, "--results", os.path.join(res, "tinyuse"))
    ok(rc == 0 and rows7["sgd-s0"][1].endswith(f"--lr {best}") and rows7["daoe-s0"][1].endswith("--sgd-lr 0.1"),
       f"lr_from applied: {rows7}")
    json.dump(dict(json.load(open(uprof)), lr_from=os.path.join(work, "missing.json")), open(uprof, "w"))
    rc, out, err = run([sweep, uprof, "--results", os.path.join(res, "tinyuse")], env=env)
    ok(rc == 2 and "tune" in err, f"missing lr_from explained: {err}")
    # a tuning with a run that has not ended names no winners for the profiles: its choice so
    # far goes to tuned.partial.json, and the tuned.json of before is removed
    shutil.rmtree(os.path.join(T, "sgd-lr0.1-s100"))
    rc, out, err = run([stats, T])
    ok(rc == 0 and not os.path.exists(tuned_p) and os.path.exists(os.path.join(T, "tuned.partial.json")) and
       json.load(open(os.path.join(T, "tuned.partial.json")))["complete"] is False,
       f"an incomplete tuning writes tuned.partial.json, not tuned.json: {err}")
    part = json.load(open(os.path.join(T, "tuned.partial.json")))["winners"]
    ok(part["sgd"]["settled"] is False and part["sgd"]["runs_not_ended"] == 1 and part["daoe"]["settled"] is True,
       f"settled per optimizer: {part}")
    json.dump(dict(json.load(open(uprof)), lr_from=tuned_p), open(uprof, "w"))
    rc, out, err = run([sweep, uprof, "--results", os.path.join(res, "tinyuse")], env=env)
    ok(rc == 2 and "--untuned" in err, f"a profile refuses the incomplete tuning's rates: {err}")
    return 0


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    what, bindir, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    src = sys.argv[4] if len(sys.argv) > 4 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if what == "stats":
        rc = test_stats(bindir, work)
    elif what == "check":
        rc = test_check(bindir, work, src)
    elif what == "figures":
        rc = test_figures(bindir, work, src)
    elif what == "report":
        rc = test_report(bindir, work, src)
    elif what == "sweep":
        data = os.environ.get("CIFAR10_DIR") or (sys.argv[5] if len(sys.argv) > 5 else "")
        rc = test_sweep(bindir, work, src, data)
    else:
        print(__doc__)
        return 2
    if FAILS:
        print(f"{len(FAILS)} check(s) failed")
        return 1
    if rc == 0:
        print("OK")
    return rc


if __name__ == "__main__":
    sys.exit(main())
