"""Automated gradual pruning, AGP (Zhu & Gupta 2017, paper 004).

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3,   t in {t0, t0 + dt, ..., t0 + n dt}

Masks change only at t0 + k*dt (training recovers in between) and are frozen after t0 + n*dt.
Scores are the *masked* magnitudes, so a pruned weight never returns (the paper says "sort the
weights"; TF's library re-sorts raw weights; we document the monotone choice). Biases are never
pruned; exclusions (first layer, depthwise convs, names) drop layers from the targets.

Modes: "layerwise" (every layer follows the schedule towards its own s_f = 1 - alpha),
"global" (one s_t over all layers ranked together), "layerwise_constant" (the interval is split
and one layer at a time is raised to its target, the variant the paper used for NMT).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Mapping

import torch
from torch import nn

from pruning.errors import PruningError
from pruning.methods.options import AGP_MODES, AgpOptions
from pruning.projections import global_masks
from pruning.protocol import CompressionResult, Targets
from pruning.pruners import LoopPruner
from pruning.support import ResolvedTargets, build_result, exclude, resolve, staged_masks
from pruning.train import TrainContext, evaluate, train_epochs


@dataclass(frozen=True)
class CubicSchedule:
    """When and how far to prune: start step t0, n mask updates dt steps apart."""
    t0: int = 0
    n: int = 10
    dt: int = 100
    exponent: float = 3.0       # 3 in the paper; 1 gives a linear ramp

    def __post_init__(self) -> None:
        if self.t0 < 0 or self.n < 1 or self.dt < 1:
            raise PruningError(f"AGP schedule t0={self.t0}, n={self.n}, dt={self.dt}: need "
                               "t0 >= 0, n >= 1 and dt >= 1 (steps)")

    @property
    def end_step(self) -> int:
        """The last mask update; masks are frozen after it."""
        return self.t0 + self.n * self.dt

    def is_update_step(self, t: int) -> bool:
        return self.t0 <= t <= self.end_step and (t - self.t0) % self.dt == 0

    def progress(self, t: int) -> float:
        """Fraction of the way from s_i to s_f reached at step t (held between updates)."""
        if t < self.t0:
            return 0.0
        k = min((t - self.t0) // self.dt, self.n)
        return 1.0 - (1.0 - k / self.n) ** self.exponent

    def sparsity(self, t: int, s_final: float, s_initial: float = 0.0) -> float:
        """s_t of eq. (1); before t0 nothing is pruned yet (s = 0)."""
        if t < self.t0:
            return 0.0
        return s_initial + (s_final - s_initial) * self.progress(t)


def layer_windows(schedule: CubicSchedule, names: list[str]) -> dict[str, CubicSchedule]:
    """layerwise_constant: split the pruning interval into one window per layer, in order, each
    with an equal share of the updates (at least one) and ending within the interval: with
    fewer updates than layers, several layers finish at the same step rather than after
    training has ended (they would never reach their targets)."""
    layers = max(len(names), 1)
    n_each = max(1, schedule.n // layers)
    if schedule.n >= layers:
        return {name: CubicSchedule(schedule.t0 + i * n_each * schedule.dt, n_each, schedule.dt,
                                    schedule.exponent) for i, name in enumerate(names)}
    span = schedule.n * schedule.dt
    out = {}
    for i, name in enumerate(names):
        end = schedule.t0 + (i + 1) * span // layers           # a step of the interval, the last one's its end
        out[name] = CubicSchedule(max(end - 1, 0), 1, 1, schedule.exponent)
    return out


class AGPPruner:
    """The mask bookkeeping of AGP, independent of any training loop: call `step(t, weights)`
    after each optimizer step; it returns new masks at update steps and None otherwise."""

    MODES = AGP_MODES

    def __init__(self, plan: ResolvedTargets, schedule: CubicSchedule,
                 mode: str = "layerwise", s_initial: float = 0.0,
                 global_alpha: float | None = None) -> None:
        if mode not in self.MODES:
            raise PruningError(f"AGP mode {mode!r} unknown; use one of {', '.join(self.MODES)}")
        if mode == "global" and global_alpha is None:
            raise PruningError("AGP mode 'global' needs a global keep fraction (global_alpha)")
        if mode == "global" and plan.patterns:
            raise PruningError("AGP mode 'global' ranks weights across layers and cannot keep "
                               "per-layer patterns; use mode layerwise")
        self.plan = plan
        self.alphas = dict(plan.alphas)
        self.schedule = schedule
        self.mode = mode
        self.s_initial = s_initial
        self.global_alpha = global_alpha
        self.windows = (layer_windows(schedule, list(self.alphas))
                        if mode == "layerwise_constant" else {})
        self.masks: dict[str, torch.Tensor] = {}

    @property
    def end_step(self) -> int:
        if self.windows:
            return max(w.end_step for w in self.windows.values())
        return self.schedule.end_step

    def _layer_schedule(self, name: str) -> CubicSchedule:
        return self.windows.get(name, self.schedule)

    def target_alphas(self, t: int) -> dict[str, float]:
        """Keep fraction of each layer at step t (layer-wise modes)."""
        return {name: 1.0 - self._layer_schedule(name).sparsity(t, 1.0 - a, self.s_initial)
                for name, a in self.alphas.items()}

    def is_update_step(self, t: int) -> bool:
        if self.windows:
            return any(w.is_update_step(t) for w in self.windows.values())
        return self.schedule.is_update_step(t)

    def step(self, t: int, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        if not self.is_update_step(t):
            return None
        if self.mode == "global":
            s = self.schedule.sparsity(t, 1.0 - self.global_alpha, self.s_initial)
            new = global_masks({n: weights[n] for n in self.alphas}, 1.0 - s, self.masks)
        else:
            new = staged_masks(weights, self.plan, self.target_alphas(t), self.masks)
        if self.masks:          # update in place: a training loop may hold these tensors
            for name, mask in new.items():
                self.masks[name].copy_(mask)
        else:
            self.masks = new
        return self.masks

    # -- checkpointing: the masks are the pruner's whole state (updated in place, see backend)
    def state_dict(self) -> dict:
        return {"masks": {n: m.clone() for n, m in self.masks.items()}}

    def load_state_dict(self, state: dict) -> None:
        for name, mask in state["masks"].items():
            self.masks[name].copy_(mask)


def schedule_for(options: AgpOptions, total_steps: int) -> CubicSchedule:
    """Place the n updates in [t0, t0 + window] of a loop of `total_steps` 1-based optimizer
    steps (start and window are shares of it)."""
    o = options
    t0 = max(1, round(o.start * total_steps))
    window = max(0, min(round(o.window * total_steps), total_steps - t0))
    dt = max(1, window // o.updates)
    return CubicSchedule(t0=t0, n=max(1, min(o.updates, window // dt)), dt=dt, exponent=o.exponent)


class AgpLoop(LoopPruner):
    """AGP in any training loop (pruning.pruners): the cubic schedule over `steps` optimizer
    steps, masks updated at its update steps and held in between. The object codesign.pruner
    returns and AGPBackend.compress drives."""
    name: ClassVar[str] = "agp"

    def __init__(self, model: nn.Module, targets: Targets, options: AgpOptions, steps: int) -> None:
        o = options
        plan = resolve(model, targets)
        plan = plan.only(exclude(model, plan.alphas, first=o.exclude_first, depthwise=o.exclude_depthwise,
                                 names=[n.strip() for n in o.exclude.split(",") if n.strip()]))
        if not plan.alphas:
            raise PruningError("AGP: every targeted layer is excluded; relax --agp-exclude-* options")
        super().__init__(model, plan)
        w, alphas = self.weights, plan.alphas
        global_alpha = None
        if o.mode == "global":
            global_alpha = sum(alphas[n] * w[n].numel() for n in alphas) / sum(w[n].numel() for n in alphas)
        self.schedule = AGPPruner(plan, schedule_for(o, steps), o.mode, o.s_initial, global_alpha)
        self.masks = self.schedule.masks = {n: torch.ones_like(w[n], dtype=torch.bool) for n in alphas}

    @classmethod
    def for_loop(cls, model, targets, options, *, steps, steps_per_epoch=None, given=()) -> "AgpLoop":
        return cls(model, targets, options, steps)

    def _update(self, t: int) -> None:
        if self.schedule.step(t, self.weights) is not None:
            self.hold()

    def _finish(self) -> None:
        if self.steps_done < self.schedule.end_step:        # stopped early: the rest one-shot
            self.schedule.step(self.schedule.end_step, self.weights)

    # -- checkpointing: the masks (updated in place) and the step count
    def state_dict(self) -> dict:
        return {**self.schedule.state_dict(), "step": self.steps_done}

    def load_state_dict(self, state: dict) -> None:
        self.schedule.load_state_dict(state)
        self.steps_done = int(state.get("step", self.steps_done))


class AGPBackend:
    """Automated gradual pruning (Zhu & Gupta 2017): cubic sparsity schedule, magnitude masks.

    Targets: s_f = 1 - alpha per layer, reached exactly at t0 + n dt (mode global: one
    s_f = 1 - total kept / total over the targeted layers). Excluded layers stay dense."""
    name: ClassVar[str] = "agp"

    Options = AgpOptions

    def __init__(self, options: AgpOptions | None = None) -> None:
        self.options = options or self.Options()

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        total = ctx.steps(ctx.epochs)
        pruner = AgpLoop(model, targets, self.options, total)
        accuracy_dense = evaluate(model, ctx.data)
        history: list[dict] = []
        if total == 0:                          # no training budget: one-shot to the targets
            pruner.finalize()
        else:
            history = train_epochs(model, ctx, ctx.epochs, phase="agp", masks=pruner.masks,
                                   after_step=pruner.step, state=pruner)
        return build_result(self.name, model, pruner.masks, pruner.plan, targets, accuracy_dense, ctx,
                            history, ctx.epochs, started, exact=self.options.mode != "global")


Backend = AGPBackend
Pruner = AgpLoop
