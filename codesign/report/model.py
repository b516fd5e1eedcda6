"""What a report holds, as plain data (written as report-data.json and read back by
`codesign report`). Layer rows are the plan's own layer records (codesign.plans.LayerPlan as
dicts): the report shows what `codesign plan --json` says, under the same names."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 2
KINDS = ("plan", "search", "sweep")


@dataclass(frozen=True)
class Curve:
    """Speedup of a layer's sparse implementation over its dense one, against pruning ratio r."""
    layer: str
    ratios: list[float]
    speedups: list[float]
    r_star: float                      # inf = never
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
class SweepData:
    keys: list[str]
    grid: dict[str, list]              # key -> one value per config
    latency_ns: list[float]
    speedup: list[float]
    median_r_star: list[float]         # inf = never
    alpha: float
    slice_values: dict[str, Any] = field(default_factory=dict)   # keys beyond the first two


@dataclass
class Report:
    kind: str
    title: str
    meta: dict[str, str]
    summary: dict[str, Any]
    layers: list[dict] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    searches: list[SearchTrace] = field(default_factory=list)
    sweep: SweepData | None = None
    plan: dict[str, Any] | None = None         # the plan JSON, written as plan.json
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Report":
        from codesign.errors import CodesignError
        if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
            raise CodesignError(f"report data has schema version {d.get('schema_version') if isinstance(d, dict) else '?'}, "
                                f"this codesign reads {SCHEMA_VERSION}; re-run the command that made it")
        sweep = d.get("sweep")
        return cls(kind=d["kind"], title=d["title"], meta=dict(d["meta"]), summary=dict(d["summary"]),
                   layers=[_unjson(r) for r in d.get("layers", [])],
                   curves=[_build(Curve, c) for c in d.get("curves", [])],
                   searches=[_build(SearchTrace, s) for s in d.get("searches", [])],
                   sweep=_build(SweepData, sweep) if sweep else None,
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
    if isinstance(x, dict):
        return {k: _unjson(v) for k, v in x.items()}
    return x
