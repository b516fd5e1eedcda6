"""pruning.safe_files: run folders are closed rooms. Nothing planted in one (a link, a FIFO, a
device) makes a write, delete or read reach outside it or block, and a refused write ends in
one error naming the file and the fix, the old file intact and no temporary left."""
import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from pruning.safe_files import (UnsafeFileError, WriteFaultError, append_file, check_out_file,
                                check_out_folder, delete_file, list_dir, make_dir, open_own_file,
                                read_file, write_file)


@pytest.fixture
def room(tmp_path):
    """A run folder and a file outside it that nothing may touch."""
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("keep me")
    return run, outside


def untouched(outside: Path) -> bool:
    return sorted(p.name for p in outside.iterdir()) == ["secret.txt"] and \
        (outside / "secret.txt").read_text() == "keep me"


def test_write_replaces_atomically_and_leaves_no_temporary(room):
    run, _ = room
    write_file(run / "a.json", "one", within=run)
    write_file(run / "a.json", b"two", within=run)
    write_file(run / "sub" / "b.bin", lambda f: f.write(b"\x00\x01"), within=run)
    assert (run / "a.json").read_text() == "two" and (run / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    (run / "a.json.tmp").write_text("left by a killed run")           # a regular leftover is replaced
    write_file(run / "a.json", "three", within=run)
    assert sorted(os.listdir(run)) == ["a.json", "sub"]


@pytest.mark.parametrize("name", ["a.json", "a.json.tmp"])
def test_a_link_at_a_file_or_its_temporary_is_refused(room, name):
    run, outside = room
    (run / name).symlink_to(outside / "secret.txt")
    with pytest.raises(UnsafeFileError, match=f"{name} is a symbolic link .*delete it"):
        write_file(run / "a.json", "x", within=run)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        append_file(run / name, b"x\n", within=run)
    assert untouched(outside)


def test_a_linked_folder_below_the_run_folder_or_the_run_folder_itself_is_refused(room):
    run, outside = room
    (run / "figures").symlink_to(outside)
    with pytest.raises(UnsafeFileError, match="figures is a symbolic link .* own folder"):
        write_file(run / "figures" / "x.png", b"png", within=run)
    with pytest.raises(UnsafeFileError):
        make_dir(run / "figures" / "deeper", within=run)
    with pytest.raises(UnsafeFileError):
        delete_file(run / "figures" / "secret.txt", within=run)
    linked_run = run.parent / "linked-run"
    linked_run.symlink_to(outside)
    with pytest.raises(UnsafeFileError, match="linked-run is a symbolic link"):
        write_file(linked_run / "report.html", "x", within=linked_run)
    assert untouched(outside)


def test_fifo_device_and_folder_where_a_file_belongs_are_refused(room):
    run, outside = room
    os.mkfifo(run / "fifo.json")
    (run / "zero.json").symlink_to("/dev/zero")
    (run / "dir.json").mkdir()
    t0 = time.perf_counter()
    for name, kind in (("fifo.json", "a FIFO"), ("zero.json", "a symbolic link"), ("dir.json", "a folder")):
        with pytest.raises(UnsafeFileError, match=kind):
            read_file(run / name, 1000, within=run)
        with pytest.raises(UnsafeFileError, match=kind):
            write_file(run / name, "x", within=run)
    with pytest.raises(UnsafeFileError, match="a FIFO"):
        open_own_file(run / "fifo.json", within=run)
    assert time.perf_counter() - t0 < 5                              # nothing blocked
    assert (run / "fifo.json").is_fifo() and (run / "zero.json").is_symlink()


def test_reads_are_capped(room):
    run, _ = room
    (run / "big.json").write_bytes(b"x" * 2000)
    assert read_file(run / "big.json", 2000, within=run) == b"x" * 2000
    with pytest.raises(UnsafeFileError, match="more than"):
        read_file(run / "big.json", 1999, within=run)


def test_delete_removes_a_link_not_its_target_and_refuses_a_folder(room):
    run, outside = room
    (run / "old.png").symlink_to(outside / "secret.txt")
    assert delete_file(run / "old.png", within=run)
    assert not os.path.lexists(run / "old.png") and untouched(outside)
    assert not delete_file(run / "missing.png", within=run)
    (run / "folder.png").mkdir()
    with pytest.raises(UnsafeFileError, match="a folder"):
        delete_file(run / "folder.png", within=run)
    assert list_dir(run, within=run) == ["folder.png"] and list_dir(run / "nope", within=run) == []


def test_an_oserror_while_writing_is_one_error_with_the_old_file_intact(room):
    run, _ = room
    write_file(run / "ckpt.pt", b"old", within=run)

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(WriteFaultError, match=r"cannot write .*ckpt.pt: no space left; free space on"):
        write_file(run / "ckpt.pt", full, within=run)
    assert (run / "ckpt.pt").read_bytes() == b"old" and sorted(os.listdir(run)) == ["ckpt.pt"]


def test_a_failed_append_is_cut_back_to_whole_records(room, monkeypatch):
    run, _ = room
    append_file(run / "log.jsonl", b'{"a": 1}\n', within=run)
    real_write = os.write

    def short_then_full(fd, data):
        real_write(fd, bytes(data[:3]))
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(WriteFaultError, match="no space left"):
        append_file(run / "log.jsonl", b'{"b": 2}\n', within=run)
    monkeypatch.undo()
    assert (run / "log.jsonl").read_bytes() == b'{"a": 1}\n'


def test_output_paths_a_user_gives(room, tmp_path):
    run, outside = room
    for bad, message in (("", "--out is empty"), (outside / "secret.txt", "is a file, not a folder")):
        with pytest.raises(UnsafeFileError, match=message):
            check_out_folder(bad, "--out")
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(UnsafeFileError, match=r"--out .*link is a symbolic link \(to .*outside\); give the folder itself"):
        check_out_folder(tmp_path / "link", "--out")
    with pytest.raises(UnsafeFileError, match="cannot be made: .*secret.txt is not a folder"):
        check_out_folder(outside / "secret.txt" / "run", "--out")
    assert check_out_folder(tmp_path / "new" / "run", "--out") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()                          # checked, not made
    (run / "report.html").symlink_to(outside / "secret.txt")
    (run / "figures").write_text("not a folder")
    with pytest.raises(UnsafeFileError, match="report.html is a symbolic link"):
        check_out_folder(run, "--report", ("report.html", "figures/"))
    with pytest.raises(UnsafeFileError, match="figures is a file where codesign keeps its own folder"):
        check_out_folder(run, "--report", ("figures/",))
    with pytest.raises(UnsafeFileError, match="--csv is empty"):
        check_out_file("", "--csv")
    with pytest.raises(UnsafeFileError, match="--out .*plan.json is a symbolic link"):
        check_out_file(_link(run / "plan.json", outside), "--out")
    with pytest.raises(UnsafeFileError, match="is a folder, not a file"):
        check_out_file(outside, "--csv")
    assert untouched(outside)


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


@pytest.fixture
def tmpfs(mount_tmpfs):
    """A small tmpfs of our own."""
    return mount_tmpfs("64k")


def test_a_full_disk_and_a_read_only_one_are_one_error_each(tmpfs):
    write_file(tmpfs / "ckpt.pt", b"old" * 100, within=tmpfs)
    with pytest.raises(WriteFaultError, match="ckpt.pt: no space left; free space on the disk of"):
        write_file(tmpfs / "ckpt.pt", os.urandom(1 << 20), within=tmpfs)
    assert (tmpfs / "ckpt.pt").read_bytes() == b"old" * 100 and os.listdir(tmpfs) == ["ckpt.pt"]

    def library(f):          # torch or zipfile turning the OSError of a write into their own error
        try:
            f.write(os.urandom(1 << 20))
        except OSError as exc:
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from exc
    with pytest.raises(WriteFaultError, match="model.pt: no space left"):
        write_file(tmpfs / "model.pt", library, within=tmpfs)
    assert os.listdir(tmpfs) == ["ckpt.pt"]
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(WriteFaultError, match="read-only; make .* writable"):
        write_file(tmpfs / "ckpt.pt", b"new", within=tmpfs)
    with pytest.raises(UnsafeFileError, match="is not writable"):
        check_out_folder(tmpfs, "--out")
    assert (tmpfs / "ckpt.pt").read_bytes() == b"old" * 100
