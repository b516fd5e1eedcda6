import argparse
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from pruning import methods
from pruning.errors import PruningError


@pytest.fixture
def toy_backend(monkeypatch):
    monkeypatch.setattr(methods, "BACKENDS", dict(methods.load_backends()))

    @methods.register_backend
    class Toy:
        """A toy method for the registry test."""
        name: ClassVar[str] = "toy"

        @dataclass(frozen=True)
        class Options:
            rho: float = field(default=3e-3, metadata={"help": "penalty"})
            iters: int = field(default=4, metadata={"help": "iterations"})
            warm: bool = field(default=False, metadata={"help": "warm start"})
            unit: str = field(default="epochs", metadata={"help": "unit", "choices": ("epochs", "steps")})

        def __init__(self, options=None):
            self.options = options or self.Options()

    return Toy


def test_get_backend_builds_options(toy_backend):
    b = methods.get_backend("toy", rho=0.01)
    assert isinstance(b, toy_backend) and b.options.rho == 0.01 and b.options.iters == 4
    with pytest.raises(PruningError, match="no option"):
        methods.get_backend("toy", nope=1)
    with pytest.raises(PruningError, match="unknown method"):
        methods.get_backend("does-not-exist")


def test_argparse_group_per_method(toy_backend):
    parser = argparse.ArgumentParser()
    methods.add_backend_options(parser)
    args = parser.parse_args(["--toy-iters", "7", "--toy-warm", "--toy-unit", "steps"])
    assert methods.options_from_args("toy", args) == {"iters": 7, "warm": True, "unit": "steps"}
    assert "toy options" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--toy-unit", "hours"])


def test_builtin_backends_are_registered():
    backends = methods.load_backends()
    assert backends["admm"].name == "admm"
    parser = argparse.ArgumentParser()
    methods.add_backend_options(parser)
    assert "--admm-rho" in parser.format_help()
