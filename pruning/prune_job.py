"""One compression run's settings (`PruneJob`), without torch: the API's and the CLI's defaults
live here once (codesign.prune takes its signature's defaults from these fields), and a job can
be built, checked and fingerprinted before torch is imported. pruning.pipeline runs it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pruning.errors import PruningError
from pruning.identity import data_identity, file_identity
from pruning.ranges import check_training_numbers

ALLOCATIONS = ("uniform", "global")
TASKS = ("auto", "classify", "lm", "distill")     # pruning.tasks (auto: classify with labels, else distill)
# each task's metric and the unit its drops (and --max-drop) are read in
TASK_METRICS = {"classify": ("accuracy", "accuracy points"), "lm": ("perplexity", "% perplexity increase"),
                "distill": ("agreement", "agreement points")}
EXPORTS = ("float", "qdq")
DEVICES = ("auto", "cpu", "cuda")   # where training runs (pruning.device; auto: a GPU when torch sees one)
OPTIMIZERS = ("adam", "sgd")
THREADS = 1          # torch CPU threads of a run: one gives the same numbers on every machine


@dataclass(frozen=True)
class PruneJob:
    model: str                                   # lenet5 | lenet300 | path to .onnx
    data: str = "fashion-mnist"
    task: str = "auto"                           # pruning.tasks.TASKS: classify, lm, distill (auto: by labels)
    method: str = "admm"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    alphas: Mapping[str, float] = field(default_factory=dict)
    alpha: float | None = None                   # every prunable layer (see allocation)
    allocation: str = "uniform"                  # alpha per layer, or one global threshold
    pattern: str | None = None                   # every prunable layer's pattern
    patterns: Mapping[str, str] = field(default_factory=dict)   # per layer (wins over pattern)
    bits: str | Mapping[str, int] | None = None  # "conv=3,fc=2" | "4" | {name: bits}
    export: str = "float"                        # float, or qdq: int8 weights + DequantizeLinear
    epochs: float = 1.0                          # budget of the method, all phases
    pretrain_epochs: float = 0.0                 # dense training before compression
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    limit: int | None = None
    test_limit: int | None = None
    eval_limit: int | None = 2000
    device: str = "auto"                         # DEVICES; not in the fingerprint (see fingerprint)

    def __post_init__(self) -> None:
        if self.task not in TASKS:

            raise PruningError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.device not in DEVICES:
            raise PruningError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        check_training_numbers(epochs=self.epochs, pretrain_epochs=self.pretrain_epochs,
                               batch_size=self.batch_size, lr=self.lr, seed=self.seed, limit=self.limit,
                               test_limit=self.test_limit, eval_limit=self.eval_limit)

    def fingerprint(self) -> str:
        """The settings that make the run what it is. The device is not one: it changes only
        rounding (a GPU's kernels add in another order), checkpoints are read onto any device, and a run
        started on a GPU resumes on a CPU rather than starting over (fingerprints of earlier
        runs stay valid)."""
        import onnx
        d = asdict(self)
        d.pop("device")
        if isinstance(self.model, onnx.ModelProto):     # a model given in memory: its bytes
            d["model"] = hashlib.sha256(self.model.SerializeToString()).hexdigest()
        else:                                           # a file: its contents
            d["model"] = file_identity(self.model)
        if isinstance(self.data, (str, Path)):
            d["data"] = data_identity(self.data)
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
