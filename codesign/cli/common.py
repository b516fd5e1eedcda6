"""Helpers shared by the subcommands: the parser class, error lines, progress, common options,
the one plain-text table. Nothing here imports torch, onnx or matplotlib."""
from __future__ import annotations

import argparse
import difflib
import sys
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

from codesign.errors import CodesignError
from codesign.report.fmt import printable
from hwmodels.errors import HardwareModelError
from pruning.errors import PruningError
from pruning.models import MODELS as BUILTIN_MODELS

# Exceptions that are the user's to fix: printed as one line, exit code 2, no traceback.
# OSError covers paths given on the command line (missing, a directory, an existing file).
USER_ERRORS = (CodesignError, HardwareModelError, PruningError, OSError)
MAX_ERROR_CHARS = 300
MODEL_HELP = ("an ONNX file, or a bundled name: the onnx wheel's ImageNet graphs (alexnet, vgg19, "
              "resnet50, densenet121, inception_v1, inception_v2, squeezenet, shufflenet, zfnet512; "
              f"real shapes, placeholder weights) or a built-in trainable net ({', '.join(BUILTIN_MODELS)})")


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
    the whole usage. A command's own parser names a misspelt flag (with the nearest one)
    before anything else is checked, and shows a method's options only with --method M."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"codesign: error: {one_line(message)} (see `{self.prog} --help`)\n")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._subparsers is None:            # a command's parser (the top one only dispatches)
            args = list(sys.argv[1:] if args is None else args)
            self._refuse_unknown_options(args)
            _show_method_options(self, args)
        return super().parse_known_args(args, namespace)

    def _refuse_unknown_options(self, args: list[str]) -> None:
        known = self._option_string_actions
        for token in args:
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if not name.startswith("--") or name in known or any(o.startswith(name) for o in known):
                continue                        # a value, a known flag or an abbreviation of one
            offered = [o for o, a in known.items() if o.startswith("--") and not getattr(a, "alias_of", None)]
            near = difflib.get_close_matches(name, offered, n=1, cutoff=0.6)
            self.error(f"unknown option {name}" + (f"; did you mean {near[0]}?" if near else ""))


def add_alias(container, alias: str, action: argparse.Action) -> None:
    """A hidden second name of `action`'s flag (a former name that still works): not in
    --help, not offered as a typo's correction."""
    kwargs: dict = {"dest": action.dest, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
    if isinstance(action, argparse._StoreTrueAction):
        kwargs["action"] = "store_true"
    else:
        kwargs.update(type=action.type, choices=action.choices, metavar=action.metavar)
    container.add_argument(alias, **kwargs).alias_of = action.option_strings[0]


def add_method_option_groups(parser: argparse.ArgumentParser, command: str) -> None:
    """Every method's options (pruning.methods.options), parsed always but shown in --help
    only for the method named on the line (`codesign COMMAND --method M --help`)."""
    from pruning.methods import METHODS, add_method_options
    parser.method_groups = add_method_options(parser)
    for group in parser.method_groups.values():        # a shared option is listed by every sharer
        group.shown = (group.description, [(a, a.help) for a in
                                           group._group_actions + getattr(group, "shared_actions", [])])
    for group in parser.method_groups.values():
        group.description = None
        for action in group._group_actions:
            action.help = argparse.SUPPRESS
    parser.epilog = (f"a method's own options: `codesign {command} --method M --help` "
                     f"(M: {', '.join(sorted(METHODS))})")


def _show_method_options(parser: argparse.ArgumentParser, args: list[str]) -> None:
    groups = getattr(parser, "method_groups", None)
    if not groups or not {"-h", "--help"} & set(args):
        return
    named = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--method"] + \
        [a.split("=", 1)[1] for a in args if a.startswith("--method=")]
    group = groups.get(named[-1]) if named else None
    if group is not None:
        group.description = group.shown[0]
        for action, text in group.shown[1]:
            action.help = text


def add_sparsity_arg(container, help: str, aliases: Sequence[str] = ()) -> argparse.Action:
    """The sparsity file of every command: `--sparsity PLAN.json` ({"alphas", "patterns",
    "bits"}, what `codesign plan --json` writes); `aliases`: a command's former names."""
    action = container.add_argument("--sparsity", metavar="PLAN.json", help=help)
    for alias in aliases:
        add_alias(container, alias, action)
    return action


def add_training_args(container, job: type, limit_field: str, aliases: Sequence[str] = ()) -> None:
    """The training budget's data and machine flags shared by prune and search, defaults read
    from the `job` dataclass: --train-limit (its field `limit_field`), --test-limit,
    --pretrain-epochs, --seed, --threads, --device."""
    from pruning.methods import add_field_flag
    from pruning.models import BUILTIN_PRETRAIN_EPOCHS, PRETRAIN_EPOCHS
    from pruning.ranges import TRAINING
    train = add_field_flag(container, job, limit_field, "use a class-balanced subset of this many training "
                           "samples (default: all)", flag="--train-limit", metavar="N")
    for alias in aliases:
        add_alias(container, alias, train)
    add_field_flag(container, job, "test_limit", "... and of this many test samples (default: all)", metavar="N")
    add_field_flag(container, job, "pretrain_epochs", f"dense training of a built-in model before "
                   f"compression, done once and cached (range {TRAINING['pretrain_epochs'].interval}; "
                   f"default {BUILTIN_PRETRAIN_EPOCHS:g} for a built-in net ("
                   + ", ".join(f"{k} {v:g}" for k, v in PRETRAIN_EPOCHS.items()) + "), 0 for an ONNX file, "
                   "whose weights are used as given)", default=None, metavar="EPOCHS")
    add_field_flag(container, job, "seed", "seed of every random choice")
    from pruning.prune_job import DEVICES, THREADS
    container.add_argument("--threads", type=int, default=THREADS,
                           help=f"torch CPU threads (range {TRAINING['threads'].interval}; default {THREADS}: "
                                "reproducible, and two threads collapse when anything else runs)")
    add_field_flag(container, job, "device", "where runs train: auto takes a CUDA GPU if torch sees one",
                   choices=DEVICES, metavar=None)


def add_run_folder_arg(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    """--out DIR of a command that writes a run folder (for plan and calibrate, --out is a file)."""
    parser.add_argument("--out", metavar="DIR", required=required, help=help)


def add_quiet_arg(parser: argparse.ArgumentParser, help: str = "no progress or status lines") -> None:
    """--quiet (formerly prune's --no-progress, still accepted)."""
    add_alias(parser, "--no-progress", parser.add_argument("--quiet", action="store_true", help=help))


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


def metric_text(metric: str, value: float, n: int | None = None) -> str:
    """A task's metric (pruning.tasks) as people read it: perplexity as a number, accuracy and
    agreement as percent; accuracy on `n` samples with its 95% Wilson interval."""
    from codesign.report.fmt import metric as shown
    if n is None or metric != "accuracy":         # agreement: its interval is the drop's
        return shown(metric, value)
    from pruning.verdict import wilson_interval
    lo, hi = wilson_interval(value, n)
    return f"{100 * value:.2f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
