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

ROW = re.compile(r"^(\d+)\s+(daoe-c(?: ([\w-]+))?|torch(?:-bf16)?|pt[\d.]+-(?:eager|cl|compile|bf16))\s+([\d.]+)\s+([\d.]+)")
TORCHV = re.compile(r"^#\s+torch (\S+) threads \d+ mode (\S+)")
PART = re.compile(r"^(load_batch|conv forward|conv data grad|conv filter grad|batch norm fwd|batch norm bwd|"
                  r"head \(pool, linear, xent\)|optimizer pass|controller|outside the ops|step)\s+([\d.]+)\s+([\d.]+)%"
                  r"(?:\s+([\d.]+%?))?(?:\s+([\d.]+%?))?(?:\s+([\d.]+%?))?(?:\s+([\d.]+))?")
PARTS_HEAD = re.compile(r"^parts of one training step: width (\d+), batch (\d+), (\w+), engine ([\w-]+)")
CONVS = re.compile(r"^(\d+)\s+convs ([\w-]+)\s+([\d.]+)\s+([\d.]+)")


def parse(path):
    machine, date, sections, cur = "?", "?", [], None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"# daoe-bench-cpu on (.*)", line)
        if m:
            machine = m.group(1)
            continue
        m = re.match(r"# date: (\S+?),? (?:commit (\S+?),)?", line)
        if m:
            date = m.group(1)[:10] + (", commit " + m.group(2) if m.group(2) else "")
            continue
        m = re.match(r"=== (\S+)", line)
        if m:
            cur = {"name": m.group(1), "widths": {}, "peak": None, "kernels": None, "onednn": None}
            sections.append(cur)
            continue
        if cur is None:
            continue
        m = TORCHV.match(line)
        if m:
            cur.setdefault("versions", set()).add(m.group(1))
        m = PARTS_HEAD.match(line)
        if m:
            cur.setdefault("parts", []).append({"width": int(m.group(1)), "optimizer": m.group(3),
                                                "engine": m.group(4), "rows": []})
            continue
        m = re.match(r"^evaluation\s+([\d.]+) ms per 128 images\s+\((\d+) img/s", line)
        if m and cur.get("parts"):
            cur["parts"][-1]["rows"].append(("evaluation, per 128 images (eval mode)", float(m.group(1)), None,
                                             [m.group(2) + " img/s"]))
            continue
        m = PART.match(line)
        if m and cur.get("parts"):
            vals = [v for v in m.groups()[3:] if v]
            cur["parts"][-1]["rows"].append((m.group(1), float(m.group(2)), float(m.group(3)), vals))
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
            w, impl = int(m.group(1)), m.group(3) or (m.group(2) if m.group(2).startswith(("torch", "pt")) else "im2col")
            cur["widths"].setdefault(w, {})[impl] = float(m.group(5))
    return machine, date, sections


def merge(sections):
    """the runs of each setting: per width, per column, the list over runs"""
    out = []
    for s in sections:
        if s["name"] == "parts":  # the step taken apart: its own tables (parts())
            continue
        g = next((o for o in out if o["name"] == s["name"]), None)
        if g is None:
            g = {"name": s["name"], "kernels": s["kernels"], "onednn": s["onednn"], "widths": {}, "runs": 0,
                 "versions": set(), "parts": []}
            out.append(g)
        g["versions"] |= s.get("versions", set())
        g["parts"] += s.get("parts", [])
        g["runs"] += 1
        for w, r in s["widths"].items():
            d = g["widths"].setdefault(w, {})
            for k, v in r.items():
                d.setdefault(k, []).append(v)
            for a, b in (("dnnl", "torch"), ("im2col", "torch"), ("dnnl-bf16", "torch-bf16")):
                if a in r and b in r:
                    d.setdefault(a + "/" + b, []).append(r[a] / r[b])
            # the current PyTorch: our engines against its best fp32 mode of the same invocation
            for tag in sorted({k.rsplit("-", 1)[0] for k in r if k.startswith("pt")}):
                fp32 = [r[k] for k in (tag + "-eager", tag + "-cl", tag + "-compile") if k in r]
                if fp32:
                    d.setdefault(tag + "-best", []).append(max(fp32))
                    for a in ("dnnl", "im2col"):
                        if a in r:
                            d.setdefault(a + "/" + tag + "-best", []).append(r[a] / max(fp32))
                if "dnnl-bf16" in r and tag + "-bf16" in r:
                    d.setdefault("dnnl-bf16/" + tag + "-bf16", []).append(r["dnnl-bf16"] / r[tag + "-bf16"])
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
    current(paths)
    parts(paths)


def current(paths):
    """the current PyTorch beside ours (files recorded with --torch-py)"""
    rows = []
    for p in paths:
        machine, date, sections = parse(p)
        for s in merge(sections):
            for w in sorted(s["widths"], reverse=True):
                r = s["widths"][w]
                for tag in sorted({k.rsplit("-", 1)[0] for k in r if k.startswith("pt") and "/" not in k}):
                    if tag.endswith("-best"):
                        continue
                    rows.append((p, machine, date, s, w, tag, r))
    if not rows:
        return
    print()
    print("| machine, date (raw output) | setting | width | dnnl img/s | PyTorch | eager NCHW img/s | eager channels_last "
          "img/s | torch.compile img/s | dnnl / best fp32 mode (range) | im2col / best fp32 mode | PyTorch 1.13 img/s "
          "| dnnl-bf16 / autocast bf16 |")
    print("|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|")
    for p, machine, date, s, w, tag, r in rows:
        vers = ",".join(sorted(v for v in s["versions"] if v.startswith(tag[2:]))) or tag[2:]
        print("| %s, %s ([raw](%s)) | %s, %d run%s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            machine, date, os.path.relpath(p, os.getcwd()), s["name"], s["runs"], "s" if s["runs"] > 1 else "", w,
            fmt(median(r.get("dnnl"))), vers, fmt(median(r.get(tag + "-eager"))), fmt(median(r.get(tag + "-cl"))),
            fmt(median(r.get(tag + "-compile"))), ratio(r.get("dnnl/" + tag + "-best")),
            ratio(r.get("im2col/" + tag + "-best")), fmt(median(r.get("torch"))),
            ratio(r.get("dnnl-bf16/" + tag + "-bf16")) or "no bf16 here"))


def parts(paths):
    """the step taken apart (daoe-bench-cpu --parts): one table per file, a column per engine and optimizer"""
    for p in paths:
        machine, date, sections = parse(p)
        runs = [t for s in sections for t in s.get("parts", [])]
        if not runs:
            continue
        print()
        print("The step taken apart at width %s on %s, %s ([raw](%s)): per part, ms per step (its share of the step; "
              "\"of limit\": the least time the hardware allows over the time taken, FLOPs at the measured sgemm peak, "
              "bytes at the copy bandwidth measured for the call's working set)"
              % ("/".join(sorted({str(t["width"]) for t in runs})), machine, date, os.path.relpath(p, os.getcwd())))
        print()
        print("| part | " + " | ".join("%s, %s" % (t["engine"], "DAO-E" if t["optimizer"] == "daoe" else "SGD")
                                       for t in runs) + " |")
        print("|---|" + "--:|" * len(runs))
        names = [r[0] for r in runs[0]["rows"]]
        for name in names:
            cells = []
            for t in runs:
                r = next((r for r in t["rows"] if r[0] == name), None)
                if r is None:
                    cells.append("")
                    continue
                if r[2] is None:
                    cells.append("%.1f (%s)" % (r[1], r[3][0]))
                    continue
                lim = next((v for v in r[3] if v.endswith("%")), "")
                cells.append("%.1f (%.0f %%%s)" % (r[1], r[2], ", " + lim + " of limit" if lim else ""))
            print("| %s | %s |" % (name, " | ".join(cells)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
