"""Every benchmark record names the commit it ran (benchmarks/_record.py)."""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _record import commit, provenance  # noqa: E402


def _git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_the_commit_is_the_short_hash_and_dirty_when_files_differ(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# results\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert commit(tmp_path) == f"commit {head}"
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# results\nmore\n")    # output, not code
    assert commit(tmp_path) == f"commit {head}"
    (tmp_path / "code.py").write_text("x = 2\n")
    assert commit(tmp_path) == f"commit {head}+dirty"
    _git(tmp_path, "checkout", "-q", "code.py")
    (tmp_path / "new.py").write_text("")
    assert commit(tmp_path) == f"commit {head}+dirty"


def test_outside_a_checkout_the_record_says_so(tmp_path):
    assert commit(tmp_path / "nowhere") == "commit unknown (no git checkout)"
    assert ", commit " in provenance()
