"""VMD (MikuMikuDance motion) reader and writer, plus key interpolation.

Layout (little-endian, packed): a 30-byte signature, the model name (20 bytes, or 10 in the old
"Vocaloid Motion Data file" format), then six sections, each a u32 count and fixed-size records: bone keys
(111 bytes), morph keys (23), camera keys (61), light keys (28), self-shadow keys (9), and property keys
(frame, visibility, per-IK enable states; variable size). A file may end after any whole section.

Names are cp932, cut at the first NUL. The bytes after the NUL are often garbage, so the stored name fields
are kept next to the decoded names: writing a motion that was read gives back the same bytes.

Keys are held as struct-of-arrays (numpy), read and written with structured dtypes, so a motion with
millions of bone keys loads in a fraction of a second. Names are interned: `name_table` holds each distinct
stored name once, `name_id` points each key at its entry.

Quaternions in VMD (and in this module) are x, y, z, w. numpy only (imported by the Blender add-on).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInput, FormatError
from ..fileio import atomic_write

SIGNATURE_V2 = b"Vocaloid Motion Data 0002"
SIGNATURE_V1 = b"Vocaloid Motion Data file"
_HEADER_SIZE = 30
_MODEL_NAME_SIZE = {2: 20, 1: 10}
BONE_NAME_SIZE = 15
MORPH_NAME_SIZE = 15
IK_NAME_SIZE = 20
CAMERA_LIGHT_MODEL_NAME = "カメラ・照明"

BONE_DTYPE = np.dtype([
    ("name", "u1", (15,)),
    ("frame", "<u4"),
    ("position", "<f4", (3,)),
    ("rotation", "<f4", (4,)),
    ("interpolation", "u1", (64,)),
])
MORPH_DTYPE = np.dtype([("name", "u1", (15,)), ("frame", "<u4"), ("weight", "<f4")])
CAMERA_DTYPE = np.dtype([
    ("frame", "<u4"),
    ("distance", "<f4"),
    ("position", "<f4", (3,)),
    ("rotation", "<f4", (3,)),
    ("interpolation", "u1", (24,)),
    ("view_angle", "<u4"),
    ("perspective", "u1"),
])
LIGHT_DTYPE = np.dtype([("frame", "<u4"), ("color", "<f4", (3,)), ("direction", "<f4", (3,))])
SHADOW_DTYPE = np.dtype([("frame", "<u4"), ("mode", "u1"), ("distance", "<f4")])
assert (BONE_DTYPE.itemsize, MORPH_DTYPE.itemsize, CAMERA_DTYPE.itemsize) == (111, 23, 61)
assert (LIGHT_DTYPE.itemsize, SHADOW_DTYPE.itemsize) == (28, 9)

# Offsets of (x1, y1, x2, y2) of the X, Y, Z and rotation curves in the 64-byte bone interpolation block.
CURVE_BYTES = np.array([[0, 4, 8, 12], [16, 20, 24, 28], [32, 36, 40, 44], [48, 52, 56, 60]])
LINEAR_CURVE = (20, 20, 107, 107)
PHYSICS_OFF_BYTES = (0x63, 0x0F)


# ----------------------------------------------------------------------------------------------- names

def decode_name(raw: bytes) -> str:
    """A stored name field to text: cut at the first NUL, cp932, split characters replaced."""
    return raw.split(b"\0", 1)[0].decode("cp932", errors="replace")


def encode_name(name: str, size: int) -> bytes:
    """Text to a NUL-padded cp932 field of `size` bytes; raises ValueError if it does not fit."""
    data = name.encode("cp932")
    if len(data) > size:
        raise ValueError(f"{len(data)} bytes")
    return data.ljust(size, b"\0")


def _name_fields(names: Sequence[str], raws: Sequence[bytes | None] | None, size: int,
                 what: str, errors: list[str]) -> list[bytes]:
    """Stored fields for `names`: the raw field where it still decodes to the name, else the encoding.

    Problems are appended to `errors` (so one message can list all of them).
    """
    out = []
    for i, name in enumerate(names):
        raw = raws[i] if raws is not None and i < len(raws) else None
        if raw is not None and len(raw) == size and decode_name(raw) == name:
            out.append(bytes(raw))
            continue
        if "\0" in name:
            errors.append(f"{what} {name!r} contains a NUL character, which would end it early in the file")
            out.append(b"\0" * size)
            continue
        try:
            out.append(encode_name(name, size))
        except UnicodeEncodeError:
            errors.append(f"{what} {name!r} has characters cp932 cannot store")
            out.append(b"\0" * size)
        except ValueError as exc:
            errors.append(f"{what} {name!r} is {exc} in cp932 (at most {size})")
            out.append(b"\0" * size)
    return out


def _intern(raw: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """Distinct rows of raw (N, W) uint8 name fields, in order of first use, and each row's index.

    Vectorised: rows are hashed to uint64, grouped with np.unique, and the grouping is verified exactly
    (a hash collision falls back to a dictionary).
    """
    n, width = raw.shape
    if n == 0:
        return [], np.zeros(0, np.int32)
    padded = np.zeros((n, 16 * ((width + 15) // 16)), np.uint8)
    padded[:, :width] = raw
    words = padded.view("<u8")
    h = words[:, 0].copy()
    for k in range(1, words.shape[1]):
        h = h * np.uint64(0x9E3779B97F4A7C15) + words[:, k]
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if np.array_equal(padded, padded[first[inverse]]):
        order = np.argsort(first, kind="stable")  # table in order of first use
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        table = [raw[first[j]].tobytes() for j in order]
        return table, rank[inverse].astype(np.int32)
    lookup: dict[bytes, int] = {}
    ids = np.empty(n, np.int32)
    for i in range(n):
        ids[i] = lookup.setdefault(raw[i].tobytes(), len(lookup))
    return list(lookup), ids


def _nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


# ----------------------------------------------------------------------------------------------- data

@dataclass(eq=False)
class _NamedKeys:
    """Common part of bone and morph keys: interned names."""

    name_table: list[str]
    name_id: np.ndarray
    name_raw: list[bytes] | None

    @property
    def names(self) -> list[str]:
        """The name of every key (a new list, N entries)."""
        table = self.name_table
        return [table[i] for i in self.name_id.tolist()]

    def select(self, name: str) -> np.ndarray:
        """Indices (K,) of the keys of `name`, sorted by frame, a repeated frame keeping its last key.

        Matches the exact name; if no entry matches exactly, names equal after NFKC normalisation
        (full-width `ＩＫ` and ASCII `IK`) match.
        """
        return self.select_many([name])[0]

    def select_many(self, names: Sequence[str]) -> list[np.ndarray]:
        """`select` for several names, grouping the keys once (O(N log N) instead of O(N) per name)."""
        order = np.argsort(self.name_id, kind="stable")
        starts = np.searchsorted(self.name_id[order], np.arange(len(self.name_table) + 1))
        exact: dict[str, list[int]] = {}
        loose: dict[str, list[int]] = {}
        for j, n in enumerate(self.name_table):
            exact.setdefault(n, []).append(j)
            loose.setdefault(_nfkc(n), []).append(j)
        out = []
        for name in names:
            ids = exact.get(name) or loose.get(_nfkc(name), [])
            if not ids:
                out.append(np.zeros(0, np.int64))
                continue
            idx = np.concatenate([order[starts[j]:starts[j + 1]] for j in ids])
            frames = self.frame[idx]
            # Sort by frame; on equal frames the later key in the file wins (MMD reads them in order).
            srt = np.lexsort((idx, frames))
            idx, frames = idx[srt], frames[srt]
            keep = np.ones(idx.size, bool)
            keep[:-1] = frames[1:] != frames[:-1]
            out.append(idx[keep])
        return out

    def __len__(self) -> int:
        return int(self.name_id.shape[0])


@dataclass(eq=False)
class VmdBoneKeys(_NamedKeys):
    """Bone keys, struct-of-arrays. Key i belongs to bone `name_table[name_id[i]]`.

    name_table: distinct names; name_id: (N,) int32; frame: (N,) uint32;
    position: (N, 3) float32, offset from the rest position in model axes;
    rotation: (N, 4) float32, x y z w, relative to rest; interpolation: (N, 64) uint8 (see curves below);
    name_raw: the stored 15-byte field of each table entry (None when built from text).
    """

    frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    position: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    interpolation: np.ndarray = field(default_factory=lambda: np.zeros((0, 64), np.uint8))

    @classmethod
    def empty(cls) -> VmdBoneKeys:
        return cls([], np.zeros(0, np.int32), None)

    @classmethod
    def build(cls, names: Sequence[str], frame: np.ndarray, position: np.ndarray | None = None,
              rotation: np.ndarray | None = None, interpolation: np.ndarray | None = None) -> VmdBoneKeys:
        """Keys from per-key names (N,), frame (N,), position (N, 3), rotation (N, 4) xyzw and
        interpolation (N, 64) (default: linear curves, physics on)."""
        table, ids = _table_from_names(names)
        n = len(ids)
        return cls(
            table, ids, None,
            frame=np.asarray(frame).reshape(n),
            position=np.zeros((n, 3), np.float32) if position is None else np.asarray(position, np.float32),
            rotation=(np.tile(np.array([0, 0, 0, 1], np.float32), (n, 1)) if rotation is None
                      else np.asarray(rotation, np.float32)),
            interpolation=(np.tile(curves_to_interpolation(np.array([LINEAR_CURVE] * 4)), (n, 1))
                           if interpolation is None else np.asarray(interpolation, np.uint8)),
        )


@dataclass(eq=False)
class VmdMorphKeys(_NamedKeys):
    """Morph keys: name_table, name_id (N,) int32, frame (N,) uint32, weight (N,) float32."""

    frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @classmethod
    def empty(cls) -> VmdMorphKeys:
        return cls([], np.zeros(0, np.int32), None)

    @classmethod
    def build(cls, names: Sequence[str], frame: np.ndarray, weight: np.ndarray) -> VmdMorphKeys:
        table, ids = _table_from_names(names)
        return cls(table, ids, None, frame=np.asarray(frame).reshape(len(ids)),
                   weight=np.asarray(weight, np.float32).reshape(len(ids)))


def _table_from_names(names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    lookup: dict[str, int] = {}
    ids = np.fromiter((lookup.setdefault(n, len(lookup)) for n in names), np.int32, len(names))
    return list(lookup), ids


@dataclass(eq=False)
class VmdCameraKeys:
    """Camera keys: frame (N,) uint32, distance (N,) float32 (negative: camera behind the target),
    position (N, 3) float32 target, rotation (N, 3) float32 radians, interpolation (N, 24) uint8,
    view_angle (N,) uint32 degrees, perspective (N,) uint8 (0 = perspective on)."""

    frame: np.ndarray
    distance: np.ndarray
    position: np.ndarray
    rotation: np.ndarray
    interpolation: np.ndarray
    view_angle: np.ndarray
    perspective: np.ndarray

    @classmethod
    def zeros(cls, n: int = 0) -> VmdCameraKeys:
        """n keys with every field zero (fill them in)."""
        return _zeros_struct(cls, CAMERA_DTYPE, n)

    def __len__(self) -> int:
        return int(self.frame.shape[0])


@dataclass(eq=False)
class VmdLightKeys:
    """Light keys: frame (N,) uint32, color (N, 3) float32 0..1, direction (N, 3) float32."""

    frame: np.ndarray
    color: np.ndarray
    direction: np.ndarray

    @classmethod
    def zeros(cls, n: int = 0) -> VmdLightKeys:
        """n keys with every field zero (fill them in)."""
        return _zeros_struct(cls, LIGHT_DTYPE, n)

    def __len__(self) -> int:
        return int(self.frame.shape[0])


@dataclass(eq=False)
class VmdShadowKeys:
    """Self-shadow keys: frame (N,) uint32, mode (N,) uint8 (0 off, 1 mode 1, 2 mode 2),
    distance (N,) float32."""

    frame: np.ndarray
    mode: np.ndarray
    distance: np.ndarray

    @classmethod
    def zeros(cls, n: int = 0) -> VmdShadowKeys:
        """n keys with every field zero (fill them in)."""
        return _zeros_struct(cls, SHADOW_DTYPE, n)

    def __len__(self) -> int:
        return int(self.frame.shape[0])


@dataclass
class VmdIkState:
    """One IK bone's switch in a property key. enabled: 0 or 1 (another stored byte value is kept)."""

    name: str
    enabled: int = 1
    name_raw: bytes | None = None


@dataclass
class VmdPropertyKey:
    """A property key: model visibility (0/1) and the IK switches from this frame on."""

    frame: int
    visible: int = 1
    ik: list[VmdIkState] = field(default_factory=list)


def _zeros_struct(cls, dtype: np.dtype, n: int):
    arr = np.zeros(n, dtype)
    return cls(*(arr[name].copy() for name in dtype.names))


@dataclass(eq=False)
class VmdMotion:
    """A whole VMD file.

    version: 2 ("Vocaloid Motion Data 0002", 20-byte model name) or 1 (old "... file", 10 bytes).
    section_count: how many sections the file held (0..6); writing emits at least these, and any later
    section that has keys. trailing: bytes after the last section, kept for exact rewriting.
    """

    model_name: str = ""
    bone_keys: VmdBoneKeys = field(default_factory=VmdBoneKeys.empty)
    morph_keys: VmdMorphKeys = field(default_factory=VmdMorphKeys.empty)
    camera_keys: VmdCameraKeys = field(default_factory=lambda: VmdCameraKeys.zeros())
    light_keys: VmdLightKeys = field(default_factory=lambda: VmdLightKeys.zeros())
    shadow_keys: VmdShadowKeys = field(default_factory=lambda: VmdShadowKeys.zeros())
    property_keys: list[VmdPropertyKey] = field(default_factory=list)
    version: int = 2
    model_name_raw: bytes | None = None
    header_raw: bytes | None = None
    section_count: int = 6
    trailing: bytes = b""

    @property
    def ik_keys(self) -> list[VmdPropertyKey]:
        """Alias of property_keys (they carry the IK switches)."""
        return self.property_keys

    def frame_count(self) -> int:
        """Last keyed frame + 1 over all sections (0 for an empty motion)."""
        last = -1
        for keys in (self.bone_keys, self.morph_keys, self.camera_keys, self.light_keys, self.shadow_keys):
            if len(keys):
                last = max(last, int(keys.frame.max()))
        for key in self.property_keys:
            last = max(last, key.frame)
        return last + 1


# ----------------------------------------------------------------------------------------------- reading

def _count(data: bytes, pos: int, record: int, what: str) -> int:
    remaining = len(data) - pos
    if remaining < 4:
        raise FormatError(f"VMD file ends inside the {what} count at byte {pos} (file truncated)")
    count = int.from_bytes(data[pos:pos + 4], "little")
    if count * record > remaining - 4:
        raise FormatError(
            f"VMD {what} count {count} at byte {pos} needs {count * record} bytes but only "
            f"{remaining - 4} remain (file truncated or damaged)")
    return count


def _load_source(source: str | os.PathLike | bytes | bytearray | memoryview, kind: str) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), ""
    path = Path(source)
    try:
        return path.read_bytes(), f"{path.name}: "
    except OSError as exc:
        raise BadInput(f"cannot read {kind} file {path}: {exc.strerror or exc}") from exc


def read_vmd(source: str | os.PathLike | bytes | bytearray | memoryview) -> VmdMotion:
    """Read a VMD file (a path, or the file's bytes). Damaged files raise FormatError naming the byte."""
    data, prefix = _load_source(source, "VMD")
    try:
        return _parse_vmd(data)
    except FormatError as exc:
        raise FormatError(prefix + str(exc)) from None


def _parse_vmd(data: bytes) -> VmdMotion:
    n = len(data)
    head = data[:_HEADER_SIZE]
    if head.startswith(SIGNATURE_V2):
        version = 2
    elif head.startswith(SIGNATURE_V1):
        version = 1
    else:
        raise FormatError("not a VMD file: byte 0 does not start with 'Vocaloid Motion Data 0002' (or 'file')")
    name_size = _MODEL_NAME_SIZE[version]
    pos = _HEADER_SIZE + name_size
    if n < pos:
        raise FormatError(f"VMD file ends inside its header at byte {n} (needs {pos} bytes)")
    name_raw = data[_HEADER_SIZE:pos]
    motion = VmdMotion(model_name=decode_name(name_raw), version=version, model_name_raw=name_raw,
                       header_raw=head, section_count=0)

    def section(dtype: np.dtype, what: str) -> np.ndarray | None:
        nonlocal pos
        if pos == n:
            return None
        count = _count(data, pos, dtype.itemsize, what)
        arr = np.frombuffer(data, dtype, count, pos + 4)
        pos += 4 + count * dtype.itemsize
        motion.section_count += 1
        return arr

    arr = section(BONE_DTYPE, "bone key")
    if arr is None:
        return motion
    table, ids = _intern(arr["name"])
    motion.bone_keys = VmdBoneKeys(
        [decode_name(r) for r in table], ids, table, frame=arr["frame"].copy(),
        position=arr["position"].copy(), rotation=arr["rotation"].copy(),
        interpolation=arr["interpolation"].copy())

    arr = section(MORPH_DTYPE, "morph key")
    if arr is None:
        return motion
    table, ids = _intern(arr["name"])
    motion.morph_keys = VmdMorphKeys([decode_name(r) for r in table], ids, table,
                                     frame=arr["frame"].copy(), weight=arr["weight"].copy())

    for attr, cls, dtype, what in (("camera_keys", VmdCameraKeys, CAMERA_DTYPE, "camera key"),
                                   ("light_keys", VmdLightKeys, LIGHT_DTYPE, "light key"),
                                   ("shadow_keys", VmdShadowKeys, SHADOW_DTYPE, "self-shadow key")):
        arr = section(dtype, what)
        if arr is None:
            return motion
        setattr(motion, attr, cls(*(arr[name].copy() for name in dtype.names)))

    if pos == n:
        return motion
    count = _count(data, pos, 9, "property key")
    pos += 4
    keys = []
    for _ in range(count):
        if n - pos < 9:
            raise FormatError(f"VMD file ends inside a property key at byte {pos} (file truncated)")
        frame = int.from_bytes(data[pos:pos + 4], "little")
        visible = data[pos + 4]
        n_ik = int.from_bytes(data[pos + 5:pos + 9], "little")
        if n_ik * 21 > n - pos - 9:
            raise FormatError(f"VMD IK switch count {n_ik} at byte {pos + 5} needs {n_ik * 21} bytes but "
                              f"only {n - pos - 9} remain (file truncated or damaged)")
        pos += 9
        states = []
        for _ in range(n_ik):
            raw = data[pos:pos + IK_NAME_SIZE]
            states.append(VmdIkState(decode_name(raw), data[pos + IK_NAME_SIZE], raw))
            pos += IK_NAME_SIZE + 1
        keys.append(VmdPropertyKey(frame, visible, states))
    motion.property_keys = keys
    motion.section_count += 1
    motion.trailing = data[pos:]
    return motion


# ----------------------------------------------------------------------------------------------- writing

def _column(value, shape: tuple, what: str, errors: list[str]) -> np.ndarray | None:
    arr = np.asarray(value)
    if arr.shape != shape:
        errors.append(f"{what} has shape {arr.shape}, expected {shape}")
        return None
    return arr


def _check_frames(frame: np.ndarray, what: str, errors: list[str]) -> None:
    if frame.size and frame.dtype.kind in "iuf" and (frame.min() < 0 or frame.max() >= 2 ** 32):
        errors.append(f"{what} frames must be within 0..4294967295")


def _chunks(motion: VmdMotion) -> list:
    """The file as a list of buffers (bytes and uint8 arrays), after checking everything."""
    errors: list[str] = []
    if motion.version not in _MODEL_NAME_SIZE:
        raise BadInput(f"VMD version must be 1 or 2, not {motion.version}")
    name_size = _MODEL_NAME_SIZE[motion.version]
    signature = SIGNATURE_V2 if motion.version == 2 else SIGNATURE_V1
    header = motion.header_raw
    if header is None or len(header) != _HEADER_SIZE or not header.startswith(signature):
        header = signature.ljust(_HEADER_SIZE, b"\0")
    raw = [motion.model_name_raw] if motion.model_name_raw is not None else None
    model_field = _name_fields([motion.model_name], raw, name_size, "model name", errors)[0]

    parts = [header, model_field]
    bones, morphs = motion.bone_keys, motion.morph_keys
    bone_fields = _name_fields(bones.name_table, bones.name_raw, BONE_NAME_SIZE, "bone name", errors)
    morph_fields = _name_fields(morphs.name_table, morphs.name_raw, MORPH_NAME_SIZE, "morph name", errors)

    sections: list[tuple[int, bytes | np.ndarray]] = []
    nb = len(bones)
    cols = {
        "frame": _column(bones.frame, (nb,), "bone frame", errors),
        "position": _column(bones.position, (nb, 3), "bone position", errors),
        "rotation": _column(bones.rotation, (nb, 4), "bone rotation", errors),
        "interpolation": _column(bones.interpolation, (nb, 64), "bone interpolation", errors),
    }
    _check_ids(bones, "bone", errors)
    nm = len(morphs)
    mcols = {
        "frame": _column(morphs.frame, (nm,), "morph frame", errors),
        "weight": _column(morphs.weight, (nm,), "morph weight", errors),
    }
    _check_ids(morphs, "morph", errors)
    others = []
    for keys, dtype, what in ((motion.camera_keys, CAMERA_DTYPE, "camera"),
                              (motion.light_keys, LIGHT_DTYPE, "light"),
                              (motion.shadow_keys, SHADOW_DTYPE, "self-shadow")):
        k = len(keys)
        others.append((k, dtype, {name: _column(getattr(keys, name), (k,) + dtype[name].shape,
                                                f"{what} {name}", errors) for name in dtype.names}))
    ik_names = [s.name for key in motion.property_keys for s in key.ik]
    ik_raws = [s.name_raw for key in motion.property_keys for s in key.ik]
    ik_fields = _name_fields(ik_names, ik_raws, IK_NAME_SIZE, "IK name", errors)
    for c in (cols, mcols, *(o[2] for o in others)):
        if c.get("frame") is not None:
            _check_frames(c["frame"], "key", errors)
    for what, col in (("bone position", cols["position"]), ("bone rotation", cols["rotation"]),
                      ("morph weight", mcols["weight"])):
        if col is not None and col.dtype.kind == "f" and not np.isfinite(col).all():
            key = int(np.argwhere(~np.isfinite(col))[0][0])
            errors.append(f"{what} of key {key} is NaN or infinite")
    if any(not 0 <= int(key.frame) < 2 ** 32 for key in motion.property_keys):
        errors.append("property key frames must be within 0..4294967295")
    if errors:
        shown = "; ".join(errors[:20]) + (f"; and {len(errors) - 20} more" if len(errors) > 20 else "")
        raise BadInput(f"cannot write VMD: {shown}")

    rec = np.empty(nb, BONE_DTYPE)
    if nb:
        _fill_names(rec, bone_fields, BONE_NAME_SIZE, bones.name_id)
    for name, col in cols.items():
        rec[name] = col
    sections.append((nb, rec.view(np.uint8)))

    rec = np.empty(nm, MORPH_DTYPE)
    if nm:
        _fill_names(rec, morph_fields, MORPH_NAME_SIZE, morphs.name_id)
    for name, col in mcols.items():
        rec[name] = col
    sections.append((nm, rec.view(np.uint8)))

    for k, dtype, c in others:
        rec = np.empty(k, dtype)
        for name, col in c.items():
            rec[name] = col
        sections.append((k, rec.view(np.uint8)))

    chunks = []
    it = iter(ik_fields)
    for key in motion.property_keys:
        chunks.append(int(key.frame).to_bytes(4, "little") + bytes([key.visible & 0xFF])
                      + len(key.ik).to_bytes(4, "little"))
        for state in key.ik:
            chunks.append(next(it) + bytes([state.enabled & 0xFF]))
    sections.append((len(motion.property_keys), b"".join(chunks)))

    last_used = max((i + 1 for i, (count, _) in enumerate(sections) if count), default=0)
    n_sections = max(min(motion.section_count, 6), last_used)
    for count, body in sections[:n_sections]:
        parts.append(count.to_bytes(4, "little"))
        parts.append(body)
    if n_sections == 6:
        parts.append(motion.trailing)
    return parts


def _fill_names(rec: np.ndarray, fields: list[bytes], size: int, ids: np.ndarray) -> None:
    """rec["name"] = fields[ids], copying whole fields as void scalars (far quicker than a (N, 15) uint8
    fancy index)."""
    table = np.frombuffer(b"".join(fields), f"V{size}")
    view = rec.view(np.dtype({"names": ["name"], "formats": [f"V{size}"], "offsets": [0],
                              "itemsize": rec.dtype.itemsize}))["name"]
    view[...] = table[ids]


def vmd_to_bytes(motion: VmdMotion) -> bytes:
    """Serialise a motion. Names that are too long or not cp932 are all listed in one BadInput."""
    return b"".join(_chunks(motion))


def _check_ids(keys: _NamedKeys, what: str, errors: list[str]) -> None:
    ids = np.asarray(keys.name_id)
    if ids.size and (ids.min() < 0 or ids.max() >= len(keys.name_table)):
        errors.append(f"{what} name_id points outside name_table ({len(keys.name_table)} entries)")


def write_vmd(path: str | os.PathLike, motion: VmdMotion) -> None:
    """Write `motion` to `path` atomically (nothing is written if a name cannot be stored)."""
    chunks = _chunks(motion)
    with atomic_write(path, "wb") as fh:
        for chunk in chunks:  # the key arrays go out from their own buffers, no joined copy
            fh.write(chunk)


# ----------------------------------------------------------------------------------------------- curves

def interpolation_to_curves(interpolation: np.ndarray) -> np.ndarray:
    """Bone interpolation blocks (..., 64) uint8 -> curves (..., 4, 4) uint8.

    Curve rows are X, Y, Z, rotation; columns x1, y1, x2, y2 (0..127). The curve stored on key k shapes
    the segment from key k-1 to key k.
    """
    return np.asarray(interpolation, np.uint8)[..., CURVE_BYTES]


def curves_to_interpolation(curves: np.ndarray, physics_off: np.ndarray | bool = False) -> np.ndarray:
    """Curves (..., 4, 4) (X, Y, Z, rotation; x1, y1, x2, y2 in 0..127) -> blocks (..., 64) uint8.

    Row 0 interleaves the four curves parameter by parameter; rows 1-3 are row 0 shifted left by 1-3
    bytes. Bytes 2 and 3 hold the physics switch (0x63, 0x0F off; 0, 0 on).
    """
    curves = np.asarray(curves)
    row0 = np.swapaxes(curves, -1, -2).reshape(curves.shape[:-2] + (16,)).astype(np.uint8)
    out = np.zeros(curves.shape[:-2] + (64,), np.uint8)
    for k in range(4):
        out[..., 16 * k:16 * k + 16 - k] = row0[..., k:]
    off = np.asarray(physics_off, bool)
    out[..., 2] = np.where(off, PHYSICS_OFF_BYTES[0], 0)
    out[..., 3] = np.where(off, PHYSICS_OFF_BYTES[1], 0)
    return out


def physics_off(interpolation: np.ndarray) -> np.ndarray:
    """(..., 64) uint8 -> (...,) bool: the key turns physics off for its bone."""
    interpolation = np.asarray(interpolation)
    return (interpolation[..., 2] == PHYSICS_OFF_BYTES[0]) & (interpolation[..., 3] == PHYSICS_OFF_BYTES[1])


def bezier_ease(curve: np.ndarray, t: np.ndarray, iterations: int = 32) -> np.ndarray:
    """Evaluate MMD easing curves: y at x = t for the cubic Bezier (0,0), (x1,y1), (x2,y2), (1,1).

    curve: (..., 4) x1, y1, x2, y2 in 0..127; t: (...) in [0, 1], broadcast with curve[..., 0].
    Returns (...) float64. x(s) is monotonic for control points in [0, 1], so bisection is safe
    (32 halvings: error below 1e-9). Linear curves (x1 = y1, x2 = y2) and the end points are exact.
    """
    c = np.clip(np.asarray(curve, np.float64), 0, 127) / 127.0
    x1, y1, x2, y2 = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)
    shape = np.broadcast(x1, t).shape
    lo = np.zeros(shape)
    hi = np.ones(shape)

    def bez(p1, p2, s):
        r = 1.0 - s
        return 3 * r * r * s * p1 + 3 * r * s * s * p2 + s * s * s

    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = bez(x1, x2, mid) < t
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    y = bez(y1, y2, 0.5 * (lo + hi))
    linear = (x1 == y1) & (x2 == y2)
    y = np.where(linear, t, y)
    return np.where(t <= 0.0, 0.0, np.where(t >= 1.0, 1.0, y))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Shortest-path spherical interpolation. q0, q1: (..., 4) (any component order, same for both);
    w: (...) weights. Returns (..., 4) float64, normalised."""
    q0 = np.asarray(q0, np.float64)
    q1 = np.asarray(q1, np.float64)
    w = np.asarray(w, np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    near = sin < 1e-6
    safe = np.where(near, 1.0, sin)
    a = np.where(near, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
    b = np.where(near, w, np.sin(w * theta) / safe)
    q = a * q0 + b * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True).clip(1e-12)


def sample_track(frame: np.ndarray, position: np.ndarray, rotation: np.ndarray, interpolation: np.ndarray,
                 at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate one bone's keys at times `at`.

    frame: (K,) sorted, distinct; position: (K, 3); rotation: (K, 4) xyzw; interpolation: (K, 64);
    at: (T,) frame numbers (integers or not). Before the first key the first key holds, after the last the
    last. Returns position (T, 3) float64 and rotation (T, 4) xyzw float64.
    """
    at = np.asarray(at, np.float64)
    k = len(frame)
    if k == 0:
        rot = np.zeros((at.size, 4))
        rot[:, 3] = 1.0
        return np.zeros((at.size, 3)), rot
    frame = np.asarray(frame, np.float64)
    position = np.asarray(position, np.float64)
    rotation = np.asarray(rotation, np.float64)
    hi = np.searchsorted(frame, at, side="right").clip(1, k - 1) if k > 1 else np.zeros(at.size, int)
    lo = np.maximum(hi - 1, 0)
    span = frame[hi] - frame[lo]
    u = np.where(span > 0, (at - frame[lo]) / np.where(span > 0, span, 1.0), 0.0)
    u = u.clip(0.0, 1.0)  # holds the end keys outside the keyed range
    if k == 1:
        u[:] = 0.0
    curves = interpolation_to_curves(interpolation)[hi]  # (T, 4, 4): the later key shapes the segment
    w = bezier_ease(curves, u[:, None])  # (T, 4)
    pos = position[lo] + w[:, :3] * (position[hi] - position[lo])
    rot = quat_slerp(rotation[lo], rotation[hi], w[:, 3])
    return pos, rot


def sample_bones(keys: VmdBoneKeys, names: Sequence[str], at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the keys of several bones. names: B bone names; at: (T,) frames.

    Returns position (T, B, 3) and rotation (T, B, 4) xyzw, float64; bones with no keys get zero offset
    and identity rotation.
    """
    at = np.asarray(at, np.float64).reshape(-1)
    pos = np.zeros((at.size, len(names), 3))
    rot = np.zeros((at.size, len(names), 4))
    rot[..., 3] = 1.0
    for b, idx in enumerate(keys.select_many(names)):
        if idx.size:
            pos[:, b], rot[:, b] = sample_track(keys.frame[idx], keys.position[idx], keys.rotation[idx],
                                                keys.interpolation[idx], at)
    return pos, rot


def ik_enabled(motion: VmdMotion, names: Sequence[str], at: np.ndarray) -> np.ndarray:
    """Whether each IK bone in `names` is switched on at frames `at` (T,) -> (T, len(names)) bool.

    Property keys are steps: the latest key at or before the frame rules; an IK bone no key mentions,
    or a frame before the first key that mentions it, is on.
    """
    at = np.asarray(at, np.float64).reshape(-1)
    out = np.ones((at.size, len(names)), bool)
    keys = sorted(motion.property_keys, key=lambda k: k.frame)
    for b, name in enumerate(names):
        target = _nfkc(name)
        frames, states = [], []
        for key in keys:
            for s in key.ik:
                if s.name == name or _nfkc(s.name) == target:
                    frames.append(key.frame)
                    states.append(bool(s.enabled))
        if frames:
            i = np.searchsorted(np.asarray(frames, np.float64), at, side="right") - 1
            st = np.asarray(states)
            out[:, b] = np.where(i >= 0, st[i.clip(0)], True)
    return out
