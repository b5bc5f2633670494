"""The batch's INPUTS expanded into videos: video files as given, folders searched (sub-folders included) for
files with a video extension, and list files (one path per line) read in place."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BadInput

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg",
                              ".ts", ".mts", ".m2ts", ".3gp", ".ogv"})
LIST_EXTENSIONS = frozenset({".txt", ".lst", ".list"})


def _folder_videos(folder: Path, skip: Path | None) -> list[Path]:
    """Videos under `folder` in path order; hidden folders and the batch's own output folder are not entered
    (an overlay written there would otherwise be captured by the next run)."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or (here / d).resolve() != skip))
        found += [here / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    return found


def _list_entries(listing: Path) -> list[str]:
    try:
        text = listing.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read the list {listing}: {getattr(exc, 'strerror', None) or exc}") from None
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def expand_inputs(inputs: list[str], out_dir: str | os.PathLike | None = None) -> tuple[list[Path], list[str]]:
    """(videos, warnings). Videos are absolute paths, each once, in the order given (a folder's in path
    order). A path that does not exist is kept: its capture fails with "video not found", in the manifest
    like any other failure. A list file's relative paths are taken from the list's folder; a list inside a
    list is not followed. BadInput when nothing at all is found."""
    skip = Path(out_dir).resolve() if out_dir is not None else None
    videos: list[Path] = []
    warnings: list[str] = []
    seen: set[Path] = set()

    def add(path: Path, from_list: bool) -> None:
        if path.is_dir():
            found = _folder_videos(path, skip)
            if not found:
                warnings.append(f"no videos in folder {path}")
            for v in found:
                add(v, True)
            return
        if not from_list and path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
            for entry in _list_entries(path):
                p = Path(entry).expanduser()
                add(p if p.is_absolute() else path.parent / p, True)
            return
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            videos.append(Path(os.path.abspath(path)))

    for arg in inputs:
        add(Path(arg).expanduser(), False)
    if not videos:
        raise BadInput("no videos found in " + ", ".join(inputs))
    return videos, warnings
