"""Text as token ids for language models: bytes are the tokens (a vocabulary of 256, no
tokenizer to install or pin), cut into sequences of a model's token-input length.

Two sources, both offline:
- `fortunes`: the cookies of the Debian packages `fortunes` and `fortunes-min` (fortune-mod
  1.99.1, BSD licence; 2.58 MB of English quips, quotations and jokes in 15,000 cookies), split
  into train and test by cookie, so no cookie is in both;
- any `.txt` file, split by position: its consecutive blocks of one sequence each, dealt out.
Pure numpy (no torch): pruning.data calls it and checks the sizes.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pruning.errors import DatasetError

VOCAB = 256                  # bytes are the tokens
DEFAULT_LENGTH = 128         # a sequence's tokens when no model says (tinylm's context)
TEST_SHARE = 0.1             # of the documents held out: 0.26 MB of fortunes measure perplexity to ~1%
FORTUNES_DIR = Path("/usr/share/games/fortunes")
# The cookie files of the packages fortunes and fortunes-min, listed: another fortune package
# installed beside them (they share the folder) does not change the corpus.
FORTUNE_FILES = (
    "art", "ascii-art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs",
    "education", "ethnic", "food", "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law",
    "linux", "linuxcookie", "literature", "love", "magic", "medicine", "men-women",
    "miscellaneous", "news", "paradoxum", "people", "perl", "pets", "platitudes", "politics",
    "pratchett", "riddles", "science", "songs-poems", "sports", "startrek", "tao",
    "translate-me", "wisdom", "work", "zippy")
FORTUNES_HINT = "install it with `apt-get install fortunes` (as root) or run `bash .ci/setup`"
COOKIE_END = re.compile(rb"^%\r?\n", re.MULTILINE)      # a line of one '%' ends a cookie


def fortune_files(directory: Path = FORTUNES_DIR) -> list[Path]:
    """The cookie files, all of them present, else one error saying how to install them."""
    files = [directory / name for name in FORTUNE_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"dataset 'fortunes': {len(missing)} cookie file(s) missing in {directory} "
                           f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); {FORTUNES_HINT}")
    return files


def cookies(files: list[Path]) -> list[bytes]:
    """Every cookie of the files in order, each ending with its '%' line (the model sees where
    one ends), blank ones dropped."""
    out = []
    for f in files:
        for cookie in COOKIE_END.split(read_bytes(f)):
            if cookie.strip():
                out.append(cookie + (b"" if cookie.endswith(b"\n") else b"\n") + b"%\n")
    return out


def blocks(data: bytes, length: int) -> list[bytes]:
    """A text's consecutive blocks of `length` bytes (the tail shorter than one is dropped)."""
    return [data[i:i + length] for i in range(0, len(data) - length + 1, length)]


def read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from exc


def split_sequences(name: str, documents: list[bytes], length: int, seed: int,
                    test_share: float = TEST_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) token ids of shape (N, length), int64: the documents dealt out seeded
    (`test_share` of them, at least one, held out), each side's joined in their order and cut
    into sequences; a sequence never mixes the two sides."""
    if length < 2:
        raise DatasetError(f"dataset {name!r}: sequences of {length} token(s) hold no next token to "
                           "predict; the model's token input needs a length of at least 2")
    order = np.random.default_rng(seed).permutation(len(documents))
    cut = max(1, int(len(documents) * test_share))
    sides = []
    for picked in (np.sort(order[cut:]), np.sort(order[:cut])):
        data = np.frombuffer(b"".join(documents[i] for i in picked), dtype=np.uint8)
        n = len(data) // length
        sides.append(data[: n * length].reshape(n, length).astype(np.int64))
    if min(len(s) for s in sides) == 0:
        held = sum(map(len, documents))
        raise DatasetError(f"dataset {name!r}: {held} bytes of text do not make a train and a test "
                           f"sequence of {length} bytes each; give a longer text")
    return sides[0], sides[1]
