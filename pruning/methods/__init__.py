"""The compression methods, all behind pruning.protocol.Backend: admm, magnitude,
progressive, agp, ltp, asl (a module each) and the one-shot oneshot, wanda, sparsegpt
(pruning.methods.oneshot). Their options are data in pruning.methods.options (no
torch); a method's module, which needs torch, is imported only when a backend is built."""
from __future__ import annotations

import importlib

from pruning.methods.options import (METHODS, Method, add_field_flag, add_method_options, field_default,
                                     make_options, method, options_from_args)


def get_backend(name: str, **options):
    """An instance of method `name` with its options built from keyword arguments."""
    m = method(name)
    cls = getattr(importlib.import_module(m.module), m.backend)
    return cls(make_options(name, options))


__all__ = ["METHODS", "Method", "add_field_flag", "add_method_options", "field_default", "get_backend",
           "make_options", "method", "options_from_args"]
