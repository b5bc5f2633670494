"""`engine lift`: 2D takes in, 3D takes out, without the video: the capture's own lifting step
(`capture.lift_takes`) on 2D a user may have corrected. Several takes of one video are lifted together, in
one world frame, as a capture of several people places them."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BadInput
from .fileio import check_output, staged_outputs
from .progress import Progress
from .take import read_take, write_take

THREE_D = ("joint_names", "parents", "rest_offsets", "joints3d", "rotations", "contacts")


def run_lift(takes: list[str], output: str, progress: Progress | None = None) -> list[str]:
    """Lift `takes` (paths of takes with 2D) and write the 3D takes; returns the paths written.

    One take: `output` is the file to write. Several: `output` is a folder (made if missing) and each take
    keeps its file name there. Every target is checked before any work; all are written together at the end.
    """
    progress = progress or Progress("none")
    if len(takes) == 1:
        targets = [Path(output)]
    else:
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise BadInput(f"{output} is a file: with several takes, -o is a folder")
        targets = [folder / Path(t).name for t in takes]
        if len(set(targets)) != len(targets):
            raise BadInput("two of the takes have the same file name: one would overwrite the other in the folder")
    for source, target in zip(takes, targets):
        check_output(target, "3D take")
        if Path(source).resolve() == target.resolve():
            raise BadInput(f"the 3D take {target} would overwrite its 2D input; give another name")
    loaded = []
    for source in takes:
        take = read_take(source)
        for key in (*THREE_D, "format_version"):
            take.pop(key, None)
        if not take["valid"].any():
            raise BadInput(f"{Path(source).name}: no frame with a detected person, nothing to lift")
        loaded.append(take)
    videos = {str(t.get("source_video", "")) for t in loaded}
    if len(videos) > 1:
        raise BadInput(f"the takes come from different videos ({', '.join(sorted(videos))}): lift them one by one")
    from .capture import lift_takes

    lift_takes(loaded, progress)
    with staged_outputs():
        for take, target in zip(loaded, targets):
            write_take(target, take)
    return [os.fspath(t) for t in targets]
