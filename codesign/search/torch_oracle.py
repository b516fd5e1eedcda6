"""The real accuracy oracle: a pruning backend (pruning.methods) trained on real data.

Request kinds (see codesign.executor):
- reference: the trained dense model's accuracy on the search split, or that of a dense control
  fine-tuned with one candidate's budget if higher (so extra training is not taken as margin);
- probe: one layer pruned to α by magnitude, optionally `probe_epochs` of masked retraining,
  evaluated on (a prefix of) the search split: cheap sensitivity;
- train: the backend's full method (e.g. ADMM + masked retraining) at the candidate α vector,
  with the short `train_epochs` budget: one "training run";
- final: the same at the found α with the longer `final_epochs` budget (and quantization bits if
  given); its model is kept and saved (`load_final`), so a resumed run can export it.

Search decisions use a validation split carved out of the training data (`search_split`), never
the test split; the test accuracy of the dense and the final model is reported beside it.
"""
from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from codesign.executor import EvalRequest, Outcome
from pruning.protocol import Progress, Targets, prunable_weights
from pruning.data import Dataset
from pruning.projections import pattern_masks
from pruning.methods import get_backend
from pruning.train import TrainContext, evaluate, train_epochs


def search_split(data: Dataset, validation: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(search data, test data): the search trains on the training set minus `validation`
    seeded samples and measures accuracy on those; the test split stays untouched."""
    n = len(data.train_y)
    validation = min(validation, n // 5)
    idx = np.random.default_rng(seed).permutation(n)
    val, train = np.sort(idx[:validation]), np.sort(idx[validation:])
    search = Dataset(data.train_x[train], data.train_y[train], data.train_x[val],
                     data.train_y[val], data.input_shape, data.num_classes, data.name + "/search")
    return search, data


@dataclass(frozen=True)
class OracleSettings:
    method: str = "admm"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    train_epochs: float = 1.0        # budget of one candidate's compression run
    final_epochs: float = 3.0        # budget of the final compression run
    probe_epochs: float = 0.0        # retraining in a sensitivity probe (0: one-shot)
    bits: Mapping[str, int] = field(default_factory=dict)   # quantization in the final run
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    control: bool = True             # reference = max(dense, dense fine-tuned like a candidate)


class TorchOracle:
    def __init__(self, model: nn.Module, search_data: Dataset, test_data: Dataset,
                 settings: OracleSettings, run_dir: str | Path | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.model, self.data, self.test = model, search_data, test_data
        self.settings = settings
        self.run_dir = Path(run_dir) if run_dir else None
        self.on_progress = on_progress
        self.backend = get_backend(settings.method, **dict(settings.method_options))
        # final models by request key: several searches may each end in a final run
        self._finals: dict[str, tuple[nn.Module, dict[str, torch.Tensor]]] = {}

    def _ctx(self, epochs: float, checkpoint: Path | None = None) -> TrainContext:
        s = self.settings
        return TrainContext(data=self.data, epochs=epochs, batch_size=s.batch_size, lr=s.lr,
                            seed=s.seed, checkpoint_dir=checkpoint, on_progress=self.on_progress)

    def evaluate(self, request: EvalRequest) -> Outcome:
        t0 = time.perf_counter()
        alphas = request.alpha_dict()
        if request.kind == "reference":
            return self._reference(t0)
        if request.kind == "probe":
            return self._probe(alphas, t0)
        final = request.kind == "final"
        s = self.settings
        model = copy.deepcopy(self.model)
        ckpt = self._final_dir(request) / "train" if final and self.run_dir else None
        targets = Targets(alphas=alphas, bits=dict(s.bits) if final else {})
        epochs = s.final_epochs if final else s.train_epochs
        if not alphas and not targets.bits and s.control:
            # Nothing to compress: train like the control, so that an all-dense outcome is
            # measured the way the reference was, not as the untouched pretrained model.
            train_epochs(model, self._ctx(epochs, ckpt), epochs, phase="control")
        result = self.backend.compress(model, targets, self._ctx(epochs, ckpt))
        achieved = {l.name: l.alpha for l in result.layers if l.alpha < 1.0}
        extra = {}
        if final:
            self._finals[request.key] = (result.model, result.masks)
            extra["test_accuracy"] = evaluate(result.model, self.test)
            if self.run_dir:
                torch.save({"state_dict": result.model.state_dict(), "masks": result.masks},
                           self._final_dir(request) / "model.pt")
        return Outcome(result.accuracy, time.perf_counter() - t0, result.epochs_used, achieved,
                       extra)

    def _reference(self, t0: float) -> Outcome:
        """The bar a candidate must clear: the dense model's accuracy, or, if higher, that of
        a dense control fine-tuned with the same budget as one candidate run. Without the
        control, a candidate's extra training would count as room for pruning."""
        acc = evaluate(self.model, self.data)
        extra = {"pretrained_accuracy": acc, "test_accuracy": evaluate(self.model, self.test)}
        epochs = self.settings.train_epochs
        if self.settings.control and epochs > 0:
            control = copy.deepcopy(self.model)
            train_epochs(control, self._ctx(epochs), epochs, phase="control")
            extra["control_accuracy"] = evaluate(control, self.data)
            acc = max(acc, extra["control_accuracy"])
        return Outcome(acc, time.perf_counter() - t0, epochs, {}, extra)

    def _probe(self, alphas: dict[str, float], t0: float) -> Outcome:
        model = copy.deepcopy(self.model)
        weights = prunable_weights(model)
        masks = pattern_masks({n: weights[n] for n in alphas}, alphas)
        with torch.no_grad():
            for n, m in masks.items():
                weights[n].mul_(m)
        epochs = self.settings.probe_epochs
        if epochs > 0:
            train_epochs(model, self._ctx(epochs), epochs, phase="probe", masks=masks)
        # the whole search split, as the reference: a subset would shift every probe's drop
        acc = evaluate(model, self.data)
        return Outcome(acc, time.perf_counter() - t0, epochs, dict(alphas))

    def _final_dir(self, request: EvalRequest) -> Path:
        assert self.run_dir is not None
        d = self.run_dir / "final" / hashlib.sha1(request.key.encode()).hexdigest()[:12]
        d.mkdir(parents=True, exist_ok=True)
        return d

    def load_final(self, request: EvalRequest) -> tuple[nn.Module, dict] | None:
        """(model, masks) of a finished final run, also one of an earlier, interrupted session."""
        if request.key in self._finals:
            return self._finals[request.key]
        if self.run_dir is None:
            return None
        p = self._final_dir(request) / "model.pt"
        if not p.exists():
            return None
        saved = torch.load(p, weights_only=False)
        model = copy.deepcopy(self.model)
        model.load_state_dict(saved["state_dict"])
        self._finals[request.key] = (model, saved["masks"])
        return self._finals[request.key]


def pretrain(model: nn.Module, data: Dataset, epochs: float, *, batch_size: int = 128,
             lr: float = 1e-3, seed: int = 0, checkpoint_dir: str | Path | None = None,
             on_progress: Callable[[Progress], None] | None = None) -> float:
    """Train the dense model in place (resumable through checkpoint_dir); returns accuracy on
    data's evaluation split."""
    ctx = TrainContext(data=data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                       checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
                       on_progress=on_progress)
    train_epochs(model, ctx, epochs, phase="pretrain")
    return evaluate(model, data)
