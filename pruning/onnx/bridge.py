"""ONNX graph <-> trainable torch module, keyed by ONNX initializer names.

`OnnxModule` is a small interpreter: it runs the graph's nodes in order with the op registry
(pruning.onnx.ops: CNN, Transformer and recurrent ops, each checked against onnxruntime), and
float initializers are nn.Parameters: every tensor of weights, but not single numbers of the
computation (scales, exponents, epsilons), nor BatchNormalization running statistics (buffers:
fine-tuning keeps them frozen, so the exported graph computes exactly what was trained).
`onnx_weight_names()` maps the weight tensor names of Conv/ConvTranspose/Gemm/MatMul and of
LSTM/GRU/RNN (W and R) to their parameters, which is what `pruning.protocol.prunable_weights`
uses. A graph exported with a fixed batch (dynamo exports: batch 1, folded into Reshape shapes)
trains on batches of any size, run per sample under torch.vmap. Inputs may be float or int64
token ids; `data_spec()` says what data a graph takes (pruning.data fits data to it).
`to_onnx()` writes the current values back into a copy of the same graph (nodes untouched),
and `verify_onnx()` checks the result with onnxruntime.

Why an in-house interpreter instead of onnx2torch: onnx2torch is unmaintained, requires
torchvision (which would replace our pinned CPU torch), renames parameters (so masks and plans
could not be keyed by ONNX names without a fragile mapping), has no converter for Dropout-7
or auto_pad SAME_*, and fails on the asymmetric AveragePool pads of inception_v1. Each op is
a few lines on top of torch, and writing back is trivial when parameters keep their ONNX names.
"""
from __future__ import annotations

import copy
import json
import math
import re
import warnings
from typing import Mapping

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pruning.data import DataSpec, shape_text
from pruning.errors import PruningError
from pruning.onnx.layouts import WEIGHT_OPS, root_initializer, weight_layouts
from pruning.onnx.files import OnnxFileError, read_onnx
from pruning.onnx.ops import OPS, OnnxBridgeError, attrs as _attrs

# Ops whose constant inputs are learned tensors even when they hold a single number (a one-unit
# layer's bias, a one-channel norm); elsewhere a single-number initializer is a constant of the
# computation (an attention scale, a Pow exponent, an epsilon) and training it would change
# what the graph computes, or turn x ** 2 into NaN for negative x.
LEARNED_INPUT_OPS = frozenset(WEIGHT_OPS) | {"BatchNormalization", "InstanceNormalization",
                                             "LayerNormalization", "PRelu", "Gather"}
METADATA_KEY = "codesign.compression"


class ExportMismatchError(PruningError):
    """The written-back ONNX model does not compute what the torch module computes."""


# ---- the module ---------------------------------------------------------------------------

def _learned_initializers(graph: onnx.GraphProto) -> set[str]:
    """The float initializers that become nn.Parameters: every float tensor of more than one
    value, and single values that feed a LEARNED_INPUT_OPS node (directly or through
    WEIGHT_PATH_OPS); BatchNormalization's running statistics stay fixed."""
    stats = {n.input[i] for n in graph.node if n.op_type == "BatchNormalization"
             for i in (3, 4) if len(n.input) > i}
    producers = {o: n for n in graph.node for o in n.output}
    feeds_layer = {root_initializer(i, producers)[0] for n in graph.node
                   if n.op_type in LEARNED_INPUT_OPS for i in n.input}
    out = set()
    for t in graph.initializer:
        kind = helper.tensor_dtype_to_np_dtype(t.data_type).kind
        if kind == "f" and t.name not in stats and (math.prod(t.dims) > 1 or t.name in feeds_layer):
            out.add(t.name)
    return out


def _param_key(name: str, taken: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_]", "_", name) or "w"
    base, i = key, 1
    while key in taken:
        key, i = f"{base}_{i}", i + 1
    taken.add(key)
    return key


class OnnxModule(nn.Module):
    """A trainable torch module that executes an ONNX graph; see the module docstring."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node if n.op_type not in OPS})
        if unsupported:
            raise OnnxBridgeError(f"ONNX ops not supported by the bridge: {', '.join(unsupported)}; "
                                  f"supported: {', '.join(sorted(OPS))}")
        if model.functions or any(n.domain not in ("", "ai.onnx") for n in graph.node):
            raise OnnxBridgeError("the graph uses custom domains or functions; export it with "
                                  "standard ONNX ops only")
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        inits = {t.name: t for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        if len(self.input_names) != 1:
            raise OnnxBridgeError(f"the bridge needs exactly one graph input, found {self.input_names}")
        dims = graph.input[[i.name for i in graph.input].index(self.input_names[0])].type.tensor_type.shape.dim
        self.static_batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") else None
        self.output_names = [o.name for o in graph.output]
        self.nodes = [(n, _attrs(n)) for n in graph.node]
        # Training needs logits: a final Softmax is skipped by forward() (argmax is unchanged)
        # and stays in the exported graph; `output_activation` tells verify_onnx to apply it.
        self.output_activation = None
        last = self.nodes[-1][0] if self.nodes else None
        if last is not None and last.op_type == "Softmax" and last.output[0] == self.output_names[0]:
            self.output_activation = self.nodes.pop()
            self.output_names[0] = last.input[0]
        learned = _learned_initializers(graph)
        self.params = nn.ParameterDict()
        self._keys: dict[str, str] = {}          # ONNX initializer name -> ParameterDict / buffer key
        taken: set[str] = set()
        for name, tensor in inits.items():
            array = numpy_helper.to_array(tensor).copy()
            key = _param_key(name, taken)
            self._keys[name] = key
            if name in learned:
                self.params[key] = nn.Parameter(torch.from_numpy(array.astype(np.float32)))
            else:
                self.register_buffer("c_" + key, torch.from_numpy(array))
        params = self.params_by_onnx_name()
        self._layouts = weight_layouts(graph.node, {n: p.dim() for n, p in params.items()})
        self._weights = {n: params[n] for n in self._layouts}

    def params_by_onnx_name(self) -> dict[str, nn.Parameter]:
        return {n: self.params[k] for n, k in self._keys.items() if k in self.params}

    def onnx_weight_names(self) -> dict[str, nn.Parameter]:
        """Conv/ConvTranspose/Gemm/MatMul and LSTM/GRU/RNN weight tensors by their ONNX names."""
        return dict(self._weights)

    def onnx_weight_layouts(self) -> dict[str, int]:
        """The output-channel axis of each weight (pruning.onnx.layouts.weight_layouts)."""
        return dict(self._layouts)

    def _value(self, name: str) -> torch.Tensor:
        key = self._keys[name]
        return self.params[key] if key in self.params else getattr(self, "c_" + key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's first output before a final Softmax (logits), for a batch of any size."""
        b = self.static_batch
        if not b or x.shape[0] == b:
            return self._run(x)
        return self._per_static_batch(x, b)

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """What the ONNX graph itself outputs: forward() plus a final Softmax it skipped."""
        y = self(x)
        if self.output_activation is None:
            return y
        node, a = self.output_activation
        return OPS[node.op_type](self, node, a, [y])

    def _per_static_batch(self, x: torch.Tensor, b: int) -> torch.Tensor:
        """A graph written for a fixed batch (static exports hard-code it in Reshape shapes,
        often not on axis 0) runs on a batch of any size as groups of that batch under
        torch.vmap; the last group is padded with copies of the last sample."""
        n = x.shape[0]
        pad = (-n) % b
        if pad:
            x = torch.cat([x, x[-1:].expand(pad, *x.shape[1:])])
        y = torch.vmap(self._run, randomness="different")(x.reshape(-1, b, *x.shape[1:]))
        return y.reshape(-1, *y.shape[2:])[:n]

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor | None] = {self.input_names[0]: x, "": None}
        for name in self._keys:
            env[name] = self._value(name)
        for node, a in self.nodes:
            ins = [env[i] if i else None for i in node.input]
            try:
                out = OPS[node.op_type](self, node, a, ins)
            except OnnxBridgeError:
                raise
            except Exception as exc:
                raise OnnxBridgeError(f"node {node.name or node.output[0]!r} ({node.op_type}) failed: "
                                      f"{exc}") from exc
            outs = out if isinstance(out, tuple) else (out,)
            for name, value in zip(node.output, outs):
                env[name] = value
        return env[self.output_names[0]]

    def to_onnx(self, metadata: Mapping | None = None) -> onnx.ModelProto:
        """A copy of the source graph with the current parameter values as initializers
        (float32; exact zeros stay exact) and, optionally, compression metadata as JSON."""
        out = copy.deepcopy(self.model)
        params = self.params_by_onnx_name()
        for i, tensor in enumerate(out.graph.initializer):
            if tensor.name in params:
                array = params[tensor.name].detach().cpu().numpy().astype(np.float32)
                out.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, tensor.name))
        if metadata is not None:
            kept = [p for p in out.metadata_props if p.key != METADATA_KEY]
            del out.metadata_props[:]
            out.metadata_props.extend(kept)
            out.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata, sort_keys=True))
        return out


def from_onnx(model: onnx.ModelProto | str, *, materialize_seed: int | None = None) -> OnnxModule:
    """Load an ONNX model (proto or path) as a trainable module. Placeholder weights made by
    ConstantOfShape (the onnx wheel's light models) are replaced by seeded random ones when
    `materialize_seed` is given; otherwise such a graph is refused, as it has no real weights."""
    if not isinstance(model, onnx.ModelProto):
        try:
            model = read_onnx(model)
        except OnnxFileError:
            raise
        except Exception as exc:
            raise OnnxBridgeError(f"cannot read ONNX file {model} ({exc})") from exc
    if materialize_seed is not None:
        model = materialize(model, materialize_seed)
    elif _placeholder_weights(model):
        raise OnnxBridgeError("the graph's weights are ConstantOfShape placeholders (no real "
                              "values); pass materialize_seed to fill them with seeded random weights")
    return OnnxModule(model)


def _placeholder_weights(model: onnx.ModelProto) -> list[str]:
    consumers = {i for n in model.graph.node if n.op_type in WEIGHT_OPS for i in n.input[1:2]}
    return [o for n in model.graph.node if n.op_type == "ConstantOfShape" for o in n.output if o in consumers]


def materialize(model: onnx.ModelProto, seed: int = 0, bn_variance: float = 0.5) -> onnx.ModelProto:
    """Replace ConstantOfShape weight placeholders fed by constant shapes with seeded random
    initializers (He-scaled for >= 2-D tensors; 1-D ones, i.e. biases and BN parameters, get
    a constant positive fill so BN variances are valid)."""
    model = copy.deepcopy(model)
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    keep, new, dead = [], [], set()
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input and n.input[0] in inits:
            shape = numpy_helper.to_array(inits[n.input[0]]).astype(int).tolist()
            fan_in = max(int(np.prod(shape[1:])), 1)
            array = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) if len(shape) >= 2
                     else np.full(shape, bn_variance))
            new.append(numpy_helper.from_array(array.astype(np.float32), n.output[0]))
            dead.add(n.input[0])
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    rest = [t for t in g.initializer if t.name not in dead]
    del g.initializer[:]
    g.initializer.extend(rest + new)
    live = {i for n in g.node for i in n.input}
    inputs = [i for i in g.input if i.name in live and i.name not in dead]
    del g.input[:]
    g.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)   # IR >= 4: initializers need not be inputs
    return model


def export_torch(model: nn.Module, example, opset: int = 13,
                 dtype: torch.dtype = torch.float32) -> onnx.ModelProto:
    """Export a torch model to ONNX with torch's legacy exporter, keeping parameter names as
    initializer names (so `conv1.weight` names the same tensor in torch, ONNX and plans).
    `example`: the per-sample input shape (a tuple of ints: one input named `input`, a dynamic
    batch axis, input type `dtype`, e.g. torch.int64 for token ids) or example inputs (a tensor
    or a tuple of tensors, exported at their own shapes)."""
    import io
    shape_only = isinstance(example, (tuple, list)) and all(isinstance(d, int) for d in example)
    if shape_only:
        args = (torch.zeros((1,) + tuple(example), dtype=dtype),)
        names = dict(input_names=["input"], output_names=["logits"],
                     dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    else:
        args = tuple(example) if isinstance(example, (tuple, list)) else (example,)
        if not all(torch.is_tensor(a) for a in args):
            raise PruningError("example inputs must be tensors (or a tuple of them), or a shape tuple")
        names = {}
    buf = io.BytesIO()
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")          # the legacy exporter's deprecation notice
            torch.onnx.export(model, args, buf, dynamo=False, opset_version=opset,
                              do_constant_folding=False, **names)
    except Exception as exc:       # the exporter raises many types for what it cannot trace
        raise PruningError(f"torch.onnx could not export the module ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    finally:
        model.train(was_training)
    return onnx.load_from_string(buf.getvalue())


def as_input_tensor(x: np.ndarray) -> torch.Tensor:
    """A batch of model inputs as a tensor: floats as float32, integers (token ids) as given."""
    x = np.ascontiguousarray(x)
    return torch.from_numpy(x.astype(np.float32) if x.dtype.kind == "f" else x)


# ---- what data a graph takes ----------------------------------------------------------------

def _dims(value: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    """Static dims of a graph value (None for a symbolic one); None when the rank is unknown."""
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


def _output_dims(model: onnx.ModelProto) -> tuple[int | None, ...] | None:
    """The first output's dims, as declared or else as onnx shape inference finds them."""
    dims = _dims(model.graph.output[0])
    if dims is not None and all(d is not None for d in dims[1:]):
        return dims
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:                     # an inference failure only costs the class count
        return dims
    return _dims(inferred.graph.output[0]) or dims


def _vocabulary(graph: onnx.GraphProto, name: str) -> int | None:
    """Rows of the embedding table that token input `name` indexes (Gather on a constant)."""
    tables = {t.name: t for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] == name and n.input[0] in tables:
            if _attrs(n).get("axis", 0) == 0 and tables[n.input[0]].dims:
                return int(tables[n.input[0]].dims[0])
    return None


def data_spec(model: onnx.ModelProto) -> DataSpec:
    """What data must look like for `model` (pruning.data fits data to it): the input's name,
    per-sample dims (batch excluded), element type, vocabulary of token ids, and the number of
    classes of its (batch, classes) output."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxBridgeError(f"the bridge needs exactly one graph input, found {[i.name for i in inputs]}")
    dims = _dims(inputs[0])
    if not dims:
        raise OnnxBridgeError(f"graph input {inputs[0].name!r} has no batch axis (rank "
                              f"{'unknown' if dims is None else 0}); training needs a batch of samples")
    elem = inputs[0].type.tensor_type.elem_type
    if elem not in INPUT_TYPES:
        raise OnnxBridgeError(f"graph input {inputs[0].name!r} has element type "
                              f"{TensorProto.DataType.Name(elem)}; the bridge trains float or integer inputs")
    out = _output_dims(model)
    if out is not None and len(out) != 2:
        raise OnnxBridgeError(f"the model's output has shape {shape_text(out)}; training needs a "
                              "classifier's (batch, classes) output")
    classes = out[1] if out is not None else None
    return DataSpec(name=inputs[0].name, dims=dims[1:], dtype=INPUT_TYPES[elem],
                    vocab=_vocabulary(graph, inputs[0].name), classes=classes)


INPUT_TYPES = {TensorProto.FLOAT: "float32", TensorProto.INT64: "int64", TensorProto.INT32: "int32"}


def onnxruntime_outputs(model: onnx.ModelProto, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """Run with onnxruntime (one thread, one session); a graph with a static batch runs in
    chunks of it, others in chunks of `chunk` samples."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    step = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) else chunk
    x = x.astype(np.float32) if x.dtype.kind == "f" else x
    return np.concatenate([session.run(None, {inp.name: x[i:i + step]})[0]
                           for i in range(0, len(x), max(step, 1))])


def onnxruntime_accuracy(model: onnx.ModelProto, data) -> float:
    """Top-1 accuracy of `model` in onnxruntime on data's test split."""
    if len(data.test_y) == 0:
        return float("nan")
    return float(np.mean(onnxruntime_outputs(model, data.test_x).argmax(1) == data.test_y))


def verify_onnx(module: OnnxModule, exported: onnx.ModelProto, x: np.ndarray,
                masks: Mapping[str, torch.Tensor] | None = None, atol: float = 1e-4,
                rtol: float = 0.0) -> float:
    """Check an exported model with onnxruntime: outputs equal the module's within
    atol + rtol * max|output| (float32 sums over thousands of terms differ by summation order),
    and initializers are exactly zero where `masks` are False. Returns the max abs difference;
    raises ExportMismatchError otherwise."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        expected = module.outputs(as_input_tensor(x)).numpy()
    module.train(was_training)
    got = onnxruntime_outputs(exported, x)
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    bound = atol + rtol * (float(np.max(np.abs(expected))) if expected.size else 0.0)
    if got.shape != expected.shape or not diff <= bound:
        raise ExportMismatchError(f"onnxruntime output differs from torch by {diff:.3g} (> {bound:.3g}) "
                                  f"or in shape {got.shape} vs {expected.shape}")
    inits = {t.name: t for t in exported.graph.initializer}
    for name, mask in (masks or {}).items():
        w = numpy_helper.to_array(inits[name])
        m = mask.cpu().numpy().astype(bool)
        if np.any(w[~m] != 0):
            raise ExportMismatchError(f"{name}: {int(np.sum(w[~m] != 0))} pruned weights are nonzero "
                                      "in the exported graph")
    return diff
