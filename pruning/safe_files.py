"""The one way codesign writes, replaces, deletes and reads its own files in a run or report
folder, and the one check of an output path given by a user (pure Python: `pruning` and
`codesign` both use it, cost-only commands included).

Run folders are shared, copied and downloaded, so what is already in one is not trusted: a
symbolic link or a FIFO planted where a file of ours belongs would make a plain open() write,
truncate or delete outside the folder, or block forever. So here:

- every folder below a run folder (`within`, itself included) is opened without following
  links, one component at a time through directory descriptors, so a linked `figures/` or
  `checkpoints/` is refused, not written through;
- a file is written to a temporary created with O_EXCL|O_NOFOLLOW beside it, synced, and renamed
  over the old one: a crash or a full disk leaves the old file, never half a new one;
- a link, FIFO, device, socket or folder where a file of ours belongs is refused, never
  replaced, with one line naming it (UnsafeFileError);
- reads open with O_NOFOLLOW|O_NONBLOCK, accept only a regular file and only up to the size
  limit its caller states for that kind of file (a FIFO or /dev/zero cannot hang or exhaust us);
- deletes unlink the name itself, never what a link points to;
- an OSError while writing (full disk, read-only file system, permission) is one
  WriteFaultError naming the file and the fix, with the temporary removed.
"""
from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

from pruning.errors import PruningError

MIB = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
TMP_SUFFIX = ".tmp"

Data = Union[bytes, str, Callable[[BinaryIO], object]]
PathLike = Union[str, Path]


class UnsafeFileError(PruningError):
    """A link, FIFO, device, socket (or a file of the wrong kind) where codesign keeps its own
    file or folder, or an output path that cannot be one."""


class WriteFaultError(PruningError):
    """The operating system refused a write: a full disk, a read-only file system, no permission."""


# -- refusals and faults: one line each ----------------------------------------------------------
def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file")):
        if test(mode):
            return name
    return "a special file"


def _refusal(shown: Path, st: os.stat_result, expected: str, target: str | None = None) -> UnsafeFileError:
    what = _kind(st) + (f" (to {target})" if target else "")
    return UnsafeFileError(f"{shown} is {what} where codesign keeps its own {expected}; codesign does not "
                           "write or read through it: delete it, or use another folder")


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _link_target(name: str, dir_fd: int) -> str | None:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


def _refuse_unless(kind_ok: Callable[[int], bool], name: str, dir_fd: int, shown: Path,
                   expected: str) -> os.stat_result | None:
    """The entry's lstat (None when missing); refused unless it is of the expected kind."""
    st = _lstat(name, dir_fd)
    if st is not None and not kind_ok(st.st_mode):
        target = _link_target(name, dir_fd) if stat.S_ISLNK(st.st_mode) else None
        raise _refusal(shown, st, expected, target)
    return st


def _fault(path: Path, exc: OSError) -> WriteFaultError:
    folder = path.parent
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"no space left; free space on the disk of {folder} and run again"
    elif exc.errno == errno.EROFS:
        fix = f"the file system is read-only; make {folder} writable or use another folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        fix = f"permission denied; make {folder} writable or use another folder"
    else:
        fix = f"{exc.strerror or type(exc).__name__}; check {folder} and run again"
    return WriteFaultError(f"cannot write {path}: {fix}")


# -- folders ---------------------------------------------------------------------------------------
def _open_folder(path: Path, within: PathLike | None, create: bool) -> int:
    """A descriptor of folder `path`. Below `within` (and `within` itself) no link is followed
    and missing folders are made (with `create`); above it, and without `within`, the path is
    the user's and is opened as the system resolves it."""
    path = Path(os.path.abspath(path))
    if within is None:
        if create:
            os.makedirs(path, exist_ok=True)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    root = Path(os.path.abspath(within))
    if not path.is_relative_to(root):
        raise UnsafeFileError(f"{path} is not inside the run folder {within}; give a path below it")
    parts = path.relative_to(root).parts
    if create:
        os.makedirs(root.parent, exist_ok=True)
    fd = os.open(root.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    shown = Path(within).parent                     # errors name paths as the caller gave them
    for name in ((root.name,) if root.name else ()) + parts:
        shown = shown / name
        try:
            fd = _step(fd, name, shown, create)
        except BaseException:
            os.close(fd)
            raise
    return fd


def _step(fd: int, name: str, shown: Path, create: bool) -> int:
    """Descend from folder `fd` into `name` (closing `fd`), never through a link."""
    if _refuse_unless(stat.S_ISDIR, name, fd, shown, "folder") is None:
        if not create:
            raise FileNotFoundError(errno.ENOENT, "no such folder", str(shown))
        try:
            os.mkdir(name, dir_fd=fd)
        except FileExistsError:
            _refuse_unless(stat.S_ISDIR, name, fd, shown, "folder")
    new = os.open(name, _DIR_FLAGS, dir_fd=fd)      # O_NOFOLLOW: a link put here since is ELOOP
    os.close(fd)
    return new


@contextmanager
def _folder(path: Path, within: PathLike | None, create: bool) -> Iterator[int]:
    fd = _open_folder(path, within, create)
    try:
        yield fd
    finally:
        os.close(fd)


def make_dir(path: PathLike, *, within: PathLike | None = None) -> Path:
    """Folder `path` (made when missing); under `within`, refused where a link or file stands."""
    path = Path(path)
    try:
        with _folder(path, within, create=True):
            return path
    except OSError as exc:
        raise _fault(path, exc) from None


def list_dir(path: PathLike, *, within: PathLike | None = None) -> list[str]:
    """The names in folder `path` ([] when it is missing), never through a link."""
    try:
        with _folder(Path(path), within, create=False) as fd:
            return sorted(os.listdir(fd))
    except FileNotFoundError:
        return []


# -- writing ---------------------------------------------------------------------------------------
class _Sink:
    """The temporary file as a writer's file object; remembers the first OSError of a write,
    which a library (torch, zipfile) may re-raise as another exception."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str):
        return getattr(self._fh, name)


def _fill(fh: BinaryIO, data: Data) -> None:
    sink = _Sink(fh)
    try:
        if callable(data):
            data(sink)          # type: ignore[arg-type]
        else:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError:
        raise
    except Exception:
        if sink.error is not None:
            raise sink.error from None
        raise


def write_file(path: PathLike, data: Data, *, within: PathLike | None = None) -> Path:
    """Write `data` (bytes, text as UTF-8, or a function given the open binary file) to `path`
    atomically: a temporary `NAME.tmp` beside it, synced, then renamed over it. Refuses a link,
    FIFO, device, socket or folder at `path` or at its temporary's name (a regular leftover
    temporary of a killed run is replaced); `within`: the run folder `path` is in."""
    path = Path(path)
    tmp = path.name + TMP_SUFFIX
    try:
        with _folder(path.parent, within, create=True) as dir_fd:
            _refuse_unless(stat.S_ISREG, path.name, dir_fd, path, "file")
            if _refuse_unless(stat.S_ISREG, tmp, dir_fd, path.with_name(tmp), "file") is not None:
                os.unlink(tmp, dir_fd=dir_fd)
            fd = os.open(tmp, _TMP_FLAGS, 0o666, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as fh:
                    _fill(fh, data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
                raise
    except OSError as exc:
        raise _fault(path, exc) from None
    return path


def append_file(path: PathLike, data: bytes, *, within: PathLike | None = None) -> None:
    """Append `data` to the regular file `path` (made when missing) and sync it; a failed
    append is cut off again, so the file keeps only whole records."""
    path = Path(path)
    try:
        with _folder(path.parent, within, create=True) as dir_fd:
            _refuse_unless(stat.S_ISREG, path.name, dir_fd, path, "file")
            fd = os.open(path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_NONBLOCK | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
            try:
                size = _regular(fd, path, "file").st_size
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, size)
                    raise
            finally:
                os.close(fd)
    except OSError as exc:
        raise _fault(path, exc) from None


def open_own_file(path: PathLike, *, within: PathLike | None = None) -> int:
    """A read-write descriptor of the regular file `path` (made when missing, not truncated),
    for a file that is held open (the run lock); the caller closes it."""
    path = Path(path)
    try:
        with _folder(path.parent, within, create=True) as dir_fd:
            _refuse_unless(stat.S_ISREG, path.name, dir_fd, path, "file")
            fd = os.open(path.name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         0o666, dir_fd=dir_fd)
    except OSError as exc:
        raise _fault(path, exc) from None
    try:
        _regular(fd, path, "file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_fault(path: PathLike, exc: OSError) -> WriteFaultError:
    """The one-line error of an OSError while writing `path` (for writes through an open
    descriptor, such as the lock's)."""
    return _fault(Path(path), exc)


def delete_file(path: PathLike, *, within: PathLike | None = None) -> bool:
    """Remove the file (or link) named `path`, never what a link points to; refuses a folder.
    False when there was nothing to remove."""
    path = Path(path)
    try:
        with _folder(path.parent, within, create=False) as dir_fd:
            st = _refuse_unless(lambda m: not stat.S_ISDIR(m), path.name, dir_fd, path, "file")
            if st is None:
                return False
            os.unlink(path.name, dir_fd=dir_fd)
            return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _fault(path, exc) from None


# -- reading ---------------------------------------------------------------------------------------
def _regular(fd: int, shown: Path, expected: str) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _refusal(shown, st, expected)
    return st


def _too_large(path: Path, size: int, limit: int) -> UnsafeFileError:
    return UnsafeFileError(f"{path} holds more than {limit / MIB:.3g} MiB ({size:,} bytes), more than "
                           "codesign writes there, so it is not one of its files: delete it, or use "
                           "another folder")


@contextmanager
def open_file(path: PathLike, limit: int | None = None, *,
              within: PathLike | None = None) -> Iterator[BinaryIO]:
    """Our file `path` open for reading (binary): a regular file, not a link, FIFO or device,
    of at most `limit` bytes. A missing file raises FileNotFoundError."""
    path = Path(path)
    with _folder(path.parent, within, create=False) as dir_fd:
        if _refuse_unless(stat.S_ISREG, path.name, dir_fd, path, "file") is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
        fd = os.open(path.name, _READ_FLAGS, dir_fd=dir_fd)
    try:
        st = _regular(fd, path, "file")
        if limit is not None and st.st_size > limit:
            raise _too_large(path, st.st_size, limit)
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def read_file(path: PathLike, limit: int, *, within: PathLike | None = None) -> bytes:
    """The bytes of our file `path`, at most `limit` of them (see open_file)."""
    with open_file(path, limit, within=within) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:                              # grew since it was measured
        raise _too_large(Path(path), len(data), limit)
    return data


# -- output paths a user gives ---------------------------------------------------------------------
def _given(path: PathLike | None, flag: str, what: str) -> Path:
    if path is None or not os.fspath(path).strip():
        raise UnsafeFileError(f"{flag} is empty; give {what}")
    return Path(os.fspath(path))


def _creatable(path: Path, flag: str) -> None:
    """A missing output path can be made: its nearest existing ancestor is a writable folder."""
    ancestor = Path(os.path.abspath(path)).parent
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UnsafeFileError(f"{flag} {path} cannot be made: {ancestor} is not a folder; give another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UnsafeFileError(f"{flag} {path} cannot be made: {ancestor} is not writable; make it "
                              "writable or give another path")


def _symlink_refusal(path: Path, flag: str, what: str) -> UnsafeFileError:
    return UnsafeFileError(f"{flag} {path} is a symbolic link (to {os.readlink(path)}); give {what} "
                           f"itself ({os.path.realpath(path)}) or another path")


def _existing_output(out: Path, flag: str, what: str) -> os.stat_result | None:
    """The lstat of an output path that exists (a link refused), or None for one that does not
    exist yet and can be made."""
    try:
        st = os.lstat(out)
    except (FileNotFoundError, NotADirectoryError):
        _creatable(out, flag)
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _symlink_refusal(out, flag, what)
    return st


def check_out_folder(path: PathLike | None, flag: str = "--out", names: tuple[str, ...] = ()) -> Path:
    """An output folder, checked before any work: not empty, not a link, a writable folder or
    one that can be made; and none of `names` (what the command writes in it, a folder's name
    ending in "/") is a link or a file of another kind."""
    out = _given(path, flag, "a folder")
    st = _existing_output(out, flag, "the folder")
    if st is None:
        return out
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFileError(f"{flag} {out} is {_kind(st)}, not a folder; give a folder")
    if not os.access(out, os.W_OK | os.X_OK):
        raise UnsafeFileError(f"{flag} {out} is not writable; make it writable or give another folder")
    with _folder(out, out, create=False) as fd:
        for name in names:
            folder = name.endswith("/")
            _refuse_unless(stat.S_ISDIR if folder else stat.S_ISREG, name.rstrip("/"), fd,
                           out / name.rstrip("/"), "folder" if folder else "file")
    return out


def check_out_file(path: PathLike | None, flag: str) -> Path:
    """An output file, checked before any work: not empty, not a link, a folder or a special
    file, and a regular file or one that can be made."""
    out = _given(path, flag, "a file name")
    st = _existing_output(out, flag, "the file")
    if st is None:
        return out
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(f"{flag} {out} is {_kind(st)}, not a file; give a file name")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UnsafeFileError(f"{flag} {out}: its folder is not writable; make it writable or give another path")
    return out
