"""Helpers shared by the subcommands: the parser class, error lines, progress, common options,
the one plain-text table. Nothing here imports torch, onnx or matplotlib."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

from codesign.errors import CodesignError
from codesign.report.fmt import printable
from hwmodels.errors import HardwareModelError
from pruning.errors import PruningError

# Exceptions that are the user's to fix: printed as one line, exit code 2, no traceback.
# OSError covers paths given on the command line (missing, a directory, an existing file).
USER_ERRORS = (CodesignError, HardwareModelError, PruningError, OSError)
MAX_ERROR_CHARS = 300
MODEL_HELP = ("an ONNX file, or a bundled name: the onnx wheel's ImageNet graphs (alexnet, vgg19, "
              "resnet50, densenet121, inception_v1, inception_v2, squeezenet, shufflenet, zfnet512; "
              "real shapes, placeholder weights) or a built-in trainable net (lenet5, lenet300, vgg7)")


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """An error message as one printable line of at most `limit` characters: control
    characters escaped, long text cut in the middle."""
    text = printable(message)
    if len(text) > limit:
        text = text[: limit * 2 // 3] + " ... " + text[-(limit // 3 - 5):]
    return text


def fail(message: str, code: int = 2) -> int:
    print(f"codesign: error: {one_line(message)}", file=sys.stderr)
    return code


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: a bad option prints the error and where to look, not
    the whole usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"codesign: error: {one_line(message)} (see `{self.prog} --help`)\n")


def add_model_args(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("--input-shape", action="append", default=[], metavar="[NAME=]DIMS",
                        dest="input_shapes",
                        help="an input's shape, e.g. 1x3x224x224 (batch first) or 3x224x224 "
                             "(batch 1); NAME=DIMS for a named input (repeatable); needed for "
                             "dynamic dimensions, overrides static ones")


def add_hw_args(parser: argparse.ArgumentParser) -> None:
    from hwmodels.presets import DEFAULT_PRESET, available_presets
    parser.add_argument("--hw", default=DEFAULT_PRESET, metavar="PRESET|FILE.toml",
                        help=f"hardware preset ({', '.join(available_presets())}) or a TOML file; "
                             f"default {DEFAULT_PRESET}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="change one hardware key, e.g. --set weight_bits=8 (repeatable; "
                             "`codesign hw --keys` lists them)")


def add_uncertainty_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uncertainty", nargs="?", type=int, const=1000, default=0, metavar="N",
                        help="propagate the preset's ranges with N seeded samples (default N "
                             "1000 when given): ranges of r* and speedup, decisions that flip")
    parser.add_argument("--seed", type=int, default=0, help="seed of the uncertainty samples (default 0)")


def hw_from_args(args, gpu: bool = False):
    """The --hw spec with --set applied; a GPU target only where the command takes one (`gpu`)."""
    from codesign.specs import hardware
    from hwmodels.gpu.spec import GpuSpec
    spec = hardware(args.hw, args.overrides)
    if isinstance(spec, GpuSpec) and not gpu:
        raise CodesignError(f"--hw {spec.name} is a GPU target; `codesign breakeven`, `hw` and "
                            "`calibrate` take GPU targets, this command models ASIC designs "
                            "(--hw smic40, nm-2of4, ...)")
    return spec


def load_model_arg(args):
    from codesign.graph import load_network
    return load_network(args.model, args.input_shapes or None)


def check_outputs(args, folders: Mapping[str, tuple[str, ...]] | None = None, files: Sequence[str] = ()) -> None:
    """Every output path a command was given, checked before any work by the one rule
    (pruning.safe_files: not empty, not a link, a folder or a file that exists or can be made,
    writable). `folders` maps an option's dest to the names the command writes in that folder
    (none of which may be a link or a file of another kind); `files` are dests of output
    files. Options not given (None) are skipped; an empty one is refused."""
    from pruning.safe_files import check_out_file, check_out_folder
    for dest, names in (folders or {}).items():
        if getattr(args, dest, None) is not None:
            check_out_folder(getattr(args, dest), _flag(dest), names)
    for dest in files:
        if getattr(args, dest, None) is not None:
            check_out_file(getattr(args, dest), _flag(dest))


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


@contextmanager
def progress(desc: str, enabled: bool = True) -> Iterator:
    """Progress on stderr: a bar on a terminal, one line per 10% otherwise (logs stay short
    and readable). Yields update(done, total, message="")."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)

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
        return
    shown = {"step": -1, "done": 0, "total": None}

    def log(done: int, total: int | None = None, message: str = "") -> None:
        if not enabled or not total:
            return
        if total != shown["total"] or done < shown["done"]:     # a new phase counts from 0
            shown["step"] = -1
        shown["done"], shown["total"] = done, total
        step = int(10 * done / total)
        if step > shown["step"]:
            shown["step"] = step
            print(f"{desc}: {done}/{total} {message}".rstrip(), file=sys.stderr, flush=True)
    yield log


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


def ratio(x) -> str:
    """r* as the tables print it."""
    if x is None:
        return "never"
    return "always" if x <= 1 else f"{x:.3g}"
