"""Start-up cost of the cost-only commands (issues 13 and 23): CPU seconds of `codesign --help`,
`codesign plan alexnet --alpha 0.2` and `codesign sweep` against `python -c "import torch"` and
`python -c "import numpy"`, measured interleaved in one run (the machine is shared: compare the
ratios), and which heavy modules each command imports (`python -X importtime`). Then the fixed
cost of a training command: `codesign prune lenet5 --epochs 1 --pretrain-epochs 0` against a
plain torch loop doing the same work (one epoch of Fashion-MNIST at batch 128 with Adam, one
thread, one pass over the test split), paired A B A B.

Targets: `codesign --help` under half the CPU time of `import torch`; no cost-only command
imports torch; `plan alexnet` at most 4x `import numpy` (issue 23); `prune` at most 1.1x the
plain loop (issue 23).

Run: .venv/bin/python benchmarks/startup.py [--no-training]
"""
from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

PY = sys.executable
REPEATS = 5
TRAIN_REPEATS = 2                                     # A B A B: each run is a full epoch
HEAVY = ("torch", "matplotlib", "onnxruntime", "scipy", "onnx", "numpy", "ray", "ml_dtypes", "networkx",
         "sklearn")
PLAN = "codesign plan alexnet --alpha 0.2"

# The same work as `prune lenet5 --epochs 1` without the tool: the Caffe LeNet-5 of
# pruning.models, data read by pruning.data (numpy only), Adam at the job's defaults.
PLAIN_EPOCH = """
import time
import torch
from torch import nn
from pruning.data import load_dataset
from pruning.prune_job import PruneJob, THREADS
torch.set_num_threads(THREADS)
torch.manual_seed(0)
job = PruneJob(model="lenet5")
ds = load_dataset(job.data)
x, y = torch.from_numpy(ds.train_x), torch.from_numpy(ds.train_y)
model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, ds.num_classes))
opt = torch.optim.Adam(model.parameters(), lr=job.lr)
loss_fn = nn.CrossEntropyLoss()
for idx in torch.randperm(len(y)).split(job.batch_size):
    opt.zero_grad()
    loss_fn(model(x[idx]), y[idx]).backward()
    opt.step()
with torch.no_grad():
    tx, ty = torch.from_numpy(ds.test_x), torch.from_numpy(ds.test_y)
    correct = sum(int((model(a).argmax(1) == b).sum()) for a, b in zip(tx.split(1000), ty.split(1000)))
print(correct / len(ty))
"""


def commands(tmp: str) -> dict[str, list[str]]:
    return {
        "import torch": [PY, "-c", "import torch"],
        "import numpy": [PY, "-c", "import numpy"],
        "codesign --help": [PY, "-m", "codesign", "--help"],
        PLAN: [PY, "-m", "codesign", "plan", "alexnet", "--hw", "smic40-admmnn", "--alpha", "0.2"],
        "codesign breakeven resnet50 --json": [PY, "-m", "codesign", "breakeven", "resnet50", "--json"],
        "codesign sweep alexnet (8 configs, CSV + figure)": [PY, "-m", "codesign", "sweep", "alexnet", "--vary",
                                                            "pes=128,256", "--vary", "sram_macro_kb=32,64",
                                                            "--vary", "weight_bits=8,16", "--out", tmp],
    }


def cpu_seconds(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imported(argv: list[str]) -> list[str]:
    out = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True)
    top = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    return [m for m in HEAVY if m in top]


def training_rows(tmp: str) -> tuple[list[str], float]:
    """`prune lenet5 --epochs 1` and the plain loop, paired A B A B; rows and the median ratio."""
    cmds = {"plain torch: 1 epoch + 1 test pass": [PY, "-c", PLAIN_EPOCH],
            "codesign prune lenet5 --alpha 0.5 --epochs 1 --pretrain-epochs 0":
                [PY, "-m", "codesign", "prune", "lenet5", "--alpha", "0.5", "--epochs", "1",
                 "--pretrain-epochs", "0", "--quiet", "--out"]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(TRAIN_REPEATS):
        for name, argv in cmds.items():
            times[name].append(cpu_seconds(argv + [f"{tmp}/prune{i}"] if argv[-1] == "--out" else argv))
    plain, prune = (times[k] for k in cmds)
    ratio = statistics.median(b / a for a, b in zip(plain, prune))          # per pair: load hits both
    rows = [f"| `{name}` | {statistics.median(ts):.2f} | {min(ts):.2f} | "
            f"{statistics.median(ts) / statistics.median(plain):.2f}x of the plain loop | |"
            for name, ts in times.items()]
    return rows, ratio


def main() -> int:
    training = "--no-training" not in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(tmp)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(REPEATS):                      # interleaved: load changes hit all alike
            for name, argv in cmds.items():
                times[name].append(cpu_seconds(argv))
        heavy = {name: imported(argv) for name, argv in cmds.items() if not name.startswith("import ")}
        train_rows, prune_ratio = training_rows(tmp) if training else ([], float("nan"))
    torch_cpu = statistics.median(times["import torch"])
    rows = ["| command | median CPU s | best CPU s | vs `import torch` | heavy modules imported |", "|---|---|---|---|---|"]
    for name, ts in times.items():
        rows.append(f"| `{name}` | {statistics.median(ts):.2f} | {min(ts):.2f} | "
                    f"{statistics.median(ts) / torch_cpu:.2f}x | {', '.join(heavy.get(name, [name.split()[-1]]))} |")
    help_ratio = statistics.median(times["codesign --help"]) / torch_cpu
    plan_ratio = statistics.median(p / n for p, n in zip(times[PLAN], times["import numpy"]))
    no_torch = all("torch" not in v for v in heavy.values())
    notes = (f"{REPEATS} interleaved runs each (user + system CPU of the child process). Target: `--help` under "
             f"half of `import torch`: {help_ratio:.2f}x ({'met' if help_ratio < 0.5 else 'NOT met'}); no cost-only "
             f"command imports torch: {'yes' if no_torch else 'NO'}; `plan alexnet` at most 4x `import numpy` "
             f"(median of paired ratios): {plan_ratio:.2f}x ({'met' if plan_ratio <= 4 else 'NOT met'}).")
    if training:
        rows += train_rows
        notes += (f" Training ({TRAIN_REPEATS} pairs A B A B): `prune` at most 1.1x the plain loop (median of "
                  f"paired ratios): {prune_ratio:.2f}x ({'met' if prune_ratio <= 1.1 else 'NOT met'}).")
    record("startup.py", "startup.py: start-up cost of cost-only and training commands (issues 13, 23)",
           "\n".join(rows), notes)
    return 0 if help_ratio < 0.5 and no_torch else 1


if __name__ == "__main__":
    sys.exit(main())
