"""PMX (MikuMikuDance model) reader, up to and including the bones and their IK.

PMX 2.0 and 2.1, little-endian: `PMX ` + f32 version + globals (text encoding, extra UV count, index sizes),
four texts (names, comments), then vertices, faces, textures and materials (read past, keeping counts and a
few names), then bones. Morphs, display frames, rigid bodies and joints are not parsed.

Every read is bounds-checked: a damaged file raises FormatError naming the byte offset, never IndexError,
struct.error or MemoryError (counts are checked against the bytes left before anything is allocated).

Coordinates are MMD's (left-handed, Y up, 1 unit = 8 cm). numpy only (imported by the Blender add-on).
"""

from __future__ import annotations

import os
import struct
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ..errors import FormatError
from .vmd import _load_source

# Bone flags.
TAIL_IS_BONE = 0x0001
ROTATABLE = 0x0002
TRANSLATABLE = 0x0004
VISIBLE = 0x0008
OPERABLE = 0x0010
IK = 0x0020
APPEND_LOCAL = 0x0080
APPEND_ROTATE = 0x0100
APPEND_TRANSLATE = 0x0200
FIXED_AXIS = 0x0400
LOCAL_AXES = 0x0800
AFTER_PHYSICS = 0x1000
EXTERNAL_PARENT = 0x2000

Vec3 = tuple[float, float, float]


@dataclass
class PmxIkLink:
    """One IK chain link; limits are Euler angle bounds in radians (None: unlimited)."""

    bone: int
    limit_min: Vec3 | None = None
    limit_max: Vec3 | None = None


@dataclass
class PmxIk:
    """IK on a bone: move `target` (the effector, e.g. 足首) onto this bone through `links`, listed from
    the effector's parent up the chain (e.g. ひざ, 足). limit_angle: radians per CCD step."""

    target: int
    loop_count: int
    limit_angle: float
    links: list[PmxIkLink] = field(default_factory=list)


@dataclass
class PmxBone:
    """One bone. position: rest position in model space; parent, tail_bone, append_parent: bone indices
    (-1 for none). tail_offset is used when tail_bone is -1 (flag TAIL_IS_BONE clear)."""

    index: int
    name: str
    name_en: str
    position: Vec3
    parent: int
    layer: int
    flags: int
    tail_bone: int = -1
    tail_offset: Vec3 = (0.0, 0.0, 0.0)
    append_parent: int = -1
    append_ratio: float = 0.0
    fixed_axis: Vec3 | None = None
    local_x: Vec3 | None = None
    local_z: Vec3 | None = None
    external_key: int | None = None
    ik: PmxIk | None = None

    @property
    def is_ik(self) -> bool:
        return self.ik is not None

    @property
    def rotatable(self) -> bool:
        return bool(self.flags & ROTATABLE)

    @property
    def translatable(self) -> bool:
        return bool(self.flags & TRANSLATABLE)

    @property
    def visible(self) -> bool:
        return bool(self.flags & VISIBLE)

    @property
    def append_rotate(self) -> bool:
        return bool(self.flags & APPEND_ROTATE) and self.append_parent >= 0

    @property
    def append_translate(self) -> bool:
        return bool(self.flags & APPEND_TRANSLATE) and self.append_parent >= 0

    @property
    def append_local(self) -> bool:
        return bool(self.flags & APPEND_LOCAL)

    @property
    def after_physics(self) -> bool:
        return bool(self.flags & AFTER_PHYSICS)


@dataclass
class PmxModel:
    """A PMX model up to its bones.

    encoding: "utf-16-le" or "utf-8"; additional_uv: 0..4; index sizes in bytes (1, 2 or 4).
    offsets: byte offset of each section's count ("vertices", "faces", "textures", "materials", "bones",
    "morphs"); the morph section and everything after it is not parsed.
    """

    version: float
    encoding: str
    additional_uv: int
    vertex_index_size: int
    texture_index_size: int
    material_index_size: int
    bone_index_size: int
    morph_index_size: int
    rigid_body_index_size: int
    name: str
    name_en: str
    comment: str
    comment_en: str
    vertex_count: int
    face_count: int
    textures: list[str]
    material_names: list[str]
    bones: list[PmxBone]
    offsets: dict[str, int]

    def bone_index(self, name: str) -> int:
        """Index of the bone called `name` (exact, else equal after NFKC normalisation); -1 if none."""
        for bone in self.bones:
            if bone.name == name:
                return bone.index
        key = unicodedata.normalize("NFKC", name)
        for bone in self.bones:
            if unicodedata.normalize("NFKC", bone.name) == key:
                return bone.index
        return -1

    def rest_positions(self) -> np.ndarray:
        """(B, 3) float64 rest positions, model space."""
        return np.array([b.position for b in self.bones], np.float64).reshape(-1, 3)

    def parents(self) -> np.ndarray:
        """(B,) int64 parent indices, -1 for roots."""
        return np.array([b.parent for b in self.bones], np.int64)


class _Reader:
    """Bounds-checked little-endian cursor over the file's bytes."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.n = len(data)
        self.encoding = "utf-16-le"

    def need(self, size: int, what: str) -> int:
        if size < 0 or self.n - self.pos < size:
            raise FormatError(f"PMX file ends inside {what} at byte {self.pos} "
                              f"(needs {size} bytes, {self.n - self.pos} left; file truncated or damaged)")
        start = self.pos
        self.pos += size
        return start

    def unpack(self, fmt: str, what: str) -> tuple:
        s = struct.Struct("<" + fmt)
        start = self.need(s.size, what)
        return s.unpack_from(self.data, start)

    def i32(self, what: str) -> int:
        return self.unpack("i", what)[0]

    def f32(self, what: str) -> float:
        return self.unpack("f", what)[0]

    def u8(self, what: str) -> int:
        return self.unpack("B", what)[0]

    def vec3(self, what: str) -> Vec3:
        return self.unpack("3f", what)

    def count(self, what: str, min_record: int) -> int:
        start = self.pos
        value = self.i32(f"the {what} count")
        if value < 0 or value * min_record > self.n - self.pos:
            raise FormatError(f"PMX {what} count {value} at byte {start} does not fit the "
                              f"{self.n - self.pos} bytes left (file truncated or damaged)")
        return value

    def text(self, what: str) -> str:
        start = self.pos
        size = self.i32(f"the length of {what}")
        if size < 0 or size > self.n - self.pos:
            raise FormatError(f"PMX text length {size} of {what} at byte {start} does not fit the "
                              f"{self.n - self.pos} bytes left (file truncated or damaged)")
        at = self.need(size, what)
        return self.data[at:at + size].decode(self.encoding, errors="replace")

    def index(self, size: int, what: str, unsigned: bool = False) -> int:
        fmt = {1: "B" if unsigned else "b", 2: "H" if unsigned else "h", 4: "i"}[size]
        return self.unpack(fmt, what)[0]


def read_pmx(source: str | os.PathLike | bytes | bytearray | memoryview) -> PmxModel:
    """Read a PMX model (a path, or the file's bytes) up to its bones.

    Damaged files raise FormatError naming the byte offset.
    """
    data, prefix = _load_source(source, "PMX")
    try:
        return _parse_pmx(data)
    except FormatError as exc:
        raise FormatError(prefix + str(exc)) from None


def _parse_pmx(data: bytes) -> PmxModel:
    r = _Reader(data)
    if data[:4] not in (b"PMX ", b"PMXP"):  # a few exporters write "PMXP"
        raise FormatError("not a PMX file: byte 0 does not start with 'PMX '")
    r.pos = 4
    version = r.f32("the version")
    if not 1.95 <= version <= 2.15:
        raise FormatError(f"unsupported PMX version {version:g} at byte 4 (2.0 and 2.1 are read)")
    n_globals = r.u8("the globals size")
    if n_globals < 8:
        raise FormatError(f"PMX globals size {n_globals} at byte 8 is below 8 (damaged header)")
    at = r.need(n_globals, "the globals")
    g = data[at:at + n_globals]
    if g[0] not in (0, 1):
        raise FormatError(f"PMX text encoding {g[0]} at byte {at} is neither 0 (UTF-16LE) nor 1 (UTF-8)")
    r.encoding = "utf-16-le" if g[0] == 0 else "utf-8"
    if g[1] > 4:
        raise FormatError(f"PMX additional UV count {g[1]} at byte {at + 1} is above 4")
    for k in range(2, 8):
        if g[k] not in (1, 2, 4):
            raise FormatError(f"PMX index size {g[k]} at byte {at + k} is not 1, 2 or 4")
    extra_uv, vsize, tsize, msize, bsize, morph_size, rsize = g[1:8]

    name = r.text("the model name")
    name_en = r.text("the English model name")
    comment = r.text("the comment")
    comment_en = r.text("the English comment")

    offsets = {"vertices": r.pos}
    # Vertices: position, normal, uv, extra UVs, then a weight type and its data, then edge scale.
    n_vertices = r.count("vertex", 8 * 4 + 16 * extra_uv + 1 + bsize + 4)
    fixed = 32 + 16 * extra_uv
    weight_size = {0: bsize, 1: 2 * bsize + 4, 2: 4 * bsize + 16, 3: 2 * bsize + 4 + 36, 4: 4 * bsize + 16}
    pos, n = r.pos, r.n
    for i in range(n_vertices):
        if n - pos < fixed + 1:
            r.pos = pos
            r.need(fixed + 1, f"vertex {i}")
        kind = data[pos + fixed]
        size = weight_size.get(kind)
        if size is None:
            raise FormatError(f"PMX vertex {i} has weight type {kind} at byte {pos + fixed} (expected 0-4)")
        pos += fixed + 1 + size + 4
        if pos > n:
            r.pos = pos - (size + 4)
            r.need(size + 4, f"the weights of vertex {i}")
    r.pos = pos

    offsets["faces"] = r.pos
    n_indices = r.count("face index", vsize)
    if n_indices % 3:
        raise FormatError(f"PMX face index count {n_indices} at byte {r.pos - 4} is not a multiple of 3")
    r.need(n_indices * vsize, "the faces")

    offsets["textures"] = r.pos
    n_textures = r.count("texture", 4)
    textures = [r.text(f"texture path {i}") for i in range(n_textures)]

    offsets["materials"] = r.pos
    n_materials = r.count("material", 8 + 66 + 2 * tsize + 2 + 8)
    materials = []
    for i in range(n_materials):
        materials.append(r.text(f"the name of material {i}"))
        r.text(f"the English name of material {i}")
        r.need(16 + 12 + 4 + 12 + 1 + 16 + 4 + 2 * tsize + 1, f"material {i}")
        shared_toon = r.u8(f"the toon flag of material {i}")
        r.need(1 if shared_toon else tsize, f"the toon of material {i}")
        r.text(f"the memo of material {i}")
        r.i32(f"the face count of material {i}")

    offsets["bones"] = r.pos
    n_bones = r.count("bone", 4 + 4 + 12 + bsize + 4 + 2 + bsize)
    bone_offsets = []
    bones = []
    for i in range(n_bones):
        bone_offsets.append(r.pos)
        bones.append(_read_bone(r, i, bsize))
    _check_bone_refs(bones, bone_offsets)
    offsets["morphs"] = r.pos
    return PmxModel(
        version=round(version, 2), encoding=r.encoding, additional_uv=extra_uv, vertex_index_size=vsize,
        texture_index_size=tsize, material_index_size=msize, bone_index_size=bsize,
        morph_index_size=morph_size, rigid_body_index_size=rsize, name=name, name_en=name_en,
        comment=comment, comment_en=comment_en, vertex_count=n_vertices, face_count=n_indices // 3,
        textures=textures, material_names=materials, bones=bones, offsets=offsets)


def _read_bone(r: _Reader, i: int, bsize: int) -> PmxBone:
    what = f"bone {i}"
    bone = PmxBone(index=i, name=r.text(f"the name of {what}"), name_en=r.text(f"the English name of {what}"),
                   position=r.vec3(f"the position of {what}"), parent=r.index(bsize, f"the parent of {what}"),
                   layer=r.i32(f"the layer of {what}"), flags=r.unpack("H", f"the flags of {what}")[0])
    if bone.flags & TAIL_IS_BONE:
        bone.tail_bone = r.index(bsize, f"the tail of {what}")
    else:
        bone.tail_offset = r.vec3(f"the tail of {what}")
    if bone.flags & (APPEND_ROTATE | APPEND_TRANSLATE):
        bone.append_parent = r.index(bsize, f"the append parent of {what}")
        bone.append_ratio = r.f32(f"the append ratio of {what}")
    if bone.flags & FIXED_AXIS:
        bone.fixed_axis = r.vec3(f"the fixed axis of {what}")
    if bone.flags & LOCAL_AXES:
        bone.local_x = r.vec3(f"the local X axis of {what}")
        bone.local_z = r.vec3(f"the local Z axis of {what}")
    if bone.flags & EXTERNAL_PARENT:
        bone.external_key = r.i32(f"the external parent key of {what}")
    if bone.flags & IK:
        target = r.index(bsize, f"the IK target of {what}")
        loops = r.i32(f"the IK loop count of {what}")
        angle = r.f32(f"the IK limit angle of {what}")
        n_links = r.count(f"IK link ({what})", bsize + 1)
        links = []
        for k in range(n_links):
            link = PmxIkLink(r.index(bsize, f"IK link {k} of {what}"))
            if r.u8(f"the limit flag of IK link {k} of {what}"):
                link.limit_min = r.vec3(f"the lower limit of IK link {k} of {what}")
                link.limit_max = r.vec3(f"the upper limit of IK link {k} of {what}")
            links.append(link)
        bone.ik = PmxIk(target, loops, angle, links)
    return bone


def _check_bone_refs(bones: list[PmxBone], offsets: list[int]) -> None:
    """Bone references must point at bones, and parent chains must end: else the file is damaged."""
    n = len(bones)

    def bad(bone: PmxBone, what: str, value: int) -> FormatError:
        return FormatError(f"PMX bone {bone.index} ({bone.name}) at byte {offsets[bone.index]} has {what} {value}, "
                           f"but the model has {n} bones (damaged file)")

    for bone in bones:
        for what, value, optional in (("parent", bone.parent, True), ("tail bone", bone.tail_bone, True),
                                      ("append parent", bone.append_parent, True)):
            if not (-1 if optional else 0) <= value < n:
                raise bad(bone, what, value)
        if bone.ik is not None:
            if not 0 <= bone.ik.target < n:
                raise bad(bone, "IK target", bone.ik.target)
            for link in bone.ik.links:
                if not 0 <= link.bone < n:
                    raise bad(bone, "IK link", link.bone)
    # Parent chains: walk with memo; a chain longer than n bones loops.
    depth = [-1] * n
    for bone in bones:
        chain = []
        b = bone.index
        while b >= 0 and depth[b] < 0:
            chain.append(b)
            if len(chain) > n:
                raise FormatError(f"PMX bone {bone.index} ({bone.name}) at byte {offsets[bone.index]} has a parent "
                                  f"chain that loops (damaged file)")
            b = bones[b].parent
        base = depth[b] if b >= 0 else -1
        for k, c in enumerate(reversed(chain)):
            depth[c] = base + 1 + k
