#!/usr/bin/env python3
"""README's CPU benchmark table from raw files of bench/bench_cpu_record.sh.

    bench/bench_cpu_table.py results/bench_cpu/2026-12-02_xeon.txt ... \
        | bench/replace_section.sh cpu-bench README.md

One row per (file, setting, width): img/s of each convolution engine and of
PyTorch, measured side by side in one daoe-bench-cpu invocation, and the
ratios. A setting recorded several times ("=== native #1", "#2", ...) gives
the median of each number over its runs, each ratio being the median of the
ratios measured within one run (with their range). Nothing is typed in:
every number is read from the raw file named in the row."""
import os
import re
import sys

ROW = re.compile(r"^(\d+)\s+(daoe-c(?: ([\w-]+))?|torch(?:-bf16)?)\s+([\d.]+)\s+([\d.]+)")
CONVS = re.compile(r"^(\d+)\s+convs ([\w-]+)\s+([\d.]+)\s+([\d.]+)")


def parse(path):
    machine, date, sections, cur = "?", "?", [], None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"# daoe-bench-cpu on (.*)", line)
        if m:
            machine = m.group(1)
            continue
        m = re.match(r"# date: (\S+)", line)
        if m:
            date = m.group(1)[:10]
            continue
        m = re.match(r"=== (\S+)", line)
        if m:
            cur = {"name": m.group(1), "widths": {}, "peak": None, "kernels": None, "onednn": None}
            sections.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"OpenBLAS sgemm 2048\^3.*: ([\d.]+) GFLOP/s", line)
        if m:
            cur["peak"] = float(m.group(1))
        m = re.match(r"CPU vector ISA: .*; OpenBLAS kernels: (\S+)", line)
        if m:
            cur["kernels"] = m.group(1)
        m = re.search(r"oneDNN ISA (\S+);", line)
        if m:
            cur["onednn"] = m.group(1)
        m = CONVS.match(line)
        if m:
            cur["widths"].setdefault(int(m.group(1)), {})["convs " + m.group(2)] = float(m.group(4))
        m = ROW.match(line)
        if m:
            w, impl = int(m.group(1)), m.group(3) or (m.group(2) if m.group(2).startswith("torch") else "im2col")
            cur["widths"].setdefault(w, {})[impl] = float(m.group(5))
    return machine, date, sections


def merge(sections):
    """the runs of each setting: per width, per column, the list over runs"""
    out = []
    for s in sections:
        g = next((o for o in out if o["name"] == s["name"]), None)
        if g is None:
            g = {"name": s["name"], "kernels": s["kernels"], "onednn": s["onednn"], "widths": {}, "runs": 0}
            out.append(g)
        g["runs"] += 1
        for w, r in s["widths"].items():
            d = g["widths"].setdefault(w, {})
            for k, v in r.items():
                d.setdefault(k, []).append(v)
            for a, b in (("dnnl", "torch"), ("im2col", "torch"), ("dnnl-bf16", "torch-bf16")):
                if a in r and b in r:
                    d.setdefault(a + "/" + b, []).append(r[a] / r[b])
    return out


def median(v):
    if not v:
        return None
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def fmt(v):
    return "" if v is None else ("%.1f" % v)


def ratio(v):
    if not v:
        return ""
    if len(v) == 1:
        return "%.2fx" % v[0]
    return "%.2fx (%.2f-%.2f)" % (median(v), min(v), max(v))


def main(paths):
    print("| machine, date (raw output) | setting: kernels | width | im2col img/s | dnnl img/s | PyTorch img/s "
          "| dnnl / PyTorch (range) | im2col / PyTorch | dnnl convolutions alone img/s "
          "| dnnl-bf16 img/s | PyTorch autocast bf16 img/s | dnnl-bf16 / PyTorch bf16 |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for p in paths:
        machine, date, sections = parse(p)
        sections = merge(sections)
        rel = os.path.relpath(p, os.getcwd())
        first = True
        for s in sections:
            lead = "%s, %s ([raw](%s))" % (machine, date, rel) if first else ""
            first = False
            kern = "%s: OpenBLAS %s, oneDNN %s; %d run%s" % (s["name"], s["kernels"] or "?", s["onednn"] or "-",
                                                              s["runs"], "s" if s["runs"] > 1 else "")
            for i, w in enumerate(sorted(s["widths"], reverse=True)):
                r = s["widths"][w]
                print("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    lead if i == 0 else "", kern if i == 0 else "", w, fmt(median(r.get("im2col"))),
                    fmt(median(r.get("dnnl"))), fmt(median(r.get("torch"))), ratio(r.get("dnnl/torch")),
                    ratio(r.get("im2col/torch")), fmt(median(r.get("convs dnnl"))), fmt(median(r.get("dnnl-bf16"))),
                    fmt(median(r.get("torch-bf16"))), ratio(r.get("dnnl-bf16/torch-bf16"))))
                lead = ""


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
