"""Hardware presets as TOML: read by name (hwmodels/presets/*.toml) or path, write back.

A preset names its keys under their section. A value is a plain TOML value, or a table
`{value = 0.5, min = 0.3, max = 0.6, source = "eyeriss-v2"}` that gives the uncertainty range
and source of a sourced number (`source` is an id of hwmodels/data/sources.toml or free text).
Keys used only by one evaluation mode live under [evaluation.<mode>]:

    name = "my-chip"
    base = "smic40"                 # keys not named here come from this preset (default smic40)
    [architecture]
    pes = 512
    [evaluation]
    mode = "fixed"
    [evaluation.fixed]
    weight_sram_kb = 1024

A tensor-core GPU preset says `target = "gpu"` and holds the tables [device] and [kernels] of
hwmodels.gpu.spec (its `base`, if any, is another GPU preset; without one it gives every
[device] key, so that no number silently comes from another chip).

Files are read defensively (size, encoding, nesting): bad files give one ConfigError line.
"""
from __future__ import annotations

import dataclasses
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from hwmodels.errors import ConfigError
from hwmodels.gpu.spec import GPU_KEYS, GPU_SECTIONS, GpuSpec, gpu_key
from hwmodels.spec import KEYS, MODES, SECTIONS, HardwareSpec, coerce, coerce_key

PRESET_DIR = Path(__file__).with_name("presets")
SOURCES_FILE = Path(__file__).with_name("data") / "sources.toml"
DEFAULT_PRESET = "smic40-admmnn"
DEFAULT_BASE = "smic40"
MAX_FILE_BYTES = 1 << 20
ENTRY_FIELDS = ("value", "min", "max", "source", "note", "fitted")
TARGETS = ("asic", "gpu")


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


@lru_cache(maxsize=1)
def sources() -> dict[str, dict[str, str]]:
    """The citation table: id -> {"cite": ..., "where": ...}."""
    data = tomllib.loads(SOURCES_FILE.read_text(encoding="utf-8"))
    return {k: {kk: str(vv) for kk, vv in v.items()} for k, v in data.items()}


def _read_toml(path: Path) -> dict:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"hardware config file {str(path)!r} cannot be read ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise ConfigError(f"hardware config file {str(path)!r} is {size:,} bytes; a preset is a "
                          f"few KB (limit {MAX_FILE_BYTES:,})")
    try:
        text = path.read_bytes().decode("utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"hardware config file {str(path)!r} is not UTF-8 text; save it as "
                          "UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"hardware config {str(path)!r} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"hardware config {str(path)!r} nests tables too deeply to be a preset") from None


def preset_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    path = Path(text)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"hardware config file {text!r} does not exist (or is not a file); "
                              f"give a .toml file or a preset: {', '.join(available_presets())}")
        return path
    candidate = PRESET_DIR / f"{text}.toml"
    if "/" in text or not candidate.is_file():
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"unknown hardware preset {shown!r}; presets: "
                          f"{', '.join(available_presets())}, or give a .toml file")
    return candidate


def _entries(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Flat {key: value-or-entry-table} from the sectioned TOML, checking sections and modes."""
    flat: dict[str, Any] = {}
    unknown = sorted(set(data) - set(SECTIONS) - {"name", "base", "description", "target"})
    if unknown:
        raise ConfigError(f"{where}: unknown top-level entry {unknown[0]!r}; a preset has name, base, "
                          f"description and the tables [{'], ['.join(SECTIONS)}]")
    for section in SECTIONS:
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for name, value in table.items():
            if section == "evaluation" and name in MODES:
                if not isinstance(value, dict):
                    raise ConfigError(f"{where}: [evaluation.{name}] must be a table")
                for sub, subvalue in value.items():
                    k = KEYS.get(sub)
                    if k is None or k.section != "evaluation":
                        raise ConfigError(f"{where}: [evaluation.{name}] names {sub!r}, which is not "
                                          "an evaluation key")
                    if name not in k.modes:
                        raise ConfigError(f"{where}: {sub!r} is not used by mode {name!r} "
                                          f"(it belongs under [evaluation.{k.modes[0] if k.modes else ''}])")
                    flat[sub] = subvalue
                continue
            k = KEYS.get(name)
            if k is None:
                raise ConfigError(f"{where}: [{section}] names unknown key {name!r}")
            if k.section != section:
                raise ConfigError(f"{where}: key {name!r} belongs in [{k.section}], not [{section}]")
            if k.modes:
                raise ConfigError(f"{where}: key {name!r} is used only by mode {k.modes[0]!r}; put "
                                  f"it under [evaluation.{k.modes[0]}]")
            flat[name] = value
    return flat


def _split_entry(name: str, entry: Any, where: str, coerce_fn=coerce):
    """(value, range or None, source or None) of one key's TOML entry."""
    if not isinstance(entry, dict):
        return entry, None, None
    extra = sorted(set(entry) - set(ENTRY_FIELDS))
    if extra or "value" not in entry:
        raise ConfigError(f"{where}: key {name!r} is a table; it needs `value` and may have "
                          f"{', '.join(ENTRY_FIELDS[1:])} (found {', '.join(sorted(entry))})")
    rng = None
    if "min" in entry or "max" in entry:
        if "min" not in entry or "max" not in entry:
            raise ConfigError(f"{where}: key {name!r} gives only one end of its range; give min and max")
        rng = (coerce_fn(name, entry["min"], where), coerce_fn(name, entry["max"], where))
        if rng[0] > rng[1]:
            raise ConfigError(f"{where}: key {name!r} has min {rng[0]} > max {rng[1]}")
    source = entry.get("source")
    if source is not None and not isinstance(source, str):
        raise ConfigError(f"{where}: key {name!r}: source must be a string")
    return entry["value"], rng, source


def _target(data: Mapping[str, Any], where: str) -> str:
    target = data.get("target", "asic")
    if target not in TARGETS:
        raise ConfigError(f"{where}: target = {str(target)[:40]!r} is not one of {', '.join(TARGETS)}")
    return target


def read_preset(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> HardwareSpec | GpuSpec:
    path = preset_path(name_or_path)
    where = str(path) if path.parent != PRESET_DIR else f"preset {path.stem}"
    data = _read_toml(path)
    if _target(data, where) == "gpu":
        return _read_gpu(path, where, data, _seen)
    base_name = data.get("base")
    if path.parent == PRESET_DIR and base_name is None and path.stem == DEFAULT_BASE:
        base = HardwareSpec(name=DEFAULT_BASE)
    else:
        base_name = DEFAULT_BASE if base_name is None else base_name
        base = _read_base(base_name, path, where, _seen)
        if isinstance(base, GpuSpec):
            raise ConfigError(f"{where}: base {base_name!r} is a GPU target; an ASIC preset "
                              "inherits from an ASIC preset")
    values, ranges, srcs = _overrides(base, _entries(data, where), where)
    spec = base.replace(where, _check_modes=False, **values) if values else base
    name, description = _names(data, path, base, where)
    return dataclasses.replace(spec, name=name, description=description, ranges=ranges,
                               sources=srcs)


def _read_base(base_name: Any, path: Path, where: str, seen: tuple[str, ...]) -> HardwareSpec | GpuSpec:
    """The preset a preset file inherits from (`base = "..."`), refusing a circle."""
    if not isinstance(base_name, str):
        raise ConfigError(f"{where}: base must be a preset name")
    if base_name in seen or base_name == path.stem:
        raise ConfigError(f"{where}: base {base_name!r} inherits from itself")
    return read_preset(base_name, seen + (path.stem,))


def _overrides(base: HardwareSpec | GpuSpec, entries: Mapping[str, Any], where: str,
               coerce_fn=coerce) -> tuple[dict[str, Any], dict, dict[str, str]]:
    """The values a preset file gives, and its base's ranges and sources updated by the file's
    entries (a key the file gives keeps only the range the file gives it, if any)."""
    values, ranges, srcs = {}, dict(base.ranges), dict(base.sources)
    for key_name, entry in entries.items():
        value, rng, source = _split_entry(key_name, entry, where, coerce_fn)
        values[key_name] = value
        ranges.pop(key_name, None)
        if rng is not None:
            ranges[key_name] = rng
        if source is not None:
            srcs[key_name] = source
    return values, ranges, srcs


def _names(data: Mapping[str, Any], path: Path, base: HardwareSpec | GpuSpec, where: str) -> tuple[str, str]:
    name, description = data.get("name", path.stem), data.get("description", base.description)
    if not isinstance(name, str) or not isinstance(description, str):
        raise ConfigError(f"{where}: name and description must be strings")
    return name, description


def _gpu_coerce(name: str, value: Any, where: str) -> Any:
    return coerce_key(gpu_key(name, where), value, where)


def _gpu_entries(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(data) - set(GPU_SECTIONS) - {"name", "base", "description", "target"})
    if unknown:
        raise ConfigError(f"{where}: unknown top-level entry {unknown[0]!r}; a GPU preset has name, "
                          f"base, description, target and the tables [{'], ['.join(GPU_SECTIONS)}]")
    flat: dict[str, Any] = {}
    for section in GPU_SECTIONS:
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for name, value in table.items():
            k = gpu_key(name, where)
            if k.section != section:
                raise ConfigError(f"{where}: key {name!r} belongs in [{k.section}], not [{section}]")
            flat[name] = value
    return flat


def _read_gpu(path: Path, where: str, data: Mapping[str, Any], seen: tuple[str, ...]) -> GpuSpec:
    base_name = data.get("base")
    entries = _gpu_entries(data, where)
    if base_name is None:
        missing = [k for k, key_ in GPU_KEYS.items() if key_.section == "device" and k not in entries]
        if missing:
            raise ConfigError(f"{where}: a GPU preset without a base gives every [device] key; "
                              f"missing {', '.join(missing)}")
        base = GpuSpec(name=path.stem)
    else:
        base = _read_base(base_name, path, where, seen)
        if not isinstance(base, GpuSpec):
            raise ConfigError(f"{where}: base {base_name!r} is not a GPU target (target = \"gpu\")")
    values, ranges, srcs = _overrides(base, entries, where, _gpu_coerce)
    name, description = _names(data, path, base, where)
    # ranges are checked once, on the finished spec (a changed key may move inside its new range)
    spec = dataclasses.replace(base.replace(where, **values) if values else base, ranges={})
    return dataclasses.replace(spec, name=name, description=description, ranges=ranges, sources=srcs)


def parse_override(text: str, where: str = "--set") -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"{where} {text[:60]!r}: expected KEY=VALUE, e.g. {where} weight_bits=8")
    name, value = (s.strip() for s in text.split("=", 1))
    return name, value


def apply_overrides(spec: HardwareSpec, overrides) -> HardwareSpec:
    """`--set KEY=VALUE` items; a key given twice is an error (it would silently keep one)."""
    changes: dict[str, str] = {}
    for item in overrides:
        name, value = parse_override(item)
        if name in changes:
            raise ConfigError(f"--set {name} is given twice ({changes[name]!r} and {value!r}); keep one")
        changes[name] = value
    changes.pop("name", None)
    return spec.replace("--set", **changes) if changes else spec


def load(name_or_path: str | Path = DEFAULT_PRESET, overrides=()) -> HardwareSpec:
    return apply_overrides(read_preset(name_or_path), overrides)


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump(spec: HardwareSpec | GpuSpec, header: str = "", fitted: tuple[str, ...] = ()) -> str:
    """TOML text of a spec (every key of every mode, with ranges and sources)."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"name = {_toml_scalar(spec.name)}"]
    if isinstance(spec, GpuSpec):
        lines.append('target = "gpu"')
    if spec.description:
        lines.append(f"description = {_toml_scalar(spec.description)}")
    flat = spec.flat()

    def entry(k: str) -> str:
        value = _toml_scalar(flat[k])
        parts = [f"value = {value}"]
        if k in spec.ranges:
            lo, hi = spec.ranges[k]
            parts += [f"min = {_toml_scalar(lo)}", f"max = {_toml_scalar(hi)}"]
        if k in spec.sources:
            parts.append(f"source = {_toml_scalar(spec.sources[k])}")
        if k in fitted:
            parts.append("fitted = true")
        return f"{k} = {{ {', '.join(parts)} }}" if len(parts) > 1 else f"{k} = {value}"

    if isinstance(spec, GpuSpec):
        for section in GPU_SECTIONS:
            lines += ["", f"[{section}]"]
            lines += [entry(k) for k, key_ in GPU_KEYS.items() if key_.section == section]
        return "\n".join(lines) + "\n"
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [entry(k) for k, key_ in KEYS.items() if key_.section == section and not key_.modes]
        if section == "evaluation":
            for mode in MODES:
                lines += ["", f"[evaluation.{mode}]"]
                lines += [entry(k) for k, key_ in KEYS.items() if mode in key_.modes]
    return "\n".join(lines) + "\n"
