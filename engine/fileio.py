"""Writing files safely: targets checked before any work, atomic writes (a temporary file beside the target,
then a rename), and a run's outputs committed together (`staged_outputs`), so a crash, an error or a signal
never leaves half a file, a stray temporary, or some outputs of a failed run.

Every problem with a target is a `BadInput` with a one-line message (never a raw PermissionError,
IsADirectoryError or FileExistsError). A read-only file is not replaced unless the caller says so.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import BadInput

_local = threading.local()  # .stage: the list of (tmp, target) renames a `staged_outputs` block holds back


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _existing_ancestor(folder: Path) -> Path:
    p = folder
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output(path: str | os.PathLike, what: str = "output", replace_read_only: bool = False) -> Path:
    """Check that `path` can be written, before any work is done; raise BadInput saying why not.

    The target must not be a folder, its folder must exist or be creatable (no file in the way), a file there
    must be writable (a read-only file is refused unless `replace_read_only`), and a file of that name must
    really be creatable in the folder (tried with a temporary file, removed at once: this catches read-only
    file systems, missing permissions and names the file system cannot store).
    Returns the target as a Path.
    """
    try:
        target = Path(os.fspath(path))
        name = target.name
        if not name or name in (".", ".."):
            raise BadInput(f"{what} {os.fspath(path)!r} is not a file name")
        if target.is_dir():
            raise BadInput(f"{what} {target} is a folder; give a file name inside it")
        if target.exists() and not target.is_file():
            raise BadInput(f"{what} {target} exists and is not a regular file")
        if target.is_file() and not replace_read_only and not target.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP
                                                                                          | stat.S_IWOTH):
            raise BadInput(f"{what} {target} is read-only; make it writable or choose another name")
        folder = target.parent
        base = _existing_ancestor(folder)
        if not base.is_dir():
            raise BadInput(f"{what} {target}: {base} is a file, not a folder")
        if base == folder:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            os.close(fd)
            os.unlink(tmp)
        elif not os.access(base, os.W_OK | os.X_OK):
            raise BadInput(f"{what} {target}: cannot create folders in {base} (permission denied)")
    except BadInput:
        raise
    except ValueError as exc:  # an embedded NUL and the like
        raise BadInput(f"{what} {os.fspath(path)!r} is not a usable file name ({exc})") from None
    except OSError as exc:
        raise BadInput(f"cannot write {what} {os.fspath(path)}: {_reason(exc)}") from None
    return target


def _prepare(path: str | os.PathLike, replace_read_only: bool) -> Path:
    target = check_output(path, replace_read_only=replace_read_only)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create folder {target.parent}: {_reason(exc)}") from None
    return target


def temporary_beside(path: str | os.PathLike, suffix: str = ".tmp", replace_read_only: bool = False) -> Path:
    """A new, empty, uniquely named hidden file beside `path` (after `check_output`), for writers that need a
    file name rather than a handle (the overlay's VideoWriter). Hand it to `commit` or `discard`."""
    target = _prepare(path, replace_read_only)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise BadInput(f"cannot write {target}: {_reason(exc)}") from None
    os.close(fd)
    return Path(tmp)


def commit(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give the finished temporary `tmp` its final name `path` (now, or at the end of `staged_outputs`)."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~umask)
        stage = getattr(_local, "stage", None)
        if stage is not None:
            stage.append((Path(tmp), Path(path)))
        else:
            os.replace(tmp, path)
    except OSError as exc:
        discard(tmp)
        raise BadInput(f"cannot write {os.fspath(path)}: {_reason(exc)}") from None


def discard(tmp: str | os.PathLike) -> None:
    """Remove a temporary file if it is there."""
    with contextlib.suppress(OSError):
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", replace_read_only: bool = False) -> Iterator[IO]:
    """Open a temporary file next to `path` for writing; on success rename it over `path`.

    The target is checked first (`check_output`: BadInput before anything is written). On an exception the
    temporary file is removed and `path` is left as it was. Inside `staged_outputs` the rename waits for the
    end of that block.
    """
    target = _prepare(path, replace_read_only)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise BadInput(f"cannot write {target}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
    except OSError as exc:  # disk full, quota, I/O error while writing
        discard(tmp)
        raise BadInput(f"cannot write {target}: {_reason(exc)}") from None
    except BaseException:
        discard(tmp)
        raise
    commit(tmp, target)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, replace_read_only: bool = False) -> None:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb", replace_read_only=replace_read_only) as fh:
        fh.write(data)


@contextlib.contextmanager
def staged_outputs() -> Iterator[None]:
    """Hold back the renames of every atomic write made in this block (this thread) until it ends well.

    On success all the outputs get their names one after another; on any exception (a signal's included)
    every temporary file is removed and no output of the block appears, the user's existing files unchanged.
    """
    outer = getattr(_local, "stage", None)
    stage: list[tuple[Path, Path]] = []
    _local.stage = stage
    try:
        yield
    except BaseException:
        _local.stage = outer
        for tmp, _ in stage:
            discard(tmp)
        raise
    _local.stage = outer
    if outer is not None:
        outer.extend(stage)
        return
    for k, (tmp, target) in enumerate(stage):
        try:
            os.replace(tmp, target)
        except BaseException as exc:
            for t, _ in stage[k:]:
                discard(t)
            if isinstance(exc, OSError):
                raise BadInput(f"cannot write {target}: {_reason(exc)}") from None
            raise
