"""Many hardware configs as one struct of numpy arrays (`ConfigArray`): every key of
hwmodels.spec as a float column of shape (C,), choice keys as integer codes. Built from specs,
from a base spec with some keys varied (sweeps), or from a spec's uncertainty ranges (samples);
the cost model evaluates all configs in one vectorized call. One evaluation has one mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from hwmodels.errors import ConfigError
from hwmodels.spec import CHOICE_KEYS, KEYS, MODES, HardwareSpec, coerce, key as spec_key


def encode(name: str, value: Any) -> float:
    if name in CHOICE_KEYS:
        return float(CHOICE_KEYS[name].index(value))
    return float(value)


@dataclass(frozen=True)
class ConfigArray:
    names: tuple[str, ...]
    values: dict[str, np.ndarray]
    mode: str

    def __len__(self) -> int:
        return len(self.names)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def is_(self, name: str, choice: str) -> np.ndarray:
        """Boolean column: where the choice key `name` equals `choice`."""
        return self.values[name] == CHOICE_KEYS[name].index(choice)

    def expanded(self) -> "ConfigArray":
        """The same configs as (C, 1, 1) arrays, to broadcast against layers x alphas."""
        return ConfigArray(self.names, {k: v.reshape(-1, 1, 1) for k, v in self.values.items()},
                           self.mode)

    def take(self, index) -> "ConfigArray":
        """A subset of configs (a slice or index array), e.g. one chunk of a sweep."""
        idx = np.arange(len(self.names))[index]
        return ConfigArray(tuple(self.names[i] for i in idx),
                           {k: v.reshape(len(self.names), *v.shape[1:])[idx] for k, v in self.values.items()},
                           self.mode)

    @classmethod
    def from_specs(cls, specs: Sequence[HardwareSpec]) -> "ConfigArray":
        if not specs:
            raise ConfigError("no hardware config given")
        gpu = next((s for s in specs if not isinstance(s, HardwareSpec)), None)
        if gpu is not None:       # a GpuSpec: priced per GEMM by hwmodels.gpu, not as an ASIC design
            raise ConfigError(f"{getattr(gpu, 'name', gpu)!r} is a GPU target; it has per-layer 2:4 "
                              "and int8 times (codesign breakeven --hw ... --batch ...), not ASIC "
                              "designs: use an ASIC preset (smic40, nm-2of4, ...) here")
        modes = {s.mode for s in specs}
        if len(modes) > 1:
            raise ConfigError("hardware key 'mode' must be the same for all configs of one evaluation")
        flats = [s.flat() for s in specs]
        values = {k: np.array([encode(k, f[k]) for f in flats], dtype=float) for k in KEYS}
        return cls(tuple(s.name for s in specs), values, modes.pop())

    @classmethod
    def from_base(cls, base: HardwareSpec, varied: Mapping[str, Sequence[Any]],
                  where: str = "--vary") -> "ConfigArray":
        """Configs equal to `base` except the keys in `varied` (equal-length columns). Every
        distinct value is validated once with the base (bounds, modes, cross-key rules), and
        the cross-key rules that involve two varied keys per config."""
        columns = {spec_key(k, where).name: list(v) for k, v in varied.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ConfigError("varied keys need columns of the same length")
        if "mode" in columns:
            raise ConfigError(f"{where}: 'mode' cannot be varied; run one sweep per mode")
        n = lengths.pop() if lengths else 1
        values = {k: np.full(n, encode(k, v), dtype=float) for k, v in base.flat().items()}
        for k, col in columns.items():
            typed = [coerce(k, v, where) for v in col]
            for v in dict.fromkeys(typed):
                base.replace(where, **{k: v})
            values[k] = np.array([encode(k, v) for v in typed], dtype=float)
        if np.any(values["pes"] % values["array_rows"]):
            raise ConfigError("hardware key 'pes' must be a multiple of 'array_rows' in every "
                              "swept config")
        nm = values["sparse_engine"] == CHOICE_KEYS["sparse_engine"].index("nm")
        if np.any(nm & (values["nm_keep"] >= values["nm_group"])):
            raise ConfigError("nm_keep must be below nm_group in every swept config")
        return cls(tuple(f"{base.name}#{i}" for i in range(n)), values, base.mode)

    @classmethod
    def from_columns(cls, base: HardwareSpec, columns: Mapping[str, np.ndarray]) -> "ConfigArray":
        """Configs equal to `base` except numeric columns already inside their ranges (the
        uncertainty samples); no per-value validation."""
        n = len(next(iter(columns.values()))) if columns else 1
        values = {k: np.full(n, encode(k, v), dtype=float) for k, v in base.flat().items()}
        for k, col in columns.items():
            if k not in KEYS or not KEYS[k].numeric:
                raise ConfigError(f"sampled key {k!r} is not a numeric hardware key")
            values[k] = np.asarray(col, dtype=float)
        return cls(tuple(f"{base.name}~{i}" for i in range(n)), values, base.mode)


def single(spec: HardwareSpec) -> ConfigArray:
    return ConfigArray.from_specs([spec])


__all__ = ["ConfigArray", "MODES", "encode", "single"]
