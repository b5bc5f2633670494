"""The take file: one capture's result as a versioned .npz (contract in DESIGN.md).

Fields: format_version "MAJOR.MINOR"; fps; image_size (2,) width, height; joints2d (T,33,3) pixels + confidence;
valid (T,) bool; and, once lifted: joint_names (J,), parents (J,), rest_offsets (J,3) metres,
joints3d (T,J,3) metres world_yup, rotations (T,J,4) local quaternions w,x,y,z, contacts (T,4) bool.
Since 1.1: swapped (T,) uint8, the left/right corrections made to the detector's 2D before lifting
(`detector.swaps`): bit 1 the arms (elbow to fingers), bit 2 the legs (knee to toes), bit 4 the head and trunk
(eyes, ears, mouth, shoulders, hips) had their left and right keypoints exchanged in that frame; 7 is a
whole-body swap, 0 untouched. joints2d holds the corrected assignment. Takes written before 1.1 lack it
(no correction was made then).

Minor versions add fields; a reader reads every 1.x take, and one that needs a newer field checks for it.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import FormatError
from .fileio import atomic_write_bytes

FORMAT_VERSION = "1.1"
_MAJOR = FORMAT_VERSION.split(".")[0]
REQUIRED_2D = ("fps", "image_size", "joints2d", "valid")


def write_take(path: str | os.PathLike, take: dict) -> None:
    """Write `take` (a dict of arrays and scalars) atomically as an uncompressed .npz."""
    missing = [k for k in REQUIRED_2D if k not in take]
    if missing:
        raise ValueError(f"take is missing {', '.join(missing)}")
    arrays = {k: np.asarray(v) for k, v in take.items() if v is not None}
    arrays["format_version"] = np.asarray(FORMAT_VERSION)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_take(path: str | os.PathLike) -> dict:
    """Read a take; raise FormatError for a damaged file or an unknown major version."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"take file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            take = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise FormatError(f"{path.name} is not a readable take file ({exc})") from None
    if "format_version" not in take:
        raise FormatError(f"{path.name} has no format_version: not a Monocap take")
    version = str(take["format_version"])
    if version.split(".")[0] != _MAJOR:
        raise FormatError(
            f"{path.name} is take format {version}; this Monocap reads {_MAJOR}.x — update Monocap"
        )
    missing = [k for k in REQUIRED_2D if k not in take]
    if missing:
        raise FormatError(f"{path.name} lacks {', '.join(missing)}")
    take["format_version"] = version
    take["fps"] = float(take["fps"])
    if "joint_names" in take:
        take["joint_names"] = [str(n) for n in take["joint_names"]]
    return take
