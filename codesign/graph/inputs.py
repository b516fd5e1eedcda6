"""The model's input shapes: what the user gives (`[NAME=]DIMS`, repeatable), what the file
declares, and the fixed shapes every later step works with."""
from __future__ import annotations

from math import prod
from typing import Sequence

import onnx

from codesign.errors import InputShapeError, ModelImportError
from codesign.graph.limits import MAX_ELEMENTS, shown
from codesign.graph.protos import all_graphs

Dims = list  # declared dims: int, a symbol (str) or None (unnamed dynamic)


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'1x3x224x224' -> (1, 3, 224, 224); 'scalar' -> (). A shape without batch ('3x224x224')
    is kept as is; `load_network` prepends batch 1 when the input has one more dimension."""
    if text.strip().lower() == "scalar":
        return ()
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise InputShapeError(f"--input-shape {shown(text, 60)}: expected positive integers separated "
                              "by 'x', e.g. 1x3x224x224 (batch first) or 3x224x224 (batch 1)")
    if prod(dims) > MAX_ELEMENTS:
        raise InputShapeError(f"--input-shape {shown(text, 60)}: {prod(dims):.3g} elements is beyond "
                              f"any real input (the limit is {MAX_ELEMENTS:.3g})")
    return dims


def parse_input_shapes(spec) -> dict[str | None, tuple[int, ...]]:
    """None, a tuple, 'DIMS' or a list of '[NAME=]DIMS' -> {name or None (the first input): dims}."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Sequence) and all(isinstance(d, int) for d in spec):   # dims: the text's checks
        return {None: parse_input_shape("x".join(map(str, spec)) if spec else "scalar")}
    given: dict[str | None, tuple[int, ...]] = {}
    for text in spec:
        name, _, dims = str(text).rpartition("=")
        key = name.strip() or None
        if key in given:
            what = f"input {shown(key)}" if key else "the first input (a shape without NAME=)"
            raise InputShapeError(f"--input-shape gives {what} twice")
        given[key] = parse_input_shape(dims)
    return given


def real_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in graph.initializer}
    return [i for i in graph.input if i.name not in inits]


def declared_dims(value_info: onnx.ValueInfoProto) -> Dims | None:
    """The declared dims (int, symbol or None), or None when the rank is unknown."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0
            else (d.dim_param or None) for d in t.shape.dim]


def fix_input_shapes(model: onnx.ModelProto, spec, name: str
                     ) -> tuple[onnx.ModelProto, dict[str, tuple[int, ...]]]:
    """A copy of `model` whose inputs have static shapes, and those shapes by input name.

    Given shapes win; a symbol shared with a given dim takes its value (a `state` input of
    shape 2 x batch x 64 follows the first input's batch); a leading dynamic dim is the batch, 1."""
    inputs = real_inputs(model.graph)
    if not inputs:
        raise ModelImportError(f"model {shown(name)} has no graph input")
    given = parse_input_shapes(spec)
    names = [vi.name for vi in inputs]
    unknown = [k for k in given if k is not None and k not in names]
    if unknown:
        raise InputShapeError(f"--input-shape names {shown(unknown[0])}, which is not an input of model "
                              f"{shown(name)}; its inputs are {', '.join(shown(n) for n in names[:8])}")
    if None in given and names[0] in given:
        raise InputShapeError(f"--input-shape gives the first input {shown(names[0])} twice (once "
                              "without NAME=)")
    if None in given:
        given[names[0]] = given.pop(None)
    symbols: dict[str, int] = {}
    fixed = {vi.name: _given_shape(vi, given[vi.name], symbols, name) for vi in inputs if vi.name in given}
    for vi in inputs:
        if vi.name not in fixed:
            fixed[vi.name] = _default_shape(vi, symbols, name, bool(given))
    shapes = {n: fixed[n] for n in names}
    for n, shape in shapes.items():
        if prod(shape) > MAX_ELEMENTS:
            raise InputShapeError(f"input {shown(n)} of model {shown(name)} would have {prod(shape):.3g} "
                                  f"elements ({'x'.join(map(str, shape))}); the limit is {MAX_ELEMENTS:.3g}")
    declared = {vi.name: declared_dims(vi) for vi in inputs}
    if all(declared[n] is not None and list(declared[n]) == list(shapes[n]) for n in shapes):
        return model, shapes
    return _with_shapes(model, shapes), shapes


def _given_shape(vi, shape: tuple[int, ...], symbols: dict, name: str) -> tuple[int, ...]:
    declared = declared_dims(vi)
    if declared is not None and len(shape) == len(declared) - 1:
        shape = (1,) + shape                          # 3x224x224 for a batched input: batch 1
    if declared is not None and len(shape) != len(declared):
        raise InputShapeError(
            f"--input-shape {'x'.join(map(str, shape)) or 'scalar'} has rank {len(shape)}, but input "
            f"{shown(vi.name)} of model {shown(name)} has rank {len(declared)} ({_text(declared)})")
    for d, value in zip(declared or (), shape):
        if isinstance(d, str):
            symbols.setdefault(d, value)
    return tuple(shape)


def _default_shape(vi, symbols: dict, name: str, any_given: bool) -> tuple[int, ...]:
    declared = declared_dims(vi)
    if declared is None:
        raise InputShapeError(f"input {shown(vi.name)} of model {shown(name)} declares no shape; give "
                              f"it with --input-shape {_flag_name(vi.name)}DIMS")
    dims = [symbols.get(d, d) if isinstance(d, str) else d for d in declared]
    if dims and not isinstance(dims[0], int):         # only the batch is dynamic: batch 1
        dims[0] = 1
        if isinstance(declared[0], str):
            symbols.setdefault(declared[0], 1)
    if any(not isinstance(d, int) for d in dims):
        example = "x".join(str(d) if isinstance(d, int) else "224" for d in dims)
        hint = (f"give it with --input-shape {_flag_name(vi.name)}{example}" if any_given
                else f"give them with --input-shape, e.g. {_flag_name(vi.name)}{example}")
        raise InputShapeError(f"input {shown(vi.name)} of model {shown(name)} has dynamic dimensions "
                              f"({_text(declared)}); {hint}")
    return tuple(dims)


def _flag_name(name: str) -> str:
    return f"{name}=" if name.isprintable() and len(name) <= 60 else ""


def _text(dims: Dims) -> str:
    return "x".join(str(d) if d is not None else "?" for d in dims) or "scalar"


def _with_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())    # never mutate the caller's proto
    for vi in model.graph.input:
        if vi.name in shapes:
            tshape = vi.type.tensor_type.shape
            del tshape.dim[:]
            for d in shapes[vi.name]:
                tshape.dim.add().dim_value = d
    _clear_recorded_shapes(model.graph)
    return model


def _clear_recorded_shapes(graph: onnx.GraphProto) -> None:
    """Shapes recorded for the old inputs are stale: inference recomputes them."""
    for g in all_graphs(graph):
        del g.value_info[:]
        for out in g.output:
            out.type.tensor_type.ClearField("shape")


def sample_shapes(x) -> list[str] | str:
    """Every graph input's shape at batch 1 as the importer takes them ("1x3x32x32", or
    "NAME=1x16" per input), from samples: an array (the model's one input) or
    pruning.data.Inputs (several)."""
    arrays = getattr(x, "arrays", None)
    if arrays is None:
        return "x".join(map(str, (1,) + tuple(x.shape[1:])))
    return [f"{k}=" + "x".join(map(str, (1,) + v.shape[1:])) for k, v in arrays.items()]
