"""Errors of the compression backends; each message names the thing and the fix."""


class PruningError(Exception):
    """Base class for user-fixable problems in pruning (bad targets, data, checkpoints)."""


class DatasetError(PruningError):
    """A dataset is missing or malformed; the message says how to install or fix it."""


class SparsityMismatchError(PruningError):
    """Achieved sparsity differs from the requested sparsity for some layer."""
