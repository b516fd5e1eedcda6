"""The one door every accuracy evaluation of a search goes through.

A search never trains or evaluates a model itself: it builds `EvalRequest`s (what kind of run,
at which per-layer keep fractions α and patterns) and hands a batch of them to an `Executor`.
`InProcessExecutor` runs them one after the other in this process; `codesign.ray_engine.
RayExecutor` runs a batch as Ray tasks. Every evaluation is seeded by its request (`seed`),
so its outcome does not depend on where or in which order it runs, and the searches are
deterministic functions of the outcomes they get: any executor gives the same plan.

Every outcome is appended to a JSON-lines log in the run directory as soon as it exists
(`EvaluationLog`); re-running an interrupted search replays finished evaluations from it and
computes only what is missing: that is the whole resume mechanism. The log is data only
(numbers, strings, base64 bit vectors), validated line by line.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from codesign.errors import CodesignError
from pruning.safe_files import append_file, read_file, write_file

# Kinds of evaluation, cheapest first. "reference": the uncompressed model's accuracy;
# "probe": a short sensitivity probe (one layer pruned, little or no retraining);
# "train": a short compression run at a candidate; "final": the full compression run whose
# model is the search's output.
KINDS = ("reference", "probe", "train", "final")
ALPHA_DIGITS = 4          # α vectors equal to 4 decimals are the same candidate
MAX_LOG_LINE = 64 << 20   # a log line longer than this is not one of ours
MAX_LOG_BYTES = 1 << 30   # nor a log longer than this (a search logs hundreds of evaluations)


class ExecutorError(CodesignError):
    """An evaluation request or checkpoint is malformed."""


@dataclass(frozen=True)
class EvalRequest:
    kind: str
    alphas: tuple[tuple[str, float], ...]     # sorted by name, rounded; absent layers stay dense
    patterns: tuple[tuple[str, str], ...] = ()  # structured layers only (absent: unstructured)

    @classmethod
    def make(cls, kind: str, alphas: Mapping[str, float] | None = None,
             patterns: Mapping[str, Any] | None = None) -> "EvalRequest":
        if kind not in KINDS:
            raise ExecutorError(f"evaluation kind {kind!r} is not one of {KINDS}")
        items = []
        for name, a in sorted((alphas or {}).items()):
            a = round(float(a), ALPHA_DIGITS)
            if not 0.0 < a <= 1.0:
                raise ExecutorError(f"keep fraction α={a} for layer {name!r} must be in (0, 1]")
            if a < 1.0:                   # α = 1 is dense: same candidate as leaving it out
                items.append((name, a))
        pruned = {n for n, _ in items}
        pats = tuple(sorted((n, str(p)) for n, p in (patterns or {}).items()
                            if n in pruned and str(p) != "unstructured"))
        return cls(kind, tuple(items), pats)

    @property
    def key(self) -> str:
        body: list[Any] = [self.kind, [[n, a] for n, a in self.alphas]]
        if self.patterns:
            body.append([[n, p] for n, p in self.patterns])
        return json.dumps(body, separators=(",", ":"))

    def alpha_dict(self) -> dict[str, float]:
        return dict(self.alphas)

    def pattern_dict(self) -> dict[str, str]:
        return dict(self.patterns)

    def seed(self, base: int) -> int:
        """The evaluation's own seed: the run's seed and the request, nothing else."""
        digest = hashlib.sha256(f"{base}|{self.key}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Outcome:
    """What an oracle returns for one request."""
    accuracy: float                          # fraction in [0, 1], on the validation split
    seconds: float = 0.0
    epochs: float = 0.0
    achieved: Mapping[str, float] = field(default_factory=dict)   # achieved α per layer
    extra: Mapping[str, float] = field(default_factory=dict)      # e.g. test_accuracy
    correct: str = ""                        # per-sample correctness, codesign.loop.verdict.pack
    test_correct: str = ""                   # the same on the test split (reference, final)
    measured: Mapping[str, Any] = field(default_factory=dict)     # costs with the real masks
    # final runs: the model the run started from (the plan's candidate, trained as its
    # confirming run was), judged on its own, so a search can ship it if the longer run lost
    start: "Outcome | None" = None

    def to_record(self) -> dict:
        rec = {"accuracy": self.accuracy, "seconds": self.seconds, "epochs": self.epochs,
               "achieved": dict(self.achieved), "extra": dict(self.extra),
               "correct": self.correct, "test_correct": self.test_correct,
               "measured": dict(self.measured)}
        if self.start is not None:
            rec["start"] = self.start.to_record()
        return rec

    @classmethod
    def from_record(cls, rec: Mapping, nested: bool = False) -> "Outcome":
        def number(x) -> float:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise ValueError("not a number")
            return float(x)
        measured = rec.get("measured", {})
        if not isinstance(measured, dict):
            raise ValueError("measured must be an object")
        for text in (rec.get("correct", ""), rec.get("test_correct", "")):
            if not isinstance(text, str):
                raise ValueError("correctness must be a string")
        return cls(accuracy=number(rec["accuracy"]), seconds=number(rec.get("seconds", 0.0)),
                   epochs=number(rec.get("epochs", 0.0)),
                   achieved={str(k): number(v) for k, v in rec.get("achieved", {}).items()},
                   extra={str(k): number(v) for k, v in rec.get("extra", {}).items()},
                   correct=rec.get("correct", ""), test_correct=rec.get("test_correct", ""),
                   measured=_plain(measured), start=cls._start(rec.get("start"), nested))

    @classmethod
    def _start(cls, rec, nested: bool) -> "Outcome | None":
        if rec is None:
            return None
        if nested or not isinstance(rec, dict):
            raise ValueError("start must be one outcome object")
        return cls.from_record(rec, nested=True)


def _plain(value, depth: int = 0):
    """JSON data of numbers, strings, bools, lists and objects (nothing else, bounded depth)."""
    if depth > 8:
        raise ValueError("nested too deeply")
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"unexpected {type(value).__name__}")


@dataclass(frozen=True)
class Evaluation:
    request: EvalRequest
    outcome: Outcome
    cached: bool = False                     # True when replayed from the cache/checkpoint

    @property
    def accuracy(self) -> float:
        return self.outcome.accuracy


class AccuracyOracle(Protocol):
    """Maps a request to an outcome. Implementations: a real pruning backend
    (codesign.loop.torch_oracle) or a synthetic function (codesign.loop.synthetic)."""

    def evaluate(self, request: EvalRequest) -> Outcome:
        ...


class Executor(Protocol):
    def run(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        """Evaluate a batch of requests (in any order, possibly in parallel); results in order."""
        ...


ResultHook = Callable[[Evaluation], None]
StartHook = Callable[[EvalRequest], None]      # an evaluation that is not in the log begins


class EvaluationLog:
    """The outcomes of a run directory: a cache in memory, a JSON-lines file on disk."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.outcomes: dict[str, Outcome] = {}
        if self.path and os.path.lexists(self.path):       # a link there is refused, not followed
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        raw = read_file(self.path, MAX_LOG_BYTES, within=self.path.parent)
        if raw and not raw.endswith(b"\n"):
            # A torn last line (killed mid-write): drop it so new records are not glued on.
            raw = raw[: raw.rfind(b"\n") + 1]
            write_file(self.path, raw, within=self.path.parent)
        for line_no, line in enumerate(raw.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                if len(line) > MAX_LOG_LINE:
                    raise ValueError("line too long")
                rec = json.loads(line.decode("utf-8"))
                if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
                    raise ValueError("not a record")
                self.outcomes[rec["key"]] = Outcome.from_record(rec)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError, UnicodeDecodeError):
                raise ExecutorError(f"checkpoint {self.path} line {line_no} is not a valid evaluation "
                                    f"record; delete the file to start over") from None

    def get(self, request: EvalRequest) -> Outcome | None:
        return self.outcomes.get(request.key)

    def add(self, request: EvalRequest, outcome: Outcome) -> None:
        self.outcomes[request.key] = outcome
        if self.path is None:
            return
        rec = {"key": request.key, "kind": request.kind, "alphas": request.alpha_dict(),
               "patterns": request.pattern_dict(), **outcome.to_record(),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        append_file(self.path, (json.dumps(rec, allow_nan=True) + "\n").encode("utf-8"),
                    within=self.path.parent)


class InProcessExecutor:
    """Runs requests sequentially in this process, through the evaluation log."""
    name = "local"
    workers = 1

    def __init__(self, oracle: AccuracyOracle, checkpoint: str | Path | None = None,
                 on_result: ResultHook | None = None, on_start: StartHook | None = None) -> None:
        self.oracle = oracle
        self.log = EvaluationLog(checkpoint)
        self.on_result = on_result
        self.on_start = on_start or (lambda _request: None)
        self.computed: dict[str, int] = defaultdict(int)    # evaluations run in this session

    def cached(self, request: EvalRequest) -> Outcome | None:
        return self.log.get(request)

    def _finish(self, request: EvalRequest, outcome: Outcome, cached: bool) -> Evaluation:
        if not cached:
            self.log.add(request, outcome)
            self.computed[request.kind] += 1
        ev = Evaluation(request, outcome, cached=cached)
        if self.on_result:
            self.on_result(ev)
        return ev

    def run(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        out = []
        for req in requests:
            hit = self.log.get(req)
            if hit is None:
                self.on_start(req)
            out.append(self._finish(req, hit if hit is not None else self.oracle.evaluate(req), hit is not None))
        return out

    def evaluate(self, kind: str, alphas: Mapping[str, float] | None = None) -> Evaluation:
        return self.run([EvalRequest.make(kind, alphas)])[0]
