"""Hardware configs as TOML presets: load by name or path, apply `--set key=value` overrides,
write a preset back (used by `codesign calibrate`).

A preset is a flat TOML table of HwConfig keys plus a `[sources]` table that says where each
number comes from (key -> text). Unknown keys and bad values raise ConfigError naming the key.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Iterable, Mapping

from hwmodels.arch import KEY_TYPES, HwConfig, coerce
from hwmodels.errors import ConfigError

PRESET_DIR = Path(__file__).resolve().parent.parent / "hwmodels" / "presets"
DEFAULT_PRESET = "smic40-admmnn"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"hardware config file {str(path)!r} does not exist")
        return path
    candidate = PRESET_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(f"unknown hardware preset {str(name_or_path)!r}; presets: "
                          f"{', '.join(available_presets())}, or give a .toml file")
    return candidate


def read_preset(name_or_path: str | Path) -> tuple[HwConfig, dict[str, str]]:
    """The config and its `[sources]` table."""
    path = preset_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"hardware config {str(path)!r} is not valid TOML: {exc}") from None
    sources = data.pop("sources", {})
    if not isinstance(sources, dict):
        raise ConfigError(f"{path}: [sources] must be a table of key = \"source\"")
    for key in sources:
        if key not in KEY_TYPES:
            raise ConfigError(f"{path}: [sources] names unknown key {key!r}")
    data.setdefault("name", path.stem)
    return HwConfig.from_dict(data, where=str(path)), {k: str(v) for k, v in sources.items()}


def load_hw(name_or_path: str | Path = DEFAULT_PRESET, overrides: Iterable[str] = ()) -> HwConfig:
    cfg, _ = read_preset(name_or_path)
    return apply_overrides(cfg, overrides)


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. --set weight_bits=8")
    key, value = (s.strip() for s in text.split("=", 1))
    return key, coerce(key, value, where="--set")


def apply_overrides(cfg: HwConfig, overrides: Iterable[str]) -> HwConfig:
    changes = dict(parse_override(o) for o in overrides)
    changes.pop("name", None)
    return cfg.replace(**changes) if changes else cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_preset(cfg: HwConfig, sources: Mapping[str, str], header: str = "") -> str:
    """TOML text of a preset; each key's source is written as a comment and in [sources]."""
    lines = [f"# {line}" for line in header.splitlines()] + [""] if header else []
    for key, value in cfg.to_dict().items():
        note = f"   # {sources[key]}" if key in sources else ""
        lines.append(f"{key} = {_toml_value(value)}{note}")
    lines += ["", "[sources]"]
    lines += [f"{key} = {_toml_value(text)}" for key, text in sources.items()]
    return "\n".join(lines) + "\n"


def add_hw_args(parser) -> None:
    """--hw PRESET|file.toml and repeatable --set key=value (argparse only; no printing)."""
    parser.add_argument("--hw", default=DEFAULT_PRESET, metavar="PRESET|FILE.toml",
                        help=f"hardware preset name ({', '.join(available_presets())}) or a TOML "
                             f"file (default {DEFAULT_PRESET})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one hardware key, e.g. --set weight_bits=8 (repeatable)")


def hw_from_args(args) -> HwConfig:
    return load_hw(args.hw, args.overrides)
