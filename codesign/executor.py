"""The one door every accuracy evaluation of a search goes through.

A search never trains or evaluates a model itself: it builds `EvalRequest`s (what kind of run,
at which per-layer keep fractions α) and hands them to an `Executor`. The default
`InProcessExecutor` runs them one after the other in this process; a distributed engine only
has to implement `Executor.run` to evaluate a batch of candidates in parallel.

Every result is cached by (kind, α vector) and appended to a JSON-lines checkpoint in the run
directory as soon as it exists. Searches are deterministic functions of the results they get, so
re-running an interrupted search with the same checkpoint replays the finished evaluations from
the file and computes only what is missing: that is the whole resume mechanism.
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

from codesign.errors import CodesignError

# Kinds of evaluation, cheapest first. "reference": the uncompressed model's accuracy;
# "probe": a short sensitivity probe (one layer pruned, little or no retraining);
# "train": a short compression run at a candidate α vector; "final": the full compression run
# whose model is the search's output.
KINDS = ("reference", "probe", "train", "final")
ALPHA_DIGITS = 4          # α vectors equal to 4 decimals are the same candidate


class ExecutorError(CodesignError):
    """An evaluation request or checkpoint is malformed."""


@dataclass(frozen=True)
class EvalRequest:
    kind: str
    alphas: tuple[tuple[str, float], ...]   # sorted by name, rounded; absent layers stay dense

    @classmethod
    def make(cls, kind: str, alphas: Mapping[str, float] | None = None) -> "EvalRequest":
        if kind not in KINDS:
            raise ExecutorError(f"evaluation kind {kind!r} is not one of {KINDS}")
        items = []
        for name, a in sorted((alphas or {}).items()):
            a = round(float(a), ALPHA_DIGITS)
            if not 0.0 < a <= 1.0:
                raise ExecutorError(f"keep fraction α={a} for layer {name!r} must be in (0, 1]")
            if a < 1.0:                   # α = 1 is dense: same candidate as leaving it out
                items.append((name, a))
        return cls(kind, tuple(items))

    @property
    def key(self) -> str:
        return json.dumps([self.kind, [[n, a] for n, a in self.alphas]], separators=(",", ":"))

    def alpha_dict(self) -> dict[str, float]:
        return dict(self.alphas)


@dataclass(frozen=True)
class Outcome:
    """What an oracle returns for one request."""
    accuracy: float                          # fraction in [0, 1]
    seconds: float = 0.0
    epochs: float = 0.0
    achieved: Mapping[str, float] = field(default_factory=dict)   # achieved α per layer
    extra: Mapping[str, float] = field(default_factory=dict)      # e.g. test_accuracy


@dataclass(frozen=True)
class Evaluation:
    request: EvalRequest
    outcome: Outcome
    cached: bool = False                     # True when replayed from the cache/checkpoint

    @property
    def accuracy(self) -> float:
        return self.outcome.accuracy


class AccuracyOracle(Protocol):
    """Maps a request to an accuracy. Implementations: a real pruning backend
    (codesign.search.torch_oracle) or a synthetic function (codesign.search.synthetic)."""

    def evaluate(self, request: EvalRequest) -> Outcome:
        ...


class Executor(Protocol):
    def run(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        """Evaluate a batch of requests (in any order, possibly in parallel); results in order."""
        ...


ResultHook = Callable[[Evaluation], None]


class InProcessExecutor:
    """Runs requests sequentially in this process, with a cache and a JSON-lines checkpoint."""

    def __init__(self, oracle: AccuracyOracle, checkpoint: str | Path | None = None,
                 on_result: ResultHook | None = None) -> None:
        self.oracle = oracle
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.on_result = on_result
        self._cache: dict[str, Outcome] = {}
        self.computed: dict[str, int] = defaultdict(int)    # evaluations run in this session
        if self.checkpoint and self.checkpoint.exists():
            self._load()

    # -- cache and checkpoint -------------------------------------------------------------
    def _load(self) -> None:
        assert self.checkpoint is not None
        text = self.checkpoint.read_text()
        if text and not text.endswith("\n"):
            # Drop a torn last line so that new records do not get glued onto it.
            text = text[: text.rfind("\n") + 1]
            self.checkpoint.write_text(text)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        for line_no, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                self._cache[rec["key"]] = Outcome(
                    accuracy=float(rec["accuracy"]), seconds=float(rec.get("seconds", 0.0)),
                    epochs=float(rec.get("epochs", 0.0)),
                    achieved={k: float(v) for k, v in rec.get("achieved", {}).items()},
                    extra={k: float(v) for k, v in rec.get("extra", {}).items()})
            except (ValueError, KeyError, TypeError):
                raise ExecutorError(f"checkpoint {self.checkpoint} line {line_no} is not a "
                                    f"valid evaluation record; delete the file to start over")

    def _append(self, request: EvalRequest, outcome: Outcome) -> None:
        if self.checkpoint is None:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        rec = {"key": request.key, "kind": request.kind, "alphas": request.alpha_dict(),
               "accuracy": outcome.accuracy, "seconds": outcome.seconds,
               "epochs": outcome.epochs, "achieved": dict(outcome.achieved),
               "extra": dict(outcome.extra),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self.checkpoint.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def cached(self, request: EvalRequest) -> Outcome | None:
        return self._cache.get(request.key)

    # -- evaluation -----------------------------------------------------------------------
    def run(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        out = []
        for req in requests:
            hit = self._cache.get(req.key)
            if hit is not None:
                ev = Evaluation(req, hit, cached=True)
            else:
                outcome = self.oracle.evaluate(req)
                self._cache[req.key] = outcome
                self._append(req, outcome)
                self.computed[req.kind] += 1
                ev = Evaluation(req, outcome, cached=False)
            if self.on_result:
                self.on_result(ev)
            out.append(ev)
        return out

    def evaluate(self, kind: str, alphas: Mapping[str, float] | None = None) -> Evaluation:
        return self.run([EvalRequest.make(kind, alphas)])[0]
