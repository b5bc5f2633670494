"""DIR/manifest.jsonl: the batch's record, one JSON object per line, one line per finished video.

Why JSON Lines: a finished video is one `write` of one line at the end of the file (O_APPEND), flushed and
fsynced before the batch goes on, so a crash or a kill loses at most the videos in flight and never a row
already written; a row torn by a crash can only be the last line, and the reader drops it. Rows never change
once written, so nothing is ever rewritten in place. A row holds nested data (the outputs) and free-text
errors without CSV's quoting rules, and `jq`, pandas (`read_json(lines=True)`) and a five-line Python loop
read it.

Rows (see DESIGN.md): `video` (resolved path), `size`, `mtime_ns`, `options` (hash of the capture options),
`status` (done | failed | skipped), `error` (one line, failed rows), `folder` and `outputs` (paths relative to
DIR), `frames`, `seconds`, `fps`, `valid_share`, `people`, `worker`, `finished` (UTC), `run` (which run of the
command wrote it). The last row with a video's key (video, size, mtime_ns, options) is its state: done or
skipped -> skipped by the next run (while its outputs are there), failed -> tried again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ..errors import BadInput

NAME = "manifest.jsonl"
LOCK = ".batch.lock"


def row_key(row: dict) -> tuple:
    return row.get("video"), row.get("size"), row.get("mtime_ns"), row.get("options")


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Every complete row, in the order written. Lines that are not a JSON object (a row a crash cut short)
    are left out."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BadInput(f"cannot read the manifest {path}: {exc.strerror}") from None
    rows = []
    for line in data.split(b"\n"):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def latest_rows(rows: list[dict]) -> dict[tuple, dict]:
    """The last row of every key."""
    return {row_key(r): r for r in rows}


class Manifest:
    """The manifest of one batch folder, held by one batch at a time (an flock on DIR/.batch.lock)."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.dir = Path(out_dir)
        self.path = self.dir / NAME
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BadInput(f"cannot use --out {out_dir}: {exc.strerror}") from None
        try:
            import fcntl

            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock, one batch per folder is then the user's care
            pass
        except OSError:
            os.close(self._lock)
            raise BadInput(f"another batch is running on {out_dir}; wait for it or choose another --out") from None
        self.rows = read_manifest(self.path)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            os.close(self._lock)
            raise BadInput(f"cannot write the manifest {self.path}: {exc.strerror}") from None
        # a row cut short by a crash is ended, so the next row starts on a line of its own
        with open(self.path, "rb") as fh:
            torn = fh.seek(0, os.SEEK_END) > 0 and fh.seek(-1, os.SEEK_END) >= 0 and fh.read(1) != b"\n"
        if torn:
            self._write(b"\n")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def append(self, row: dict) -> None:
        """Write `row` as one line and fsync it before returning."""
        line = json.dumps(row, ensure_ascii=False, separators=(", ", ": ")) + "\n"
        try:
            self._write(line.encode("utf-8"))
        except OSError as exc:
            raise BadInput(f"cannot write the manifest {self.path}: {exc.strerror}") from None
        self.rows.append(row)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._lock)

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
