"""One-shot compression of tinylm on fortunes (issue 20): magnitude vs Wanda vs SparseGPT.

tinylm (the built-in Llama-style byte decoder) is pretrained once on fortunes (cached; about
7-8 minutes on one thread the first time), then compressed one-shot by each method at each
setting: 50% unstructured, 2:4 and 4:8, plus SparseGPT with joint 4-bit quantization at 2:4.
The papers' protocol: every linear layer is pruned except the LM head (the embedding is a
Gather, never a layer), given as a per-layer sparsity mapping. Each row reports the held-out
perplexity after, its % increase over the dense model with the paired bootstrap 95% interval
(PruneTotals drop, drop_low, drop_high) and the run's wall seconds.

Run: .venv/bin/python benchmarks/oneshot_tinylm.py [--test-limit N] [--calibration N] [--only TEXT]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

MODEL, DATA = "tinylm", "fortunes"
HEAD = "lm_head.weight"                  # left dense, as SparseGPT and Wanda leave the LM head
CALIBRATION = 128                        # sequences of 128 bytes, the papers' sample count
TEST_LIMIT = 1000                        # held-out sequences: about a minute a run here
# (label, pattern, keep fraction for unstructured) - N:M patterns fix their own keep fraction
SETTINGS = (("50% unstructured", "unstructured", 0.5), ("2:4", "2:4", None), ("4:8", "4:8", None))
METHODS = (("magnitude (oneshot)", "oneshot"), ("Wanda", "wanda"), ("SparseGPT", "sparsegpt"))


def linear_layers() -> list[str]:
    """tinylm's weight layers (its activation products, attn/scores and attn/context, have no
    weight to prune), less the LM head."""
    import codesign
    return [l.name for l in codesign.load(MODEL).layers if l.name.endswith(".weight") and l.name != HEAD]


def sparsity(layers: list[str], pattern: str, alpha: float | None, bits: int | None = None) -> dict:
    """The per-layer mapping codesign.prune takes as `alphas=` (a sparsity plan)."""
    plan: dict = {}
    if alpha is not None:
        plan["alphas"] = {n: alpha for n in layers}
    if pattern != "unstructured":
        plan["patterns"] = {n: pattern for n in layers}
    if bits is not None:
        plan["bits"] = {n: bits for n in layers}
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test-limit", type=int, default=TEST_LIMIT, help="held-out sequences evaluated")
    parser.add_argument("--calibration", type=int, default=CALIBRATION, help="calibration sequences (Wanda, SparseGPT)")
    parser.add_argument("--only", help="only rows whose method or setting contains this (not recorded)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    import codesign
    layers = linear_layers()
    runs = [(setting, label, method, sparsity(layers, pattern, alpha))
            for setting, pattern, alpha in SETTINGS for label, method in METHODS]
    runs.append(("2:4 + 4-bit", "SparseGPT", "sparsegpt", sparsity(layers, "2:4", None, bits=4)))
    if args.only:
        runs = [r for r in runs if args.only in r[0] or args.only in r[1]]
    rows = ["| setting | method | perplexity after | increase, % [95% CI] | seconds |", "|---|---|---|---|---|"]
    dense, results = None, {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oneshot_tinylm-") as tmp:
        for i, (setting, label, method, plan) in enumerate(runs):
            options = {} if method == "oneshot" else {"calibration": args.calibration}
            t0 = time.perf_counter()
            res = codesign.prune(MODEL, DATA, task="lm", method=method, alphas=plan, method_options=options,
                                 test_limit=args.test_limit, out=str(Path(tmp) / f"run{i}"),
                                 on_status=lambda m: print("  ", m, flush=True))
            seconds = time.perf_counter() - t0
            t = res.totals
            dense = t.accuracy_before if dense is None else dense
            if abs(t.accuracy_before - dense) > 1e-9 * dense:     # every run must start from the same model
                raise SystemExit(f"dense perplexity differs between runs: {t.accuracy_before} vs {dense}")
            results[(setting, method)] = t.drop
            cells = [setting, label, f"{t.accuracy_after:.3f}",
                     f"{t.drop:+.2f} [{t.drop_low:+.2f}, {t.drop_high:+.2f}]", f"{seconds:.0f}"]
            print(" | ".join(cells), flush=True)
            rows.append("| " + " | ".join(cells) + " |")
    total = time.perf_counter() - t_all
    table = "\n".join([f"Dense perplexity: {dense:.3f} (held-out fortunes, {t.test_samples} sequences of 128 bytes).",
                       "", *rows])
    if args.only:
        print(table)
        return 0
    ordering = all(results[(s, m)] < results[(s, "oneshot")] for s, _, _ in SETTINGS for m in ("wanda", "sparsegpt"))
    half = results[("2:4", "sparsegpt")] <= 0.5 * results[("2:4", "oneshot")]
    notes = (f"Protocol of the SparseGPT and Wanda papers: every linear layer of tinylm pruned ({len(layers)} "
             f"weights: q, k, v, o, gate, up, down of 4 blocks) except the LM head (the embedding is a Gather, "
             f"no layer), given to `codesign.prune(\"tinylm\", \"fortunes\", task=\"lm\", method=M, alphas=<per-layer "
             f"mapping>, method_options={{\"calibration\": {args.calibration}}}, test_limit={args.test_limit})` "
             f"(seed 0, 1 thread; magnitude is `--method oneshot`, no calibration; the 4-bit row adds bits 4 to the "
             f"same layers: SparseGPT's joint GPTQ-style quantization). Increase: % perplexity increase over the "
             f"dense model on the same held-out sequences, paired bootstrap 95% interval. Seconds: the whole "
             f"`codesign.prune` call (data, compression, evaluation before and after, ONNX export and the "
             f"onnxruntime check) on a 2-core machine shared with other jobs; {total:.0f} s in all.\n\n"
             f"Targets: ordering holds (Wanda and SparseGPT below magnitude at every setting): "
             f"{'yes' if ordering else 'no'}. SparseGPT's 2:4 increase <= half of magnitude's: "
             f"{'yes' if half else 'no'} ({results[('2:4', 'sparsegpt')]:+.2f}% vs "
             f"{results[('2:4', 'oneshot')]:+.2f}%).")
    record("oneshot_tinylm.py", "oneshot_tinylm.py: one-shot magnitude vs Wanda vs SparseGPT on tinylm "
           "(issue 20)", table, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
