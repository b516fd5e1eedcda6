"""Independent MAC and weight counts for the zoo, computed from the torch modules (never from
an ONNX graph), plus recorded constants for the three real PaddleOCR models.

``independent_counts(name)`` returns a dict (a fresh copy each call; computed once per process):

    macs                total multiply-accumulates at batch 1 (convention below)
    macs_by_kind        {kind: MACs}
    ops                 one dict per multiplying op, in forward order:
                        kind, macs, module, part, weight, bias, bias_after_bn_fold, weight_shape,
                        in_shape, out_shape, groups, bn_folded, counted_by
    op_macs             [(kind, macs), ...] in forward order (the short form of ``ops``)
    weights, biases     parameters of the multiplying layers (weights / biases), each torch
                        Parameter counted once (weight sharing counted once)
    biases_after_bn_fold  the biases an exporter that folds BatchNorm into the preceding conv
                        produces (both torch exporters do): a conv followed by BN gets Cout biases
    weights_distinct_values, biases_distinct_values
                        the same counts with tensors of identical shape and values counted once:
                        what remains after the legacy exporter merges identical initializers
                        (differs from ``weights`` only for the untrained ``transformer``)
    params_total, params_embedding, params_norm, params_other, buffers
    inputs, outputs     [{name, shape, dtype}] at batch 1
    flopcounter         the cross-check with torch.utils.flop_counter.FlopCounterMode
    convention, notes

MAC convention (one multiply + one add = 1 MAC; bias adds, BN, activations, softmax, scaling,
pooling, residual adds and elementwise gate products are NOT counted):
* ConvNd:           N * out_spatial * Cout * (Cin/groups) * prod(k)   (= out_elems * Cin/g * prod(k))
* ConvTransposeNd:  N * in_spatial * Cin * (Cout/groups) * prod(k)    (every input pixel scattered
                    to every kernel tap; the same convention as FlopCounterMode)
* Linear:           tokens * in_features * out_features
* MatMul (a @ b):   out_elems * K  (attention q@k^T and attn@v, activation x activation)
* MultiheadAttention: in-projection tokens*E*3E (packed when q is k is v), q@k^T N*L*S*E,
                    attn@v N*L*S*E, out-projection tokens*E*E  (E = heads * head_dim)
* LSTM / GRU:       gate matmuls only, both the input (W) and recurrent (R) matrices:
                    N * T * directions * G * H * (I + H), G = 4 (LSTM) or 3 (GRU); no bias adds,
                    no elementwise products (c*f, i*g, r*(R h), (1-z)*n ...), no activations
* Embedding:        0 MACs (a gather); its table is counted in ``params_embedding``, not ``weights``
"""
from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
from pathlib import Path

import torch
from torch import nn

from . import models as zoo_models

CONVENTION = (
    "1 MAC = one multiply-add at batch 1. Counted: Conv (out_elems*Cin/g*prod(k)), ConvTranspose "
    "(in_elems*Cout/g*prod(k)), Linear, MatMul incl. attention q@k^T and attn@v, LSTM/GRU gate "
    "matmuls W and R (N*T*dirs*G*H*(I+H), G=4 LSTM, 3 GRU). Not counted: bias adds, BatchNorm, "
    "LayerNorm, activations, softmax, scaling, pooling, residual adds, elementwise gate products; "
    "Embedding = 0 (gather).")

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_RNN = (nn.LSTM, nn.GRU, nn.RNN)
_NORM = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
         nn.modules.instancenorm._InstanceNorm)


def _shape(t) -> list[int]:
    return list(t.shape) if isinstance(t, torch.Tensor) else []


def _entry(kind, macs, module, part="", weight=0, bias=0, weight_shape=None, in_shape=None,
           out_shape=None, groups=1, **extra):
    d = dict(kind=kind, macs=int(macs), module=module, part=part, weight=int(weight),
             bias=int(bias), bias_after_bn_fold=int(bias), weight_shape=weight_shape,
             in_shape=in_shape, out_shape=out_shape, groups=int(groups), bn_folded=0,
             counted_by="analytic")
    d.update(extra)
    return d


def _mha_entries(m: nn.MultiheadAttention, name: str, args, kwargs, out) -> list[dict]:
    q = args[0] if len(args) > 0 else kwargs["query"]
    k = args[1] if len(args) > 1 else kwargs["key"]
    v = args[2] if len(args) > 2 else kwargs["value"]
    e, h = m.embed_dim, m.num_heads
    if q.dim() == 3:
        n = q.shape[0] if m.batch_first else q.shape[1]
    else:
        n = 1
    nq, nk = q.numel() // e, k.numel() // m.kdim
    lq, s = nq // n, nk // n
    ents = []
    if m._qkv_same_embed_dim and q is k and k is v:
        ents.append(_entry("linear", nq * e * 3 * e, name, "in_proj", m.in_proj_weight.numel(),
                           0 if m.in_proj_bias is None else m.in_proj_bias.numel(),
                           _shape(m.in_proj_weight), _shape(q), [*_shape(q)[:-1], 3 * e]))
    else:
        bias = [0, 0, 0] if m.in_proj_bias is None else [e, e, e]
        ws = ([m.in_proj_weight[:e], m.in_proj_weight[e:2 * e], m.in_proj_weight[2 * e:]]
              if m._qkv_same_embed_dim else [m.q_proj_weight, m.k_proj_weight, m.v_proj_weight])
        for part, x, w, b, toks, din in (("q_proj", q, ws[0], bias[0], nq, e),
                                          ("k_proj", k, ws[1], bias[1], nk, m.kdim),
                                          ("v_proj", v, ws[2], bias[2], nk, m.vdim)):
            ents.append(_entry("linear", toks * din * e, name, part, w.numel(), b, _shape(w),
                               _shape(x), [*_shape(x)[:-1], e]))
    dh = e // h
    ents.append(_entry("matmul", n * h * lq * s * dh, name, "qk", in_shape=[n, h, lq, dh],
                       out_shape=[n, h, lq, s]))
    ents.append(_entry("matmul", n * h * lq * s * dh, name, "av", in_shape=[n, h, lq, s],
                       out_shape=[n, h, lq, dh]))
    ob = 0 if m.out_proj.bias is None else m.out_proj.bias.numel()
    ents.append(_entry("linear", nq * e * e, name, "out_proj", m.out_proj.weight.numel(), ob,
                       _shape(m.out_proj.weight), [*_shape(q)[:-1], e], [*_shape(q)[:-1], e]))
    return ents


def _rnn_entries(m: nn.RNNBase, name: str, args, out) -> list[dict]:
    x = args[0]
    if not isinstance(x, torch.Tensor):
        raise NotImplementedError("PackedSequence input is not counted")
    if getattr(m, "proj_size", 0):
        raise NotImplementedError("LSTM proj_size is not counted")
    kind = {nn.LSTM: "lstm", nn.GRU: "gru"}.get(type(m), "rnn")
    g = {"lstm": 4, "gru": 3}.get(kind, 1)
    if x.dim() == 3:
        n, t = (x.shape[0], x.shape[1]) if m.batch_first else (x.shape[1], x.shape[0])
    else:
        n, t = 1, x.shape[0]
    dirs = 2 if m.bidirectional else 1
    hsz = m.hidden_size
    ents = []
    for layer in range(m.num_layers):
        isz = m.input_size if layer == 0 else hsz * dirs
        sfx = [f"_l{layer}"] + ([f"_l{layer}_reverse"] if dirs == 2 else [])
        w_ih = sum(getattr(m, "weight_ih" + s).numel() for s in sfx)
        w_hh = sum(getattr(m, "weight_hh" + s).numel() for s in sfx)
        b = sum(getattr(m, bn + s).numel() for s in sfx for bn in ("bias_ih", "bias_hh")) \
            if m.bias else 0
        mac_in = n * t * dirs * g * hsz * isz
        mac_rec = n * t * dirs * g * hsz * hsz
        ents.append(_entry(kind, mac_in + mac_rec, name, f"layer{layer}", w_ih + w_hh, b,
                           [dirs, g * hsz, isz + hsz], [n, t, isz], [n, t, dirs * hsz],
                           macs_input=mac_in, macs_recurrent=mac_rec, weight_input=w_ih,
                           weight_recurrent=w_hh, seq_len=int(t), directions=dirs,
                           hidden=hsz, gates=g))
    return ents


def trace_ops(module: nn.Module, inputs: tuple) -> tuple[list[dict], list[dict]]:
    """Run ``module(*inputs)`` once with forward hooks; return (multiplying ops, gathers)."""
    ops: list[dict] = []
    gathers: list[dict] = []
    produced: dict[int, list[int]] = {}  # id(output tensor) -> indices of the op entries
    keep: list = []
    names = {m: n for n, m in module.named_modules()}
    handles = []

    def add(ents, out):
        idx = []
        for e in ents:
            e["index"] = len(ops)
            idx.append(len(ops))
            ops.append(e)
        if isinstance(out, torch.Tensor):
            produced[id(out)] = idx
            keep.append(out)

    def hook(mod, args, kwargs, out):
        name = names[mod]
        if isinstance(mod, _CONV):
            x = args[0]
            macs = out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
            kind = f"conv{len(mod.kernel_size)}d"
        elif isinstance(mod, _CONVT):
            x = args[0]
            macs = x.numel() * (mod.out_channels // mod.groups) * math.prod(mod.kernel_size)
            kind = f"conv_transpose{len(mod.kernel_size)}d"
        elif isinstance(mod, nn.Linear):
            x = args[0]
            macs = (x.numel() // mod.in_features) * mod.in_features * mod.out_features
            kind = "linear"
        elif isinstance(mod, zoo_models.MatMul):
            a, b = args
            add([_entry("matmul", out.numel() * a.shape[-1], name, in_shape=_shape(a),
                        out_shape=_shape(out), b_shape=_shape(b))], out)
            return
        elif isinstance(mod, nn.MultiheadAttention):
            add(_mha_entries(mod, name, args, kwargs, out), out[0] if isinstance(out, tuple) else out)
            return
        elif isinstance(mod, _RNN):
            add(_rnn_entries(mod, name, args, out), None)
            return
        elif isinstance(mod, nn.Embedding):
            gathers.append(dict(kind="embedding", module=name, params=mod.weight.numel(),
                                in_shape=_shape(args[0]), out_shape=_shape(out), macs=0))
            return
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            src = produced.get(id(args[0]))
            if src and len(src) == 1 and ops[src[0]]["kind"].startswith("conv"):
                e = ops[src[0]]
                e["bn_folded"] = mod.num_features
                e["bias_after_bn_fold"] = mod.num_features
            return
        else:
            return
        b = 0 if mod.bias is None else mod.bias.numel()
        add([_entry(kind, macs, name, "", mod.weight.numel(), b, _shape(mod.weight), _shape(x),
                    _shape(out), getattr(mod, "groups", 1))], out)

    hooked = _CONV + _CONVT + _RNN + (nn.Linear, zoo_models.MatMul, nn.MultiheadAttention,
                                      nn.Embedding, nn.modules.batchnorm._BatchNorm)
    inside_mha = {sub for m in module.modules() if isinstance(m, nn.MultiheadAttention)
                  for sub in m.modules() if sub is not m}
    for m in module.modules():
        if isinstance(m, hooked) and m not in inside_mha:
            handles.append(m.register_forward_hook(hook, with_kwargs=True))
    try:
        module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return ops, gathers


def _flopcounter(module: nn.Module, inputs: tuple, ops: list[dict]) -> dict:
    """Cross-check every op entry against FlopCounterMode (flops / 2), module by module."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, depth=None) as fc:
        module(*inputs)
    counts = fc.get_flop_counts()
    total = fc.get_total_flops() // 2
    prefix = type(module).__name__
    groups: dict[str, list[dict]] = {}
    for e in ops:
        groups.setdefault(e["module"], []).append(e)
    per_module, disagree, not_covered = {}, [], []
    covered_sum = 0
    for mod_name, ents in groups.items():
        key = f"{prefix}.{mod_name}" if mod_name else prefix
        fc_macs = sum(counts.get(key, {}).values()) // 2
        analytic = sum(e["macs"] for e in ents)
        match = None  # the largest subset of entries FlopCounter accounts for exactly
        for r in range(len(ents), -1, -1):
            for sub in itertools.combinations(range(len(ents)), r):
                if sum(ents[i]["macs"] for i in sub) == fc_macs:
                    match = set(sub)
                    break
            if match is not None:
                break
        if match is None:
            disagree.append({"module": mod_name, "flopcounter": fc_macs, "analytic": analytic})
            match = set()
        for i, e in enumerate(ents):
            if i in match:
                e["counted_by"] = "flopcounter+analytic"
                covered_sum += e["macs"]
            else:
                not_covered.append({"module": mod_name, "part": e["part"], "kind": e["kind"],
                                    "macs": e["macs"]})
        per_module[mod_name] = {"flopcounter": fc_macs, "analytic": analytic}
    unattributed = total - covered_sum
    return {
        "total_macs": total,
        "by_op": {str(k): v // 2 for k, v in counts.get("Global", {}).items()},
        "covered_macs": covered_sum,
        "not_covered": not_covered,
        "not_covered_macs": sum(x["macs"] for x in not_covered),
        "disagree": disagree,
        "unattributed_macs": unattributed,
        "agree": not disagree and unattributed == 0,
        "per_module": per_module,
    }


def _digest(t: torch.Tensor) -> tuple:
    a = t.detach().contiguous().cpu()
    return (tuple(a.shape), str(a.dtype), hashlib.sha1(a.numpy().tobytes()).hexdigest())


def _param_stats(module: nn.Module) -> dict:
    weights, biases, emb, norm = {}, {}, {}, {}
    for m in module.modules():
        if isinstance(m, _CONV + _CONVT + (nn.Linear,)) and not isinstance(
                m, nn.modules.linear.NonDynamicallyQuantizableLinear):
            weights[id(m.weight)] = m.weight
            if m.bias is not None:
                biases[id(m.bias)] = m.bias
        elif isinstance(m, nn.MultiheadAttention):
            for p in (m.in_proj_weight, m.q_proj_weight, m.k_proj_weight, m.v_proj_weight,
                      m.out_proj.weight):
                if p is not None:
                    weights[id(p)] = p
            for p in (m.in_proj_bias, m.out_proj.bias, m.bias_k, m.bias_v):
                if p is not None:
                    biases[id(p)] = p
        elif isinstance(m, _RNN):
            for n, p in m.named_parameters(recurse=False):
                (weights if n.startswith("weight") else biases)[id(p)] = p
        elif isinstance(m, nn.Embedding):
            emb[id(m.weight)] = m.weight
        elif isinstance(m, _NORM):
            for p in m.parameters(recurse=False):
                norm[id(p)] = p
    allp = {id(p): p for p in module.parameters()}
    other = {k: p for k, p in allp.items() if k not in weights and k not in biases
             and k not in emb and k not in norm}
    buffers = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))

    def n(d):
        return sum(p.numel() for p in d.values())

    def distinct(d):
        seen = {}
        for p in d.values():
            seen.setdefault(_digest(p), p.numel())
        return sum(seen.values())

    return dict(weights=n(weights), biases=n(biases), weights_distinct_values=distinct(weights),
                biases_distinct_values=distinct(biases), params_total=n(allp),
                params_embedding=n(emb), params_norm=n(norm), params_other=n(other),
                buffers=buffers)


def _spec(names, tensors) -> list[dict]:
    return [{"name": nm, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
            for nm, t in zip(names, tensors)]


@functools.lru_cache(maxsize=None)
def _compute(name: str) -> dict:
    torch.set_num_threads(1)
    module, inputs = zoo_models.build(name)
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused path would bypass the hooks
    try:
        with torch.no_grad():
            ops, gathers = trace_ops(module, inputs)
            fc = _flopcounter(module, inputs, ops)
            out = module(*inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    by_kind: dict[str, int] = {}
    for e in ops:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + e["macs"]
    stats = _param_stats(module)
    # BN folding turns (bias-less conv + BN) into a conv with Cout biases
    folded_extra = sum(e["bn_folded"] - e["bias"] for e in ops if e["bn_folded"])
    notes = []
    if any(e["bn_folded"] for e in ops):
        notes.append("every BatchNorm follows a conv; both torch exporters fold it into that conv "
                     "(eval mode), so the ONNX convs carry biases_after_bn_fold biases and no "
                     "BatchNormalization node remains")
    if stats["weights_distinct_values"] != stats["weights"]:
        notes.append("layers hold identical values (untrained copies): the legacy exporter merges "
                     "identical initializers (one tensor feeds several nodes, through Identity "
                     "nodes), leaving weights_distinct_values unique weight elements; the dynamo "
                     "exporter (torch 2.13 / onnxscript 0.7.2) merges identical biases and "
                     "untransposed weights but keeps the constant-folded transposed MatMul "
                     "weights apart")
    if fc["not_covered"]:
        kinds = sorted({f"{x['kind']}:{x['part'] or x['module']}" for x in fc["not_covered"]})
        notes.append("FlopCounterMode does not see " + ", ".join(kinds)
                     + f" ({fc['not_covered_macs']} MACs): counted analytically only")
    return {
        "name": name,
        "macs": sum(e["macs"] for e in ops),
        "macs_by_kind": by_kind,
        "ops": ops,
        "op_macs": [(e["kind"], e["macs"]) for e in ops],
        "gathers": gathers,
        **stats,
        "biases_after_bn_fold": stats["biases"] + folded_extra,
        "inputs": _spec(zoo_models.input_names(name), inputs),
        "outputs": _spec(["output"], [out]),
        "flopcounter": fc,
        "convention": CONVENTION,
        "notes": notes,
    }


# ------------------------------------------------------------------ PaddleOCR (rapidocr 1.4.4)
OCR_METHOD = (
    "onnx-tool 1.0.1 (PyPI), in a separate venv (/tmp/onnxtool_venv), run once by "
    "tests/zoo/ocr_onnxtool_count.py on 2026-12-01: shape inference at the listed input shape, "
    "per-node profile; only Conv/ConvTranspose/Gemm/MatMul summed; onnx-tool's one-MAC-per-"
    "output-element bias add subtracted for every node with a bias input; ConvTranspose "
    "recounted as N*Hin*Win*Cin*(Cout/g)*kH*kW from onnx-tool's shapes (onnx-tool 1.0.1 uses "
    "out_elems*(Cout/g)*k*k). Cross-checked: the same totals come out of torch FlopCounterMode "
    "on onnx2torch 1.5.15 conversions of all three graphs (rec after ORT basic constant folding), "
    "exactly equal.")

_OCR_JSON = Path(__file__).with_name("ocr_counts.json")

OCR_COUNTS = {
    # key: input, MACs at that input (batch 1), multiplying-layer weights / biases
    "det": {"file": "ch_PP-OCRv4_det_infer.onnx",
            "input": {"name": "x", "shape": (1, 3, 640, 640), "dtype": "float32"},
            "macs": 2_301_935_744,
            "macs_by_kind": {"Conv": 2_233_122_944, "ConvTranspose": 68_812_800},
            "n_multiplying_nodes": 64,  # 62 Conv + 2 ConvTranspose
            "weights": 1_164_320, "biases": 7_041,
            "onnx_tool_macs_multiplying_nodes": 2_486_967_464,
            "onnx_tool_bias_adds_subtracted": 16_276_520,
            "onnx_tool_macs_all_nodes": 2_842_102_576},
    "rec": {"file": "ch_PP-OCRv4_rec_infer.onnx",
            "input": {"name": "x", "shape": (1, 3, 48, 320), "dtype": "float32"},
            "macs": 702_469_440,
            "macs_by_kind": {"Conv": 660_685_440, "MatMul": 41_016_000,
                             "MatMul(act x act)": 768_000},
            "n_multiplying_nodes": 51,  # 38 Conv + 13 MatMul (4 of them activation x activation)
            "weights": 2_669_672, "biases": 15_813,
            "onnx_tool_macs_multiplying_nodes": 707_838_660,
            "onnx_tool_bias_adds_subtracted": 5_369_220,
            "onnx_tool_macs_all_nodes": 789_623_880},
    "cls": {"file": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            "input": {"name": "x", "shape": (1, 3, 48, 192), "dtype": "float32"},
            "macs": 16_315_376,
            "macs_by_kind": {"Conv": 16_314_976, "MatMul": 400},
            "n_multiplying_nodes": 54,  # 53 Conv + 1 MatMul
            "weights": 124_072, "biases": 1_012,  # biases: all written as separate Add nodes
            "onnx_tool_macs_multiplying_nodes": 16_315_376,
            "onnx_tool_bias_adds_subtracted": 0,
            "onnx_tool_macs_all_nodes": 39_200_726},
}


def ocr_counts(key: str) -> dict:
    """Recorded counts for ``det``/``rec``/``cls`` (also ``ocr_det`` ...), with the per-node
    ``op_macs`` list (onnx-tool's topological order) read from ocr_counts.json."""
    key = key.removeprefix("ocr_")
    d = copy.deepcopy(OCR_COUNTS[key])
    per = json.loads(_OCR_JSON.read_text())[key]
    d["op_macs"] = [tuple(x) for x in per["per_node"]]
    d["method"] = OCR_METHOD
    d["convention"] = CONVENTION
    return d


def independent_counts(name: str) -> dict:
    """Counts for a zoo model (see module doc), or for ``ocr_det``/``ocr_rec``/``ocr_cls``."""
    if name.startswith("ocr_"):
        return ocr_counts(name)
    return copy.deepcopy(_compute(name))
