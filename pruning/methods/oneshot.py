"""One-shot compression from calibration samples, layer by layer, without training: SparseGPT
(Frantar & Alistarh 2023), Wanda (Sun et al. 2024) and one-shot magnitude, the baseline both
papers compare with. The epoch budget is not used.

Layers are compressed in the order the forward pass reads them, each from the inputs that the
already-compressed layers before it produce (the papers' sequential mode): for layer W the
calibration batches run through the model under a TorchFunctionMode that recognises W by its
storage where a product reads it (Linear, MatMul, Gemm: X is (tokens, in); 1-D and 2-D Conv:
im2col by `unfold`, one input matrix per group), accumulates the Gram matrix sum(X^T X) (or,
for Wanda, its diagonal) in float64 and stops the forward once W has been read as often as a
forward reads it. One layer's Hessian H = 2 X^T X / n is held at a time.

A one-directional LSTM's or RNN's W and R are read whole (W by the sequence, R by every
step's hidden state: R is reconstructed over all steps). A weight that no product reads whole
(transposed and 3-D convolutions; GRU's R and a bidirectional op's W and R, read in slices; a
weight scaled before its product) cannot be reconstructed from its inputs: it is pruned by
one-shot magnitude, first (it needs no inputs), and the result's history says so (`layers`:
how each weight was compressed).

- SparseGPT (Algorithm 1): Cholesky of the damped inverse Hessian, blocks of columns, OBS
  updates of the remaining weights. Unstructured: the adaptive mask of each block (the weights
  of least w^2 / [H^-1]_jj^2 at the block's start; the layer's pruned count spread over blocks
  in proportion to their size, so the layer keeps exactly its alpha); N:M: each group's mask
  chosen when the sweep reaches it (the block size is rounded up to a multiple of M); blocks
  and channels: one mask through pruning.projections.pattern_mask, then the OBS reconstruction
  with that fixed mask (blocks scored by their weights' OBS saliency w^2 / [H^-1]_jj^2 at the
  first step; a channel by the exact cost of removing its row, w H w^T, as no other row can
  make up for it). With bits, joint GPTQ-style
  quantization: each kept weight goes to the layer's grid (pruning.quantize, the grid the QDQ
  export stores) as the sweep reaches it and its error is propagated; the grid's interval is
  fitted to the weights a first, prune-only sweep leaves.
- Wanda: score |W_ij| * ||X_j||_2, compared within each output row (unstructured; `layer`
  compares the whole layer), N:M groups, blocks and channels through pattern_mask on the
  scores; no weight update.
- one-shot magnitude: pattern_mask of |W|; no calibration.
Wanda and magnitude round kept weights to the grid when bits are given.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, ClassVar, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from pruning.data import Dataset
from pruning.device import module_device, to_device
from pruning.errors import PruningError
from pruning.methods.options import OneShotOptions, SparseGptOptions, WandaOptions
from pruning.patterns import Pattern
# the weight as the projections see it: (out, reduction) rows, a view where one exists
from pruning.projections import _from_rows as from_rows, _rows as as_rows, keep_count, pattern_mask, topk_mask
from pruning.protocol import CompressionResult, Targets, prunable_weights, weight_layouts
from pruning.quantize import fit_interval, project_to_grid
from pruning.support import ResolvedTargets, build_result, resolve
from pruning.train import TrainContext, as_batch, evaluate

CHUNK = 16                  # calibration samples per forward (a static-batch graph: its batch)
GRAM_ELEMENTS = 2 ** 22     # elements of X turned to float64 at a time
DAMP_TRIES = 6              # a Hessian not positive definite: damping x10 each try
_MATMULS = ("matmul", "__matmul__", "__rmatmul__", "mm", "addmm")
_PRODUCTS = ("conv", "linear", "matmul", "__matmul__", "__rmatmul__", "mm", "addmm", "bmm", "baddbmm",
             "einsum", "tensordot", "bilinear")


# ---- capturing a layer's inputs -----------------------------------------------------------

class _Stop(BaseException):
    """Ends a calibration forward once the layer's inputs are taken (a BaseException: the
    bridge turns an Exception raised inside an op into its own error)."""


class _Unsupported(Exception):
    """A product reads the weight in a way its rows x reduction matrix does not describe."""


@dataclass(frozen=True)
class _Read:
    """A product's read of a weight: `matrix()` gives its input matrices X (groups, tokens,
    reduction); `source` is the activation it reads and `how` how X is made of it (two weights
    read from the same source the same way have the same inputs)."""
    matrix: Callable[[], torch.Tensor]
    source: torch.Tensor
    how: tuple


def _shares(t, weight: torch.Tensor) -> bool:
    return isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() == weight.untyped_storage().data_ptr()


def _same_view(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (_shares(a, b) and a.shape == b.shape and a.stride() == b.stride()
            and a.storage_offset() == b.storage_offset())


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _conv_input(args, kwargs, weight: torch.Tensor, rows: torch.Tensor):
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    bound = {**dict(zip(names, args)), **kwargs}
    x, w = bound["input"], bound["weight"]
    if not _same_view(w, weight):
        raise _Unsupported("a convolution reads it reshaped or sliced")
    nsp = w.dim() - 2
    stride, dilation = _tuple(bound.get("stride", 1), nsp), _tuple(bound.get("dilation", 1), nsp)
    padding, groups = bound.get("padding", 0), int(bound.get("groups", 1))
    kernel = tuple(w.shape[2:])
    if x.dim() == nsp + 1:                                   # an unbatched input
        x = x.unsqueeze(0)
    if isinstance(padding, str):
        if padding == "same":
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            x = F.pad(x, [p for t in reversed(total) for p in (t // 2, t - t // 2)])
        padding = 0
    padding = _tuple(padding, nsp)
    if nsp == 1:                                             # as a 2-D convolution of height 1
        x, kernel = x.unsqueeze(-2), (1,) + kernel
        stride, dilation, padding = (1,) + stride, (1,) + dilation, (0,) + padding

    def matrix() -> torch.Tensor:
        cols = F.unfold(x, kernel, dilation, padding, stride)          # (N, C k, L), channel-major
        n, d = cols.shape[0], cols.shape[1] // groups
        return cols.view(n, groups, d, -1).permute(1, 0, 3, 2).reshape(groups, -1, d)
    if w.shape[0] % groups or rows.shape[1] * groups != x.shape[1] * int(np.prod(kernel)):
        raise _Unsupported("its groups do not match its input")
    return _Read(matrix, bound["input"], ("conv", kernel, stride, padding, dilation, groups))


def _product_input(func, args, kwargs, weight: torch.Tensor, rows: torch.Tensor) -> _Read | None:
    """For a call that reads `weight` as a product: its input matrices X, (groups, tokens,
    reduction), such that each group's rows of `rows` times X^T is the product; None when the
    call is no product reading it; _Unsupported otherwise."""
    kind = getattr(func, "__name__", "")
    tensors = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    if not kind.startswith(_PRODUCTS) or not any(_shares(t, weight) for t in tensors):
        return None
    if kind in ("conv1d", "conv2d"):
        return _conv_input(args, kwargs, weight, rows)
    if kind == "linear":
        x, w = args[0], args[1] if len(args) > 1 else kwargs["weight"]
        if _same_view(w, rows) and not _shares(x, weight):
            return _Read(lambda: x.reshape(1, -1, x.shape[-1]), x, ("rows",))
    elif kind in _MATMULS:
        a, b = (args[1], args[2]) if kind == "addmm" else (args[0], args[1])
        if kind == "__rmatmul__":
            a, b = b, a
        if _shares(b, weight) and not _shares(a, weight) and b.dim() == 2 and _same_view(b.t(), rows):
            return _Read(lambda: a.reshape(1, -1, a.shape[-1]), a, ("rows",))          # X @ W^T
        if _shares(a, weight) and not _shares(b, weight) and a.dim() == 2 and _same_view(a, rows):
            x = b.unsqueeze(-1) if b.dim() == 1 else b                         # W @ X
            return _Read(lambda: x.transpose(-1, -2).reshape(1, -1, x.shape[-2]), b, ("columns",))
    raise _Unsupported(f"{kind} reads it sliced, reshaped or batched")


class _Survey(TorchFunctionMode):
    """One forward: which weights products read, in what order, how often, and which of them
    a product reads in a way that is not a whole matrix."""

    def __init__(self, weights: Mapping[str, torch.Tensor], rows: Mapping[str, torch.Tensor]):
        super().__init__()
        self.weights, self.rows = weights, rows
        self.by_storage: dict[int, list[str]] = {}
        for n, w in weights.items():
            self.by_storage.setdefault(w.untyped_storage().data_ptr(), []).append(n)
        self.reads: dict[str, list] = {}                 # weight -> (source, how) of each read
        self.unsupported: dict[str, str] = {}
        self.held: list[torch.Tensor] = []               # sources stay alive: their ids stay unique

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        seen = dict.fromkeys(n for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)
                             for n in self.by_storage.get(t.untyped_storage().data_ptr(), ()))
        for name in seen:
            try:
                found = _product_input(func, args, kwargs, self.weights[name], self.rows[name])
            except _Unsupported as exc:
                self.unsupported.setdefault(name, str(exc))
                found = None
            if found is not None:
                self.reads.setdefault(name, []).append((id(found.source), found.how))
                self.held.append(found.source)
        return func(*args, **kwargs)


class _Capture(TorchFunctionMode):
    """Accumulates sum(X^T X) per group (or its diagonal only) of one weight's inputs; stops
    the forward after `reads` reads."""

    def __init__(self, weight: torch.Tensor, rows: torch.Tensor, reads: int, gram: bool):
        super().__init__()
        self.weight, self.rows, self.stop_after, self.want_gram = weight, rows, reads, gram
        self.reads, self.count = 0, 0
        self.gram: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        found = _product_input(func, args, kwargs, self.weight, self.rows)
        if found is not None:
            self._add(found.matrix().detach())
            self.reads += 1
            if self.reads >= self.stop_after:
                raise _Stop
        return func(*args, **kwargs)

    def _add(self, x: torch.Tensor) -> None:
        groups, tokens, d = x.shape
        if self.squares is None:
            self.squares = torch.zeros(groups, d, dtype=torch.float64, device=x.device)
            if self.want_gram:
                self.gram = torch.zeros(groups, d, d, dtype=torch.float64, device=x.device)
        for piece in x.split(max(1, GRAM_ELEMENTS // max(groups * d, 1)), dim=1):
            piece = piece.to(torch.float64)
            self.squares += (piece * piece).sum(1)
            if self.want_gram:
                self.gram += piece.transpose(1, 2) @ piece
        self.count += tokens


@dataclass
class LayerInputs:
    """A layer's calibration inputs, per group of its rows: the Hessian H = 2 X^T X / n (None
    for Wanda) and the squared norm of each input column, ||X_j||^2."""
    hessian: torch.Tensor | None       # (groups, d, d)
    squares: torch.Tensor              # (groups, d)
    tokens: int


def calibration_batches(model: nn.Module, data: Dataset, count: int, seed: int) -> tuple[list, int]:
    """`count` training samples (seeded, no labels used; all of them when there are fewer) as
    batches on the model's device, and how many; a graph of static batch b takes batches of b
    (the count rounded down to a multiple)."""
    n = len(data.train_x)
    static = getattr(model, "static_batch", None)
    chunk = static or CHUNK
    k = min(count, n)
    if static:
        k = k // static * static
    if k == 0:
        raise PruningError(f"one-shot calibration needs at least {chunk} training samples; the data "
                           f"{data.name!r} has {n}")
    picked = np.sort(np.random.default_rng(seed + 11).choice(n, k, replace=False))
    device = module_device(model)
    return [to_device(as_batch(data.train_x[picked[i:i + chunk]]), device) for i in range(0, k, chunk)], k


def _forward(model: nn.Module, batch, mode: TorchFunctionMode) -> None:
    try:
        with mode:
            model(batch)
    except _Stop:
        pass


def survey(model: nn.Module, names, layouts: Mapping[str, int], batch) -> tuple[list[list[str]], dict, dict]:
    """For `names`: the weights whose inputs can be used, in groups that read the same inputs
    (attention's q, k and v; an MLP's gate and up) in the order products read them; reads per
    forward; {weight: why its inputs cannot be used}."""
    weights = prunable_weights(model)
    watched = {n: weights[n] for n in names}
    probe = _Survey(watched, {n: as_rows(w, layouts[n]) for n, w in watched.items()})
    _forward(model, batch, probe)
    groups: dict[tuple, list[str]] = {}
    for name, reads in probe.reads.items():
        if name not in probe.unsupported:
            groups.setdefault(tuple(reads), []).append(name)
    why = dict(probe.unsupported)
    for n in names:
        if n not in probe.reads and n not in why:
            why[n] = "no product reads it"
    return list(groups.values()), {n: len(r) for n, r in probe.reads.items()}, why


def layer_inputs(model: nn.Module, weight: torch.Tensor, layout: int, batches: list, reads: int,
                 hessian: bool) -> LayerInputs:
    """The calibration inputs of `weight` as the model is now (the layers before it already
    compressed)."""
    capture = _Capture(weight, as_rows(weight, layout), reads, hessian)
    for batch in batches:
        _forward(model, batch, capture)
    if capture.count == 0:
        raise PruningError("a layer's inputs were not seen during calibration")
    h = None if capture.gram is None else capture.gram * (2.0 / capture.count)
    return LayerInputs(h, capture.squares, capture.count)


# ---- the algorithms on one weight's rows ---------------------------------------------------

def row_balanced_mask(scores: torch.Tensor, alpha: float) -> torch.Tensor:
    """Keep the largest scores of each row (Wanda's per-output comparison), the layer's
    keep_count spread over rows so that the layer keeps exactly its alpha."""
    out, d = scores.shape
    total = keep_count(out * d, alpha)
    bounds = torch.tensor([(2 * total * r + out) // (2 * out) for r in range(out + 1)], device=scores.device)
    per_row = (bounds[1:] - bounds[:-1])[:, None]
    order = torch.sort(scores.double(), dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(d, device=scores.device).expand(out, d).contiguous())
    return ranks < per_row


def wanda_scores(rows: torch.Tensor, squares: torch.Tensor) -> torch.Tensor:
    """|W_ij| * ||X_j||_2, each row with its group's input norms."""
    norms = squares.sqrt().repeat_interleave(rows.shape[0] // squares.shape[0], dim=0)
    return rows.detach().abs().double() * norms


def inverse_hessian_factor(h: torch.Tensor, percdamp: float) -> torch.Tensor:
    """The upper Cholesky factor of (H + damp I)^-1, damp = percdamp * mean(diag H); a matrix
    that is still not positive definite is damped ten times more, a few times."""
    eye = torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
    damp = percdamp * float(h.diagonal().mean())
    for _ in range(DAMP_TRIES):
        chol, info = torch.linalg.cholesky_ex(h + damp * eye)
        if int(info) == 0:
            inverse = torch.cholesky_inverse(chol)
            upper, info = torch.linalg.cholesky_ex(inverse, upper=True)
            if int(info) == 0:
                return upper
        damp = max(damp * 10, 1e-8)
    raise PruningError("SparseGPT: a layer's Hessian stays singular after damping; raise "
                       "--sparsegpt-percdamp or give more calibration samples")


@dataclass(frozen=True)
class MaskRule:
    """How SparseGPT chooses what to prune: `prune_counts` per column block (unstructured,
    adaptive), `nm` (N:M groups as the sweep reaches them), `fixed` (True = pruned), or none."""
    prune_counts: list[int] | None = None
    nm: tuple[int, int] | None = None
    fixed: torch.Tensor | None = None


def spread(total: int, sizes: list[int]) -> list[int]:
    """`total` split over parts in proportion to their `sizes` (round half up of the running
    total, so the parts add up to exactly `total`)."""
    whole, out, before = sum(sizes), [], 0
    for size in sizes:
        out.append((2 * total * (before + size) + whole) // (2 * whole) - (2 * total * before + whole) // (2 * whole))
        before += size
    return out


def sparsegpt(w: torch.Tensor, factor: torch.Tensor, rule: MaskRule, blocksize: int,
              grid: tuple[float, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """SparseGPT's sweep (Algorithm 1) over rows `w` (out, d) with `factor`, the upper Cholesky
    factor of the damped inverse Hessian; `grid` (interval, bits): quantize each kept weight as
    it is reached (GPTQ). Returns the new rows and the kept mask."""
    w = w.double().clone()
    d = w.shape[1]
    if rule.nm is not None:
        blocksize = -(-blocksize // rule.nm[1]) * rule.nm[1]
    pruned = torch.zeros_like(w, dtype=torch.bool)
    for b, i1 in enumerate(range(0, d, blocksize)):
        i2 = min(i1 + blocksize, d)
        w1, u1 = w[:, i1:i2].clone(), factor[i1:i2, i1:i2]
        diag = u1.diagonal()
        q1, err1 = torch.zeros_like(w1), torch.zeros_like(w1)
        if rule.fixed is not None:
            m1 = rule.fixed[:, i1:i2].clone()
        elif rule.prune_counts is not None:
            m1 = topk_mask(-(w1 ** 2 / diag[None, :] ** 2), rule.prune_counts[b])   # least saliency
        else:
            m1 = torch.zeros_like(w1, dtype=torch.bool)
        for i in range(i2 - i1):
            if rule.nm is not None and (i1 + i) % rule.nm[1] == 0:
                n, m = rule.nm
                g = min(m, d - i1 - i)
                drop = g - min(n, g)
                if drop:
                    saliency = w1[:, i:i + g] ** 2 / diag[None, i:i + g] ** 2
                    order = torch.sort(saliency, dim=1, stable=True).indices[:, :drop]
                    m1[:, i:i + g].scatter_(1, order, True)
            col = w1[:, i]
            q = torch.where(m1[:, i], torch.zeros_like(col), col)
            if grid is not None:
                q = project_to_grid(q, grid[0], grid[1], ~m1[:, i])
            q1[:, i] = q
            err = (col - q) / diag[i]
            w1[:, i:] -= err[:, None] * u1[i, i:][None, :]
            err1[:, i] = err
        w[:, i1:i2] = q1
        pruned[:, i1:i2] = m1
        w[:, i2:] -= err1 @ factor[i1:i2, i2:]
    return w, ~pruned


# ---- one layer, per method ----------------------------------------------------------------

def _round_to_grid(weight: torch.Tensor, kept: torch.Tensor | None, bits: int) -> float:
    """Round-to-nearest onto the layer's grid (the interval fitted to its kept weights)."""
    interval = fit_interval(weight, bits, kept)
    weight.copy_(project_to_grid(weight.detach(), interval, bits, kept))
    return interval


def _sparsegpt_layer(weight: torch.Tensor, layout: int, alpha: float | None, pattern: Pattern,
                     inputs: LayerInputs, bits: int | None, options: SparseGptOptions
                     ) -> tuple[torch.Tensor | None, float | None]:
    rows = as_rows(weight.detach(), layout).double().clone()
    out, d = rows.shape
    groups = inputs.hessian.shape[0]
    per = out // groups
    factors, cost = [], []
    for g in range(groups):
        h = inputs.hessian[g].clone()
        dead = h.diagonal() == 0                  # inputs that are always 0: their weights go (as the paper's code)
        h[dead, dead] = 1.0
        part = rows[g * per:(g + 1) * per]
        part[:, dead] = 0.0
        factors.append(inverse_hessian_factor(h, options.percdamp))
        cost.append(((part @ h) * part).sum(1))   # removing row i costs w_i H w_i^T / 2: no other row can help
    if alpha is None:
        rules = [MaskRule()] * groups
    elif pattern.kind == "nm":
        rules = [MaskRule(nm=(pattern.n, pattern.m))] * groups
    elif pattern.kind == "unstructured":
        blocks = [min(options.blocksize, d - i) for i in range(0, d, options.blocksize)]
        counts = spread(out * d - keep_count(out * d, alpha), [per * b for _ in range(groups) for b in blocks])
        rules = [MaskRule(prune_counts=counts[g * len(blocks):(g + 1) * len(blocks)]) for g in range(groups)]
    else:       # one fixed mask: blocks by their weights' OBS scores, channels by their exact cost
        if pattern.kind == "channel":             # scores whose squares sum to each row's cost
            scores = (torch.cat(cost).clamp_min(0) / d).sqrt()[:, None].expand(out, d)
        else:
            scores = rows.abs() / torch.cat([f.diagonal()[None, :].expand(per, d) for f in factors])
        kept = pattern_mask(from_rows(scores, weight, layout), alpha, pattern, layout)
        fixed = ~as_rows(kept, layout)
        rules = [MaskRule(fixed=fixed[g * per:(g + 1) * per]) for g in range(groups)]

    def sweep(grid):
        parts = [sparsegpt(rows[g * per:(g + 1) * per], factors[g], rules[g], options.blocksize, grid)
                 for g in range(groups)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    new, kept_rows = sweep(None)
    interval = None
    if bits is not None:
        interval = fit_interval(new, bits, kept_rows)
        new, kept_rows = sweep((interval, bits))
    weight.copy_(from_rows(new, weight, layout).to(weight.dtype))
    return (None if alpha is None else from_rows(kept_rows, weight, layout)), interval


def _wanda_mask(weight: torch.Tensor, layout: int, alpha: float, pattern: Pattern, inputs: LayerInputs,
                comparison: str) -> torch.Tensor:
    scores = wanda_scores(as_rows(weight.detach(), layout), inputs.squares)
    if pattern.kind != "unstructured":
        return pattern_mask(from_rows(scores, weight, layout), alpha, pattern, layout)
    kept = row_balanced_mask(scores, alpha) if comparison == "output" else topk_mask(scores, keep_count(scores.numel(), alpha))
    return from_rows(kept, weight, layout)


# ---- the backends -------------------------------------------------------------------------

class _OneShot:
    """The sequential driver every one-shot method shares; a method says what inputs it needs
    (`inputs`: "hessian", "norms" or None) and how it compresses one layer."""
    name: ClassVar[str]
    Options: ClassVar[type]
    inputs: ClassVar[str | None] = None

    def __init__(self, options=None) -> None:
        self.options = options or self.Options()

    def layer(self, weight: torch.Tensor, layout: int, alpha: float | None, pattern: Pattern,
              inputs: LayerInputs, bits: int | None) -> tuple[torch.Tensor | None, float | None]:
        raise NotImplementedError

    def _fallback(self, weight, layout, alpha, pattern, bits):
        """One-shot magnitude (the method itself, or a layer whose inputs cannot be used)."""
        kept = None if alpha is None else pattern_mask(weight, alpha, pattern, layout)
        if kept is not None:
            weight.mul_(kept.to(weight.dtype))
        return kept, (None if bits is None else _round_to_grid(weight, kept, bits))

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        weights = prunable_weights(model)
        bits = {n: int(b) for n, b in targets.bits.items()}
        unknown = sorted(set(bits) - set(weights))
        if unknown:
            raise PruningError(f"bits name unknown weights {unknown[:5]}; known: {sorted(weights)[:10]}")
        plan = resolve(model, targets, require=not bits)
        accuracy_dense = evaluate(model, ctx.data)
        layouts = weight_layouts(model)
        names = [n for n in weights if n in plan.alphas or n in bits]
        order, reads, unusable, batches, samples = [[n] for n in names], {}, {}, [], 0
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                if self.inputs is not None and names:
                    batches, samples = calibration_batches(model, ctx.data, self.options.calibration, ctx.seed)
                    groups, reads, unusable = survey(model, names, layouts, batches[0])
                    # magnitude needs no inputs: those layers first, so every reconstructed
                    # layer sees them compressed
                    order = [[n] for n in names if n in unusable] + groups
                masks, intervals, how = self._layers(model, weights, layouts, plan, bits, order, reads,
                                                     unusable, batches, ctx)
        finally:
            model.train(was_training)
        history = [{"phase": self.name, "calibration_samples": samples, "layers": how,
                    "intervals": intervals, "skipped": dict(plan.skipped)}]
        return build_result(self.name, model, masks, plan, targets, accuracy_dense, ctx, history, 0.0,
                            started, exact=True)

    def _layers(self, model, weights, layouts, plan: ResolvedTargets, bits, order, reads, unusable, batches,
                ctx: TrainContext):
        """Compress each group of `order` (weights that read the same inputs share one capture)."""
        masks, intervals, how = {}, {}, {}
        total, step = sum(len(g) for g in order), 0
        for group in order:
            inputs = None
            if self.inputs is not None and group[0] not in unusable:
                first = group[0]
                inputs = layer_inputs(model, weights[first], layouts.get(first, 0), batches, reads[first],
                                      self.inputs == "hessian")
            for name in group:
                ctx.report(self.name, step, total, name)
                step += 1
                w, layout = weights[name], layouts.get(name, 0)
                alpha, pattern = plan.alphas.get(name), plan.patterns.get(name, Pattern())
                if inputs is None:
                    kept, interval = self._fallback(w, layout, alpha, pattern, bits.get(name))
                    how[name] = "magnitude" + (f" ({unusable[name]})" if name in unusable else "")
                else:
                    kept, interval = self.layer(w, layout, alpha, pattern, inputs, bits.get(name))
                    how[name] = self.name
                if kept is not None:
                    masks[name] = kept
                if interval is not None:
                    intervals[name] = interval
        ctx.report(self.name, total, total)
        return masks, intervals, how


class OneShotMagnitudeBackend(_OneShot):
    """One-shot magnitude: each layer's pattern projection of |W|, no calibration, no training."""
    name: ClassVar[str] = "oneshot"
    Options = OneShotOptions


class WandaBackend(_OneShot):
    """Wanda (Sun et al. 2024): |W| x ||X_j|| from calibration inputs, no weight update."""
    name: ClassVar[str] = "wanda"
    Options = WandaOptions
    inputs: ClassVar[str] = "norms"

    def layer(self, weight, layout, alpha, pattern, inputs, bits):
        kept = None if alpha is None else _wanda_mask(weight, layout, alpha, pattern, inputs, self.options.comparison)
        if kept is not None:
            weight.mul_(kept.to(weight.dtype))
        return kept, (None if bits is None else _round_to_grid(weight, kept, bits))


class SparseGptBackend(_OneShot):
    """SparseGPT (Frantar & Alistarh 2023): OBS reconstruction from calibration inputs, with
    joint GPTQ-style quantization when bits are given."""
    name: ClassVar[str] = "sparsegpt"
    Options = SparseGptOptions
    inputs: ClassVar[str] = "hessian"

    def layer(self, weight, layout, alpha, pattern, inputs, bits):
        return _sparsegpt_layer(weight, layout, alpha, pattern, inputs, bits, self.options)
