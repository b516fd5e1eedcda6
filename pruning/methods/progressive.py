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
injected, so it is tested without training. The backend runs each stage's ADMM with the ADMM
backend's W-step (pruning.admm: its optimizer settings, this stage's rho, the parent's masks held),
so the two ADMM methods differ only in staging.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Mapping

import torch
from torch import nn

from pruning.admm_core import run_admm, sparse_projection
from pruning.errors import PruningError
from pruning.masks import apply_masks
from pruning.methods.options import PROGRESSIVE_SELECTIONS, ProgressiveOptions
from pruning.protocol import CompressionResult, Targets, prunable_weights
from pruning.support import build_result, holdout, resolve, stage_plan, staged_masks
from pruning.train import TrainContext, evaluate, quality, train_epochs

SELECTIONS = PROGRESSIVE_SELECTIONS


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
        out[name] = rho if max(1, math.floor(alpha * numels[name] + 0.5)) < before else 0.0
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


def chain(pool: tuple[float, ...], steps: tuple[float, ...]) -> tuple[float, ...]:
    """The step fractions to walk after the pool: `steps` plus a final step at 1 (the
    targets) unless the chain already ends there. Checks that the fractions increase."""
    pool, steps = tuple(pool), tuple(steps)
    if not pool:
        raise PruningError("progressive pruning needs at least one initial pool stage")
    if max(pool + steps) < 1.0:
        steps = steps + (1.0,)
    if any(not 0.0 < f <= 1.0 for f in pool + steps) or any(
            b <= a for a, b in zip(pool, pool[1:])) or any(
            b <= a for a, b in zip(steps, steps[1:])) or (steps and steps[0] <= max(pool)):
        raise PruningError(f"stage fractions must lie in (0, 1] and increase: pool {pool}, "
                           f"steps {steps} (steps start above the largest pool fraction)")
    return steps


def run_progressive(stage: StageFn, targets: Mapping[str, float], numels: Mapping[str, int],
                    pool_fractions: tuple[float, ...], step_fractions: tuple[float, ...],
                    rho: float, selection: str = "try_all", rho_final: float | None = None
                    ) -> tuple[PoolModel, ProgressiveLog]:
    """Build the pool from dense, then walk the steps (see `chain`); returns the model at the
    last step. The stage that reaches the targets uses rho_final (paper: 3e-3 at high rates)."""
    if selection not in SELECTIONS:
        raise PruningError(f"progressive selection {selection!r} unknown; use "
                           f"{' or '.join(SELECTIONS)}")
    steps = chain(pool_fractions, step_fractions)

    def run(parent: PoolModel | None, f: float) -> PoolModel:
        alphas = stage_alphas(targets, f)
        r = stage(parent, alphas, stage_rhos(None if parent is None else parent.masks, alphas,
                                             numels, rho_final if f == 1.0 and rho_final else rho))
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


def _fractions(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise PruningError(f"{flag} {text!r}: give comma-separated fractions, e.g. 0.6,0.8") from None


class ProgressiveBackend:
    """Progressive ADMM (Ye et al. 2019): staged partial prunings, a pool of partial models.

    Targets: the last stage reaches every layer's alpha exactly; a stage at fraction f of the
    way keeps alpha^f. The epoch budget is split evenly over all stage runs."""
    name: ClassVar[str] = "progressive"

    Options = ProgressiveOptions

    def __init__(self, options: ProgressiveOptions | None = None) -> None:
        self.options = options or self.Options()

    def runs(self) -> tuple[tuple[float, ...], tuple[float, ...], int]:
        """(pool fractions, step fractions, number of stage runs) for these options."""
        o = self.options
        pool = _fractions(o.pool, "--progressive-pool")
        steps = chain(pool, _fractions(o.steps, "--progressive-steps"))
        per_step = len(pool) if o.selection == "try_all" else 1
        return pool, steps, len(pool) + per_step * len(steps)

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        o = self.options
        dense = copy.deepcopy(model)                      # every pool stage starts from it
        weights = prunable_weights(dense)
        plan = resolve(dense, targets)
        alphas = plan.alphas
        numels = {n: w.numel() for n, w in weights.items()}
        accuracy_dense = evaluate(dense, ctx.data)
        train_ctx, val = holdout(ctx)
        pool, steps, n_runs = self.runs()
        per_run = ctx.epochs / n_runs
        admm_epochs, retrain_epochs = per_run * (1 - o.retrain_share), per_run * o.retrain_share
        history: list[dict] = []
        counter = iter(range(1, n_runs + 1))

        def stage(parent: PoolModel | None, stage_alphas: dict[str, float],
                  rhos: dict[str, float]) -> StageResult:
            run = next(counter)
            net = copy.deepcopy(dense)
            if parent is not None:
                net.load_state_dict(parent.state)
            w = prunable_weights(net)
            parent_masks = None if parent is None else parent.masks
            stage = stage_plan(plan, stage_alphas)
            pruned = {n: w[n] for n, r in rhos.items() if r > 0 and n in stage.alphas}  # rho_i = 0: no ADMM term
            if pruned:
                every = max(1, train_ctx.steps(admm_epochs) // max(o.admm_iterations, 1))
                # this stage's rho, only the layers pruned further, the parent's masks held
                penalty = run_admm(net, train_ctx, admm_epochs, f"progressive{run}-admm", pruned,
                                   sparse_projection(stage.alphas, stage.patterns, stage.layouts),
                                   rho=max(rhos.values()), update_steps=every,
                                   w_step_optimizer=o.w_step_optimizer, w_step_lr=o.w_step_lr,
                                   masks=parent_masks)
                history.append({"phase": f"progressive{run}-admm", "rho": max(rhos.values()),
                                "admm_iterations": penalty.iterations,
                                "residuals": penalty.residuals})
            masks = staged_masks(w, plan, stage_alphas, parent_masks)      # hard prune, monotone
            apply_masks(w, masks)
            history.extend(train_epochs(net, train_ctx, retrain_epochs, phase=f"progressive{run}-retrain",
                                        masks=masks, lr=o.retrain_lr or None))
            return StageResult({k: v.detach().clone() for k, v in net.state_dict().items()},
                               masks, quality(net, val))

        best, log = run_progressive(stage, alphas, numels, pool, steps, o.rho, o.selection,
                                    o.rho_final)
        history.extend({"phase": "progressive-stage", **{k: v for k, v in r.items()}} for r in log.runs)
        model.load_state_dict(best.state)                 # in place, like every backend
        return build_result(self.name, model, best.masks, plan, targets, accuracy_dense, ctx,
                            history, ctx.epochs, started, exact=True)


Backend = ProgressiveBackend
