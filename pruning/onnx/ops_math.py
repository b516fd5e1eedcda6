"""Arithmetic ops of the bridge: elementwise math (on float and on the int64 tensors of shape
arithmetic), comparisons and logic, reductions, MatMul and Einsum."""
from __future__ import annotations

import torch

from pruning.onnx.ops_base import axes_of, binary, ints, text, unary, variadic


def _div(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Integer Div truncates toward zero in ONNX (shape arithmetic divides int64 dims)."""
    if x.is_floating_point() or y.is_floating_point():
        return torch.div(x, y)
    return torch.div(x, y, rounding_mode="trunc")


def _mod(m, node, a, xs):
    """fmod=1: the sign of the dividend (C fmod); fmod=0 (integers only): of the divisor."""
    return (torch.fmod if a.get("fmod", 0) else torch.remainder)(xs[0], xs[1])


def _mean(m, node, a, xs):
    return variadic(torch.add)(m, node, a, xs) / len(xs)


# ---- reductions -----------------------------------------------------------------------------

def _prod(x: torch.Tensor, dims: list[int], keep: bool) -> torch.Tensor:
    for d in sorted(dims, reverse=True):
        x = x.prod(d, keepdim=keep)
    return x


REDUCERS = {
    "ReduceMean": lambda x, d, k: x.mean(d, keepdim=k),
    "ReduceSum": lambda x, d, k: x.sum(d, keepdim=k),
    "ReduceMax": lambda x, d, k: x.amax(d, keepdim=k),
    "ReduceMin": lambda x, d, k: x.amin(d, keepdim=k),
    "ReduceProd": _prod,
    "ReduceL1": lambda x, d, k: x.abs().sum(d, keepdim=k),
    "ReduceL2": lambda x, d, k: (x * x).sum(d, keepdim=k).sqrt(),
    "ReduceSumSquare": lambda x, d, k: (x * x).sum(d, keepdim=k),
    "ReduceLogSumExp": lambda x, d, k: torch.logsumexp(x, d, keepdim=k),
}


def _reduce(fn):
    """Reduce* over `axes` (an attribute in older opsets, an input in newer ones); no axes means
    all of them, or nothing with noop_with_empty_axes."""
    def op(m, node, a, xs):
        x, axes = xs[0], axes_of(a, xs)
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        return fn(x, [ax % x.dim() for ax in axes], bool(a.get("keepdims", 1)))
    return op


def _arg(fn):
    """ArgMax / ArgMin; select_last_index picks the last of equal extremes."""
    def op(m, node, a, xs):
        x, axis, keep = xs[0], a.get("axis", 0) % xs[0].dim(), bool(a.get("keepdims", 1))
        if not a.get("select_last_index", 0):
            return fn(x, axis, keepdim=keep)
        return x.shape[axis] - 1 - fn(x.flip(axis), axis, keepdim=keep)
    return op


def _cumsum(m, node, a, xs):
    x, axis = xs[0], ints(xs[1])[0] % xs[0].dim()
    if a.get("reverse", 0):
        x = x.flip(axis)
    y = x.cumsum(axis)
    if a.get("exclusive", 0):
        y = y - x
    return y.flip(axis) if a.get("reverse", 0) else y


MATH_OPS = {
    "Add": binary(torch.add), "Sub": binary(torch.sub), "Mul": binary(torch.mul),
    "Div": binary(_div), "Mod": _mod, "Pow": binary(torch.pow),
    "Sum": variadic(torch.add), "Mean": _mean,
    "Max": variadic(torch.maximum), "Min": variadic(torch.minimum),
    "Neg": unary(torch.neg), "Abs": unary(torch.abs), "Sign": unary(torch.sign),
    "Sqrt": unary(torch.sqrt), "Reciprocal": unary(torch.reciprocal),
    "Exp": unary(torch.exp), "Log": unary(torch.log), "Erf": unary(torch.erf),
    "Sin": unary(torch.sin), "Cos": unary(torch.cos),
    "Floor": unary(torch.floor), "Ceil": unary(torch.ceil), "Round": unary(torch.round),
    "Equal": binary(torch.eq), "Less": binary(torch.lt), "Greater": binary(torch.gt),
    "LessOrEqual": binary(torch.le), "GreaterOrEqual": binary(torch.ge),
    "IsNaN": unary(torch.isnan),
    "IsInf": lambda m, n, a, xs: (torch.isposinf(xs[0]) & bool(a.get("detect_positive", 1)))
                                 | (torch.isneginf(xs[0]) & bool(a.get("detect_negative", 1))),
    "Not": unary(torch.logical_not), "And": binary(torch.logical_and),
    "Or": binary(torch.logical_or), "Xor": binary(torch.logical_xor),
    "Where": lambda m, n, a, xs: torch.where(xs[0].bool(), xs[1], xs[2]),
    "MatMul": binary(torch.matmul),
    "Einsum": lambda m, n, a, xs: torch.einsum(text(a["equation"]), *xs),
    "ArgMax": _arg(torch.argmax), "ArgMin": _arg(torch.argmin),
    "CumSum": _cumsum,
    **{name: _reduce(fn) for name, fn in REDUCERS.items()},
}
