"""Whether a compression run's model is at chance, before or after compression, with the likely
fix (issue 19): an untrained export, or a pruned model that too little training (or a wrong
learning rate) left guessing, otherwise ships with exit 0. Torch-free; the metrics are
pruning.tasks' (accuracy, perplexity, agreement) and the interval is pruning.verdict's.

- classify, and distill's top-1 agreement: at chance when 1/classes is inside the metric's
  Wilson interval or above it (the interval's low end is at most 1/classes);
- lm: at chance when the perplexity is at least 0.9 x the vocabulary (uniform guessing over the
  vocabulary has perplexity equal to its size).
A distilled model agrees with itself before compression, and cosine agreement has no chance
level: neither is judged.
"""
from __future__ import annotations

from pruning.verdict import wilson_interval

UNIFORM_PERPLEXITY_SHARE = 0.9          # of the vocabulary: an lm this close to it is guessing


def at_chance(task: str, value: float, samples: int, classes: int) -> bool:
    """`value` (the task's metric over `samples`) is no better than guessing among `classes`."""
    if task == "lm":
        return value >= UNIFORM_PERPLEXITY_SHARE * classes
    return wilson_interval(value, samples)[0] <= 1 / classes


def chance_warnings(*, task: str, before: float, after: float, samples: int, classes: int | None,
                    class_like: bool = True, epochs: float, pretrain_epochs: float, lr: float) -> tuple[str, ...]:
    """One line per finding (none when the model is above chance, or chance is unknown: no
    class count, or a cosine agreement): the metric, chance, and the likely fix in flags."""
    from codesign.report.fmt import num, percent, span
    if not classes or classes < 2 or samples <= 0 or task == "distill" and not class_like:
        return ()
    if task == "lm":
        shown = lambda v: f"perplexity {num(v)}"
        chance = f"uniform guessing over {classes:,} tokens has perplexity {classes:,}"
    else:
        metric = "agreement with the dense model" if task == "distill" else "accuracy"
        shown = lambda v: f"{metric} {percent(v)} (95% interval {span(*wilson_interval(v, samples), percent)})"
        chance = f"chance is 1/{classes:,} = {percent(1 / classes)}"
    if task != "distill" and at_chance(task, before, samples, classes):
        fix = "an untrained export? train it first, or give --pretrain-epochs N"
        if pretrain_epochs > 0:
            fix = (f"{pretrain_epochs:g} epoch(s) of pretraining did not lift it: raise --pretrain-epochs, "
                   f"or try another --lr (now {lr:g})")
        return (f"the model is at chance before compression: {shown(before)}; {chance}: {fix}",)
    if not at_chance(task, after, samples, classes):
        return ()
    fix = ("--epochs 0 retrained nothing after pruning: raise --epochs" if epochs == 0 else
           f"too little training or a wrong --lr: raise --epochs (now {epochs:g}), try another --lr "
           f"(now {lr:g}), or keep more weights")
    return (f"the compressed model is at chance: {shown(after)}; {chance}: {fix}",)
