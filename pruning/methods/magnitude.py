"""Iterative magnitude pruning (Han et al. 2015): prune-retrain cycles, the classic baseline.

Each cycle lowers every layer's keep fraction one step along a schedule that ends at the
target, zeroes the smallest-|w| weights of the (already masked) layer and retrains with the
mask held. Han et al. prune by a threshold of quality x std(W); we prune by exact count
(top-k) so that the result meets the per-layer targets the search asks for.

Masks are monotone (a pruned weight never comes back) and follow each layer's pattern
(pruning.support.staged_masks); scope=global ranks all layers together instead.
"""
from __future__ import annotations

import time
from typing import ClassVar, Mapping

from torch import nn

from pruning.errors import PruningError
from pruning.masks import Masks
from pruning.methods.options import MagnitudeOptions
from pruning.projections import global_masks
from pruning.protocol import CompressionResult, Targets
from pruning.pruners import LoopPruner
from pruning.support import build_result, resolve, staged_masks
from pruning.train import TrainContext, evaluate, train_epochs


def cycle_alphas(alpha_final: float, cycles: int, schedule: str = "geometric") -> list[float]:
    """Keep fractions after each of `cycles` prune-retrain cycles, ending at alpha_final.

    geometric: equal pruning *ratio* per cycle (alpha^(k/K)), the usual reading of Han et al.'s
    iterative pruning where each round removes a similar share of what is left; linear: equal
    steps in alpha."""
    if cycles < 1:
        raise PruningError(f"cycles={cycles}: need at least one prune-retrain cycle")
    ks = range(1, cycles + 1)
    if schedule == "geometric":
        return [alpha_final ** (k / cycles) for k in ks]
    if schedule == "linear":
        return [1.0 - (1.0 - alpha_final) * k / cycles for k in ks]
    raise PruningError(f"unknown cycle schedule {schedule!r}; use 'geometric' or 'linear'")


def mac_weighted_alpha(alphas: Mapping[str, float], macs: Mapping[str, int]) -> float:
    """Fraction of the dense MACs that survive when layer i keeps alpha_i of its weights."""
    total = sum(macs[n] for n in alphas)
    return sum(alphas[n] * macs[n] for n in alphas) / total if total else 1.0



class MagnitudeLoop(LoopPruner):
    """Iterative magnitude pruning in any training loop (pruning.pruners): `cycles` masks
    along the schedule, the first before training (`begin`), the next ones at even shares of
    the loop's `steps`, each held until the next. The object codesign.pruner returns and
    MagnitudeBackend.compress drives, one cycle per training phase (`advance`)."""
    name: ClassVar[str] = "magnitude"

    def __init__(self, model: nn.Module, targets: Targets, options: MagnitudeOptions,
                 steps: int | None = None) -> None:
        o = self.options = options
        plan = resolve(model, targets)
        if o.scope == "global" and plan.patterns:
            raise PruningError("magnitude pruning with --magnitude-scope global ranks weights across "
                               "layers and cannot keep per-layer patterns; use scope layer")
        super().__init__(model, plan)
        self.targeted = {n: self.weights[n] for n in plan.alphas}
        overall = (sum(a * self.targeted[n].numel() for n, a in plan.alphas.items())
                   / sum(w.numel() for w in self.targeted.values()))
        self.overall_alphas = cycle_alphas(overall, o.cycles, o.schedule)
        self.cycle = 0                            # cycles pruned so far
        # the loop steps after which cycles 2..K prune (none: the caller calls advance)
        self.starts = [round(k * steps / o.cycles) for k in range(1, o.cycles)] if steps else []

    @classmethod
    def for_loop(cls, model, targets, options, *, steps, steps_per_epoch=None, given=()) -> "MagnitudeLoop":
        return cls(model, targets, options, steps)

    def begin(self) -> None:
        self.advance()

    def advance(self) -> Masks:
        """Prune the next cycle: every layer down to its keep fraction of that cycle (scope
        global: all layers ranked together), never reviving a pruned weight."""
        o, k = self.options, self.cycle
        if o.scope == "global":
            self.masks = global_masks(self.targeted, self.overall_alphas[k], self.masks)
        else:
            per_layer = {n: cycle_alphas(a, o.cycles, o.schedule)[k] for n, a in self.plan.alphas.items()}
            self.masks = staged_masks(self.targeted, self.plan, per_layer, self.masks)
        self.hold()
        self.cycle += 1
        return self.masks

    def _update(self, t: int) -> None:
        while 1 <= self.cycle <= len(self.starts) and t >= self.starts[self.cycle - 1]:
            self.advance()

    def _finish(self) -> None:
        while self.cycle < self.options.cycles:
            self.advance()

    # -- checkpointing (a user's loop; the backend's phases checkpoint the model and masks)
    def state_dict(self) -> dict:
        return {"masks": {n: m.clone() for n, m in self.masks.items()}, "cycle": self.cycle, "step": self.steps_done}

    def load_state_dict(self, state: dict) -> None:
        self.masks = dict(state["masks"])
        self.cycle, self.steps_done = int(state["cycle"]), int(state["step"])


class MagnitudeBackend:
    """Iterative magnitude pruning (Han et al. 2015): prune-retrain cycles.

    Targets: every layer reaches its alpha exactly (top-|w| per layer); scope=global ranks all
    targeted layers together down to their total kept count instead."""
    name: ClassVar[str] = "magnitude"

    Options = MagnitudeOptions

    def __init__(self, options: MagnitudeOptions | None = None) -> None:
        self.options = options or self.Options()

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        pruner = MagnitudeLoop(model, targets, self.options)
        accuracy_dense = evaluate(model, ctx.data)
        history: list[dict] = []
        for k in range(self.options.cycles):
            masks = pruner.advance()
            history += train_epochs(model, ctx, ctx.epochs / self.options.cycles,
                                    phase=f"magnitude-cycle{k + 1}", masks=masks)
        return build_result(self.name, model, pruner.masks, pruner.plan, targets, accuracy_dense, ctx,
                            history, ctx.epochs, started, exact=self.options.scope == "layer")


Backend = MagnitudeBackend
Pruner = MagnitudeLoop
