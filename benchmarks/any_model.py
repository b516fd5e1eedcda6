"""Every model through inspect -> prune -> onnxruntime (issue 19): the project's zoo and trained
models shipped in PyPI wheels, each pruned 2:4 with --task distill on data it has never seen.

Per model: `codesign.load` (inspect: layers, MACs, coverage), then the API behind
`codesign prune M --data synthetic --task distill --method magnitude --pattern 2:4 --epochs 0.2
--limit 200 --out D` (wall seconds), and from its layers.json: the exported model's largest
output difference in onnxruntime, the layers compressed, the MAC share they carry and the
agreement with the dense model after compression (top-1 for class-like outputs, else cosine)
with the paired 95% interval of its drop. The exported model.onnx is read back by the importer
and every compressed weight is checked for 2:4 (groups of 4 along the reduction holding more
than 2 nonzeros). A refusal keeps its row with its one line; anything else (a traceback) is
marked as a fault of the project.

Models: tests/zoo/models.py NAMES by both torch exporters (legacy opset 17, dynamo 18),
tests/zoo/any_models.py (dynamo), and the ONNX files of three PyPI wheels (rapidocr-onnxruntime,
qonnx, ddddocr). Wheels are read from $CODESIGN_CACHE/wheels (default ~/.cache/codesign/wheels)
and downloaded only with --fetch; without them their rows say so. A wheel model whose input has
free spatial sizes also gets a row on a random .npz at a size it takes (synthetic data gives a
free axis 16, which some of them cannot run).

Run: .venv/bin/python benchmarks/any_model.py [--fetch] [--only NAME] [--keep DIR]
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

# The command of every row (the API's names for `codesign prune`'s flags).
PRUNE = dict(task="distill", method="magnitude", pattern="2:4", epochs=0.2, limit=200)
NPZ_SAMPLES = 400          # a random .npz: 320 training samples (200 used, as --limit) and 80 test


@dataclass(frozen=True)
class Wheel:
    dist: str              # the PyPI name
    version: str

    def file(self, folder: Path) -> Path | None:
        found = sorted(folder.glob(f"{self.dist.replace('-', '_')}-{self.version}-*.whl"))
        return found[0] if found else None


RAPIDOCR, QONNX, DDDDOCR = Wheel("rapidocr-onnxruntime", "1.4.4"), Wheel("qonnx", "1.0.0"), Wheel("ddddocr", "1.6.1")


@dataclass(frozen=True)
class Case:
    name: str
    source: str                        # where it comes from, for the table
    path: Path | None = None           # the ONNX file (None: `why` says why there is none)
    why: str = ""
    shape: str | None = None           # NAME=DIMS (batch first) for free input sizes
    npz: tuple[int, ...] | None = None  # per-sample shape of a random .npz instead of synthetic data
    limit: int | None = PRUNE["limit"]
    test_limit: int | None = None


def zoo_cases(work: Path) -> list[Case]:
    from tests.zoo import any_models, models
    from tests.zoo.export import ExportFailed, export
    cases = []
    for name in models.NAMES:
        for exporter, opset in (("legacy", 17), ("dynamo", 18)):
            source = f"zoo, {exporter} {opset}"
            try:
                cases.append(Case(name, source, export(name, exporter, opset)))
            except ExportFailed as exc:
                cases.append(Case(name, source, why=f"export failed: {exc.reason}"))
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)    # "torchvision is not installed" per export
    for name in any_models.EXAMPLES:
        path = work / f"{name}.onnx"
        path.write_bytes(any_models.export(name).SerializeToString())
        cases.append(Case(name, "zoo any-signature, dynamo 18", path))
    return cases


# (name, wheel, member, input name and per-sample dims where a size is free, training/test limits)
WHEEL_MODELS = (
    ("rapidocr cls", RAPIDOCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", ("x", (3, 48, 192)), None),
    ("rapidocr det", RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", ("x", (3, 64, 64)), None),
    ("rapidocr rec", RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", ("x", (3, 48, 320)), None),
    ("qonnx mnist-conv", QONNX, "qonnx/data/onnx/mnist-conv/model.onnx", None, None),
    ("qonnx espcn float", QONNX, "qonnx/data/onnx/bsd300x3-espcn/subpixel/float_model.onnx", None, None),
    # 1 and 3.2 GMACs a sample (128x128 and 416x416 images): 25 + 25 samples keep each to minutes
    ("qonnx espcn nn_resize float", QONNX, "qonnx/data/onnx/bsd300x3-espcn/nn_resize/float_model.onnx", None, (25, 25)),
    ("ddddocr common_det", DDDDOCR, "ddddocr/common_det.onnx", None, (25, 25)),
    ("ddddocr common", DDDDOCR, "ddddocr/common.onnx", ("input1", (1, 64, 128)), None),
    ("ddddocr common_old", DDDDOCR, "ddddocr/common_old.onnx", ("input1", (1, 64, 128)), None),
)


# Models whose training activations exceed half this machine's memory at a batch of 128 (prune
# refuses and names the size that fits: rapidocr rec 63, ddddocr common_det 91): they train at 32.
SMALL_BATCH, SMALL_BATCH_MODELS = 32, ("rapidocr rec", "ddddocr common_det")


def wheels_dir() -> Path:
    from pruning.pretrain import cache_dir        # $CODESIGN_CACHE/pretrained: its parent is the cache
    return cache_dir().parent / "wheels"


def fetch(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for wheel in {w for _, w, *_ in WHEEL_MODELS}:
        if wheel.file(folder) is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder),
                            f"{wheel.dist}=={wheel.version}"], check=True, timeout=900)


def wheel_cases(work: Path, folder: Path) -> list[Case]:
    cases = []
    for name, wheel, member, free, limits in WHEEL_MODELS:
        source = f"{wheel.dist} {wheel.version}"
        whl = wheel.file(folder)
        if whl is None:
            cases.append(Case(name, source, why=f"wheel not in {folder}; run with --fetch"))
            continue
        path = work / f"{name.replace(' ', '_')}.onnx"
        with zipfile.ZipFile(whl) as z:
            path.write_bytes(z.read(member))
        shape = None if free is None else f"{free[0]}={'x'.join(map(str, (1, *free[1])))}"
        limit, test_limit = limits or (PRUNE["limit"], None)
        cases.append(Case(name, source, path, shape=shape, limit=limit, test_limit=test_limit))
        if free is not None:
            cases.append(Case(name, source + ", random npz " + "x".join(map(str, free[1])), path,
                              shape=shape, npz=free[1]))
    return cases


def random_npz(case: Case, folder: Path) -> Path:
    import numpy as np
    name = case.shape.split("=")[0]
    path = folder / f"{case.path.stem}-{'x'.join(map(str, case.npz))}.npz"
    rng = np.random.default_rng(0)
    np.savez(path, **{name: rng.random((NPZ_SAMPLES, *case.npz), dtype=np.float32)})
    return path


def broken_groups(model: Path, shape: str | None, layers) -> tuple[int, int]:
    """2:4 groups holding more than 2 nonzeros among the compressed weights of the exported
    file, as the importer reads it, and how many compressed weights it found there."""
    import numpy as np

    import codesign
    from codesign.pruned import output_axes
    from pruning.patterns import parse_pattern, pattern_violations
    network = codesign.load(str(model), [shape] if shape else None)
    axes, names = output_axes(network), {l.name for l in network.layers}
    broken = found = 0
    for row in layers:
        if row.kept < row.weights and row.name in names:
            w = network.weight(row.name)
            if w is not None:
                found += 1
                broken += pattern_violations(np.asarray(w) != 0, parse_pattern("2:4"), axes[row.name])
    return broken, found


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def run_case(case: Case, work: Path, keep: Path | None) -> tuple[str, list[str]]:
    """How the model fared (pruned, refused, fault, skipped) and the table's cells (inspect,
    prune, check); a failure fills the rest."""
    import codesign
    from codesign.cli.common import USER_ERRORS
    from codesign.inspect import share_text
    from pruning.onnx.bridge import data_spec
    from pruning.onnx.files import read_onnx
    cells = [case.name, case.source]
    if case.path is None:
        return "skipped", cells + ["-"] * 10 + [case.why]
    try:
        network = codesign.load(str(case.path), [case.shape] if case.shape else None)
    except USER_ERRORS as exc:
        return "refused", cells + ["-"] * 10 + [f"inspect refused: {one_line(exc)}"]
    coverage = network.coverage_dict()
    cells += [f"{len(network.layers)}", f"{network.total_macs:,}", share_text(coverage)]
    out = (keep or work) / f"{case.path.stem}{'-npz' if case.npz else ''}"
    data = str(random_npz(case, work)) if case.npz else "synthetic"
    t0 = time.perf_counter()
    try:
        res = codesign.prune(str(case.path), data, **{**PRUNE, "limit": case.limit}, test_limit=case.test_limit,
                             input_shape=None if case.npz else case.shape,
                             batch_size=SMALL_BATCH if case.name in SMALL_BATCH_MODELS else 128, out=str(out))
    except USER_ERRORS as exc:
        return "refused", cells + [f"{time.perf_counter() - t0:.1f}"] + ["-"] * 6 + [f"prune refused: {one_line(exc)}"]
    except Exception as exc:  # noqa: BLE001 - a fault of the project, recorded as such with its place
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "fault", cells + [f"{time.perf_counter() - t0:.1f}"] + ["-"] * 6 + [
            f"PROJECT FAULT (traceback) {type(exc).__name__}: {one_line(exc)} at "
            f"{Path(where.filename).name}:{where.lineno}"]
    seconds = time.perf_counter() - t0
    t = res.totals
    compressed = sum(r.kept < r.weights for r in res.layers)
    share = "unknown" if t.compressed_mac_share is None else f"{100 * t.compressed_mac_share:.1f}%"
    output = data_spec(read_onnx(out / "model.onnx")).output
    kind = "top-1" if output is None or output.class_like else "cosine"
    try:
        broken, found = broken_groups(out / "model.onnx", case.shape, res.layers)
        check = f"{broken} ({found}/{compressed} read)"
    except USER_ERRORS as exc:
        check = f"unread: {one_line(exc)[:80]}"
    note = "; ".join(t.warnings)[:200] or ("ok" if t.onnxruntime_max_diff < 1e-3 else "onnxruntime differs")
    return "pruned", cells + [f"{seconds:.1f}", f"{compressed}/{len(network.layers)}", share, check,
                    f"{t.onnxruntime_max_diff:.1g}", f"{100 * t.accuracy_after:.2f}% {kind} (n={t.test_samples})",
                    f"{t.drop:+.2f} [{t.drop_low:+.2f}, {t.drop_high:+.2f}]", note]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", action="store_true", help="download the wheels first (pip download --no-deps)")
    parser.add_argument("--only", help="only models whose name contains this (the table is then not recorded)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    folder = wheels_dir()
    if args.fetch:
        fetch(folder)
    rows = ["| model | source | layers | MACs | coverage | prune s | compressed / layers | MAC share compressed | "
            "2:4 groups broken in model.onnx | onnxruntime max abs diff | agreement after | drop, points [95% CI] | "
            "outcome |", "|" + "---|" * 13]
    t0, statuses = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="any_model-") as tmp:
        work = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        for case in zoo_cases(work) + wheel_cases(work, folder):
            if args.only and args.only not in case.name:
                continue
            status, cells = run_case(case, work, args.keep)
            statuses.append(status)
            print(" | ".join(cells), flush=True)
            rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    total = time.perf_counter() - t0
    ok, faults = statuses.count("pruned"), statuses.count("fault")
    notes = (f"Command per row: `codesign prune M --data synthetic --task distill --method magnitude --pattern 2:4 "
             f"--epochs 0.2 --limit 200 --out D` through `codesign.prune` in-process (1 thread, seed 0); rows "
             f"marked 'random npz' use a seeded uniform .npz of {NPZ_SAMPLES} samples at the size named instead "
             "(the synthetic rows of a model with free sizes pass them as --input-shape); espcn nn_resize and "
             "ddddocr common_det use --limit 25 --test-limit 25 (1 and 3.2 GMACs a sample); "
             f"{' and '.join(SMALL_BATCH_MODELS)} train at --batch-size {SMALL_BATCH} (at 128 their activations "
             "exceed half this machine's memory and prune refuses). Inspect: `codesign.load` at the same sizes; "
             "layers are the importer's (activation products included). Agreement: with the dense model on the "
             "test samples (top-1 for class-like outputs, else cosine); drop = 100 x (before - after), paired. "
             "2:4 column: groups of 4 with more than 2 nonzeros in the compressed weights of model.onnx as "
             f"the importer reads it (read / compressed weights). {ok} of {len(statuses)} rows pruned and "
             f"exported, {statuses.count('refused')} refused with one line, {faults} failed with a traceback, "
             f"{statuses.count('skipped')} skipped; {total:.0f} s in all.")
    table = "\n".join(rows)
    if args.only:
        print(table + "\n\n" + notes)
    else:
        record("any_model.py", "any_model.py: every model through inspect -> prune (distill, 2:4) -> onnxruntime "
               "(issue 19)", table, notes)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
