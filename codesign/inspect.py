"""Per-layer description of a Network as plain records (the inspect command's data)."""
from __future__ import annotations

from codesign.graph import Network

MAC_CONVENTION = ("one multiply-add = one MAC (paper 001 Table 8 counts the multiply and the add "
                  "separately: multiply by 2 to compare)")


def layer_records(network: Network) -> list[dict]:
    total = network.total_macs or 1
    records = []
    for layer in network.layers:
        s = layer.shape
        records.append({
            "name": layer.name, "op": layer.op, "node": layer.node,
            "weight_shape": list(layer.weight_shape), "weight_source": layer.weight_source,
            "groups": s.groups, "depthwise": s.is_depthwise,
            "kernel": list(s.kernel), "stride": list(s.stride), "dilation": list(s.dilation),
            "pads": list(s.pads), "bias": layer.bias,
            "input_shape": list(layer.input_shape), "output_shape": list(layer.output_shape),
            "params": layer.params, "macs": layer.macs, "mac_share": layer.macs / total,
            "input_elements": s.in_elements, "output_elements": s.out_elements,
        })
    return records


def write_csv(path, records: list[dict]) -> None:
    import csv
    from pathlib import Path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["name", "op", "weight_shape", "groups", "input_shape", "output_shape", "params",
              "macs", "mac_share", "input_elements", "output_elements"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: "x".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()}
                         for r in records)           # shapes as 256x48x5x5, as on screen


def network_summary(network: Network) -> dict:
    return {
        "model": network.name,
        "inputs": {"input": list(network.input_shape)},
        "input_shape": list(network.input_shape),
        "mac_convention": MAC_CONVENTION,
        "layers": layer_records(network),
        "totals": {"layers": len(network.layers), "params": network.total_params,
                   "macs": network.total_macs},
    }
