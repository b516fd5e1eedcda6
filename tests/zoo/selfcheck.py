"""Export every zoo case, run it in onnxruntime, compare with torch, print a table.

    .venv/bin/python -m tests.zoo.selfcheck            # uses / fills the export cache
    .venv/bin/python -m tests.zoo.selfcheck --fresh    # exports into a new temp dir (timing)
    .venv/bin/python -m tests.zoo.selfcheck --no-ocr   # skip the rapidocr models

Columns: exporter, opset written, export seconds (as recorded when the file was made; "c" =
read from the cache in this run), file KB, max|ORT - torch| at batch 1, the same at batch 2 for
graphs with a symbolic batch dim, independent MACs and multiplying-layer weights (counts.py).
Exits 1 if an ORT output differs from torch by more than 1e-4 relative, if a FlopCounter
cross-check disagrees, or if an export fails.  Writes ``manifest.json`` into the cache dir.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import counts as zoo_counts
from . import export as zoo_export
from . import models as zoo_models
from .ocr import INPUT_SHAPES, ensure_dir, locate_ocr_models


def _session(path: Path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _ort_diff(sess, names, inputs, ref) -> float:
    feed = {n: x.numpy() for n, x in zip(names, inputs)}
    out = sess.run(None, feed)[0]
    if out.shape != tuple(ref.shape):
        return float("inf")
    return float(np.abs(out - ref.numpy()).max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true", help="export into a new temporary cache")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--no-ocr", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cache = Path(tempfile.mkdtemp(prefix="zoo_exports_")) if args.fresh else \
        Path(args.cache_dir) if args.cache_dir else zoo_export.default_cache_dir()

    rows, problems, manifest = [], [], []
    t_run = time.perf_counter()
    fresh_export_s = 0.0
    refs = {}
    for name, exporter, opset in zoo_export.ZOO:
        meta = zoo_export.info(name, exporter, opset, cache)
        c = zoo_counts.independent_counts(name)
        manifest.append(meta | {"macs": c["macs"], "weights": c["weights"]})
        if not meta.get("cached"):
            fresh_export_s += meta.get("export_seconds", 0.0)
        row = dict(model=name, exporter=exporter, opset=meta.get("opset_written", "-"),
                   secs=meta.get("export_seconds", float("nan")), cached=meta.get("cached"),
                   kb=meta.get("bytes", 0) / 1024, d1=None, d2=None, macs=c["macs"],
                   weights=c["weights"], note="")
        if not meta.get("ok"):
            row["note"] = "FAILED: " + meta.get("reason", "")[:120]
            problems.append(f"{name}/{exporter}/{opset}: export failed: {meta.get('reason')}")
            rows.append(row)
            continue
        if meta.get("fixes"):
            row["note"] = "fix: " + ("SDPA -> math form (no symbolic below opset 14)"
                                     if "scaled_dot_product" in meta["fixes"][0]
                                     else meta["fixes"][0][:70])
        if name not in refs:
            module, inputs = zoo_models.build(name)
            with torch.no_grad():
                b2 = zoo_export._batch2(inputs)
                refs[name] = (inputs, module(*inputs), b2, module(*b2))
        inputs, ref1, b2, ref2 = refs[name]
        sess = _session(Path(meta["path"]))
        names = [i.name for i in sess.get_inputs()]
        row["d1"] = _ort_diff(sess, names, inputs, ref1)
        scale1 = max(1.0, float(ref1.abs().max()))
        if row["d1"] > 1e-4 * scale1:
            problems.append(f"{name}/{exporter}/{opset}: ORT differs from torch by {row['d1']:.3g}")
        if meta.get("dynamic_batch"):
            try:
                row["d2"] = _ort_diff(sess, names, b2, ref2)
            except Exception as e:  # noqa: BLE001 - a broken dynamic axis is a finding
                row["d2"] = float("inf")
                row["note"] += f" batch2: {type(e).__name__}"
            if row["d2"] > 1e-4 * max(1.0, float(ref2.abs().max())):
                problems.append(f"{name}/{exporter}/{opset}: batch-2 ORT differs by {row['d2']:.3g}")
        rows.append(row)

    ocr_rows = []
    if not args.no_ocr:
        paths, why = locate_ocr_models()
        if paths is None:
            ocr_rows.append(dict(model="ocr (rapidocr 1.4.4)", note=f"SKIPPED: {why}"))
        else:
            import onnx
            for key in ("det", "rec", "cls"):
                oc = zoo_counts.ocr_counts(key)
                m = onnx.load(str(paths[key]), load_external_data=False)
                opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
                sess = _session(paths[key])
                x = np.random.default_rng(0).standard_normal(INPUT_SHAPES[key]).astype(np.float32)
                t = time.perf_counter()
                out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
                ocr_rows.append(dict(model=f"ocr_{key}", exporter="paddle2onnx", opset=opset,
                                     kb=paths[key].stat().st_size / 1024, macs=oc["macs"],
                                     weights=oc["weights"],
                                     note=f"ORT ran {tuple(INPUT_SHAPES[key])} -> "
                                          f"{tuple(out.shape)} in {time.perf_counter() - t:.2f}s "
                                          "(no torch reference)"))

    def fmt(v, width, spec):
        return f"{'-':>{width}s}" if v is None else format(v, f"{width}{spec}")

    hdr = (f"{'model':22s} {'exporter':15s} {'opset':>5s} {'export s':>9s} {'KB':>7s} "
           f"{'ORT max|d| b1':>13s} {'b2':>9s} {'MACs':>13s} {'weights':>9s}  note")
    print(hdr)
    print("-" * len(hdr))
    for r in rows + ocr_rows:
        if "exporter" not in r:
            print(f"{r['model']:22s} {r['note']}")
            continue
        secs = r.get("secs")
        secs_s = "-" if secs is None else f"{secs:8.2f}{'c' if r.get('cached') else ' '}"
        print(f"{r['model']:22s} {r['exporter']:15s} {r['opset']!s:>5s} {secs_s:>9s} "
              f"{r['kb']:7.0f} {fmt(r.get('d1'), 13, '.2e')} {fmt(r.get('d2'), 9, '.1e')} "
              f"{r['macs']:13,d} {r['weights']:9,d}  {r.get('note', '')}")
    recorded = sum(m.get("export_seconds", 0.0) for m in manifest)
    print(f"\nexport time: {recorded:.1f} s recorded over {len(manifest)} cases; "
          f"{fresh_export_s:.1f} s exported in this run; selfcheck wall {time.perf_counter() - t_run:.1f} s; "
          f"cache {cache}")

    print(f"\n{'model':22s} {'MACs':>11s} {'FlopCounter':>11s} {'not covered':>11s} {'agree':>5s}"
          f" {'weights':>8s} {'w distinct':>10s} {'biases':>6s} {'b folded':>8s}  not covered by FlopCounterMode")
    for name in zoo_models.NAMES:
        c = zoo_counts.independent_counts(name)
        fc = c["flopcounter"]
        if not fc["agree"]:
            problems.append(f"{name}: FlopCounter cross-check disagrees: {fc['disagree']} "
                            f"unattributed {fc['unattributed_macs']}")
        miss = sorted({f"{x['kind']}({x['part'] or x['module']})" for x in fc["not_covered"]})
        print(f"{name:22s} {c['macs']:11,d} {fc['total_macs']:11,d} {fc['not_covered_macs']:11,d} "
              f"{'yes' if fc['agree'] else 'NO':>5s} {c['weights']:8,d} {c['weights_distinct_values']:10,d} "
              f"{c['biases']:6,d} {c['biases_after_bn_fold']:8,d}  {', '.join(miss)}")

    out = cache / "manifest.json"
    try:
        ensure_dir(cache)
        out.write_text(json.dumps({"torch": torch.__version__, "cases": manifest,
                                   "ocr": zoo_counts.OCR_COUNTS}, indent=1, default=str))
    except OSError as e:
        print(f"could not write {out}: {e}")
    if problems:
        print("\nPROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    print("\nall exports ran in onnxruntime and matched torch; all FlopCounter cross-checks agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
