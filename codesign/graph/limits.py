"""Sane-size limits for what an ONNX file may ask of the importer, and the one way names from a
file appear in messages. A hostile or corrupted file must end in one clear error line, not in a
traceback, an out-of-memory kill or a megabyte of name in the terminal."""
from __future__ import annotations

MAX_ELEMENTS = 2 ** 40       # elements of any one tensor: far beyond any real model
MAX_MACS = 10 ** 18          # MACs of one layer or of the whole network
MAX_DEPTH = 16               # nesting of If/Loop/Scan bodies (real models use 1-3)
NAME_CHARS = 80              # a file's name, as shown in a message
# Constant folding (codesign.graph.fold) computes tensors in memory, and onnxruntime holds what it
# computed about five times over (its session, the optimized file, that file read back, shape
# inference's copy): 2**24 elements (64 MB of float32) keeps folding within ~0.4 GB, while the
# values folding is for (shapes, pads, If conditions, weights rebuilt from stored ones) are tiny
# or already stored in the file.
FOLD_ELEMENTS = 2 ** 24
# A constant of more elements is never a shape, pad list, index list or condition: folding
# leaves it unevaluated (a stand-in of its shape) unless a probed value is computed from it.
VALUE_ELEMENTS = 2 ** 12


def shown(name: object, limit: int = NAME_CHARS) -> str:
    """A name from the model, quoted for a message: control characters escaped, long names cut
    in the middle (the CLI cuts the whole line again; API users get the same short text)."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(name))
    if len(text) > limit:
        text = text[: limit // 2] + "..." + text[-(limit // 2 - 3):]
    return f"'{text}'"
