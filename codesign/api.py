"""The Python API; the CLI is a thin layer over these functions (and only the CLI prints).

    import codesign
    net = codesign.load("resnet50")                         # or an nn.Module + example_input
    hw = codesign.hardware("smic40-admmnn", pes=512)
    be = codesign.breakeven(net, hw)                        # r* per layer
    plan = codesign.plan(net, hw, alpha=0.1)                # or alphas="plan.json", pruned="m.onnx"
    plan.totals["speedup"], plan.to_csv("layers.csv"), plan.report("out/")
    sw = codesign.sweep(net, hw, vary={"pes": [256, 512]})
    pruned = codesign.prune("lenet5", data="mnist5k", alpha=0.2, epochs=1)   # torch from here on
    found = codesign.search("lenet5", data="digits", max_drop=1.0)

Results are typed objects with `.layers`, `.totals`, `.to_dict()`, `.to_csv(path)` and
`.report(dir)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from codesign.errors import CodesignError
from codesign.specs import hardware
from hwmodels.spec import HardwareSpec
from pruning.patterns import UNSTRUCTURED, Pattern, parse_pattern


def load(source, input_shape=None, example_input=None):
    """A Network from an ONNX path, a bundled or built-in name, an onnx.ModelProto, or a torch
    nn.Module (exported with torch.onnx at `example_input`, a tensor or a tuple of them).
    `input_shape`: "1x3x224x224", a tuple, or a list of "NAME=DIMS"."""
    from codesign.graph import load_network
    if _is_module(source):
        from pruning.onnx.bridge import export_torch
        if example_input is None:
            raise CodesignError("codesign.load(nn.Module) needs example_input= (a tensor shaped like "
                                "one batch, or a tuple of them) to export it")
        source = export_torch(source, example_input, opset=17)   # at the example's own shapes
    return load_network(source, input_shape)


def _is_module(obj) -> bool:
    cls = type(obj)
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in cls.__mro__)


def _network(net, input_shape=None):
    from codesign.graph import Network
    return net if isinstance(net, Network) else load(net, input_shape)


def _spec(hw) -> HardwareSpec:
    return hw if isinstance(hw, HardwareSpec) else hardware(hw)


def breakeven(net, hw="smic40-admmnn", patterns: Sequence[Pattern | str] = (UNSTRUCTURED,),
              uncertainty: int = 0, seed: int = 0):
    """Break-even ratios (BreakEvenResult) of every prunable layer, per pattern."""
    from codesign.break_even import break_even_table
    network, spec = _network(net), _spec(hw)
    return break_even_table(network.shapes, spec, network.name,
                            [parse_pattern(p) for p in patterns], uncertainty, seed)


def plan(net, hw="smic40-admmnn", *, alpha: float | None = None, alphas=None, pruned=None,
         pattern: Pattern | str = UNSTRUCTURED, uncertainty: int = 0, seed: int = 0):
    """Evaluate a plan (codesign.plans.Plan): one `alpha` (with `pattern`) for every layer, a
    sparsity file or mapping `alphas` (with "patterns" and "bits"), or the masks of a `pruned`
    ONNX model (path, ModelProto or Network)."""
    from codesign.plans import build_plan, uniform_sparsity
    network, spec = _network(net), _spec(hw)
    given = [x is not None for x in (alpha, alphas, pruned)]
    if sum(given) != 1:
        raise CodesignError("plan: give exactly one of alpha=, alphas= or pruned=")
    masks, source, model_bits = None, "alpha", None
    if alpha is not None:
        sparsity = uniform_sparsity(network.shapes, alpha, parse_pattern(pattern))
    elif alphas is not None:
        from codesign.plans import read_sparsity
        sparsity, source = read_sparsity(alphas), "sparsity"
    else:
        from codesign.pruned import read_pruned
        pruned_net = _pruned_network(pruned, network)
        found = read_pruned(pruned_net, network)
        sparsity, masks, source = found.sparsity, found.masks, "pruned"
        model_bits = None
    return build_plan(network.shapes, spec, sparsity, model=network.name, source=source, masks=masks,
                      input_shape=network.input_shape, coverage=network.coverage_dict(),
                      model_bits=model_bits or network.weight_bits(), samples=uncertainty, seed=seed)


def _pruned_network(pruned, network):
    from codesign.graph import Network, load_network
    if isinstance(pruned, Network):
        return pruned
    if isinstance(pruned, (str, Path)) and not Path(pruned).is_file():
        raise CodesignError(f"pruned model {str(pruned)[:200]!r} does not exist")
    return load_network(pruned, network.input_shapes_text())


def sweep(net, hw="smic40-admmnn", *, vary: Mapping[str, Sequence], alpha: float = 0.1,
          chunk: int | None = None, executor: str = "local", address: str | None = None,
          workers: int = 2, progress: Callable[[int, int], None] | None = None):
    """A cartesian hardware sweep (codesign.sweeps.SweepResult), ranked by planned latency."""
    from codesign.sweeps import DEFAULT_CHUNK, parse_vary, run_sweep
    network, spec = _network(net), _spec(hw)
    varied = parse_vary([f"{k}={','.join(str(v) for v in vals)}" for k, vals in vary.items()])
    runner = None
    if executor == "ray":
        from codesign.ray_engine import ray_chunk_runner
        runner = ray_chunk_runner(address=address, workers=workers)
    elif executor != "local":
        raise CodesignError(f"executor {executor!r} is not local or ray")
    return run_sweep(network.shapes, spec, varied, alpha=alpha, chunk=chunk or DEFAULT_CHUNK,
                     progress=progress, run_chunks=runner)


def prune(model, data, **options: Any):
    """Compress `model` (an ONNX path, a built-in name or an nn.Module) on `data` (a dataset
    name or path, or a torch Dataset/DataLoader); see codesign.compress.prune for the options."""
    from codesign.compress import prune as run
    return run(model, data, **options)


def search(model, data, **options: Any):
    """The hardware-aware search; see codesign.compress.search for the options."""
    from codesign.compress import search as run
    return run(model, data, **options)


__all__ = ["breakeven", "hardware", "load", "plan", "prune", "search", "sweep"]
