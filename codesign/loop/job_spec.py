"""A search job's settings (SearchJob), their ranges and fingerprint, and the names of what a
run writes in its folder. No torch: the CLI builds its flags and the API its defaults from
here, and both check numbers before any work."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from codesign.loop.records import SearchError
from codesign.loop.verdict import DEFAULT_CONFIDENCE
from codesign.report.renderer import REPORT_NAMES
from codesign.runlock import LOCK_NAME
from hwmodels.presets import DEFAULT_PRESET
from pruning.identity import data_identity, file_identity
from pruning.ranges import TRAINING, Range, check
from pruning.safe_files import MIB

EVALUATIONS = "evaluations.jsonl"
# Version of what an evaluation of a run folder means; a folder of another version is not
# resumed (2: a final run continues from the plan's candidate instead of starting from dense).
LOOP_VERSION = 2
EXECUTORS = ("local", "ray")
MAX_JOB_BYTES = 1 * MIB              # job.json: the settings of a run
# What a search writes in its run folder (a folder's name ends in "/"), checked before any work.
RUN_NAMES = ("job.json", "summary.json", "search-history.json", "compressed.onnx", "compressed-qdq.onnx",
             EVALUATIONS, "final/", "model.onnx", "data.npz", LOCK_NAME) + REPORT_NAMES


def default_out(model) -> str:
    """The run folder of a search given none (CLI and API alike): runs/<model's name>-search."""
    name = Path(model).stem[:60] if isinstance(model, (str, os.PathLike)) else "module"
    return str(Path("runs") / f"{name}-search")


@dataclass(frozen=True)
class SearchJob:
    model: str                                  # lenet5 | lenet300 | vgg7 | path to an ONNX file
    data: str                                   # fashion-mnist | mnist5k | digits | synthetic | path
    out: str
    hw: str = DEFAULT_PRESET
    hw_overrides: tuple[str, ...] = ()          # KEY=VALUE, as --set
    max_drop: float = 0.5
    confidence: float = DEFAULT_CONFIDENCE
    task: str = "auto"                          # classify | lm | distill (pruning.tasks; auto: by labels)
    method: str = "admm"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    allocators: tuple[str, ...] = ("dp",)
    patterns: tuple[str, ...] = ("unstructured",)   # dp: per-layer choice among these
    batch: int = 1                              # candidates trained per round
    train_limit: int | None = None              # training samples (seeded, class-stratified)
    test_limit: int | None = None
    validation: int | None = None               # None: sized for the constraint
    pretrain_epochs: float | None = None        # None: pruning.models.pretrain_epochs (a built-in's, 0 for a file)
    train_epochs: float = 1.0
    final_epochs: float = 2.0                   # further epochs from the chosen candidate
    probe_epochs: float = 0.1
    initial: str | None = None                  # Fig. 5 start: a sparsity file
    bits: str | None = None                     # final quantization: "conv=3,fc=2", "4", ...
    export: str = "float"                       # float, or qdq: also int8 weights + DequantizeLinear
    alpha_min: float = 0.02
    lr: float = 5e-4                            # fine-tuning lr of the compression runs
    storage_budget_kib: float | None = None     # dp: weights + indices must fit (KiB)
    seed: int = 0
    executor: str = "local"                     # where evaluations run (not in the fingerprint)
    address: str | None = None
    workers: int = 2
    device: str = "auto"                        # pruning.prune_job.DEVICES (not in the fingerprint)

    def fingerprint(self) -> dict:
        """Settings that change results: a run directory only resumes a run with the same ones
        (the executor is not one of them: every executor gives the same results; nor is the
        device, which changes only rounding, as PruneJob.fingerprint says). Files (model,
        data, hardware, initial sparsity) count by their contents."""
        d = {k: v for k, v in asdict(self).items() if v is not None}   # unset options: absent
        for k in ("out", "allocators", "executor", "address", "workers", "device"):
            d.pop(k, None)
        for k in ("model", "hw", "initial"):       # files by their contents (a path wins over a name)
            if k in d:
                d[k] = file_identity(d[k])
        d["data"] = data_identity(self.data)
        d["loop_version"] = LOOP_VERSION
        return json.loads(json.dumps(d, sort_keys=True, default=str))



StatusHook = Callable[[str], None]


# The search's own numbers, by SearchJob field; its training settings are checked against
# pruning.ranges.TRAINING (the same ranges as `codesign prune`).
SEARCH_NUMBERS = {
    "max_drop": Range(0, 100),                        # percentage points of accuracy
    "confidence": Range(0.5, 0.9999),                 # of the drop's interval
    "alpha_min": Range(1e-6, 0.999),                  # a keep fraction below 1
    "storage_budget_kib": Range(1e-6, 1e12),          # KiB: 1e12 is a petabyte of weights
    "validation": Range(10, 10 ** 9, whole=True),     # a verdict on fewer samples says nothing
    "train_limit": Range(10, 10 ** 9, whole=True),
    "workers": Range(1, 1024, whole=True),            # CPUs of a local Ray cluster
    "batch": Range(1, 1024, whole=True),              # candidates per round: one per worker
}
TRAINING_SETTINGS = {"train_epochs": "epochs", "final_epochs": "epochs", "probe_epochs": "epochs",
                     "pretrain_epochs": "pretrain_epochs", "lr": "lr", "seed": "seed",
                     "test_limit": "test_limit"}
# where a flag is not the field's name
FLAGS = {"storage_budget_kib": "--storage-budget", "batch": "--candidates-per-round"}


def check_numbers(job: SearchJob) -> None:
    """Every number of the job in its range (SearchError naming the flag)."""
    ranges = {**SEARCH_NUMBERS, **{k: TRAINING[v] for k, v in TRAINING_SETTINGS.items()}}
    for name, allowed in ranges.items():
        check(FLAGS.get(name, f"--{name.replace('_', '-')}"), getattr(job, name), allowed, SearchError)
