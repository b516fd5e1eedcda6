"""Measure dense vs 2:4 and fp16 vs int8 GEMMs on this machine's GPU (issue 21).

Over a grid of weight shapes (N x K, from BERT/ViT/LLM linears) and activation rows M (tokens x
batch), times F.linear in fp16 dense, with the weight 2:4-pruned and converted by
torch.sparse.to_sparse_semi_structured (cuSPARSELt, or CUTLASS where cuSPARSELt is missing),
and torch._int_mm in int8, each with CUDA events (warm-up, then the median of several timed
loops). Writes a CSV in the form of hwmodels/data/gpu_measurements.csv, which
`codesign calibrate CSV --hw <preset>` fits, prints the preset's prediction next to each row
and appends that table to benchmarks/RESULTS.md.

Without a CUDA GPU it prints "no CUDA GPU: skipped" and exits 0.

Run: .venv/bin/python benchmarks/gpu_measure.py [--out PATH] [--path kernel|torch-eager] [--quick]
     (--path says which PyTorch 2:4 path this torch has: 'kernel' once it caches its cuSPARSELt
     plans (pytorch#177866, #179642), 'torch-eager' before)
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHAPES = ((4096, 4096), (1024, 4096), (4096, 1024), (3072, 10240), (768, 3072), (3072, 768))
ROWS = (1, 16, 64, 256, 1024, 4096, 16384)
QUICK_ROWS = (1, 64, 1024, 8192)
COLUMNS = ("id", "gpu", "gpu_detail", "comparison", "dtype", "scope", "path", "m", "n", "k",
           "batch", "dense_us", "other_us", "speedup", "sparse_extra_us", "status", "source",
           "where", "note")
PRESET_OF = (("A100", "a100"), ("H100", "h100"), ("L4", "l4"))


def cuda_time_us(fn, warmup: int, reps: int, repeats: int = 5) -> float:
    """Median over `repeats` of the mean time of `reps` back-to-back calls, by CUDA events."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1000.0 / reps)
    return sorted(times)[len(times) // 2]


def measure(rows_m, path: str, warmup: int, reps: int) -> tuple[str, str, list[dict]]:
    import torch
    import torch.nn.functional as F
    from torch.sparse import to_sparse_semi_structured
    name = torch.cuda.get_device_name()
    gpu = next((preset for key, preset in PRESET_OF if key in name), name)
    detail = f"{name}; torch {torch.__version__}; CUDA {torch.version.cuda}"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    out = []
    for n, k in SHAPES:
        w = torch.randn(n, k, dtype=torch.float16, device="cuda")
        w = w * torch.tensor([0, 0, 1, 1], dtype=torch.float16, device="cuda").tile(n, k // 4)
        try:
            ws = to_sparse_semi_structured(w)
        except (RuntimeError, ValueError) as exc:
            ws = None
            print(f"2:4 unavailable for {n}x{k}: {str(exc).splitlines()[0][:120]}", file=sys.stderr)
        w8 = torch.randint(-8, 8, (k, n), dtype=torch.int8, device="cuda")
        for m in rows_m:
            x = torch.randn(m, k, dtype=torch.float16, device="cuda")
            dense = cuda_time_us(lambda: F.linear(x, w), warmup, reps)
            base = dict(gpu=gpu, gpu_detail=detail, dtype="fp16", scope="gemm", m=m, n=n, k=k,
                        batch="", sparse_extra_us="", status="current",
                        source="benchmarks/gpu_measure.py", where=f"{stamp} {name}")
            if ws is not None:
                try:
                    sparse = cuda_time_us(lambda: F.linear(x, ws), warmup, reps)
                    out.append({**base, "id": f"{gpu}-24-{m}x{n}x{k}", "comparison": "2:4", "path": path,
                                "dense_us": f"{dense:.3f}", "other_us": f"{sparse:.3f}", "speedup": "",
                                "note": "F.linear with to_sparse_semi_structured weight"})
                except RuntimeError as exc:
                    print(f"2:4 {m}x{n}x{k}: {str(exc).splitlines()[0][:120]}", file=sys.stderr)
            if m > 16 and m % 8 == 0:            # torch._int_mm's shape rules
                x8 = torch.randint(-8, 8, (m, k), dtype=torch.int8, device="cuda")
                try:
                    low = cuda_time_us(lambda: torch._int_mm(x8, w8), warmup, reps)
                    out.append({**base, "id": f"{gpu}-int8-{m}x{n}x{k}", "comparison": "int8-vs-fp16",
                                "path": "kernel", "dense_us": f"{dense:.3f}", "other_us": f"{low:.3f}",
                                "speedup": "", "note": "torch._int_mm (int32 output) against fp16 F.linear"})
                except RuntimeError as exc:
                    print(f"int8 {m}x{n}x{k}: {str(exc).splitlines()[0][:120]}", file=sys.stderr)
    return gpu, detail, out


def compare(gpu: str, csv_path: Path) -> str:
    """The preset's prediction beside each measured row (a Markdown table)."""
    from hwmodels.gpu.measured import predict, read_measurements
    from hwmodels.presets import available_presets, read_preset
    rows = [r for r in read_measurements(csv_path) if r.fittable]
    if gpu not in available_presets():
        return f"(no preset named {gpu!r}: rows written, not compared)"
    pred = predict(read_preset(gpu), rows)
    lines = ["| row | measured | predicted | error |", "|---|---|---|---|"]
    lines += [f"| {r.id} | {r.speedup:.2f}x | {s:.2f}x | {s / r.speedup - 1:+.0%} |"
              for r, s in zip(rows, pred.speedup)]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="CSV to write (default benchmarks/gpu_measured_<gpu>.csv)")
    ap.add_argument("--path", choices=("kernel", "torch-eager"), default="kernel")
    ap.add_argument("--quick", action="store_true", help="four row counts instead of seven")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("no CUDA GPU: skipped (torch is not installed)")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA GPU: skipped")
        return 0
    gpu, detail, rows = measure(QUICK_ROWS if args.quick else ROWS, args.path, args.warmup, args.reps)
    out = Path(args.out or Path(__file__).with_name(f"gpu_measured_{gpu}.csv"))
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out} ({detail})")
    if rows:
        from _record import record
        record("gpu_measure.py", f"gpu_measure.py: measured on {detail}", compare(gpu, out),
               f"Rows: {out.name}; fit them with `codesign calibrate {out.name} --hw {gpu}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
