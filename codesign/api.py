"""The Python API; the CLI is a thin layer over these functions (and only the CLI prints).

    import codesign
    net = codesign.load("resnet50")                         # or an nn.Module + example_input
    hw = codesign.hardware("smic40-admmnn", pes=512)
    be = codesign.breakeven(net, hw)                        # r* per layer
    plan = codesign.plan(net, hw, alpha=0.1)                # or alphas="plan.json", pruned="m.onnx"
    plan.totals.speedup, plan.to_csv("layers.csv"), plan.report("out/")
    sw = codesign.sweep(net, hw, vary={"pes": [256, 512]})
    pruned = codesign.prune("lenet5", data="mnist5k", alpha=0.2, epochs=1)   # torch from here on
    found = codesign.search("lenet5", data="digits", max_drop=1.0)
    p = codesign.pruner("agp", module, alpha=0.2, steps=1000)   # your own loop: p.penalty(), p.step()

Results are typed objects with `.layers`, `.totals`, `.to_dict()`, `.to_csv(path)` and
`.report(dir)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

from codesign import arguments
from codesign.errors import CodesignError
from codesign.refs import resolve_hardware
from codesign.specs import hardware
from pruning.patterns import UNSTRUCTURED, Pattern
from hwmodels.presets import DEFAULT_PRESET
from hwmodels.uncertainty import MAX_SAMPLES
from pruning.ranges import TRAINING, Range

SEED = TRAINING["seed"]
UNCERTAINTY = Range(0, MAX_SAMPLES, whole=True)       # 0: off; else Monte Carlo samples
CHUNK = Range(1, 10 ** 9, whole=True)                 # config x layer pairs per sweep chunk


def load(source, input_shape=None, example_input=None):
    """A Network from an ONNX path, a bundled or built-in name, an onnx.ModelProto, or a torch
    nn.Module (exported at `example_input`: a tensor, a tuple of them, or a dict of keyword
    tensors such as an HF model's {"input_ids": ..., "attention_mask": ...}; torch's dynamo
    exporter, else the legacy one). `input_shape`: "1x3x224x224", a tuple, or a list of
    "NAME=DIMS"."""
    from codesign.graph import load_network
    source = arguments.model("source", source)
    input_shape = arguments.shape("input_shape", input_shape)
    if arguments.is_torch_module(source):
        from pruning.onnx.torch_export import export_module
        if example_input is None:
            raise CodesignError("codesign.load(nn.Module) needs example_input= (a tensor shaped like "
                                "one batch, a tuple of them, or a dict of keyword tensors) to export it")
        _check_example(example_input)
        source = export_module(source, example_input)        # at the example's own shapes
    elif example_input is not None:
        raise CodesignError("example_input= is for a torch nn.Module source only; leave it out (an ONNX "
                            "model's inputs are set with input_shape=)")
    return load_network(source, input_shape)


def _check_example(example) -> None:
    from pruning.onnx.torch_export import EXAMPLE_KINDS, is_example
    if not is_example(example):
        raise arguments.ArgumentError(f"example_input= must be {EXAMPLE_KINDS}, not "
                                      f"{type(example).__name__} {arguments.shown(example)}")


def _network(net, input_shape=None):
    from codesign.graph import Network
    net = arguments.model("net", net, network=True)
    return net if isinstance(net, Network) else load(net, input_shape)


def breakeven(net, hw=DEFAULT_PRESET, patterns: Sequence[Pattern | str] = (UNSTRUCTURED,),
              uncertainty: int = 0, seed: int = 0):
    """Break-even ratios (BreakEvenResult) of every prunable layer, per pattern."""
    from codesign.break_even import break_even_table
    chosen = arguments.patterns("patterns", patterns)
    uncertainty = arguments.whole("uncertainty", uncertainty, UNCERTAINTY)
    seed = arguments.whole("seed", seed, SEED)
    network, spec = _network(net), resolve_hardware(hw)
    return break_even_table(network.shapes, spec, network.name, chosen, uncertainty, seed)


def plan(net, hw=DEFAULT_PRESET, *, alpha: float | None = None, alphas=None, pruned=None,
         pattern: Pattern | str = UNSTRUCTURED, uncertainty: int = 0, seed: int = 0):
    """Evaluate a plan (codesign.plans.Plan): one `alpha` (with `pattern`) for every layer, a
    sparsity file or mapping `alphas` (with "patterns" and "bits"), or the masks of a `pruned`
    model (path, ModelProto, Network or torch nn.Module) or the masks themselves (a mapping of
    weight name to bool masks, as a pruner's finalize() returns)."""
    from codesign.network_plan import plan_network
    from codesign.plans import read_sparsity, uniform_sparsity
    arguments.model("net", net, network=True)                  # named first: plan(3) is about net
    given = [x is not None for x in (alpha, alphas, pruned)]
    if sum(given) != 1:
        raise CodesignError("plan: give exactly one of alpha=, alphas= or pruned=")
    alpha = arguments.keep_fraction("alpha", alpha, optional=True)
    chosen = arguments.pattern("pattern", pattern)
    if alphas is not None and not isinstance(alphas, Mapping):
        alphas = arguments.path("alphas", alphas)             # read (and named if missing) by read_sparsity
    if pruned is not None and not isinstance(pruned, Mapping):
        pruned = arguments.model("pruned", pruned, network=True)
    uncertainty = arguments.whole("uncertainty", uncertainty, UNCERTAINTY)
    seed = arguments.whole("seed", seed, SEED)
    network, spec = _network(net), resolve_hardware(hw)
    if alpha is not None:
        sparsity, source = uniform_sparsity(network.shapes, alpha, chosen), "alpha"
    elif alphas is not None:
        sparsity, source = read_sparsity(alphas), "sparsity"
    else:
        return plan_network(network, spec, pruned=_pruned(pruned, network), samples=uncertainty,
                            seed=seed)
    return plan_network(network, spec, sparsity, source=source, samples=uncertainty, seed=seed)


def _pruned(pruned, network):
    """A pruned copy of `network` (loaded), or the masks of a pruner or of a pruned torch module
    (its zero weights) read against it."""
    from codesign.graph import Network, load_network
    from codesign.pruned import read_masks
    if isinstance(pruned, Network):
        return pruned
    if isinstance(pruned, Mapping):
        return read_masks(pruned, network)
    if arguments.is_torch_module(pruned):
        from pruning.protocol import prunable_weights
        return read_masks({n: w.detach() != 0 for n, w in prunable_weights(pruned).items()}, network)
    if isinstance(pruned, (str, Path)) and not Path(pruned).is_file():
        raise CodesignError(f"pruned model {str(pruned)[:200]!r} does not exist")
    return load_network(pruned, network.input_shapes_text())


def sweep(net, hw=DEFAULT_PRESET, *, vary: Mapping[str, Sequence], alpha: float = 0.1,
          chunk: int | None = None, executor: str = "local", address: str | None = None,
          workers: int = 2, progress: Callable[[int, int], None] | None = None):
    """A cartesian hardware sweep (codesign.sweeps.SweepResult), ranked by planned latency."""
    from codesign.sweeps import DEFAULT_CHUNK, parse_vary, run_sweep
    varied = parse_vary(_vary_items(vary))
    alpha = arguments.keep_fraction("alpha", alpha)
    chunk = arguments.whole("chunk", chunk, CHUNK, optional=True)
    executor = arguments.choice("executor", executor, ("local", "ray"))
    address = arguments.text("address", address, optional=True)
    from codesign.loop.job_spec import SEARCH_NUMBERS      # a local Ray cluster's CPUs, as for search
    workers = arguments.whole("workers", workers, SEARCH_NUMBERS["workers"])
    progress = arguments.callback("progress", progress)
    network, spec = _network(net), resolve_hardware(hw)
    runner = None
    if executor == "ray":
        from codesign.ray_engine import ray_chunk_runner
        runner = ray_chunk_runner(address=address, workers=workers)
    return run_sweep(network.shapes, spec, varied, alpha=alpha, chunk=chunk or DEFAULT_CHUNK,
                     progress=progress, run_chunks=runner, model=network.name, input_shape=network.input_shape)


def _vary_items(vary) -> list[str]:
    """`vary={"pes": [256, 512]}` as the CLI's KEY=V1,V2 items (codesign.sweeps.parse_vary)."""
    vary = arguments.mapping("vary", vary)
    if not vary:
        raise arguments.ArgumentError("vary= is empty; give at least one key and its values, e.g. "
                                  "vary={'pes': [256, 512]}")
    items = []
    for key, values in vary.items():
        arguments.text("vary key", key)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise arguments.ArgumentError(f"vary={{{arguments.shown(key)}: ...}} must map to a non-empty list of "
                                      f"values, not {arguments.shown(values)}")
        items.append(f"{key}={','.join(arguments.text('vary value', str(v)) for v in values)}")
    return items


def pruner(method: str, model, *, steps: int, alpha: float | None = None, alphas=None,
           allocation: str = "uniform", pattern: Pattern | str | None = None,
           steps_per_epoch: int | None = None, **options):
    """A pruner for your own training loop (torch.ao.pruning style), for method agp, admm or
    magnitude: `loss = loss + p.penalty()` (ADMM's term; zero for the others), `p.step()` after
    every `optimizer.step()`, then `p.finalize()` hard-prunes the model and returns its masks
    (bool tensors by weight name) for `plan(net, hw, pruned=masks)`. The pruner is the object
    `codesign prune --method` drives, so the same seed and settings give the same masks.

    model: a torch nn.Module (its Conv and Linear weights, by parameter name) or an ONNX
        bridge module; steps: the optimizer steps your loop will run (the schedule fits them);
    alpha (allocation "global": one ranking over all layers), alphas (a sparsity file or
        mapping: {"alphas": {...}, "patterns": {...}}), pattern: as codesign.prune takes them;
    steps_per_epoch: converts options given in epochs (admm's update_every); options: the
        method's own (pruning.methods.options), e.g. rho=0.01 or updates=10."""
    from pruning.methods import METHODS, make_options
    from pruning.prune_job import ALLOCATIONS, PruneJob
    from codesign.plans import read_sparsity
    arguments.choice("method", method, sorted(METHODS))
    if not arguments.is_torch_module(model):
        raise arguments.ArgumentError(f"model= must be a torch nn.Module (your model, or an ONNX bridge module), "
                                      f"not {type(model).__name__} {arguments.shown(model)}")
    from pruning.pruners import STEPS, make_pruner     # torch: the model is a torch module already
    steps = arguments.whole("steps", steps, STEPS)
    steps_per_epoch = arguments.whole("steps_per_epoch", steps_per_epoch, STEPS, optional=True)
    alpha = arguments.keep_fraction("alpha", alpha, optional=True)
    if alphas is not None and not isinstance(alphas, Mapping):
        alphas = arguments.path("alphas", alphas)             # read (and named if missing) by read_sparsity
    pattern = None if pattern is None else str(arguments.pattern("pattern", pattern))
    arguments.choice("allocation", allocation, ALLOCATIONS)
    make_options(method, options)
    if alpha is None and alphas is None and not pattern:
        raise CodesignError("pruner: nothing to prune; give alpha, alphas (a sparsity plan) or an N:M pattern")
    sparsity = read_sparsity(alphas) if alphas is not None else None
    from pruning.pipeline import targets_for
    from pruning.protocol import prunable_weights
    job = PruneJob(model=type(model).__name__, method=method, alpha=alpha, allocation=allocation, pattern=pattern,
                   alphas=dict(sparsity.alphas) if sparsity else {},
                   patterns={k: str(v) for k, v in sparsity.patterns.items()} if sparsity else {},
                   bits=dict(sparsity.bits) if sparsity and sparsity.bits else None)
    targets = targets_for(job, prunable_weights(model))    # the rule codesign.prune uses
    return make_pruner(method, model, targets, steps=steps, steps_per_epoch=steps_per_epoch, options=options)


# prune and search import torch (their signatures take defaults from the job dataclasses of
# the compression backends): reached on first use, so importing this module stays cheap.
def __getattr__(name: str):
    if name in ("prune", "search"):
        from codesign import compress
        return getattr(compress, name)
    raise AttributeError(f"module 'codesign.api' has no attribute {name!r}")


__all__ = ["breakeven", "hardware", "load", "plan", "prune", "pruner", "search", "sweep"]  # noqa: F822 (__getattr__)
