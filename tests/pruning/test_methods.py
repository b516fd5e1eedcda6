"""The method registry is data (no torch): options, flags and their checks come from it."""
import argparse
import dataclasses
import subprocess
import sys

import pytest

from pruning import methods
from pruning.errors import PruningError


def test_get_backend_builds_options():
    b = methods.get_backend("admm", rho=0.01)
    assert type(b).__name__ == "AdmmBackend" and b.options.rho == 0.01
    assert b.options.update_every == methods.METHODS["admm"].options().update_every
    with pytest.raises(PruningError, match="no option"):
        methods.get_backend("admm", nope=1)
    with pytest.raises(PruningError, match="unknown method 'does-not-exist'; available: admm"):
        methods.get_backend("does-not-exist")


def test_one_argparse_group_per_method_with_typed_flags():
    parser = argparse.ArgumentParser()
    methods.add_method_options(parser)
    args = parser.parse_args(["--admm-rho", "0.5", "--no-asl-ste", "--agp-mode", "global"])
    assert methods.options_from_args("admm", argparse.Namespace(**{
        k: v for k, v in vars(args).items() if not k.startswith(("opt_asl", "opt_agp"))})) == {"rho": 0.5}
    help_text = parser.format_help()
    for name in methods.METHODS:
        assert f"{name} options" in help_text
    with pytest.raises(SystemExit):
        parser.parse_args(["--agp-mode", "hourly"])


def test_a_flag_of_another_method_is_an_error_not_ignored():
    parser = argparse.ArgumentParser()
    methods.add_method_options(parser)
    args = parser.parse_args(["--agp-updates", "5"])
    with pytest.raises(PruningError, match="--agp-updates is an option of method 'agp', but --method is 'admm'"):
        methods.options_from_args("admm", args)


def test_every_option_is_documented_and_every_module_exports_a_backend():
    import importlib
    for name, m in methods.METHODS.items():
        for f in dataclasses.fields(m.options):
            assert f.metadata.get("help"), f"{name}.{f.name} has no help text"
        backend = getattr(importlib.import_module(m.module), m.backend)
        assert backend.name == name and backend.Options is m.options


def test_the_registry_imports_without_torch():
    code = ("import sys; import pruning.methods as m; m.add_method_options(__import__('argparse')"
            ".ArgumentParser()); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
