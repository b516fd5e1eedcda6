"""Pruners for any training loop, in the style of torch.ao.pruning: the method's state and
schedule without a loop of their own.

    p = make_pruner("agp", model, Targets(alphas={"fc1.weight": 0.2}), steps=1000)
    for x, y in loader:                          # the user's loop: AMP, DDP, their loss, ...
        loss = loss_fn(model(x), y) + p.penalty()    # ADMM's term; zero for AGP and magnitude
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        p.step()                                 # the schedule; the masks kept in force
    masks = p.finalize()                         # bool masks by weight name; the model hard-pruned

A retraining method's pruner is its module's `Pruner` (pruning.methods.<method>), and its
Backend's `compress` drives that same object with pruning.train's loop (`penalty` as the
loop's loss_extra, `step` as its after_step), so each method has one implementation.
Supported: agp, admm, magnitude. ltp and asl learn thresholds (parameters of their own, with
their own learning rate) and choose their masks on held-out data; progressive runs a pool of
models: none of them fits one user-owned model and optimizer, so they have no pruner.
"""
from __future__ import annotations

import importlib
from typing import ClassVar, Mapping

import torch
from torch import nn

from pruning.errors import PruningError
from pruning.masks import Masks, apply_masks
from pruning.methods.options import make_options, method
from pruning.protocol import Targets, prunable_weights
from pruning.ranges import Range, check
from pruning.support import ResolvedTargets

STEPS = Range(1, 10 ** 12, whole=True)        # optimizer steps of the user's loop
NO_PRUNER = {
    "ltp": "its learned thresholds are parameters with their own learning rate, and its masks are "
           "chosen on held-out data",
    "asl": "its learned thresholds are parameters with their own learning rate and a budget "
           "correction after training",
    "progressive": "it trains a pool of models from partial prunings, not one model",
}


class LoopPruner:
    """What every pruner shares: the model's prunable weights (pruning.protocol.prunable_weights
    names), the resolved targets (`plan`), the masks (True = kept) and a step count.

    `step()` re-applies the masks (an optimizer step may have moved pruned weights: momentum,
    weight decay) and then runs the method's schedule; `finalize()` takes the masks the rest of
    the way to the targets, hard-prunes the model and returns them. A subclass implements
    `_update(t)` and `_finish()`, `begin()` where the method prunes before training, and
    `for_loop(model, targets, options, steps=, steps_per_epoch=, given=)`, its constructor for
    a user's loop (`given`: the option names the user set)."""
    name: ClassVar[str]

    def __init__(self, model: nn.Module, plan: ResolvedTargets) -> None:
        self.weights = prunable_weights(model)
        self.plan = plan
        self.masks: Masks = {}
        self.steps_done = 0
        self.finalized = False

    def begin(self) -> None:
        """What the method prunes before training starts (nothing, unless it says so)."""

    def penalty(self, model: nn.Module | None = None) -> torch.Tensor:
        """The method's term of the loss (a zero tensor for a method without one). The
        argument is ignored: the method is bound to its model (a train_epochs loss_extra)."""
        return torch.zeros((), device=next(iter(self.weights.values())).device)

    def step(self, t: int | None = None) -> None:
        """Call once after every optimizer.step(). `t`: the 1-based optimizer step (pruning.
        train's loop passes its own, which survives a resume); by default the pruner counts."""
        if self.finalized:
            raise PruningError(f"{self.name} pruner: step() after finalize(); make a new pruner to prune again")
        self.steps_done = self.steps_done + 1 if t is None else t
        self.hold()
        self._update(self.steps_done)

    def hold(self) -> None:
        """Zero the pruned weights (the masks in force)."""
        apply_masks(self.weights, self.masks)

    def finalize(self) -> Masks:
        """The masks at the targets (a loop that stopped before the schedule's end is pruned the
        rest of the way now, one-shot), with the model's pruned weights zeroed; bool tensors by
        weight name, for codesign.plan(net, hw, pruned=...). Layers left dense have none."""
        if not self.finalized:
            self._finish()
            self.hold()
            self.finalized = True
        return dict(self.masks)

    def _update(self, t: int) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError


def make_pruner(name: str, model: nn.Module, targets: Targets, *, steps: int,
                steps_per_epoch: int | None = None, options: Mapping | None = None) -> LoopPruner:
    """The pruner of method `name` for `model` in a loop of `steps` optimizer steps (its
    schedule fits them); `steps_per_epoch` converts options given in epochs; `options` are the
    method's own (pruning.methods.options), checked first."""
    chosen = make_options(name, options)
    if steps is None:
        raise PruningError(f"a pruner needs steps, the optimizer steps of your loop ({STEPS})")
    check("steps", steps, STEPS)
    if steps_per_epoch is not None:
        check("steps_per_epoch", steps_per_epoch, STEPS)
    cls = getattr(importlib.import_module(method(name).module), "Pruner", None)
    if cls is None:
        why = NO_PRUNER.get(name, f"{method(name).module} defines none")
        raise PruningError(f"method {name!r} has no pruner for your own training loop: {why}; "
                           f"use codesign.prune, or a pruner of agp, admm or magnitude")
    if not isinstance(model, nn.Module):
        raise PruningError(f"a pruner needs a torch nn.Module, not {type(model).__name__}")
    if not prunable_weights(model):
        raise PruningError(f"the model ({type(model).__name__}) has no Conv or Linear weights to prune")
    if targets.bits:
        raise PruningError("a pruner prunes; it does not quantize: leave bits out (codesign.prune quantizes)")
    pruner = cls.for_loop(model, targets, chosen, steps=steps, steps_per_epoch=steps_per_epoch,
                          given=set(options or {}))
    pruner.begin()
    return pruner
