"""The `codesign` command. The CLI package is the only code that prints, shows progress bars
and turns errors into exit codes; each subcommand lives in its own module here and registers
itself through `register(subparsers)`."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from codesign.cli.common import USER_ERRORS, fail

# Subcommand modules, in --help order. Each defines register(subparsers) -> None and sets
# `func` on its parser to a function(args) -> int (the exit code).
COMMANDS = ("inspect", "breakeven", "plan", "sweep", "calibrate", "prune", "search", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codesign",
        description="Hardware-aware DNN compression co-design: import an ONNX model, simulate "
                    "its per-layer cost on a sparse accelerator, prune and quantize it, and "
                    "search per-layer keep fractions that make it faster on that accelerator.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"codesign.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"codesign.cli.{name}_cmd":
                continue          # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        if args.debug:
            raise
        return fail(str(exc))
    except BrokenPipeError:          # e.g. `codesign inspect x --json | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        return fail("interrupted; runs with a checkpoint resume when started again with the same --out", code=130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
