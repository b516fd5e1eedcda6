"""Plans: per-layer keep fraction, weight bits, dense/sparse implementation and index format,
with the predicted cost on one hardware config. Plain dataclasses with a JSON round trip.

Build a plan from one global alpha, from a sparsity file `{"alphas": {"<layer>": 0.38, ...}}`
(layers not named stay dense), or from a pruned ONNX model's exact masks (weights != 0). A layer
runs sparse when its sparse implementation is no slower than the dense one of the same area,
i.e. when its pruning ratio reaches the break-even ratio (paper 001 section 5.1); otherwise its
weights are restored and it runs dense.

JSON: `break_even` is a number, 1.0 when sparse wins even unpruned ("always"), or null when it
never wins below r = 1000 ("never"); `index_bits` is the index storage of the layer in bits
(0 when dense), `index_width` the bits per index entry.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from codesign.errors import CodesignError
from hwmodels.arch import ConfigArray, HwConfig
from hwmodels.breakeven import break_even, speedup_curves
from hwmodels.cost import LayerArray, MaskArrays, evaluate
from hwmodels.formats import MaskStats
from hwmodels.workload import LayerShape

SCHEMA_VERSION = 1
SOURCES = ("alpha", "sparsity", "pruned")


class PlanError(CodesignError):
    """A plan, sparsity file or pruned model does not match the network."""


@dataclass(frozen=True)
class LayerPlan:
    name: str
    alpha: float
    weight_bits: int
    implementation: str          # "dense" | "sparse"
    index_format: str
    index_width: int             # bits per index entry (0 when dense)


@dataclass(frozen=True)
class LayerEvaluation:
    name: str
    alpha: float
    implementation: str
    break_even: float | None     # None = never; 1.0 = always
    speedup: float               # of the chosen implementation over dense
    sparse_speedup: float        # of the sparse implementation at this alpha
    storage_bits: float          # chosen implementation: weights (+ indices)
    index_bits: float            # chosen implementation's index storage
    dense_storage_bits: float
    latency_ns: float
    dense_latency_ns: float
    sparse_latency_ns: float | None
    cycles: float
    clock_ns: float
    energy_pj: float
    dense_energy_pj: float
    area_um2: float
    sparse_pes: float
    balance: float
    macs: int
    weights: int
    exact_mask: bool


@dataclass(frozen=True)
class PlanEvaluation:
    hw: dict[str, Any]
    layers: list[LayerEvaluation]

    @property
    def totals(self) -> dict[str, float]:
        lat = sum(l.latency_ns for l in self.layers)
        dense_lat = sum(l.dense_latency_ns for l in self.layers)
        storage = sum(l.storage_bits for l in self.layers)
        dense_storage = sum(l.dense_storage_bits for l in self.layers)
        return {
            "latency_ns": lat, "dense_latency_ns": dense_lat,
            "speedup": dense_lat / lat if lat else 1.0,
            "storage_bits": storage, "dense_storage_bits": dense_storage,
            "index_bits": sum(l.index_bits for l in self.layers),
            "compression": dense_storage / storage if storage else 1.0,
            "energy_pj": sum(l.energy_pj for l in self.layers),
            "dense_energy_pj": sum(l.dense_energy_pj for l in self.layers),
            "sparse_layers": sum(l.implementation == "sparse" for l in self.layers),
            "layers": len(self.layers),
        }


@dataclass(frozen=True)
class Plan:
    model: str
    hw_name: str
    source: str
    layers: tuple[LayerPlan, ...]
    evaluation: PlanEvaluation | None = None
    input_shape: tuple[int, ...] | None = None
    schema_version: int = field(default=SCHEMA_VERSION)

    def layer(self, name: str) -> LayerPlan:
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise PlanError(f"plan has no layer {name!r}")

    @property
    def alphas(self) -> dict[str, float]:
        return {lp.name: lp.alpha for lp in self.layers}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": self.schema_version, "model": self.model,
                               "input_shape": list(self.input_shape) if self.input_shape else None,
                               "hw_name": self.hw_name, "source": self.source}
        evals = {e.name: e for e in self.evaluation.layers} if self.evaluation else {}
        out["layers"] = [{**asdict(lp), **({k: v for k, v in asdict(evals[lp.name]).items()
                                            if k not in asdict(lp)} if lp.name in evals else {})}
                         for lp in self.layers]
        if self.evaluation is not None:
            out["hw"] = self.evaluation.hw
            out["totals"] = self.evaluation.totals
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Plan":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise PlanError(f"plan schema_version {version!r} is not supported (expected "
                            f"{SCHEMA_VERSION}); re-create the plan with `codesign plan`")
        try:
            plan_keys = [f.name for f in fields(LayerPlan)]
            eval_keys = [f.name for f in fields(LayerEvaluation)]
            layers = tuple(LayerPlan(**{k: row[k] for k in plan_keys}) for row in data["layers"])
            evaluation = None
            if "hw" in data and all(k in row for row in data["layers"] for k in eval_keys):
                evaluation = PlanEvaluation(
                    hw=dict(data["hw"]),
                    layers=[LayerEvaluation(**{k: row[k] for k in eval_keys}) for row in data["layers"]])
            shape = data.get("input_shape")
            return cls(model=data["model"], hw_name=data["hw_name"], source=data["source"],
                       layers=layers, evaluation=evaluation,
                       input_shape=tuple(shape) if shape else None)
        except (KeyError, TypeError) as exc:
            raise PlanError(f"plan JSON is missing or has a malformed field: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise PlanError(f"plan is not valid JSON: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        path = Path(path)
        if not path.is_file():
            raise PlanError(f"plan file {str(path)!r} does not exist")
        return cls.from_json(path.read_text())


# --- inputs -------------------------------------------------------------------------------
def read_sparsity_file(path: str | Path) -> dict[str, float]:
    """`{"alphas": {"<layer name>": keep fraction, ...}}`."""
    return load_sparsity(path)[0]


def load_sparsity(path: str | Path) -> tuple[dict[str, float], dict[str, int]]:
    """(alphas, weight bits) of `{"alphas": {...}, "bits": {...}}`; "bits" (bits per stored
    weight of quantized layers) is optional."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"sparsity file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlanError(f"sparsity file {str(path)!r} is not valid JSON: {exc}") from None
    alphas = data.get("alphas") if isinstance(data, dict) else None
    if not isinstance(alphas, dict):
        raise PlanError(f"sparsity file {str(path)!r} needs an object "
                        '{"alphas": {"<layer name>": 0.38, ...}}')
    bits = data.get("bits", {})
    if not isinstance(bits, dict):
        raise PlanError(f'sparsity file {str(path)!r}: "bits" must be an object {{"<layer>": 8, ...}}')
    try:
        parsed_alphas = {str(k): float(v) for k, v in alphas.items()}
    except (TypeError, ValueError):
        raise PlanError(f"sparsity file {str(path)!r}: every alpha must be a number in (0, 1]") from None
    try:
        parsed_bits = {str(k): int(v) for k, v in bits.items()}
    except (TypeError, ValueError):
        raise PlanError(f"sparsity file {str(path)!r}: every weight bit width must be an integer") from None
    return parsed_alphas, parsed_bits


def check_alphas(alphas: Mapping[str, float], shapes: Sequence[LayerShape]) -> None:
    names = {s.name for s in shapes}
    for name, a in alphas.items():
        if name not in names:
            raise PlanError(f"layer {name!r} of the sparsity plan is not in the model; layers: "
                            f"{', '.join(s.name for s in shapes[:10])}{' ...' if len(shapes) > 10 else ''}")
        if not 0 < a <= 1:
            raise PlanError(f"alpha of layer {name!r} is {a}; keep fractions must be in (0, 1]")


def check_weight_bits(bits: Mapping[str, int], shapes: Sequence[LayerShape]) -> None:
    names = {s.name for s in shapes}
    for name, b in bits.items():
        if name not in names:
            raise PlanError(f"layer {name!r} of the weight bits is not in the model")
        if not 1 <= b <= 32:
            raise PlanError(f"weight bits of layer {name!r} is {b}; use 1..32")


def mask_rows_by_output(mask: np.ndarray, shape: LayerShape, outputs_first: bool = False) -> np.ndarray:
    """The mask as (fibers, positions) with one fiber per output channel/feature.
    Conv weights are (K, C/g, ...); ConvTranspose (C, K/g, ...); Gemm with transB=1 (out, in);
    MatMul and Gemm without transB (in, out)."""
    m = np.asarray(mask)
    if shape.op == "conv":
        return m.reshape(m.shape[0], -1)
    if shape.op == "conv_transpose":
        return np.moveaxis(m, 1, 0).reshape(m.shape[1], -1)
    m = m.reshape(m.shape[0], -1)
    if outputs_first or m.shape != (shape.in_channels, shape.out_channels):
        return m
    return m.T


# --- evaluation ---------------------------------------------------------------------------
def evaluate_plan(layers: Sequence[LayerPlan], shapes: Sequence[LayerShape], hw: HwConfig,
                  masks: Mapping[str, MaskStats] | None = None) -> PlanEvaluation:
    by_name = {s.name: s for s in shapes}
    for lp in layers:
        if lp.name not in by_name:
            raise PlanError(f"plan layer {lp.name!r} is not in the model")
    ordered = [by_name[lp.name] for lp in layers]
    arr = LayerArray.from_shapes(ordered)
    cfgs = ConfigArray.from_configs([hw])
    alphas = np.array([lp.alpha for lp in layers]).reshape(1, -1, 1)
    masks = masks or {}
    mask_arrays = MaskArrays(tuple(masks.get(lp.name) for lp in layers)) if masks else None
    bits = [lp.weight_bits for lp in layers]
    res = evaluate(cfgs, arr, alphas, mask_arrays, weight_bits=bits)
    r_star = break_even(cfgs, arr, weight_bits=bits).ratio[0]
    sparse_s = res.sparse_speedup[0, :, 0]
    out = []
    for j, lp in enumerate(layers):
        sparse = lp.implementation == "sparse"
        s = ordered[j]
        pick = (lambda dense, sp: float(sp if sparse else dense))
        sp_time = float(res.sparse_time_ns[0, j, 0])
        index_bits = float(res.index_bits[0, j, 0])
        latency = pick(res.dense_mode_time_ns[0, j, 0], sp_time)
        dense_cycles, dense_clock = res.dense_cycles[0, j, 0], res.dense_clock_ns[0, j, 0]
        if res.mode == "fixed":
            # dense mode on the sparse-capable chip: the same mapping on its fewer, slower PEs
            dense_cycles = res.dense_mode_cycles[0, j, 0]
            dense_clock = res.sparse_clock_ns[0, j, 0]
        out.append(LayerEvaluation(
            name=lp.name, alpha=lp.alpha, implementation=lp.implementation,
            break_even=float(r_star[j]) if np.isfinite(r_star[j]) else None,
            speedup=float(res.dense_time_ns[0, j, 0]) / latency,
            sparse_speedup=float(sparse_s[j]),
            storage_bits=pick(res.dense_storage_bits[0, j, 0], res.sparse_storage_bits[0, j, 0]),
            index_bits=index_bits if sparse else 0.0,
            dense_storage_bits=float(res.dense_storage_bits[0, j, 0]),
            latency_ns=latency, dense_latency_ns=float(res.dense_time_ns[0, j, 0]),
            sparse_latency_ns=sp_time if np.isfinite(sp_time) else None,
            cycles=pick(dense_cycles, res.sparse_cycles[0, j, 0]),
            clock_ns=pick(dense_clock, res.sparse_clock_ns[0, j, 0]),
            energy_pj=pick(res.dense_energy_pj[0, j, 0], res.sparse_energy_pj[0, j, 0]),
            dense_energy_pj=float(res.dense_energy_pj[0, j, 0]),
            area_um2=float(res.dense_area_um2[0, j, 0]),
            sparse_pes=float(res.sparse_pes[0, j, 0]), balance=float(res.balance[0, j, 0]),
            macs=int(s.macs), weights=int(s.weight_count), exact_mask=lp.name in masks))
    return PlanEvaluation(hw=hw.to_dict(), layers=out)


def build_plan(shapes: Sequence[LayerShape], hw: HwConfig, alphas: Mapping[str, float] | float,
               model: str = "model", source: str = "alpha", masks: Mapping[str, MaskStats] | None = None,
               input_shape: tuple[int, ...] | None = None,
               weight_bits: Mapping[str, int] | None = None) -> Plan:
    """Decide dense/sparse per layer (sparse iff alpha < 1 and the sparse design is no slower)
    and evaluate. `alphas`: one keep fraction for every layer, or a mapping (others stay 1).
    `weight_bits`: bits per stored weight of quantized layers (others: the config's)."""
    if source not in SOURCES:
        raise PlanError(f"plan source {source!r} is not one of {SOURCES}")
    if isinstance(alphas, (int, float)):
        if not 0 < float(alphas) <= 1:
            raise PlanError(f"--alpha {alphas}: a keep fraction must be in (0, 1]")
        alphas = {s.name: float(alphas) for s in shapes}
    check_alphas(alphas, shapes)
    weight_bits = dict(weight_bits or {})
    check_weight_bits(weight_bits, shapes)
    masks = dict(masks or {})
    draft = [LayerPlan(s.name, float(alphas.get(s.name, 1.0)), int(weight_bits.get(s.name, hw.weight_bits)),
                       "sparse", hw.index_format, hw.index_bits) for s in shapes]
    widths, sparse_wins = _sparse_decision(shapes, hw, draft, masks)
    final = [LayerPlan(lp.name, lp.alpha, lp.weight_bits, "sparse" if sparse else "dense",
                       hw.index_format, int(width) if sparse else 0)
             for lp, width, sparse in zip(draft, widths, sparse_wins)]
    evaluation = evaluate_plan(final, shapes, hw, masks)
    return Plan(model=model, hw_name=hw.name, source=source, layers=tuple(final),
                evaluation=evaluation, input_shape=input_shape)


def _sparse_decision(shapes, hw, layers, masks) -> tuple[np.ndarray, np.ndarray]:
    """Index width per layer and whether its sparse implementation is no slower than the dense
    implementation on the same silicon (alpha = 1 stays dense)."""
    arr = LayerArray.from_shapes([{s.name: s for s in shapes}[lp.name] for lp in layers])
    alphas = np.array([lp.alpha for lp in layers]).reshape(1, -1, 1)
    mask_arrays = MaskArrays(tuple(masks.get(lp.name) for lp in layers)) if masks else None
    res = evaluate(ConfigArray.from_configs([hw]), arr, alphas, mask_arrays,
                   weight_bits=[lp.weight_bits for lp in layers])
    wins = (res.sparse_time_ns <= res.dense_mode_time_ns)[0, :, 0] & (alphas[0, :, 0] < 1.0)
    return res.index_width[0, :, 0], wins


def layer_curves(shapes: Sequence[LayerShape], hw: HwConfig,
                 ratios: Sequence[float] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-layer sparse speedup vs pruning ratio: (ratios, {layer name: speedups})."""
    r = np.geomspace(1.0, 100.0, 60) if ratios is None else np.asarray(ratios, dtype=float)
    s = speedup_curves(ConfigArray.from_configs([hw]), LayerArray.from_shapes(list(shapes)), r)[0]
    return r, {shape.name: s[j] for j, shape in enumerate(shapes)}


def quantized_bits_from_network(network, max_bits: int = 8) -> dict[str, int]:
    """Bits per stored weight of layers whose non-zero weights are quantized.

    On a uniform grid without a zero level (as pruning.quantize writes them: +-q .. +-(M/2)q,
    M = 2^n) the width is n = log2(2 k_max), k_max the largest level index used; q is the
    largest interval that puts every magnitude on the grid (the level q itself may be unused);
    otherwise a layer with at most 2^max_bits distinct values is read as a
    codebook of that many entries. Other layers keep the config's float width."""
    out = {}
    for layer in network.layers:
        if layer.weight_source == "constant_of_shape":
            continue                                 # placeholder fill: one value, not a grid
        w = network.weight(layer.name)
        if w is None:
            continue
        nonzero = np.abs(np.asarray(w, dtype=np.float64)[np.asarray(w) != 0])
        levels = np.unique(nonzero).size
        if nonzero.size < 4 or nonzero.size < 4 * levels:
            continue                                 # as many values as weights: float
        ratio = nonzero / nonzero.min()
        k_max = next((np.round(ratio * m).max() for m in range(1, 2 ** (max_bits - 1) + 1)
                      if np.allclose(ratio * m, np.round(ratio * m), rtol=0, atol=1e-3 * m)), None)
        if k_max is not None and 2 * k_max <= 2 ** max_bits:
            out[layer.name] = max(1, int(np.ceil(np.log2(2 * k_max))))
        elif 2 * levels <= 2 ** max_bits:
            out[layer.name] = max(1, int(np.ceil(np.log2(2 * levels))))
    return out


def masks_from_network(network) -> dict[str, MaskStats]:
    """Exact mask statistics of every layer whose weights hold zeros (weights != 0)."""
    out = {}
    for layer in network.layers:
        w = network.weight(layer.name)
        if w is None or w.size != layer.shape.weight_count:
            continue
        mask = np.asarray(w) != 0
        if mask.all():
            continue
        if not mask.any():
            raise PlanError(f"layer {layer.name!r} of the pruned model has only zero weights; "
                            "it cannot be evaluated (restore it or remove it)")
        outputs_first = layer.op == "gemm" and bool(layer.attributes.get("transB", 0))
        out[layer.name] = MaskStats.from_mask(mask_rows_by_output(mask, layer.shape, outputs_first))
    return out
