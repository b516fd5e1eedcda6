"""The report model: plain values that every renderer (HTML, Markdown, CSV, JSON, figures) reads.

Builders turn a plan evaluation, a search run or a sweep into a `Report`; renderers never look
at hwmodels or torch objects. A `Report` round-trips through JSON (`report-data.json` in the run
directory), which is what `codesign report RUN_DIR` re-renders from.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LayerRow:
    name: str
    op: str
    macs: int
    weights: int
    alpha: float                       # planned keep fraction (1.0 = dense)
    r_star: float                      # break-even pruning ratio (inf = never)
    implementation: str                # dense | sparse
    speedup: float                     # of the chosen implementation vs dense
    sparse_speedup: float              # of the sparse implementation at this α
    latency_dense: float               # seconds
    latency: float                     # seconds, chosen implementation
    # storage in bits, before (dense) and after (plan)
    weight_bits_before: int
    feature_bits: int
    weight_bits_after: int
    index_bits_after: int
    energy_dense: float | None = None  # joules
    energy: float | None = None
    alpha_planned: float | None = None # the α asked for, before a dense fallback (None: = alpha)

    @property
    def ratio(self) -> float:
        return 1.0 / self.alpha


@dataclass(frozen=True)
class Curve:
    """Speedup of a layer's sparse implementation over its dense one, against pruning ratio r."""
    layer: str
    ratios: list[float]
    speedups: list[float]
    r_star: float
    planned_ratio: float | None = None


@dataclass(frozen=True)
class SearchTrace:
    """One search algorithm's history: one point per evaluated candidate."""
    algorithm: str
    iterations: list[int]
    phases: list[str]
    accuracy: list[float | None]       # percent
    speedup: list[float]
    accepted: list[bool]
    summary: dict[str, Any] = field(default_factory=dict)
    accuracy_floor: float | None = None   # percent: reference minus the allowed drop


@dataclass(frozen=True)
class Heatmap:
    title: str
    x_label: str
    x_values: list[Any]
    y_label: str
    y_values: list[Any]
    z: list[list[float]]               # z[y][x]
    z_label: str


@dataclass
class Report:
    title: str
    meta: dict[str, str]                       # model, hardware, command, date, ...
    summary: dict[str, Any]                    # headline numbers, label -> value
    layers: list[LayerRow] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    searches: list[SearchTrace] = field(default_factory=list)
    heatmaps: list[Heatmap] = field(default_factory=list)
    plan: dict[str, Any] | None = None         # the plan JSON, written as plan.json
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Report":
        from codesign.errors import CodesignError
        if d.get("schema_version") != SCHEMA_VERSION:
            raise CodesignError(f"report data has schema version {d.get('schema_version')}, "
                                f"this codesign reads {SCHEMA_VERSION}; re-run the command "
                                f"that made it")
        return cls(
            title=d["title"], meta=dict(d["meta"]), summary=dict(d["summary"]),
            layers=[_build(LayerRow, r) for r in d.get("layers", [])],
            curves=[_build(Curve, c) for c in d.get("curves", [])],
            searches=[_build(SearchTrace, s) for s in d.get("searches", [])],
            heatmaps=[_build(Heatmap, h) for h in d.get("heatmaps", [])],
            plan=d.get("plan"), notes=list(d.get("notes", [])))


def _build(cls, d: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: _unjson(v) for k, v in d.items() if k in names})


def _jsonable(x: Any) -> Any:
    """inf/nan are not JSON: store them as strings and read them back in _unjson."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return str(x)
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):   # numpy scalars
        return _jsonable(x.item())
    return x


def _unjson(x: Any) -> Any:
    if x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, list):
        return [_unjson(v) for v in x]
    return x
