"""Errors of the orchestration layer; each message names the thing and the fix."""


class CodesignError(Exception):
    """Base class for user-fixable problems (bad model file, bad option, missing input)."""


class ModelImportError(CodesignError):
    """An ONNX file cannot be read or turned into compute layers."""


class InputShapeError(CodesignError):
    """An input shape is dynamic, malformed, or does not fit the model."""


class ArgumentError(CodesignError):
    """An argument of the Python API has the wrong type or an impossible value (codesign.arguments)."""
