"""The `api` fuzz family (issue 26): Python API calls (codesign.load, hardware, breakeven, plan,
sweep, prune, search, pruner and the results' methods) with one argument replaced by a hostile value,
every other argument valid. Judged by the harness: the call returns, or raises one of the
project's error types with a one-line message; any other exception is a problem. Paths among
the hostile values are links planted in the case's folder (to a file or folder outside, dangling,
to /dev/zero), a FIFO, devices and names with control characters; relative names may be
written in the case's working folder (so, unlike the CLI families, the harness does not
watch it)."""
from __future__ import annotations

import functools
import inspect
import math
import os
import random
import re
import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from fuzz.harness import outside_folder


class Lazy:
    """A value made in the case's process (torch objects, paths in the case's folder)."""

    def __init__(self, label: str, make: Callable) -> None:
        self.label, self.make = label, make

    def __repr__(self) -> str:
        return self.label


def torch_net():
    """A small classifier of 1x8x8 samples into 10 classes (seeded)."""
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))


def loader(x=None, y=None):
    """Batches of `x` (60 random 1x8x8 samples) with labels `y` (0 to 9 in turn)."""
    import torch
    x = torch.rand(60, 1, 8, 8) if x is None else x
    y = torch.arange(len(x)) % 10 if y is None else y
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)


def _link(to: str) -> Callable:
    def make(case: Path):
        path = case / f"link-{zlib.crc32(to.encode()):08x}"
        if not os.path.lexists(path):
            path.symlink_to(to)
        return path
    return make


def _fifo(case: Path) -> Path:
    path = case / "fifo"
    if not path.exists():
        os.mkfifo(path)
    return path


def hostile_values(outside: Path) -> list:
    return [
        None, True, False, 0, -1, 2 ** 64, -(10 ** 30), 1.5, math.nan, math.inf, -math.inf, 1e-320, 1j,
        "", " ", "\x00", "a\nb", "\x1b[2J", "x" * 5000, "nan", "1e400", "2:4", "0:0", "unstructured,",
        (-1, 3), (1, -1, 28, 28), (0,), (2 ** 40, 3, 224, 224), (1, 1, 28, 28, 1), (), [], {}, {"pes": []},
        {"pes": [math.nan]}, {"nope": [1]}, {"pes": list(range(1, 3000))}, {"": [1]}, [["a"]], b"bytes",
        bytearray(b"x"), object(), np.float64("nan"), np.int64(-5), np.array([1, 2]), np.zeros((2, 2)),
        Path("/dev/zero"), Path("/dev/null"), "/proc/self/mem", Path("/"), Path("/nonexistent/dir/file"),
        Lazy("<link to a file outside>", _link(str(outside / "secret.txt"))),
        Lazy("<link to a folder outside>", _link(str(outside / "dir"))),
        Lazy("<dangling link to outside>", _link(str(outside / "new-api"))),
        Lazy("<link to /dev/zero>", _link("/dev/zero")), Lazy("<a FIFO>", _fifo),
        Lazy("<a torch module>", lambda case: torch_net()),
        Lazy("<a DataLoader of 7x7 samples>", lambda case: loader(_rand(7))),
        Lazy("<an empty onnx.ModelProto>", lambda case: __import__("onnx").ModelProto()),
        lambda: None, print, len,
    ]


def _rand(side: int):
    import torch
    return torch.rand(60, 1, side, side)


@functools.lru_cache(maxsize=1)
def cost_objects():
    """The torch-free results (made once; forked cases share them)."""
    import codesign
    network, hw = codesign.load("lenet5"), codesign.hardware()
    return network, hw, codesign.plan(network, hw, alpha=0.1), codesign.sweep(network, hw, vary={"pes": [256, 512]}), \
        codesign.breakeven(network, hw)


TINY_PRUNE = dict(method="magnitude", alpha=0.5, epochs=0.0)
TINY_SEARCH = dict(max_drop=100.0, validation=10, pretrain_epochs=0.0, train_epochs=0.0, final_epochs=0.0,
                   probe_epochs=0.0)


@functools.lru_cache(maxsize=1)
def _pruned():
    import codesign
    return codesign.prune(torch_net(), loader(), **TINY_PRUNE)


def _on_pruned(method: str) -> Callable:
    """PruneResult.<method> of a tiny pruned model, pruned on the first call (torch only then),
    with the method's signature (less self) for inspect."""
    from codesign.compress import PruneResult

    def call(**kwargs):
        return getattr(_pruned(), method)(**kwargs)
    signature = inspect.signature(getattr(PruneResult, method))
    call.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return call


def _defaults(fn) -> dict:
    return {p.name: p.default for p in inspect.signature(fn).parameters.values() if p.default is not p.empty}


def calls(case: Path) -> dict[str, tuple[Callable, dict]]:
    """Each public function and result method with valid arguments (output paths in `case`);
    every parameter is named (tests/codesign/test_api_arguments.py checks)."""
    import codesign
    network, hw, plan, sweep, be = cost_objects()
    return {
        "load": (codesign.load, dict(source="lenet5", input_shape=None, example_input=None)),
        "hardware": (codesign.hardware, dict(preset="smic40-admmnn", overrides=(), pes=256)),
        "breakeven": (codesign.breakeven, dict(net=network, hw=hw, patterns=("unstructured",), uncertainty=0, seed=0)),
        "plan": (codesign.plan, dict(net=network, hw=hw, alpha=0.1, alphas=None, pruned=None, pattern="unstructured",
                                     uncertainty=0, seed=0)),
        "sweep": (codesign.sweep, dict(net=network, hw=hw, vary={"pes": [256]}, alpha=0.1, chunk=None,
                                       executor="local", address=None, workers=2, progress=None)),
        "Plan.layer": (plan.layer, dict(name=plan.layers[0].name)),
        "Plan.to_json": (plan.to_json, dict(indent=1)),
        "Plan.save": (plan.save, dict(path=case / "plan.json", within=None)),
        "Plan.to_csv": (plan.to_csv, dict(path=case / "layers.csv")),
        "Plan.report": (plan.report, dict(out_dir=case / "plan-report", title=None, meta=None, notes=())),
        "BreakEvenResult.to_csv": (be.to_csv, dict(path=case / "be.csv")),
        "SweepResult.ranking": (sweep.ranking, dict(objective="latency")),
        "SweepResult.config": (sweep.config, dict(i=0)),
        "SweepResult.slice": (sweep.slice, dict(values=[1.0, 2.0], fixed=None)),
        "SweepResult.to_csv": (sweep.to_csv, dict(path=case / "sweep" / "configs.csv")),
        "SweepResult.report": (sweep.report, dict(out_dir=case / "sweep-report", network=network, base=hw, title=None)),
        "PruneResult.to_csv": (_on_pruned("to_csv"), dict(path=case / "pruned.csv", within=None)),
        "PruneResult.save": (_on_pruned("save"), dict(out_dir=case / "pruned")),
        "PruneResult.report": (_on_pruned("report"), dict(out_dir=case / "pruned-report", hw="smic40-admmnn")),
        "prune": (codesign.prune, {**_defaults(codesign.prune), **TINY_PRUNE, "model": Lazy("net", lambda c: torch_net()),
                                   "data": Lazy("loader", lambda c: loader())}),
        "search": (codesign.search, {**_defaults(codesign.search), **TINY_SEARCH, "out": case / "search",
                                     "model": Lazy("net", lambda c: torch_net()), "data": Lazy("loader", lambda c: loader())}),
        "pruner": (codesign.pruner, {**_defaults(codesign.pruner), "method": "magnitude", "steps": 10, "alpha": 0.5,
                                     "model": Lazy("net", lambda c: torch_net())}),
    }


# Where another valid argument would hide the drawn one: plan's alphas and pruned need alpha=None.
INSTEAD = {("plan", "alphas"): {"alpha": None}, ("plan", "pruned"): {"alpha": None}}
NOT_DRAWN = {"within"}          # names the project's own run folder (pruning.safe_files), not a user's


def _resolve(value, case: Path):
    return value.make(case) if isinstance(value, Lazy) else value


def call_replacing(name: str, param: str, value, case: Path) -> Callable[[], object]:
    """The call `name` of the table with valid arguments but `param`=value (and INSTEAD's
    companions), lazy values made in `case` when it runs."""
    def call():
        case.mkdir(parents=True, exist_ok=True)
        fn, good = calls(case)[name]
        kwargs = {k: _resolve(v, case) for k, v in {**good, **INSTEAD.get((name, param), {})}.items()}
        kwargs[param] = _resolve(value, case)
        return fn(**kwargs)
    return call


def _shown(value) -> str:
    text = re.sub(r" at 0x[0-9a-f]+", "", repr(value))        # the same label in every run
    return text if len(text) <= 50 else text[:47] + "..."


def api_calls(n: int, seed: int, tmp: Path, names: tuple[str, ...] | None = None) -> Iterator[tuple[str, Callable]]:
    """n seeded (function, argument, hostile value) calls, each once; `names`: only these functions."""
    rng = random.Random(seed)
    cost_objects()
    values = hostile_values(outside_folder(tmp))
    table = calls(tmp)
    chosen = sorted(names or table)
    seen = set()
    for i in range(n * 20):
        if len(seen) == n:
            break
        name = rng.choice(chosen)
        param = rng.choice(sorted(set(table[name][1]) - NOT_DRAWN))
        k = rng.randrange(len(values))
        if (name, param, k) in seen:
            continue
        seen.add((name, param, k))
        yield (f"{name}({param}={_shown(values[k])}) #{len(seen) - 1}",
               call_replacing(name, param, values[k], tmp / f"api{seed}_{len(seen) - 1}"))


api_calls.writes_in_cwd = True      # relative names among the values are legitimate paths
