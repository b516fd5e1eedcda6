"""The syntax of a bits setting (`--bits conv=3,fc=2`, `4`, `<weight name>=5`, or a mapping),
without torch: prune and search check it before any data is read; pruning.pipeline resolves
its keys against the model's weights."""
from __future__ import annotations

from typing import Mapping

from pruning.errors import PruningError
from pruning.ranges import WEIGHT_BITS, check

KINDS = ("all", "conv", "fc")      # every layer, conv weights (>= 3 dims), fc weights (2 dims)
SYNTAX = "e.g. conv=3,fc=2 or 4 or <weight>=5"


def parse_bits(spec: str | Mapping[str, int] | None) -> list[tuple[str, int]]:
    """(key, bits) pairs of a bits setting, each width within WEIGHT_BITS; a key is a kind
    (KINDS) or a weight name. None or "" is no quantization."""
    if spec is None or spec == "":
        return []
    if isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = []
        for part in str(spec).split(","):
            key, _, value = part.strip().rpartition("=")
            try:
                items.append((key.strip() or "all", int(value)))
            except ValueError:
                raise PruningError(f"--bits {str(spec)[:60]!r}: expected {SYNTAX}") from None
    for key, bits in items:
        check(f"--bits {str(key)[:60]}", bits, WEIGHT_BITS)
    return [(str(k), int(b)) for k, b in items]
