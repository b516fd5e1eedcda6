"""One `codesign search` run end to end, in a run directory that makes it resumable.

model + data + hardware + constraint  ->  dense model (trained, or read from ONNX)
  -> cost model of the hardware on the model's layers -> the search(es), every accuracy through
  one executor whose checkpoint is OUT/evaluations.jsonl -> final compression -> compressed ONNX
  verified in onnxruntime -> plan.json, search-history.json and the report in OUT.

Re-running with the same OUT resumes: the pretraining and the final run checkpoint their
epochs, and finished evaluations are replayed from the checkpoint file.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from codesign.errors import CodesignError
from codesign.executor import EvalRequest, InProcessExecutor
from codesign.search import ALGORITHMS, SearchConfig, SearchResult
from codesign.search.records import IterationHook, SearchError

EVALUATIONS = "evaluations.jsonl"
BUILTIN_MODELS = ("lenet5", "lenet300")


@dataclass(frozen=True)
class SearchJob:
    model: str                                  # lenet5 | lenet300 | path to an ONNX file
    data: str                                   # fashion-mnist | mnist5k | digits | synthetic | path
    out: str
    hw: str = "smic40-admmnn"
    hw_overrides: Mapping[str, str] = field(default_factory=dict)
    max_drop: float = 0.5
    method: str = "admm"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    allocators: tuple[str, ...] = ("dp",)
    train_limit: int | None = None              # training samples (seeded, class-stratified)
    test_limit: int | None = None
    validation: int = 2000                      # search split carved out of the training set
    pretrain_epochs: float = 8.0
    train_epochs: float = 1.0
    final_epochs: float = 3.0
    probe_epochs: float = 0.1
    initial_alphas: Mapping[str, float] | None = None   # Fig. 5 start (default: sensitivity scan)
    bits: str | None = None                     # final quantization: "conv=3,fc=2", "4", ...
    alpha_min: float = 0.02
    lr: float = 5e-4                            # fine-tuning lr of the compression runs
    storage_budget_kib: float | None = None     # dp: weights + indices must fit (KiB)
    seed: int = 0

    def fingerprint(self) -> dict:
        """Settings that change results: a run directory only resumes a run with the same ones."""
        d = {k: v for k, v in asdict(self).items() if v is not None}   # unset options: absent
        for k in ("out", "allocators"):
            d.pop(k)
        return json.loads(json.dumps(d, sort_keys=True, default=str))


@dataclass
class JobResult:
    results: dict[str, SearchResult]
    chosen: str
    wall_seconds: dict[str, float]
    files: dict[str, Path]
    verification: dict[str, float]
    dense_test_accuracy: float
    final_test_accuracy: float | None


StatusHook = Callable[[str], None]


def run_job(job: SearchJob, on_iteration: Callable[[str, Any], None] | None = None,
            on_status: StatusHook | None = None, on_progress=None) -> JobResult:
    import torch

    from codesign.search.hwcost import HwCostModel
    from codesign.search.torch_oracle import OracleSettings, TorchOracle, pretrain, search_split
    from pruning.data import load_dataset

    status = on_status or (lambda _m: None)
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_job(out, job)
    unknown = [a for a in job.allocators if a not in ALGORITHMS]
    if unknown:
        raise SearchError(f"unknown allocator(s) {unknown}; choose from {sorted(ALGORITHMS)}")

    status(f"loading data {job.data!r}")
    data = load_dataset(job.data, limit=job.train_limit, test_limit=job.test_limit, seed=job.seed)
    search_data, test_data = search_split(data, job.validation, job.seed)
    module, trained = _load_module(job, data.input_shape, data.num_classes)
    if not trained:
        status(f"pretraining the dense {job.model} for {job.pretrain_epochs:g} epochs "
               f"(checkpointed in {out / 'pretrain'})")
        torch.manual_seed(job.seed)
        pretrain(module, search_data, job.pretrain_epochs, seed=job.seed,
                 checkpoint_dir=out / "pretrain", on_progress=on_progress)

    from pruning.protocol import prunable_weights
    from pruning.pipeline import resolve_bits
    bits = resolve_bits(job.bits, prunable_weights(module))
    network = _network(module, data.input_shape)
    prunable = [n for n in prunable_weights(module) if n in {l.name for l in network.layers}]
    hw = load_hardware(job.hw, job.hw_overrides)
    cost = HwCostModel(network.shapes, hw, prunable, weight_bits=bits)
    settings = OracleSettings(method=job.method, method_options=dict(job.method_options),
                              train_epochs=job.train_epochs, final_epochs=job.final_epochs,
                              probe_epochs=job.probe_epochs, bits=bits, lr=job.lr,
                              seed=job.seed)
    oracle = TorchOracle(module, search_data, test_data, settings, out, on_progress)
    executor = InProcessExecutor(oracle, out / EVALUATIONS)
    config = SearchConfig(max_drop=job.max_drop, alpha_min=job.alpha_min,
                          storage_budget_bits=None if job.storage_budget_kib is None
                          else job.storage_budget_kib * 8192)

    results: dict[str, SearchResult] = {}
    wall: dict[str, float] = {}
    for name in job.allocators:
        status(f"search with the {name} allocator")
        t0 = time.perf_counter()
        hook: IterationHook = (lambda rec, n=name: on_iteration(n, rec)) if on_iteration else None
        kwargs = {"initial": job.initial_alphas} if name == "fig5" else {}
        results[name] = ALGORITHMS[name](executor, cost, config, on_iteration=hook, **kwargs)
        wall[name] = time.perf_counter() - t0

    chosen = _best(results)
    best = results[chosen]
    status(f"exporting the compressed model of the {chosen} search and checking it in onnxruntime")
    final_req = EvalRequest.make("final", best.alphas)
    final = oracle.load_final(final_req)
    recomputed = final is None
    if recomputed:                    # final outcome replayed from the cache, model file lost
        status("the final model's checkpoint is missing: recomputing the final compression")
        oracle.evaluate(final_req)
        final = oracle.load_final(final_req)
    files, verification = _export(final[0], final[1], test_data, out, best, hw)
    ref = executor.cached(EvalRequest.make("reference"))
    dense_test = float(ref.extra.get("test_accuracy", float("nan"))) if ref else float("nan")
    final_test = best.extras.get("final_extra", {}).get("test_accuracy")
    (out / "search-history.json").write_text(json.dumps(
        {"job": job.fingerprint(), "allocators": list(job.allocators), "chosen": chosen,
         "wall_seconds": wall, "results": {k: r.to_dict() for k, r in results.items()}},
        indent=1, default=str))
    files["search-history.json"] = out / "search-history.json"
    files.update(write_search_report(job, network, hw, results, chosen, wall, dense_test,
                                     final_test, verification, out, bits, recomputed))
    return JobResult(results, chosen, wall, files, verification, dense_test, final_test)


def load_hardware(spec: str, overrides: Mapping[str, str]):
    """A hardware config from a preset name or TOML file, with --set overrides."""
    from codesign.hwconfig import load_hw
    return load_hw(spec, [f"{k}={v}" for k, v in overrides.items()])


def _check_same_job(out: Path, job: SearchJob) -> None:
    p = out / "job.json"
    fp = job.fingerprint()
    if p.exists():
        old = {k: v for k, v in json.loads(p.read_text()).items() if v is not None}
        if old != fp:
            diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            raise SearchError(f"{out} holds a run with other settings ({', '.join(diff)}); "
                              f"use another --out, or the same settings to resume it")
    else:
        p.write_text(json.dumps(fp, indent=1, sort_keys=True))


def _load_module(job: SearchJob, input_shape, num_classes):
    """(OnnxModule keyed by ONNX weight names, already trained?)"""
    from pruning.onnx.bridge import export_torch, from_onnx
    if job.model in BUILTIN_MODELS:
        import torch

        from pruning.models import build_model
        torch.manual_seed(job.seed)
        torch_model = build_model(job.model, tuple(input_shape), num_classes)
        return from_onnx(export_torch(torch_model, tuple(input_shape))), False
    path = Path(job.model)
    if not path.exists():
        raise CodesignError(f"model {job.model!r} is neither a built-in ({', '.join(BUILTIN_MODELS)}) "
                            f"nor an existing ONNX file")
    return from_onnx(str(path)), True


def _network(module, input_shape):
    """The hardware's view of the model: batch 1 inference at the data's input shape."""
    from codesign.graph import load_network
    return load_network(module.to_onnx(), (1,) + tuple(input_shape))


def _best(results: Mapping[str, SearchResult]) -> str:
    """The fastest result that meets the constraint (else the most accurate)."""
    ok = {k: r for k, r in results.items() if r.constraint_met}
    if ok:
        return max(ok, key=lambda k: ok[k].speedup)
    return max(results, key=lambda k: results[k].accuracy)


def _export(model, masks, test_data, out: Path, result: SearchResult, hw):
    import onnx

    from pruning.onnx.bridge import onnxruntime_outputs, verify_onnx
    meta = {"alphas": result.alphas, "algorithm": result.algorithm, "hardware": hw.name}
    proto = model.to_onnx(metadata=meta)
    sample = test_data.test_x[:64]
    diff = verify_onnx(model, proto, sample, masks)
    path = out / "compressed.onnx"
    onnx.save(proto, str(path))
    logits = np.concatenate([onnxruntime_outputs(proto, test_data.test_x[i:i + 1000])
                             for i in range(0, len(test_data.test_y), 1000)])
    ort_acc = float(np.mean(logits.argmax(1) == test_data.test_y))
    return {"compressed.onnx": path}, {"max_abs_diff": diff, "onnxruntime_test_accuracy": ort_acc,
                                       "exported_speedup": _exported_speedup(proto, test_data, hw)}


def _exported_speedup(proto, test_data, hw) -> float:
    """Whole-network speedup of the exported model with its real masks and weight widths (the
    search itself costs alphas with random-mask statistics; real masks balance differently)."""
    from codesign.graph import load_network
    from codesign.plan import build_plan, masks_from_network, quantized_bits_from_network
    network = load_network(proto, (1,) + tuple(test_data.input_shape))
    masks = masks_from_network(network)
    plan = build_plan(network.shapes, hw, {n: st.density for n, st in masks.items()}, masks=masks,
                      weight_bits=quantized_bits_from_network(network))
    return float(plan.evaluation.totals["speedup"])


def write_search_report(job: SearchJob, network, hw, results: Mapping[str, SearchResult], chosen: str,
                        wall: Mapping[str, float], dense_test: float, final_test: float | None,
                        verification: Mapping[str, float], out: Path,
                        bits: Mapping[str, int] | None = None,
                        recomputed: bool = False) -> dict[str, Path]:
    from codesign.report import render
    from codesign.report.build import search_report, search_trace
    best = results[chosen]
    traces = [search_trace(r, wall.get(k), job.max_drop) for k, r in results.items()]
    extra = {"pretrained dense accuracy (test)": f"{100 * dense_test:.2f}%",
             "final accuracy (test)": "–" if final_test is None else f"{100 * final_test:.2f}%",
             "onnxruntime accuracy (test)": f"{100 * verification['onnxruntime_test_accuracy']:.2f}%",
             "onnxruntime max |diff|": verification["max_abs_diff"],
             "whole-network speedup with the exported masks":
                 f"{verification['exported_speedup']:.2f}x (the search costs alphas with "
                 "random-mask statistics)"}
    meta = {"model": job.model, "data": job.data, "hardware": job.hw, "method": job.method,
            "max drop": f"{job.max_drop} points", "allocators": ", ".join(results),
            **({"final quantization": job.bits} if job.bits else {})}
    notes = [f"Accuracy constraint checked on a {job.validation}-sample validation split carved "
             f"out of the training data; test accuracy reported separately.",
             f"Each training run: {job.train_epochs:g} epoch(s) of {job.method}; final run "
             f"{job.final_epochs:g} epoch(s); probes: one layer pruned by magnitude, "
             f"{job.probe_epochs:g} epoch(s) of retraining.",
             "Speedups are simulated by hwmodels on the hardware preset, not measured on silicon."]
    if recomputed:
        notes.append("The final model was recomputed in this session (its checkpoint was "
                     "missing); the search's recorded final accuracy is the original run's, the "
                     "onnxruntime accuracy is the recomputed model's.")
    rep = search_report(network.shapes, hw, best, traces, title=f"Search: {job.model} on {job.hw}",
                        meta=meta, model=job.model, input_shape=tuple(network.input_shape),
                        extra_summary=extra, notes=notes, weight_bits=bits)
    return dict(render(rep, out))
