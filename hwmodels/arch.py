"""Accelerator configs and the physical design derived from them: PE areas and clock periods.

`HwConfig` is one named hardware config (the keys of a preset TOML, validated). `ConfigArray` is
the same keys as a struct of numpy arrays, so thousands of configs are evaluated in one call.

Designs (paper 001 section 5.1; notes/hardware.md sections 2.4 and 6):
- dense: a systolic array of `pes` MACs (`array_rows` x pes/array_rows), each PE = MAC +
  `pe_overhead` (control, pipeline registers, local storage);
- sparse: the same array organisation (`array_rows` rows, as many columns as its area pays
  for; hwmodels/cost.py) of PEs that also hold an index decoder: an activation window of N_dec entries, an
  N_dec:1 operand-select mux and an index adder. N_dec = 2^index_bits for the relative index
  (a b-bit gap reaches 2^b positions ahead) and `decoder_window` for bitmask/CSR/CSC/COO.
  Decoder area scales with `decoder_area_scale` (fitted);
- clock period = max(MAC delay / pipeline stages [+ decoder delay], SRAM macro access) + setup;
  decoder delay = decoder_fo4_per_level x ceil(log2 N_dec) x fo4_ps (fitted level cost).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np

from hwmodels import tech
from hwmodels.errors import ConfigError
from hwmodels.formats import FORMATS, RELATIVE, format_code

DATAFLOWS = ("os", "ws", "auto")      # auto: the faster of os and ws per layer and design
MODES = ("isoarea", "fixed")
CHOICE_KEYS = {"dataflow": DATAFLOWS, "sram_cell": tech.SRAM_CELLS, "index_format": FORMATS,
               "mac_kind": tech.MAC_KINDS, "mode": MODES}


@dataclass(frozen=True)
class HwConfig:
    name: str = "custom"
    mode: str = "isoarea"              # isoarea: per-layer same-area pairs; fixed: one chip
    # arithmetic
    weight_bits: int = 16
    act_bits: int = 16
    mac_kind: str = "int"
    mac_pipeline_stages: int = 1
    # dense array
    pes: int = 256
    array_rows: int = 16
    dataflow: str = "os"
    pe_overhead: float = 0.5
    # memories
    sram_cell: str = "lstp"
    sram_macro_kb: float = 64.0
    sram_port_bits: int = 64
    # clock
    clock_setup_ns: float = 0.1
    fo4_ps: float = 20.0
    # sparse PE
    index_format: str = "relative"
    index_bits: int = 4
    auto_index_bits: bool = False
    decoder_window: int = 16
    decoder_fo4_per_level: float = 5.0
    decoder_area_scale: float = 1.0
    sparse_efficiency: float = 1.0
    gated_mac_energy: float = 0.1
    # isoarea: weight SRAM of one layer's designs; larger layers stream weights from DRAM
    onchip_weight_kb: float = 2048.0   # 0 = every layer's weights on chip
    # fixed chip
    weight_sram_kb: float = 512.0
    feature_sram_kb: float = 256.0
    dram_gbps: float = 12.8
    dram_pj_per_bit: float = tech.DRAM_PJ_PER_BIT_LPDDR4
    control_area_mm2: float = 0.05

    def __post_init__(self) -> None:
        validate(self)

    @property
    def array_cols(self) -> int:
        return self.pes // self.array_rows

    def replace(self, **changes: Any) -> "HwConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> "HwConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(known)}")
        return cls(**{k: coerce(k, v, where) for k, v in data.items()})


KEY_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(HwConfig)}
POSITIVE_KEYS = ("weight_bits", "act_bits", "mac_pipeline_stages", "pes", "array_rows",
                 "sram_macro_kb", "sram_port_bits", "fo4_ps", "index_bits", "decoder_window",
                 "decoder_area_scale", "sparse_efficiency", "weight_sram_kb", "feature_sram_kb",
                 "dram_gbps", "dram_pj_per_bit")
NON_NEGATIVE_KEYS = ("pe_overhead", "clock_setup_ns", "decoder_fo4_per_level", "onchip_weight_kb",
                     "gated_mac_energy", "control_area_mm2")


def coerce(key: str, value: Any, where: str = "config") -> Any:
    """Turn a TOML or command-line value into the key's type, naming the key on failure."""
    if key not in KEY_TYPES:
        raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(KEY_TYPES)}")
    kind = KEY_TYPES[key]
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError(value)
            return int(as_float)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        wanted = {int: "an integer", float: "a number", bool: "true or false"}.get(kind, "a string")
        raise ConfigError(f"{where}: key {key!r} needs {wanted}, got {value!r}") from None


def validate(cfg: HwConfig) -> None:
    for key in POSITIVE_KEYS:
        if not getattr(cfg, key) > 0:
            raise ConfigError(f"hardware key {key!r} must be positive, got {getattr(cfg, key)!r}")
    for key in NON_NEGATIVE_KEYS:
        if not getattr(cfg, key) >= 0:
            raise ConfigError(f"hardware key {key!r} must be >= 0, got {getattr(cfg, key)!r}")
    for key, choices in CHOICE_KEYS.items():
        if getattr(cfg, key) not in choices:
            raise ConfigError(f"hardware key {key!r} = {getattr(cfg, key)!r} is not one of "
                              f"{', '.join(choices)}")
    if cfg.pes % cfg.array_rows:
        raise ConfigError(f"hardware key 'pes' = {cfg.pes} is not a multiple of 'array_rows' = "
                          f"{cfg.array_rows}; the dense array is array_rows x pes/array_rows")
    if cfg.sparse_efficiency > 1:
        raise ConfigError("hardware key 'sparse_efficiency' must be in (0, 1]")
    if not 2 <= cfg.sram_macro_kb <= 2048:
        raise ConfigError("hardware key 'sram_macro_kb' must be within the CACTI table, 2..2048 KB")
    if not 64 <= cfg.sram_port_bits <= 256:
        raise ConfigError("hardware key 'sram_port_bits' must be within the CACTI table, 64..256")
    if cfg.index_bits > 16:
        raise ConfigError("hardware key 'index_bits' must be <= 16")


# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigArray:
    """Struct of arrays: every HwConfig key as a float array of shape (C,); string keys are
    encoded as integer codes (index into their choice tuple)."""
    names: tuple[str, ...]
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.names)

    def __getattr__(self, key: str) -> np.ndarray:
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def expanded(self) -> "ConfigArray":
        """The same configs as (C, 1, 1) arrays, to broadcast against layers x alphas."""
        return ConfigArray(self.names, {k: v.reshape(-1, 1, 1) for k, v in self.values.items()})

    def take(self, index) -> "ConfigArray":
        """A subset of configs (a slice or index array), e.g. one chunk of a sweep."""
        idx = np.arange(len(self.names))[index]
        return ConfigArray(tuple(self.names[i] for i in idx),
                           {k: v.reshape(len(self.names), *v.shape[1:])[idx] for k, v in self.values.items()})

    @classmethod
    def from_configs(cls, configs: list[HwConfig]) -> "ConfigArray":
        if not configs:
            raise ConfigError("no hardware config given")
        values = {k: np.array([_encode(k, getattr(c, k)) for c in configs], dtype=float)
                  for k in KEY_TYPES if k != "name"}
        return cls(tuple(c.name for c in configs), values)

    @classmethod
    def from_base(cls, base: HwConfig, varied: Mapping[str, np.ndarray]) -> "ConfigArray":
        """Configs that all equal `base` except the keys in `varied` (equal-length arrays).
        Validation runs on each varied key's distinct values, not per config."""
        lengths = {len(v) for v in varied.values()}
        if len(lengths) > 1:
            raise ConfigError("varied keys need arrays of the same length")
        n = lengths.pop() if lengths else 1
        values = {}
        for k in KEY_TYPES:
            if k == "name":
                continue
            if k in varied:
                col = np.asarray(varied[k])
                for v in np.unique(col):
                    base.replace(**{k: coerce(k, v.item() if hasattr(v, "item") else v)})
                values[k] = np.array([_encode(k, coerce(k, v)) for v in col], dtype=float) \
                    if k in CHOICE_KEYS else col.astype(float)
            else:
                values[k] = np.full(n, _encode(k, getattr(base, k)), dtype=float)
        bad = values["pes"] % values["array_rows"] != 0
        if bad.any():
            raise ConfigError("hardware key 'pes' must be a multiple of 'array_rows' in every "
                              "swept config")
        return cls(tuple(f"{base.name}#{i}" for i in range(n)), values)


def _encode(key: str, value: Any) -> float:
    if key in CHOICE_KEYS:
        return float(CHOICE_KEYS[key].index(value))
    return float(value)


# --- physical design ----------------------------------------------------------------------
def _mac_kind(cfg: ConfigArray):
    return cfg.values["mac_kind"]


def _per_kind(fn, bits, kind_code):
    out = fn(bits, "int")
    for code, kind in enumerate(tech.MAC_KINDS[1:], start=1):
        out = np.where(kind_code == code, fn(bits, kind), out)
    return out


def dense_pe_area_um2(cfg: ConfigArray) -> np.ndarray:
    mac = _per_kind(tech.mac_area_um2, cfg.weight_bits, _mac_kind(cfg))
    return mac * (1.0 + cfg.pe_overhead)


def decoder_fanin(cfg: ConfigArray, index_bits=None) -> np.ndarray:
    bits = cfg.index_bits if index_bits is None else index_bits
    return np.where(cfg.index_format == RELATIVE, np.exp2(bits), cfg.decoder_window)


def decoder_area_um2(cfg: ConfigArray, index_bits=None) -> np.ndarray:
    """Activation window (registers) + N_dec:1 select mux over act_bits + index adder/register."""
    bits = cfg.index_bits if index_bits is None else index_bits
    fanin = decoder_fanin(cfg, bits)
    window = fanin * cfg.act_bits * (tech.REGISTER_UM2_PER_BIT + tech.MUX_UM2_PER_INPUT_BIT)
    position_bits = np.log2(fanin) + bits
    index_logic = position_bits * (tech.ADDER_UM2_PER_BIT + tech.REGISTER_UM2_PER_BIT)
    return cfg.decoder_area_scale * (window + index_logic)


def sparse_pe_area_um2(cfg: ConfigArray, index_bits=None) -> np.ndarray:
    return dense_pe_area_um2(cfg) + decoder_area_um2(cfg, index_bits)


def mac_stage_ns(cfg: ConfigArray) -> np.ndarray:
    return _per_kind(tech.mac_delay_ns, cfg.weight_bits, _mac_kind(cfg)) / cfg.mac_pipeline_stages


def decoder_delay_ns(cfg: ConfigArray, index_bits=None) -> np.ndarray:
    levels = np.ceil(np.log2(np.maximum(decoder_fanin(cfg, index_bits), 2.0)))
    return cfg.decoder_fo4_per_level * levels * cfg.fo4_ps * 1e-3


def sram_macro_kb(cfg: ConfigArray, total_bits) -> np.ndarray:
    """Macro size actually used: the configured bank size, or the whole buffer if smaller."""
    total_kb = np.asarray(total_bits, dtype=float) / 8192.0
    return np.clip(np.minimum(cfg.sram_macro_kb, total_kb), 2.0, 2048.0)


def clock_ns(cfg: ConfigArray, macro_kb, sparse: bool, index_bits=None, access_ns=None) -> np.ndarray:
    """Clock period: max(logic path, SRAM macro access) + setup. Pass `access_ns` when the
    caller already looked it up (see sram_macro)."""
    logic = mac_stage_ns(cfg)
    if sparse:
        logic = logic + decoder_delay_ns(cfg, index_bits)
    if access_ns is None:
        access_ns = tech.sram_access_ns(macro_kb, cfg.sram_port_bits, cfg.sram_cell)
    return np.maximum(logic, access_ns) + cfg.clock_setup_ns


def sram_um2_per_bit(cfg: ConfigArray, macro_kb) -> np.ndarray:
    return tech.sram_um2_per_bit(macro_kb, cfg.sram_port_bits, cfg.sram_cell)


def sram_macro(cfg: ConfigArray, macro_kb) -> tuple[np.ndarray, np.ndarray]:
    """(um^2 per bit, access ns) of the SRAM macros, from one table lookup."""
    return tech.sram_area_and_access(macro_kb, cfg.sram_port_bits, cfg.sram_cell)


def sram_for_buffer(cfg: ConfigArray, total_bits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macro KB, um^2 per bit, access ns) for buffers of `total_bits`. Most buffers are larger
    than one macro and use the configured macro size, so the table lookup runs per config and
    only the buffers smaller than a macro get their own (hot path of sweeps)."""
    macro = sram_macro_kb(cfg, total_bits)
    full_kb = np.clip(cfg.sram_macro_kb, 2.0, 2048.0)
    per_bit0, access0 = sram_macro(cfg, full_kb)
    per_bit = np.array(np.broadcast_to(per_bit0, macro.shape))
    access = np.array(np.broadcast_to(access0, macro.shape))
    small = macro < full_kb
    if small.any():
        ports = np.broadcast_to(cfg.sram_port_bits, macro.shape)[small]
        cells = np.broadcast_to(cfg.sram_cell, macro.shape)[small]
        per_bit[small], access[small] = tech.sram_area_and_access(macro[small], ports, cells)
    return macro, per_bit, access


def sram_pj_per_bit(cfg: ConfigArray, macro_kb) -> np.ndarray:
    return tech.sram_read_pj(macro_kb, cfg.sram_port_bits, cfg.sram_cell) / cfg.sram_port_bits


def mac_energy_pj(cfg: ConfigArray) -> np.ndarray:
    return _per_kind(tech.mac_energy_pj, cfg.weight_bits, _mac_kind(cfg))
