"""Summary table of a GPU check: reads bench_gpu.json (ours) and
bench_torch.json (PyTorch) from a folder and prints img/s, ratios, GB/s and
TFLOP/s. Writes gpu_summary.md beside them."""
import json
import os
import sys

d = sys.argv[1]


def rows(name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return []
    return [json.loads(l) for l in open(p) if l.strip()]


ours, torch_rows = rows("bench_gpu.json"), rows("bench_torch.json")
ceil = next((r for r in ours if r["kind"] == "ceilings"), {})
t = {r["mode"]: r["img_per_s"] for r in torch_rows}
lines = []
dev = next((r["device"] for r in ours if "device" in r), "?")
lines.append(f"device: {dev}")
if ceil:
    lines.append(f"ceilings: device-to-device copy {ceil['copy_gbs']:.0f} GB/s, cuBLAS bf16 GEMM {ceil['gemm_bf16_tflops']:.0f} TFLOP/s")
lines.append("")
lines.append("| run | img/s | ms/step | TFLOP/s | % of GEMM rate | vs torch eager AMP | vs torch.compile | vs torch eager fp32 |")
lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
amp, comp, fp32 = t.get("eager_amp_bf16_cl"), t.get("compile_amp_bf16_cl"), t.get("eager_fp32")
for r in ours:
    if r["kind"] != "daoe":
        continue
    f = lambda ref: f"{r['img_per_s'] / ref:.2f}x" if ref else "-"
    pct = 100 * r["tflops"] / ceil["gemm_bf16_tflops"] if ceil else 0
    lines.append(f"| daoe {r['precision']} {r['optimizer']} | {r['img_per_s']:.0f} | {r['ms_per_step']:.3f} | {r['tflops']:.1f} | {pct:.0f}% | {f(amp)} | {f(comp)} | {f(fp32)} |")
for m, v in t.items():
    lines.append(f"| torch {m} | {v:.0f} | {128 / v * 1e3:.3f} | | | | | |")
lines.append("")
lines.append("| fused optimizer pass (after training, real state) | us | GB/s | % of copy bandwidth | controller kernel us |")
lines.append("|---|---:|---:|---:|---:|")
for r in ours:
    if r["kind"] == "daoe":
        pct = 100 * r["opt_gbs"] / ceil["copy_gbs"] if ceil else 0
        lines.append(f"| {r['precision']} {r['optimizer']} ({r['opt_bytes'] / 1e6:.0f} MB) | {r['opt_us']:.1f} | {r['opt_gbs']:.0f} | {pct:.0f}% | {r.get('ctrl_us', float('nan')):.1f} |")
sweep = [r for r in ours if r["kind"] == "opt_sweep"]
if sweep:
    lines.append("")
    lines.append("| optimizer pass alone (11.17 M elements) | us | GB/s | % of copy bandwidth | controller us |")
    lines.append("|---|---:|---:|---:|---:|")
    for r in sweep:
        pct = 100 * r["gbs"] / ceil["copy_gbs"] if ceil else 0
        lines.append(f"| {r['optimizer']} {r['extra']} | {r['opt_us']:.1f} | {r['gbs']:.0f} | {pct:.0f}% | {r['ctrl_us']:.1f} |")
sgd = next((r for r in ours if r["kind"] == "daoe" and r["precision"] == "bf16" and r["optimizer"] == "sgd"), None)
dao = next((r for r in ours if r["kind"] == "daoe" and r["precision"] == "bf16" and r["optimizer"] == "daoe"), None)
if sgd and dao:
    lines.append("")
    lines.append(f"DAO-E step vs SGD step (bf16, end to end): {dao['ms_per_step'] / sgd['ms_per_step'] * 100 - 100:+.1f} % time; "
                 f"100-epoch paper run (351 steps/epoch + eval) at {dao['img_per_s']:.0f} img/s: "
                 f"~{100 * 45000 / dao['img_per_s'] / 60:.1f} min of training steps")
text = "\n".join(lines)
print(text)
open(os.path.join(d, "gpu_summary.md"), "w").write(text + "\n")
