"""What training and evaluation ask of a model: one protocol, three tasks.

- `classify`: labels; cross-entropy; the metric is top-1 accuracy, judged per sample (right or
  wrong) with Agresti-Min's paired interval.
- `lm`: token ids and no labels; next-token cross-entropy; the metric is perplexity (lower is
  better), judged per sequence (mean negative log-likelihood) with a paired bootstrap of the
  perplexity ratio; a drop is the perplexity's increase in percent.
- `distill`: no labels; the compressed model learns the dense model's outputs (KL divergence on
  scores over classes or tokens, else mean squared error scaled by the teacher's variance) and
  is judged on agreement with it: top-1 agreement for class-like outputs (per sample, or the
  share of positions of a sequence), cosine similarity for others; the dense model agrees with
  itself, so a drop is 100 x (1 - agreement) points.

A task reads the model's first output with its batch axis first (`batch_axis`: 1 for a
time-major output). Every metric's statistics are pruning.verdict's; `--max-drop` is read in
the task's `drop_unit`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pruning.errors import PruningError
from pruning.prune_job import TASK_METRICS, TASKS
from pruning.verdict import DEFAULT_CONFIDENCE, DropEstimate, task_drop



class Task:
    """The protocol (see the module doc). Scores are per sample, numpy: bool where a sample is
    right or wrong, float otherwise."""
    name: ClassVar[str]
    metric: ClassVar[str]                 # what `value` is
    drop_unit: ClassVar[str]              # what a drop (and --max-drop) is measured in
    higher_is_better: ClassVar[bool] = True
    batch_axis: int = 0

    def loss(self, out: torch.Tensor, x, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, out: torch.Tensor, x, y: torch.Tensor | None) -> np.ndarray:
        raise NotImplementedError

    def value(self, scores: np.ndarray) -> float:
        """The metric over samples (a fraction for accuracy and agreement)."""
        return float(np.mean(scores))

    def drop(self, reference: np.ndarray, candidate: np.ndarray,
             confidence: float = DEFAULT_CONFIDENCE) -> DropEstimate:
        """In `drop_unit`, with its interval (pruning.verdict.task_drop: one place per metric)."""
        return task_drop(self.name, reference, candidate, confidence)

    def quality(self, value: float) -> float:
        """The metric signed so that higher is better (for picking the best of several models)."""
        return value if self.higher_is_better else -value

    def shown(self, value: float) -> str:
        """The metric as people read it."""
        return f"{100 * value:.2f}%"

    def first(self, out: torch.Tensor) -> torch.Tensor:
        """The output with its batch axis first."""
        return out if self.batch_axis == 0 else out.movedim(self.batch_axis, 0)


@dataclass
class Classify(Task):
    name: ClassVar[str] = "classify"
    metric, drop_unit = TASK_METRICS[name]
    batch_axis: int = 0

    def loss(self, out, x, y):
        return F.cross_entropy(self.first(out), y)

    def scores(self, out, x, y):
        return (self.first(out).argmax(1) == y).cpu().numpy()


@dataclass
class LanguageModel(Task):
    """Next-token prediction on the token ids of input `tokens` (an (N, L) array)."""
    tokens: str = ""
    batch_axis: int = 0
    name: ClassVar[str] = "lm"
    metric, drop_unit = TASK_METRICS[name]
    higher_is_better: ClassVar[bool] = False

    def _pairs(self, out, x):
        ids = x[self.tokens] if isinstance(x, Mapping) else x
        logits = self.first(out)
        if logits.dim() != 3 or ids.dim() != 2 or logits.shape[:2] != ids.shape:
            raise PruningError(f"--task lm needs (batch, sequence, vocabulary) logits over the token input "
                               f"{self.tokens!r} of shape (batch, sequence); got logits {tuple(logits.shape)} "
                               f"for tokens {tuple(ids.shape)}")
        return logits[:, :-1], ids[:, 1:].long()

    def loss(self, out, x, y):
        logits, target = self._pairs(out, x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))

    def scores(self, out, x, y):
        logits, target = self._pairs(out, x)
        nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
        return nll.double().mean(1).cpu().numpy()      # each sequence's mean negative log-likelihood

    def value(self, scores):
        return float(np.exp(np.mean(scores)))

    def shown(self, value):
        return f"perplexity {value:.3g}"


@dataclass
class Distill(Task):
    """Agreement with `teacher` (the dense model, frozen; it follows the student's device)."""
    teacher: nn.Module = field(default=None, repr=False)
    class_like: bool = True
    batch_axis: int = 0
    name: ClassVar[str] = "distill"
    metric, drop_unit = TASK_METRICS[name]

    @torch.no_grad()
    def target(self, x) -> torch.Tensor:
        from pruning.device import module_device
        device = next(iter(x.values())).device if isinstance(x, Mapping) else x.device
        if module_device(self.teacher) != device:
            self.teacher.to(device)
        was_training = self.teacher.training
        self.teacher.eval()
        try:
            return self.first(self.teacher(x))
        finally:
            self.teacher.train(was_training)

    def loss(self, out, x, y):
        student, teacher = self.first(out), self.target(x)
        if self.class_like:
            return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                            reduction="sum") / (student.numel() // student.shape[-1])
        return F.mse_loss(student, teacher) / (teacher.var() + 1e-12)

    def scores(self, out, x, y):
        student, teacher = self.first(out), self.target(x)
        if self.class_like:
            same = student.argmax(-1) == teacher.argmax(-1)
            return (same if same.dim() == 1 else same.flatten(1).double().mean(1)).cpu().numpy()
        return F.cosine_similarity(student.flatten(1).double(), teacher.flatten(1).double(), dim=1,
                                   eps=1e-12).cpu().numpy()

    def __getstate__(self) -> dict:
        """Pickled (for a Ray worker, which may have no GPU) with the teacher on the CPU."""
        from pruning.device import module_device
        state = dict(self.__dict__)
        if self.teacher is not None and module_device(self.teacher).type != "cpu":
            state["teacher"] = copy.deepcopy(self.teacher).cpu()
        return state

    def shown(self, value):
        return f"{100 * value:.2f}% {'agreement' if self.class_like else 'cosine'}"


TASK_CLASSES = {t.name: t for t in (Classify, LanguageModel, Distill)}


def make_task(name: str, module: nn.Module, data: Any, spec: Any = None, pretraining: bool = False) -> Task:
    """The task `name` (TASKS) for a trainable `module` and its data (pruning.data.Dataset);
    "auto": classify when the data has labels, else distill, or lm when the dense model is to
    be pretrained (`pretraining`: distillation has nothing to learn from then) and it is a
    language model (token ids in, scores over its vocabulary out). `spec`
    (pruning.data.DataSpec) gives the output's batch axis and kind and the token input; a
    distill task's teacher is a frozen copy of `module` as it is now (the dense model)."""
    if name not in TASKS:
        raise PruningError(f"task {name!r} is not one of {', '.join(TASKS)}")
    output = getattr(spec, "output", None)
    axis = output.batch_axis if output is not None else 0
    if hasattr(module, "output_batch_axis") and len(data.test_x):     # as a run gives it (OnnxModule)
        from pruning.train import as_batch
        was_training = module.training
        with torch.no_grad():
            module.eval()(as_batch(data.test_x[:1]))
        module.train(was_training)
        axis = module.output_batch_axis
    tokens = [i for i in (spec.inputs if spec is not None else ()) if i.role == "tokens"]
    if name == "auto":
        lm = bool(tokens) and output is not None and output.dims is not None and output.dims[-1] == tokens[0].vocab
        name = "classify" if data.labeled else "lm" if pretraining and lm else "distill"
    if name == "distill" and pretraining:
        raise PruningError("distillation learns from the dense model as given: pretraining it has nothing to "
                           "learn from; use --pretrain-epochs 0, labels (--task classify) or token data "
                           "(--task lm)")
    if name == "classify":
        if not data.labeled:
            raise PruningError(f"--task classify needs labels, and the data {data.name!r} has none; use "
                               "--task distill (agreement with the dense model) or --task lm (token data)")
        if output is not None and output.dims is not None and len(output.dims) != 2:
            from pruning.data import shape_text
            raise PruningError(f"the model's output has shape {shape_text(output.dims)}; --task classify needs "
                               "a classifier's (batch, classes) output; use --task distill or --task lm")
        return Classify(axis)
    if name == "lm":
        if spec is not None and not tokens:
            raise PruningError("--task lm needs a token-id input that indexes an embedding table; the model "
                               f"has {', '.join(i.describe() for i in spec.inputs)}")
        return LanguageModel(tokens[0].name if tokens else "", axis)
    teacher = copy.deepcopy(module)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return Distill(teacher, output.class_like if output is not None else True, axis)
