"""report-data.json checked against what a report holds before anything is rendered.

The schema is the report's own types (codesign.report.model: the dataclasses, their field
metadata, and codesign.plans.LayerPlan for layer rows), walked here: types, finite numbers,
ranges, string and list sizes, known keys, lists of equal length. The first bad value is one
CodesignError naming its JSON path (`layers[3].speedup must be a number, found "x"`); nothing
from a file is rendered unchecked. jsonschema is not used: it is no dependency of codesign
(only Ray's), and the walk gives the path and the decoding of "inf"/"nan" in one pass.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import types
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from codesign.errors import CodesignError
from pruning.ranges import Range

MAX_TEXT = 10_000        # characters of one string: a layer name or a note is well under 1,000
MAX_ITEMS = 1_000_000    # entries of one list or object: a sweep holds at most 1,000,000 configs
MAX_DEPTH = 32           # nesting of the free-form plan JSON (a plan is 4 levels deep)
# Ranges of report values (codesign.report.model's field metadata reads them from here).
POSITIVE = Range(0, float("inf"), low_open=True)
NON_NEGATIVE = Range(0, float("inf"))
KEEP_FRACTION = Range(0, 1, low_open=True)
ENCODED = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}   # model._jsonable's strings
NULL_IS_NEVER = "r*: inf = never, written null"   # model.RStar's mark: JSON null reads as inf

# Layer rows are codesign.plans.LayerPlan's fields; their numbers are physical quantities
# (latencies, bits, energies, counts, speedups): none is negative, keep fractions are in
# (0, 1] (the report divides by alpha), the implementation names a CSS class.
ROW_RULES: dict[str, dict[str, Any]] = {
    "*": {"range": NON_NEGATIVE},
    "alpha": {"range": KEEP_FRACTION}, "deployed_alpha": {"range": KEEP_FRACTION},
    "decision_agreement": {"range": Range(0, 1)}, "implementation": {"choices": ("dense", "sparse")},
    "break_even_range": {"min_items": 2, "max_items": 2}, "speedup_range": {"min_items": 2, "max_items": 2},
}


class _Bad(Exception):
    """(JSON path, what it must be, the value found)."""


def checked(data: Any, cls: type, source: str) -> dict:
    """`data` (parsed JSON) as a dict of `cls`'s fields, every value checked and the numbers
    written as "inf"/"nan" read back where a field allows them; else one CodesignError
    naming `source` and the path of the first bad value."""
    try:
        return _object(data, cls, "")
    except _Bad as bad:
        path, must, found = bad.args
        raise CodesignError(f"{source}: {path or 'the top level'} {must}" +
                            ("" if found is _NOTHING else f", found {_show(found)}")) from None


_NOTHING = object()


def _show(value: Any) -> str:
    if isinstance(value, (list, dict)):
        n = len(value)
        return f"a list of {n:,} item{'s' * (n != 1)}" if isinstance(value, list) else f"an object of {n:,} key{'s' * (n != 1)}"
    text = json.dumps(value) if isinstance(value, (str, bool, int, float)) or value is None else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key_path(path: str, key: str) -> str:
    """summary.x, summary["accuracy %"], layers[3].speedup."""
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)[:60]}]"


def _object(value: Any, cls: type, path: str) -> dict:
    """A dict holding `cls`'s fields (those without a default required), no other key."""
    if not isinstance(value, dict):
        raise _Bad(path, "must be an object", value)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in known:
            raise _Bad(_key_path(path, str(key)), f"is not a field of {cls.__name__}", _NOTHING)
    hints = get_type_hints(cls, include_extras=True)
    row_rules = ROW_RULES if f"{cls.__module__}.{cls.__qualname__}" == "codesign.plans.LayerPlan" else {}
    out = {}
    for name, f in known.items():
        where = _key_path(path, name)
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Bad(where, "is missing", _NOTHING)
            continue
        meta = {**row_rules.get("*", {}), **f.metadata, **row_rules.get(name, {})}
        hint = hints[name]
        if "rows" in meta:                      # a list of dicts that follow another dataclass
            module, _, attr = meta["rows"].rpartition(".")
            hint = list[getattr(importlib.import_module(module), attr)]
        out[name] = _value(value[name], hint, where, meta)
    for name, meta in ((n, f.metadata) for n, f in known.items() if n in out):
        _relations(out, name, meta, _key_path(path, name))
    return out


def _relations(obj: dict, name: str, meta: dict, where: str) -> None:
    """Field metadata that relates a field to a sibling: same_length, keys_of."""
    value = obj[name]
    other = meta.get("same_length")
    if other is not None and other in obj:
        n = len(obj[other])
        for p, v in ([(f"{where}[{json.dumps(k)}]", v) for k, v in value.items()] if isinstance(value, dict)
                     else [(where, value)]):
            if len(v) != n:
                raise _Bad(p, f"must have as many items as {other} ({n:,})", v)
    other = meta.get("keys_of")
    if other is not None and other in obj:
        for key in value:
            if key not in obj[other]:
                raise _Bad(where, f"must name keys of {other}", key)


def _value(value: Any, hint: Any, path: str, meta: dict, depth: int = 0) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:                          # model.Unbounded: a float that may be inf or nan
        if NULL_IS_NEVER in args:                    # model.RStar: a number, or inf (null) for never
            if value is None:
                return math.inf
            r_star = _number(value, path, meta, finite=False)
            if r_star != r_star or r_star == -math.inf:
                raise _Bad(path, "must be a number or null (never)", value)
            return r_star
        return _number(value, path, meta, finite=False)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _value(value, options[0], path, meta, depth)
        for option in options:                       # scalars: the first that fits
            try:
                return _value(value, option, path, meta, depth)
            except _Bad:
                pass
        raise _Bad(path, "must be text, a number, true or false, or null", value)
    if dataclasses.is_dataclass(hint):
        return _object(value, hint, path)
    if origin is list:
        return [_value(v, args[0], f"{path}[{i}]", meta, depth + 1)
                for i, v in enumerate(_sized(value, list, path, meta))]
    if origin is dict:
        return {k: _value(v, args[1], _key_path(path, k), meta, depth + 1)
                for k, v in _sized(value, dict, path, meta).items() if _text(k, path)}
    if hint is float:
        return _number(value, path, meta, finite=True)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(path, "must be a whole number", value)
        return _number(value, path, meta, finite=True)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Bad(path, "must be true or false", value)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise _Bad(path, "must be text", value)
        _text(value, path)
        if "choices" in meta and value not in meta["choices"]:
            raise _Bad(path, f"must be one of {', '.join(map(str, meta['choices']))}", value)
        return value
    return _json(value, path, depth)                  # Any, bare dict: free-form JSON (the plan)


def _sized(value: Any, kind: type, path: str, meta: dict):
    if not isinstance(value, kind):
        raise _Bad(path, f"must be {'a list' if kind is list else 'an object'}", value)
    low, high = meta.get("min_items", 0), meta.get("max_items", MAX_ITEMS)
    if not low <= len(value) <= high:
        must = (f"exactly {low:,}" if low == high else f"{low:,} to {high:,}") if low else f"at most {high:,}"
        raise _Bad(path, f"must hold {must} items", value)
    return value


def _text(value: str, path: str) -> bool:
    if len(value) > MAX_TEXT:
        raise _Bad(path, f"must be text of at most {MAX_TEXT:,} characters, found {len(value):,}", _NOTHING)
    return True


def _number(value: Any, path: str, meta: dict, *, finite: bool) -> float | int:
    """A number; written as "inf"/"nan" where it need not be finite; in meta's range."""
    if not finite and isinstance(value, str) and value in ENCODED:
        value = ENCODED[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(path, "must be a number", value)
    try:
        float(value)                           # an int beyond float's range
    except OverflowError:
        raise _Bad(path, "must be a finite number", value) from None
    if not math.isfinite(value):
        if finite:
            raise _Bad(path, "must be a finite number", value)
        return value
    allowed = meta.get("range")
    if allowed is not None and value not in allowed:
        raise _Bad(path, f"must be in {allowed.interval}", value)
    if "choices" in meta and value not in meta["choices"]:
        raise _Bad(path, f"must be one of {', '.join(map(str, meta['choices']))}", value)
    return value


def _json(value: Any, path: str, depth: int) -> Any:
    """Any JSON value of bounded size: finite numbers, strings and lists within the limits."""
    if depth > MAX_DEPTH:
        raise _Bad(path, f"must be nested at most {MAX_DEPTH} levels deep", _NOTHING)
    if isinstance(value, list):
        return [_json(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(_sized(value, list, path, {}))]
    if isinstance(value, dict):
        return {k: _json(v, _key_path(path, k), depth + 1) for k, v in _sized(value, dict, path, {}).items()
                if _text(k, path)}
    if isinstance(value, str):
        _text(value, path)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _Bad(path, "must be a finite number", value)
    return value
