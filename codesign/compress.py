"""Compression through the Python API: `codesign.prune(...)` (and `codesign.search(...)`).

The model is an ONNX path, a built-in name (lenet5, lenet300, vgg7: pretrained once and
cached) or a torch nn.Module (exported to ONNX, used as given); the data is a dataset name or
path, a pruning.data.Dataset, a torch Dataset or DataLoader (split 80/20, seeded), or a
(train, test) pair of them. Torch is imported here, never by cost-only code.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from codesign.errors import CodesignError
from codesign.runlock import LOCK_NAME
from pruning.safe_files import check_out_folder, write_file

# What a prune writes in its run folder (a folder's name ends in "/"), checked before any work.
RUN_NAMES = ("model.onnx", "model-qdq.onnx", "layers.json", "layers.csv", "sparsity.json", "masks.npz",
             "checkpoints/", LOCK_NAME)

TEST_SHARE = 0.2


def _arrays(source) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) numpy arrays of a torch Dataset or DataLoader."""
    import torch
    from torch.utils.data import DataLoader, Dataset as TorchDataset
    if isinstance(source, TorchDataset):
        source = DataLoader(source, batch_size=512, shuffle=False)
    if not isinstance(source, DataLoader):
        raise CodesignError(f"data of type {type(source).__name__} is not a dataset name or path, a "
                            "torch Dataset or DataLoader, or a (train, test) pair of them")
    xs, ys = [], []
    for batch in source:
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise CodesignError("a torch dataset for codesign must yield (input, label) pairs")
        xs.append(torch.as_tensor(batch[0]).numpy())
        ys.append(torch.as_tensor(batch[1]).numpy())
    if not xs:
        raise CodesignError("the torch dataset is empty")
    return np.concatenate(xs), np.concatenate(ys)


def as_dataset(data, *, limit=None, test_limit=None, seed: int = 0, spec=None):
    """A pruning.data.Dataset from any of the forms in the module docstring, fitted to `spec`
    (pruning.data.DataSpec: what the model takes) when given."""
    from pruning.data import Dataset, fit_dataset, from_arrays, load_dataset, subset
    if isinstance(data, Dataset):
        data = fit_dataset(data, spec) if spec is not None else data
        return subset(data, limit, test_limit if test_limit is not None else limit, seed)
    if isinstance(data, (str, Path)):
        return load_dataset(str(data), limit=limit, test_limit=test_limit, seed=seed, spec=spec)
    if isinstance(data, tuple) and len(data) == 2:
        (tx, ty), (vx, vy) = _arrays(data[0]), _arrays(data[1])
    else:
        x, y = _arrays(data)
        order = np.random.default_rng(seed).permutation(len(y))
        cut = max(1, int(len(y) * TEST_SHARE))
        test, train = order[:cut], order[cut:]
        tx, ty, vx, vy = x[train], y[train], x[test], y[test]
    ds = from_arrays("torch-data", tx, ty, vx, vy, spec=spec)
    return subset(ds, limit, test_limit if test_limit is not None else limit, seed)


def _model_source(model, ds):
    """An ONNX path, a built-in name or a ModelProto for pruning.pipeline; an nn.Module is
    exported (with its current, trained weights) for inputs like the data's samples."""
    from codesign.api import _is_module
    if _is_module(model):
        import torch

        from pruning.onnx.bridge import export_torch
        return export_torch(model, tuple(ds.input_shape), dtype=torch.from_numpy(ds.train_x[:1]).dtype)
    return model


@dataclass
class PruneResult:
    """One compression run: the exported model(s), the per-layer table and the totals."""
    job: Any                                   # pruning.pipeline.JobResult
    layers: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)

    @property
    def onnx(self):
        return self.job.onnx_model

    @property
    def qdq(self):
        return self.job.qdq_model

    @property
    def sparsity(self):
        """The achieved plan as a sparsity file (codesign.plans.Sparsity)."""
        from codesign.plans import Sparsity
        from pruning.patterns import parse_pattern
        rows = self.layers
        return Sparsity({r["name"]: r["alpha"] for r in rows if r["alpha"] < 1},
                        {r["name"]: parse_pattern(r["pattern"]) for r in rows
                         if r["pattern"] not in ("unstructured", "dense")},
                        {r["name"]: r["bits"] for r in rows if r["bits"]})

    def to_dict(self) -> dict:
        return {**self.totals, "layers": self.layers}

    def to_csv(self, path, within=None) -> Path:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.layers[0]))
        writer.writeheader()
        writer.writerows(self.layers)
        return write_file(path, buf.getvalue(), within=within)

    def save(self, out_dir) -> dict[str, Path]:
        """model.onnx (+ model-qdq.onnx), layers.json/csv, sparsity.json, masks.npz (written as
        pruning.safe_files writes a run folder)."""
        from pruning.masks import save_masks
        out = Path(out_dir)
        paths = {"model": out / "model.onnx", "json": out / "layers.json", "csv": out / "layers.csv",
                 "sparsity": out / "sparsity.json", "masks": out / "masks.npz"}
        write_file(paths["model"], self.onnx.SerializeToString(), within=out)
        if self.qdq is not None:
            paths["qdq"] = write_file(out / "model-qdq.onnx", self.qdq.SerializeToString(), within=out)
        write_file(paths["json"], json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n", within=out)
        self.to_csv(paths["csv"], within=out)
        write_file(paths["sparsity"], json.dumps(self.sparsity.to_dict(), indent=2) + "\n", within=out)
        save_masks(self.job.result.masks, paths["masks"], within=out)
        return paths

    def report(self, out_dir, hw="smic40-admmnn") -> dict[str, Path]:
        """The plan report of the pruned model (its real masks) on hardware `hw`."""
        from codesign.api import load, plan
        network = load(self.onnx)
        result = plan(network, hw, pruned=network)
        return result.report(out_dir, notes=[
            f"Pruned with {self.totals['method']} on {self.totals['data']}: test accuracy "
            f"{100 * self.totals['accuracy_before']:.2f}% -> {100 * self.totals['accuracy_after']:.2f}% "
            f"on {self.totals['test_samples']:,} test samples."])


def prune(model, data, *, method: str = "admm", alpha: float | None = None, alphas=None,
          allocation: str = "uniform", pattern: str | None = None, bits=None,
          export: str = "float", epochs: float = 1.0, pretrain_epochs: float | None = None,
          batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam", seed: int = 0,
          limit: int | None = None, test_limit: int | None = None,
          method_options: Mapping[str, Any] | None = None, out=None, threads: int = 1,
          on_progress: Callable | None = None, on_status: Callable[[str], None] | None = None) -> PruneResult:
    """Compress `model` with one method. `alpha` (every layer; allocation "global" ranks all
    weights together instead) or `alphas` (a sparsity file or mapping, with patterns and bits);
    `pattern` for every layer; `bits` ("conv=3,fc=2", "8", or a mapping); `export` "qdq" adds
    the int8 QDQ model. `out`: a run directory (checkpoints; a rerun resumes)."""
    from pruning.methods import make_options, method as method_info
    from pruning.ranges import check_training_numbers
    check_training_numbers(epochs=epochs, pretrain_epochs=pretrain_epochs, batch_size=batch_size, lr=lr,
                           seed=seed, limit=limit, test_limit=test_limit, threads=threads)
    method_info(method)
    make_options(method, method_options)          # every number checked before torch is imported
    if out is not None:
        check_out_folder(out, "out=", RUN_NAMES)
    import torch

    from codesign.plans import read_sparsity
    from pruning.models import MODELS
    from codesign.api import _is_module
    from pruning.pipeline import PruneJob, model_spec, run_job
    torch.set_num_threads(threads)
    if alpha is None and alphas is None and not bits and not pattern:
        raise CodesignError("nothing to do: give alpha, alphas (a sparsity plan), an N:M pattern, "
                            "or bits to quantize only")
    sparsity = read_sparsity(alphas) if alphas is not None else None
    spec = None if _is_module(model) else model_spec(model)     # the data follows an ONNX model
    ds = as_dataset(data, limit=limit, test_limit=test_limit, seed=seed, spec=spec)
    builtin = isinstance(model, str) and model in MODELS and not Path(model).exists()
    if pretrain_epochs is None:
        pretrain_epochs = 10.0 if builtin else 0.0
    job = PruneJob(
        model=_model_source(model, ds), data=ds.name, method=method,
        method_options=dict(method_options or {}),
        alphas=dict(sparsity.alphas) if sparsity else {}, alpha=alpha, allocation=allocation,
        pattern=pattern, patterns={k: str(v) for k, v in sparsity.patterns.items()} if sparsity else {},
        bits=bits if bits is not None else (dict(sparsity.bits) if sparsity and sparsity.bits else None),
        export=export, epochs=epochs, pretrain_epochs=pretrain_epochs, batch_size=batch_size,
        lr=lr, optimizer=optimizer, seed=seed, limit=limit, test_limit=test_limit)
    from contextlib import nullcontext

    from codesign.runlock import run_lock
    with run_lock(out, "codesign prune") if out is not None else nullcontext():
        res = run_job(job, out, on_progress=on_progress, data=ds, on_status=on_status)
        summary = res.summary()
        layers = summary.pop("layers")
        if not isinstance(summary["model"], str):
            summary["model"] = "module"
        result = PruneResult(res, layers, summary)
        if out is not None:
            result.save(out)
    return result


def search(model, data, **options):
    from codesign.loop.job import search_api
    return search_api(model, data, **options)
