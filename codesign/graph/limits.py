"""Sane-size limits for what an ONNX file may ask of the importer, and the one way names from a
file appear in messages. A hostile or corrupted file must end in one clear error line, not in a
traceback, an out-of-memory kill or a megabyte of name in the terminal."""
from __future__ import annotations

from codesign.report.fmt import printable

MAX_ELEMENTS = 2 ** 40       # elements of any one tensor: far beyond any real model
MAX_MACS = 10 ** 18          # MACs of one layer or of the whole network
MAX_DEPTH = 16               # nesting of If/Loop/Scan bodies (real models use 1-3)
NAME_CHARS = 80              # a file's name, as shown in a message
# Constant folding (codesign.graph.fold) computes tensors in memory, and its peak is about 2.6
# times what it computed (measured: onnxruntime's session, the optimized file read back): it
# may compute FOLD_ELEMENTS (128 MB of float32, ~0.35 GB at the peak) plus FOLD_PER_STORED
# times the elements the file stores, as weights rebuilt from stored ones (an LSTM's gates
# re-ordered by Slice and Concat, a scaled weight) pass through a few tensors of their size.
FOLD_ELEMENTS = 2 ** 25
FOLD_PER_STORED = 4
# A constant of more elements is never a shape, pad list, index list or condition: folding
# leaves it unevaluated (a stand-in of its shape) unless a probed value is computed from it.
VALUE_ELEMENTS = 2 ** 12


def shown(name: object, limit: int = NAME_CHARS) -> str:
    """A name from the model, quoted for a message: control characters escaped, long names cut
    in the middle (the CLI cuts the whole line again; API users get the same short text)."""
    text = printable(name)
    if len(text) > limit:
        text = text[: limit // 2] + "..." + text[-(limit // 2 - 3):]
    return f"'{text}'"
