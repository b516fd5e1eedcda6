"""Seeded generators of hostile inputs, one family per kind of input that enters from outside:
`--set KEY=VALUE`, hardware TOML files, `--input-shape` strings, sparsity JSON files, sweep
`--vary` strings, mutated ONNX files (byte and protobuf level) and data files for `prune --data`;
and (issue 26, in their own modules) tampered run folders, planted links, inputs that ask for
too much memory or time, and Python API calls. Each yields (label, argv) for the CLI or
(label, function) for the API; files are written under `tmp`. The same seed gives the same
cases."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Iterator

import numpy as np

HOSTILE_NUMBERS = ["inf", "-inf", "nan", "NaN", "1e400", "-1e400", "1e-320", "-1", "0", "-0", "1e308",
                   "0.5", "3.7", "1e18", "9" * 5000, "0x10", "1_000", "True", "", " ", "abc", "1,2", "\x00",
                   "２", "1e", "--1", "+5", "1/2"]
SHAPES = ["1x3x224x224", "3x224x224", "0x3x224x224", "-1x3x224x224", "1x3x0x224", "999999999999999999999x3x224x224",
          "1x3x224", "1x3x224x224x1", "x", "", "1xx3", "1.5x3x224x224", "1x3x2e9x2e9", "input=1x3x227x227",
          "nope=1x3x224x224", "=1x3", "1x3x224x224,1x3x224x224", "1x3x\n224x224", "1 x 3 x 224 x 224", "a" * 10000,
          "1x3x65536x65536", "1x" + "1x" * 300 + "1"]


def _keys() -> list[str]:
    from hwmodels.spec import KEYS
    return sorted(KEYS)


def set_values(n: int, seed: int, tmp: Path) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    keys = _keys()
    pairs = [(k, v) for k in keys for v in HOSTILE_NUMBERS]
    rng.shuffle(pairs)
    for k, v in pairs[:n]:
        yield f"--set {k}={v[:20]!r}", ["plan", "alexnet", "--alpha", "0.2", "--set", f"{k}={v}"]


VALID_TOML = """name = "fuzz"
base = "smic40"
[architecture]
pes = 256
array_rows = 16
sparse_utilization = { value = 0.9, min = 0.65, max = 0.96, source = "eie16" }
[technology]
fo4_ps = 20.0
[sparse_format]
index_width_bits = 4
[evaluation]
mode = "isoarea"
"""


def _mutate_text(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines()
    kind = rng.randrange(10)
    if kind == 0 and lines:
        del lines[rng.randrange(len(lines))]
    elif kind == 1:
        i = rng.randrange(len(lines))
        if "=" in lines[i]:
            k = lines[i].split("=", 1)[0]
            value = rng.choice(["inf", "nan", "-5", "1e999", '"x"', "[1, 2]", "{}", "true", "9" * 400])
            lines[i] = f"{k}= {value}"
    elif kind == 2:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["[architecture]", "[[architecture]]", "[nope]",
                                                                 "bogus = 1", "base = \"nope\"", "base = 12"]))
    elif kind == 3:
        lines.append("deep = " + "[" * 2000 + "]" * 2000)
    elif kind == 4:
        return text.encode() + b"\xff\xfe\x00garbage"
    elif kind == 5:
        cut = rng.randrange(len(text))
        return text[:cut].encode()
    elif kind == 6:
        lines = [l.replace("smic40", rng.choice(["../../etc/passwd", "smic40-admmnn", "fuzz", "x" * 300]))
                 for l in lines]
    elif kind == 7:
        lines.append(f"[architecture.{'x' * rng.randrange(1, 5)}]")
    elif kind == 8:
        return ("a = 1\n" * 200_000).encode()                 # 1.2 MB
    else:
        lines = [l.replace("=", rng.choice(["=", "==", ":", " = = "]), 1) for l in lines]
    return "\n".join(lines).encode()


def hardware_files(n: int, seed: int, tmp: Path) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    for i in range(n):
        path = tmp / f"hw{seed}_{i}.toml"
        path.write_bytes(_mutate_text(VALID_TOML, rng))
        cmd = rng.choice([["hw", "--hw", str(path)], ["breakeven", "alexnet", "--hw", str(path)]])
        yield f"hardware file #{i}", cmd
    yield "--hw a directory", ["hw", "--hw", str(tmp)]
    yield "--hw missing", ["hw", "--hw", str(tmp / "missing.toml")]


def input_shapes(n: int, seed: int, tmp: Path) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    shapes = list(SHAPES)
    while len(shapes) < n:
        dims = [rng.choice(["1", "3", "0", "-2", "224", "7.5", "99999999", "", "a"]) for _ in range(rng.randrange(0, 7))]
        shapes.append(rng.choice(["", "input=", "data_0="]) + rng.choice(["x", "X", ","]).join(dims))
    for s in shapes[:n]:
        yield f"--input-shape {s[:30]!r}", ["inspect", rng.choice(["alexnet", "squeezenet", "vgg7"]), "--input-shape", s]


VALID_SPARSITY = {"alphas": {"conv2_w_0": 0.3, "fc6_w_0": 0.1}, "patterns": {"conv2_w_0": "2:4"},
                  "bits": {"fc6_w_0": 8}}


def _mutate_json(rng: random.Random) -> bytes:
    d = json.loads(json.dumps(VALID_SPARSITY))
    kind = rng.randrange(12)
    if kind == 0:
        d["alphas"]["conv2_w_0"] = rng.choice([0, -1, 2, 1e308, "0.3", None, [0.3], {"a": 1}, True])
    elif kind == 1:
        d["alphas"]["nope_w"] = 0.5
    elif kind == 2:
        d["patterns"]["conv2_w_0"] = rng.choice(["3:2", "0:4", "diag", 7, "", "1x1", "9999x9999"])
    elif kind == 3:
        d["bits"]["fc6_w_0"] = rng.choice([0, -3, 99, 2.5, "8", "HUGE"])
        return json.dumps(d).replace('"HUGE"', "1" * 4500).encode()
    elif kind == 4:
        return ("[" * 100_000 + "]" * 100_000).encode()
    elif kind == 5:
        return b'{"alphas": {"conv2_w_0": NaN}}'
    elif kind == 6:
        return b'{"alphas": {"conv2_w_0": ' + b"1" * 5000 + b"}}"
    elif kind == 7:
        return b"\xff\xfe" + json.dumps(d).encode("utf-16-le")
    elif kind == 8:
        return json.dumps(d).encode()[: rng.randrange(1, 40)]
    elif kind == 9:
        d = rng.choice([[], 5, "x", None, {"alphas": []}, {"alphas": {}}, {"version": 99, "alphas": {}}])
    elif kind == 10:
        d["alphas"] = {f"l{i}\n\x1b[31m": 0.5 for i in range(3)}
    else:
        d["extra"] = {"x": "y" * 1000}
    return json.dumps(d).encode() if not isinstance(d, bytes) else d


def sparsity_files(n: int, seed: int, tmp: Path) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    for i in range(n):
        path = tmp / f"sparsity{seed}_{i}.json"
        path.write_bytes(_mutate_json(rng))
        yield f"sparsity file #{i}", ["plan", "alexnet", "--sparsity", str(path)]


def vary_strings(n: int, seed: int, tmp: Path, long_list: int = 5000) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    keys = _keys()
    for i in range(n):
        k = rng.choice(keys + ["nope", "", "pes "])
        vals = ",".join(rng.choice(HOSTILE_NUMBERS + ["64", "128", "4"]) for _ in range(rng.randrange(0, 4)))
        s = rng.choice([f"{k}={vals}", f"{k}", f"={vals}", f"{k}=={vals}", f"{k}=" + ",".join(str(j) for j in range(rng.choice([3, long_list])))])
        yield f"--vary {s[:30]!r}", ["sweep", "alexnet", "--vary", s, "--out", str(tmp / f"sweep{seed}_{i}")]


def _valid_onnx():
    from pruning.models import builtin_onnx
    return builtin_onnx("lenet5", (1, 28, 28), 10, 0)


def _mutate_onnx(model, rng: random.Random) -> bytes:
    """A protobuf-level mutation of a valid model, or a byte-level one of its bytes."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    kind = rng.randrange(16)
    if kind == 0 and g.node:
        node = rng.choice(g.node)
        if node.input:
            del node.input[rng.randrange(len(node.input))]
    elif kind == 1 and g.initializer:
        t = rng.choice(g.initializer)
        t.dims[rng.randrange(len(t.dims))] = rng.choice([0, -1, 2 ** 40, 3])
    elif kind == 2 and g.initializer:
        t = rng.choice(g.initializer)
        t.data_type = rng.choice([0, 2, 7, 8, 16, 99])
    elif kind == 3 and g.initializer:
        t = rng.choice(g.initializer)
        t.raw_data = t.raw_data[: rng.randrange(max(1, len(t.raw_data)))]
    elif kind == 4 and g.initializer:
        t = rng.choice(g.initializer)
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", rng.choice(["../../../etc/passwd", "/etc/passwd", "missing.bin", "x" * 300])
    elif kind == 5 and g.node:
        rng.choice(g.node).name = "n\x00\x1b[2J" + "x" * rng.choice([5, 100_000])
    elif kind == 6 and g.initializer:
        del g.initializer[rng.randrange(len(g.initializer))]
    elif kind == 7 and g.node:
        node = rng.choice(g.node)
        node.op_type = rng.choice(["Conv", "Gemm", "MatMul", "NoSuchOp", "LSTM", "If", ""])
    elif kind == 8 and len(g.node) > 1:
        a, b = rng.sample(range(len(g.node)), 2)
        g.node[a].input.append(g.node[b].output[0])          # a cycle or a wrong order
    elif kind == 9:
        dims = g.input[0].type.tensor_type.shape.dim
        dims[rng.randrange(len(dims))].dim_value = rng.choice([0, 2 ** 31, 1])
    elif kind == 10 and g.node:
        node = rng.choice(g.node)
        for a in node.attribute:
            if a.ints:
                a.ints[rng.randrange(len(a.ints))] = rng.choice([0, -7, 2 ** 40])
    elif kind == 11:
        m.opset_import[0].version = rng.choice([1, 6, 99, 0])
    elif kind == 12:
        m.ir_version = rng.choice([0, 1, 99])
    data = m.SerializeToString()
    if kind >= 13:                                           # byte level
        b = bytearray(data)
        for _ in range(rng.choice([1, 3, 30])):
            op = rng.randrange(3)
            i = rng.randrange(len(b))
            if op == 0:
                b[i] = rng.randrange(256)
            elif op == 1:
                del b[i: i + rng.randrange(1, 64)]
            else:
                b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        data = bytes(b)
    return data


def onnx_files(n: int, seed: int, tmp: Path) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    model = _valid_onnx()
    for i in range(n):
        path = tmp / f"m{seed}_{i}.onnx"
        path.write_bytes(_mutate_onnx(model, rng))
        cmd = rng.choice([["inspect", str(path)], ["plan", str(path), "--alpha", "0.3"],
                          ["breakeven", str(path)]])
        yield f"onnx #{i}", cmd


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def data_files(n: int, seed: int, tmp: Path) -> Iterator[tuple[str, list[str]]]:
    rng = random.Random(seed)
    r = np.random.default_rng(seed)
    good = {"x_train": r.random((40, 8, 8), dtype=np.float32), "y_train": np.arange(40) % 4,
            "x_test": r.random((12, 8, 8), dtype=np.float32), "y_test": np.arange(12) % 4}
    variants = [
        lambda d: {},
        lambda d: {k: v for k, v in d.items() if k != "y_test"},
        lambda d: {**d, "y_train": -d["y_train"] - 1},
        lambda d: {**d, "y_train": d["y_train"].astype(float) + 0.5},
        lambda d: {**d, "y_train": np.full(40, np.nan)},
        lambda d: {**d, "y_train": np.array(["a"] * 40)},
        lambda d: {**d, "x_train": np.array([["x"] * 8] * 40)},
        lambda d: {**d, "x_train": np.array([object()] * 40, dtype=object)},
        lambda d: {**d, "y_train": np.concatenate([d["y_train"][:-1], [10 ** 9]])},
        lambda d: {**d, "y_train": np.concatenate([d["y_train"][:-1], [250]])},
        lambda d: {**d, "x_train": d["x_train"][:10]},
        lambda d: {**d, "x_train": np.full((40, 8, 8), np.inf, np.float32)},
        lambda d: {**d, "x_train": np.zeros((40,), np.float32)},
        lambda d: {**d, "x_train": np.zeros((0, 8, 8), np.float32), "y_train": np.zeros(0, int)},
    ]
    for i in range(n):
        path = tmp / f"data{seed}_{i}.npz"
        kind = i % (len(variants) + 2)
        if kind < len(variants):
            arrays = variants[kind](good)
            try:
                blob = _npz(arrays)
            except Exception:                       # noqa: BLE001 - a variant numpy refuses to write
                blob = b"PK\x03\x04 not really"
        elif kind == len(variants):                 # bit flips in a valid archive
            b = bytearray(_npz(good))
            for _ in range(rng.choice([1, 5, 50])):
                b[rng.randrange(len(b))] = rng.randrange(256)
            blob = bytes(b)
        else:                                       # truncated
            blob = _npz(good)[: rng.randrange(10, 400)]
        path.write_bytes(blob)
        argv = ["prune", "lenet300", "--data", str(path), "--alpha", "0.5", "--epochs", "0.05",
                "--pretrain-epochs", "0", "--out", str(tmp / f"prune{seed}_{i}"), "--no-progress"]
        yield f"data file #{i} (variant {kind})", argv
    for label, extra in (("--epochs nan", ["--epochs", "nan"]), ("--lr nan", ["--lr", "nan"]),
                         ("--lr inf", ["--lr", "inf"]), ("--batch-size 0", ["--batch-size", "0"])):
        yield label, ["prune", "lenet300", "--data", "digits", "--alpha", "0.5", "--pretrain-epochs", "0",
                      "--out", str(tmp / "prune-numbers"), "--no-progress", *extra]


from fuzz.api_calls import api_calls  # noqa: E402
from fuzz.resources import resources  # noqa: E402
from fuzz.run_folders import run_folders, symlinks  # noqa: E402

FAMILIES = {"set": set_values, "hardware": hardware_files, "input-shape": input_shapes,
            "sparsity": sparsity_files, "vary": vary_strings, "onnx": onnx_files, "data": data_files,
            "run-folder": run_folders, "symlinks": symlinks, "resources": resources, "api": api_calls}
