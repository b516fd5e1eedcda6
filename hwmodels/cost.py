"""Per-layer cost of dense and sparse implementations: cycles, clock, latency, area, storage,
energy; arrays of configs (C) x layers (L) x keep fractions alpha (A) in one numpy call.

Two evaluation modes (HwConfig.mode):
- isoarea (paper 001 section 5.1): per layer, the dense design holding that layer on chip (its
  PE array + SRAM for all weights, input and output features and biases) fixes the area. The
  sparse design at each alpha gets exactly that area: SRAM for stored entries + indices +
  features, and as many (bigger, slower) sparse PEs as the rest of the area pays for. Area is
  linear in the PE count, so the count is solved in closed form (fractional = area-equivalent).
  Weights larger than `onchip_weight_kb` (FC layers: paper 001 section 5 keeps them off chip)
  get a buffer of that size and stream from DRAM once (roofline at `dram_gbps`), so a sparse
  design cannot turn hundreds of MB of freed SRAM into PEs.
- fixed: one chip. The dense chip has `pes` PEs, `weight_sram_kb` + `feature_sram_kb` of SRAM
  and a DRAM interface of `dram_gbps`; data that do not fit come from DRAM (roofline). The
  sparse-capable chip has the same SRAM and area, hence fewer PEs, and runs each layer dense or
  sparse, whichever is faster (Sticker-style per-layer mode).

Both designs are the same kind of array (notes section 4): `array_rows` rows x pes/array_rows
columns, filters of a group across the columns; OS puts output pixels across the rows and walks
the reduction in each PE, WS puts reduction positions across the rows and streams the pixels.
Folds and fill/drain follow the SCALE-Sim closed forms: OS (T + R + C - 2) * folds - 1,
WS (2R + C + T - 2) * folds - 1, per group, where R and C count the rows and columns a fold
uses (a layer narrower than the array does not pay skew across idle PEs). The dense design
walks every weight; the sparse design is the same array with an index decoder in each PE,
fewer or more columns (what its area buys; a real number, so its folds are the dense
mapping's padded extent over its width, continuous and never below one), and each fold walks
the stored entries (padding included) of its slowest fiber, divided by sparse_efficiency.
So a mapping that wastes the dense array (FC at batch 1: one row; depthwise: one column)
wastes the sparse one alike. dataflow "auto" gives each design the faster of OS and WS per
layer (a compiler's choice); "os"/"ws" are honoured as set.
Load balance: the fibers of one column fold wait for the slowest; its expected length comes
from a binomial extreme value (mean + sigma E[max of lanes normals]) or exactly from a mask.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from hwmodels import arch, formats, tech
from hwmodels.arch import ConfigArray
from hwmodels.errors import ConfigError, FitError
from hwmodels.formats import BITMASK, RELATIVE, MaskStats
from hwmodels.workload import LayerShape

UM2_PER_MM2 = 1e6


@dataclass(frozen=True)
class LayerArray:
    """Layer dimensions as (1, L, 1) float arrays."""
    names: tuple[str, ...]
    weights: np.ndarray
    fibers: np.ndarray          # filters (output channels)
    fiber_len: np.ndarray       # reduction per output element
    groups: np.ndarray
    pixels: np.ndarray          # output positions per filter (batch included)
    macs: np.ndarray
    in_elements: np.ndarray
    out_elements: np.ndarray
    bias: np.ndarray            # bias values stored
    coord_bits: np.ndarray      # COO coordinate width

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_shapes(cls, shapes: Sequence[LayerShape]) -> "LayerArray":
        if not shapes:
            raise ConfigError("no layers to evaluate")

        def col(values):
            return np.asarray(values, dtype=float).reshape(1, -1, 1)

        coord = [float(np.sum(formats.ceil_log2(
            [s.out_channels, s.in_channels // s.groups, *s.kernel]))) for s in shapes]
        return cls(
            names=tuple(s.name for s in shapes),
            weights=col([s.weight_count for s in shapes]),
            fibers=col([s.out_channels for s in shapes]),
            fiber_len=col([s.weight_count / s.out_channels for s in shapes]),
            groups=col([s.groups for s in shapes]),
            pixels=col([s.macs / (s.weight_count) for s in shapes]),
            macs=col([s.macs for s in shapes]),
            in_elements=col([s.in_elements for s in shapes]),
            out_elements=col([s.out_elements for s in shapes]),
            bias=col([s.out_channels if s.has_bias else 0 for s in shapes]),
            coord_bits=col(coord),
        )

    def take(self, index) -> "LayerArray":
        return LayerArray(tuple(np.asarray(self.names, dtype=object)[index]),
                          *(getattr(self, f.name)[:, index] for f in fields(self)[1:]))


def array_cycles(rows, cols, pixels, filters, walk, groups, dataflow, dense_cols, dense_walk):
    """(cycles, chose WS) of a layer on a rows x cols array. `filters` per group; `walk` =
    reduction positions a PE walks per output (dense: fiber_len; sparse: the slowest fiber's
    stored entries); `dataflow` codes of arch.DATAFLOWS: 0 OS, 1 WS, 2 the faster of both.
    Folds keep the dense mapping's rounding (`dense_cols` x `dense_walk`): exactly ceil for the
    dense design; the sparse design's column count is an area-equivalent real number, so its
    folds are the dense design's padded extent over its own width (continuous, >= 1)."""
    def folds(extent, width, dense_extent, dense_width):
        padded = np.where(dense_extent > dense_width,
                          np.ceil(dense_extent / dense_width) * dense_width / dense_extent, 1.0)
        return np.maximum(extent * padded / width, 1.0)

    def cycles(sr, sc, t, row_folds, ws):
        fill = (2 if ws else 1) * np.minimum(rows, sr) + np.minimum(cols, sc) - 2
        return (t + fill) * row_folds * folds(filters, cols, filters, dense_cols) - 1

    dataflow = np.asarray(dataflow)
    os_ = (cycles(pixels, filters, walk, np.ceil(pixels / rows), False)
           if np.any(dataflow != 1) else np.inf)
    ws = (cycles(walk, filters, pixels, folds(walk, rows, dense_walk, rows), True)
          if np.any(dataflow != 0) else np.inf)
    use_ws = np.where(dataflow == 2, ws < os_, dataflow == 1)
    return np.where(use_ws, ws, os_) * groups, use_ws


def systolic_cycles(layers: LayerArray, rows, cols, dataflow):
    """(cycles, chose WS) of the dense design: every weight walked."""
    return array_cycles(rows, cols, layers.pixels, layers.fibers / layers.groups,
                        layers.fiber_len, layers.groups, dataflow, cols, layers.fiber_len)


@dataclass(frozen=True)
class MaskArrays:
    """Exact statistics of the layers that have masks, aligned with a LayerArray."""
    stats: tuple[MaskStats | None, ...]

    def entries(self, index_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(exact relative entries, has-mask flag), both broadcast to (C, L, 1)."""
        bits = np.broadcast_to(index_bits, (index_bits.shape[0], len(self.stats), 1))
        out = np.full(bits.shape, np.nan)
        for j, st in enumerate(self.stats):
            if st is None:
                continue
            b = bits[:, j, 0].astype(np.int64)
            uniq, inv = np.unique(b, return_inverse=True)
            out[:, j, 0] = st.relative_entries(uniq)[inv]
        return out, ~np.isnan(out)

    def balance(self, index_bits, fmt, lanes) -> np.ndarray:
        out = np.full(lanes.shape, np.nan)
        bits = np.broadcast_to(index_bits, lanes.shape)
        fmt = np.broadcast_to(fmt, lanes.shape)
        for j, st in enumerate(self.stats):
            if st is None:
                continue
            for c in range(lanes.shape[0]):
                work = st.fiber_entries(int(bits[c, j, 0]), int(fmt[c, j, 0]))
                out[c, j] = formats.balance_efficiency_exact(work, lanes[c, j])
        return out


@dataclass(frozen=True)
class LayerCosts:
    """Costs per (config, layer, alpha). Times in ns, areas in um^2, energies in pJ."""
    mode: str
    alphas: np.ndarray
    dense_cycles: np.ndarray
    dense_clock_ns: np.ndarray
    dense_time_ns: np.ndarray
    dense_area_um2: np.ndarray
    dense_energy_pj: np.ndarray
    dense_storage_bits: np.ndarray
    dense_utilization: np.ndarray
    sparse_pes: np.ndarray
    sparse_cycles: np.ndarray
    sparse_clock_ns: np.ndarray
    sparse_time_ns: np.ndarray
    sparse_area_um2: np.ndarray
    sparse_energy_pj: np.ndarray
    value_bits: np.ndarray
    index_bits: np.ndarray
    entries: np.ndarray
    index_width: np.ndarray
    balance: np.ndarray
    dense_dram_bits: np.ndarray
    sparse_dram_bits: np.ndarray
    dense_mode_time_ns: np.ndarray  # dense implementation on the sparse-capable design
                                    # (isoarea: the dense design itself; fixed: dense mode on
                                    # the sparse-capable chip, decoders bypassed)
    dense_mode_cycles: np.ndarray

    def __post_init__(self) -> None:
        # give every array its full shape: dense_* (C, L, 1), the rest (C, L, A)
        full = np.broadcast_shapes(*(np.shape(getattr(self, f.name)) for f in fields(self)
                                     if f.name != "mode"))
        for f in fields(self):
            if f.name == "mode":
                continue
            dense_only = f.name.startswith("dense_") and not f.name.startswith("dense_mode_")
            shape = full[:2] + (1,) if dense_only else full
            object.__setattr__(self, f.name, np.broadcast_to(getattr(self, f.name), shape))

    @property
    def chosen_time_ns(self) -> np.ndarray:
        """The faster implementation on the sparse-capable design."""
        return np.minimum(self.sparse_time_ns, self.dense_mode_time_ns)

    @property
    def sparse_speedup(self) -> np.ndarray:
        """Dense time / sparse time (0 where the sparse design does not fit the area)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isfinite(self.sparse_time_ns), self.dense_time_ns / self.sparse_time_ns, 0.0)

    @property
    def speedup(self) -> np.ndarray:
        return self.dense_time_ns / self.chosen_time_ns

    @property
    def sparse_storage_bits(self) -> np.ndarray:
        return self.value_bits + self.index_bits


def _stored_bits(cfg):
    """Bits per stored weight: per layer when the plan quantizes layers differently."""
    return cfg.values.get("layer_weight_bits", cfg.weight_bits)


def with_layer_weight_bits(cfg: ConfigArray, weight_bits, n_layers: int) -> ConfigArray:
    """Configs whose layers store `weight_bits` (one per layer). In isoarea mode each layer has
    its own design, so its MACs are that wide too; on a fixed chip the MACs keep the chip's
    width and a layer may not need wider weights than the chip computes."""
    wb = np.asarray(weight_bits, dtype=float).reshape(1, -1, 1)
    if wb.shape[1] != n_layers:
        raise ConfigError(f"per-layer weight bits: got {wb.shape[1]} values for {n_layers} layers")
    if np.any(wb <= 0) or np.any(wb != np.round(wb)):
        raise ConfigError("per-layer weight bits must be positive integers")
    values = dict(cfg.values)
    fixed = cfg.values["mode"].reshape(-1)[0] == arch.MODES.index("fixed")
    if fixed:
        too_wide = wb > cfg.weight_bits
        if np.any(too_wide):
            raise ConfigError(f"a layer stores {int(wb.max())}-bit weights but the fixed chip's MACs "
                              f"are {int(np.min(cfg.weight_bits))}-bit (hardware key 'weight_bits')")
        values["layer_weight_bits"] = np.broadcast_to(wb, (cfg.weight_bits.shape[0], n_layers, 1))
    else:
        values["weight_bits"] = np.broadcast_to(wb, (cfg.weight_bits.shape[0], n_layers, 1))
    return ConfigArray(cfg.names, values)


def _sparse_workload(cfg, layers, alpha, bits, masks):
    """Stored entries, processed entries per output pixel, storage, nnz for index width `bits`."""
    nnz = layers.weights * alpha
    rel_expected = formats.expected_relative_entries(layers.weights, alpha, bits)
    if masks is not None:
        exact, has = masks.entries(bits)
        rel = np.where(has, exact, rel_expected)
    else:
        rel = rel_expected
    fmt = cfg.index_format
    st = formats.storage(fmt, nnz, rel, layers.weights, layers.fibers, layers.fiber_len,
                         layers.coord_bits, _stored_bits(cfg), bits)
    # a bitmask decoder walks `decoder_window` positions per cycle
    processed = np.where(fmt == BITMASK, np.maximum(st.entries, st.scan_positions / cfg.decoder_window),
                         st.entries)
    return nnz, st, processed


def expected_max_normal(n):
    """E[max of n standard normals] by Blom's formula Phi^-1((n - 0.375) / (n + 0.25)), with
    the Abramowitz-Stegun 26.2.23 inverse normal (error < 5e-4); 0 for one lane."""
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    tail = 1.0 - (n - 0.375) / (n + 0.25)              # upper-tail probability, <= 0.5
    t = np.sqrt(-2.0 * np.log(tail))
    z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
        1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
    return np.maximum(z, 0.0)


_LOG2_LANES = np.linspace(0.0, 24.0, 2401)
_EMAX_TABLE = expected_max_normal(np.exp2(_LOG2_LANES))


def _expected_max_lookup(n):
    """expected_max_normal by table interpolation in log2(n) (error < 1e-5; hot path)."""
    return np.interp(np.log2(np.maximum(n, 1.0)), _LOG2_LANES, _EMAX_TABLE)


def _balance(cfg, layers, alpha, processed, nnz, lanes, bits, masks):
    """Expected load-balance efficiency of a column fold: mean / E[max] over its `lanes` fibers,
    with the per-fiber entry counts binomial(fiber_len, alpha) (scaled by padding)."""
    per_fiber = processed / layers.fibers
    scale = processed / np.maximum(nnz, 1e-300)           # entries per non-zero (padding)
    sigma = np.sqrt(layers.fiber_len * alpha * (1 - alpha)) * scale
    eff = per_fiber / (per_fiber + sigma * _expected_max_lookup(lanes))
    if masks is not None:
        exact = masks.balance(bits, cfg.index_format, np.broadcast_to(lanes, eff.shape))
        eff = np.where(np.isnan(exact), eff, exact)
    return eff


def _sparse_cycles(cfg, layers, alpha, processed, nnz, pes_s, bits, masks):
    """(cycles, chose WS, balance x sparse_efficiency) of the sparse array of `pes_s` PEs:
    array_rows rows, each column fold walking the stored entries of its slowest fiber."""
    cols = pes_s / cfg.array_rows
    filters = layers.fibers / layers.groups
    eff = _balance(cfg, layers, alpha, processed, nnz, np.minimum(cols, filters), bits, masks)
    eff = eff * cfg.sparse_efficiency
    walk = processed / layers.fibers / eff
    cycles, ws = array_cycles(cfg.array_rows, cols, layers.pixels, filters, walk, layers.groups,
                              cfg.dataflow, cfg.pes / cfg.array_rows, layers.fiber_len)
    return cycles, ws, eff


def _energy(cfg, layers, macs_done, gated_macs, stored_bits, macro_kb, sram_bits, time_ns,
            ws, pes, enabled: bool = True):
    """SRAM reads: weights once (WS) or once per row fold (OS); inputs once per column."""
    if not enabled:
        return np.float64(np.nan)
    e_mac = arch.mac_energy_pj(cfg)
    e_bit = arch.sram_pj_per_bit(cfg, macro_kb)
    weight_passes = np.where(ws, 1.0, np.ceil(layers.pixels / cfg.array_rows))
    cols = np.maximum(pes / cfg.array_rows, 1.0)
    feature_bits = (macs_done / cols + layers.out_elements) * cfg.act_bits
    macros = np.maximum(sram_bits / (macro_kb * 8192.0), 1.0)
    leak_mw = tech.sram_leakage_mw(macro_kb, cfg.sram_port_bits, cfg.sram_cell) * macros
    return (macs_done * e_mac + gated_macs * e_mac * cfg.gated_mac_energy
            + (stored_bits * weight_passes + feature_bits) * e_bit + leak_mw * time_ns)


def evaluate(configs: ConfigArray, layers: LayerArray, alphas,
             masks: MaskArrays | None = None, energy: bool = True,
             cache: dict | None = None, weight_bits=None) -> LayerCosts:
    """Evaluate configs x layers x alphas. `alphas` broadcasts to (C, L, A) (e.g. an (A,) grid,
    or (1, L, 1) per-layer keep fractions). All configs must share one mode. energy=False skips
    the energy terms (NaN), which the break-even solver does not need. `cache`: a dict kept
    by a caller that evaluates the same configs and layers at many alphas (alpha-independent
    parts are computed once). `weight_bits`: optional bits per stored weight, one per layer
    (quantized plans); default the config's weight_bits."""
    cfg = configs.expanded()
    modes = np.unique(configs.values["mode"])
    if modes.size != 1:
        raise ConfigError("hardware key 'mode' must be the same for all configs of one evaluation")
    alpha = np.asarray(alphas, dtype=float)
    if alpha.ndim <= 1:
        alpha = alpha.reshape(1, 1, -1)
    if np.any(alpha <= 0) or np.any(alpha > 1):
        raise ConfigError("keep fractions alpha must be in (0, 1]")
    if weight_bits is not None:
        cfg = with_layer_weight_bits(cfg, weight_bits, len(layers))
    if arch.MODES[int(modes[0])] == "fixed":
        return _fixed_chip(cfg, layers, alpha, masks, energy)
    return _isoarea(cfg, layers, alpha, masks, energy, cache)


def _dense_isoarea(cfg, layers) -> dict:
    """The dense design of each layer: independent of alpha, so the solver computes it once."""
    control = cfg.control_area_mm2 * UM2_PER_MM2
    cols = cfg.pes / cfg.array_rows
    feature_bits = (layers.in_elements + layers.out_elements) * cfg.act_bits
    bias_bits = layers.bias * cfg.act_bits * 2                 # biases at accumulator width
    dense_storage = layers.weights * _stored_bits(cfg)
    onchip_d, dram_d = _weight_buffer(cfg, dense_storage)
    sram_d = onchip_d + feature_bits + bias_bits
    macro_d, per_bit_d, access_d = arch.sram_for_buffer(cfg, sram_d)
    area_d = cfg.pes * arch.dense_pe_area_um2(cfg) + sram_d * per_bit_d + control
    clk_d = arch.clock_ns(cfg, macro_d, sparse=False, access_ns=access_d)
    cyc_d, ws_d = systolic_cycles(layers, cfg.array_rows, cols, cfg.dataflow)
    return dict(control=control, feature_bits=feature_bits, bias_bits=bias_bits,
                dense_storage=dense_storage, sram_d=sram_d, macro_d=macro_d, area_d=area_d,
                clk_d=clk_d, cyc_d=cyc_d, ws_d=ws_d, dram_d=dram_d,
                time_d=np.maximum(cyc_d * clk_d, dram_d / (cfg.dram_gbps * 8.0)))


def _weight_buffer(cfg, weight_bits):
    """(on-chip weight SRAM bits, DRAM bits streamed) of an isoarea design: weights above
    onchip_weight_kb get a buffer of that size and stream in once."""
    cap = np.where(cfg.onchip_weight_kb > 0, cfg.onchip_weight_kb * 8192.0, np.inf)
    stream = weight_bits > cap
    return np.where(stream, cap, weight_bits), np.where(stream, weight_bits, 0.0)


def _cached(cache, key, make):
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _isoarea(cfg, layers, alpha, masks, energy, cache=None) -> LayerCosts:
    d = _cached(cache, "isoarea", lambda: _dense_isoarea(cfg, layers))
    control, feature_bits, bias_bits = d["control"], d["feature_bits"], d["bias_bits"]
    dense_storage, sram_d, macro_d, area_d = d["dense_storage"], d["sram_d"], d["macro_d"], d["area_d"]
    clk_d, cyc_d, time_d = d["clk_d"], d["cyc_d"], d["time_d"]
    energy_d = (_energy(cfg, layers, layers.macs, 0.0, dense_storage, macro_d, sram_d, time_d,
                        d["ws_d"], cfg.pes, energy) + d["dram_d"] * cfg.dram_pj_per_bit)

    best = None
    for bits in _index_width_candidates(cfg):
        nnz, st, processed = _sparse_workload(cfg, layers, alpha, bits, masks)
        onchip_s, dram_s = _weight_buffer(cfg, st.total_bits)
        sram_s = onchip_s + feature_bits + bias_bits
        macro_s, per_bit_s, access_s = arch.sram_for_buffer(cfg, sram_s)
        sram_area_s = sram_s * per_bit_s
        pe_area_s = arch.sparse_pe_area_um2(cfg, bits)
        pes_s = (area_d - sram_area_s - control) / pe_area_s
        clk_s = arch.clock_ns(cfg, macro_s, sparse=True, index_bits=bits, access_ns=access_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            cyc_s, ws_s, eff = _sparse_cycles(cfg, layers, alpha, processed, nnz, pes_s, bits, masks)
            cyc_s = np.where(pes_s > 0, cyc_s, np.inf)
        time_s = np.maximum(cyc_s * clk_s, dram_s / (cfg.dram_gbps * 8.0))
        cand = dict(dram=np.broadcast_to(dram_s, time_s.shape), bits=np.broadcast_to(bits, time_s.shape), pes=pes_s, cyc=cyc_s, ws=ws_s, clk=clk_s,
                    time=time_s, st=st, eff=eff, macro=macro_s, sram=sram_s, nnz=nnz,
                    processed=processed, area=sram_area_s + np.maximum(pes_s, 0) * pe_area_s + control)
        best = cand if best is None else _pick_faster(best, cand)
    b = best
    st = b["st"]
    energy_s = _energy(cfg, layers, b["nnz"] * layers.pixels, (b["processed"] - b["nnz"]) * layers.pixels,
                       st.total_bits, b["macro"], b["sram"], np.where(np.isfinite(b["time"]), b["time"], 0),
                       b["ws"], b["pes"], energy) + b["dram"] * cfg.dram_pj_per_bit
    shape = b["time"].shape
    zeros = np.zeros(shape)
    return LayerCosts(
        mode="isoarea", alphas=np.broadcast_to(alpha, shape),
        dense_cycles=cyc_d, dense_clock_ns=clk_d, dense_time_ns=time_d, dense_area_um2=area_d,
        dense_energy_pj=energy_d, dense_storage_bits=dense_storage,
        dense_utilization=layers.macs / (cyc_d * cfg.pes),
        sparse_pes=b["pes"], sparse_cycles=b["cyc"], sparse_clock_ns=b["clk"], sparse_time_ns=b["time"],
        sparse_area_um2=b["area"], sparse_energy_pj=energy_s,
        value_bits=np.broadcast_to(st.value_bits, shape), index_bits=np.broadcast_to(st.index_bits, shape),
        entries=np.broadcast_to(st.entries, shape), index_width=b["bits"], balance=b["eff"],
        dense_dram_bits=d["dram_d"], sparse_dram_bits=b["dram"],
        dense_mode_time_ns=np.broadcast_to(time_d, shape), dense_mode_cycles=np.broadcast_to(cyc_d, shape))


def _index_width_candidates(cfg):
    """The configured index width, or every candidate width where auto_index_bits is on
    (relative index only: other formats have no free width)."""
    auto = (cfg.auto_index_bits > 0) & (cfg.index_format == RELATIVE)
    if not np.any(auto):
        return [cfg.index_bits]
    return [np.where(auto, float(b), cfg.index_bits) for b in formats.INDEX_BITS_CANDIDATES]


def _pick_faster(a: dict, b: dict) -> dict:
    better = b["time"] < a["time"]
    out = {}
    for k in a:
        if k == "st":
            out[k] = formats.Storage(*(np.where(better, getattr(b[k], f.name), getattr(a[k], f.name))
                                       for f in fields(formats.Storage)))
        else:
            out[k] = np.where(better, b[k], a[k])
    return out


def check_fits_chip(cfg: ConfigArray, layers: LayerArray) -> None:
    """A fixed chip must hold one fold's working set even when everything streams from DRAM:
    an array's worth of weights in the weight buffer, and the partial sums of one fold plus one
    input column in the feature buffer. Raises FitError naming the layer and the key."""
    c = cfg.expanded() if cfg.values["pes"].ndim == 1 else cfg
    weight_tile = c.pes * c.weight_bits + 0 * layers.weights
    feature_tile = (c.pes * 2 + c.array_rows) * c.act_bits + 0 * layers.weights
    for tile, what, key in ((weight_tile, "weight", "weight_sram_kb"),
                            (feature_tile, "feature", "feature_sram_kb")):
        have = getattr(c, key) * 8192.0
        bad = np.broadcast_to(tile > have, np.broadcast(tile, have).shape)
        if bad.any():
            ci, li = (int(i) for i in np.argwhere(bad)[0][:2])
            need_kb = float(np.broadcast_to(tile, bad.shape)[ci, li, 0]) / 8192.0
            have_kb = float(np.broadcast_to(have, bad.shape)[ci, li, 0]) / 8192.0
            raise FitError(f"layer {layers.names[li]!r} does not fit the fixed chip even from "
                           f"DRAM: one {what} tile needs {need_kb:.3g} KB but {key} = "
                           f"{have_kb:.3g} KB; raise {key} or use fewer PEs")


def _dram_bits(cfg, layers, weight_bits, feature_bits):
    """Weights stream in once (in tiles of the weight buffer); inputs are re-read once per
    weight tile and outputs written once when the features do not fit the feature buffer."""
    tiles = np.ceil(weight_bits / (cfg.weight_sram_kb * 8192.0))
    spill = feature_bits > cfg.feature_sram_kb * 8192.0
    feat = np.where(spill, (layers.in_elements * tiles + layers.out_elements) * cfg.act_bits, 0.0)
    return weight_bits + feat


def _fixed_chip(cfg, layers, alpha, masks, energy) -> LayerCosts:
    check_fits_chip(cfg, layers)
    control = cfg.control_area_mm2 * UM2_PER_MM2
    cols = cfg.pes / cfg.array_rows
    sram_bits = (cfg.weight_sram_kb + cfg.feature_sram_kb) * 8192.0
    macro = np.minimum(cfg.sram_macro_kb, np.minimum(cfg.weight_sram_kb, cfg.feature_sram_kb))
    macro = np.clip(macro, 2.0, 2048.0)
    sram_area = sram_bits * arch.sram_um2_per_bit(cfg, macro)
    pe_area_d = arch.dense_pe_area_um2(cfg)
    area = cfg.pes * pe_area_d + sram_area + control
    bw_bits_per_ns = cfg.dram_gbps * 8.0                      # GB/s = bytes/ns
    feature_bits = (layers.in_elements + layers.out_elements) * cfg.act_bits

    clk_d = arch.clock_ns(cfg, macro, sparse=False)
    cyc_d, ws_d = systolic_cycles(layers, cfg.array_rows, cols, cfg.dataflow)
    dense_storage = layers.weights * _stored_bits(cfg)
    dram_d = _dram_bits(cfg, layers, dense_storage, feature_bits)
    time_d = np.maximum(cyc_d * clk_d, dram_d / bw_bits_per_ns)
    energy_d = (_energy(cfg, layers, layers.macs, 0.0, dense_storage, macro, sram_bits, time_d,
                        ws_d, cfg.pes, energy) + dram_d * cfg.dram_pj_per_bit)

    bits = cfg.index_bits                     # the decoder is fixed in silicon on one chip
    nnz, st, processed = _sparse_workload(cfg, layers, alpha, bits, masks)
    pe_area_s = arch.sparse_pe_area_um2(cfg, bits)
    pes_s = cfg.pes * pe_area_d / pe_area_s
    clk_s = arch.clock_ns(cfg, macro, sparse=True, index_bits=bits)
    cyc_s, ws_s, eff = _sparse_cycles(cfg, layers, alpha, processed, nnz, pes_s, bits, masks)
    dram_s = _dram_bits(cfg, layers, st.total_bits, feature_bits)
    time_s = np.maximum(cyc_s * clk_s, dram_s / bw_bits_per_ns)
    # dense mode on the sparse-capable chip: decoders bypassed, the dense mapping on its array
    cyc_dense_mode = systolic_cycles(layers, cfg.array_rows, pes_s / cfg.array_rows, cfg.dataflow)[0]
    time_dense_mode = np.maximum(cyc_dense_mode * clk_s, dram_d / bw_bits_per_ns)
    energy_s = (_energy(cfg, layers, nnz * layers.pixels, (processed - nnz) * layers.pixels,
                        st.total_bits, macro, sram_bits, time_s, ws_s, pes_s, energy)
                + dram_s * cfg.dram_pj_per_bit)
    shape = time_s.shape
    return LayerCosts(
        mode="fixed", alphas=np.broadcast_to(alpha, shape),
        dense_cycles=cyc_d, dense_clock_ns=clk_d, dense_time_ns=time_d,
        dense_area_um2=np.broadcast_to(area, time_d.shape), dense_energy_pj=energy_d,
        dense_storage_bits=dense_storage, dense_utilization=layers.macs / (cyc_d * cfg.pes),
        sparse_pes=np.broadcast_to(pes_s, shape), sparse_cycles=cyc_s,
        sparse_clock_ns=np.broadcast_to(clk_s, shape), sparse_time_ns=time_s,
        sparse_area_um2=np.broadcast_to(pes_s * pe_area_s + sram_area + control, shape),
        sparse_energy_pj=energy_s, value_bits=np.broadcast_to(st.value_bits, shape),
        index_bits=np.broadcast_to(st.index_bits, shape), entries=np.broadcast_to(st.entries, shape),
        index_width=np.broadcast_to(bits, shape), balance=eff,
        dense_dram_bits=dram_d, sparse_dram_bits=dram_s,
        dense_mode_time_ns=np.broadcast_to(time_dense_mode, shape),
        dense_mode_cycles=np.broadcast_to(cyc_dense_mode, shape))
