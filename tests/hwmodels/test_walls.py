"""The hardware model's tests need only the hardware model: no importer, no compression backend,
so `pytest tests/hwmodels` checks hwmodels alone (real networks come as data, network_shapes)."""
import ast
from pathlib import Path

HERE = Path(__file__).parent
FORBIDDEN = ("codesign", "pruning", "torch", "onnx", "onnxruntime")


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_hwmodels_tests_import_no_package_beyond_the_wall():
    files = sorted(HERE.glob("*.py")) + [HERE.parent / "network_shapes.py"]
    crossing = {p.name: sorted(_imported(p) & set(FORBIDDEN)) for p in files}
    assert len(files) > 10 and not any(crossing.values()), {k: v for k, v in crossing.items() if v}


def test_the_scan_sees_a_crossing(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("def f():\n    from codesign.graph import load_network\n")
    assert "codesign" in _imported(planted)
