"""Registry of compression methods, and their options as data.

A method is a class with `name: ClassVar[str]`, a nested frozen dataclass `Options` whose
fields carry `metadata={"help": "..."}` (and optionally `"choices"`), a constructor taking
`options: Options | None = None`, and `compress(model, targets, ctx) -> CompressionResult`.
It registers itself with the `@register_backend` decorator in its own module, listed in
BACKEND_MODULES. The CLI builds one argparse group per method from the Options fields
(`--<method>-<field>`), so it never special-cases a method:

    @register_backend
    class AdmmBackend:
        name: ClassVar[str] = "admm"

        @dataclass(frozen=True)
        class Options:
            rho: float = field(default=3e-3, metadata={"help": "ADMM penalty rho_i"})

        def __init__(self, options=None): self.options = options or self.Options()
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
from typing import Any

from pruning.backend import Backend
from pruning.errors import PruningError

# Modules that define backends, imported on first use; a module not written yet is skipped.
BACKEND_MODULES = ("pruning.admm", "pruning.magnitude", "pruning.progressive", "pruning.agp",
                   "pruning.ltp", "pruning.asl")

BACKENDS: dict[str, type] = {}
_loaded = False


def register_backend(cls: type) -> type:
    """Class decorator: add a backend class to BACKENDS under `cls.name`."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute `name`")
    if not dataclasses.is_dataclass(getattr(cls, "Options", None)):
        raise TypeError(f"backend {name!r} needs a nested dataclass `Options`")
    BACKENDS[name] = cls
    return cls


def load_backends() -> dict[str, type]:
    """Import every module in BACKEND_MODULES once (they register themselves); return BACKENDS."""
    global _loaded
    if not _loaded:
        for module in BACKEND_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
        _loaded = True
    return BACKENDS


def get_backend(name: str, **options: Any) -> Backend:
    """An instance of the backend `name` with its Options built from keyword arguments."""
    backends = load_backends()
    if name not in backends:
        raise PruningError(f"unknown method {name!r}; available: {', '.join(sorted(backends))}")
    cls = backends[name]
    known = {f.name for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise PruningError(f"method {name!r} has no option(s) {unknown}; its options: {sorted(known)}")
    return cls(cls.Options(**options))


# ---- argparse generation ------------------------------------------------------------------

def _flag(method: str, field_name: str) -> str:
    return f"--{method}-{field_name.replace('_', '-')}"


def _dest(method: str, field_name: str) -> str:
    return f"opt_{method}_{field_name}"


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """One argument group per registered method, one flag per Options field. Defaults are
    left to the dataclass (argparse default None), so `--help` shows the dataclass default."""
    for method, cls in sorted(load_backends().items()):
        group = parser.add_argument_group(f"{method} options", (cls.__doc__ or "").strip().split("\n")[0])
        for f in dataclasses.fields(cls.Options):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            help_text = f"{f.metadata.get('help', '')} (default: {default})"
            kind = _scalar_type(f.type, default)
            kwargs: dict[str, Any] = {"dest": _dest(method, f.name), "default": None, "help": help_text}
            if kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = kind
                kwargs["metavar"] = f.name.upper()
                if "choices" in f.metadata:
                    kwargs["choices"] = f.metadata["choices"]
            group.add_argument(_flag(method, f.name), **kwargs)


def options_from_args(method: str, args: argparse.Namespace) -> dict[str, Any]:
    """The Options fields of `method` that were given on the command line."""
    cls = load_backends()[method]
    out = {}
    for f in dataclasses.fields(cls.Options):
        value = getattr(args, _dest(method, f.name), None)
        if value is not None:
            out[f.name] = value
    return out


def _scalar_type(annotation: Any, default: Any) -> type:
    """int/float/bool/str from a field annotation (a string under postponed evaluation)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    for kind in (bool, int, float, str):
        if text.split("|")[0].strip() == kind.__name__:
            return kind
    if default is not None and type(default) in (bool, int, float, str):
        return type(default)
    return str
