"""Reading a model: a path, a bundled name or a ModelProto, checked at the boundary so that a
corrupted or hostile file ends in one ModelImportError naming the tensor or node and the cause."""
from __future__ import annotations

from math import prod

import onnx

from codesign.errors import ModelImportError
from codesign.graph.limits import MAX_DEPTH, MAX_ELEMENTS, shown
from codesign.graph.protos import subgraphs
from codesign.models import describe_sources, resolve_model_source
from pruning.onnx.conventions import dtype_bits
from pruning.onnx.files import OnnxFileError, read_onnx

# TensorProto fields that hold one element per entry (strings and packed types are not checked)
_TYPED_FIELDS = {
    onnx.TensorProto.FLOAT: "float_data", onnx.TensorProto.DOUBLE: "double_data",
    onnx.TensorProto.INT64: "int64_data", onnx.TensorProto.UINT64: "uint64_data",
    onnx.TensorProto.UINT32: "uint64_data",
    **{t: "int32_data" for t in (onnx.TensorProto.INT32, onnx.TensorProto.INT16, onnx.TensorProto.INT8,
                                 onnx.TensorProto.UINT16, onnx.TensorProto.UINT8, onnx.TensorProto.BOOL,
                                 onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)},
}


def load_model(source) -> tuple[onnx.ModelProto, str]:
    """A checked ModelProto and its display name from a path, a bundled name or a ModelProto."""
    if isinstance(source, onnx.ModelProto):
        model, name = source, source.graph.name or "model"
    else:
        model, name = _read(source)
    check_model(model, name, in_memory=isinstance(source, onnx.ModelProto))
    return model, name


def _read(source) -> tuple[onnx.ModelProto, str]:
    path, name = resolve_model_source(source)
    if isinstance(path, onnx.ModelProto):
        return path, name
    if not path.exists():
        raise ModelImportError(f"model {shown(source)} not found: give a path to an .onnx file or one of "
                               f"the bundled models ({describe_sources()})")
    if path.is_dir():
        raise ModelImportError(f"model {shown(source)} is a directory: give the path of an .onnx file in it")
    try:
        return read_onnx(path), name
    except OnnxFileError as exc:                       # external data outside the folder, reused, too large
        raise ModelImportError(str(exc)) from exc
    except onnx.checker.ValidationError as exc:
        raise ModelImportError(f"{shown(path)}: {str(exc).strip()}") from exc
    except RecursionError as exc:
        raise ModelImportError(f"{shown(path)} nests subgraphs too deeply to read") from exc
    except Exception as exc:  # protobuf DecodeError, truncated files, missing external data
        raise ModelImportError(f"{shown(path)} is not a readable ONNX model ({type(exc).__name__}: "
                               f"{str(exc).strip() or 'cannot parse the protobuf'}); re-export it, "
                               "or check that the file was copied completely") from exc


def check_model(model: onnx.ModelProto, name: str, in_memory: bool = False) -> None:
    """Refuse what would crash or exhaust a later step: an empty graph, bodies nested beyond
    MAX_DEPTH, tensors whose data does not match their shape and type or that are too large."""
    if not model.graph.node:
        raise ModelImportError(f"model {shown(name)} holds no ONNX graph nodes: it is not an ONNX "
                               "model or it is empty; re-export it")
    stack = [(model.graph, 0)]
    while stack:
        graph, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelImportError(f"model {shown(name)} nests If/Loop/Scan bodies more than {MAX_DEPTH} "
                                   "deep; no real model does: the file is corrupted or hostile")
        for tensor in graph.initializer:
            check_tensor(tensor, in_memory)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    check_tensor(attr.t, in_memory, f"node {shown(node.name or node.op_type)}: ")
            stack += [(sub, depth + 1) for _, sub in subgraphs(node)]


def check_tensor(tensor: onnx.TensorProto, in_memory: bool = False, where: str = "") -> None:
    """Dims, size and stored data of one tensor, without converting it."""
    what = f"{where}tensor {shown(tensor.name)}"
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise ModelImportError(f"{what} has a negative dimension {dims[:8]}: the file is corrupted")
    count = prod(dims)
    if count > MAX_ELEMENTS:
        raise ModelImportError(f"{what} claims {count:.3g} elements (shape {dims[:8]}); the limit is "
                               f"{MAX_ELEMENTS:.3g}: the file is corrupted or hostile")
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        if in_memory:
            raise ModelImportError(f"{what} keeps its data in an external file that was not loaded; "
                                   "load the model from its path (its data is read next to it)")
        return
    stored = _stored_elements(tensor)
    if stored is not None and stored != count:
        raise ModelImportError(f"{what} has shape {dims[:8]} ({count} elements) but stores {stored:g} "
                               f"values of type {_type_name(tensor.data_type)}: the file is corrupted")


def _stored_elements(tensor: onnx.TensorProto) -> float | None:
    """Elements the tensor's data holds (fractional for a cut raw buffer), None where that
    cannot be told cheaply."""
    bits = dtype_bits(tensor.data_type)
    if tensor.data_type == onnx.TensorProto.STRING:
        return len(tensor.string_data)
    if bits is None:
        raise ModelImportError(f"tensor {shown(tensor.name)} has unknown data type {tensor.data_type}: "
                               "the file is corrupted")
    if tensor.raw_data:
        return len(tensor.raw_data) * 8 / bits if bits >= 8 else None   # sub-byte types are padded
    field = _TYPED_FIELDS.get(tensor.data_type)
    return None if field is None else len(getattr(tensor, field))


def _type_name(data_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(data_type)
    except ValueError:
        return str(data_type)
