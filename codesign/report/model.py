"""What a report holds, as plain data (written as report-data.json and read back by
`codesign report`). Layer rows are the plan's own layer records (codesign.plans.LayerPlan as
dicts): the report shows what `codesign plan --json` says, under the same names.

These types are also the schema that report-data.json is checked against before it is
rendered (codesign.report.schema): a float must be finite unless it is `Unbounded`; field
metadata adds "choices", a numeric "range" (pruning.ranges.Range, for every number in the
field), "rows" (the dataclass each dict of a list follows), "same_length" (as a sibling
list; for a mapping of lists, each of them), "keys_of" (items or keys of a sibling mapping)
and "min_items"."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Union

from codesign.errors import CodesignError
from codesign.report.schema import KEEP_FRACTION, NON_NEGATIVE, NULL_IS_NEVER, POSITIVE, checked

SCHEMA_VERSION = 2
KINDS = ("plan", "search", "sweep", "breakeven")

Unbounded = Annotated[float, "may be inf or nan"]     # r* = inf: never; nan: undefined
# r* in Python: 1.0 = always, inf = never (as hwmodels.decide). JSON has no inf: a layer row's r*
# is written null for never, as plan JSON always has (never_to_json; the schema reads null back as inf).
RStar = Annotated[float, NULL_IS_NEVER]
R_STAR_FIELDS = ("break_even", "break_even_range")      # the r* fields of a layer row
Shown = Union[int, Unbounded, str, bool, None]         # a value shown as it is (fmt.num); "inf": ∞


@dataclass(frozen=True)
class Curve:
    """Speedup of a layer's sparse implementation over its dense one, against pruning ratio r."""
    layer: str
    ratios: list[float] = field(metadata={"range": POSITIVE, "min_items": 1})
    speedups: list[Unbounded] = field(metadata={"same_length": "ratios"})
    r_star: Unbounded                  # inf = never
    planned_ratio: float | None = field(default=None, metadata={"range": POSITIVE})


@dataclass(frozen=True)
class SearchTrace:
    """One search algorithm's history: one point per evaluated candidate."""
    algorithm: str
    iterations: list[int]
    phases: list[str] = field(metadata={"same_length": "iterations"})
    accuracy: list[float | None] = field(metadata={"same_length": "iterations"})   # percent
    speedup: list[float] = field(metadata={"same_length": "iterations"})
    accepted: list[bool] = field(metadata={"same_length": "iterations"})
    summary: dict[str, Shown] = field(default_factory=dict)
    accuracy_floor: float | None = None   # percent: reference minus the allowed drop


@dataclass(frozen=True)
class SweepData:
    keys: list[str] = field(metadata={"keys_of": "grid", "min_items": 1})
    grid: dict[str, list[Shown]] = field(metadata={"same_length": "latency_ns"})   # one value per config
    latency_ns: list[float] = field(metadata={"range": NON_NEGATIVE, "min_items": 1})
    speedup: list[float] = field(metadata={"same_length": "latency_ns"})
    median_r_star: list[Unbounded] = field(metadata={"same_length": "latency_ns"})   # inf = never
    alpha: float = field(metadata={"range": KEEP_FRACTION})
    slice_values: dict[str, Shown] = field(default_factory=dict, metadata={"keys_of": "grid"})   # keys beyond the first two


@dataclass
class Report:
    kind: str = field(metadata={"choices": KINDS})
    title: str
    meta: dict[str, Shown]
    summary: dict[str, Shown]
    layers: list[dict] = field(default_factory=list, metadata={"rows": "codesign.plans.LayerPlan"})
    curves: list[Curve] = field(default_factory=list)
    searches: list[SearchTrace] = field(default_factory=list)
    sweep: SweepData | None = None
    plan: dict[str, Any] | None = None         # the plan JSON, written as plan.json
    notes: list[str] = field(default_factory=list)
    schema_version: int = field(default=SCHEMA_VERSION, metadata={"choices": (SCHEMA_VERSION,)})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return _jsonable({**d, "layers": [never_to_json(row) for row in d["layers"]]})

    @classmethod
    def from_dict(cls, d: Any, source: str = "report data") -> "Report":
        """The report in parsed report-data.json, checked against these types first (one
        CodesignError naming `source` and the JSON path of the first bad value)."""
        if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
            raise CodesignError(f"{source} has schema version "
                                + (f"{d.get('schema_version')!r:.20}" if isinstance(d, dict) else "?")
                                + f", this codesign reads {SCHEMA_VERSION}; re-run the command that made it")
        d = checked(d, cls, source)
        sweep = d.get("sweep")
        return cls(**{**d, "curves": [Curve(**c) for c in d.get("curves", [])],
                      "searches": [SearchTrace(**s) for s in d.get("searches", [])],
                      "sweep": SweepData(**sweep) if sweep else None})


def _null_never(x: Any) -> Any:
    if isinstance(x, list):
        return [_null_never(v) for v in x]
    return None if x == float("inf") else x


def _inf_never(x: Any) -> Any:
    if isinstance(x, list):
        return [_inf_never(v) for v in x]
    return float("inf") if x is None else x


def never_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A layer row (LayerPlan, LayerBreakEven as a dict) as JSON holds it: r* never is null."""
    return {k: _null_never(v) if k in R_STAR_FIELDS else v for k, v in row.items()}


def never_from_json(row: dict[str, Any]) -> dict[str, Any]:
    """A layer row read from JSON (never_to_json's): null r* is inf again."""
    out = {k: _inf_never(v) if k in R_STAR_FIELDS else v for k, v in row.items()}
    if row.get("break_even_range", ...) is None:          # no interval (not a "never" one)
        out["break_even_range"] = None
    return out


def _jsonable(x: Any) -> Any:
    """inf/nan are not JSON: store them as strings (the schema reads them back where a
    number may be one)."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return str(x)
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):   # numpy scalars
        return _jsonable(x.item())
    return x

