"""Reading an ONNX file and the external data it names, sized before anything is read (pure
Python, no torch: the importer and the bridge both read files through it).

onnx.load reads each tensor's external data where the file says, and a few hundred bytes of
model can name the same megabytes for every tensor (read once per tensor: 4 GB of memory from a
4 MB data file), or a length its shape does not need. Here every tensor's data must lie in the
model's folder, be exactly as many bytes as its shape and type need, and share no byte with
another tensor's, so the bytes read are at most the data files' size; and in all at most
MAX_EXTERNAL_BYTES. Only then is the data read.
"""
from __future__ import annotations

import os
from collections import defaultdict
from math import prod
from pathlib import Path

import onnx
from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

from pruning.errors import PruningError
from pruning.onnx.conventions import dtype_bits

# Weights are held in memory as read (and a layer's once more as numpy while it is used):
# 16 GiB, 4 billion float32 weights, is far beyond the networks this tool costs and prunes, and
# about what a workstation can hold twice over.
MAX_EXTERNAL_BYTES = 16 * 2 ** 30


class OnnxFileError(PruningError):
    """An ONNX file or its external data cannot be read safely; the message names the tensor."""


def read_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """The model at `path`, its external data checked (see the module doc) and then read.
    Protobuf errors of a damaged file are left to the caller, which knows what the file is."""
    model = onnx.load(str(path), load_external_data=False)
    base = os.path.dirname(os.path.abspath(path))
    external = [t for t in _get_all_tensors(model) if uses_external_data(t)]
    if external:
        check_external_data(external, base, Path(path).name)
        try:
            onnx.load_external_data_for_model(model, base)
        except (OSError, ValueError, onnx.checker.ValidationError) as exc:
            raise OnnxFileError(f"{Path(path).name}: its external data cannot be read "
                                f"({type(exc).__name__}: {str(exc).strip()[:200]})") from exc
    return model


def check_external_data(tensors: list[onnx.TensorProto], base: str, model_name: str) -> None:
    """Refuse, before reading, data outside the folder, of the wrong size, read twice or too large."""
    regions: dict[tuple, list[tuple[int, int, str]]] = defaultdict(list)
    total = 0
    for tensor in tensors:
        what = f"{model_name}: tensor {tensor.name[:80]!r}"
        try:
            info = ExternalDataInfo(tensor)
        except ValueError as exc:                 # a negative offset or length
            raise OnnxFileError(f"{what}: {exc}") from exc
        file, size = _data_file(info.location, base, what)
        need = _bytes(tensor, what)
        offset = info.offset or 0
        length = info.length if info.length is not None else size - offset
        if length != need:
            raise OnnxFileError(f"{what} has shape {list(tensor.dims)[:8]}, {need} bytes, but its external "
                                f"data in {info.location[:80]!r} is {length} bytes: the file is corrupted")
        if offset + length > size:
            raise OnnxFileError(f"{what}: its data ends at byte {offset + length} of {info.location[:80]!r}, "
                                f"which has {size}: the data file is truncated")
        regions[file].append((offset, offset + length, tensor.name))
        total += length
    if total > MAX_EXTERNAL_BYTES:
        raise OnnxFileError(f"{model_name}: its external data is {total / 2 ** 30:.1f} GiB, beyond the "
                            f"{MAX_EXTERNAL_BYTES / 2 ** 30:.0f} GiB this tool reads into memory")
    for spans in regions.values():
        spans.sort()
        for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
            if start < end:
                raise OnnxFileError(f"{model_name}: tensors {first[:60]!r} and {second[:60]!r} claim the same "
                                    "bytes of external data; each tensor's data is stored once: the file is "
                                    "corrupted or hostile")


def _data_file(location: str, base: str, what: str) -> tuple[tuple[int, int], int]:
    """(the data file's identity, its size): a file named relative to the model's folder."""
    path = os.path.normpath(os.path.join(base, location))
    if not location or os.path.isabs(location) or os.path.commonpath([base, path]) != base:
        raise OnnxFileError(f"{what} keeps its data at {location[:80]!r}, outside the model's folder; "
                            "external data must be stored next to the model")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise OnnxFileError(f"{what}: its external data file {location[:80]!r} cannot be opened "
                            f"({exc.strerror}); copy it next to the model") from exc
    if not os.path.isfile(path):
        raise OnnxFileError(f"{what}: its external data {location[:80]!r} is not a regular file")
    return (st.st_dev, st.st_ino), st.st_size


def _bytes(tensor: onnx.TensorProto, what: str) -> int:
    bits = dtype_bits(tensor.data_type)
    if bits is None or any(d < 0 for d in tensor.dims):
        raise OnnxFileError(f"{what} has type {tensor.data_type} or dims {list(tensor.dims)[:8]} that "
                            "external data cannot hold: the file is corrupted")
    return -(-prod(tensor.dims) * bits // 8)
