"""Plans: per layer the keep fraction alpha, the sparsity pattern and the stored weight width,
the implementation the hardware chooses (hwmodels.decide: sparse exactly when it is no slower
than the dense implementation on the same hardware) and its predicted cost.

Sparsity files are read here and nowhere else (`read_sparsity`): a JSON object

    {"schema_version": 2, "alphas": {"<layer>": 0.38, ...},
     "patterns": {"<layer>": "2:4", ...}, "bits": {"<layer>": 8, ...}}

where every part is optional and layers not named stay dense at the hardware's weight width
(an N:M layer's alpha defaults to N/M). `codesign plan --json` writes the same keys (for the
layers that run sparse), so a plan feeds back as --sparsity, --alphas or --initial.

JSON names: a width is `*_width_bits` or `weight_bits` (bits per stored weight); a total is
`*_bits_total`. `break_even` is a number, 1.0 when sparse wins even unpruned ("always"), or
inf when it never wins below r = 1000 ("never"; JSON has no inf and writes null, as it always has:
codesign.report.model.never_to_json).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from codesign import arguments
from codesign.errors import CodesignError
from codesign.keep_fraction import KEEP_FRACTION_RANGE, is_keep_fraction
from codesign.report.model import Curve, RStar, never_from_json, never_to_json
from codesign.results import Record
from hwmodels import decide, formats, uncertainty
from hwmodels.configs import ConfigArray, single
from hwmodels.cost import MaskArrays, baseline, evaluate
from hwmodels.formats import MaskStats
from hwmodels.spec import HardwareSpec
from hwmodels.ties import first_min
from hwmodels.workload import LayerArray, LayerShape, Structure
from pruning.errors import PruningError
from pruning.patterns import Pattern, parse_pattern
from pruning.ranges import WEIGHT_BITS
from pruning.safe_files import write_file

SCHEMA_VERSION = 2
SOURCES = ("alpha", "sparsity", "pruned", "search")
MAX_FILE_BYTES = 32 << 20
ALPHA_TOLERANCE = 0.02           # an N:M layer's alpha may differ from N/M by this much


class PlanError(CodesignError):
    """A plan, sparsity file or pruned model does not match the network."""


def structure_of(pattern: Pattern) -> Structure:
    """The hardware's view of a pattern: the one conversion across the wall."""
    if pattern.kind == "nm":
        return Structure(nm_keep=pattern.n, nm_group=pattern.m)
    if pattern.kind == "block":
        return Structure(block_out=pattern.k, block_in=pattern.l)
    return Structure(channel=pattern.kind == "channel")


# --- sparsity files -----------------------------------------------------------------------
def _name_list(names: Sequence[str], limit: int = 8) -> str:
    shown = [n if len(n) <= 40 else n[:37] + "..." for n in names[:limit]]
    return ", ".join(shown) + (" ..." if len(names) > limit else "")


@dataclass(frozen=True)
class Sparsity:
    """What is asked of each layer: keep fraction, pattern and stored weight width."""
    alphas: Mapping[str, float] = field(default_factory=dict)
    patterns: Mapping[str, Pattern] = field(default_factory=dict)
    bits: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str = "sparsity") -> "Sparsity":
        if not isinstance(data, dict):
            raise PlanError(f"{where}: expected a JSON object {{\"alphas\": {{...}}, \"patterns\": "
                            "{...}, \"bits\": {...}}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version not in (1, SCHEMA_VERSION):
            raise PlanError(f"{where}: schema_version {version!r} is not supported (expected "
                            f"{SCHEMA_VERSION}); re-create it with `codesign plan --json`")
        parts = {}
        for part in ("alphas", "patterns", "bits"):
            value = data.get(part, {})
            if not isinstance(value, dict):
                raise PlanError(f"{where}: \"{part}\" must be an object {{\"<layer>\": ...}}")
            parts[part] = value
        if not any(parts.values()):
            raise PlanError(f"{where}: names no layer; give \"alphas\", \"patterns\" or \"bits\" as "
                            '{"<layer>": value}')
        alphas = {}
        for name, value in parts["alphas"].items():
            if not is_keep_fraction(value):
                raise PlanError(f"{where}: alpha of layer {str(name)[:60]!r} is {str(value)[:20]}; a "
                                f"keep fraction is a number in {KEEP_FRACTION_RANGE}")
            alphas[str(name)] = float(value)
        patterns = {}
        for name, value in parts["patterns"].items():
            try:
                patterns[str(name)] = parse_pattern(value)
            except PruningError as exc:
                raise PlanError(f"{where}: layer {str(name)[:60]!r}: {exc}") from None
        bits = {}
        for name, value in parts["bits"].items():
            if isinstance(value, bool) or not isinstance(value, int) or value not in WEIGHT_BITS:
                raise PlanError(f"{where}: weight bits of layer {str(name)[:60]!r} is "
                                f"{str(value)[:20]}; use an integer in {WEIGHT_BITS.interval}")
            bits[str(name)] = int(value)
        for name, p in patterns.items():
            if p.kind == "nm" and name in alphas and abs(alphas[name] - p.n / p.m) > ALPHA_TOLERANCE:
                raise PlanError(f"{where}: layer {name[:60]!r} has pattern {p} (alpha {p.n / p.m:g}) "
                                f"but alpha {alphas[name]:g}; drop the alpha or make them agree")
        return cls(alphas, patterns, bits)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "alphas": dict(self.alphas),
                "patterns": {k: str(v) for k, v in self.patterns.items()}, "bits": dict(self.bits)}

    def check(self, shapes: Sequence[LayerShape]) -> None:
        known = {s.name: s for s in shapes}
        for part in (self.alphas, self.patterns, self.bits):
            for name in part:
                if name not in known:
                    raise PlanError(f"layer {name[:60]!r} of the sparsity plan is not in the model; "
                                    f"layers: {_name_list([s.name for s in shapes])}")
                if not known[name].prunable and (name in self.alphas or name in self.patterns):
                    raise PlanError(f"layer {name[:60]!r} multiplies two activations: it has no "
                                    "weight to prune")

    def alpha_of(self, name: str) -> float:
        if name in self.alphas:
            return self.alphas[name]
        p = self.patterns.get(name)
        return p.n / p.m if p is not None and p.kind == "nm" else 1.0

    def pattern_of(self, name: str) -> Pattern:
        return self.patterns.get(name, Pattern())


def read_sparsity(source: str | Path | Mapping) -> Sparsity:
    """The one reader of sparsity and plan files (a path, or an already parsed mapping)."""
    if isinstance(source, Mapping):
        return Sparsity.from_dict(dict(source))
    path = Path(source)
    where = f"sparsity file {str(path)[:200]!r}"
    if not path.is_file():
        raise PlanError(f"{where} does not exist (or is not a file)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PlanError(f"{where} is larger than {MAX_FILE_BYTES >> 20} MB; a sparsity plan is small")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanError(f"{where} is not UTF-8 JSON text") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"{where} is not valid JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:        # deep nesting; integers of > 4,300 digits
        raise PlanError(f"{where} cannot be read as a sparsity plan ({type(exc).__name__})") from None
    return Sparsity.from_dict(data, where)


def uniform_sparsity(shapes: Sequence[LayerShape], alpha: float, pattern: Pattern | None = None) -> Sparsity:
    """One keep fraction (and pattern) for every prunable layer."""
    if not is_keep_fraction(alpha):
        raise PlanError(f"--alpha {alpha}: a keep fraction must be in {KEEP_FRACTION_RANGE}")
    names = [s.name for s in shapes if s.prunable]
    patterns = {n: pattern for n in names} if pattern is not None and pattern.kind != "unstructured" else {}
    return Sparsity({n: float(alpha) for n in names}, patterns, {})


# --- plans ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Design:
    """What an architect asks of one design: its PE count, PE area, clock and total area."""
    pes: float
    pe_area_um2: float
    clock_ns: float
    area_um2: float


@dataclass(frozen=True)
class LayerPlan:
    name: str
    op: str
    prunable: bool
    alpha: float                    # planned keep fraction
    pattern: str
    weight_bits: int                # bits per stored weight
    implementation: str             # "dense" | "sparse"
    deployed_alpha: float           # 1.0 when the layer runs dense (weights restored)
    break_even: RStar               # r*; inf = never, 1.0 = always
    speedup: float                  # of the chosen implementation over the dense baseline
    sparse_speedup: float           # dense-mode time / sparse time on the same hardware
    latency_ns: float
    dense_latency_ns: float
    sparse_latency_ns: float | None
    cycles: float
    clock_ns: float
    weight_bits_total: float        # the chosen implementation's stored weights (padding incl.)
    index_bits_total: float         # its indices / metadata / pointers
    feature_bits_total: float       # input + output features (+ biases)
    dense_weight_bits_total: float  # all weights at the stored width
    index_format: str
    index_width_bits: int           # of the chosen implementation (0 when dense)
    smallest_index_width_bits: int | None    # relative format: the width of least storage
    smallest_storage_bits_total: float | None   # weights + indices at that width
    huffman_index_bits_total: float | None   # storage only: Huffman-coded relative index
    energy_pj: float
    dense_energy_pj: float
    balance: float
    macs: int
    weights: int
    exact_mask: bool
    designs: dict[str, dict[str, float]]
    note: str = ""
    break_even_range: list[RStar] | None = None
    speedup_range: list[float] | None = None
    decision_agreement: float | None = None

    @property
    def sparse(self) -> bool:
        return self.implementation == "sparse"


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True)
class Plan:
    model: str
    hardware: dict[str, Any]
    source: str
    layers: tuple[LayerPlan, ...]
    totals: PlanTotals
    input_shape: tuple[int, ...] | None = None
    coverage: dict[str, Any] | None = None
    uncertainty: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION
    spec: HardwareSpec | None = field(default=None, repr=False, compare=False)   # for reports
    shapes: tuple[LayerShape, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def hw_name(self) -> str:
        return str(self.hardware.get("name", "custom"))

    def layer(self, name: str) -> LayerPlan:
        arguments.text("name", name)
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise PlanError(f"plan has no layer {name!r}")

    @property
    def sparsity(self) -> Sparsity:
        """The deployed plan as a sparsity file: alphas and patterns of the layers that run
        sparse, bits of the quantized ones."""
        sparse = [lp for lp in self.layers if lp.sparse]
        return Sparsity({lp.name: lp.deployed_alpha for lp in sparse},
                        {lp.name: parse_pattern(lp.pattern) for lp in sparse if lp.pattern != "unstructured"},
                        {lp.name: lp.weight_bits for lp in self.layers
                         if lp.weight_bits != self.hardware["architecture"]["weight_bits"]})

    @property
    def alphas(self) -> dict[str, float]:
        return {lp.name: lp.deployed_alpha for lp in self.layers}

    def to_dict(self) -> dict[str, Any]:
        out = {"schema_version": self.schema_version, "model": self.model,
               "input_shape": list(self.input_shape) if self.input_shape else None,
               "hardware": self.hardware, "source": self.source}
        out.update({k: v for k, v in self.sparsity.to_dict().items() if k != "schema_version"})
        out["layers"] = [never_to_json(asdict(lp)) for lp in self.layers]
        out["totals"] = self.totals.to_dict()
        if self.coverage is not None:
            out["coverage"] = self.coverage
        if self.uncertainty is not None:
            out["uncertainty"] = self.uncertainty
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Plan":
        """The plan of `to_dict()`'s output (a plan.json), without the hardware objects a report
        draws curves with."""
        return cls(model=data["model"], hardware=data["hardware"], source=data["source"],
                   layers=tuple(LayerPlan(**never_from_json(row)) for row in data["layers"]),
                   totals=PlanTotals.from_dict(data["totals"]),
                   input_shape=tuple(data["input_shape"]) if data.get("input_shape") else None,
                   coverage=data.get("coverage"), uncertainty=data.get("uncertainty"),
                   schema_version=data["schema_version"])

    def to_json(self, indent: int | None = 1) -> str:
        arguments.whole("indent", indent, arguments.INDENT, optional=True)
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, default=_json_default)

    def save(self, path: str | Path, within: str | Path | None = None) -> Path:
        """The plan's JSON at `path` (`within`: the run folder it goes in; pruning.safe_files)."""
        return write_file(arguments.output_file("path", path), self.to_json(),
                          within=arguments.path("within", within, optional=True))

    def report(self, out_dir: str | Path, *, title: str | None = None,
               meta: Mapping[str, str] | None = None, notes=()) -> dict[str, Path]:
        """Write the plan's report (HTML, Markdown, plan.json, layers.csv, figures) to out_dir."""
        from codesign.report import plan_report, render
        out_dir = arguments.report_dir("out_dir", out_dir)
        title = arguments.text("title", title, optional=True)
        meta, notes = arguments.text_fields("meta", meta), arguments.paragraphs("notes", notes)
        return render(plan_report(self, curves=layer_curves(self), title=title, meta=meta, notes=notes),
                      out_dir)

    def to_csv(self, path: str | Path) -> Path:
        path = arguments.output_file("path", path)
        rows = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                 for k, v in never_to_json(asdict(lp)).items()}
                for lp in self.layers]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return write_file(path, buf.getvalue())


CURVE_RATIOS = np.geomspace(1.0, 100.0, 41)
CURVE_LAYERS = 6


def layer_curves(plan: Plan) -> list[Curve]:
    """Speedup-vs-r of the plan's layers with the most dense latency, with their own
    structures, on the plan's hardware (what a report draws; reports never compute costs)."""
    if plan.spec is None or plan.shapes is None:
        return []
    rows = sorted([l for l in plan.layers if l.prunable], key=lambda l: -l.dense_latency_ns)[:CURVE_LAYERS]
    if not rows:
        return []
    shapes = {s.name: s for s in plan.shapes}
    layers = LayerArray.from_shapes([shapes[r.name] for r in rows], [r.weight_bits for r in rows],
                                    [structure_of(parse_pattern(r.pattern)) for r in rows])
    s = decide.speedup_curves(single(plan.spec), layers, CURVE_RATIOS)[0]
    return [Curve(r.name, CURVE_RATIOS.tolist(), s[j].tolist(), r.break_even, 1.0 / r.alpha)
            for j, r in enumerate(rows)]


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)


def _design(d, c: int, j: int, a: int) -> dict[str, float]:
    pick = lambda arr: float(np.broadcast_to(arr, d.time_ns.shape)[c, j, a])   # noqa: E731
    return asdict(Design(pick(d.pes), pick(d.pe_area_um2), pick(d.clock_ns), pick(d.area_um2)))


def _masks(layers: Sequence[str], masks: Mapping[str, MaskStats]) -> MaskArrays | None:
    return MaskArrays(tuple(masks.get(n) for n in layers)) if masks else None


def _smallest_width(hw: HardwareSpec, layers: LayerArray, alphas, masks) -> tuple[np.ndarray, np.ndarray]:
    """Per layer, the relative index width of least storage and that storage (weights +
    indices, padding entries included), with the plan's structure and masks (other formats
    have no free width)."""
    widths = list(formats.WIDTH_CANDIDATES)
    cfgs = ConfigArray.from_base(hw.replace(index_width_policy="fixed"),
                                 {"index_width_bits": widths}, where="smallest width")
    costs = evaluate(cfgs, layers, alphas, masks, energy=False)
    total = costs.storage.total_bits[:, :, 0]
    best = first_min(total, axis=0)            # a tie keeps the narrower width
    cols = np.arange(total.shape[1])
    return np.asarray(widths)[best], total[best, cols]


def _huffman(shape: LayerShape, alpha: float, width: int, stats: MaskStats | None) -> float:
    """Huffman-coded relative index of an unstructured layer (storage only) + its pointers."""
    counts = (stats.code_counts(width) if stats is not None
              else formats.relative_code_counts(alpha, width, shape.weight_count * alpha))
    entries = counts.sum()
    return formats.huffman_bits(counts) + shape.out_channels * float(formats.ceil_log2(entries + 1))


def build_plan(shapes: Sequence[LayerShape], hw: HardwareSpec, sparsity: Sparsity | float | Mapping,
               *, model: str = "model", source: str = "sparsity",
               masks: Mapping[str, MaskStats] | None = None, input_shape: tuple[int, ...] | None = None,
               coverage: Mapping[str, Any] | None = None, model_bits: Mapping[str, int] | None = None,
               samples: int = 0, seed: int = 0) -> Plan:
    """Evaluate a sparsity plan layer by layer. `sparsity`: a Sparsity, one alpha for every
    layer, or a mapping read as a sparsity file. `masks`: exact statistics of pruned layers.
    `model_bits`: the model's own stored width per layer (default 32: float weights).
    `samples` > 0 propagates the hardware's uncertainty ranges with that many samples."""
    if source not in SOURCES:
        raise PlanError(f"plan source {source!r} is not one of {SOURCES}")
    if not shapes:
        raise PlanError("the model has no compute layer to plan")
    sparsity = _checked_sparsity(shapes, sparsity)
    masks = dict(masks or {})
    ev = _evaluate(shapes, hw, sparsity, masks)
    band = _uncertainty(hw, ev, samples, seed) if samples else None
    rows = tuple(_layer_plan(ev, j, hw, masks, band) for j in range(len(shapes)))
    totals = plan_totals(rows, hw, model_bits, coverage=coverage, band=band)
    return Plan(model=model, hardware=hw.to_dict(), source=source, layers=rows, totals=totals,
                spec=hw, shapes=tuple(shapes),
                input_shape=tuple(input_shape) if input_shape else None,
                coverage=dict(coverage) if coverage is not None else None,
                uncertainty=None if band is None else {"samples": samples, "seed": seed,
                                                       "quantiles": list(uncertainty.QUANTILES),
                                                       "stable_agreement": uncertainty.STABLE})


def _checked_sparsity(shapes: Sequence[LayerShape], sparsity: Sparsity | float | Mapping) -> Sparsity:
    """The plan's sparsity as a Sparsity whose layers are the model's."""
    if isinstance(sparsity, (int, float)) and not isinstance(sparsity, bool):
        sparsity = uniform_sparsity(shapes, float(sparsity))
    elif not isinstance(sparsity, Sparsity):
        sparsity = read_sparsity(sparsity)
    sparsity.check(shapes)
    return sparsity


@dataclass(frozen=True)
class _Evaluated:
    """Every layer of a plan costed on one hardware config (arrays indexed by layer)."""
    shapes: Sequence[LayerShape]
    patterns: list[Pattern]
    alphas: list[float]
    layers: LayerArray
    alpha_array: np.ndarray             # (1, L, 1)
    mask_arrays: MaskArrays | None
    costs: Any                          # hwmodels.cost.Costs
    runs: np.ndarray                    # runs sparse
    speed: np.ndarray
    sparse_speed: np.ndarray
    r_star: np.ndarray
    smallest_width: np.ndarray | None   # relative index format only
    smallest_bits: np.ndarray | None


def _evaluate(shapes: Sequence[LayerShape], hw: HardwareSpec, sparsity: Sparsity,
              masks: Mapping[str, MaskStats]) -> _Evaluated:
    """Costs of the dense and sparse designs of every layer, the one dense/sparse decision,
    speedups, r*, and (relative index format) each layer's index width of least storage."""
    names = [s.name for s in shapes]
    patterns = [sparsity.pattern_of(n) for n in names]
    bits = [sparsity.bits.get(n, float("nan")) for n in names]
    alpha_list = [sparsity.alpha_of(n) for n in names]
    layers = LayerArray.from_shapes(shapes, bits, [structure_of(p) for p in patterns])
    alphas = np.asarray(alpha_list, dtype=float).reshape(1, -1, 1)
    cfg = single(hw)
    mask_arrays = _masks(names, masks)
    costs = evaluate(cfg, layers, alphas, mask_arrays, base=baseline(cfg, layers))
    small_w, small_bits = (_smallest_width(hw, layers, alphas, mask_arrays) if hw.index_format == "relative"
                           else (None, None))
    return _Evaluated(shapes, patterns, alpha_list, layers, alphas, mask_arrays, costs,
                      runs=decide.runs_sparse(costs)[0, :, 0], speed=decide.speedup(costs)[0, :, 0],
                      sparse_speed=decide.sparse_speedup(costs)[0, :, 0],
                      r_star=decide.break_even(cfg, layers).ratio[0],
                      smallest_width=small_w, smallest_bits=small_bits)


def _layer_note(s: LayerShape, p: Pattern, alpha: float, supported: bool, hw: HardwareSpec) -> str:
    """Why a layer runs dense although asked to be pruned ("" when it is not)."""
    if not s.prunable:
        return "multiplies two activations: no weight to prune, runs dense"
    if alpha < 1 and not supported:
        return f"pattern {p} cannot run sparse on this hardware (sparse engine {hw.sparse_engine})"
    return ""


def _layer_plan(ev: _Evaluated, j: int, hw: HardwareSpec, masks: Mapping[str, MaskStats],
                band: Mapping[str, Any] | None) -> LayerPlan:
    """Layer j's row: the chosen implementation's cost, storage, index format and ranges."""
    s, p, alpha, costs = ev.shapes[j], ev.patterns[j], ev.alphas[j], ev.costs
    at = lambda arr: np.broadcast_to(arr, costs.shape)[0, j, 0]     # noqa: E731
    sparse = bool(ev.runs[j])
    supported = bool(costs.supported[0, j, 0])
    impl = costs.sparse if sparse else costs.dense_mode
    st = costs.storage if sparse else costs.dense_storage
    dense_weight_bits = float(costs.dense_storage.weight_bits_total[0, j, 0])
    width = int(costs.index_width_bits[0, j, 0])
    free_width = ev.smallest_width is not None and s.prunable and p.kind in ("unstructured", "block")
    huffman = None
    if ev.smallest_width is not None and s.prunable and p.kind == "unstructured" and alpha < 1:
        huffman = _huffman(s, alpha, width, masks.get(s.name))
    return LayerPlan(
        name=s.name, op=s.op, prunable=s.prunable, alpha=alpha, pattern=str(p),
        weight_bits=int(dense_weight_bits / max(s.weight_count, 1)) if s.prunable else hw.weight_bits,
        implementation="sparse" if sparse else "dense", deployed_alpha=alpha if sparse else 1.0,
        break_even=float(ev.r_star[j]), speedup=float(ev.speed[j]), sparse_speedup=float(ev.sparse_speed[j]),
        latency_ns=float(impl.time_ns[0, j, 0]), dense_latency_ns=float(costs.dense.time_ns[0, j, 0]),
        sparse_latency_ns=_finite(float(costs.sparse.time_ns[0, j, 0])) if supported else None,
        cycles=float(at(impl.cycles)), clock_ns=float(at(impl.clock_ns)),
        weight_bits_total=float(st.weight_bits_total[0, j, 0]), index_bits_total=float(st.index_bits_total[0, j, 0]),
        feature_bits_total=float(costs.feature_bits_total[0, j, 0]), dense_weight_bits_total=dense_weight_bits,
        index_format=hw.index_format if p.kind != "nm" else "nm-metadata",
        index_width_bits=width if sparse and p.kind != "channel" else 0,
        smallest_index_width_bits=int(ev.smallest_width[j]) if free_width else None,
        smallest_storage_bits_total=float(ev.smallest_bits[j]) if free_width else None,
        huffman_index_bits_total=huffman,
        energy_pj=float(at(impl.energy_pj)), dense_energy_pj=float(costs.dense.energy_pj[0, j, 0]),
        balance=float(costs.balance[0, j, 0]), macs=int(s.macs), weights=int(s.weight_count),
        exact_mask=s.name in masks,
        designs={"dense": _design(costs.dense, 0, j, 0), "sparse": _design(costs.sparse, 0, j, 0)},
        note=_layer_note(s, p, alpha, supported, hw),
        break_even_range=None if band is None else band["break_even"][j],
        speedup_range=None if band is None else band["speedup"][j],
        decision_agreement=None if band is None else band["agreement"][j])


def _uncertainty(hw: HardwareSpec, ev: _Evaluated, samples: int, seed: int) -> dict:
    """Per-layer speedup and r* intervals, decision agreement, network speedup samples."""
    cfgs = uncertainty.sample_configs(hw, samples, seed)
    speed, runs, network = [], [], []
    for part in uncertainty.chunks(cfgs, len(ev.layers)):
        costs = evaluate(part, ev.layers, ev.alpha_array, ev.mask_arrays, energy=False)
        speed.append(decide.speedup(costs)[:, :, 0])
        runs.append(decide.runs_sparse(costs)[:, :, 0])
        network.append(decide.network_speedup(costs)[:, 0])
    sp = uncertainty.interval(np.concatenate(speed), ev.speed)
    rr = uncertainty.interval(decide.break_even(cfgs, ev.layers).ratio, ev.r_star)
    return {"speedup": [[float(a), float(b)] for a, b in zip(sp.lo, sp.hi)],
            "break_even": [[float(a), float(b)] for a, b in zip(rr.lo, rr.hi)],
            "agreement": [float(a) for a in uncertainty.agreement(np.concatenate(runs), ev.runs)],
            "network_samples": np.concatenate(network)}


TOTALS_VERSION = 1


@dataclass(frozen=True)
class PlanTotals(Record):
    """Network totals of a plan (JSON: the plan's "totals"). Bits are totals over layers."""
    latency_ns: float
    dense_latency_ns: float
    speedup: float                       # dense latency / planned latency (layers add up)
    conv_speedup: float                  # the same over the conv layers
    weight_bits_total: float
    index_bits_total: float
    feature_bits_total: float
    dense_weight_bits_total: float       # every weight dense at the hardware's width
    smallest_storage_bits_total: float   # weights + indices at each layer's smallest index width
    storage_baselines_bits: dict[str, float]    # model_width, dense_16bit, dense_32bit, dense_hardware_width
    compression: dict[str, float]        # each baseline / (weights + indices)
    pruning_ratio: float                 # weights / weights kept
    energy_pj: float
    dense_energy_pj: float
    sparse_layers: int
    layers: int
    mode: str                            # isoarea | fixed
    coverage: dict[str, Any] | None = None      # share of the model's MACs modeled
    speedup_range: list[float] | None = None    # with uncertainty samples: network speedup interval
    flipping_layers: list[str] | None = None    # and the layers whose decision flips inside the ranges
    schema_version: int = TOTALS_VERSION
    OPTIONAL: ClassVar[tuple[str, ...]] = ("coverage", "speedup_range", "flipping_layers")


def plan_totals(rows: Sequence[LayerPlan], hw: HardwareSpec, model_bits: Mapping[str, int] | None = None,
                *, coverage: Mapping[str, Any] | None = None, band: Mapping[str, Any] | None = None) -> PlanTotals:
    """Network totals of a plan: latencies add up (layers run one after the other); `band`:
    the uncertainty samples (build_plan's), for the network speedup's range."""
    model_bits = model_bits or {}
    lat = sum(r.latency_ns for r in rows)
    dense_lat = sum(r.dense_latency_ns for r in rows)
    weights = sum(r.weight_bits_total for r in rows)
    index = sum(r.index_bits_total for r in rows)
    stored = weights + index
    n_weights = sum(r.weights for r in rows)
    conv = [r for r in rows if r.op in ("conv", "conv_transpose")]
    conv_lat = sum(r.latency_ns for r in conv)
    baselines = {"model_width": sum(r.weights * model_bits.get(r.name, 32) for r in rows),
                 "dense_16bit": 16.0 * n_weights, "dense_32bit": 32.0 * n_weights,
                 "dense_hardware_width": sum(r.dense_weight_bits_total for r in rows)}
    kept = sum(r.weights * r.deployed_alpha for r in rows)
    speedup = dense_lat / lat if lat else 1.0
    speedup_range = flipping = None
    if band is not None:
        net = uncertainty.interval(band["network_samples"], speedup)
        speedup_range = [float(net.lo), float(net.hi)]
        flipping = [r.name for r in rows if uncertainty.flips(r.decision_agreement)]
    return PlanTotals(
        latency_ns=lat, dense_latency_ns=dense_lat, speedup=speedup,
        conv_speedup=(sum(r.dense_latency_ns for r in conv) / conv_lat) if conv_lat else 1.0,
        weight_bits_total=weights, index_bits_total=index,
        feature_bits_total=sum(r.feature_bits_total for r in rows),
        dense_weight_bits_total=baselines["dense_hardware_width"],
        smallest_storage_bits_total=sum(r.smallest_storage_bits_total if r.smallest_storage_bits_total
                                        is not None and r.sparse else r.weight_bits_total + r.index_bits_total
                                        for r in rows),
        storage_baselines_bits=baselines,
        compression={k: (v / stored if stored else 1.0) for k, v in baselines.items()},
        pruning_ratio=n_weights / kept if kept else 1.0,
        energy_pj=sum(r.energy_pj for r in rows), dense_energy_pj=sum(r.dense_energy_pj for r in rows),
        sparse_layers=sum(r.sparse for r in rows), layers=len(rows), mode=hw.mode,
        coverage=dict(coverage) if coverage is not None else None,
        speedup_range=speedup_range, flipping_layers=flipping)
