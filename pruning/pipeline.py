"""One compression run end to end: data -> ONNX model -> trainable module -> dense
pretraining -> a method's compress() -> pruned/quantized weights written back into the same
ONNX graph -> onnxruntime check. Used by `codesign prune` and the benchmarks; every phase
checkpoints into the run directory, so a rerun resumes where an interrupted one stopped.

Built-in torch models (lenet5, lenet300) are exported to ONNX first, so torch and ONNX models
take exactly the same path and layers are always named by ONNX weight names.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import onnx
import torch

from pruning.data import DataSpec, Dataset, fit_dataset, load_dataset
from pruning.device import resolve_device
from pruning.errors import PruningError
from pruning.methods import get_backend
from pruning.bits import KINDS, parse_bits
from pruning.models import MODELS, builtin_name, builtin_onnx
from pruning.onnx.bridge import OnnxModule, data_spec, from_onnx, verify_onnx
from pruning.onnx.files import OnnxFileError, read_onnx
from pruning.patterns import Pattern, parse_pattern
from pruning.protocol import CompressionResult, Progress, Targets, prunable_weights
from pruning.prune_job import ALLOCATIONS, EXPORTS, PruneJob
from pruning.tasks import TASK_CLASSES, make_task
from pruning.train import TrainContext, sample_scores, task_of
from pruning.verdict import DropEstimate


@dataclass
class PruneJobResult:
    job: PruneJob
    result: CompressionResult
    onnx_model: onnx.ModelProto
    accuracy_pretrained: float
    verify_max_diff: float
    intervals: dict[str, float]
    seconds: float
    onnxruntime_accuracy: float = float("nan")        # of onnx_model on the test split
    qdq_model: onnx.ModelProto | None = None
    qdq_max_diff: float | None = None
    qdq_accuracy: float | None = None
    test_samples: int = 0                             # the accuracies' sample size
    task: str = "classify"                            # pruning.tasks: what the metric values are
    drop: DropEstimate | None = None                  # after against before, paired, in the task's drop unit
    samples: Any = None                               # a few test samples (their shapes, for the importer)

    def layer_rows(self) -> list[dict]:
        return [{"name": l.name, "pattern": l.pattern, "weights": l.weights, "kept": l.kept,
                 "alpha_target": l.alpha_target, "alpha": l.alpha, "ratio": l.weights / max(l.kept, 1),
                 "bits": l.bits, "interval": self.intervals.get(l.name)} for l in self.result.layers]

    def summary(self) -> dict:
        r = self.result
        task = TASK_CLASSES[self.task]
        drop = self.drop.to_dict() if self.drop is not None else {}
        return {"model": self.job.model, "data": self.job.data, "method": r.method,
                "task": self.task, "metric": task.metric, "drop_unit": task.drop_unit,
                "drop": drop.get("drop"), "drop_low": drop.get("ci_low"), "drop_high": drop.get("ci_high"),
                "epochs": self.job.epochs, "pretrain_epochs": self.job.pretrain_epochs,
                "accuracy_before": r.accuracy_dense, "accuracy_after": r.accuracy,
                "overall_ratio": r.overall_ratio, "onnxruntime_max_diff": self.verify_max_diff,
                "onnxruntime_accuracy": self.onnxruntime_accuracy,
                "qdq_max_diff": self.qdq_max_diff, "qdq_accuracy": self.qdq_accuracy,
                "test_samples": self.test_samples, "allocation": self.job.allocation, "export": self.job.export,
                "seconds": self.seconds, "layers": self.layer_rows()}


def is_builtin(model) -> bool:
    return builtin_name(model) is not None


def check_trainable(model) -> None:
    """A MODEL argument to train is a built-in net, a proto or an existing file; else one line
    naming the fix (without reading the file)."""
    if isinstance(model, onnx.ModelProto) or is_builtin(model) or Path(model).exists():
        return
    if Path(model).suffix or len(Path(model).parts) > 1:
        raise PruningError(f"model file {str(model)[:80]!r} not found: check the path, or use a built-in net "
                           f"({', '.join(MODELS)})")
    raise PruningError(f"model {str(model)[:80]!r} cannot be trained: training needs an ONNX file with real "
                       f"weights or a built-in net ({', '.join(MODELS)}) and data that fits it (the "
                       "bundled ImageNet graphs such as alexnet carry placeholder weights: use them "
                       "with inspect, breakeven, plan and sweep)")


def read_model(model: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """The ONNX graph of a MODEL argument that is a file or a proto (not a built-in name)."""
    if isinstance(model, onnx.ModelProto):
        return model
    check_trainable(model)
    try:
        return read_onnx(model)
    except OnnxFileError:
        raise
    except Exception as exc:       # protobuf raises several types for a file that is not ONNX
        raise PruningError(f"cannot read ONNX file {model} ({type(exc).__name__}: {str(exc).strip()[:120]}); "
                           "re-export it, or check that the file was copied completely") from exc


def model_spec(model) -> DataSpec | None:
    """What data a MODEL argument takes; None for a built-in, which is built to fit the data."""
    return None if is_builtin(model) else data_spec(read_model(model))


def prepare(model: str | Path | onnx.ModelProto, data: str | Path | Dataset, *, limit: int | None = None,
            test_limit: int | None = None, seed: int = 0) -> tuple[OnnxModule, Dataset]:
    """The trainable module of a MODEL argument and the data fitted to it: a built-in net is
    built for the data; an ONNX model's input, vocabulary and classes shape the data (and make
    `synthetic` data of its kind)."""
    if is_builtin(model):
        if not isinstance(data, Dataset):
            data = load_dataset(data, limit=limit, test_limit=test_limit, seed=seed)
        proto = builtin_onnx(builtin_name(model), data.input_shape, data.num_classes, seed)
        return from_onnx(proto), fit_dataset(data, data_spec(proto))
    proto = read_model(model)
    spec = data_spec(proto)
    if isinstance(data, Dataset):
        data = fit_dataset(data, spec)
    else:
        data = load_dataset(data, limit=limit, test_limit=test_limit, seed=seed, spec=spec)
    return from_onnx(proto), data


def with_task(job: PruneJob, module: OnnxModule, data: Dataset, pretraining: bool = False) -> Dataset:
    """The data with the job's task (pruning.tasks.make_task) for the module as it is now (a
    distillation's teacher is this dense model); `pretraining`: for the dense training first."""
    return dataclasses.replace(data, task=make_task(job.task, module, data, data_spec(module.model),
                                                    pretraining=pretraining))


def load_module(model: str | Path | onnx.ModelProto, data: Dataset, seed: int = 0) -> OnnxModule:
    """The trainable module for a MODEL argument, checked against the data as given (use
    `prepare` to have the data fitted to the model)."""
    module, fitted = prepare(model, data, seed=seed)
    if fitted is not data:
        raise PruningError(f"the dataset {data.name!r} gives samples of shape {data.input_shape} "
                           f"({data.train_x.dtype}, {data.num_classes} classes) but the model's input is "
                           f"{data_spec(read_model(model)).describe()}; fit the data to the model first "
                           "(pruning.pipeline.prepare)")
    return module


def resolve_bits(spec: str | Mapping[str, int] | None, weights: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Bits per weight name from "conv=3,fc=2", "4" (all layers), "name=5" or a mapping.
    conv = weights with >= 3 dims (Conv/ConvTranspose), fc = 2-D weights (Gemm/MatMul)."""
    items = parse_bits(spec)
    out: dict[str, int] = {}
    for key, b in items:
        if key in KINDS:
            for name, w in weights.items():
                kind = "conv" if w.dim() >= 3 else "fc"
                if key in ("all", kind):
                    out[name] = b
        elif key in weights:
            out[key] = b
        else:
            raise PruningError(f"--bits names {key!r}, which is neither conv, fc, all nor a weight "
                               f"name ({', '.join(weights)})")
    return out


def targets_for(job: PruneJob, weights: Mapping[str, torch.Tensor]) -> Targets:
    """What the method must reach: per-layer alphas (uniform `alpha`, or one global threshold
    with allocation "global"), patterns and bits."""
    if job.allocation not in ALLOCATIONS:
        raise PruningError(f"allocation {job.allocation!r} is not one of {', '.join(ALLOCATIONS)}")
    bits = resolve_bits(job.bits, weights)
    patterns: dict[str, Pattern] = {}
    if job.pattern:
        p = parse_pattern(job.pattern)
        if p.kind != "unstructured":
            patterns = {n: p for n in weights}
    for name, text in job.patterns.items():
        if name not in weights:
            raise PruningError(f"pattern names unknown weight {name!r}; known: {', '.join(list(weights)[:10])}")
        patterns[name] = parse_pattern(text)
    if job.alpha is not None and job.allocation == "global":
        if patterns:
            raise PruningError("allocation global ranks weights across layers; it cannot keep per-layer "
                               "patterns (use allocation uniform)")
        return Targets(alphas=dict(job.alphas), global_alpha=job.alpha, bits=bits)
    alphas = {n: job.alpha for n in weights} if job.alpha is not None else {}
    alphas.update(job.alphas)
    return Targets(alphas=alphas, patterns=patterns, bits=bits)


def run_job(job: PruneJob, run_dir: str | Path | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            data: Dataset | None = None, initial_state: Mapping[str, torch.Tensor] | None = None,
            on_status: Callable[[str], None] | None = None) -> PruneJobResult:
    """Run one compression job; with `run_dir`, checkpoints go to run_dir/checkpoints and a
    rerun with the same job resumes. A built-in model is pretrained once and cached
    (pruning.pretrain); `initial_state` (a module state_dict) replaces that."""
    from pruning.onnx.bridge import onnxruntime_metric
    t0 = time.perf_counter()
    if job.export not in EXPORTS:
        raise PruningError(f"export {job.export!r} is not one of {', '.join(EXPORTS)}")
    device = resolve_device(job.device)              # a missing GPU: refused before any work
    torch.manual_seed(job.seed)
    module, data = prepare(job.model, data if data is not None else job.data, limit=job.limit,
                           test_limit=job.test_limit, seed=job.seed)
    module.to(device)            # before the teacher copy, the masks and the method's state
    pretraining = job.pretrain_epochs > 0 and initial_state is None
    if pretraining:                                     # pretraining asks the task too
        data = with_task(job, module, data, pretraining=True)
    weights = prunable_weights(module)
    targets = targets_for(job, weights)
    if job.export == "qdq" and not targets.bits:
        raise PruningError("--export qdq stores quantized weights as int8: give --bits (e.g. --bits 8)")
    backend = get_backend(job.method, **dict(job.method_options))
    ckpt = Path(run_dir) / "checkpoints" if run_dir is not None else None
    common = dict(data=data, batch_size=job.batch_size, lr=job.lr, optimizer=job.optimizer,
                  seed=job.seed, checkpoint_dir=ckpt, on_progress=on_progress,
                  eval_limit=job.eval_limit, fingerprint=job.fingerprint(), device=device)
    if initial_state is not None:
        module.load_state_dict(dict(initial_state))
    elif job.pretrain_epochs > 0:
        from pruning.pretrain import pretrained
        name = builtin_name(job.model) or "model"
        pretrained(module, name, data, job.pretrain_epochs, batch_size=job.batch_size, lr=job.lr,
                   optimizer=job.optimizer, seed=job.seed, on_status=on_status, on_progress=on_progress,
                   device=device)
    data = with_task(job, module, data, pretraining)     # after pretraining: the teacher is the dense model
    common["data"] = data
    before = sample_scores(module, data)
    accuracy_pretrained = task_of(data).value(before)
    result = backend.compress(module, targets, TrainContext(epochs=job.epochs, **common))
    drop = task_of(data).drop(before, sample_scores(result.model, data))
    intervals = next((h.get("intervals") or {} for h in reversed(result.history) if "intervals" in h), {})
    metadata = {"method": result.method, "data": data.name, "task": task_of(data).name,
                "layers": {l.name: {"alpha": l.alpha, "bits": l.bits, "pattern": l.pattern,
                                    "interval": intervals.get(l.name)} for l in result.layers}}
    # The source graph's input shapes (a symbolic batch stays symbolic: deployable as is).
    exported = module.to_onnx(metadata=metadata)
    sample = data.test_x[: min(64, len(data.test_x))]
    masks = {n: m for n, m in result.masks.items() if not bool(m.all())}
    diff = verify_onnx(module, exported, sample, masks=masks, atol=1e-4)
    out = PruneJobResult(job, result, exported, accuracy_pretrained, diff, dict(intervals),
                         0.0, onnxruntime_metric(exported, data), test_samples=len(data.test_x),
                         task=task_of(data).name, drop=drop, samples=data.test_x[:1])
    if job.export == "qdq":
        from pruning.onnx.qdq import to_qdq
        out.qdq_model = to_qdq(exported, intervals, targets.bits)
        out.qdq_max_diff = verify_onnx(module, out.qdq_model, sample, masks=masks, atol=1e-4)
        out.qdq_accuracy = onnxruntime_metric(out.qdq_model, data)
    out.seconds = time.perf_counter() - t0
    return out


def achieved_alphas(result: CompressionResult) -> dict[str, float]:
    return {l.name: l.alpha for l in result.layers}
