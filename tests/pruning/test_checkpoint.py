"""Checkpoints cannot execute code and belong to exactly one run."""
import json
import pickle

import pytest
import torch

from pruning.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from pruning.errors import PruningError

MARKER = "/tmp/codesign-checkpoint-test-was-executed"


class Planted:
    def __reduce__(self):
        return (open, (MARKER, "w"))


def test_roundtrip_and_missing(tmp_path):
    payload = {"state": {"w": torch.arange(4.0)}, "step": 3, "history": [{"phase": "admm"}]}
    save_checkpoint(tmp_path, "admm-prune", payload, fingerprint="f1")
    back = load_checkpoint(tmp_path, "admm-prune", fingerprint="f1")
    assert torch.equal(back["state"]["w"], payload["state"]["w"]) and back["step"] == 3
    assert load_checkpoint(tmp_path, "other", fingerprint="f1") is None
    assert load_checkpoint(None, "admm-prune") is None


def test_a_checkpoint_of_other_settings_is_refused_before_reading_it(tmp_path):
    save_checkpoint(tmp_path, "k", {"x": 1}, fingerprint="run-a")
    (tmp_path / "k.pt").write_bytes(b"garbage that would fail to load")
    with pytest.raises(CheckpointMismatchError, match="other settings"):
        load_checkpoint(tmp_path, "k", fingerprint="run-b")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_planted_pickle_does_not_run(tmp_path):
    import os
    if os.path.exists(MARKER):
        os.remove(MARKER)
    save_checkpoint(tmp_path, "k", {"x": 1}, fingerprint="f")
    with open(tmp_path / "k.pt", "wb") as fh:
        pickle.dump({"x": Planted()}, fh)
    with pytest.raises(PruningError, match="not plain tensors"):
        load_checkpoint(tmp_path, "k", fingerprint="f")
    assert not os.path.exists(MARKER)


@pytest.mark.parametrize("sidecar", [b"", b"[1, 2]", b'{"format": "pickle"}', b"\xff\xfe", b"{" * 100000])
def test_a_bad_sidecar_is_one_clear_error(tmp_path, sidecar):
    save_checkpoint(tmp_path, "k", {"x": 1}, fingerprint="f")
    (tmp_path / "k.json").write_bytes(sidecar)
    with pytest.raises(PruningError, match="no valid sidecar k.json"):
        load_checkpoint(tmp_path, "k", fingerprint="f")


def test_a_tensor_file_without_sidecar_is_refused(tmp_path):
    torch.save({"x": 1}, tmp_path / "k.pt")
    with pytest.raises(PruningError, match="sidecar"):
        load_checkpoint(tmp_path, "k")


def test_keys_cannot_escape_the_directory(tmp_path):
    path = save_checkpoint(tmp_path / "ck", "../../etc/passwd", {"x": 1})
    assert path.parent == tmp_path / "ck"
    assert json.loads(path.with_suffix(".json").read_text())["key"] == "../../etc/passwd"
