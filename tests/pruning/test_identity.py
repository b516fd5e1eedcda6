"""A run's fingerprint names files by their contents (pruning.identity)."""
from __future__ import annotations

import os

from pruning.identity import file_identity
from pruning.pipeline import PruneJob


def test_a_file_is_named_by_its_contents_whatever_the_path_to_it(tmp_path, monkeypatch):
    (tmp_path / "m.onnx").write_bytes(b"one")
    absolute = file_identity(tmp_path / "m.onnx")
    monkeypatch.chdir(tmp_path)
    assert file_identity("m.onnx") == absolute and absolute.startswith("m.onnx@")
    (tmp_path / "m.onnx").write_bytes(b"two")
    os.utime(tmp_path / "m.onnx", ns=(1, 1))                    # even with an old timestamp
    assert file_identity("m.onnx") != absolute
    assert file_identity("vgg7") == "vgg7"                      # no such path: a name, as given


def test_a_directory_is_named_by_every_file_under_it(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x")
    before = file_identity(tmp_path / "d")
    (tmp_path / "d" / "b").write_bytes(b"y")
    assert file_identity(tmp_path / "d") != before


def test_a_prune_run_does_not_resume_with_a_model_file_rewritten_in_place(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"first")
    job = PruneJob(str(path), data="digits", alpha=0.5)
    before = job.fingerprint()
    path.write_bytes(b"second")
    assert job.fingerprint() != before
    assert PruneJob("lenet5", data="digits", alpha=0.5).fingerprint() == \
        PruneJob("lenet5", data="digits", alpha=0.5).fingerprint()
