"""The `resources` fuzz family (issue 26): inputs under 10 MB that ask for gigabytes or hours.
NPZ archives whose members inflate (zip bombs) or declare huge sizes, IDX files with huge
dimensions or gzip bombs, ONNX graphs with huge declared shapes (initializers, inputs,
ConstantOfShape, Expand, Tile, Reshape, Range, Pad), external data pointing far or at a
device, long Identity chains, `--input-shape` with huge dimensions, a sweep of millions of
configs. The harness judges the child's peak resident memory (target: under 1 GB) and time."""
from __future__ import annotations

import functools
import gzip
import io
import os
import random
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

MAX_INPUT = 10 << 20            # every generated file is smaller than this
GB = 1 << 30


def _npy_header(shape: tuple, descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _small_arrays() -> dict[str, np.ndarray]:
    r = np.random.default_rng(0)
    return {"x_train": r.random((40, 28, 28), dtype=np.float32), "y_train": np.arange(40) % 10,
            "x_test": r.random((20, 28, 28), dtype=np.float32), "y_test": np.arange(20) % 10}


def _write_zeros(f, count: int) -> None:
    chunk = bytes(1 << 24)
    while count:
        f.write(chunk[: min(count, len(chunk))])
        count -= min(count, len(chunk))


@functools.lru_cache(maxsize=4)
def zip_bomb(nbytes: int, member: str = "x_train", others: bool = True) -> bytes:
    """An NPZ whose `member` holds `nbytes` of zeros (float32 images of 28x28), deflated to
    about a thousandth; the other members small and valid, but for x_train as many labels, so
    the archive is a consistent data set (cached: seconds per GB)."""
    buf = io.BytesIO()
    n = nbytes // (28 * 28 * 4)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if others:
            small = {**_small_arrays(), **({"y_train": np.arange(n) % 10} if member == "x_train" else {})}
            for key, array in small.items():
                if key != member:
                    with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, array)
        with z.open(f"{member}.npy", "w", force_zip64=True) as f:
            f.write(_npy_header((n, 28, 28) if member.startswith("x") else (n * 28 * 28,),
                                "<f4" if member.startswith("x") else "<i4"))
            _write_zeros(f, n * 28 * 28 * 4)
    data = buf.getvalue()
    assert len(data) < MAX_INPUT, len(data)
    return data


def _npz_declared(shape: tuple, descr: str = "<f4") -> bytes:
    """x_train's .npy header declares `shape`; a few bytes of data follow."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for key, array in _small_arrays().items():
            body = _npy_header(shape, descr) + bytes(64) if key == "x_train" else None
            if body is None:
                with z.open(f"{key}.npy", "w") as f:
                    np.lib.format.write_array(f, array)
            else:
                z.writestr(f"{key}.npy", body)
    return buf.getvalue()


def _npz_lying_zip() -> bytes:
    """The zip's central directory says x_train inflates to 4 GB; it holds a few bytes."""
    data = bytearray(_npz_declared((40, 28, 28)))
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46: at + 46 + name_len] == b"x_train.npy":
            struct.pack_into("<I", data, at + 24, 0xFFFFFFF0)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def _npz_many_members(count: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for key, array in _small_arrays().items():
            with z.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, array)
        for i in range(count):
            z.writestr(f"m{i}.npy", b"")
    return buf.getvalue()


NPZ_CASES: dict[str, Callable[[], bytes]] = {
    "x_train inflates to 1.5 GB": lambda: zip_bomb(1536 << 20),
    "x_train inflates to 3 GB": lambda: zip_bomb(3 * GB),
    "y_train inflates to 1.5 GB": lambda: zip_bomb(1536 << 20, "y_train"),
    "x_train declares 10^12 images": lambda: _npz_declared((10 ** 12, 28, 28)),
    "x_train declares 2^62 bytes of void": lambda: _npz_declared((2 ** 20,), "|V4398046511104"),
    "x_train declares a 1000x1000 subarray dtype": lambda: _npz_declared((5000,), np.lib.format.dtype_to_descr(np.dtype(("<f8", (1000, 1000))))),
    "the zip directory says 4 GB": _npz_lying_zip,
    "60,000 extra members": lambda: _npz_many_members(60_000),
}


def _idx(dims: list[int], type_code: int = 0x08, data: bytes = b"") -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


@functools.lru_cache(maxsize=2)
def _gzip_bomb(n_images: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6) as g:
        g.write(_idx([n_images, 28, 28]))
        _write_zeros(g, n_images * 28 * 28)
    return buf.getvalue()


IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_CASES: dict[str, Callable[[], tuple]] = {         # (name, bytes, name, bytes, ...) replaced
    "train images declare 2^31 x 28 x 28": lambda: ("train-images-idx3-ubyte", _idx([2 ** 31 - 1, 28, 28], 0x08, bytes(784))),
    "train images declare 4 dims of 2^32-1 doubles": lambda: ("train-images-idx3-ubyte", _idx([2 ** 32 - 1] * 4, 0x0E, bytes(64))),
    "train images: 255 dims": lambda: ("train-images-idx3-ubyte", _idx([1] * 255, 0x08, bytes(1))),
    "train images gzip-inflate to 1.5 GB": lambda: ("train-images-idx3-ubyte.gz", _gzip_bomb(2_000_000)),
    "train images and labels gzip-inflate to 1.5 GB": lambda: ("train-images-idx3-ubyte.gz", _gzip_bomb(2_000_000),
                                                              "train-labels-idx1-ubyte.gz",
                                                              gzip.compress(_idx([2_000_000], 0x08, bytes(2_000_000)))),
    "labels declare 2^32-1 entries": lambda: ("train-labels-idx1-ubyte", _idx([2 ** 32 - 1], 0x08, bytes(100))),
    "a truncated gzip stream": lambda: ("train-images-idx3-ubyte.gz", _gzip_bomb(2_000_000)[:50_000]),
}


def _idx_dir(folder: Path, *replaced) -> None:
    """A small valid IDX set, with files (name, bytes, ...) replaced (a .gz one replaces its plain one)."""
    folder.mkdir(parents=True)
    n = {"train": 40, "t10k": 20}
    for stem in IDX_NAMES:
        count = n[stem.split("-")[0]]
        (folder / stem).write_bytes(_idx([count, 28, 28], 0x08, bytes(count * 784)) if "images" in stem
                                    else _idx([count], 0x08, bytes(i % 10 for i in range(count))))
    for name, data in zip(replaced[::2], replaced[1::2]):
        if name.endswith(".gz"):
            (folder / name[:-3]).unlink()
        (folder / name).write_bytes(data)


# ---- ONNX ------------------------------------------------------------------------------------

def _model(nodes, inputs, initializers=(), opset: int = 17):
    from onnx import TensorProto, helper
    graph = helper.make_graph(nodes, "hostile", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ints(name: str, values) -> object:
    from onnx import numpy_helper
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _weight(name: str, shape) -> object:
    from onnx import numpy_helper
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def _declared(name: str, dims, location: str | None = None, offset: int = 0, length: int | None = None):
    """An initializer that declares `dims` and holds no data (or points to external data)."""
    from onnx import TensorProto
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    if location is not None:
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(offset)),
                           ("length", str(length if length is not None else 4 * int(np.prod(dims, dtype=object))))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
    return t


def _matmul_after(op_nodes, inputs, inits, k: int = 8):
    """The hostile nodes produce "h"; a MatMul with a stored weight makes the graph a layer."""
    from onnx import helper
    return _model(op_nodes + [helper.make_node("MatMul", ["h", "w"], ["y"])], inputs, list(inits) + [_weight("w", (k, 4))])


def onnx_cases(folder: Path) -> dict[str, Callable[[], object]]:
    from onnx import helper
    big = 2 ** 20
    return {
        "a Gemm weight declared 2^20 x 2^20, no data": lambda: _model(
            [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [("x", [1, big])], [_declared("w", (big, big))]),
        "a Conv weight declared 64x3x2^15x2^15, no data": lambda: _model(
            [helper.make_node("Conv", ["x", "w"], ["y"])], [("x", [1, 3, 2 ** 15, 2 ** 15])],
            [_declared("w", (64, 3, 2 ** 15, 2 ** 15))]),
        "an input of 1x3x2^20x2^20": lambda: _model(
            [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [("x", [1, 3, big, big])], [_weight("w", (8, 3, 3, 3))]),
        "ConstantOfShape 2^14 x 2^14 x 2^6": lambda: _matmul_after(
            [helper.make_node("ConstantOfShape", ["s"], ["h"])], [("x", [1, 8])], [_ints("s", [2 ** 14, 2 ** 14, 2 ** 6, 8])]),
        "Expand to 2^12 x 2^12 x 2^12": lambda: _matmul_after(
            [helper.make_node("Expand", ["c", "s"], ["h"])], [("x", [1, 8])],
            [_weight("c", (1, 8)), _ints("s", [2 ** 12, 2 ** 12, 2 ** 12, 8])]),
        "Tile by 2^20 x 2^10": lambda: _matmul_after(
            [helper.make_node("Tile", ["c", "r"], ["h"])], [("x", [1, 8])], [_weight("c", (4, 8)), _ints("r", [2 ** 20, 2 ** 10])]),
        "Reshape to 2^31 x 2^31 x 8": lambda: _matmul_after(
            [helper.make_node("Reshape", ["x", "s"], ["h"])], [("x", [1, 8])], [_ints("s", [2 ** 31, 2 ** 31, 8])]),
        "Range of 2^40 steps": lambda: _matmul_after(
            [helper.make_node("Range", ["a", "b", "d"], ["r"]), helper.make_node("Cast", ["r"], ["rf"], to=1),
             helper.make_node("Unsqueeze", ["rf", "ax"], ["h0"]), helper.make_node("Expand", ["h0", "s"], ["h"])],
            [("x", [1, 8])], [_ints("a", 0), _ints("b", 2 ** 40), _ints("d", 1), _ints("ax", [1]), _ints("s", [2 ** 40, 8])]),
        "Pad by 2^30": lambda: _matmul_after(
            [helper.make_node("Pad", ["x", "p"], ["h"])], [("x", [1, 8])], [_ints("p", [2 ** 30, 0, 2 ** 30, 0])]),
        "a Constant that doubles 34 times by Concat": lambda: _matmul_after(
            [helper.make_node("Constant", [], ["c0"], value=_weight("v", (1, 8)))] +
            [helper.make_node("Concat", [f"c{i}", f"c{i}"], [f"c{i + 1}" if i < 33 else "h"], axis=0) for i in range(34)],
            [("x", [1, 8])], []),
        "external data at offset 2^60": lambda: _model(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 8])], [_declared("w", (8, 4), "w.bin", 2 ** 60, 128)]),
        "external data of 2^40 bytes": lambda: _model(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 8])],
            [_declared("w", (2 ** 19, 2 ** 19), "w.bin", 0, 2 ** 40)]),
        "external data in /dev/zero": lambda: _model(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 2 ** 16])], [_declared("w", (2 ** 16, 2 ** 14), "/dev/zero")]),
        "external data in a FIFO beside the model": lambda: _model(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 8])], [_declared("w", (8, 4), "fifo.bin")]),
        "external data through a link to /dev/zero": lambda: _model(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 2 ** 16])], [_declared("w", (2 ** 16, 2 ** 14), "zero.bin")]),
        "a 30,000-node Identity chain": lambda: _chain(30_000),
        "100,000 unused initializers": lambda: _model(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 8])],
            [_weight("w", (8, 4))] + [_declared(f"u{i}", (2 ** 20, 2 ** 20)) for i in range(100_000)]),
        "10,000 MatMul layers": lambda: _layers(10_000),
    }


def _chain(n: int):
    from onnx import helper
    nodes = [helper.make_node("Identity", [f"t{i}"], [f"t{i + 1}"]) for i in range(n)]
    nodes.append(helper.make_node("MatMul", ["x", f"t{n}"], ["y"]))
    return _model(nodes, [("x", [2, 8])], [_weight("t0", (8, 8))])


def _layers(n: int):
    from onnx import helper
    nodes = [helper.make_node("MatMul", [f"a{i}", "w"], [f"a{i + 1}" if i < n - 1 else "y"]) for i in range(n)]
    return _model(nodes, [("a0", [1, 8])], [_weight("w", (8, 8))])


def _onnx_file(folder: Path, model) -> Path:
    """The model beside the files its external data may name: a small w.bin, a FIFO, a link to
    /dev/zero."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.bin").write_bytes(bytes(1024))
    if not (folder / "fifo.bin").exists():
        os.mkfifo(folder / "fifo.bin")
    if not os.path.lexists(folder / "zero.bin"):
        (folder / "zero.bin").symlink_to("/dev/zero")
    path = folder / "model.onnx"
    data = model.SerializeToString()
    assert len(data) < MAX_INPUT, len(data)
    path.write_bytes(data)
    return path


# ---- input shapes and sweeps ---------------------------------------------------------------

MODELS = ["alexnet", "vgg19", "resnet50", "squeezenet", "lenet5", "vgg7", "densenet121", "inception_v1"]
HUGE_SHAPES = ["1x3x1x1", "1x3x65536x65536", "1x3x1000000x1000000", "4096x3x224x224", "1000000x3x224x224",
               "1x3x2147483647x1", "1x3x100000x3", "1x3x9223372036854775807x1", "65536x3x65536x65536"]


# Seconds to make (a bomb deflates gigabytes) or to read (large graphs): left out of the fast subset.
COSTLY = {"x_train inflates to 1.5 GB", "x_train inflates to 3 GB", "y_train inflates to 1.5 GB",
          "train images gzip-inflate to 1.5 GB", "train images and labels gzip-inflate to 1.5 GB", "a truncated gzip stream", "a 30,000-node Identity chain",
          "100,000 unused initializers", "10,000 MatMul layers", "60,000 extra members"}


def resources(n: int, seed: int, tmp: Path, cheap: bool = False) -> Iterator[tuple[str, list[str]]]:
    """Cases cycled over the kinds (NPZ, IDX, ONNX, input shapes, sweep sizes) in a seeded order;
    `cheap`: without the COSTLY ones."""
    rng = random.Random(seed)
    onnx = onnx_cases(tmp)
    kinds = ([("npz", k) for k in NPZ_CASES] + [("idx", k) for k in IDX_CASES] + [("onnx", k) for k in onnx] +
             [("shape", (m, s)) for m in MODELS for s in HUGE_SHAPES] +
             [("sweep", v) for v in ((1_001, 1_000, "lenet5"), (3_000, 3_000, "lenet5"), (70, 70, "alexnet"))])
    kinds = [(kind, what) for kind, what in kinds if not (cheap and what in COSTLY)]
    order = list(kinds)
    rng.shuffle(order)
    previous = None
    for i in range(n):
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        kind, what = order[i % len(order)]
        previous = case = tmp / f"res{seed}_{i}"
        command = rng.choice(["inspect", "plan", "breakeven"])
        extra = ["--alpha", "0.3"] if command == "plan" else []
        train = ["--alpha", "0.5", "--epochs", "0.05", "--pretrain-epochs", "0", "--limit", "200", "--no-progress",
                 "--out", str(case / "run")]
        if kind == "npz":
            case.mkdir(parents=True, exist_ok=True)
            (case / "data.npz").write_bytes(NPZ_CASES[what]())
            yield f"npz: {what} #{i}", ["prune", "lenet300", "--data", str(case / "data.npz"), *train]
        elif kind == "idx":
            _idx_dir(case / "idx", *IDX_CASES[what]())
            yield f"idx: {what} #{i}", ["prune", "lenet5", "--data", str(case / "idx"), *train]
        elif kind == "onnx":
            path = _onnx_file(case, onnx[what]())
            yield f"onnx: {what} #{i}: {command}", [command, str(path), *extra]
        elif kind == "shape":
            model, shape = what
            if rng.random() < 0.1 and model in ("lenet5", "vgg7"):
                yield f"--input-shape {shape} #{i}: prune {model}", ["prune", model, "--data", "digits",
                                                                      "--input-shape", shape, *train]
            else:
                yield f"--input-shape {shape} #{i}: {command} {model}", [command, model, "--input-shape", shape, *extra]
        else:
            a, b, model = what                    # more than codesign.sweeps.MAX_CONFIGS, or a modest sweep
            pes = ",".join(str(16 * (j + 1)) for j in range(a))
            fo4 = ",".join(f"{13 + 12 * j / b:.6f}" for j in range(b))
            yield f"sweep {model} of {a:,} x {b:,} configs #{i}", ["sweep", model, "--vary", f"pes={pes}", "--vary",
                                                                 f"fo4_ps={fo4}", "--out", str(case / "sw")]
