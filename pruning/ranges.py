"""Allowed ranges of numeric settings, as data, and the one check of a value against one.

No torch here: `--help` shows the ranges, and `codesign prune` / `codesign search` (CLI and
Python API alike) refuse a value out of range before any data is read or any model trained.
The run's training settings are `TRAINING`; each method's options carry theirs in their field
metadata (pruning.methods.options). Every float bound lies far inside float32 (max 3.4e38),
the type torch trains in: a value that passes never overflows an optimizer step.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from pruning.errors import PruningError


@dataclass(frozen=True)
class Range:
    """[low, high] (either end open when said); `whole`: an integer (a count, a seed)."""
    low: float
    high: float
    whole: bool = False
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        kind = numbers.Integral if self.whole else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            return False
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):   # an int is finite
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    @property
    def interval(self) -> str:
        """'[1e-12, 10]', '(0, 1]', '[1, 1,000]'."""
        def show(x: float) -> str:
            return f"{int(x):,}" if self.whole and math.isfinite(x) else f"{x:g}"
        return (f"{'(' if self.low_open else '['}{show(self.low)}, {show(self.high)}"
                f"{')' if self.high_open or self.high == math.inf else ']'}")

    def __str__(self) -> str:
        return f"{'a whole' if self.whole else 'a finite'} number in {self.interval}"


def shown(value, limit: int = 40) -> str:
    """A value as a one-line message shows it: its repr with line breaks folded (an array's or
    a module's repr spans lines), cut to `limit` characters."""
    text = re.sub(r"\s*\n\s*", " ", repr(value))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check(name: str, value, allowed: Range, error: type[Exception] = PruningError) -> None:
    """`value` within `allowed` (None: not given, nothing to check); else one line naming
    `name` (as the user wrote it: a flag) and the range."""
    if value is not None and value not in allowed:
        raise error(f"{name} = {shown(value)}: must be {allowed}")


# A training budget beyond this is a typo, not a run that would ever end (ImageNet schedules
# are a few hundred epochs; one epoch of the built-in nets on CPU is seconds to minutes).
MAX_EPOCHS = 10_000

# Learning rates (the run's, and every method's own). Adam moves each weight by about lr per
# step and the weights of a trained net are O(0.01..1), so lr = 10 already replaces every
# weight by noise in one step; SGD on a cross-entropy gradient of norm O(1) diverges long
# before. Below 1e-12 a step is under float32's resolution of any weight (eps 1.2e-7 relative):
# training would silently change nothing.
LEARNING_RATE = Range(1e-12, 10)
# A quantized layer's stored weight width: sparsity files, --bits and the quantizer (the
# hardware's own datapath width is hwmodels.spec's weight_bits, where 32 means float). Above 16
# the grid is finer than float32, the type training holds weights in, can place a level.
WEIGHT_BITS = Range(1, 16, whole=True)
SHARE = Range(0, 1)                      # a share of a budget, both ends allowed
SHARE_BELOW_ONE = Range(0, 1, high_open=True)

TRAINING: dict[str, Range] = {
    "epochs": Range(0, MAX_EPOCHS),                    # 0: prune without retraining
    "pretrain_epochs": Range(0, MAX_EPOCHS),           # 0: the model's own weights
    "lr": LEARNING_RATE,
    "momentum": Range(0, 1, high_open=True),           # >= 1: SGD's velocity grows without bound
    "weight_decay": Range(0, 1),                       # 1: the L2 term outweighs an O(1) loss
    "batch_size": Range(1, 2 ** 31, whole=True),       # beyond the data: one full batch (harmless)
    "seed": Range(0, 2 ** 63 - 1, whole=True),         # numpy's and torch's seed range
    "limit": Range(1, 10 ** 9, whole=True),            # samples: no dataset here holds 1e9
    "test_limit": Range(1, 10 ** 9, whole=True),
    "eval_limit": Range(1, 10 ** 9, whole=True),
    "threads": Range(1, 1024, whole=True),             # torch CPU threads
}


# where a setting's flag is not its name
FLAGS = {"limit": "--train-limit"}


def check_training_numbers(**settings) -> None:
    """Training settings as they enter (flags, API), by TRAINING; None: not given. The error
    names each setting as its flag (--batch-size)."""
    for name, value in settings.items():
        check(FLAGS.get(name, f"--{name.replace('_', '-')}"), value, TRAINING[name])

