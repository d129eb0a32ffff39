#!/usr/bin/env python3
"""README's CPU benchmark table from raw files of bench/bench_cpu_record.sh.

    bench/bench_cpu_table.py results/bench_cpu/2026-12-02_xeon.txt ... \
        | bench/replace_section.sh cpu-bench README.md

One row per (file, setting, width): img/s of each convolution engine and of
PyTorch, measured side by side in one daoe-bench-cpu invocation, and the
ratios. Nothing is typed in: every number is read from the raw file named in
the row."""
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


def fmt(v):
    return "" if v is None else ("%.1f" % v)


def ratio(a, b):
    return "" if a is None or not b else "%.2fx" % (a / b)


def main(paths):
    print("| machine, date (raw output) | setting: kernels | width | im2col img/s | dnnl img/s | PyTorch img/s "
          "| dnnl / PyTorch | im2col / PyTorch | dnnl convolutions alone img/s "
          "| dnnl-bf16 img/s | PyTorch autocast bf16 img/s | dnnl-bf16 / PyTorch bf16 |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for p in paths:
        machine, date, sections = parse(p)
        rel = os.path.relpath(p, os.getcwd())
        first = True
        for s in sections:
            lead = "%s, %s ([raw](%s))" % (machine, date, rel) if first else ""
            first = False
            kern = "%s: OpenBLAS %s, oneDNN %s" % (s["name"], s["kernels"] or "?", s["onednn"] or "-")
            for i, w in enumerate(sorted(s["widths"], reverse=True)):
                r = s["widths"][w]
                print("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    lead if i == 0 else "", kern if i == 0 else "", w, fmt(r.get("im2col")), fmt(r.get("dnnl")),
                    fmt(r.get("torch")), ratio(r.get("dnnl"), r.get("torch")), ratio(r.get("im2col"), r.get("torch")),
                    fmt(r.get("convs dnnl")), fmt(r.get("dnnl-bf16")), fmt(r.get("torch-bf16")),
                    ratio(r.get("dnnl-bf16"), r.get("torch-bf16"))))
                lead = ""


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
