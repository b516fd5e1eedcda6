"""torch nn.Module -> onnx.ModelProto: the project's one exporter module.

`export_module` exports at a given example (a tensor, a tuple of tensors, or a dict of keyword
tensors as HF models take them: input_ids, attention_mask, decoder_input_ids, ...) with torch's
dynamo exporter, else the legacy one. `export_torch` is the bridge's export of a model for
per-sample input shapes with a dynamic batch axis (legacy exporter, input `input`, output
`logits`). Both keep parameter names as initializer names (`transformer.h.0.attn.c_attn.weight`
names the same tensor in torch, ONNX and plans).

A module's outputs are exported as the tensors they hold, in order and named by their keys
(`logits`, `last_hidden_state`); anything else in them (an HF key/value cache object, None) is
left out: neither exporter can return it, and its tensors are computed for the outputs anyway.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Mapping

import onnx
import torch
from torch import nn

from pruning.device import module_device
from pruning.errors import PruningError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")     # the dynamo exporter colours its messages
DYNAMO_OPSET = 18        # what torch's dynamo exporter writes (it upgrades lower requests)


def export_module(module: nn.Module, example, *, opset: int = DYNAMO_OPSET) -> onnx.ModelProto:
    """`module` as ONNX at `example`'s own shapes (a tensor, a tuple of tensors, or a dict of
    keyword tensors whose keys name the graph inputs), in eval mode and with its current
    weights. The dynamo exporter first, then the legacy one; PruningError naming both
    failures when neither can export it."""
    args, kwargs = _split(example)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            names = _output_names(module, args, kwargs)
        failures = []
        for label, exporter in (("dynamo", _dynamo), ("legacy", _legacy)):
            try:
                with _tensor_outputs(module), _quiet(), torch.no_grad():
                    return exporter(module, args, kwargs, names, opset)
            except Exception as exc:     # the exporters raise many types for what they cannot trace
                failures.append(f"{label} exporter: {_first_line(exc)}")
    finally:
        module.train(was_training)
    raise PruningError(f"torch.onnx could not export the module ({'; '.join(failures)}); export it "
                       "to an ONNX file yourself and load that")


def export_torch(model: nn.Module, example, opset: int = 13,
                 dtype: torch.dtype = torch.float32) -> onnx.ModelProto:
    """Export a torch model to ONNX. `example`: the per-sample input shape (a tuple of ints: one
    input named `input` of type `dtype`, e.g. torch.int64 for token ids, a dynamic batch axis,
    output `logits`; the legacy exporter, whose graphs keep that axis) or example inputs
    (tensors, a tuple or a dict of them: `export_module`)."""
    if not (isinstance(example, (tuple, list)) and all(isinstance(d, int) for d in example)):
        return export_module(model, example, opset=max(opset, DYNAMO_OPSET))
    args = (torch.zeros((1,) + tuple(example), dtype=dtype, device=module_device(model)),)   # a module on a GPU too
    was_training = model.training
    model.eval()
    try:
        with _quiet(), torch.no_grad():
            return _legacy(model, args, {}, ["logits"], opset, input_names=["input"],
                           dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    except Exception as exc:
        raise PruningError(f"torch.onnx could not export the module ({_first_line(exc)})") from None
    finally:
        model.train(was_training)


# ---- the two exporters ----------------------------------------------------------------------

def _dynamo(module, args, kwargs, output_names, opset):
    """Not optimized: onnxscript's optimizer folds each transposed Linear weight into a new
    initializer named `val_<n>`, and the parameter's name would be lost."""
    program = torch.onnx.export(module, args, kwargs=kwargs, dynamo=True, opset_version=opset,
                                output_names=output_names, external_data=False, optimize=False,
                                verbose=False)
    return program.model_proto


def _legacy(module, args, kwargs, output_names, opset, input_names=None, dynamic_axes=None):
    """Keyword inputs go in by position (the legacy exporter mis-binds them) and reach forward
    as keywords again through a pre-hook; `input_names` then names them by their keys."""
    names = list(kwargs)

    def as_keywords(_module, given, _kwargs):
        return (), dict(zip(names, given))

    buf = io.BytesIO()
    handle = module.register_forward_pre_hook(as_keywords, with_kwargs=True) if kwargs else None
    try:
        torch.onnx.export(module, args + tuple(kwargs.values()), buf, dynamo=False,
                          opset_version=opset, do_constant_folding=False,
                          input_names=input_names or names or None, output_names=output_names,
                          dynamic_axes=dynamic_axes)
    finally:
        if handle is not None:
            handle.remove()
    return onnx.load_from_string(buf.getvalue())


# ---- examples and outputs -------------------------------------------------------------------

EXAMPLE_KINDS = "a tensor, a tuple of tensors or a dict of tensors keyed by forward()'s argument names"


def is_example(example) -> bool:
    """Example inputs `export_module` takes (EXAMPLE_KINDS)."""
    if isinstance(example, Mapping):
        return bool(example) and all(isinstance(k, str) and k.isidentifier() and torch.is_tensor(v)
                                     for k, v in example.items())
    values = example if isinstance(example, (tuple, list)) else (example,)
    return bool(values) and all(torch.is_tensor(v) for v in values)


def _split(example) -> tuple[tuple, dict]:
    """The example as positional and keyword tensors."""
    if not is_example(example):
        raise PruningError(f"example inputs must be {EXAMPLE_KINDS}, not {type(example).__name__}")
    if isinstance(example, Mapping):
        return (), dict(example)
    return (tuple(example) if isinstance(example, (tuple, list)) else (example,)), {}


def _output_names(module, args, kwargs) -> list[str]:
    """Names of the tensors a run on the example returns (their keys; positions in tuples),
    each once."""
    try:
        out = module(*args, **kwargs)
    except Exception as exc:
        raise PruningError(f"the module fails on the example inputs ({_first_line(exc)}); give "
                           "inputs that its forward() takes") from None
    names: list[str] = []
    for name, _ in _tensors(out, "output"):
        unique, i = name, 1
        while unique in names or unique in kwargs:
            unique, i = f"{name}_{i}", i + 1
        names.append(unique)
    if not names:
        raise PruningError(f"the module returns no tensor (it returns {type(out).__name__}); "
                           "only tensor outputs can be exported")
    return names


def _tensors(out, name: str) -> list[tuple[str, torch.Tensor]]:
    if torch.is_tensor(out):
        return [(name, out)]
    if isinstance(out, Mapping):
        return [t for key, value in out.items() for t in _tensors(value, str(key))]
    if isinstance(out, (tuple, list)):
        return [t for i, value in enumerate(out) for t in _tensors(value, f"{name}_{i}")]
    return []


@contextlib.contextmanager
def _tensor_outputs(module):
    """While exporting, the module returns the tuple of its output's tensors (a forward hook
    keeps parameter names: a wrapper module would prefix them)."""
    handle = module.register_forward_hook(lambda _m, _args, out: tuple(t for _, t in _tensors(out, "")))
    try:
        yield
    finally:
        handle.remove()


# ---- the exporters' chatter -----------------------------------------------------------------

@contextlib.contextmanager
def _quiet():
    """No exporter output reaches the user: Python-level prints and warnings, torch.onnx's log
    ("torchvision is not installed"), and C-level writes to fds 1 and 2 (the legacy exporter
    dumps its whole IR graph there when a symbolic is missing)."""
    sink = io.StringIO()
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), silent_fds(), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def silent_fds():
    """fds 1 and 2 point at a temporary file, flushed on both sides of the switch."""
    with tempfile.TemporaryFile() as tmp:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = []
        try:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(tmp.fileno(), fd)
        except OSError:           # no real fds (an embedded interpreter): nothing to silence
            pass
        try:
            yield
        finally:
            for stream in (sys.__stdout__, sys.__stderr__):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, old in saved:
                os.dup2(old, fd)
                os.close(old)


def _first_line(exc: BaseException) -> str:
    """`Type: first line` of an exception, and of its root cause when it has one (the dynamo
    exporter's own first line only says which step failed: its first sentence is kept)."""
    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    if root is exc:
        return _line(exc)
    return f"{_line(exc).split('. ')[0]} ({_line(root)})"


def _line(exc: BaseException) -> str:
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__
