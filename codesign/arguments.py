"""The Python API's arguments, checked at entry: one function per kind of argument (a path to
read or write, an input shape, a keep fraction, a pattern, a whole number, a callback, a model,
data, hardware, names), each returning the value in the form the API works with or raising
ArgumentError, one line naming the argument and the fix. codesign.api, codesign.compress and
the results' methods call these before any work or file is written; the deeper checks (a
file's contents, a training setting's range, a hardware key's value) stay where they live.

No torch or onnx here: their objects are recognised by their classes' modules, so cost-only
code can check a model argument without importing torch."""
from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Callable, Mapping

from codesign.errors import ArgumentError
from codesign.keep_fraction import KEEP_FRACTION_RANGE, is_keep_fraction
from pruning import ranges
from pruning.ranges import Range, check

MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255                  # one folder or file name (Linux, macOS, Windows)
SHOWN_CHARS = 60
INDENT = Range(0, 16, whole=True)     # of a JSON text


def shown(value) -> str:
    """A value for a message: its repr (control characters escaped), on one short line."""
    return ranges.shown(value, SHOWN_CHARS)


def _wrong_type(name: str, value, wanted: str) -> ArgumentError:
    return ArgumentError(f"{name}= must be {wanted}, not {type(value).__name__} {shown(value)}")


def _is_instance(obj, module: str, names: tuple[str, ...] = ()) -> bool:
    """Whether a class of `obj`'s MRO lives in `module` (or a submodule), named one of `names`
    (any name when empty): torch and onnx objects without importing them."""
    return any(c.__module__.split(".")[:module.count(".") + 1] == module.split(".")
               and (not names or c.__name__ in names) for c in type(obj).__mro__)


def is_torch_module(obj) -> bool:
    """A torch nn.Module (checked without importing torch)."""
    return _is_instance(obj, "torch.nn", ("Module",))


def is_torch_data(obj) -> bool:
    """A torch Dataset or DataLoader (checked without importing torch)."""
    return _is_instance(obj, "torch.utils.data")


# ---- paths ------------------------------------------------------------------------------------

def path(name: str, value, *, optional: bool = False) -> Path | None:
    """A file system path: a str or os.PathLike, not empty, printable, of a sane length."""
    if value is None and optional:
        return None
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise _wrong_type(name, value, "a path (str or pathlib.Path)")
    if not text.strip():
        raise ArgumentError(f"{name}= is an empty path; give a file or folder name")
    if not text.isprintable():
        raise ArgumentError(f"{name}={shown(text)} holds control characters; give a plain path")
    longest = max(len(part) for part in Path(text).parts)
    if len(text) > MAX_PATH_CHARS or longest > MAX_NAME_CHARS:
        raise ArgumentError(f"{name}= is a path of {len(text):,} characters (a name of {longest:,}); at most "
                            f"{MAX_PATH_CHARS:,} ({MAX_NAME_CHARS} per name)")
    return Path(text)


def input_file(name: str, value) -> Path:
    """An existing file to read."""
    p = path(name, value)
    try:
        found = p.is_file()
    except OSError as exc:            # e.g. a folder on the way that may not be searched
        raise ArgumentError(f"{name}={shown(str(p))} cannot be read: {exc.strerror or exc}") from None
    if not found:
        raise ArgumentError(f"{name}={shown(str(p))} is not an existing file; check the path")
    return p


def output_file(name: str, value) -> Path:
    """A file to write, by the one rule for output paths (pruning.safe_files.check_out_file)."""
    from pruning.safe_files import check_out_file
    return check_out_file(path(name, value), f"{name}=")


def output_dir(name: str, value, names: tuple[str, ...] = ()) -> Path:
    """A folder to write into, by the one rule for output folders (pruning.safe_files.
    check_out_folder; `names`: what is written in it)."""
    from pruning.safe_files import check_out_folder
    return check_out_folder(path(name, value), f"{name}=", names)


def report_dir(name: str, value) -> Path:
    """A folder a report is written into (codesign.report.render: its files' names)."""
    from codesign.report.renderer import REPORT_NAMES
    return output_dir(name, value, REPORT_NAMES)


# ---- numbers, names, callbacks ----------------------------------------------------------------

def whole(name: str, value, allowed: Range, *, optional: bool = False) -> int | None:
    """A whole number in `allowed` (a whole Range; pruning.ranges.check, the one range check)."""
    if value is None:
        if optional:
            return None
        raise _wrong_type(name, value, f"a whole number in {allowed.interval}")
    check(name, value, allowed, ArgumentError)
    return int(value)


def keep_fraction(name: str, value, *, optional: bool = False) -> float | None:
    """A keep fraction α (codesign.keep_fraction, the one rule)."""
    if value is None and optional:
        return None
    if not is_keep_fraction(value):
        raise ArgumentError(f"{name}={shown(value)}: a keep fraction must be a number in {KEEP_FRACTION_RANGE}")
    return float(value)


def text(name: str, value, *, optional: bool = False, one_line: bool = True) -> str | None:
    """A string (printable when `one_line`: a title, a name)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _wrong_type(name, value, "a string")
    if one_line and not value.isprintable():
        raise ArgumentError(f"{name}={shown(value)} holds control characters; give one line of text")
    return value


def choice(name: str, value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise ArgumentError(f"{name}={shown(value)} is not one of {', '.join(options)}")
    return value


def names(name: str, value) -> tuple[str, ...]:
    """Names as a comma list ('unstructured,2:4') or a sequence of strings; at least one."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise _wrong_type(name, value, "a comma list or a list of strings")
    for item in items:
        text(name, item)
    if not items or not all(items):
        raise ArgumentError(f"{name}={shown(value)}: give at least one name, and no empty ones")
    return tuple(items)


def strings(name: str, value) -> tuple[str, ...]:
    """A list or tuple of one-line strings (may be empty), e.g. KEY=VALUE overrides."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _wrong_type(name, value, "a list of strings")
    return tuple(text(name, v) for v in value)


def paragraphs(name: str, value) -> list[str]:
    """A list or tuple of texts (notes: lines may break)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _wrong_type(name, value, "a list of strings")
    return list(value)


def text_fields(name: str, value) -> dict[str, str] | None:
    """None or a mapping of one-line names to texts (a report's header fields)."""
    fields = mapping(name, value, optional=True)
    for key, field in (fields or {}).items():
        text(f"{name} key", key)
        text(f"{name}[{shown(key)}]", field, one_line=False)
    return fields


def floats(name: str, value, count: int):
    """`count` real numbers (a list or an array), as a float array."""
    import numpy as np
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        array = None
    if array is None or array.shape != (count,):
        raise _wrong_type(name, value, f"{count} numbers (one per config)")
    return array


def mapping(name: str, value, *, optional: bool = False) -> dict | None:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise _wrong_type(name, value, "a mapping (dict)")
    return dict(value)


def callback(name: str, value) -> Callable | None:
    """None or a callable (called later: a wrong one would fail mid-run)."""
    if value is not None and not callable(value):
        raise _wrong_type(name, value, "a function (or None)")
    return value


# ---- patterns, shapes -------------------------------------------------------------------------

def pattern(name: str, value):
    """A sparsity pattern: 'unstructured', 'N:M', 'KxL', 'channel' or a Pattern."""
    from pruning.patterns import Pattern, parse_pattern
    if not isinstance(value, (str, Pattern)):
        raise _wrong_type(name, value, "a pattern such as unstructured, 2:4, 4x1 or channel")
    return parse_pattern(value)


def patterns(name: str, value) -> list:
    """Patterns as a comma list or a sequence of patterns; at least one."""
    from pruning.patterns import Pattern
    if isinstance(value, (str, Pattern)):
        value = [value] if isinstance(value, Pattern) else names(name, value)
    if not isinstance(value, (list, tuple)) or not value:
        raise _wrong_type(name, value, "a comma list or a non-empty list of patterns")
    return [pattern(name, p) for p in value]


def shape(name: str, value):
    """An input shape: None, '1x3x224x224', a tuple of positive whole numbers, or a list of
    'NAME=DIMS' texts; checked by the importer's one parser (codesign.graph.inputs)."""
    from codesign.graph.inputs import parse_input_shapes
    if value is None or isinstance(value, str):
        pass
    elif isinstance(value, (tuple, list)) and all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                                 for d in value):
        value = tuple(int(d) for d in value)
    elif isinstance(value, (tuple, list)) and value and all(isinstance(d, str) for d in value):
        value = list(value)
    else:
        raise _wrong_type(name, value, "a shape such as '1x3x224x224', a tuple of whole numbers, or a list "
                                       "of 'NAME=DIMS'")
    parse_input_shapes(value)            # InputShapeError, naming the fix
    return value


# ---- models, data, hardware -------------------------------------------------------------------

MODEL_FORMS = "a built-in or bundled name, an ONNX path, an onnx.ModelProto or a torch nn.Module"


def model(name: str, value, *, network: bool = False):
    """A model reference (a path as str); `network`: a codesign Network (a model already loaded) too."""
    if isinstance(value, (str, os.PathLike)):
        return str(path(name, value))
    if is_torch_module(value) or _is_instance(value, "onnx", ("ModelProto",)):
        return value
    if network and _is_instance(value, "codesign.graph", ("Network",)):
        return value
    raise _wrong_type(name, value, ("a Network (codesign.load), " if network else "") + MODEL_FORMS)


def network(name: str, value):
    """A loaded model (codesign.graph.Network, what codesign.load returns)."""
    if not _is_instance(value, "codesign.graph", ("Network",)):
        raise _wrong_type(name, value, "a Network (codesign.load)")
    return value


DATA_FORMS = ("a dataset name or path, a pruning.data.Dataset, a torch Dataset or DataLoader, or a "
              "(train, test) pair of them")


def data(name: str, value):
    """A data reference (a path as str): what codesign.refs.as_dataset adapts."""
    from pruning.data import Dataset
    if isinstance(value, (str, os.PathLike)):
        return str(path(name, value))
    pair = isinstance(value, tuple) and len(value) == 2
    if isinstance(value, Dataset) or is_torch_data(value) or pair and all(map(is_torch_data, value)):
        return value
    raise _wrong_type(name, value, DATA_FORMS)


def hardware(name: str, value, *, spec: bool = True):
    """A hardware preset name or TOML path (as str), or (`spec`) a HardwareSpec."""
    from hwmodels.spec import HardwareSpec
    if spec and isinstance(value, HardwareSpec):
        return value
    if isinstance(value, (str, os.PathLike)):
        return str(path(name, value))
    raise _wrong_type(name, value, "a preset name or a TOML path" + (" or a HardwareSpec" if spec else ""))

