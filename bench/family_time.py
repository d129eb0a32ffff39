#!/usr/bin/env python3
"""Machine time of a profile family so far, and what the runs left would take at the pace
measured: one Markdown list for REPRODUCE.md's <profile>-progress section (make progress).

  bench/family_time.py [--left PART=N ...] [--twin DIR] PART=RESULTS_DIR ...

PART names a part of the family (tuning, table); RESULTS_DIR holds its run folders. A run's
machine time is the sum of its epochs.csv `seconds` column (training and evaluation of every
epoch, across resumes; the time lost to a kill since the last checkpoint is not counted; an
epoch's `train_seconds` where larger: runs of trainers before 2026-12-07 recorded only the
resumed part of an epoch stopped inside), so a run under way counts what it has done, times the share
of the machine it held: config.json's `threads` over `machine.cores` (two 1-thread runs side by side
on a 2-core machine, daoe-sweep -j 2, count half their seconds each; 0 threads or an unknown count:
the whole machine). The machine is config.json's `machine.device` (CPU, threads, convolution engine, ISA). --left PART=N: N runs of PART still to run (daoe-sweep
--dry-run's count; PART twin: the twin's); they are estimated at the median machine time of
the finished runs of the same part, else of all parts. --twin DIR: the PyTorch twin's runs (torch-*.json, wall_seconds).
Prints nothing but the list; exit 2 on a bad command line."""
import csv
import json
import os
import statistics
import sys


def die(msg):
    print(f"family_time: {msg}", file=sys.stderr)
    sys.exit(2)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run_seconds(d):
    """(the sum of epochs.csv's seconds column, the same with every epoch as quick as the run's
    quickest epoch of its kind: with or without evaluation), or None without the file or column"""
    try:
        with open(os.path.join(d, "epochs.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    try:
        # an epoch stopped inside and resumed recorded only its resumed part in seconds before the
        # trainer of this commit's day (its train_seconds kept the whole): the larger of the two
        secs = [max(float(r["seconds"]), float(r.get("train_seconds") or 0)) for r in rows]
        evals = [r.get("test_acc", "nan").strip().lower() not in ("nan", "") for r in rows]
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    quickest = {}
    for s, e in zip(secs, evals):
        quickest[e] = min(s, quickest.get(e, s))
    return sum(secs), sum(quickest[e] for e in evals)


def machine_share(cfg):
    """the share of its machine a run held: its threads over the machine's cores (at most 1), else 1"""
    try:
        threads, cores = int(cfg.get("threads") or 0), int((cfg.get("machine") or {}).get("cores") or 0)
    except (TypeError, ValueError, AttributeError):
        return 1.0
    return min(threads, cores) / cores if threads > 0 and cores > 0 else 1.0


def part_runs(results):
    """(finished seconds list, seconds of runs under way, {device: seconds}) of RESULTS' run folders"""
    done, quick, under_way, devices = [], [], 0.0, {}
    if not os.path.isdir(results):
        return done, quick, under_way, devices
    for name in sorted(os.listdir(results)):
        d = os.path.join(results, name)
        if not os.path.isfile(os.path.join(d, "config.json")):
            continue
        t = run_seconds(d)
        if t is None:
            continue
        summary = load_json(os.path.join(d, "summary.json")) or {}
        cfg = load_json(os.path.join(d, "config.json")) or {}
        share = machine_share(cfg)
        s = t[0] * share
        dev = (cfg.get("machine") or {}).get("device") or summary.get("device") or "unknown machine"
        devices[dev] = devices.get(dev, 0.0) + s
        if summary.get("status") in ("finished", "diverged"):
            done.append(s)
            quick.append(t[1] * share)
        else:
            under_way += s
    return done, quick, under_way, devices


def plural(n, what):
    return f"{n} {what}{'' if n == 1 else 's'}"


def hours(s):
    return f"{s / 3600:.1f} h"


def minutes(s):
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def main(argv):
    parts, left, twin = [], {}, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--left", "--twin"):
            if i + 1 >= len(argv):
                die(f"{a} needs a value")
            v = argv[i + 1]
            if a == "--twin":
                twin = v
            else:
                k, sep, n = v.partition("=")
                if not sep or not n.isdigit():
                    die(f"--left {v}: want PART=N")
                left[k] = int(n)
            i += 2
            continue
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        k, sep, d = a.partition("=")
        if not sep or not k or not d:
            die(f"{a}: want PART=RESULTS_DIR")
        parts.append((k, d))
        i += 1
    if not parts:
        die("no PART=RESULTS_DIR")
    for k in left:
        if k not in dict(parts) and not (k == "twin" and twin):
            die(f"--left {k}: no such part")

    all_done, all_quick, total, devices, lines = [], [], 0.0, {}, []
    per_part, per_part_quick = {}, {}
    for k, d in parts:
        done, quick, under_way, dev = part_runs(d)
        per_part[k], per_part_quick[k] = done, quick
        all_quick += quick
        all_done += done
        spent = sum(done) + under_way
        total += spent
        for name, s in dev.items():
            devices[name] = devices.get(name, 0.0) + s
        if done:
            pace = (f"median {minutes(statistics.median(done))} a run "
                    f"({minutes(min(done))} to {minutes(max(done))})")
        else:
            pace = "none finished yet"
        extra = f", {hours(under_way)} in runs under way" if under_way > 0 else ""
        lines.append(f"- machine time, {k}: {hours(spent)} ({plural(len(done), 'run')} ended: {pace}{extra})")
    twin_s = []
    if twin and os.path.isdir(twin):
        for name in sorted(os.listdir(twin)):
            if name.startswith("torch-") and name.endswith(".json"):
                j = load_json(os.path.join(twin, name)) or {}
                if isinstance(j.get("wall_seconds"), (int, float)):
                    twin_s.append(float(j["wall_seconds"]))
        if twin_s:
            total += sum(twin_s)
            lines.append(f"- machine time, PyTorch twin: {hours(sum(twin_s))} ({plural(len(twin_s), 'run')}, "
                         f"median {minutes(statistics.median(twin_s))} a run)")
    lines.append(f"- machine time in all so far: {hours(total)}")
    for name, s in sorted(devices.items(), key=lambda x: -x[1]):
        lines.append(f"  - {hours(s)} of it on `{name}`")
    if left:
        est, says = 0.0, []
        for k, n in left.items():
            if n == 0:
                continue
            base = twin_s if k == "twin" else per_part.get(k) or all_done
            if not base:
                says.append(f"{plural(n, k + ' run')} (no finished run to time them by)")
                continue
            est += n * statistics.median(base)
            says.append(f"{plural(n, k + ' run')} at {minutes(statistics.median(base))}")
        if says:
            lines.append(f"- left: {', '.join(says)}: about {hours(est)} more at the pace measured so far "
                         "(runs under way counted whole; the pace includes whatever else the machine ran)")
            # by the same runs as the pace above: the part's own, else all parts'
            qest, qmed = 0.0, []
            for k, n in left.items():
                q = per_part_quick.get(k) or all_quick
                if k != "twin" and n and q:
                    qest += n * statistics.median(q)
                    m = minutes(statistics.median(q))
                    qmed += [m] if m not in qmed else []
            if qmed:
                lines.append(f"  - with every epoch as quick as its run's quickest (median {', '.join(qmed)}"
                             f" a run: roughly the pace of an otherwise idle machine): about {hours(qest)}"
                             " for the runs of our trainer left")
        else:
            lines.append("- left: nothing")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
