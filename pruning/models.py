"""Built-in networks, written once as data and built as ONNX graphs without torch (so cost-only
commands such as `codesign inspect vgg7` never import it; training runs them through the ONNX
bridge like any user model).

- lenet5: the Caffe variant of paper 001 Table 1: conv 5x5 x20 - maxpool 2 - conv 5x5 x50 -
  maxpool 2 - fc 500 - relu - fc 10; on 28x28 inputs 500 + 25,000 + 400,000 + 5,000 = 430,500
  weights ("430.5K"). Inputs smaller than 28x28 (8x8 digits) get 'same' padding.
- lenet300: the MLP 784-300-100-10 (266,200 weights).
- vgg7: a VGG-style CNN for small images, six 3x3 convs (8-16 | 16-32 | 32-64 channels, ReLU,
  a 2x2 max-pool after each pair) and one classifier; on 28x28x1 its convs carry 99.8% of the
  3.67M MACs: the conv-heavy case where the hardware decides per layer.
- tinylm: a Llama-style decoder over bytes (see Decoder: RMSNorm written out, rotary positions,
  causal attention, SwiGLU, LM head; 4 layers of width 128, 857,216 parameters), input
  `input_ids` (batch, L) int64, output `logits` (batch, L, 256); L is the data's sequence
  length (128 for text without a model, pruning.text). It learns next-token prediction on
  text (`--data fortunes --task lm`).
Initialization of the CNNs is torch's default for Conv/Linear (weights and biases uniform in
+-1/sqrt(fan_in)), of tinylm GPT-2's (normal, std 0.02), seeded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pruning.errors import PruningError

MODELS = ("lenet5", "lenet300", "vgg7", "tinylm")
# Dense training of a built-in net before compression (done once, cached); a model given as a
# file or module is trained already and keeps its own weights (0).
BUILTIN_PRETRAIN_EPOCHS = 10.0
# tinylm's, in epochs of fortunes (18,182 sequences of 128 bytes, batches of 128): 7.2 min on
# one thread of a shared 2-core machine, held-out perplexity 9.71 (README).
PRETRAIN_EPOCHS = {"tinylm": 1.0}
OPSET = 13
IR_VERSION = 8          # what every onnxruntime of the last years runs


def builtin_name(model) -> str | None:
    """The built-in net a MODEL argument names (any letter case: `LeNet5` is lenet5), or None:
    not text, not a built-in name, or a file of that name exists (a path wins over a name).
    Every command resolves names here, so inspect and prune agree."""
    if not isinstance(model, str) or model.lower() not in MODELS or Path(model).exists():
        return None
    return model.lower()


def pretrain_epochs(model, given: float | None) -> float:
    """Dense pretraining epochs of a run: `given`, or by the model's kind when None."""
    if given is not None:
        return given
    name = builtin_name(model)
    return PRETRAIN_EPOCHS.get(name, BUILTIN_PRETRAIN_EPOCHS) if name else 0.0


@dataclass(frozen=True)
class Conv:
    name: str
    out: int
    kernel: int
    pad: int


@dataclass(frozen=True)
class Dense:
    name: str
    out: int | None         # None: the number of classes


@dataclass(frozen=True)
class Pool:
    size: int


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


def _lenet5(c: int, h: int, w: int) -> list:
    pad = 0 if min(h, w) >= 28 else 2
    return [Conv("conv1", 20, 5, pad), Pool(2), Conv("conv2", 50, 5, pad), Pool(2), Flatten(),
            Dense("fc1", 500), Relu(), Dense("fc2", None)]


def _lenet300(c: int, h: int, w: int) -> list:
    return [Flatten(), Dense("fc1", 300), Relu(), Dense("fc2", 100), Relu(), Dense("fc3", None)]


VGG7_WIDTHS = (8, 16, 16, 32, 32, 64)


def _vgg7(c: int, h: int, w: int) -> list:
    layers: list = []
    for i, width in enumerate(VGG7_WIDTHS):
        layers += [Conv(f"conv{i + 1}", width, 3, 1), Relu()]
        if i % 2 == 1:
            layers.append(Pool(2))
    return layers + [Flatten(), Dense("fc", None)]


ARCHITECTURES = {"lenet5": _lenet5, "lenet300": _lenet300, "vgg7": _vgg7}


def architecture(name: str, input_shape: tuple[int, ...]) -> list:
    if name not in ARCHITECTURES:
        raise PruningError(f"unknown built-in model {name!r}; use one of {', '.join(MODELS)} or an ONNX file")
    shape = tuple(int(d) for d in input_shape)
    if name != "lenet300" and len(shape) != 3:
        raise PruningError(f"{name} needs image inputs (C, H, W), got input shape {shape}; "
                           "use lenet300 for flat features")
    if len(shape) == 3:
        return ARCHITECTURES[name](*shape)
    return ARCHITECTURES[name](1, 1, 1)


@dataclass(frozen=True)
class Decoder:
    """A Llama-style decoder over a byte vocabulary: token embedding; `layers` blocks, each
    x + attention(rms_norm(x)) then x + mlp(rms_norm(x)), with causal multi-head attention of
    `heads` heads on rotary positions and a SwiGLU MLP of width `ff`; a final RMSNorm and an
    untied LM head. Every product is a MatMul by a stored (in, out) weight."""
    vocab: int = 256
    dim: int = 128
    layers: int = 4
    heads: int = 4
    ff: int = 344
    eps: float = 1e-5
    rope_base: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


DECODERS = {"tinylm": Decoder()}
MAX_CONTEXT = 1024           # its causal mask and rotary tables are stored, L x L and L x head_dim


def default_input_shape(name: str) -> tuple[int, ...]:
    """What a built-in net is built for without data (inspect, plan): a 28x28 image, or a
    sequence of pruning.text.DEFAULT_LENGTH bytes."""
    from pruning.text import DEFAULT_LENGTH
    return (DEFAULT_LENGTH,) if name in DECODERS else (1, 28, 28)


def builtin_onnx(name: str, input_shape: tuple[int, ...] | None = None, num_classes: int = 10,
                 seed: int = 0):
    """The built-in network `name` for samples of `input_shape` (default_input_shape), freshly
    initialized with `seed`, as an ONNX graph (dynamic batch; initializer names such as
    conv1.weight). A decoder's classes are its vocabulary (`num_classes` is not read)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    input_shape = tuple(input_shape) if input_shape is not None else default_input_shape(name)
    if name in DECODERS:
        return _decoder_onnx(name, DECODERS[name], input_shape, seed)
    if num_classes < 2:
        raise PruningError(f"{name} is a classifier: it needs labeled data of at least 2 classes, got "
                           f"{num_classes}; unlabeled text (fortunes, a .txt file) trains tinylm")
    rng = np.random.default_rng(seed)
    shape = list(input_shape)
    nodes, inits = [], []
    x = "input"

    def param(pname: str, dims: tuple[int, ...], fan_in: int) -> str:
        bound = 1.0 / math.sqrt(fan_in)
        inits.append(numpy_helper.from_array(rng.uniform(-bound, bound, dims).astype(np.float32), pname))
        return pname

    for i, layer in enumerate(architecture(name, tuple(input_shape))):
        y = f"t{i}"
        if isinstance(layer, Conv):
            c_in, h, w = shape
            fan = c_in * layer.kernel ** 2
            wt = param(f"{layer.name}.weight", (layer.out, c_in, layer.kernel, layer.kernel), fan)
            b = param(f"{layer.name}.bias", (layer.out,), fan)
            nodes.append(helper.make_node("Conv", [x, wt, b], [y], name=layer.name,
                                          kernel_shape=[layer.kernel] * 2, pads=[layer.pad] * 4))
            size = lambda d: d + 2 * layer.pad - layer.kernel + 1     # noqa: E731
            shape = [layer.out, size(h), size(w)]
        elif isinstance(layer, Pool):
            c_in, h, w = shape
            nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[layer.size] * 2,
                                          strides=[layer.size] * 2))
            shape = [c_in, h // layer.size, w // layer.size]
        elif isinstance(layer, Relu):
            nodes.append(helper.make_node("Relu", [x], [y]))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [x], [y], axis=1))
            shape = [math.prod(shape)]
        else:
            out = layer.out if layer.out is not None else num_classes
            wt = param(f"{layer.name}.weight", (out, shape[0]), shape[0])
            b = param(f"{layer.name}.bias", (out,), shape[0])
            nodes.append(helper.make_node("Gemm", [x, wt, b], [y], name=layer.name, transB=1))
            shape = [out]
        if min(shape) < 1:
            raise PruningError(f"{name} does not fit inputs of shape {tuple(input_shape)}: layer {i + 1} "
                               "would have no output pixels")
        x = y
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="codesign")
    onnx.checker.check_model(model)
    return model


def _decoder_onnx(name: str, cfg: Decoder, input_shape: tuple[int, ...], seed: int):
    """The decoder `cfg` for sequences of input_shape = (L,) as an ONNX graph of plain ops
    (see Decoder; RMSNorm as x / sqrt(mean(x^2) + eps) * scale, rotary positions as
    x * cos + rotate_half(x) * sin with stored tables, the causal mask a stored L x L addend)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    if len(input_shape) != 1 or not 2 <= int(input_shape[0]) <= MAX_CONTEXT:
        raise PruningError(f"{name} takes sequences of byte token ids, input shape (L,) with 2 <= L <= "
                           f"{MAX_CONTEXT}; got input shape {tuple(input_shape)}: give text (--data "
                           "fortunes or a .txt file) or token ids of that shape")
    length, d, heads, hd = int(input_shape[0]), cfg.dim, cfg.heads, cfg.head_dim
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(cname: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), cname))
        return cname

    def weight(wname: str, rows: int, cols: int, std: float = 0.02) -> str:
        return const(wname, (std * rng.standard_normal((rows, cols))).astype(np.float32))

    def node(op: str, inputs: list[str], out: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attributes))
        return out

    def matmul(x: str, wname: str, rows: int, cols: int, std: float = 0.02) -> str:
        return node("MatMul", [x, weight(wname, rows, cols, std)], wname.removesuffix(".weight"))

    two, eps = const("rms_norm.power", np.float32(2.0)), const("rms_norm.eps", np.float32(cfg.eps))
    angles = np.outer(np.arange(length), cfg.rope_base ** (-np.arange(0, hd, 2) / hd))
    angles = np.concatenate([angles, angles], axis=1)                 # (L, head_dim), halves alike
    cos, sin = (const(f"rope.{f.__name__}", f(angles).astype(np.float32)) for f in (np.cos, np.sin))
    halves = const("rope.halves", np.array([hd // 2, hd // 2], np.int64))
    mask = const("causal_mask", np.triu(np.full((length, length), -1e9, np.float32), 1))
    scale = const("attention.scale", np.float32(1.0 / math.sqrt(hd)))
    to_heads = const("shape.heads", np.array([0, -1, heads, hd], np.int64))     # 0: the batch as is
    to_model = const("shape.model", np.array([0, -1, d], np.int64))
    residual_std = 0.02 / math.sqrt(2 * cfg.layers)                 # GPT-2: residual branches add up

    def rms_norm(x: str, prefix: str) -> str:
        mean = node("ReduceMean", [node("Pow", [x, two], f"{prefix}/square")], f"{prefix}/mean", axes=[-1])
        rms = node("Sqrt", [node("Add", [mean, eps], f"{prefix}/plus_eps")], f"{prefix}/rms")
        scaled = node("Div", [x, rms], f"{prefix}/normalized")
        return node("Mul", [scaled, const(f"{prefix}.weight", np.ones(d, np.float32))], prefix)

    def split_heads(x: str, prefix: str) -> str:                      # (B, L, d) -> (B, H, L, hd)
        return node("Transpose", [node("Reshape", [x, to_heads], f"{prefix}/split")], f"{prefix}/heads",
                    perm=[0, 2, 1, 3])

    def rotary(x: str, prefix: str) -> str:
        first, second = f"{prefix}/first_half", f"{prefix}/second_half"
        nodes.append(helper.make_node("Split", [x, halves], [first, second], name=f"{prefix}/halves", axis=-1))
        rotated = node("Concat", [node("Neg", [second], f"{prefix}/negated"), first], f"{prefix}/rotated", axis=-1)
        return node("Add", [node("Mul", [x, cos], f"{prefix}/cos"), node("Mul", [rotated, sin], f"{prefix}/sin")],
                    f"{prefix}/rotary")

    x = node("Gather", [weight("embed.weight", cfg.vocab, d), "input_ids"], "embed")
    for i in range(cfg.layers):
        p = f"layers.{i}"
        h = rms_norm(x, f"{p}.attn_norm")
        q, k = (rotary(split_heads(matmul(h, f"{p}.attn.{n}.weight", d, d), f"{p}.attn.{n}"), f"{p}.attn.{n}")
                for n in ("q", "k"))
        v = split_heads(matmul(h, f"{p}.attn.v.weight", d, d), f"{p}.attn.v")
        keys = node("Transpose", [k], f"{p}.attn/keys_t", perm=[0, 1, 3, 2])
        q = node("Mul", [q, scale], f"{p}.attn/q_scaled")            # before q.k: one L x L tensor less
        scores = node("MatMul", [q, keys], f"{p}.attn/scores")
        probs = node("Softmax", [node("Add", [scores, mask], f"{p}.attn/causal")], f"{p}.attn/probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"{p}.attn/context")], f"{p}.attn/merge",
                       perm=[0, 2, 1, 3])
        context = node("Reshape", [context, to_model], f"{p}.attn/merged")
        x = node("Add", [x, matmul(context, f"{p}.attn.o.weight", d, d, residual_std)], f"{p}/attn_out")
        h = rms_norm(x, f"{p}.mlp_norm")
        gate = matmul(h, f"{p}.mlp.gate.weight", d, cfg.ff)
        silu = node("Mul", [gate, node("Sigmoid", [gate], f"{p}.mlp/sigmoid")], f"{p}.mlp/silu")
        hidden = node("Mul", [silu, matmul(h, f"{p}.mlp.up.weight", d, cfg.ff)], f"{p}.mlp/swiglu")
        x = node("Add", [x, matmul(hidden, f"{p}.mlp.down.weight", cfg.ff, d, residual_std)], f"{p}/mlp_out")
    matmul(rms_norm(x, "norm"), "lm_head.weight", d, cfg.vocab)             # its output renamed below
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", length])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", length, cfg.vocab])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="codesign")
    onnx.checker.check_model(model)
    return model


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int = 0):
    """The built-in network as a trainable torch module (pruning.onnx.bridge.OnnxModule)."""
    from pruning.onnx.bridge import from_onnx
    return from_onnx(builtin_onnx(name, tuple(input_shape), num_classes, seed))
