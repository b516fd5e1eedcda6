"""The walk over a graph and the bodies in it: compute nodes become layers, If takes the branch
that runs (the costlier one when that is known only at run time), Loop and Scan bodies count
once per iteration; what multiplies but cannot be modeled is listed, never dropped."""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from codesign.graph.index import GraphIndex
from codesign.graph.limits import shown
from codesign.graph.network import Layer, Unmodeled
from codesign.graph.ops import SPECS, NotModeled, Site, build, multiplies
from codesign.graph.protos import attributes, node_names, op_key, subgraphs

DEFAULT_DOMAINS = ("", "ai.onnx")
# onnxruntime contrib ops that do no multiply-accumulate work (element-wise, norms, casts)
NO_MACS_CONTRIB = {f"com.microsoft.{op}" for op in (
    "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "BiasAdd", "BiasSoftmax", "BiasDropout",
    "SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
    "LayerNormalization", "EmbedLayerNormalization", "QuantizeLinear", "DequantizeLinear",
    "DynamicQuantizeLinear", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
    "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax",
    "NhwcMaxPool", "Trilu", "Range", "Rfft", "Irfft", "RotaryEmbedding", "GatherBlockQuantized", "GroupNorm",
    "SkipGroupNorm", "BiasSplitGelu")}


@dataclass
class Found:
    layers: list[Layer] = field(default_factory=list)
    unmodeled: list[Unmodeled] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers) + sum(u.macs or 0 for u in self.unmodeled)

    def add(self, other: "Found") -> None:
        self.layers += other.layers
        self.unmodeled += other.unmodeled
        self.notes += other.notes


def collect(graph: onnx.GraphProto, index: GraphIndex, repeat: int = 1, prefix: str = "") -> Found:
    found = Found()
    for name, node in zip(node_names(graph, prefix), graph.node):
        key = op_key(node)
        if key in SPECS:
            try:
                found.layers += build(Site(node, name, repeat), index)
            except NotModeled as gap:
                found.unmodeled.append(Unmodeled(node.op_type, name, gap.macs, gap.reason))
        elif key in CONTROL:
            found.add(CONTROL[key](node, name, index, repeat))
        elif subgraphs(node):
            found.add(_opaque_body(node, name, index, repeat))
        elif multiplies(node):
            found.unmodeled.append(Unmodeled(node.op_type, name, None,
                                             f"an op of domain {shown(node.domain or 'ai.onnx')} whose name says "
                                             "it multiplies: it is not modeled"))
        elif node.domain not in DEFAULT_DOMAINS and key not in NO_MACS_CONTRIB:
            found.unmodeled.append(Unmodeled(node.op_type, name, None,
                                             f"an op of domain {shown(node.domain)}: its arithmetic is unknown",
                                             multiplies=False))
    return found


def _body(node, name, attr, index, repeat) -> Found:
    sub = dict(subgraphs(node))[attr]
    return collect(sub, index, repeat, f"{name}/{attr}/")


def _if(node, name, index, repeat) -> Found:
    cond = index.scalar(node.input[0] if node.input else "")
    then, other = (_body(node, name, b, index, repeat) for b in ("then_branch", "else_branch"))
    if cond is not None:
        taken, label, skipped = (then, "then", other) if bool(cond) else (other, "else", then)
        why = f"its condition is constant ({bool(cond)})"
    else:
        taken, label, skipped = (then, "then", other) if then.macs >= other.macs else (other, "else", then)
        why = "its condition is known only at run time; counted the costlier branch"
    # with a run-time condition, a branch of unknown cost may be the costlier: its gaps stay
    unknown = [u for u in skipped.unmodeled if u.multiplies and u.macs is None] if cond is None else []
    taken.unmodeled += unknown
    if skipped.macs or skipped.unmodeled:
        taken.notes.append(f"If node {shown(name)}: {why}: the {label} branch ({taken.macs:,} MACs; the "
                           f"other has {skipped.macs:,}" + (f" and {len(unknown)} node{'s' * (len(unknown) > 1)} "
                                                            f"that multipl{'y' if len(unknown) > 1 else 'ies'} at "
                                                            "an unknown cost" if unknown else "") + ")")
    return taken


def _loop(node, name, index, repeat) -> Found:
    trips = index.scalar(node.input[0] if node.input else "")
    if trips is None:
        body = _body(node, name, "body", index, repeat)
        if body.macs:
            body.unmodeled.append(Unmodeled("Loop", name, None, "its trip count is known only at run time: "
                                            "the body is counted once; the rest of its iterations are not"))
        return body
    if int(trips) <= 0:
        return Found(notes=[f"Loop node {shown(name)} runs 0 iterations: its body is not counted"])
    body = _body(node, name, "body", index, repeat * int(trips))
    cond = index.scalar(node.input[1] if len(node.input) > 1 else "")
    if body.macs and cond is None and len(node.input) > 1 and node.input[1]:
        body.notes.append(f"Loop node {shown(name)}: counted its trip count {int(trips):,}; its condition "
                          "may end it earlier at run time")
    return body


def _scan(node, name, index, repeat) -> Found:
    attrs = attributes(node)
    scans = int(attrs.get("num_scan_inputs", 0))
    axes = list(attrs.get("scan_input_axes") or [0] * scans)
    first = node.input[len(node.input) - scans] if 0 < scans <= len(node.input) else ""
    shape = index.shape(first) if first else None
    axis = axes[0] if axes else 0
    if shape is None or not -len(shape) <= axis < len(shape):
        body = _body(node, name, "body", index, repeat)
        if body.macs:
            body.unmodeled.append(Unmodeled("Scan", name, None, "its number of iterations is unknown: "
                                            "the body is counted once"))
        return body
    steps = shape[axis]
    if steps == 0:
        return Found()
    return _body(node, name, "body", index, repeat * steps)


def _opaque_body(node, name, index, repeat) -> Found:
    """Compute inside the body of an op the importer does not understand: listed, not modeled."""
    inner = Found()
    for attr, _ in subgraphs(node):
        inner.add(_body(node, name, attr, index, repeat))
    if not inner.macs and not inner.unmodeled:
        return Found()
    return Found(unmodeled=[Unmodeled(node.op_type, name, inner.macs or None,
                                      f"compute inside the body of a {node.op_type} node, which is not modeled")])


CONTROL = {"If": _if, "Loop": _loop, "Scan": _scan}
