"""Helpers shared by the subcommands: error reporting, progress bars, common options."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import Iterator

from codesign.errors import CodesignError
from hwmodels.errors import HardwareModelError
from pruning.errors import PruningError

# Exceptions that are the user's to fix: printed as one line, exit code 2, no traceback.
# OSError covers paths given on the command line (missing, a directory, an existing file).
USER_ERRORS = (CodesignError, HardwareModelError, PruningError, OSError)


def fail(message: str, code: int = 2) -> int:
    print(f"codesign: error: {message}", file=sys.stderr)
    return code


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="an ONNX file, or a bundled graph: alexnet, vgg19, resnet50, "
                             "densenet121, inception_v1, inception_v2, squeezenet, shufflenet, "
                             "zfnet512 (the onnx wheel's light models), or lenet5 / lenet300")
    parser.add_argument("--input-shape", metavar="NxCxHxW",
                        help="input shape, e.g. 1x3x224x224 or 3x224x224 (batch 1); required when "
                             "the model's input has dynamic dimensions, and overrides a static one")


@contextmanager
def progress_bar(desc: str, total: int | None = None, enabled: bool = True) -> Iterator:
    """A tqdm bar on stderr; yields a callable update(done, total=None, message="")."""
    from tqdm import tqdm
    # a bar only on a terminal: logs and CI output stay free of carriage-return noise
    bar = tqdm(total=total, desc=desc, disable=not (enabled and sys.stderr.isatty()),
               file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(done: int, total: int | None = None, message: str = "") -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def format_table(headers: list[str], rows: list[list], right: set[int] | None = None) -> str:
    """Plain-text table; columns in `right` (default: every column after the first) align right."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    right = set(range(1, len(headers))) if right is None else right
    def line(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def dims(shape) -> str:
    return "x".join(str(d) for d in shape)
