"""The real accuracy oracle: a pruning backend (pruning.methods) trained on real data.

Request kinds (see codesign.executor):
- reference: the trained dense model on the validation split, or a dense control fine-tuned
  with one candidate's budget if that is more accurate (so extra training is not taken as
  room for pruning);
- probe: one layer pruned to (α, pattern) by magnitude, optionally `probe_epochs` of masked
  retraining: cheap sensitivity (a probe of nothing is the probes' control: the dense model
  trained the same);
- train: the backend's full method at the candidate plan with the short `train_epochs`
  budget: one "training run";
- final: the found plan's candidate (its training run, recomputed from its seed) trained
  `final_epochs` further (masked fine-tuning, or the method again with quantization bits if
  given); the outcome also judges the candidate itself (`Outcome.start`). Both models are kept
  and saved safely (`load_final`), so a resumed run can export the one its search ships.

Every evaluation is seeded by its request (EvalRequest.seed), so it computes the same thing in
this process or on a Ray worker. Train and final outcomes carry per-sample correctness on the
validation split (paired verdicts; reference and final also on the test split) and the
hardware's cost of the model's own masks (`mask_cost`, codesign.loop.hwcost.MaskCost).
Search decisions use the validation split carved out of the training data (`search_split`),
never the test split.

Training and evaluation run on `OracleSettings.device`, resolved where the oracle evaluates
(pruning.device: a Ray worker picks its own by the same rule, and receives the model on the CPU;
Ray hides GPUs from its CPU tasks, so `auto` gives a worker the CPU).
"""
from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from codesign.executor import EvalRequest, Outcome
from codesign.loop.verdict import pack
from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import Dataset, take
from pruning.device import module_device, resolve_device
from pruning.methods import get_backend, method
from pruning.patterns import parse_pattern
from pruning.projections import pattern_masks
from pruning.protocol import Progress, Targets, prunable_weights, weight_layouts
from pruning.safe_files import make_dir
from pruning.train import TrainContext, sample_scores, task_of, train_epochs

FINAL_KEY = "final-model"
START_KEY = "start-model"          # the candidate a final run started from


def search_split(data: Dataset, validation: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(search data, test data): the search trains on the training set minus `validation`
    seeded samples and measures accuracy on those; the test split stays untouched."""
    n = len(data.train_x)
    validation = max(1, min(validation, n // 2))
    idx = np.random.default_rng(seed).permutation(n)
    val, train = np.sort(idx[:validation]), np.sort(idx[validation:])
    search = replace(data, train_x=data.train_x[train], train_y=take(data.train_y, train),
                     test_x=data.train_x[val], test_y=take(data.train_y, val), name=data.name + "/search")
    return search, data


@dataclass(frozen=True)
class OracleSettings:
    method: str = "admm"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    train_epochs: float = 1.0        # budget of one candidate's compression run
    final_epochs: float = 2.0        # further epochs of the final run from the candidate
    probe_epochs: float = 0.0        # retraining in a sensitivity probe (0: one-shot)
    bits: Mapping[str, int] = field(default_factory=dict)   # quantization in the final run
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    control: bool = True             # reference = max(dense, dense fine-tuned like a candidate)
    device: str = "auto"             # pruning.prune_job.DEVICES, resolved in the evaluating process


class TorchOracle:
    def __init__(self, model: nn.Module, search_data: Dataset, test_data: Dataset,
                 settings: OracleSettings, run_dir: str | Path | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 mask_cost: Callable[[Mapping[str, np.ndarray]], dict] | None = None,
                 fingerprint: str = "") -> None:
        self.model, self.data, self.test = model, search_data, test_data
        self.settings = settings
        self.run_dir = Path(run_dir) if run_dir else None
        self.on_progress = on_progress
        self.mask_cost = mask_cost
        self.fingerprint = fingerprint
        self.backend = get_backend(settings.method, **dict(settings.method_options))
        # (model, masks, quantization intervals) by (final request key, FINAL_KEY | START_KEY):
        # several searches may each end in a final run
        self._finals: dict[tuple[str, str], tuple[nn.Module, dict[str, torch.Tensor], dict[str, float]]] = {}
        self._device: torch.device | None = None          # resolved on first use, in this process

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["on_progress"] = None           # a driver-side callback does not travel to workers
        state["_finals"] = {}
        state["_device"] = None               # a worker resolves its own
        if module_device(self.model).type != "cpu":      # a worker may have no GPU
            state["model"] = copy.deepcopy(self.model).cpu()
        return state

    def device(self) -> torch.device:
        """Where this process trains and evaluates; the dense model moves there once."""
        if self._device is None:
            self._device = resolve_device(self.settings.device)
            self.model.to(self._device)
        return self._device

    def _ctx(self, epochs: float, seed: int, checkpoint: Path | None = None) -> TrainContext:
        s = self.settings
        return TrainContext(data=self.data, epochs=epochs, batch_size=s.batch_size, lr=s.lr,
                            optimizer=s.optimizer, seed=seed, checkpoint_dir=checkpoint,
                            on_progress=self.on_progress, fingerprint=self.fingerprint,
                            device=self.device())

    def evaluate(self, request: EvalRequest) -> Outcome:
        t0 = time.perf_counter()
        self.device()
        seed = request.seed(self.settings.seed)
        torch.manual_seed(seed)
        if request.kind == "reference":
            return self._reference(t0)
        if request.kind == "probe":
            return self._probe(request, t0, seed)
        return self._compress(request, t0, seed)

    def _compress(self, request: EvalRequest, t0: float, seed: int) -> Outcome:
        if request.kind == "final":
            return self._final(request, t0)
        model, masks, _, epochs = self._candidate(request, seed)
        return self._outcome(model, masks, t0, epochs)

    def _candidate(self, request: EvalRequest, seed: int, checkpoint: Path | None = None):
        """The backend's method at the request's plan with the candidate budget (a training run):
        (model, masks, quantization intervals, epochs). A plan that prunes nothing is the
        reference model itself."""
        alphas = request.alpha_dict()
        if not alphas:
            model, _, _ = self._reference_model()
            return copy.deepcopy(model), {}, {}, 0.0
        patterns = {n: parse_pattern(p) for n, p in request.pattern_dict().items()}
        torch.manual_seed(seed)
        result = self.backend.compress(copy.deepcopy(self.model), Targets(alphas=alphas, patterns=patterns),
                                       self._ctx(self.settings.train_epochs, seed, checkpoint))
        return result.model, result.masks, _intervals(result), result.epochs_used

    def _final(self, request: EvalRequest, t0: float) -> Outcome:
        """The final run: the plan's candidate (its training run, recomputed from that run's own
        seed, so the model the search judged), then `final_epochs` more from it: masked
        fine-tuning, or, with quantization bits, the method again with them. Starting from the
        candidate rather than from the dense model keeps what the search confirmed: a fresh
        longer run is a new draw of the training noise, and the confirmed candidate is the
        search's most aggressive passing one, so a fresh run misses the limit about as often as
        it meets it (vgg7 seed 1 in benchmarks/RESULTS.md). The candidate is judged on its own
        too (`Outcome.start`), so a search can ship it if the longer run loses accuracy;
        not with bits, where it lacks the quantization asked for."""
        s = self.settings
        base = EvalRequest.make("train", request.alpha_dict(), request.pattern_dict())
        folder = self._final_dir(request) if self.run_dir else None
        model, masks, intervals, epochs = self._candidate(base, base.seed(s.seed),
                                                          folder / "start" if folder else None)
        start = None
        if not s.bits:
            start = self._outcome(model, masks, t0, epochs, test=True)
            self._keep(request, START_KEY, model, masks, intervals)
        model = copy.deepcopy(model)
        seed = request.seed(s.seed)
        torch.manual_seed(seed)
        ctx = self._ctx(s.final_epochs, seed, folder / "train" if folder else None)
        if s.bits:
            targets = Targets(alphas=base.alpha_dict(), patterns={n: parse_pattern(p) for n, p in base.patterns},
                              bits=dict(s.bits))
            result = self.backend.compress(model, targets, ctx)
            model, masks, intervals = result.model, result.masks, _intervals(result)
            epochs += result.epochs_used
        elif masks and s.final_epochs > 0:
            train_epochs(model, ctx, s.final_epochs, phase="final", masks=masks)
            epochs += s.final_epochs
        self._keep(request, FINAL_KEY, model, masks, intervals)
        outcome = self._outcome(model, masks, t0, epochs, test=True)
        return replace(outcome, start=start)

    def _outcome(self, model: nn.Module, masks: Mapping[str, torch.Tensor], t0: float, epochs: float,
                 test: bool = False) -> Outcome:
        """Per-sample correctness on the validation split (and the test split for a model a
        search may ship), the achieved keep fractions and the cost of the model's own masks."""
        correct = sample_scores(model, self.data)
        extra: dict[str, float] = {}
        test_correct = ""
        if test:
            on_test = sample_scores(model, self.test)
            extra["test_accuracy"] = self._value(on_test)
            test_correct = pack(on_test)
        weights = prunable_weights(model)
        achieved = {n: float(m.float().mean()) for n, m in masks.items() if not bool(m.all())}
        measured = {}
        if self.mask_cost is not None:
            measured = self.mask_cost({n: (weights[n].detach() != 0).cpu().numpy() for n in achieved})
        return Outcome(self._value(correct), time.perf_counter() - t0, epochs, achieved,
                       extra, pack(correct), test_correct, measured)

    def _value(self, scores: np.ndarray) -> float:
        """The task's metric of per-sample scores (accuracy, agreement, perplexity)."""
        return task_of(self.data).value(scores)

    def _keep(self, request: EvalRequest, which: str, model: nn.Module, masks, intervals) -> None:
        """A model a search may ship: in memory, and saved safely in the run folder."""
        self._finals[(request.key, which)] = (model, dict(masks), dict(intervals))
        if self.run_dir:
            save_checkpoint(self._final_dir(request), which,
                            {"state_dict": model.state_dict(), "masks": dict(masks),
                             "intervals": {n: float(q) for n, q in intervals.items()}},
                            self.fingerprint)

    def _reference_model(self) -> tuple[nn.Module, np.ndarray, dict[str, float]]:
        """The bar a candidate must clear: the dense model, or, if more accurate, a dense
        control fine-tuned with the same budget as one candidate run (seeded by the reference
        request, so the same model every time it is asked for)."""
        correct = sample_scores(self.model, self.data)
        model = self.model
        extra = {"pretrained_accuracy": self._value(correct)}
        # the control trains as long as a candidate does: a one-shot method's candidates do not
        epochs = 0.0 if method(self.settings.method).one_shot else self.settings.train_epochs
        if self.settings.control and epochs > 0:
            seed = EvalRequest.make("reference").seed(self.settings.seed)
            torch.manual_seed(seed)
            control = copy.deepcopy(self.model)
            train_epochs(control, self._ctx(epochs, seed), epochs, phase="control")
            control_correct = sample_scores(control, self.data)
            extra["control_accuracy"] = self._value(control_correct)
            task = task_of(self.data)
            if task.quality(self._value(control_correct)) > task.quality(self._value(correct)):
                model, correct = control, control_correct
        return model, correct, extra

    def _reference(self, t0: float) -> Outcome:
        model, correct, extra = self._reference_model()
        test = sample_scores(model, self.test)
        extra["test_accuracy"] = self._value(test)
        return Outcome(self._value(correct), time.perf_counter() - t0, self.settings.train_epochs,
                       {}, extra, pack(correct), pack(test))

    def _probe(self, request: EvalRequest, t0: float, seed: int) -> Outcome:
        alphas = request.alpha_dict()
        patterns = {n: parse_pattern(p) for n, p in request.pattern_dict().items()}
        model = copy.deepcopy(self.model)
        epochs = self.settings.probe_epochs
        if alphas and method(self.settings.method).one_shot:     # the method itself: seconds, no training
            model = self.backend.compress(model, Targets(alphas=alphas, patterns=patterns), self._ctx(0, seed)).model
            epochs = 0.0
        else:
            weights = prunable_weights(model)
            masks = pattern_masks({n: weights[n] for n in alphas}, alphas, patterns, weight_layouts(model))
            with torch.no_grad():
                for n, m in masks.items():
                    weights[n].mul_(m)
            if epochs > 0:
                train_epochs(model, self._ctx(epochs, seed), epochs, phase="probe", masks=masks)
        # the whole validation split, as the reference: a subset would shift every probe's drop
        accuracy = self._value(sample_scores(model, self.data))
        return Outcome(accuracy, time.perf_counter() - t0, epochs, dict(alphas))

    def _final_dir(self, request: EvalRequest) -> Path:
        assert self.run_dir is not None
        d = self.run_dir / "final" / hashlib.sha1(request.key.encode()).hexdigest()[:12]
        return make_dir(d, within=self.run_dir)        # a linked `final/` is refused, not followed

    def load_final(self, request: EvalRequest, start: bool = False) -> tuple[nn.Module, dict, dict] | None:
        """(model, masks, quantization intervals) of a finished final run (`start`: the
        candidate it started from), also one of an earlier, interrupted session (a safe
        checkpoint: settings checked first, plain tensors only)."""
        which = START_KEY if start else FINAL_KEY
        if (request.key, which) in self._finals:
            return self._finals[(request.key, which)]
        if self.run_dir is None:
            return None
        saved = load_checkpoint(self._final_dir(request), which, self.fingerprint)
        if saved is None:
            return None
        model = copy.deepcopy(self.model)
        model.load_state_dict(saved["state_dict"])
        self._finals[(request.key, which)] = (model, dict(saved["masks"]), dict(saved.get("intervals", {})))
        return self._finals[(request.key, which)]


def _intervals(result) -> dict[str, float]:
    """The quantization interval per layer of a compression result (none without bits)."""
    return next((h.get("intervals") or {} for h in reversed(result.history) if "intervals" in h), {})
