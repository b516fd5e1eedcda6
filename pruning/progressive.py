"""Progressive weight pruning with ADMM (Ye et al. 2019, paper 000).

A high pruning ratio is reached through several partial prunings, each a (masked) ADMM stage
followed by hard pruning and masked retraining. A pool of partially pruned models is kept
(paper Fig. 2: 15x, 18x, 21x -> 24x -> 27x -> 30x with three models alive); each new target is
reached from a pool model, which is then replaced by the result. Layers that are not pruned
further in a stage get rho_i = 0 (§3.1): no ADMM pull, mask kept.

Stage targets are placed on the log-ratio path from dense to the final per-layer alphas:
a stage at fraction f keeps alpha_i^f of layer i (f = 1 is the target; the paper's 15x on the way
to 30x is f = log 15 / log 30 = 0.80). `fraction_for_rate` converts.

The pool rule is ambiguous in the paper ("check which gives the highest accuracy"):
  selection="try_all"     run the stage from every pool model, keep the best result and evict
                          its parent (the literal reading; pool-size times the cost per step);
  selection="best_parent" run it only from the pool model with the highest accuracy.
A pool of one is a plain linear chain (the cheap mode).

The driver here is bookkeeping only; the stage itself (ADMM + hard prune + masked retraining) is
injected, so it is tested without training and run by the backend with pruning.admm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from pruning.errors import PruningError
from pruning.magnitude import keep_count

SELECTIONS = ("try_all", "best_parent")


@dataclass
class PoolModel:
    """A partially pruned model: where it sits on the path, its weights, masks and accuracy."""
    fraction: float
    alphas: dict[str, float]
    state: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    accuracy: float
    lineage: tuple[float, ...] = ()     # fractions of its ancestors, dense first

    @property
    def path(self) -> tuple[float, ...]:
        return self.lineage + (self.fraction,)


@dataclass(frozen=True)
class StageResult:
    """What one stage run returns: trained weights, masks and validation accuracy."""
    state: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    accuracy: float


# (parent or None for the dense model, stage alphas, per-layer rho) -> trained, pruned child
StageFn = Callable[[PoolModel | None, dict[str, float], dict[str, float]], StageResult]


def fraction_for_rate(rate: float, final_rate: float) -> float:
    """Position of an overall ratio `rate` on the log path to `final_rate` (both > 1)."""
    if not 1.0 < rate <= final_rate:
        raise PruningError(f"stage ratio {rate} must lie in (1, {final_rate}]")
    return math.log(rate) / math.log(final_rate)


def stage_alphas(targets: Mapping[str, float], fraction: float) -> dict[str, float]:
    """Per-layer keep fractions of a stage at `fraction` of the way (log scale) to the targets."""
    if not 0.0 < fraction <= 1.0:
        raise PruningError(f"stage fraction {fraction} must lie in (0, 1]")
    return {name: alpha ** fraction for name, alpha in targets.items()}


def stage_rhos(parent_masks: Mapping[str, torch.Tensor] | None, child_alphas: Mapping[str, float],
               numels: Mapping[str, int], rho: float) -> dict[str, float]:
    """rho for layers whose kept count goes down in this stage, 0 for the others (§3.1)."""
    out = {}
    for name, alpha in child_alphas.items():
        before = numels[name] if parent_masks is None else int(parent_masks[name].sum())
        out[name] = rho if keep_count(numels[name], alpha) < before else 0.0
    return out


@dataclass
class ProgressiveLog:
    """What happened, for the history and the tests: one record per stage run."""
    runs: list[dict] = field(default_factory=list)

    def add(self, child: PoolModel, parent: PoolModel | None, kept: bool, evicted: float | None
            ) -> None:
        self.runs.append({"fraction": child.fraction, "parent": None if parent is None
                          else parent.fraction, "accuracy": child.accuracy, "kept": kept,
                          "evicted": evicted, "path": child.path})


def _check_fractions(pool: tuple[float, ...], steps: tuple[float, ...]) -> None:
    chain = list(pool) + list(steps)
    if not pool:
        raise PruningError("progressive pruning needs at least one initial pool stage")
    if any(not 0.0 < f <= 1.0 for f in chain) or any(
            b <= a for a, b in zip(pool, pool[1:])) or any(
            b <= a for a, b in zip(steps, steps[1:])) or (steps and steps[0] <= max(pool)):
        raise PruningError(f"stage fractions must lie in (0, 1] and increase: pool {pool}, "
                           f"steps {steps} (steps start above the largest pool fraction)")


def run_progressive(stage: StageFn, targets: Mapping[str, float], numels: Mapping[str, int],
                    pool_fractions: tuple[float, ...], step_fractions: tuple[float, ...],
                    rho: float, selection: str = "try_all") -> tuple[PoolModel, ProgressiveLog]:
    """Build the pool from dense, then walk the steps; returns the model at the last step.
    A final step at fraction 1 (the targets) is appended when the chain does not end there."""
    if selection not in SELECTIONS:
        raise PruningError(f"progressive selection {selection!r} unknown; use "
                           f"{' or '.join(SELECTIONS)}")
    pool_fractions, steps = tuple(pool_fractions), tuple(step_fractions)
    if max(pool_fractions + steps, default=0.0) < 1.0:
        steps = steps + (1.0,)
    _check_fractions(pool_fractions, steps)

    def run(parent: PoolModel | None, f: float) -> PoolModel:
        alphas = stage_alphas(targets, f)
        r = stage(parent, alphas, stage_rhos(None if parent is None else parent.masks,
                                             alphas, numels, rho))
        return PoolModel(f, alphas, r.state, r.masks, r.accuracy,
                         () if parent is None else parent.path)

    log = ProgressiveLog()
    pool: list[PoolModel] = []
    for f in pool_fractions:                    # each initial pool model comes straight from dense
        pool.append(run(None, f))
        log.add(pool[-1], None, True, None)
    best = pool[-1]                             # the sparsest pool model (pool-only chains)
    for f in steps:
        parents = pool if selection == "try_all" else [max(pool, key=lambda p: p.accuracy)]
        children = [(run(p, f), p) for p in parents]
        best, parent = max(children, key=lambda cp: cp[0].accuracy)
        for child, p in children:
            log.add(child, p, child is best, parent.fraction if child is best else None)
        pool.remove(parent)
        pool.append(best)
    return best, log
