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
import dataclasses
import json
import re
from typing import Mapping

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pruning.data import DataSpec, Inputs, OutputSpec
from pruning.device import module_device
from pruning.errors import PruningError
from pruning.onnx.layouts import WEIGHT_OPS, embedding_table, root_initializer, weight_layouts
from pruning.onnx.files import OnnxFileError, read_onnx
from pruning.onnx.names import constants_as_initializers, readable_names
from pruning.onnx.ops import OPS, OnnxBridgeError, attrs as _attrs

# Which initializers train (issue 19): the weights of compute layers (pruning.onnx.layouts), their
# biases, embedding tables (a Gather's float table) and normalization parameters; every other
# initializer (attention masks, position and rotary tables, shapes, scales, lookup tables) is a
# constant of the computation and stays exactly as stored.
BIAS_INPUTS = {"Conv": (2,), "ConvTranspose": (2,), "Gemm": (2,), "LSTM": (3,), "GRU": (3,), "RNN": (3,)}
NORM_INPUTS = {"BatchNormalization": (1, 2), "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2),
               "GroupNormalization": (1, 2), "SimplifiedLayerNormalization": (1,),
               "RMSNormalization": (1,), "PRelu": (1,)}
# A decomposed norm (RMSNorm as Pow, ReduceMean, Sqrt, Reciprocal/Div, Mul): its statistic
NORM_STATISTICS = frozenset({"ReduceMean", "ReduceSumSquare", "ReduceL2"})
METADATA_KEY = "codesign.compression"


class ExportMismatchError(PruningError):
    """The written-back ONNX model does not compute what the torch module computes."""


# ---- the module ---------------------------------------------------------------------------

def _learned_initializers(graph: onnx.GraphProto) -> set[str]:
    """The float initializers that become nn.Parameters (see BIAS_INPUTS); the rest are buffers,
    written back untouched. BatchNormalization's running statistics stay fixed too, so the
    exported graph computes exactly what was trained."""
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    root = lambda name: root_initializer(name, producers)[0]
    ranks = {n: len(t.dims) for n, t in inits.items()}
    weights = set(weight_layouts(graph.node, ranks))
    learned = set(weights)
    for node in graph.node:
        op, ins = node.op_type, list(node.input)
        for i in WEIGHT_OPS.get(op, ()):       # through Slice/Concat too (dynamo's LSTM gate order)
            if len(ins) > i and ins[i]:
                learned |= {s for s in _constant_sources(ins[i], producers, inits) if len(inits[s].dims) >= 2}
        for i in BIAS_INPUTS.get(op, ()) + NORM_INPUTS.get(op, ()):
            if len(ins) > i and ins[i]:
                learned |= _constant_sources(ins[i], producers, inits)
        embedded = embedding_table(node, producers, ranks)
        if embedded is not None:
            learned.add(embedded)
        if op in ("Add", "Mul") and len(ins) == 2:
            for mine, other in ((ins[0], ins[1]), (ins[1], ins[0])):
                table = inits.get(root(mine))
                if table is None or len(table.dims) != 1:
                    continue
                source = producers.get(other)
                if (op == "Add" and _from_layer(source, weights, producers, root)
                        or _normalized(source, producers, learned, root)):
                    learned.add(table.name)                        # a bias, a norm's scale or shift
    return {n for n in learned if n in inits
            and helper.tensor_dtype_to_np_dtype(inits[n].data_type).kind == "f"}


def _constant_sources(tensor: str, producers: dict, inits: dict) -> set[str]:
    """The initializers a constant tensor is computed from (empty if it depends on a graph input)."""
    out, stack, seen = set(), [tensor], set()
    while stack:
        name = stack.pop()
        if name in seen or not name:
            continue
        seen.add(name)
        if name in inits:
            out.add(name)
        elif name in producers:
            stack.extend(producers[name].input)
        else:
            return set()                                   # a graph input: not a constant
    return out


def _from_layer(node, weights: set[str], producers: dict, root) -> bool:
    """`node` is a compute layer (a weight op reading a stored weight): what a bias is added to."""
    return (node is not None and node.op_type in WEIGHT_OPS
            and any(root(i) in weights for i in node.input if i))


def _normalized(node, producers: dict, learned: set[str], root, depth: int = 5) -> bool:
    """`node` ends a normalization written out in plain ops (RMSNorm: x * 1/sqrt(mean(x^2) + eps);
    a LayerNorm's scale before its shift): a Mul or Div whose inputs come from a mean statistic
    (NORM_STATISTICS) within a few steps, or a Mul by an already learned norm scale."""
    if node is None or node.op_type not in ("Mul", "Div"):
        return False
    if node.op_type == "Mul" and any(root(i) in learned for i in node.input if i):
        return True
    frontier, seen = [node], set()
    for _ in range(depth):
        nxt = []
        for n in frontier:
            for i in n.input:
                p = producers.get(i)
                if p is None or id(p) in seen:
                    continue
                if p.op_type in NORM_STATISTICS:
                    return True
                seen.add(id(p))
                nxt.append(p)
        frontier = nxt
    return False


def _last_readers(nodes, keep: set[str]) -> dict[int, list[str]]:
    """{node's index: the values no node after it reads}: a forward drops each intermediate
    after its last reader, so it holds a few layers' activations rather than all of them
    (tinylm at a batch of 1,000: 12.7 GB otherwise). Graph outputs and stored tensors are kept.
    Indices, not node objects: a copy of the module (a distillation's teacher, a Ray task's
    module) has other node objects."""
    last: dict[str, int] = {}
    for index, (node, _) in enumerate(nodes):
        for name in node.input:
            if name and name not in keep:
                last[name] = index
    out: dict[int, list[str]] = {}
    for name, reader in last.items():
        out.setdefault(reader, []).append(name)
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
        model = readable_names(constants_as_initializers(model))     # pruning.onnx.names
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node if n.op_type not in OPS})
        if unsupported:
            raise OnnxBridgeError(f"ONNX ops the bridge cannot train through: {', '.join(unsupported)} (it runs "
                                  f"{len(OPS)} standard ops, pruning.onnx.ops.OPS); export the model with "
                                  "float ops only (no quantized or custom-domain ops)")
        if model.functions or any(n.domain not in ("", "ai.onnx") for n in graph.node):
            raise OnnxBridgeError("the graph uses custom domains or functions; export it with "
                                  "standard ONNX ops only")
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        inits = {t.name: t for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        if not inputs:
            raise OnnxBridgeError("the graph has no inputs (everything is a constant); nothing to train on")
        self.input_names = [i.name for i in inputs]
        dims = inputs[0].type.tensor_type.shape.dim
        self.static_batch = _fixed(dims[0]) if dims else None
        self.output_batch_axis = _output_batch_axis(model)     # checked on the first run (static batch)
        self.input_axes = input_batch_axes(model)              # samples come batch-first
        self._axis_checked = False
        self.output_names = [o.name for o in graph.output]
        self.nodes = [(n, _attrs(n)) for n in graph.node]
        self._last_read = _last_readers(self.nodes, set(self.output_names) | set(inits))
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

    def forward(self, x: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The graph's first output before a final Softmax (logits), for a batch of any size.
        `x`: the input tensor, or a mapping of graph input names to tensors (several inputs)."""
        xs = dict(x) if isinstance(x, Mapping) else {self.input_names[0]: x}
        missing = [n for n in self.input_names if n not in xs]
        if missing or len(xs) != len(self.input_names):
            raise OnnxBridgeError(f"the graph takes inputs {self.input_names}, given {list(xs)}")
        b = self.static_batch
        n = xs[self.input_names[0]].shape[0] if b else None
        if not b or n == b:
            return self._run(self._placed(xs))
        return self._per_static_batch(xs, b, n)

    def outputs(self, x: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        """What the ONNX graph itself outputs: forward() plus a final Softmax it skipped."""
        y = self(x)
        if self.output_activation is None:
            return y
        node, a = self.output_activation
        return OPS[node.op_type](self, node, a, [y])

    def _per_static_batch(self, xs: dict[str, torch.Tensor], b: int, n: int) -> torch.Tensor:
        """A graph written for a fixed batch (static exports hard-code it in Reshape shapes,
        often not on axis 0) runs on a batch of any size as groups of that batch under
        torch.vmap; the last group is padded with copies of the last sample. The output's batch
        axis (`output_batch_axis`: 1 for a time-major output) joins the groups back."""
        pad = (-n) % b
        if not self._axis_checked:
            self._check_output_axis({k: v[:1].expand(b, *v.shape[1:]) for k, v in xs.items()}, b)

        def groups(x: torch.Tensor) -> torch.Tensor:
            if pad:
                x = torch.cat([x, x[-1:].expand(pad, *x.shape[1:])])
            return x.reshape(-1, b, *x.shape[1:])

        y = torch.vmap(self._run, randomness="different")({k: groups(v) for k, v in xs.items()})
        axis = self.output_batch_axis
        y = y.movedim(0, axis)                                   # (..., groups, b, ...)
        y = y.reshape(*y.shape[:axis], -1, *y.shape[axis + 2:])
        return y.narrow(axis, 0, n)

    def _check_output_axis(self, xs: dict[str, torch.Tensor], b: int) -> None:
        """The output's batch axis as one group of a static batch actually gives it: the
        declared one when the output has the declared rank and that axis holds the batch, else
        the first axis of the batch's size (a graph may declare its output wrongly: ddddocr's
        says (1, seqlen) and gives (seqlen, 1, classes))."""
        with torch.no_grad():
            shape = tuple(self._run(xs).shape)
        self.output_batch_axis, self._axis_checked = batch_axis_of(self.model, shape, b), True

    def _placed(self, xs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Batch-first samples with each input's batch axis where the graph has it."""
        return {k: v.movedim(0, self.input_axes[k]) if self.input_axes.get(k) else v for k, v in xs.items()}

    def activation_bytes(self, x) -> tuple[int, int]:
        """(the most bytes of activations a forward holds at once, the bytes of every activation
        it makes) for the samples `x` (a tensor or a dict of them), stored tensors excluded: an
        evaluation holds the first, training keeps about the second for its backward pass
        (pruning.train sizes batches by them)."""
        xs = dict(x) if isinstance(x, Mapping) else {self.input_names[0]: x}
        n, b = len(next(iter(xs.values()))), self.static_batch
        if b and n != b:                     # a static batch runs in groups of b: measure one
            xs = {k: v[:1].expand(b, *v.shape[1:]) for k, v in xs.items()}
        peak = [0, 0]
        with torch.no_grad():
            self._run(self._placed(xs), peak)
        scale = n / b if b and n != b else 1
        return int(peak[0] * scale), int(peak[1] * scale)

    def _run(self, xs: dict[str, torch.Tensor], peak: list[int] | None = None) -> torch.Tensor:
        env: dict[str, torch.Tensor | None] = {**xs, "": None}
        for name in self._keys:
            env[name] = self._value(name)
        # Off the CPU, values an op made on the CPU (Constant, Shape, Range) and inputs given
        # there move to the module's device where a node reads them; on the CPU nothing moves.
        device = module_device(self)
        on_cpu = device.type == "cpu"
        for index, (node, a) in enumerate(self.nodes):
            ins = [env[i] if i else None for i in node.input]
            if not on_cpu:
                ins = [v.to(device) if isinstance(v, torch.Tensor) and v.device != device else v for v in ins]
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
            if peak is not None:
                peak[0] = max(peak[0], sum(v.nbytes for k, v in env.items()
                                           if isinstance(v, torch.Tensor) and k not in self._keys))
                peak[1] += sum(v.nbytes for v in outs if isinstance(v, torch.Tensor))
            for name in self._last_read.get(index, ()):        # no later node reads it: let it go
                env.pop(name, None)
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


def as_input_tensor(x):
    """A batch of model inputs as a tensor: floats as float32, integers (token ids) and masks as
    given; pruning.data.Inputs (several graph inputs) as a dict of them."""
    if isinstance(x, Inputs):
        return {k: as_input_tensor(v) for k, v in x.arrays.items()}
    x = np.ascontiguousarray(x)
    return torch.from_numpy(x.astype(np.float32) if x.dtype.kind == "f" else x)


# ---- what data a graph takes ----------------------------------------------------------------

def _dims(value: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    """Static dims of a graph value (None for a symbolic one); None when the rank is unknown."""
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(_fixed(d) for d in t.shape.dim)


def _fixed(dim) -> int | None:
    """A dimension's fixed size; None for a free one (symbolic, unset, or written as -1 or 0 as
    some exporters, Paddle2ONNX among them, write a free batch)."""
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None


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


def input_batch_axes(model: onnx.ModelProto) -> dict[str, int]:
    """Which axis of each graph input holds the batch: the one named like the first input's
    symbolic batch (a recurrent state (layers, batch, hidden) holds it on axis 1), else 0.
    Samples are kept batch-first; the bridge and onnxruntime_outputs move that axis in place."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if not inputs or not inputs[0].type.tensor_type.shape.dim:
        return {i.name: 0 for i in inputs}
    batch = inputs[0].type.tensor_type.shape.dim[0].dim_param
    return {i.name: next((k for k, d in enumerate(i.type.tensor_type.shape.dim) if batch and d.dim_param == batch), 0)
            for i in inputs}


def _output_batch_axis(model: onnx.ModelProto) -> int:
    """Which axis of the first output holds the batch: the one named like the first input's
    batch axis (a symbolic batch), else the first of the static batch's size, else 0 (a
    time-major CTC output (time, batch, classes) holds it on axis 1)."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    first = next((i for i in graph.input if i.name not in inits), None)
    out = graph.output[0].type.tensor_type.shape.dim if graph.output else []
    if first is None or not first.type.tensor_type.shape.dim or not out:
        return 0
    batch = first.type.tensor_type.shape.dim[0]
    if batch.dim_param:
        return next((k for k, d in enumerate(out) if d.dim_param == batch.dim_param), 0)
    if _fixed(batch) is not None:
        sizes = [_fixed(d) for d in out]
        if sizes and sizes[0] == batch.dim_value:
            return 0
        return next((k for k, d in enumerate(sizes) if d == batch.dim_value), 0)
    return 0


def batch_axis_of(model: onnx.ModelProto, shape: tuple[int, ...], batch: int) -> int:
    """The batch axis of the first output as a run on `batch` samples of a static-batch graph
    gave it `shape`: the declared axis (_output_batch_axis) when the output has the declared
    rank and that axis holds the batch, else the first axis of the batch's size."""
    declared = model.graph.output[0].type.tensor_type.shape.dim
    axis = _output_batch_axis(model)
    if len(shape) != len(declared) or axis >= len(shape) or shape[axis] != batch:
        axis = next((k for k, d in enumerate(shape) if d == batch), 0)
    return axis


# Value-preserving ops between a token input and its embedding lookup (exporters reshape, cast
# or unsqueeze token ids first).
_ID_PATH_OPS = frozenset({"Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Expand"})


def _vocabulary(graph: onnx.GraphProto, name: str) -> int | None:
    """Rows of the embedding table that token input `name` indexes (a Gather on a constant
    table, reached through value-preserving ops)."""
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    frontier, seen = [name], set()
    while frontier:
        tensor = frontier.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        for n in consumers.get(tensor, ()):
            if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] == tensor and _attrs(n).get("axis", 0) == 0:
                table = inits.get(root_initializer(n.input[0], producers)[0])
                if table is not None and len(table.dims) >= 2:
                    return int(table.dims[0])
            elif n.op_type in _ID_PATH_OPS and n.input[0] == tensor:
                frontier.extend(n.output)
    return None


def _role(graph: onnx.GraphProto, value: onnx.ValueInfoProto, vocab: int | None) -> str:
    """What an input holds, for synthetic data: token ids (it indexes an embedding table), a
    mask, positions, segments, a recurrent state, or values (images, signals, features)."""
    name = value.name.lower()
    elem = value.type.tensor_type.elem_type
    if vocab is not None:
        return "tokens"
    if "mask" in name or elem == TensorProto.BOOL:
        return "mask"
    if "position" in name or "pos_id" in name:
        return "positions"
    if "token_type" in name or "segment" in name:
        return "segments"
    if any(k in name for k in ("state", "hidden", "h0", "c0", "past", "cache")):
        return "state"
    return "values"


def _class_like(model: onnx.ModelProto, dims, vocabs: list[int]) -> bool:
    """The first output holds scores over classes or tokens: it ends in (Log)Softmax, it is a
    (batch, classes) output, or its last axis is a vocabulary's size."""
    graph = model.graph
    last = next((n for n in graph.node if graph.output[0].name in n.output), None)
    if last is not None and last.op_type in ("Softmax", "LogSoftmax"):
        return True
    if dims is None:
        return False
    return len(dims) == 2 and (dims[1] or 0) >= 2 or bool(dims) and dims[-1] in vocabs


def data_spec(model: onnx.ModelProto) -> DataSpec:
    """What data must look like for `model` (pruning.data fits data to it): every graph input's
    name, per-sample dims (batch excluded), element type, vocabulary and role; the number of
    classes of a (batch, classes) output; and the first output's dims, batch axis and kind."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if not inputs:
        raise OnnxBridgeError("the graph has no inputs (everything is a constant); nothing to train on")
    specs = []
    axes = input_batch_axes(model)
    for value in inputs:
        dims = _dims(value)
        if not dims:
            raise OnnxBridgeError(f"graph input {value.name!r} has no batch axis (rank "
                                  f"{'unknown' if dims is None else 0}); training needs a batch of samples")
        elem = value.type.tensor_type.elem_type
        if elem not in INPUT_TYPES:
            raise OnnxBridgeError(f"graph input {value.name!r} has element type "
                                  f"{TensorProto.DataType.Name(elem)}; the bridge trains float, integer or "
                                  "boolean inputs")
        vocab = _vocabulary(graph, value.name) if elem != TensorProto.FLOAT else None
        axis = axes[value.name]                       # per-sample dims: the batch axis left out
        specs.append(DataSpec(name=value.name, dims=dims[:axis] + dims[axis + 1:], dtype=INPUT_TYPES[elem], vocab=vocab,
                              role=_role(graph, value, vocab)))
    out = _output_dims(model)
    axis = _output_batch_axis(model)
    output = OutputSpec(out, axis, _class_like(model, out, [s.vocab for s in specs if s.vocab]))
    classes = out[1] if out is not None and len(out) == 2 and axis == 0 else None
    return dataclasses.replace(specs[0], classes=classes, others=tuple(specs[1:]), output=output)


INPUT_TYPES = {TensorProto.FLOAT: "float32", TensorProto.INT64: "int64", TensorProto.INT32: "int32",
               TensorProto.BOOL: "bool"}


def onnxruntime_outputs(model: onnx.ModelProto, x, chunk: int = 1000, fused: bool = True) -> np.ndarray:
    """The first output, run with onnxruntime (one thread, one session) on `x` (an array, or
    pruning.data.Inputs for several graph inputs); a graph with a static batch runs in chunks
    of it, others in chunks of `chunk` samples. Outputs are joined on their batch axis.
    `fused=False` keeps the graph's own arithmetic (onnxruntime's basic rewrites only: its
    extended fusions run a DequantizeLinear -> MatMul pair as an integer MatMul, which rounds
    otherwise)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not fused:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    static = first.shape[0] if first.shape and isinstance(first.shape[0], int) and first.shape[0] > 0 else None
    step = static or chunk
    names = [i.name for i in session.get_inputs()]
    arrays = x.arrays if isinstance(x, Inputs) else {names[0]: x}
    arrays = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    axes = input_batch_axes(model)
    n = len(next(iter(arrays.values())))
    axis = _output_batch_axis(model)
    parts = []
    for i in range(0, n, max(step, 1)):
        feed = {k: v[i:i + step] for k, v in arrays.items()}
        short = len(feed[names[0]])
        if short < step and static:                                           # pad a static batch's last chunk
            feed = {k: np.concatenate([v, np.repeat(v[-1:], step - short, axis=0)]) for k, v in feed.items()}
        out = session.run(None, {k: np.moveaxis(v, 0, axes.get(k, 0)) for k, v in feed.items()})[0]
        if static:
            axis = batch_axis_of(model, out.shape, static)
        parts.append(np.take(out, range(short), axis=axis) if short < step and static else out)
    return np.concatenate(parts, axis=axis)


def onnxruntime_metric(model: onnx.ModelProto, data) -> float:
    """The data's task metric (pruning.tasks: accuracy, perplexity, agreement) of `model` run in
    onnxruntime on data's test split."""
    from pruning.train import as_batch, task_of
    if len(data.test_x) == 0:
        return float("nan")
    out = torch.from_numpy(onnxruntime_outputs(model, data.test_x))
    y = None if data.test_y is None else torch.from_numpy(np.ascontiguousarray(data.test_y))
    task = task_of(data)
    return task.value(task.scores(out, as_batch(data.test_x), y))


def verify_onnx(module: OnnxModule, exported: onnx.ModelProto, x: np.ndarray,
                masks: Mapping[str, torch.Tensor] | None = None, atol: float = 1e-4,
                rtol: float = 0.0) -> float:
    """Check an exported model with onnxruntime: outputs equal the module's within
    atol + rtol * max|output| (float32 sums over thousands of terms differ by summation order),
    and initializers are exactly zero where `masks` are False. Returns the max abs difference;
    raises ExportMismatchError otherwise. The module runs on the CPU, as onnxruntime does (a copy
    of one trained elsewhere: a GPU's convolutions may round in TF32)."""
    if module_device(module).type != "cpu":
        module = copy.deepcopy(module).cpu()
    was_training = module.training
    module.eval()
    with torch.no_grad():
        expected = module.outputs(as_input_tensor(x)).numpy()
    module.train(was_training)
    got = onnxruntime_outputs(exported, x, fused=False)      # what the graph computes, exactly
    if got.shape != expected.shape:
        raise ExportMismatchError(f"onnxruntime's output has shape {got.shape} but the torch module's "
                                  f"{expected.shape} for the same {len(x)} samples")
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    bound = atol + rtol * (float(np.max(np.abs(expected))) if expected.size else 0.0)
    if not diff <= bound:
        raise ExportMismatchError(f"onnxruntime output differs from torch by {diff:.3g} (> {bound:.3g})")
    inits = {t.name: t for t in exported.graph.initializer}
    for name, mask in (masks or {}).items():
        w = numpy_helper.to_array(inits[name])
        m = mask.cpu().numpy().astype(bool)
        if np.any(w[~m] != 0):
            raise ExportMismatchError(f"{name}: {int(np.sum(w[~m] != 0))} pruned weights are nonzero "
                                      "in the exported graph")
    return diff
