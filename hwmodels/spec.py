"""Typed hardware specs, Timeloop-style: what the chip is (`Architecture`), what its cells cost
(`Technology`), how sparse weights are stored (`SparseFormat`) and how it is judged
(`EvaluationSettings`: per-layer same-area designs, or one fixed chip). `HardwareSpec` holds the four.

Every key is declared once, as a field of its section with its bounds, unit and meaning; the
flat key name (`pes`, `fo4_ps`, ...) is unique across sections, so `--set pes=512` and sweeps
name keys without a section. A key whose `modes` do not include the spec's mode is an error to
set (`weight_sram_kb` means nothing to per-layer iso-area designs). Sourced numbers carry an
uncertainty range and a source (an id of hwmodels/data/sources.toml, or text) in
`HardwareSpec.ranges` / `.sources`; hwmodels.uncertainty propagates the ranges.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from hwmodels.errors import ConfigError

SECTIONS = ("architecture", "technology", "format", "evaluation")
MODES = ("isoarea", "fixed")
DATAFLOWS = ("os", "ws", "is", "auto")        # auto: the fastest of os, ws, is per layer and design
MAC_KINDS = ("int", "fp16", "fp32")
SRAM_CELLS = ("hp", "lstp")
SPARSE_ENGINES = ("index", "nm", "none")     # index: decoder PEs (any pattern); nm: N:M-skip MACs
INDEX_FORMATS = ("relative", "bitmask", "csr", "csc", "coo")
WIDTH_POLICIES = ("fixed", "fastest")        # fastest: each layer's design picks its index width
OPERAND_SELECTS = ("banked", "window")


def param(default: Any, *, lo: float | None = None, hi: float | None = None,
          choices: tuple[str, ...] | None = None, unit: str = "", doc: str = "",
          modes: tuple[str, ...] = ()):
    return field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices, "unit": unit,
                                            "doc": doc, "modes": modes})


@dataclass(frozen=True)
class Architecture:
    pes: int = param(256, lo=1, hi=1 << 22, unit="PEs",
                     doc="PEs of the dense array (array_rows x columns); the sparse designs get "
                         "what their area pays for")
    array_rows: int = param(16, lo=1, hi=4096, unit="rows", doc="rows of every PE array")
    dataflow: str = param("os", choices=DATAFLOWS, doc="systolic mapping (SCALE-Sim closed forms)")
    weight_bits: int = param(16, lo=1, hi=32, unit="bits",
                             doc="MAC weight operand width, and the stored width of layers a plan "
                                 "does not quantize")
    act_bits: int = param(16, lo=1, hi=32, unit="bits", doc="feature (activation) width")
    mac_kind: str = param("int", choices=MAC_KINDS, doc="integer or floating-point MACs")
    mac_pipeline_stages: int = param(1, lo=1, hi=16, unit="stages", doc="pipeline stages of a MAC")
    pe_overhead: float = param(0.5, lo=0.0, hi=10.0, unit="x MAC area",
                               doc="PE control and pipeline registers as a share of the MAC area")
    sram_cell: str = param("lstp", choices=SRAM_CELLS, doc="SRAM cell/periphery (CACTI itrs-hp/lstp)")
    sram_macro_kb: float = param(64.0, lo=2.0, hi=2048.0, unit="KB",
                                 doc="SRAM bank (macro) size; buffers are built from macros of it")
    sram_port_bits: int = param(64, lo=64, hi=256, unit="bits", doc="SRAM port width")
    control_area_mm2: float = param(0.05, lo=0.0, hi=1000.0, unit="mm^2", doc="global control and I/O")
    clock_setup_ns: float = param(0.1, lo=0.0, hi=10.0, unit="ns", doc="register setup and skew")
    sparse_engine: str = param("index", choices=SPARSE_ENGINES,
                               doc="index: PEs with an index decoder and operand window (unstructured, "
                                   "N:M, blocks); nm: dense MACs that skip the zeros of N:M groups; "
                                   "none: dense only (channel pruning still shrinks layers)")
    nm_keep: int = param(2, lo=1, hi=64, doc="N of the nm engine's N:M groups (kept per group)")
    nm_group: int = param(4, lo=2, hi=64, doc="M of the nm engine's N:M groups")
    operand_select: str = param("banked", choices=OPERAND_SELECTS,
                                doc="how a sparse PE gets the activation of its weight: banked "
                                    "(address generation into a row buffer of decoder_window banks, "
                                    "through a decoder_window:1 read mux) or window (its own "
                                    "register window of the 2^index_width_bits positions a "
                                    "relative index can reach, and a mux over it)")
    decoder_window: int = param(16, lo=2, hi=4096, unit="banks",
                                doc="fan-in of a sparse PE's operand-select mux (banked design; "
                                    "also the window of bitmask/CSR/CSC/COO decoders)")
    queue_depth: int = param(2, lo=1, hi=1024, unit="entries",
                             doc="nonzero queue of a sparse PE (entries waiting for their operand)")
    pointer_bits: int = param(16, lo=4, hi=32, unit="bits", doc="fiber pointer width of a sparse PE")
    sparse_utilization: float = param(1.0, lo=0.05, hi=1.0,
                                      doc="share of a sparse PE's cycles not lost to operand-fetch "
                                          "stalls (beyond the modeled load imbalance of the mask)")


@dataclass(frozen=True)
class Technology:
    fo4_ps: float = param(20.0, lo=1.0, hi=500.0, unit="ps", doc="fan-out-of-4 inverter delay")
    decoder_fo4_per_level: float = param(5.0, lo=0.5, hi=50.0, unit="FO4",
                                         doc="delay per level of the operand-select mux tree")
    mac_delay_8b_ns: float = param(1.1, lo=0.05, hi=50.0, unit="ns",
                                   doc="unpipelined 8-bit integer MAC critical path")
    mac_area_scale: float = param(1.0, lo=0.1, hi=10.0, doc="factor on the Horowitz-derived MAC area")
    mac_energy_scale: float = param(1.0, lo=0.1, hi=10.0, doc="factor on the Horowitz MAC energy")
    register_um2_per_bit: float = param(5.98, lo=0.1, hi=100.0, unit="um^2", doc="one flip-flop bit")
    mux2_um2_per_bit: float = param(1.8, lo=0.1, hi=50.0, unit="um^2",
                                    doc="one 2:1 multiplexer bit (an N:1 mux is N-1 of them)")
    adder_um2_per_bit: float = param(3.38, lo=0.1, hi=100.0, unit="um^2", doc="one ripple-adder bit")
    counter_um2_per_bit: float = param(15.5, lo=0.1, hi=200.0, unit="um^2", doc="one counter bit")
    comparator_um2_per_bit: float = param(2.2, lo=0.1, hi=100.0, unit="um^2", doc="one comparator bit")
    sram_area_scale: float = param(1.0, lo=0.1, hi=10.0, doc="factor on CACTI's SRAM area")
    sram_access_scale: float = param(1.0, lo=0.1, hi=10.0, doc="factor on CACTI's SRAM access time")
    sram_energy_scale: float = param(1.0, lo=0.1, hi=10.0, doc="factor on CACTI's SRAM access energy")
    dram_pj_per_bit: float = param(8.0, lo=0.01, hi=1000.0, unit="pJ/bit", doc="DRAM access energy")
    gated_mac_energy: float = param(0.1, lo=0.0, hi=1.0, unit="x MAC",
                                    doc="energy of a gated (padding) MAC relative to a full one")


@dataclass(frozen=True)
class SparseFormat:
    index_format: str = param("relative", choices=INDEX_FORMATS,
                              doc="how unstructured/block indices are stored (N:M layers always "
                                  "store log2(M) bits per kept weight)")
    index_width_bits: int = param(4, lo=1, hi=16, unit="bits",
                                  doc="width of one relative index entry (the gap it can encode)")
    index_width_policy: str = param("fixed", choices=WIDTH_POLICIES,
                                    doc="fixed: every design uses index_width_bits; fastest: each "
                                        "layer's own design picks the fastest width (iso-area only)")


@dataclass(frozen=True)
class EvaluationSettings:
    mode: str = param("isoarea", choices=MODES,
                      doc="isoarea: per layer, a dense design and sparse designs of its area "
                          "(paper 001 section 5.1); fixed: one chip for the whole network")
    dram_gbps: float = param(12.8, lo=0.01, hi=1e5, unit="GB/s", doc="DRAM bandwidth")
    onchip_weight_kb: float = param(2048.0, lo=0.0, hi=1e7, unit="KB", modes=("isoarea",),
                                    doc="weight SRAM of one layer's designs; larger weights stream "
                                        "from DRAM (0: all weights on chip)")
    weight_sram_kb: float = param(512.0, lo=1.0, hi=1e7, unit="KB", modes=("fixed",),
                                  doc="weight buffer of the fixed chip")
    feature_sram_kb: float = param(256.0, lo=1.0, hi=1e7, unit="KB", modes=("fixed",),
                                   doc="feature buffer of the fixed chip")


SECTION_TYPES = {"architecture": Architecture, "technology": Technology, "format": SparseFormat,
                 "evaluation": EvaluationSettings}


@dataclass(frozen=True)
class Key:
    name: str
    section: str
    kind: type
    default: Any
    lo: float | None
    hi: float | None
    choices: tuple[str, ...] | None
    unit: str
    doc: str
    modes: tuple[str, ...]

    @property
    def numeric(self) -> bool:
        return self.kind in (int, float)

    def describe(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} in [{self.lo:g}, {self.hi:g}]{' ' + self.unit if self.unit else ''}"


def registry(section_types: Mapping[str, type]) -> dict[str, Key]:
    """{flat key name: Key} of typed sections (this module's, or a GPU target's)."""
    out: dict[str, Key] = {}
    for section, cls in section_types.items():
        for f in fields(cls):
            m = f.metadata
            kind = type(f.default)
            out[f.name] = Key(f.name, section, kind, f.default, m["lo"], m["hi"], m["choices"],
                              m["unit"], m["doc"], tuple(m["modes"]))
    return out


KEYS: dict[str, Key] = registry(SECTION_TYPES)
CHOICE_KEYS = {k: key.choices for k, key in KEYS.items() if key.choices}


def _short(value: Any) -> str:
    text = re.sub(r"\s*\n\s*", " ", repr(value))      # one line, whatever the value's repr spans
    return text if len(text) <= 40 else text[:37] + "..."


def key(name: str, where: str = "hardware") -> Key:
    """The Key of a flat name, or of a dotted `section.name`."""
    section = None
    if "." in name:
        section, name = name.split(".", 1)
    if name not in KEYS or (section is not None and KEYS[name].section != section):
        close = [k for k in KEYS if name[:4] and k.startswith(name[:4])]
        hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
        raise ConfigError(f"{where}: unknown hardware key {_short(name)}{hint}; see `codesign hw "
                          f"--keys` or hwmodels/spec.py for the keys")
    return KEYS[name]


def coerce(name: str, value: Any, where: str = "hardware") -> Any:
    """A TOML or command-line value as the key's type, inside the key's bounds."""
    return coerce_key(key(name, where), value, where)


def coerce_key(k: Key, value: Any, where: str = "hardware") -> Any:
    """`coerce` for a Key already looked up (GPU targets have their own key table)."""
    label = f"{where}: key {k.name!r}"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):   # numpy scalars
        value = value.item()
    if k.choices:
        text = value if isinstance(value, str) else None
        if text is None or text.strip().lower() not in k.choices:
            raise ConfigError(f"{label} = {_short(value)} is not {k.describe()}")
        return text.strip().lower()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{label} needs {k.describe()}, got {_short(value)}")
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{label} needs {k.describe()}, got {_short(value)}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError(f"{label} needs a finite number, got {_short(value)}")
    if not (k.lo <= number <= k.hi):
        raise ConfigError(f"{label} = {_short(value)} is outside {k.describe()}")
    if k.kind is int:
        if number != int(number):
            raise ConfigError(f"{label} needs an integer, got {_short(value)}")
        return int(number)
    return float(number)


@dataclass(frozen=True)
class HardwareSpec:
    name: str = "custom"
    architecture: Architecture = Architecture()
    technology: Technology = Technology()
    format: SparseFormat = SparseFormat()
    evaluation: EvaluationSettings = EvaluationSettings()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)   # key -> (min, max)
    sources: Mapping[str, str] = field(default_factory=dict)                 # key -> source
    description: str = ""

    def __post_init__(self) -> None:
        validate(self)

    # -- flat access ----------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # flat keys read through their section: spec.pes == spec.architecture.pes
        if name in KEYS:
            return getattr(object.__getattribute__(self, KEYS[name].section), name)
        raise AttributeError(name)

    @property
    def mode(self) -> str:
        return self.evaluation.mode

    def flat(self) -> dict[str, Any]:
        return {k: getattr(getattr(self, KEYS[k].section), k) for k in KEYS}

    def used_keys(self) -> list[str]:
        """The keys this spec's mode uses, in declaration order."""
        return [k for k, key_ in KEYS.items() if not key_.modes or self.mode in key_.modes]

    def replace(self, _where: str = "hardware", _check_modes: bool = True,
                **changes: Any) -> "HardwareSpec":
        """A copy with flat keys changed (coerced and bounds-checked). Setting a key the
        resulting mode does not use is an error (a preset file, which holds every mode's
        values, skips that check); a changed key loses its uncertainty range."""
        typed = {key(k, _where).name: coerce(k, v, _where) for k, v in changes.items()}
        mode = typed.get("mode", self.mode)
        for k in typed if _check_modes else ():
            modes = KEYS[k].modes
            if modes and mode not in modes:
                raise ConfigError(f"{_where}: hardware key {k!r} is used only in mode "
                                  f"{' / '.join(modes)}, and this config is mode {mode!r}"
                                  + ("; add mode=" + modes[0] if len(modes) == 1 else ""))
        sections = {}
        for section in SECTIONS:
            part = {k: v for k, v in typed.items() if KEYS[k].section == section}
            sections[section] = dataclasses.replace(getattr(self, section), **part) if part \
                else getattr(self, section)
        ranges = {k: r for k, r in self.ranges.items() if k not in typed}
        return dataclasses.replace(self, ranges=ranges, **sections)

    def renamed(self, name: str) -> "HardwareSpec":
        return dataclasses.replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        """Nested by section, the keys of this mode only (what a report or JSON shows)."""
        used = set(self.used_keys())
        return {"name": self.name,
                **{s: {k: v for k, v in dataclasses.asdict(getattr(self, s)).items() if k in used}
                   for s in SECTIONS}}


def validate(spec: HardwareSpec) -> None:
    """Bounds of every key, and the rules that tie keys together."""
    for name, k in KEYS.items():
        coerce(name, getattr(getattr(spec, k.section), name), where=f"hardware config {spec.name!r}")
    a, f = spec.architecture, spec.format
    if a.pes % a.array_rows:
        raise ConfigError(f"hardware key 'pes' = {a.pes} is not a multiple of 'array_rows' = "
                          f"{a.array_rows}; the array is array_rows x pes/array_rows")
    if a.sparse_engine == "nm" and not a.nm_keep < a.nm_group:
        raise ConfigError(f"hardware keys nm_keep = {a.nm_keep}, nm_group = {a.nm_group}: an N:M "
                          "engine keeps fewer than all weights of a group (N < M)")
    if spec.mode == "fixed" and f.index_width_policy != "fixed":
        raise ConfigError("hardware key 'index_width_policy' = 'fastest' needs mode 'isoarea': a "
                          "fixed chip has one index decoder for every layer")
    for name, (lo, hi) in spec.ranges.items():
        k = key(name, f"hardware config {spec.name!r} ranges")
        if not k.numeric:
            raise ConfigError(f"hardware config {spec.name!r}: key {name!r} is a choice and has "
                              "no numeric range")
        value = getattr(spec, name)
        lo, hi = coerce(name, lo, "range min"), coerce(name, hi, "range max")
        if not lo <= value <= hi:
            raise ConfigError(f"hardware config {spec.name!r}: {name} = {value} lies outside its "
                              f"range [{lo}, {hi}]")
