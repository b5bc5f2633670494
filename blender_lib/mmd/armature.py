"""MMD skeletons in Blender: an armature from a PMX's bones, bone matching on any MMD armature (ours or one
imported by mmd_tools), and the PMX-like bone table of an armature that the retarget needs.

Coordinates: MMD (x, y, z) becomes Blender (x, z, y) times the scale (0.08 m per MMD unit by default),
`mmd_to_blender`. Bones keep their Japanese names; each pose bone also carries it as the custom property
`name_j`. The armature object records the scale as `mmd_scale`.
"""

from __future__ import annotations

import unicodedata

import bpy
import numpy as np
from mathutils import Vector

from ...engine.errors import BadInput
from ...engine.formats.pmx import PmxBone, PmxIk, PmxIkLink, PmxModel
from ..take.armature import new_armature_in_edit_mode

DEFAULT_SCALE = 0.08
MARKER = "monocap_mmd_skeleton"
NAME_J = "name_j"
SWAP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # MMD <-> Blender axes (its own inverse)
IK_CONSTRAINT = "IK"

# English and ASCII aliases of the bones the retarget and common motions key (mmd_tools' English names,
# the PMX English names of Gene, and .L/.R or _L/_R spellings).
_ALIASES: dict[str, tuple[str, ...]] = {
    "全ての親": ("mother", "parent_node", "all parent"),
    "センター": ("center", "centre"),
    "グルーブ": ("groove",),
    "下半身": ("lower body", "lower_body", "lowerbody"),
    "上半身": ("upper body", "upper_body", "upperbody"),
    "上半身2": ("upper body2", "upper_body2", "upper body 2", "upperbody2", "chest"),
    "首": ("neck",),
    "頭": ("head",),
}
_SIDE_ALIASES: dict[str, tuple[str, ...]] = {
    "肩": ("shoulder",), "腕": ("arm",), "ひじ": ("elbow",), "手首": ("wrist",), "足": ("leg",),
    "ひざ": ("knee",), "足首": ("ankle",), "足ＩＫ": ("leg ik", "leg_ik", "legik"),
    "つま先ＩＫ": ("toe ik", "toe_ik", "toeik"), "つま先": ("toe",),
}


def nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


def _alias_key(name: str) -> str:
    return nfkc(name).strip().lower().replace(" ", "_")


def _alias_table() -> dict[str, str]:
    """alias key -> NFKC Japanese name."""
    out: dict[str, str] = {}
    for jp, names in _ALIASES.items():
        for n in names:
            out[_alias_key(n)] = nfkc(jp)
    for jp, names in _SIDE_ALIASES.items():
        for n in names:
            for side, tags in (("左", ("_l", ".l", "_left")), ("右", ("_r", ".r", "_right"))):
                for tag in tags:
                    out[_alias_key(n) + tag] = nfkc(side + jp)
                out[("left_" if side == "左" else "right_") + _alias_key(n)] = nfkc(side + jp)
    return out


ALIASES = _alias_table()


def mmd_to_blender(v: np.ndarray, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """MMD points (..., 3) -> Blender armature space (Y and Z swapped, scaled)."""
    return np.asarray(v, np.float64)[..., [0, 2, 1]] * scale


def blender_to_mmd(v: np.ndarray, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """Blender armature-space points (..., 3) -> MMD units (inverse of `mmd_to_blender`)."""
    return np.asarray(v, np.float64)[..., [0, 2, 1]] / scale


def japanese_name(pbone: bpy.types.PoseBone) -> str:
    """The bone's MMD name: our `name_j`, mmd_tools' `mmd_bone.name_j`, else the bone name."""
    value = pbone.get(NAME_J)
    if isinstance(value, str) and value:
        return value
    mmd = getattr(pbone, "mmd_bone", None)
    if mmd is not None and getattr(mmd, "name_j", ""):
        return str(mmd.name_j)
    group = pbone.get("mmd_bone")  # mmd_tools data without mmd_tools registered
    if group is not None and hasattr(group, "get"):
        value = group.get("name_j")
        if isinstance(value, str) and value:
            return value
    return pbone.name


def vmd_name(name: str, size: int = 15) -> str:
    """The name as a VMD stores it: cut to `size` cp932 bytes at a character boundary (MMD cuts long
    names the same way). Characters cp932 lacks are kept (the writer reports them)."""
    try:
        if len(name.encode("cp932")) <= size:
            return name
    except UnicodeEncodeError:
        return name
    out = ""
    for ch in name:
        if len((out + ch).encode("cp932")) > size:
            break
        out += ch
    return out


def bone_lookup(obj: bpy.types.Object) -> dict[str, str]:
    """NFKC MMD name -> pose bone name for every bone of armature `obj`: Japanese names first, then names
    after NFKC, then names cut to a VMD's 15 bytes (the first bone wins, as in MMD), then English/.L/.R
    aliases of the standard bones."""
    out: dict[str, str] = {}
    order = sorted(obj.pose.bones, key=lambda pb: _index_of(pb))
    for pb in order:
        out.setdefault(nfkc(japanese_name(pb)), pb.name)
    for pb in order:
        out.setdefault(nfkc(pb.name), pb.name)
    for pb in order:
        out.setdefault(nfkc(vmd_name(japanese_name(pb))), pb.name)
    for pb in order:
        jp = ALIASES.get(_alias_key(pb.name))
        if jp is not None:
            out.setdefault(jp, pb.name)
    return out


def _index_of(pb: bpy.types.PoseBone) -> int:
    """The bone's PMX index (ours: `mmd_index`; mmd_tools: mmd_bone.bone_id), else a large number."""
    value = pb.get("mmd_index")
    if isinstance(value, int):
        return value
    mmd = getattr(pb, "mmd_bone", None)
    bone_id = getattr(mmd, "bone_id", -1) if mmd is not None else -1
    return bone_id if isinstance(bone_id, int) and bone_id >= 0 else 1 << 30


def find_bone(lookup: dict[str, str], name: str) -> str | None:
    key = nfkc(name)
    if key in lookup:
        return lookup[key]
    jp = ALIASES.get(_alias_key(name))
    return lookup.get(jp) if jp else None


def armature_scale(obj: bpy.types.Object) -> float:
    value = obj.get("mmd_scale")
    try:
        return float(value) if value else DEFAULT_SCALE
    except (TypeError, ValueError):
        return DEFAULT_SCALE


# ----------------------------------------------------------------------------------------------- building

def bone_layout(model: PmxModel, scale: float = DEFAULT_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """Heads and tails (B, 3) in Blender armature space. Bones without a tail get a short one upward
    (Blender drops zero-length bones)."""
    heads = mmd_to_blender(model.rest_positions(), scale)
    tails = heads.copy()
    for b, bone in enumerate(model.bones):
        if bone.flags & 0x0001:
            if bone.tail_bone >= 0:
                tails[b] = heads[bone.tail_bone]
        else:
            tails[b] = heads[b] + mmd_to_blender(np.asarray(bone.tail_offset), scale)
        if np.linalg.norm(tails[b] - heads[b]) < 1e-5 * max(scale, 1e-6):
            tails[b] = heads[b] + np.array([0.0, 0.0, 1.0]) * scale
    return heads, tails


def _roll_reference(bone: PmxBone, direction: np.ndarray) -> Vector:
    """The Z axis the bone's roll aims at: the PMX local Z axis when the bone has local axes, else forward
    (-Y), or up for bones that point forward."""
    if bone.local_z is not None and np.linalg.norm(bone.local_z) > 1e-6:
        z = mmd_to_blender(np.asarray(bone.local_z), 1.0)
        if np.linalg.norm(np.cross(z, direction)) > 1e-3 * np.linalg.norm(z) * np.linalg.norm(direction):
            return Vector(z)
    d = direction / max(np.linalg.norm(direction), 1e-12)
    if abs(d[1]) > 0.7:
        return Vector((0.0, 0.0, 1.0))
    return Vector((0.0, -1.0, 0.0))


def build_pmx_armature(context: bpy.types.Context, model: PmxModel, name: str | None = None,
                       scale: float = DEFAULT_SCALE) -> bpy.types.Object:
    """A new armature object (active, selected, Object mode) with one bone per PMX bone: Japanese names
    (also in each pose bone's `name_j`), quaternion rotation, IK constraints for the PMX IK bones (knee
    limits included)."""
    if not model.bones:
        raise BadInput(f"PMX model {model.name!r} has no bones")
    heads, tails = bone_layout(model, scale)
    name = name or model.name or "MMD"
    obj = new_armature_in_edit_mode(context, name, MARKER)
    data = obj.data
    obj["mmd_scale"] = float(scale)
    obj["mmd_model_name"] = model.name
    names: list[str] = []
    try:
        ebones = []
        for b, bone in enumerate(model.bones):
            eb = data.edit_bones.new(bone.name or f"bone{b}")
            eb.head = Vector(heads[b])
            eb.tail = Vector(tails[b])
            eb.align_roll(_roll_reference(bone, tails[b] - heads[b]))
            ebones.append(eb)
            names.append(eb.name)  # Blender may rename duplicates
        for b, bone in enumerate(model.bones):
            if bone.parent >= 0:
                ebones[b].parent = ebones[bone.parent]
                ebones[b].use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for b, bone in enumerate(model.bones):
        pb = obj.pose.bones[names[b]]
        pb.rotation_mode = "QUATERNION"
        pb[NAME_J] = bone.name
        pb["mmd_index"] = b
    for b, bone in enumerate(model.bones):
        if bone.ik is not None and bone.ik.links:
            _add_ik(obj, model, names, b)
    obj.show_in_front = True  # a 1.6 m model in the default scene stands inside the 2 m cube
    return obj


def _add_ik(obj: bpy.types.Object, model: PmxModel, names: list[str], ik_bone: int) -> None:
    """IK constraint on the first link (the bone whose tail reaches the target), chain = the links."""
    ik = model.bones[ik_bone].ik
    assert ik is not None
    links = [lk for lk in ik.links if lk.bone != ik.target]
    if not links:
        return
    owner = obj.pose.bones[names[links[0].bone]]
    con = owner.constraints.new("IK")
    con.name = IK_CONSTRAINT
    con.target = obj
    con.subtarget = names[ik_bone]
    con.chain_count = len(links)
    con.use_tail = True
    con.iterations = max(1, min(int(ik.loop_count) * 2, 500))
    for lk in links:
        if lk.limit_min is None or lk.limit_max is None:
            continue
        pb = obj.pose.bones[names[lk.bone]]
        rest = np.array(pb.bone.matrix_local)[:3, :3]
        for k in range(3):
            lo, hi = float(lk.limit_min[k]), float(lk.limit_max[k])
            # A rotation about MMD axis e_k is one about -SWAP e_k in Blender, then into bone axes.
            axis = rest.T @ (-SWAP @ np.eye(3)[k])
            i = int(np.argmax(np.abs(axis)))
            if abs(axis[i]) < 0.99:
                continue
            if axis[i] < 0:
                lo, hi = -hi, -lo
            letter = "xyz"[i]
            setattr(pb, f"use_ik_limit_{letter}", True)
            setattr(pb, f"ik_min_{letter}", lo)
            setattr(pb, f"ik_max_{letter}", hi)
        for letter in "xyz":  # axes with no range are locked, as MMD's limits do
            if getattr(pb, f"use_ik_limit_{letter}"):
                continue
            setattr(pb, f"lock_ik_{letter}", True)


def ik_constraints(obj: bpy.types.Object) -> dict[str, list[bpy.types.Constraint]]:
    """NFKC MMD name of each IK bone -> the IK constraints that aim at it."""
    out: dict[str, list[bpy.types.Constraint]] = {}
    for pb in obj.pose.bones:
        for con in pb.constraints:
            if con.type == "IK" and con.target == obj and con.subtarget in obj.pose.bones:
                out.setdefault(nfkc(japanese_name(obj.pose.bones[con.subtarget])), []).append(con)
    return out


# ----------------------------------------------------------------------------------------------- as PMX

def model_from_armature(obj: bpy.types.Object, scale: float | None = None) -> PmxModel:
    """A PMX-like bone table of armature `obj` (rest heads and tails in MMD units, parents, MMD names,
    leg IK from the IK constraints) for the retarget. No append bones: Blender shows none either."""
    if obj is None or obj.type != "ARMATURE":
        raise BadInput("Select an MMD armature (import a PMX skeleton first)")
    scale = armature_scale(obj) if scale is None else scale
    bones = list(obj.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    pmx: list[PmxBone] = []
    for i, b in enumerate(bones):
        head = blender_to_mmd(np.array(b.head_local), scale)
        tail = blender_to_mmd(np.array(b.tail_local), scale)
        parent = index[b.parent.name] if b.parent else -1
        jp = japanese_name(obj.pose.bones[b.name])
        jp = ALIASES.get(_alias_key(jp), jp)  # English/.L/.R names of the standard bones
        pmx.append(PmxBone(index=i, name=jp, name_en=b.name,
                           position=tuple(head), parent=parent, layer=0, flags=0x001A,
                           tail_offset=tuple(tail - head)))
    for pb in obj.pose.bones:
        for con in pb.constraints:
            if con.type != "IK" or con.target != obj or con.subtarget not in index:
                continue
            chain = []
            cur = pb.bone
            for _ in range(max(con.chain_count, 1) if con.chain_count else 64):
                if cur is None:
                    break
                chain.append(cur)
                cur = cur.parent
            tail = np.array(pb.bone.tail_local)
            children = sorted(pb.bone.children, key=lambda c: float(np.linalg.norm(np.array(c.head_local) - tail)))
            if not children or np.linalg.norm(np.array(children[0].head_local) - tail) > 0.05 * pb.bone.length:
                continue
            target = index[children[0].name]
            ik_i = index[con.subtarget]
            pmx[ik_i].flags |= 0x0020
            pmx[ik_i].ik = PmxIk(target=target, loop_count=40, limit_angle=2.0,
                                 links=[PmxIkLink(index[c.name]) for c in chain])
    return PmxModel(version=2.0, encoding="utf-16-le", additional_uv=0, vertex_index_size=4,
                    texture_index_size=4, material_index_size=4, bone_index_size=4, morph_index_size=4,
                    rigid_body_index_size=4, name=obj.name, name_en=obj.name, comment="", comment_en="",
                    vertex_count=0, face_count=0, textures=[], material_names=[], bones=pmx, offsets={})
