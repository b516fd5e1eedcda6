"""Training and evaluation loops shared by every compression method.

`train_epochs` is the one loop: the data's task loss (pruning.tasks: cross-entropy on labels,
next-token cross-entropy, distillation) plus an optional extra loss term (ADMM's
penalty, a sparsity loss), masks kept in force after every step, an `after_step` hook (ADMM's
Z/U update, a pruning schedule), per-epoch checkpoints that resume when the same run
directory is reused, and progress reports. Data order is a pure function of (seed, phase,
epoch), so a resumed run sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Protocol

import numpy as np
import torch
from torch import nn

from pruning.protocol import Progress, prunable_weights
from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import Dataset, Inputs, Samples
from pruning.device import module_device, resolve_device, to_device
from pruning.errors import PruningError
from pruning.masks import Masks, MaskEnforcer
from pruning.prune_job import OPTIMIZERS
from pruning.ranges import check_training_numbers
from pruning.tasks import Classify, Task


class TrainingDivergedError(PruningError):
    """The loss became NaN or infinite."""


@dataclass
class TrainContext:
    """Everything a method needs to train: data, the epoch budget (total over all of the
    method's phases), optimizer settings, seed, where to checkpoint, whom to tell progress, and
    the device it trains on (pruning.device: "auto", "cpu", "cuda" or a torch.device; resolved
    here, so a missing GPU is refused before any work)."""
    data: Dataset
    epochs: float = 10.0
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_dir: Path | None = None          # None: no checkpoints
    on_progress: Callable[[Progress], None] | None = None
    eval_limit: int | None = 2000                # test samples for per-epoch monitoring
    fingerprint: str = ""                        # settings of the run; guards resumes
    device: str | torch.device = "cpu"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise PruningError(f"optimizer {self.optimizer!r} is unknown; use one of {OPTIMIZERS}")
        check_training_numbers(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                               momentum=self.momentum, weight_decay=self.weight_decay)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = Path(self.checkpoint_dir)
        self.device = resolve_device(self.device)

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train_x) // self.batch_size)

    def steps(self, epochs: float) -> int:
        """Optimizer steps in `epochs` (fractional epochs allowed; at least one step if > 0)."""
        return 0 if epochs <= 0 else max(1, round(epochs * self.steps_per_epoch))

    def report(self, phase: str, step: int, total: int, message: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(phase, step, total, message))

    def save(self, key: str, payload: dict) -> None:
        """Checkpoint a method's own state (no-op without a checkpoint_dir)."""
        if self.checkpoint_dir is not None:
            save_checkpoint(self.checkpoint_dir, key, payload, self.fingerprint)

    def load(self, key: str) -> dict | None:
        return load_checkpoint(self.checkpoint_dir, key, self.fingerprint, device=self.device)


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def split_budget(total: float, weights: Mapping[str, float]) -> dict[str, float]:
    """Split an epoch budget over phases in proportion to `weights`."""
    norm = sum(weights.values())
    if norm <= 0:
        raise PruningError(f"phase weights must sum to > 0, got {dict(weights)}")
    return {k: total * w / norm for k, w in weights.items()}


def make_optimizer(model: nn.Module, ctx: TrainContext, lr: float | None = None) -> torch.optim.Optimizer:
    lr = ctx.lr if lr is None else lr
    params = [p for p in model.parameters() if p.requires_grad]
    if ctx.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=ctx.momentum, weight_decay=ctx.weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=ctx.weight_decay)


def _seed_for(seed: int, phase: str, epoch: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(phase.encode()) * 7919 + epoch) % (2**63)


def _tensors(x: Samples, y: np.ndarray | None):
    """Samples as tensors (a dict of them for several inputs; images channels-last) and labels."""
    if isinstance(x, Inputs):
        xt = {k: _tensors(v, None)[0] for k, v in x.arrays.items()}
    else:
        xt = channels_last(torch.from_numpy(np.ascontiguousarray(x)))
    return xt, (None if y is None else torch.from_numpy(np.ascontiguousarray(y)))


def as_batch(x: Samples):
    """Samples (an array, or Inputs) as what a model takes: a tensor, or a dict of tensors."""
    return _tensors(x, None)[0]


def _take(x, idx):
    """Samples `idx` of a tensor or of a dict of tensors (several inputs)."""
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def task_of(data: Dataset) -> Task:
    """What the data asks of a model (pruning.tasks; a Dataset without one is classified)."""
    return data.task if data.task is not None else Classify()


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """An image batch (N, C, H, W) laid out channels-last in memory, whatever strides it came
    with. Torch picks its convolution kernels by the input's strides, and numpy's strides of a
    one-channel batch depend on how the array was made: a pickled copy (a Ray task's) gets
    other strides than the original, and so other kernels and other rounding. One layout keeps
    an evaluation bit-identical on every executor; channels-last is oneDNN's faster one on this
    CPU (LeNet-5 and vgg7 on 28x28 images: about 2x for inference, benchmarks/RESULTS.md
    ray_scaling.py). Explicit strides, because `.contiguous(memory_format=...)` leaves a
    one-channel batch as it is (both layouts count as contiguous)."""
    if x.dim() != 4 or not x.is_floating_point():
        return x
    n, c, h, w = x.shape
    return torch.empty_strided(x.shape, (h * w * c, 1, w * c, c), dtype=x.dtype).copy_(x)


def train_epochs(model: nn.Module, ctx: TrainContext, epochs: float, *, phase: str = "train",
                 loss_extra: Callable[[nn.Module], torch.Tensor] | None = None,
                 after_step: Callable[[int], None] | None = None,
                 masks: Masks | None = None, lr: float | None = None,
                 optimizer: torch.optim.Optimizer | None = None,
                 state: Stateful | None = None, clip_grad_norm: float | None = None) -> list[dict]:
    """Train `model` in place for `epochs` (may be fractional) and return one history record
    per (possibly partial) epoch: {phase, epoch, steps, loss, accuracy, seconds}.

    `loss_extra(model)` is added to the mean cross-entropy; `after_step(step)` runs after each
    optimizer step with the 1-based step count of this phase (after masks are re-applied);
    `masks` are enforced on gradients, weights and optimizer state. `phase` names the
    checkpoint: it must be unique within a run. `state` (e.g. ADMM's Z and U) is saved and
    restored with the model. A fresh optimizer is made unless one is passed. `clip_grad_norm`
    bounds the global gradient norm (keeps large-step SGD phases from diverging). The model
    moves to `ctx.device` (a method's masks and state made from its weights are there already:
    a caller places the model before the method starts); the data stays on the CPU and each
    batch moves."""
    total = ctx.steps(epochs)
    model.to(ctx.device)
    opt = optimizer or make_optimizer(model, ctx, lr)
    enforcer = MaskEnforcer(prunable_weights(model), masks) if masks else None
    if enforcer:
        enforcer.after_step(opt)
    key = f"phase-{phase}"
    history: list[dict] = []
    done = 0
    saved = ctx.load(key)
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if state is not None and saved.get("state") is not None:
            state.load_state_dict(saved["state"])
        done, history = saved["step"], saved["history"]
        if done >= total:
            return history
    _check_training_memory(model, ctx)
    x_all, y_all = _tensors(ctx.data.train_x, ctx.data.train_y)
    task = task_of(ctx.data)
    n, per_epoch = len(ctx.data.train_x), ctx.steps_per_epoch
    tick = max(1, per_epoch // 20)
    model.train()
    while done < total:
        epoch = done // per_epoch
        order = torch.from_numpy(np.random.default_rng(_seed_for(ctx.seed, phase, epoch)).permutation(n))
        torch.manual_seed(_seed_for(ctx.seed, phase, epoch))
        start_step, t0, loss_sum = done, time.perf_counter(), 0.0
        for b in range(done - epoch * per_epoch, min(per_epoch, total - epoch * per_epoch)):
            idx = order[b * ctx.batch_size:(b + 1) * ctx.batch_size]
            xb = to_device(_take(x_all, idx), ctx.device)
            loss = task.loss(model(xb), xb, None if y_all is None else y_all[idx].to(ctx.device))
            if loss_extra is not None:
                loss = loss + loss_extra(model)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"phase {phase!r}: the loss became {float(loss.detach())} at step {done + 1}; lower the "
                    "learning rate (or the method's penalty) and run again")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            if enforcer:
                enforcer.before_step()
            opt.step()
            if enforcer:
                enforcer.after_step(opt)
            done += 1
            loss_sum += float(loss.detach())
            if after_step is not None:
                after_step(done)
            if done % tick == 0:
                ctx.report(phase, done, total, f"loss {float(loss.detach()):.3f}")
        acc = evaluate(model, ctx.data, limit=ctx.eval_limit)
        model.train()
        record = {"phase": phase, "epoch": epoch + 1, "steps": done - start_step,
                  "loss": loss_sum / max(done - start_step, 1), "accuracy": acc,
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        ctx.report(phase, done, total, f"loss {record['loss']:.3f} {task.shown(acc)}")
        ctx.save(key, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done,
                       "history": history, "state": state.state_dict() if state is not None else None})
    return history


@torch.no_grad()
def sample_scores(model: nn.Module, data: Dataset, *, limit: int | None = None,
                  batch_size: int = 1000) -> np.ndarray:
    """Per-sample scores of the data's task (pruning.tasks: correctness for classification and
    top-1 agreement, a number otherwise) on the test split of `data`; `limit` uses the first
    `limit` samples (built-in test splits are class-mixed). Runs where the model is."""
    x, y = data.test_x, data.test_y
    if limit is not None:
        x, y = x[:limit], (None if y is None else y[:limit])
    if len(x) == 0:
        raise PruningError("cannot evaluate on an empty test set; raise the dataset limit")
    task = task_of(data)
    device = module_device(model)
    was_training = model.training
    model.eval()
    batch_size = _within_memory(model, x, batch_size, device)
    parts = []
    for i in range(0, len(x), batch_size):
        xb, yb = _tensors(x[i:i + batch_size], None if y is None else y[i:i + batch_size])
        xb, yb = to_device(xb, device), to_device(yb, device)
        parts.append(task.scores(model(xb), xb, yb))
    model.train(was_training)
    return np.concatenate(parts)


# Activations an evaluation batch may hold at once: an OCR recognizer of 700 MMACs a sample held
# 22 GB at a batch of 1,000 and was killed; a classifier of LeNet's size keeps its 1,000.
EVAL_MEMORY = 2 * 2 ** 30


def _check_training_memory(model: nn.Module, ctx: TrainContext) -> None:
    """A training batch keeps every activation for its backward pass: refuse, before the first
    step, a batch size whose activations would take more than half of this machine's memory
    (rapidocr's recognizer: 191 MiB a sample, 24 GB at a batch of 128, killed by the kernel)."""
    measure = getattr(model, "activation_bytes", None)
    if measure is None or len(ctx.data.train_x) < 2:
        return
    per_sample = measure(to_device(as_batch(ctx.data.train_x[:2]), module_device(model)))[1] / 2
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    if per_sample * ctx.batch_size > limit:
        fits = max(1, int(limit // per_sample))
        raise PruningError(f"a training batch of {ctx.batch_size} samples would keep about "
                           f"{per_sample * ctx.batch_size / 2 ** 30:.1f} GiB of activations for the backward "
                           f"pass ({per_sample / 2 ** 20:.0f} MiB a sample), more than half of this machine's "
                           f"memory; pass --batch-size {fits} or less")


def _within_memory(model: nn.Module, x: Samples, batch_size: int, device) -> int:
    """`batch_size`, or fewer samples where their activations would exceed EVAL_MEMORY (a model
    that can say: pruning.onnx.bridge.OnnxModule.activation_bytes)."""
    measure = getattr(model, "activation_bytes", None)
    if measure is None or len(x) < 2 or batch_size <= 2:
        return batch_size
    per_sample = measure(to_device(as_batch(x[:2]), device))[0] / 2
    return int(max(1, min(batch_size, EVAL_MEMORY // max(per_sample, 1))))


def evaluate(model: nn.Module, data: Dataset, *, limit: int | None = None, batch_size: int = 1000) -> float:
    """The data's task metric on its test split (accuracy and agreement as fractions,
    perplexity); see `sample_scores`."""
    return task_of(data).value(sample_scores(model, data, limit=limit, batch_size=batch_size))


def quality(model: nn.Module, data: Dataset) -> float:
    """The task metric signed so that higher is better: what picks the best of several models."""
    return task_of(data).quality(evaluate(model, data))
