"""What every result of the Python API is, and the typed records results are made of.

`Result` is the README's promise, checked by a test over every API result: per-layer rows
(`layers`), network totals (`totals`), a dict that round-trips (`to_dict`), the rows as CSV
(`to_csv`) and a report folder (`report`).

`Record` is the base of the frozen records a result carries (a plan's totals, a search's
summary, a pruned layer): typed fields written once, `to_dict()` giving the JSON written to
disk (plus `schema_version` where a record has one; optional fields left out while unset, as
the files always did) and `from_dict()` reading it back. A record also reads as that JSON
(`totals["speedup"]`), for the code and files that knew it as a dict.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Result(Protocol):
    """An API result: plan, break-even table, sweep, compression run, search."""

    @property
    def layers(self) -> Sequence[Any]: ...

    @property
    def totals(self) -> Any: ...

    def to_dict(self) -> dict[str, Any]: ...

    def to_csv(self, path) -> Path: ...

    def report(self, out_dir) -> dict[str, Path]: ...


class Record(Mapping):
    """Base of a frozen dataclass record (see the module docstring)."""
    OPTIONAL: ClassVar[tuple[str, ...]] = ()      # fields left out of to_dict() while None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not (f.name in self.OPTIONAL and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """The record of `to_dict()`'s output (nested records rebuilt by their field types)."""
        hints = typing.get_type_hints(cls)
        return cls(**{k: _revive(hints.get(k), v) for k, v in data.items()})   # unknown keys: TypeError

    # read as the JSON it writes
    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def _plain(value):
    """A record's value as JSON data (records, mappings and sequences recursively)."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _revive(hint, value):
    """`value` (JSON data) as the type `hint` names: records rebuilt, in lists and dicts too."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        records = [a for a in args if isinstance(a, type) and issubclass(a, Record)]
        return records[0].from_dict(value) if records and isinstance(value, Mapping) else value
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    if origin in (dict, Mapping) and len(args) == 2:
        return {k: _revive(args[1], v) for k, v in value.items()}
    if origin in (tuple, list) and args:
        item = args[0]
        revived = [_revive(item, v) for v in value]
        return tuple(revived) if origin is tuple else revived
    return value
