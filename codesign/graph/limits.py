"""Sane-size limits for what an ONNX file may ask of the importer, and the one way names from a
file appear in messages. A hostile or corrupted file must end in one clear error line, not in a
traceback, an out-of-memory kill or a megabyte of name in the terminal."""
from __future__ import annotations

MAX_ELEMENTS = 2 ** 40       # elements of any one tensor: far beyond any real model
MAX_MACS = 10 ** 18          # MACs of one layer or of the whole network
MAX_DEPTH = 16               # nesting of If/Loop/Scan bodies (real models use 1-3)
NAME_CHARS = 80              # a file's name, as shown in a message


def shown(name: object, limit: int = NAME_CHARS) -> str:
    """A name from the model, quoted for a message: control characters escaped, long names cut
    in the middle (the CLI cuts the whole line again; API users get the same short text)."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(name))
    if len(text) > limit:
        text = text[: limit // 2] + "..." + text[-(limit // 2 - 3):]
    return f"'{text}'"
