"""Locate the three real PaddleOCR ONNX models shipped by ``rapidocr-onnxruntime`` 1.4.4.

``locate_ocr_models()`` returns ``(paths, reason)``: ``paths`` maps ``"det" | "rec" | "cls"``
to a ``Path`` (or is ``None`` when the models cannot be had, and ``reason`` says why, for
``pytest.skip(reason)``).

Search order
1. an installed ``rapidocr_onnxruntime`` 1.4.4 (``pip install rapidocr-onnxruntime==1.4.4 --no-deps``):
   its ``models/`` folder, found without importing the package (that would pull opencv etc.);
2. the cache directory ``$CODESIGN_ZOO_CACHE`` (default ``<repo>/.cache/zoo``), sub-folder ``rapidocr/``;
3. a wheel ``rapidocr_onnxruntime-1.4.4-*.whl`` already in that folder (unzipped on the spot);
4. ``<python> -m pip download --no-deps rapidocr-onnxruntime==1.4.4 -d <cache>/rapidocr``, then unzip.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "rapidocr-onnxruntime"
VERSION = "1.4.4"
MEMBERS = {  # key -> path inside the wheel
    "det": "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    "rec": "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
    "cls": "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
}
# sizes of the files in the 1.4.4 wheel, used to reject a truncated or different copy
SIZES = {"det": 4745517, "rec": 10857958, "cls": 585532}
# input shapes used for the recorded MAC counts (see counts.OCR_COUNTS)
INPUT_SHAPES = {"det": (1, 3, 640, 640), "rec": (1, 3, 48, 320), "cls": (1, 3, 48, 192)}


def cache_root() -> Path:
    env = os.environ.get("CODESIGN_ZOO_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "zoo"


def ensure_dir(folder: Path) -> Path:
    """mkdir -p; the cache root gets a ``.gitignore`` of ``*`` (as pytest does for its cache),
    so exports and downloads never show up in ``git status``."""
    folder.mkdir(parents=True, exist_ok=True)
    root = cache_root()
    try:
        folder.resolve().relative_to(root.resolve())
    except ValueError:
        return folder
    ignore = root / ".gitignore"
    if not ignore.exists():
        try:
            ignore.write_text("# created by tests/zoo: everything here is a re-creatable cache\n*\n")
        except OSError:
            pass
    return folder


def _complete(folder: Path) -> dict[str, Path] | None:
    paths = {k: folder / Path(m).name for k, m in MEMBERS.items()}
    if all(p.is_file() and p.stat().st_size == SIZES[k] for k, p in paths.items()):
        return paths
    return None


def _unzip(wheel: Path, folder: Path) -> dict[str, Path] | None:
    with zipfile.ZipFile(wheel) as z:
        for key, member in MEMBERS.items():
            target = folder / Path(member).name
            tmp = target.with_suffix(".onnx.part")
            with z.open(member) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(tmp, target)
    return _complete(folder)


def _installed() -> Path | None:
    try:
        spec = importlib.util.find_spec("rapidocr_onnxruntime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def locate_ocr_models(cache_dir: str | os.PathLike | None = None, python: str | None = None,
                      download: bool = True, timeout: float = 300.0
                      ) -> tuple[dict[str, Path] | None, str]:
    installed = _installed()
    if installed is not None and _complete(installed):
        return _complete(installed), f"installed package, {installed}"
    folder = Path(cache_dir) if cache_dir else cache_root() / "rapidocr"
    found = _complete(folder)
    if found:
        return found, f"found in {folder}"
    try:
        ensure_dir(folder)
    except OSError as e:
        return None, f"cannot create cache dir {folder}: {e}"
    wheels = sorted(folder.glob(f"rapidocr_onnxruntime-{VERSION}-*.whl"))
    if not wheels and download:
        cmd = [python or sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               f"{PACKAGE}=={VERSION}", "-d", str(folder)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"`{' '.join(cmd)}` failed: {e}"
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd)}` exited {r.returncode}: {' | '.join(tail)}"
        wheels = sorted(folder.glob(f"rapidocr_onnxruntime-{VERSION}-*.whl"))
    if not wheels:
        return None, (f"no {PACKAGE} {VERSION} models in {folder} and "
                      + ("pip download produced no wheel" if download else "download disabled"))
    try:
        found = _unzip(wheels[-1], folder)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        return None, f"cannot unzip {wheels[-1]}: {e}"
    if not found:
        return None, f"{wheels[-1]} does not hold the expected three models (sizes differ)"
    return found, f"unzipped from {wheels[-1].name} into {folder}"


if __name__ == "__main__":
    paths, why = locate_ocr_models()
    print(why)
    for k, p in (paths or {}).items():
        print(f"{k}: {p}")
