"""`codesign.hardware(...)`: a hardware spec from a preset name, a TOML file or a spec, with
changes given as keyword arguments (`pes=512`) or `KEY=VALUE` strings (the CLI's --set)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from codesign import arguments
from hwmodels.presets import DEFAULT_PRESET, apply_overrides, available_presets, read_preset
from hwmodels.spec import HardwareSpec


def hardware(preset: str | Path | HardwareSpec = DEFAULT_PRESET, overrides: Iterable[str] = (),
             **changes: Any) -> HardwareSpec:
    """E.g. hardware("smic40", pes=512) or hardware("my.toml", ["mode=fixed"])."""
    preset = arguments.hardware("preset", preset)
    overrides = arguments.strings("overrides", overrides)
    spec = preset if isinstance(preset, HardwareSpec) else read_preset(preset)
    spec = apply_overrides(spec, overrides)
    return spec.replace("hardware()", **changes) if changes else spec


__all__ = ["DEFAULT_PRESET", "HardwareSpec", "available_presets", "hardware"]
