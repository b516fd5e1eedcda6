"""Start-up cost of the cost-only commands (issue 13): CPU seconds of `codesign --help`,
`codesign plan alexnet --alpha 0.2` and `codesign sweep` against `python -c "import torch"`,
measured interleaved in one run (the machine is shared: compare the ratios), and which heavy
modules each command imports (`python -X importtime`).

Target: `codesign --help` under half the CPU time of `import torch`; no cost-only command
imports torch.

Run: .venv/bin/python benchmarks/startup.py
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
HEAVY = ("torch", "matplotlib", "onnxruntime", "scipy", "onnx", "numpy", "ray")


def commands(tmp: str) -> dict[str, list[str]]:
    return {
        "import torch": [PY, "-c", "import torch"],
        "codesign --help": [PY, "-m", "codesign", "--help"],
        "codesign plan alexnet --alpha 0.2": [PY, "-m", "codesign", "plan", "alexnet", "--hw", "smic40-admmnn",
                                              "--alpha", "0.2"],
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


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(tmp)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(REPEATS):                      # interleaved: load changes hit all alike
            for name, argv in cmds.items():
                times[name].append(cpu_seconds(argv))
        heavy = {name: imported(argv) for name, argv in cmds.items() if name != "import torch"}
    torch_cpu = statistics.median(times["import torch"])
    rows = ["| command | median CPU s | best CPU s | vs `import torch` | heavy modules imported |", "|---|---|---|---|---|"]
    for name, ts in times.items():
        rows.append(f"| `{name}` | {statistics.median(ts):.2f} | {min(ts):.2f} | "
                    f"{statistics.median(ts) / torch_cpu:.2f}x | {', '.join(heavy.get(name, ['torch']))} |")
    help_ratio = statistics.median(times["codesign --help"]) / torch_cpu
    no_torch = all("torch" not in v for v in heavy.values())
    notes = (f"{REPEATS} interleaved runs each (user + system CPU of the child process). Target: `--help` under "
             f"half of `import torch`: {help_ratio:.2f}x ({'met' if help_ratio < 0.5 else 'NOT met'}); no cost-only "
             f"command imports torch: {'yes' if no_torch else 'NO'}.")
    record("startup.py", "startup.py: start-up cost of cost-only commands (issue 13)", "\n".join(rows), notes)
    return 0 if help_ratio < 0.5 and no_torch else 1


if __name__ == "__main__":
    sys.exit(main())
