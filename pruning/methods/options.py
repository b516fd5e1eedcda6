"""Every compression method's options, as data (no torch: the CLI builds its flags from
here without importing a backend).

A method's options are a frozen dataclass whose fields carry `metadata={"help": ...}` and,
for a number, its allowed "range" (pruning.ranges.Range; checked with the types by
make_options, shown in --help), or a string's "choices"; `METHODS` names each method's
module (imported only to train), its options class and a one-line description. `codesign prune` and `codesign search` generate one
argument group per method (`--<method>-<field>`), so no command special-cases a method.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from pruning.errors import PruningError
from pruning.ranges import LEARNING_RATE, SHARE, SHARE_BELOW_ONE, Range, check

PROGRESSIVE_SELECTIONS = ("try_all", "best_parent")
AGP_MODES = ("layerwise", "global", "layerwise_constant")

# ADMM's penalty rho on the mean cross-entropy (an O(1) loss): the papers use 1.5e-3..3e-3,
# and at 100 the penalty on weights of O(0.1) already outweighs the loss a hundredfold (W is
# pinned to Z: one-shot projection); 0 would not be ADMM (--method magnitude is that).
RHO = Range(0, 100, low_open=True)
COUNT = Range(1, 1000, whole=True)        # cycles, iterations, checkpoints: each costs a run phase
RATIO = Range(0, 1e4)                     # a threshold lr / weight lr (0: auto), a loss weight


@dataclass(frozen=True)
class AdmmOptions:
    rho: float = field(default=0.03, metadata={
        "help": "ADMM penalty rho_i for every layer, on the mean cross-entropy loss (paper "
                "001 §3.4.1 uses 3e-3 with Caffe's loss scaling; see benchmarks/RESULTS.md "
                "admm_lenet.py for how 0.03 was chosen)", "range": RHO})
    rho_growth: float = field(default=1.0, metadata={
        "help": "multiply rho by this after every ADMM iteration (1 = constant)",
        "range": Range(1, 10)})              # < 1 would loosen the constraint as ADMM goes
    rho_max: float = field(default=1.0, metadata={"help": "upper bound of the rho schedule", "range": RHO})
    update_every: float = field(default=0.25, metadata={
        "help": "length of one ADMM iteration (one Z/U update), in update-unit",
        "range": Range(0, 10 ** 6, low_open=True)})       # a million steps covers both units
    update_unit: str = field(default="epochs", metadata={
        "help": "unit of update-every", "choices": ("epochs", "steps")})
    retrain_share: float = field(default=0.5, metadata={
        "help": "share of the pruning budget spent on masked retraining after ADMM",
        "range": SHARE_BELOW_ONE})            # 1 would leave ADMM no steps
    quant_share: float = field(default=0.3, metadata={
        "help": "share of the total budget spent on quantization when bits are given",
        "range": SHARE_BELOW_ONE})
    retrain_lr: float | None = field(default=None, metadata={
        "help": "learning rate of the retraining phases (default: the run's lr)", "range": LEARNING_RATE})
    w_step_optimizer: str = field(default="run", metadata={
        "help": "optimizer of the ADMM W-step: run (the run's optimizer and lr) or sgd (SGD at "
                "--admm-w-step-lr with the run's momentum)",
        "choices": ("run", "sgd")})
    w_step_lr: float = field(default=0.05, metadata={"help": "learning rate of the ADMM W-step with sgd",
                                                     "range": LEARNING_RATE})
    w_step_clip: float | None = field(default=None, metadata={
        "help": "clip the gradient norm in the ADMM W-step to this (default: no clipping)",
        "range": Range(0, 1e6, low_open=True)})     # 0 would stop training; above: no clipping
    mask_source: str = field(default="w", metadata={
        "help": "hard prune keeps the largest |W| (w, paper 000 §2.3) or the support of the "
                "last Z = Proj(W + U) (z)", "choices": ("w", "z")})


@dataclass(frozen=True)
class MagnitudeOptions:
    cycles: int = field(default=3, metadata={
        "help": "prune-retrain cycles; the epoch budget is split evenly over them", "range": COUNT})
    schedule: str = field(default="geometric", metadata={
        "help": "keep fraction per cycle: geometric (equal ratio per cycle) or linear",
        "choices": ("geometric", "linear")})
    scope: str = field(default="layer", metadata={
        "help": "layer: each layer to its own alpha; global: one |w| ranking over all "
                "targeted layers down to their total kept count", "choices": ("layer", "global")})


@dataclass(frozen=True)
class ProgressiveOptions:
    pool: str = field(default="0.6,0.8", metadata={
        "help": "initial pool: stage fractions on the log path to the targets, each pruned "
                "straight from dense (paper's 15x,18x,21x of 30x: 0.80,0.85,0.90)"})
    steps: str = field(default="", metadata={
        "help": "further stage fractions, each reached from the pool (paper's 24x,27x of "
                "30x: 0.93,0.97); a final stage at 1 (the targets) is always added"})
    selection: str = field(default="try_all", metadata={
        "help": "try_all: run each step from every pool model, keep the best, evict its "
                "parent; best_parent: run it only from the most accurate pool model",
        "choices": PROGRESSIVE_SELECTIONS})
    rho: float = field(default=1.5e-3, metadata={"help": "ADMM penalty rho (paper: 1.5e-3)", "range": RHO})
    rho_final: float = field(default=3e-3, metadata={
        "help": "rho of the last stage, at the highest ratio (paper: 3e-3)", "range": RHO})
    admm_iterations: int = field(default=3, metadata={
        "help": "Z/U updates per stage (ADMM iterations)", "range": COUNT})
    retrain_share: float = field(default=0.4, metadata={
        "help": "share of each stage's epochs spent on masked retraining", "range": SHARE_BELOW_ONE})
    retrain_lr: float = field(default=0.0, metadata={
        "help": "learning rate of masked retraining (0: the run's lr)",
        "range": Range(0, LEARNING_RATE.high)})
    w_step_optimizer: str = field(default="run", metadata={
        "help": "optimizer of each stage's ADMM W-step: run (the run's optimizer) or sgd",
        "choices": ("run", "sgd")})
    w_step_lr: float = field(default=0.05, metadata={"help": "learning rate of the W-step with sgd",
                                                     "range": LEARNING_RATE})


@dataclass(frozen=True)
class AgpOptions:
    mode: str = field(default="layerwise", metadata={
        "help": "layerwise: every layer to its own alpha; global: one ranking over all layers; "
                "layerwise_constant: one layer at a time", "choices": AGP_MODES})
    start: float = field(default=0.0, metadata={
        "help": "t0 as a share of the epoch budget (0: start from the given, trained model)",
        "range": SHARE_BELOW_ONE})
    window: float = field(default=0.6, metadata={
        "help": "share of the epoch budget over which sparsity ramps up; the rest trains "
                "with frozen masks", "range": SHARE})
    updates: int = field(default=20, metadata={"help": "n, the number of mask updates",
                                               "range": Range(1, 10 ** 6, whole=True)})
    exponent: float = field(default=3.0, metadata={"help": "schedule exponent (paper: 3)",
                                                   "range": Range(0, 10, low_open=True)})
    s_initial: float = field(default=0.0, metadata={"help": "s_i, sparsity at t0", "range": SHARE_BELOW_ONE})
    exclude_first: bool = field(default=False, metadata={"help": "keep the first layer dense"})
    exclude_depthwise: bool = field(default=True, metadata={
        "help": "keep depthwise convolutions dense (as the paper did for MobileNet)"})
    exclude: str = field(default="", metadata={
        "help": "comma-separated weight names to keep dense"})


@dataclass(frozen=True)
class LtpOptions:
    lam_n: float = field(default=1.0, metadata={
        "help": "lambda x N: the soft-L0 weight times the number of targeted weights "
                "(lambda = lam_n / N; the paper's settings give 0.2..8; 0: no L0 term). Sets the sparsity",
        "range": Range(0, 1000)})
    t0: float = field(default=1e-3, metadata={"help": "T0 of T_l = T0 Var(|w_l|)",
                                              # above ~1 the sigmoid spans every weight: no signal
                                              "range": Range(0, 10, low_open=True)})
    tau_lr_ratio: float = field(default=0.0, metadata={
        "help": "threshold lr / weight lr; 0 = auto: 1e-5 on raw tau with SGD (paper); "
                "with Adam, on tau / mean(w^2), an lr that can move it by 50 in the window",
        "range": RATIO})
    prune_share: float = field(default=0.6, metadata={
        "help": "share of the epoch budget spent soft-pruning; the rest fine-tunes the "
                "hard-pruned net with frozen masks and no regulariser",
        "range": Range(0, 1, low_open=True)})
    trail_points: int = field(default=5, metadata={
        "help": "hard-pruned checkpoints taken during pruning (the trail)", "range": COUNT})
    budget: str = field(default="trail", metadata={
        "help": "how targets are met. trail: the most accurate trail checkpoint (on a "
                "validation hold-out) within the targets' total kept weights, else the last "
                "one cut to it; project: the last checkpoint cut to that count (every layer "
                "by the same factor, keeping its largest (w^2 - tau_l)); free: LTP's own "
                "sparsity (alphas only pick the layers)", "choices": ("trail", "project", "free")})
    exact_grad: bool = field(default=False, metadata={
        "help": "use the exact weight gradient (eq. 3/12) instead of eq. 14 (ablation)"})


@dataclass(frozen=True)
class AslOptions:
    lam_p: float = field(default=10.0, metadata={
        "help": "weight of the parameter-budget term (authors' code default 10)", "range": RATIO})
    lam_f: float = field(default=0.0, metadata={
        "help": "weight of the MAC-budget term (paper: 0 in all experiments; > 0 makes the "
                "thresholds trade weights for MACs)", "range": RATIO})
    loss: str = field(default="squared", metadata={
        "help": "budget loss: squared (eq. 10) or hinge (eq. 11)", "choices": ("squared", "hinge")})
    min_weights: int = field(default=1000, metadata={
        "help": "layers with fewer weights stay dense (the code's pthres)",
        "range": Range(0, 10 ** 12, whole=True)})
    ste: bool = field(default=True, metadata={
        "help": "straight-through estimator (off: the paper's no-STE ablation)"})
    b_lr_ratio: float = field(default=0.0, metadata={
        "help": "threshold lr / weight lr; 0 = auto: 0.01 with SGD (authors' code); with "
                "Adam, an lr that can move b by 10 sigma over the training window",
        "range": RATIO})
    init_share: float = field(default=0.6, metadata={
        "help": "start thresholds at this share of the target sparsity (code: 0.6)", "range": SHARE})
    budget_correction: bool = field(default=True, metadata={
        "help": "if the counted kept weights exceed the budget at the end, cut every layer "
                "by the same factor to meet it (ours; the erf model is approximate)"})
    finetune_share: float = field(default=0.2, metadata={
        "help": "share of the epoch budget for masked fine-tuning after the hard prune "
                "(paper: 0, single stage)", "range": SHARE_BELOW_ONE})


ONE_SHOT = "one-shot, no training (the epoch budget is not used)"
CALIBRATION = Range(1, 10 ** 6, whole=True)     # each sample costs a forward per layer


@dataclass(frozen=True)
class OneShotOptions:
    """One-shot magnitude has no options: each layer's pattern projection of |W|."""


def calibration_field():
    """The one-shot methods' calibration budget (one flag, --calibration: SHARED_OPTIONS)."""
    return field(default=128, metadata={
        "help": "calibration samples of a one-shot method, drawn from the training split (seeded; "
                "labels unused)", "range": CALIBRATION})


@dataclass(frozen=True)
class WandaOptions:
    calibration: int = calibration_field()
    comparison: str = field(default="output", metadata={
        "help": "unstructured: compare |W| x ||X|| within each output row (output, the paper's) or "
                "over the whole layer (layer)", "choices": ("output", "layer")})


@dataclass(frozen=True)
class SparseGptOptions:
    calibration: int = calibration_field()
    blocksize: int = field(default=128, metadata={
        "help": "columns per block of the OBS sweep (the unstructured mask is chosen per block; "
                "N:M rounds it up to a multiple of M)", "range": Range(1, 2 ** 16, whole=True)})
    percdamp: float = field(default=0.01, metadata={
        "help": "damping added to the Hessian's diagonal, as a share of its mean",
        "range": Range(0, 10, low_open=True)})


@dataclass(frozen=True)
class Method:
    name: str
    module: str
    options: type
    description: str
    backend: str = "Backend"        # the class in `module` (a module may hold several methods)
    one_shot: bool = False          # compresses without training (the epoch budget is not used)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("admm", "pruning.methods.admm", AdmmOptions,
           "ADMM pruning (paper 001 eq. 5-7), hard prune + masked retraining, optional ADMM quantization"),
    Method("magnitude", "pruning.methods.magnitude", MagnitudeOptions,
           "iterative magnitude pruning (Han et al. 2015): prune-retrain cycles"),
    Method("progressive", "pruning.methods.progressive", ProgressiveOptions,
           "progressive ADMM (Ye et al. 2019, paper 000): staged partial prunings, a pool of models"),
    Method("agp", "pruning.methods.agp", AgpOptions,
           "automated gradual pruning (Zhu & Gupta 2017, paper 004): cubic sparsity schedule"),
    Method("ltp", "pruning.methods.ltp", LtpOptions,
           "learned threshold pruning (Azarian et al. 2020, paper 003): soft thresholds + soft L0"),
    Method("asl", "pruning.methods.asl", AslOptions,
           "adaptive sparsity loss (Retsinas et al. 2020, paper 002): learned sigma thresholds, STE"),
    Method("oneshot", "pruning.methods.oneshot", OneShotOptions,
           f"one-shot magnitude, the baseline of SparseGPT and Wanda: each layer's largest |W|, no calibration; "
           f"{ONE_SHOT}",
           "OneShotMagnitudeBackend", one_shot=True),
    Method("wanda", "pruning.methods.oneshot", WandaOptions,
           f"Wanda (Sun et al. 2024): prune by |W| x ||X|| from calibration samples, layer by layer, no "
           f"weight update; {ONE_SHOT}", "WandaBackend", one_shot=True),
    Method("sparsegpt", "pruning.methods.oneshot", SparseGptOptions,
           f"SparseGPT (Frantar & Alistarh 2023): OBS reconstruction of each layer from calibration samples, "
           f"layer by layer; joint GPTQ-style quantization with --bits; {ONE_SHOT}", "SparseGptBackend", one_shot=True),
)}


def method(name: str) -> Method:
    if name not in METHODS:
        raise PruningError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def make_options(name: str, values: Mapping[str, Any] | None = None):
    """The options dataclass of `name` from keyword values: unknown fields, values of the
    wrong type and numbers out of their range are one PruningError (before any work)."""
    cls = method(name).options
    if values is not None and not isinstance(values, Mapping):
        raise PruningError(f"method {name!r}: options must be a mapping of option name to value, "
                           f"not {type(values).__name__}")
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise PruningError(f"method {name!r} has no option(s) {unknown}; its options: {sorted(known)}")
    for f in dataclasses.fields(cls):
        if f.name in values:
            _check_value(name, f, values[f.name])
    return cls(**values)


def _check_value(method_name: str, f: dataclasses.Field, value: Any) -> None:
    """One option's value against its field: its type, its "range" or "choices"."""
    what = f"{_flag(method_name, f.name)} ({method_name} option {f.name})"
    if value is None and f.default is None:            # optional: the method's default
        return
    kind = _scalar_type(f.type, f.default)
    if "range" in f.metadata:
        check(what, value, f.metadata["range"])
        if value is None:
            raise PruningError(f"{what} = None: must be {f.metadata['range']}")
    elif not isinstance(value, kind):
        raise PruningError(f"{what} = {value!r:.40}: must be "
                           f"{'true or false' if kind is bool else 'text'}, not {type(value).__name__}")
    elif "choices" in f.metadata and value not in f.metadata["choices"]:
        raise PruningError(f"{what} = {value!r:.40} is not one of {', '.join(f.metadata['choices'])}")


# ---- argparse generation ------------------------------------------------------------------

def _flag(method_name: str, field_name: str) -> str:
    return f"--{method_name}-{field_name.replace('_', '-')}"


def _dest(method_name: str, field_name: str) -> str:
    return f"opt_{method_name}_{field_name}"


def _scalar_type(annotation: Any, default: Any) -> type:
    """int/float/bool/str from a field annotation (a string under postponed evaluation)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    for kind in (bool, int, float, str):
        if text.split("|")[0].strip() == kind.__name__:
            return kind
    if default is not None and type(default) in (bool, int, float, str):
        return type(default)
    return str


def field_default(cls: type, name: str) -> Any:
    """A dataclass field's default (None for a field made by a factory): a job's settings
    are written once, in its dataclass, and read from there by the CLI and the API."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return None if f.default is dataclasses.MISSING else f.default


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag_kwargs(f: dataclasses.Field, help: str, allowed: Range | None, default: Any) -> dict[str, Any]:
    """argparse keywords of a flag for field `f`: its type from the annotation, its choices,
    and the help with its range and (shown) default appended."""
    notes = ([f"range {allowed.interval}"] if allowed is not None else []) \
        + ([] if default is None else [f"default {_shown(default)}"])
    shown = f" ({'; '.join(notes)})" if notes else ""
    kwargs: dict[str, Any] = {"help": f"{help}{shown}"}
    kind = _scalar_type(f.type, default)
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["type"] = kind
        kwargs["metavar"] = f.name.upper()
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
    return kwargs


def add_field_flag(container, cls: type, name: str, help: str, *, flag: str | None = None,
                   allowed: Range | None = None, **overrides) -> argparse.Action:
    """A flag (`--name-with-dashes` unless `flag`) for field `name` of dataclass `cls`, whose
    default and type are the field's (the one place they are written); `allowed` is shown in
    the help (and checked where the job is built); `overrides` are further argparse keywords."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    default = overrides.pop("default", field_default(cls, name))
    kwargs = {**_flag_kwargs(f, help, allowed, default), "dest": name, "default": default, **overrides}
    return container.add_argument(flag or "--" + name.replace("_", "-"), **kwargs)


# Options several methods share under one flag (`--calibration`, not `--wanda-calibration`).
SHARED_OPTIONS = ("calibration",)


def _sharing(option: str) -> list[str]:
    """The methods that have shared option `option`."""
    return sorted(n for n, m in METHODS.items() if option in {f.name for f in dataclasses.fields(m.options)})


def add_method_options(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """One argument group per method, one flag per options field (one flag for all the methods
    that share an option: SHARED_OPTIONS); the dataclass keeps the defaults (argparse default
    None), and the help text shows them once. Returns the groups by method (a command may show
    only one method's options)."""
    groups = {}
    for name, m in sorted(METHODS.items()):
        group = groups[name] = parser.add_argument_group(f"{name} options", m.description)
        for f in dataclasses.fields(m.options):
            if f.name in SHARED_OPTIONS:
                continue
            default = f.default if f.default is not dataclasses.MISSING else None
            kwargs = _flag_kwargs(f, f.metadata.get("help", ""), f.metadata.get("range"), default)
            group.add_argument(_flag(name, f.name), dest=_dest(name, f.name), default=None, **kwargs)
    for option in SHARED_OPTIONS:                 # in the first sharing method's group, listed by all
        methods = _sharing(option)
        f = next(f for f in dataclasses.fields(METHODS[methods[0]].options) if f.name == option)
        kwargs = _flag_kwargs(f, f"{f.metadata.get('help', '')}; methods {', '.join(methods)}",
                              f.metadata.get("range"), f.default)
        action = groups[methods[0]].add_argument("--" + option.replace("_", "-"), dest="shared_" + option,
                                                 default=None, **kwargs)
        for name in methods[1:]:
            groups[name].shared_actions = getattr(groups[name], "shared_actions", []) + [action]
    return groups


def options_from_args(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The options fields of `name` that were given on the command line; a flag of another
    method is an error (it would be silently ignored)."""
    out = {}
    for option in SHARED_OPTIONS:
        value = getattr(args, "shared_" + option, None)
        if value is None:
            continue
        if name not in _sharing(option):
            raise PruningError(f"--{option.replace('_', '-')} is an option of the methods "
                               f"{', '.join(_sharing(option))}, but --method is {name!r}")
        out[option] = value
    for other, m in METHODS.items():
        for f in dataclasses.fields(m.options):
            if f.name in SHARED_OPTIONS:
                continue
            value = getattr(args, _dest(other, f.name), None)
            if value is None:
                continue
            if other != name:
                raise PruningError(f"{_flag(other, f.name)} is an option of method {other!r}, "
                                   f"but --method is {name!r}")
            out[f.name] = value
    return out
