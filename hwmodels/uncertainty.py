"""Uncertainty of the hardware numbers, propagated through the model.

Every ranged key of a spec (`HardwareSpec.ranges`: the min and max its source allows) is drawn
from a triangular distribution with its mode at the preset's value, independently and from a
seeded generator; the samples are one ConfigArray, evaluated in vectorized chunks of about
CHUNK_ELEMENTS samples x layers (`chunks`), so memory stays flat in samples. An interval is the 2.5-97.5% quantile range of the samples, widened to
contain the nominal value (so lo <= nominal <= hi always holds). A layer's dense/sparse
decision "flips" when fewer than `STABLE` of the samples agree with the nominal decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from hwmodels.configs import ConfigArray
from hwmodels.errors import ConfigError
from hwmodels.spec import KEYS, HardwareSpec

DEFAULT_SAMPLES = 1000
DEFAULT_SEED = 0
QUANTILES = (0.025, 0.975)
STABLE = 0.95
CHUNK_ELEMENTS = 100_000         # samples x layers per evaluation (~50 MB of cost arrays)


def flips(agreement: float | None) -> bool:
    """A decision that flips inside the ranges: fewer than STABLE of the samples agree with
    the nominal one (None: no uncertainty was propagated)."""
    return agreement is not None and agreement < STABLE
MAX_SAMPLES = 100_000


def sample_configs(spec: HardwareSpec, n: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED) -> ConfigArray:
    """n configs equal to `spec` except its ranged keys, drawn triangular(min, value, max)."""
    if not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"uncertainty samples must be 1..{MAX_SAMPLES:,}, got {n}")
    if not spec.ranges:
        raise ConfigError(f"hardware config {spec.name!r} has no ranged keys to propagate; give "
                          "ranges as {value, min, max} in its TOML")
    rng = np.random.default_rng(seed)
    columns = {}
    for name in sorted(spec.ranges):                 # sorted: the draw order is reproducible
        lo, hi = spec.ranges[name]
        mode = float(getattr(spec, name))
        col = rng.triangular(lo, mode, hi, size=n) if hi > lo else np.full(n, mode)
        if KEYS[name].kind is int:
            col = np.round(col)
        columns[name] = col
    return ConfigArray.from_columns(spec, columns)


def chunks(samples: ConfigArray, layers: int, elements: int = CHUNK_ELEMENTS) -> Iterator[ConfigArray]:
    """`samples` in consecutive pieces of about `elements` samples x `layers` (one sample at least)."""
    per = max(1, elements // max(layers, 1))
    for start in range(0, len(samples), per):
        yield samples.take(slice(start, start + per))


@dataclass(frozen=True)
class Interval:
    lo: np.ndarray
    hi: np.ndarray


def interval(samples: np.ndarray, nominal: np.ndarray, axis: int = 0) -> Interval:
    """Quantile interval of `samples` along `axis`, widened to contain `nominal`. Infinite
    values (r* = never) take part as +inf."""
    s = np.asarray(samples, dtype=float)
    lo = np.quantile(s, QUANTILES[0], axis=axis, method="lower")
    hi = np.quantile(s, QUANTILES[1], axis=axis, method="higher")
    nominal = np.asarray(nominal, dtype=float)
    return Interval(np.minimum(lo, nominal), np.maximum(hi, nominal))


def agreement(samples: np.ndarray, nominal: np.ndarray, axis: int = 0) -> np.ndarray:
    """Share of samples whose boolean decision equals the nominal one."""
    return np.mean(np.asarray(samples) == np.asarray(nominal), axis=axis)
