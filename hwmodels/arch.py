"""Physical designs: PEs built from their parts, clock periods, SRAM buffers built from macros.

A dense PE is a MAC plus `pe_overhead` (control, pipeline and operand registers; accelergy-pe).
A sparse PE of the index engine adds, each from 40 nm cells (aladdin14) with counts set by the
microarchitecture:
  index    address generation: an adder + register of log2(fanin) + b bits accumulating gaps
  select   the operand-select mux, fanin:1 over act_bits (fanin - 1 two-input muxes per bit)
  window   banked design: none (the activations sit in the banked row buffer, i.e. the feature
           SRAM both designs have); window design: 2^b x act_bits registers per PE
  queue    queue_depth entries of (weight + index) bits waiting for their operand
  pointer  fiber pointer logic: a pointer_bits counter and end-of-fiber comparator
An nm-engine PE (dense MACs that skip the zeros of N:M groups, a100) takes one kept weight per
cycle, so its row streams M/N activations per cycle: M/N - 1 more activation registers than a
dense PE (a group's other values sit in the neighbouring PEs' registers of the same row), an
M:1 operand mux and log2(M) metadata bits.
Published anchors for the sparse/dense PE area ratio: 1.5 (sparse support) to 1.73 (with SIMD)
in Eyeriss v2 (eyeriss-v2), 1.34 chip-level in SCNN (scnn17).

Clock period = max(MAC stage [+ select mux], SRAM macro access) + setup, with the mux at
decoder_fo4_per_level x ceil(log2 fanin) x fo4 (logical-effort).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hwmodels import tech
from hwmodels.configs import ConfigArray

KB_BITS = tech.KB_BITS
UM2_PER_MM2 = 1e6


def ceil_log2(x):
    return np.ceil(np.log2(np.maximum(np.asarray(x, dtype=float), 1.0)))


@dataclass(frozen=True)
class PEArea:
    """um^2 per PE by part (arrays broadcast together); `total` is the PE."""
    mac: np.ndarray
    overhead: np.ndarray
    index: np.ndarray
    select: np.ndarray
    window: np.ndarray
    queue: np.ndarray
    pointer: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return sum(getattr(self, f.name) for f in fields(self))

    def parts(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def mac_area(cfg: ConfigArray, mac_bits) -> np.ndarray:
    return tech.mac_area_um2(mac_bits, cfg.mac_kind) * cfg.mac_area_scale


def dense_pe(cfg: ConfigArray, mac_bits) -> PEArea:
    mac = mac_area(cfg, mac_bits)
    zero = np.zeros_like(mac)
    return PEArea(mac, mac * cfg.pe_overhead, zero, zero, zero, zero, zero)


def select_fanin(cfg: ConfigArray, index_width) -> np.ndarray:
    """Inputs of an index-engine PE's operand mux: 2^b for the relative-index window design,
    decoder_window otherwise."""
    window = cfg.is_("operand_select", "window") & cfg.is_("index_format", "relative")
    return np.where(window, np.exp2(index_width), cfg.decoder_window)


def index_pe(cfg: ConfigArray, mac_bits, weight_bits, index_width) -> PEArea:
    """A PE of the index engine (see the module docstring)."""
    base = dense_pe(cfg, mac_bits)
    fanin = select_fanin(cfg, index_width)
    reg, mux2 = cfg.register_um2_per_bit, cfg.mux2_um2_per_bit
    window = np.where(cfg.is_("operand_select", "window"), fanin * cfg.act_bits * reg, 0.0)
    return PEArea(
        mac=base.mac, overhead=base.overhead,
        index=(ceil_log2(fanin) + index_width) * (cfg.adder_um2_per_bit + reg),
        select=(fanin - 1) * cfg.act_bits * mux2,
        window=window,
        queue=cfg.queue_depth * (weight_bits + index_width) * reg,
        pointer=cfg.pointer_bits * (cfg.counter_um2_per_bit + cfg.comparator_um2_per_bit))


def nm_pe(cfg: ConfigArray, mac_bits) -> PEArea:
    """A dense PE whose MAC skips the zeros of N:M groups (one kept weight per cycle)."""
    base = dense_pe(cfg, mac_bits)
    m, n = cfg.nm_group, cfg.nm_keep
    zero = np.zeros_like(base.mac)
    return PEArea(mac=base.mac, overhead=base.overhead,
                  index=ceil_log2(m) * cfg.register_um2_per_bit,
                  select=(m - 1) * cfg.act_bits * cfg.mux2_um2_per_bit,
                  window=(np.ceil(m / n) - 1) * cfg.act_bits * cfg.register_um2_per_bit,
                  queue=zero, pointer=zero)


def sparse_pe(cfg: ConfigArray, mac_bits, weight_bits, index_width) -> PEArea:
    """The PE of the config's sparse engine (index or nm; none: a dense PE)."""
    idx = index_pe(cfg, mac_bits, weight_bits, index_width)
    nm = nm_pe(cfg, mac_bits)
    is_nm = cfg.is_("sparse_engine", "nm")
    is_none = cfg.is_("sparse_engine", "none")
    dense = dense_pe(cfg, mac_bits)
    pick = lambda a, b, c: np.where(is_nm, b, np.where(is_none, c, a))   # noqa: E731
    return PEArea(*(pick(getattr(idx, f.name), getattr(nm, f.name), getattr(dense, f.name))
                    for f in fields(PEArea)))


def operand_rate(cfg: ConfigArray, cols) -> np.ndarray:
    """Share of cycles a sparse PE gets its operand. Banked design: the `cols` PEs of a row
    read the `decoder_window` banks of the row buffer, each bank serving one read per cycle;
    with queue_depth reads in flight per PE, B (1 - (1 - 1/B)^(C q)) of them are served per
    cycle (uniform addresses; at most one per PE), so a row never takes more than B operands a
    cycle. The window design reads its own registers. Both are then scaled by
    sparse_utilization (pipeline bubbles, eie16)."""
    banks = cfg.decoder_window
    c = np.maximum(np.asarray(cols, dtype=float), 1.0)
    served = banks * -np.expm1(c * cfg.queue_depth * np.log1p(-1.0 / banks)) / c
    banked = cfg.is_("operand_select", "banked")
    return np.where(banked, np.minimum(served, 1.0), 1.0) * cfg.sparse_utilization


def select_levels(cfg: ConfigArray, index_width) -> np.ndarray:
    """Mux levels in a sparse PE's critical path (0 for the dense-only engine)."""
    fanin = np.where(cfg.is_("sparse_engine", "nm"), cfg.nm_group, select_fanin(cfg, index_width))
    return np.where(cfg.is_("sparse_engine", "none"), 0.0, ceil_log2(fanin))


def mac_stage_ns(cfg: ConfigArray, mac_bits) -> np.ndarray:
    return tech.mac_delay_ns(mac_bits, cfg.mac_kind, cfg.mac_delay_8b_ns) / cfg.mac_pipeline_stages


def clock_ns(cfg: ConfigArray, mac_bits, sram_access_ns, levels=0.0) -> np.ndarray:
    logic = mac_stage_ns(cfg, mac_bits) + levels * cfg.decoder_fo4_per_level * cfg.fo4_ps * 1e-3
    return np.maximum(logic, sram_access_ns) + cfg.clock_setup_ns


@dataclass(frozen=True)
class SramBuffer:
    """SRAM of `bits`, built from macros of the configured size (or one smaller macro)."""
    bits: np.ndarray
    macro_kb: np.ndarray
    area_um2: np.ndarray
    access_ns: np.ndarray
    pj_per_bit: np.ndarray
    leakage_mw: np.ndarray


def sram_buffer(cfg: ConfigArray, bits) -> SramBuffer:
    """Most buffers are larger than one macro and use the configured macro size, so the CACTI
    lookup runs once per config and only buffers smaller than a macro get their own (the hot
    path of sweeps)."""
    bits = np.asarray(bits, dtype=float)
    full = np.clip(cfg.sram_macro_kb, 2.0, 2048.0)
    macro_kb = np.clip(np.minimum(full, bits / KB_BITS), 2.0, 2048.0)
    shape = np.broadcast_shapes(macro_kb.shape, np.shape(full))
    big = tech.sram_macro(full, cfg.sram_port_bits, cfg.sram_cell)
    out = {k: np.array(np.broadcast_to(v, shape), dtype=float) for k, v in big.items()}
    small = np.broadcast_to(macro_kb < full, shape)
    if small.any():
        ports = np.broadcast_to(cfg.sram_port_bits, shape)[small]
        cells = np.broadcast_to(cfg.sram_cell, shape)[small]
        part = tech.sram_macro(np.broadcast_to(macro_kb, shape)[small], ports, cells)
        for k, v in part.items():
            out[k][small] = v
    macro_kb = np.broadcast_to(macro_kb, shape)
    macros = np.maximum(bits / (macro_kb * KB_BITS), 1.0)
    return SramBuffer(
        bits=np.broadcast_to(bits, shape),
        macro_kb=macro_kb,
        area_um2=bits * out["um2_per_bit"] * cfg.sram_area_scale,
        access_ns=out["access_ns"] * cfg.sram_access_scale,
        pj_per_bit=out["pj_per_bit"] * cfg.sram_energy_scale,
        leakage_mw=out["leakage_mw"] * macros)


def mac_energy(cfg: ConfigArray, mac_bits) -> np.ndarray:
    return tech.mac_energy_pj(mac_bits, cfg.mac_kind) * cfg.mac_energy_scale
