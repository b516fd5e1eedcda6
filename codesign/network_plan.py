"""The plan of a loaded network: its shapes, coverage and own weight widths handed to the plan
builder, with the sparsity asked for or the masks a pruned copy of it holds. One function for
the API's plan, a pruned model's report and a search's exported model."""
from __future__ import annotations

from typing import TYPE_CHECKING

from codesign.plans import Plan, Sparsity, build_plan
from codesign.pruned import PrunedModel, read_pruned
from hwmodels.spec import HardwareSpec

if TYPE_CHECKING:
    from codesign.graph import Network


def plan_network(network: Network, spec: HardwareSpec, sparsity: Sparsity | None = None, *,
                 pruned: Network | PrunedModel | None = None, source: str = "sparsity", samples: int = 0,
                 seed: int = 0) -> Plan:
    """The plan of `network` on `spec`: at `sparsity`, or (`pruned`: a pruned copy of the
    network, loaded; or its masks already read, a pruner's) at that copy's own masks, patterns and
    widths."""
    masks = None
    if pruned is not None:
        found = pruned if isinstance(pruned, PrunedModel) else read_pruned(pruned, network)
        sparsity, masks, source = found.sparsity, found.masks, "pruned"
    return build_plan(network.shapes, spec, sparsity, model=network.name, source=source, masks=masks,
                      input_shape=network.input_shape, coverage=network.coverage_dict(),
                      model_bits=network.weight_bits(), samples=samples, seed=seed)
