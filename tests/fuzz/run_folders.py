"""Fuzz families of what lies in a run folder (issue 26): `run-folder` tampers with real run and
report folders (report-data.json, job.json, evaluations.jsonl, checkpoints and their sidecars)
and runs the command that reads them; `symlinks` plants a link (to a file or folder outside,
dangling, to /dev/zero) or a FIFO in place of each file and folder a command writes. The
harness checks that nothing outside changed (tests/fuzz/harness.Scene). Real folders are made
once per generator call, by the commands themselves."""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

from fuzz.harness import outside_folder
from fuzz.resources import zip_bomb

PLAN = ["plan", "lenet5", "--alpha", "0.3", "--report"]
SWEEP = ["sweep", "lenet5", "--vary", "pes=64,128", "--out"]
PRUNE = ["prune", "lenet5", "--data", "digits", "--alpha", "0.5", "--epochs", "0.05", "--pretrain-epochs", "0",
         "--limit", "400", "--test-limit", "100", "--no-progress", "--out"]
SEARCH = ["search", "lenet5", "--data", "digits", "--pretrain-epochs", "0", "--train-epochs", "0.1",
          "--final-epochs", "0.1", "--train-limit", "300", "--test-limit", "100", "--quiet", "--out"]
KINDS = ("plan", "sweep", "prune", "search")


def _cli(argv: list[str], torch: bool) -> None:
    """Make a real run folder: the cost-only commands in this process, those that train in
    another (a process that will fork its cases runs no torch operation itself)."""
    if torch:
        subprocess.run([sys.executable, "-m", "codesign", *argv], check=True, capture_output=True)
        return
    from codesign.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0, argv


def bases(tmp: Path, kinds=KINDS) -> dict[str, Path]:
    """Real run folders (made once under `tmp`): a plan report, a sweep (--out and --report),
    a prune run and a search run."""
    folder = tmp / "bases"
    made = {}
    for kind in kinds:
        out = folder / kind
        if not out.exists():
            argv = {"plan": PLAN, "sweep": SWEEP, "prune": PRUNE, "search": SEARCH}[kind] + [str(out)]
            _cli(argv + (["--report", str(out / "report")] if kind == "sweep" else []), kind in ("prune", "search"))
        made[kind] = out / "report" if kind == "sweep" else out
    return made


# ---- JSON tampering -------------------------------------------------------------------------

WRONG = [None, True, False, 0, -1, 1.5, -1e308, 1e308, "", "x", "1e400", "nan", [], [1, "a"], {}, {"a": None},
         "\x00\x1b[2J", "é" * 3, 2 ** 70, -(2 ** 70)]


def _paths(doc, prefix=(), limit=4000) -> list[tuple]:
    """Paths (keys and indices) to every value of a parsed JSON document (the first `limit`)."""
    found, stack = [], [(prefix, doc)]
    while stack and len(found) < limit:
        path, value = stack.pop()
        found.append(path)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((path + (k,), v) for k, v in items)
    return found


def _set(doc, path: tuple, value):
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _huge(rng: random.Random):
    return rng.choice([1e308, -1e308, 10 ** 400, "x" * 3_000_000, [1.0] * 400_000, {f"k{i}": i for i in range(200_000)},
                       [[]] * 300_000, "\u202e" * 100_000])


def _deep(rng: random.Random, depth: int | None = None):
    depth = depth or rng.choice([40, 1_000, 100_000])
    value: object = 0
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def tamper_json(data: bytes, rng: random.Random) -> bytes:
    """One seeded mutation of a JSON document: a wrong type, a huge value, deep nesting or NaN at
    a random place, a key gone or added, truncated, not UTF-8, or no JSON at all."""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {}
    paths = _paths(doc)
    kind = rng.randrange(12)
    path = rng.choice(paths)
    if kind == 0:
        doc = _set(doc, path, rng.choice(WRONG))
    elif kind == 1:
        doc = _set(doc, path, _huge(rng))
    elif kind == 2:
        return data[: rng.randrange(len(data) + 1)]
    elif kind == 3:
        cut = rng.randrange(len(data) + 1)
        return rng.choice([data[:cut] + b"\xff\xfe\xc3" + data[cut:], data.decode("utf-8", "replace").encode("utf-16"),
                           data.replace(b'"', b"\x93", 3)])
    elif kind == 4:
        try:
            return json.dumps(_set(doc, path, _deep(rng))).encode()
        except RecursionError:                          # deeper than json writes: write it as text
            n = rng.choice([10_000, 1_000_000])
            return data[:1] + b'"deep": ' + b"[" * n + b"]" * n + b"," + data[1:] if data[:1] == b"{" else b"[" * n
    elif kind == 5 and path:
        del _get(doc, path[:-1])[path[-1]]
    elif kind == 6:
        doc = _set(doc, path, rng.choice([float("nan"), float("inf"), -float("inf")]))
    elif kind == 7:
        if isinstance(doc, dict):
            doc[rng.choice(["bogus", "kind", "version", "format", "\x00", "x" * 300])] = rng.choice(WRONG)
        text = json.dumps(doc)
        return (text[:-1] + ', "kind": 5}' if text.endswith("}") else text).encode()    # a duplicate key
    elif kind == 8:
        return rng.choice([b"", b" \n", b"null", b"[]", b"{}", b"0", b'"x"', b"\x00" * 64, rng.randbytes(200),
                           b"{" * 5000, b"1" * 100_000])
    elif kind == 9 and len(paths) > 2:
        a, b = rng.sample(paths[1:], 2)
        try:
            va, vb = _get(doc, a), _get(doc, b)
            doc = _set(_set(doc, a, vb), b, va)
        except (KeyError, IndexError, TypeError):
            pass
    elif kind == 10:
        doc = _set(doc, path, rng.choice(["a\nb", "\x1b]0;title\x07", "<script>alert(1)</script>", "$\\foo$",
                                          "../../../../etc/passwd", "\ud800"]))
    else:
        doc = _set(doc, path, rng.choice([-5, 0, 0.0, 1e-320, 2 ** 63, 1.0000001, 99]))
    return json.dumps(doc, allow_nan=True).encode()


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


# ---- other files ----------------------------------------------------------------------------

def _evil_pickle(outside: Path) -> bytes:
    """A pickle that, if loaded unsafely, creates a file outside (the harness sees it)."""
    return f"cbuiltins\nopen\n(V{outside / 'pwned'}\nVw\ntR.".encode()


def tamper_checkpoint(data: bytes, rng: random.Random, outside: Path) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return data[: rng.randrange(len(data))]
    if kind == 1:
        b = bytearray(data)
        for _ in range(rng.choice([1, 10, 200])):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind in (2, 3):                                      # torch's zip with its pickle or a tensor replaced
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                body = src.read(info)
                if kind == 2 and info.filename.endswith("data.pkl"):
                    body = _evil_pickle(outside)
                elif kind == 3 and "/data/" in info.filename:
                    body = body[: len(body) // 2]
                dst.writestr(info.filename, body)
        return out.getvalue()
    if kind == 4:
        return _evil_pickle(outside)
    return rng.choice([b"", zip_bomb(1536 << 20), b"PK\x03\x04" + rng.randbytes(100)])


def tamper_lines(data: bytes, rng: random.Random) -> bytes:
    """evaluations.jsonl: one record tampered, a torn or garbage line, or a flood of lines."""
    lines = data.splitlines(keepends=True)
    kind = rng.randrange(6)
    if kind <= 1 and lines:
        i = rng.randrange(len(lines))
        lines[i] = tamper_json(lines[i], rng).replace(b"\n", b" ") + b"\n"
    elif kind == 2:
        return data[: rng.randrange(len(data) + 1)]
    elif kind == 3:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice([b"garbage\n", b"\xff\xfe\n", b"{}\n", b"[]\n", b"\n",
                                                                 b"null\n", b'{"key": 5}\n']))
    elif kind == 4:
        lines.append(rng.choice([b"{}\n" * 1_000_000, b'{"key": "' + b"x" * 5_000_000 + b'"}\n']))
    elif lines:                                             # a record repeated with another value
        record = json.loads(lines[rng.randrange(len(lines))])
        record[rng.choice(sorted(record))] = rng.choice(WRONG)
        lines.append(json.dumps(record).encode() + b"\n")
    return b"".join(lines)


def _replace_kind(path: Path, rng: random.Random) -> None:
    """A file where a folder belongs, a folder where a file belongs, or the entry gone."""
    if path.is_dir():
        shutil.rmtree(path)
        if rng.random() < 0.5:
            path.write_bytes(b"not a folder")
    else:
        path.unlink()
        if rng.random() < 0.5:
            path.mkdir()


def _tamper_file(path: Path, rng: random.Random, outside: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".pt" or path.name == "masks.npz":
        path.write_bytes(tamper_checkpoint(data, rng, outside))
    elif path.suffix == ".jsonl":
        path.write_bytes(tamper_lines(data, rng))
    elif path.suffix == ".json":
        path.write_bytes(tamper_json(data, rng))
    else:
        path.write_bytes(rng.choice([b"", data[: len(data) // 2], rng.randbytes(300), b"x" * 5_000_000]))


# What each kind's command reads, most often what it trusts most.
TARGETS = {
    "plan": ["report-data.json"] * 6 + ["plan.json", "layers.csv", "report.html", "figures", "figures/speedup.png"],
    "sweep": ["report-data.json"] * 6 + ["report.md", "figures", "figures/sweep.png"],
    "prune": ["checkpoints/phase-admm-prune.json", "checkpoints/phase-retrain-prune.json"] * 2 +
             ["checkpoints/phase-admm-prune.pt", "checkpoints/phase-retrain-prune.pt"] * 2 +
             [".codesign.lock", "sparsity.json", "layers.json", "masks.npz", "model.onnx", "checkpoints"],
    "search": ["job.json"] * 3 + ["evaluations.jsonl"] * 4 +
              ["final/*/final-model.json", "final/*/start-model.json", "final/*/final-model.pt", "summary.json",
               "search-history.json", "report-data.json", ".codesign.lock", "final"],
}
WEIGHTS = {"plan": 3, "sweep": 2, "prune": 2, "search": 2}


def run_folders(n: int, seed: int, tmp: Path, kinds=KINDS) -> Iterator[tuple[str, list[str]]]:
    """Tampered copies of real run folders, each read by the command that reads it: `report`
    for reports, the same prune or search again (a resume) for runs, or `report` of the search."""
    rng = random.Random(seed)
    made = bases(tmp, kinds)
    outside = outside_folder(tmp)
    pool = [k for k in kinds for _ in range(WEIGHTS[k])]
    previous = None
    for i in range(n):
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        kind = rng.choice(pool)
        previous = case = tmp / f"rf{seed}_{i}"
        run = case / "run"
        shutil.copytree(made[kind], run, symlinks=True)
        target = rng.choice(TARGETS[kind])
        path = next(iter(sorted(run.glob(target))), run / target)
        how = "kind" if rng.random() < 0.1 else "content"
        if how == "kind" or path.is_dir():
            _replace_kind(path, rng)
        else:
            _tamper_file(path, rng, outside)
        rel = path.relative_to(run)
        if kind in ("plan", "sweep") or (kind == "search" and rng.random() < 0.2):
            argv = ["report", str(run)] + (["--out", str(case / "out")] if rng.random() < 0.3 else [])
        else:
            argv = {"prune": PRUNE, "search": SEARCH}[kind] + [str(run)]
        yield f"{kind} folder, {rel} ({how}) #{i}: {argv[0]}", argv
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


# ---- planted links --------------------------------------------------------------------------

REPORT = ["report.html", "report.md", "plan.json", "layers.csv", "report-data.json", "figures/",
          "figures/speedup.png", "figures/storage.png", "figures/speedup_vs_r.png", "report.html.tmp",
          "plan.json.tmp", "layers.csv.tmp", "figures/speedup.png.tmp", ""]
PRUNE_NAMES = ["model.onnx", "layers.json", "layers.csv", "sparsity.json", "masks.npz", "checkpoints/",
               ".codesign.lock", "checkpoints/phase-admm-prune.pt", "checkpoints/phase-admm-prune.pt.tmp",
               "checkpoints/phase-admm-prune.json", "checkpoints/phase-admm-prune.json.tmp",
               "checkpoints/phase-retrain-prune.pt", "model.onnx.tmp", "masks.npz.tmp", ""]
# (what, argv given the case folder, the folder it writes, the names it writes there)
TARGET_COMMANDS = [
    ("report", lambda c: ["report", str(c / "run")], "run", REPORT),
    ("report --out", lambda c: ["report", str(c / "src"), "--out", str(c / "out")], "out", REPORT),
    ("plan --report", lambda c: PLAN + [str(c / "rep")], "rep", REPORT),
    ("plan --out", lambda c: ["plan", "lenet5", "--alpha", "0.3", "--out", str(c / "plan.json")], "",
     ["plan.json", "plan.json.tmp"]),
    ("plan --csv", lambda c: ["plan", "lenet5", "--alpha", "0.3", "--csv", str(c / "layers.csv")], "",
     ["layers.csv", "layers.csv.tmp"]),
    ("sweep --out", lambda c: SWEEP + [str(c / "sw")], "sw",
     ["configs.csv", "break_even.csv", "sweep.png", "configs.csv.tmp", "sweep.png.tmp", ""]),
    ("inspect --csv", lambda c: ["inspect", "lenet5", "--csv", str(c / "t.csv")], "", ["t.csv", "t.csv.tmp"]),
    ("breakeven --csv", lambda c: ["breakeven", "lenet5", "--csv", str(c / "be.csv")], "", ["be.csv", "be.csv.tmp"]),
    ("breakeven --plot", lambda c: ["breakeven", "lenet5", "--plot", str(c / "be.png")], "",
     ["be.png", "be.png.tmp"]),
    ("prune --out", lambda c: PRUNE + [str(c / "pr")], "pr", PRUNE_NAMES),
]
PLANTS = ("link to a file", "link to a folder", "dangling link", "FIFO", "link to /dev/zero")


def plant(path: Path, how: str, outside: Path, tag: str) -> None:
    """`how` in place of `path` (what stood there is removed first)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "FIFO":
        os.mkfifo(path)
    else:
        path.symlink_to({"link to a file": outside / "secret.txt", "link to a folder": outside / "dir",
                         "dangling link": outside / f"new-{tag}", "link to /dev/zero": Path("/dev/zero")}[how])


def symlinks(n: int, seed: int, tmp: Path, commands: tuple[str, ...] | None = None) -> Iterator[tuple[str, list[str]]]:
    """Every (command, name it writes, thing planted there), shuffled by the seed; the first n
    (`commands`: only these)."""
    rng = random.Random(seed)
    report = bases(tmp, ("plan",))["plan"]
    outside = outside_folder(tmp)
    combos = [(what, make, folder, name, how) for what, make, folder, names in TARGET_COMMANDS
              if commands is None or what.split()[0] in commands for name in names for how in PLANTS]
    rng.shuffle(combos)
    previous = None
    for i, (what, make, folder, name, how) in enumerate(combos[:n]):
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        previous = case = tmp / f"sl{seed}_{i}"
        case.mkdir(parents=True)
        if what.startswith("report"):
            shutil.copytree(report, case / ("run" if what == "report" else "src"), symlinks=True)
        plant(case / folder / name.rstrip("/") if name else case / folder, how, outside, f"{seed}_{i}")
        yield f"{what}: {how} as {name or folder or '?'} #{i}", make(case)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
