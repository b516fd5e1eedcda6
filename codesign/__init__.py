"""codesign: hardware-aware DNN compression co-design.

The Python API (see codesign.api and the README): load, hardware, breakeven, plan, sweep,
prune, pruner, search. Names are resolved lazily, so `import codesign` costs no torch, onnx or
matplotlib until a function that needs them runs. No submodule shares a name with an API
function (importing a submodule binds its name on the package): plans, break_even, sweeps,
specs and loop hold what plan, breakeven, sweep, hardware and search use.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"load": "codesign.api", "hardware": "codesign.api", "breakeven": "codesign.api",
            "plan": "codesign.api", "sweep": "codesign.api", "prune": "codesign.api", "pruner": "codesign.api",
            "search": "codesign.api", "HardwareSpec": "hwmodels.spec", "CodesignError": "codesign.errors"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'codesign' has no attribute {name!r}")


def __dir__():
    return __all__
