"""Deployable int8 ONNX (issue 13): the float and the QDQ model of one compression run, both in
onnxruntime on the same test images.

Per case, one `prune` job (the pipeline behind `codesign prune ... --bits B --export qdq`):
accuracy of the float and of the QDQ model in onnxruntime with 95% Wilson intervals, their paired
difference (Agresti-Min, the same samples), the largest output difference of the QDQ model against
the torch model, the int8 initializers and DequantizeLinear nodes, the keep fraction counted in
the int8 weights themselves, the levels used against the grid, and both file sizes. Case 1 is
issue 13's acceptance command; the others use Fashion-MNIST (30,000 training, all 10,000 test
images), at 8 bits and with a 4-bit grid carried in int8.

Run: .venv/bin/python benchmarks/qdq_export.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

CASES = (  # model, data, alpha, bits, training images (None: all), epochs
    ("lenet5", "mnist5k", 0.2, 8, None, 1.0),
    ("lenet5", "fashion-mnist", 0.2, 8, 30000, 1.0),
    ("lenet5", "fashion-mnist", 0.2, 4, 30000, 1.0),
)


def main() -> int:
    import numpy as np
    import torch

    from codesign.loop.verdict import paired_drop, wilson_interval
    from pruning.onnx.bridge import onnxruntime_outputs
    from pruning.onnx.qdq import int8_weights
    from pruning.pipeline import PruneJob, prepare, run_job
    torch.set_num_threads(1)

    def acc(p: float, n: int) -> str:
        lo, hi = wilson_interval(p, n)
        return f"{100 * p:.2f}% [{100 * lo:.1f}, {100 * hi:.1f}]"

    rows = ["| model | data | alpha | bits | test n | float (ORT) [95% CI] | QDQ int8 (ORT) [95% CI] | "
            "QDQ - float, paired [95% CI] | max abs QDQ - torch | int8 weights / DequantizeLinear | kept in int8 | "
            "largest level / grid | float KiB | QDQ KiB | s |", "|" + "---|" * 15]
    ok = True
    for model, data, alpha, bits, limit, epochs in CASES:
        t0 = time.perf_counter()
        job = PruneJob(model, data=data, method="admm", alpha=alpha, bits=str(bits), export="qdq",
                       epochs=epochs, pretrain_epochs=10.0, limit=limit, seed=0)
        _, d = prepare(model, data, limit=limit, seed=0)
        res = run_job(job, data=d, on_status=lambda m: print(f"[{model}/{data}/{bits}b] {m}", flush=True))
        labels = np.asarray(d.test_y)
        float_ok = onnxruntime_outputs(res.onnx_model, d.test_x).argmax(1) == labels
        qdq_ok = onnxruntime_outputs(res.qdq_model, d.test_x).argmax(1) == labels
        n = len(labels)
        diff = paired_drop(float_ok, qdq_ok)          # positive: QDQ worse
        ints = int8_weights(res.qdq_model)
        deq = sum(node.op_type == "DequantizeLinear" for node in res.qdq_model.graph.node)
        total = sum(w.size for w in ints.values())
        kept = sum(int(np.count_nonzero(w)) for w in ints.values())
        level = max(int(np.abs(w).max()) for w in ints.values())
        ok &= bool(ints) and deq >= len(ints) and abs(kept / total - alpha) < 0.01 and level <= 2 ** (bits - 1)
        rows.append(f"| {model} | {data} | {alpha:g} | {bits} | {n:,} | {acc(float_ok.mean(), n)} | "
                    f"{acc(qdq_ok.mean(), n)} | {0.0 - diff.drop:+.2f} [{0.0 - diff.ci_high:+.2f}, {0.0 - diff.ci_low:+.2f}] | "
                    f"{res.qdq_max_diff:.2g} | {len(ints)} / {deq} | {kept / total:.4f} | {level} / {2 ** (bits - 1)} | "
                    f"{res.onnx_model.ByteSize() / 1024:.0f} | {res.qdq_model.ByteSize() / 1024:.0f} | "
                    f"{time.perf_counter() - t0:.0f} |")
    notes = ("ADMM pruning and quantization (method defaults), 1 epoch of compression from the cached dense "
             "net (10 epochs), seed 0; every prunable layer at the given keep fraction and bits. Accuracy "
             "of both files measured in onnxruntime (1 thread) on the whole test split; the paired "
             "interval is in points, positive where QDQ is better. Checks (int8 initializers fed to "
             "DequantizeLinear, keep fraction within 0.01 in the int8 tensors, levels inside the grid): "
             f"{'all hold' if ok else 'FAILED'}.")
    record("qdq_export.py", "qdq_export.py: float vs int8 QDQ ONNX in onnxruntime (issue 13)", "\n".join(rows), notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
