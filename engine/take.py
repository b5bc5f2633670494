"""The take file: one capture's result as a versioned .npz (contract in DESIGN.md).

Fields: format_version "MAJOR.MINOR"; fps; image_size (2,) width, height; joints2d (T,33,3) pixels + confidence;
valid (T,) bool; and, once lifted: joint_names (J,), parents (J,), rest_offsets (J,3) metres,
joints3d (T,J,3) metres world_yup, rotations (T,J,4) local quaternions w,x,y,z, contacts (T,4) bool.
Since 1.1: swapped (T,) uint8, the left/right corrections made to the detector's 2D before lifting
(`detector.swaps`): bit 1 the arms (elbow to fingers), bit 2 the legs (knee to toes), bit 4 the head and trunk
(eyes, ears, mouth, shoulders, hips) had their left and right keypoints exchanged in that frame; 7 is a
whole-body swap, 0 untouched. joints2d holds the corrected assignment. Takes written before 1.1 lack it
(no correction was made then).
Since 1.2: people (P,) int32, in the takes of a capture of several people (`--person all` or N,M; one take
file per person, STEM_pN.npz): the numbers of everyone captured together. Those takes share one world
frame (one camera, one floor; the origin under the first person's first valid frame), so their root
trajectories keep the people's spacing. `person` is the take's own number (tracks ranked by prominence).
Also since 1.2: hands2d (T,2,21,3) both hands' 21 keypoints (index 0 the person's left hand, 1 the right;
points in `detector.hands.HAND_POINT_NAMES` order) in pixels with the hand's presence score; hands_valid (T,2)
bool; hands3d (T,2,21,3) the hand graph's metric points (metres, centred on the hand, camera axes). Absent when
hands were not captured (`--no-hands`, or too small in the frame); a lifted take with hands has the 67-joint
skeleton (`skeleton.HAND_SKELETON_NAMES`).

Minor versions add fields; a reader reads every 1.x take, and one that needs a newer field checks for it.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import BadInput, FormatError
from .fileio import atomic_write_bytes

FORMAT_VERSION = "1.2"
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


# Field checks: dtype kinds allowed ("b" bool, "iu" integers, "f" floats, "U" text) and shape, with "T" the
# frame count (from `valid`), "J" the joint count (from `joint_names`), None any length, () a scalar.
_FIELDS: dict[str, tuple[str, tuple]] = {
    "valid": ("biu", ("T",)),
    "joint_names": ("U", ("J",)),
    "fps": ("iuf", ()),
    "image_size": ("iu", (2,)),
    "joints2d": ("f", ("T", None, 3)),
    "keypoint_presence": ("f", ("T", None)),
    "swapped": ("biu", ("T",)),
    "first_frame": ("iu", ()),
    "person": ("iu", ()),
    "people": ("iu", (None,)),
    "source_video": ("U", ()),
    "parents": ("iu", ("J",)),
    "rest_offsets": ("f", ("J", 3)),
    "joints3d": ("f", ("T", "J", 3)),
    "rotations": ("f", ("T", "J", 4)),
    "contacts": ("biu", ("T", 4)),
    "hands2d": ("f", ("T", 2, 21, 3)),
    "hands_valid": ("biu", ("T", 2)),
    "hands3d": ("f", ("T", 2, 21, 3)),
}
# NaN here would bake as a silent zero rotation or a hand point at the origin
_FINITE = ("rest_offsets", "joints3d", "rotations", "hands2d", "hands3d")
_MAX_MEMBERS = 256
_MAX_HEADER = 10_000  # bytes of an .npy header (numpy writes about 128)
_DEFLATE_RATIO = 1100  # DEFLATE cannot expand more than about 1032:1


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz, each checked against what the file can hold before it is allocated.

    FormatError for anything else: not a zip, damaged members, compression other than none or DEFLATE, a
    header that claims more data than the member holds, object (pickled) arrays, too many members.
    """
    name = path.name
    size = path.stat().st_size
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_MEMBERS:
                raise FormatError(f"{name} holds {len(infos)} entries: not a Monocap take")
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if info.compress_type == zipfile.ZIP_STORED:
                    limit = info.compress_size
                elif info.compress_type == zipfile.ZIP_DEFLATED:
                    limit = info.compress_size * _DEFLATE_RATIO
                else:
                    raise FormatError(f"{name}: entry {key!r} uses zip compression method {info.compress_type}; "
                                      f"a take is stored uncompressed or DEFLATE (save it again with numpy)")
                if info.compress_size > size or info.file_size > limit:
                    raise FormatError(f"{name}: entry {key!r} claims {info.file_size} bytes, more than the "
                                      f"file holds (damaged)")
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_MAX_HEADER)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_MAX_HEADER)
                    else:
                        raise FormatError(f"{name}: entry {key!r} has .npy version {version}")
                    if dtype.hasobject or dtype.kind not in "biufUS" or dtype.fields is not None:
                        raise FormatError(f"{name}: entry {key!r} has data type {dtype}, not plain numbers or text")
                    if any(d < 0 for d in shape) or len(shape) > 8:
                        raise FormatError(f"{name}: entry {key!r} claims shape {shape} (damaged)")
                    count = int(np.prod(shape, dtype=object))
                    if count * dtype.itemsize > info.file_size:
                        raise FormatError(f"{name}: entry {key!r} claims shape {shape} of {dtype} "
                                          f"({count * dtype.itemsize} bytes) but holds {info.file_size} bytes "
                                          f"(damaged)")
                    data = fh.read(count * dtype.itemsize)
                    if len(data) != count * dtype.itemsize:
                        raise FormatError(f"{name}: entry {key!r} ends early (file truncated)")
                    arr = np.frombuffer(data, dtype=dtype)
                    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
                    if dtype.kind == "U":
                        arr = arr.astype(dtype)  # numpy can read text arrays with invalid code points
                        np.char.encode(arr, "utf-8", "strict")
                    out[key] = arr.copy()
    except FormatError:
        raise
    except Exception as exc:  # zip, zlib, CRC, .npy header and text errors: all mean a damaged file
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise FormatError(f"{name} is not a readable take file ({detail})") from None
    return out


def _check_fields(name: str, take: dict[str, np.ndarray]) -> None:
    sizes: dict[str, int] = {"T": int(take["valid"].shape[0]) if take["valid"].ndim == 1 else -1}
    if "joint_names" in take and take["joint_names"].ndim == 1:
        sizes["J"] = int(take["joint_names"].shape[0])
    for key, (kinds, shape) in _FIELDS.items():
        if key not in take:
            continue
        arr = take[key]
        if arr.dtype.kind not in kinds:
            raise FormatError(f"{name}: field {key!r} holds {arr.dtype} values (damaged or not a Monocap take)")
        want = tuple(sizes.get(d, d) if isinstance(d, str) else d for d in shape)
        if arr.ndim != len(want) or any(w is not None and w != g for w, g in zip(want, arr.shape)):
            shown = "(" + ", ".join("*" if d is None else str(d) for d in shape) + ")"
            raise FormatError(f"{name}: field {key!r} has shape {arr.shape}, expected {shown} "
                              f"(T={sizes['T']} frames, J={sizes.get('J', '?')} joints)")
        if key in _FINITE and not np.isfinite(arr).all():
            raise FormatError(f"{name}: field {key!r} holds NaN or infinite values (damaged)")
    fps = float(take["fps"])
    if not (np.isfinite(fps) and 0 < fps <= 1000):
        raise FormatError(f"{name}: fps {fps:g} is not a frame rate (damaged)")
    if np.any(take["image_size"] <= 0):
        raise FormatError(f"{name}: image_size {take['image_size'].tolist()} is not an image size (damaged)")
    if "parents" in take:
        parents = take["parents"].astype(np.int64)
        if parents.size and (parents[0] != -1 or np.any(parents[1:] < 0)
                             or np.any(parents[1:] >= np.arange(1, len(parents)))):
            raise FormatError(f"{name}: field 'parents' is not a hierarchy (damaged)")
        if "joint_names" not in take or "rest_offsets" not in take:
            raise FormatError(f"{name}: 3D fields without joint_names and rest_offsets (damaged)")
    if "rotations" in take and "parents" not in take:
        raise FormatError(f"{name}: rotations without parents (damaged)")


def read_take(path: str | os.PathLike) -> dict:
    """Read a take; raise FormatError for a damaged file or an unknown major version, BadInput if the file
    cannot be read at all. Nothing larger than the file justifies is allocated."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"take file not found: {path}")
    try:
        take = _load_npz(path)
    except OSError as exc:
        raise BadInput(f"cannot read take {path}: {exc.strerror or exc}") from None
    if "format_version" not in take:
        raise FormatError(f"{path.name} has no format_version: not a Monocap take")
    raw = take["format_version"]
    version = str(raw) if raw.shape == () and raw.dtype.kind == "U" else ""
    parts = version.split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise FormatError(f"{path.name} has format_version {version or raw.dtype!s:.20}, not MAJOR.MINOR: "
                          f"damaged or not a Monocap take")
    if parts[0] != _MAJOR:
        raise FormatError(
            f"{path.name} is take format {version}; this Monocap reads {_MAJOR}.x — update Monocap"
        )
    missing = [k for k in REQUIRED_2D if k not in take]
    if missing:
        raise FormatError(f"{path.name} lacks {', '.join(missing)}")
    _check_fields(path.name, take)
    take["format_version"] = version
    take["fps"] = float(take["fps"])
    take["valid"] = take["valid"].astype(bool)
    for key in ("contacts", "hands_valid"):
        if key in take:
            take[key] = take[key].astype(bool)
    if "joint_names" in take:
        take["joint_names"] = [str(n) for n in take["joint_names"]]
    return take
