"""Layer shapes of bundled networks stored as data, so hwmodels tests run on real networks
without the importer (tests/hwmodels imports no codesign); tests/codesign checks that the
importer still gives these shapes (test_network_shapes_data.py), and rewrites the file with
`write_shapes` when they are meant to change."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from hwmodels.workload import LayerShape

PATH = Path(__file__).parent / "hwmodels" / "data" / "network_shapes.csv"
NETWORKS = ("alexnet", "vgg19", "resnet50", "shufflenet", "squeezenet")
FIELDS = tuple(f.name for f in dataclasses.fields(LayerShape))
TUPLES = {f.name for f in dataclasses.fields(LayerShape) if isinstance(f.default, tuple)}


def read_shapes(network: str, path: Path = PATH) -> list[LayerShape]:
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.pop("network") == network]
    if not rows:
        raise KeyError(f"{network!r} is not in {path.name}; one of {', '.join(NETWORKS)}")
    return [LayerShape(**{k: _value(k, v) for k, v in r.items()}) for r in rows]


def write_shapes(shapes: dict[str, list[LayerShape]], path: Path = PATH) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(("network",) + FIELDS)
        for network, layers in shapes.items():
            for s in layers:
                out.writerow((network,) + tuple(_text(getattr(s, k)) for k in FIELDS))


def _value(key: str, text: str):
    if key in TUPLES:
        return tuple(int(d) for d in text.split())
    if key in ("name", "op"):
        return text
    return text == "True" if key == "has_bias" else int(text)


def _text(value) -> str:
    return " ".join(str(d) for d in value) if isinstance(value, tuple) else str(value)
