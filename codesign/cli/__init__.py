"""The `codesign` command: a thin layer over the Python API (codesign.api). The CLI package is
the only code that prints, shows progress and turns errors into exit codes; each subcommand
lives in its own module here and registers itself through `register(subparsers)`. Building
the parser imports no torch, onnx or matplotlib: commands import what they need when they run.
"""
from __future__ import annotations

import importlib
import os
import sys

# Subcommand modules, in --help order. Each defines register(subparsers) -> None and sets
# `func` on its parser to a function(args) -> int (the exit code).
COMMANDS = ("inspect", "breakeven", "plan", "sweep", "hw", "calibrate", "prune", "search", "report")


def build_parser():
    from codesign.cli.common import Parser
    parser = Parser(
        prog="codesign",
        description="Hardware-aware DNN compression co-design: import an ONNX model, simulate "
                    "its per-layer cost on a sparse accelerator, prune and quantize it, and "
                    "search per-layer patterns, keep fractions and bits that make it faster on "
                    "that accelerator without losing accuracy.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors (accepted anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"codesign.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from codesign.cli import interrupts
    with interrupts.handled():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        from codesign.cli.common import USER_ERRORS, fail
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:          # e.g. `codesign inspect x --json | head` (before OSError below)
        sys.stdout = open(os.devnull, "w")
        return 0
    except USER_ERRORS as exc:
        if debug:
            raise
        return fail(str(exc))
    except KeyboardInterrupt:
        if debug:
            raise
        return fail("interrupted; runs with a checkpoint resume when started again with the same --out",
                    code=130)
    except MemoryError:
        if debug:
            raise
        return fail("out of memory; use a smaller model, input shape, sweep or batch", code=2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
