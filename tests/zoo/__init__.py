"""Test-fixture model zoo: real-world-style torch models exported to ONNX, with MAC and weight
counts made independently of any ONNX graph walk.  See README.md in this folder.

    from tests.zoo.models import build, NAMES          # (module, example_inputs)
    from tests.zoo.export import export, info, ZOO, ExportFailed
    from tests.zoo.counts import independent_counts, OCR_COUNTS
    from tests.zoo.ocr import locate_ocr_models

(``zoo.models`` etc. when ``tests/`` is on sys.path, as pytest's ``pythonpath`` sets.)  The
package itself imports nothing, so ``export`` stays the submodule, not the function.
"""
