"""Bake a take onto an existing armature: bones found through name tables (Monocap, Rigify, Mixamo,
Unreal-style, "Left/Right" and ".L/.R" conventions), rotations transferred rest-pose aware.

Retarget rule: a matched bone's posed orientation (armature space) is S @ R @ T, where S is the take's
world rotation of the joint, T the bone's rest orientation, and R the fixed rotation that turns the
bone's rest direction onto the canonical rest (T-pose) direction of that joint. So a target rigged in
an A-pose still follows a T-pose source, and unmatched bones keep their rest relation to their parent.
"""

from __future__ import annotations

import re

import bpy
import numpy as np

from ...engine.errors import BadInput
from ...engine.filters import matrix_to_quat, quat_continuity, quat_to_matrix
from ...engine.filters.footlock import rotation_between
from ..actions import compat
from ..actions.keyframes import write_keys
from .armature import YUP_TO_ZUP, bone_layout, rest_positions
from .bake import clean_fps, prepare_motion, scene_fps, set_scene_fps, store_take_range

# canonical joint -> candidate bone names per convention ({s}: side letter L/R, {side}: Left/Right)
TABLES: dict[str, dict[str, list[str]]] = {
    "Mixamo": {
        "Hips": ["mixamorig:Hips"], "Spine": ["mixamorig:Spine"],
        "Chest": ["mixamorig:Spine2", "mixamorig:Spine1"],
        "Neck": ["mixamorig:Neck"], "Head": ["mixamorig:Head"],
        "Shoulder_{s}": ["mixamorig:{side}Shoulder"], "UpperArm_{s}": ["mixamorig:{side}Arm"],
        "LowerArm_{s}": ["mixamorig:{side}ForeArm"], "Hand_{s}": ["mixamorig:{side}Hand"],
        "UpperLeg_{s}": ["mixamorig:{side}UpLeg"], "LowerLeg_{s}": ["mixamorig:{side}Leg"],
        "Foot_{s}": ["mixamorig:{side}Foot"], "Toes_{s}": ["mixamorig:{side}ToeBase"],
        "ToeTip_{s}": ["mixamorig:{side}Toe_End"],
        **{f"{f}{k}_{{s}}": [f"mixamorig:{{side}}Hand{m}{k}"]
           for f, m in (("Thumb", "Thumb"), ("Index", "Index"), ("Middle", "Middle"), ("Ring", "Ring"),
                        ("Little", "Pinky")) for k in (1, 2, 3)},
    },
    "Rigify": {
        "Hips": ["DEF-spine", "ORG-spine", "spine"], "Spine": ["DEF-spine.001", "ORG-spine.001", "spine.001"],
        "Chest": ["DEF-spine.003", "ORG-spine.003", "spine.003"],
        "Neck": ["DEF-spine.004", "ORG-spine.004", "spine.004"],
        "Head": ["DEF-spine.006", "ORG-spine.006", "spine.006"],
        "Shoulder_{s}": ["DEF-shoulder.{s}", "ORG-shoulder.{s}", "shoulder.{s}"],
        "UpperArm_{s}": ["DEF-upper_arm.{s}", "ORG-upper_arm.{s}", "upper_arm.{s}"],
        "LowerArm_{s}": ["DEF-forearm.{s}", "ORG-forearm.{s}", "forearm.{s}"],
        "Hand_{s}": ["DEF-hand.{s}", "ORG-hand.{s}", "hand.{s}"],
        "UpperLeg_{s}": ["DEF-thigh.{s}", "ORG-thigh.{s}", "thigh.{s}"],
        "LowerLeg_{s}": ["DEF-shin.{s}", "ORG-shin.{s}", "shin.{s}"],
        "Foot_{s}": ["DEF-foot.{s}", "ORG-foot.{s}", "foot.{s}"],
        "Toes_{s}": ["DEF-toe.{s}", "ORG-toe.{s}", "toe.{s}"],
        **{f"{f}{k}_{{s}}": [f"DEF-{r}.0{k}.{{s}}", f"ORG-{r}.0{k}.{{s}}", f"{r}.0{k}.{{s}}"]
           for f, r in (("Thumb", "thumb"), ("Index", "f_index"), ("Middle", "f_middle"), ("Ring", "f_ring"),
                        ("Little", "f_pinky")) for k in (1, 2, 3)},
    },
}
# Generic names, compared after normalising case, separators and the side marker.
GENERIC: dict[str, list[str]] = {
    "Root": ["root"],
    "Hips": ["hips", "hip", "pelvis"],
    "Spine": ["spine", "spine1", "spine01", "abdomen", "lowerspine"],
    "Chest": ["chest", "spine2", "spine02", "spine03", "upperchest", "upperspine"],
    "Neck": ["neck", "neck1", "neck01"],
    "Head": ["head"],
    "Shoulder": ["shoulder", "clavicle", "collar"],
    "UpperArm": ["upperarm", "uparm", "arm"],
    "LowerArm": ["lowerarm", "forearm", "lowarm", "elbow"],
    "Hand": ["hand", "wrist"],
    "UpperLeg": ["upperleg", "upleg", "thigh"],
    "LowerLeg": ["lowerleg", "calf", "shin", "lowleg", "knee", "leg"],
    "Foot": ["foot", "ankle"],
    "Toes": ["toes", "toe", "toebase", "ball"],
    "ToeTip": ["toetip", "toeend", "toe_end"],
    "Heel": ["heel"],
    # fingers: Unreal (index_01_l), VRM/Unity humanoid (LeftIndexProximal), numbered (LeftHandIndex1)
    **{f"{f}{k}": [name for a in aliases for name in (f"{a}{k}", f"{a}0{k}", f"hand{a}{k}", f"{a}{part}")]
       for f, aliases in (("Thumb", ("thumb",)), ("Index", ("index", "indexfinger")),
                          ("Middle", ("middle", "middlefinger")), ("Ring", ("ring", "ringfinger")),
                          ("Little", ("little", "pinky", "littlefinger")))
       for k, part in ((1, "proximal"), (2, "intermediate"), (3, "distal"))},
}
_SIDE_PATTERNS = [
    re.compile(r"^(?P<side>left|right)[\W_]*(?P<base>.+)$"),
    re.compile(r"^(?P<base>.+?)[\W_]*(?P<side>left|right)$"),
    re.compile(r"^(?P<side>[lr])[\W_]+(?P<base>.+)$"),
    re.compile(r"^(?P<base>.+?)[\W_]+(?P<side>[lr])$"),
]
_PREFIXES = re.compile(r"^(mixamorig\d*[:_]|def[-_]|org[-_]|mch[-_]|bip0*1[\s_]|cc_base_|j_bip_[clr]_)")


def normalise(name: str) -> tuple[str, str]:
    """(side "L"/"R"/"", base) of a bone name: 'mixamorig:LeftUpLeg' -> ('L', 'upleg')."""
    n = _PREFIXES.sub("", name.strip().lower())
    side = ""
    for pat in _SIDE_PATTERNS:
        m = pat.match(n)
        if m:
            side = "L" if m.group("side")[0] == "l" else "R"
            n = m.group("base")
            break
    return side, re.sub(r"[\W_]+", "", n)


def _expand(table: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for joint, cands in table.items():
        if "{s}" in joint:
            for s, side in (("L", "Left"), ("R", "Right")):
                out[joint.format(s=s)] = [c.format(s=s, side=side) for c in cands]
        else:
            out[joint] = cands
    return out


def match_bones(joint_names: list[str], bone_names: list[str]) -> tuple[dict[str, str], str]:
    """Map canonical joints to bones of the target: ({joint: bone}, convention name).

    Each convention is tried (exact Monocap names, the explicit tables, then generic normalised names);
    the one matching most joints wins. A bone is used for one joint at most.
    """
    bones = set(bone_names)
    candidates: list[tuple[str, dict[str, str]]] = [
        ("Monocap", {j: j for j in joint_names if j in bones})]
    for conv, table in TABLES.items():
        found = {}
        for joint, cands in _expand(table).items():
            hit = next((c for c in cands if c in bones), None)
            if joint in joint_names and hit:
                found[joint] = hit
        candidates.append((conv, found))
    by_key: dict[tuple[str, str], list[str]] = {}
    for b in bone_names:
        by_key.setdefault(normalise(b), []).append(b)
    generic: dict[str, str] = {}
    used: set[str] = set()
    for joint in joint_names:
        side = joint[-1] if joint[-2:] in ("_L", "_R") else ""
        base = joint[:-2] if side else joint
        for alias in GENERIC.get(base, [base.lower()]):
            hit = next((b for b in by_key.get((side, alias), []) if b not in used), None)
            if hit:
                generic[joint] = hit
                used.add(hit)
                break
    candidates.append(("generic", generic))
    conv, found = max(candidates, key=lambda c: len(c[1]))
    # Values must be unique even in the tables (Rigify may name one bone twice through prefixes).
    seen: set[str] = set()
    unique = {}
    for joint in joint_names:
        b = found.get(joint)
        if b and b not in seen:
            unique[joint] = b
            seen.add(b)
    return unique, conv


def _topological(bones: bpy.types.bpy_prop_collection) -> list[bpy.types.Bone]:
    out: list[bpy.types.Bone] = []

    def visit(b: bpy.types.Bone) -> None:
        out.append(b)
        for c in b.children:
            visit(c)
    for b in bones:
        if b.parent is None:
            visit(b)
    return out


def retarget_take(context: bpy.types.Context, obj: bpy.types.Object, take: dict, frame_start: int,
                  fps_mode: str = "SCENE", root_motion: bool = True, action_name: str = "MonocapTake"
                  ) -> tuple[bpy.types.Action, dict[str, str], list[str], str]:
    """Bake `take` onto `obj`'s bones. Returns (action, {joint: bone}, joints without a bone, convention).

    BadInput when the armature has no hips or too few matching bones to carry the motion.
    """
    from .bake import check_take

    check_take(take)
    names = list(take["joint_names"])
    parents = np.asarray(take["parents"])
    mapping, conv = match_bones(names, [b.name for b in obj.data.bones])
    mapping.pop("Root", None)  # the trajectory goes on the hips; a rig's own root bone stays put
    if "Hips" not in mapping or len(mapping) < 6:
        raise BadInput(f"{obj.name} has no bones matching Monocap, Rigify, Mixamo or Left/Right names "
                       f"(found {len(mapping)}: {', '.join(mapping.values()) or 'none'})")
    scene = context.scene
    if fps_mode == "SCENE":
        set_scene_fps(scene, float(take["fps"]))
        motion = prepare_motion(take, None, root_motion)
    else:
        motion = prepare_motion(take, clean_fps(scene_fps(scene)), root_motion)
    local = quat_to_matrix(motion["rotations"])  # (T, J, 3, 3) world_yup
    n = len(local)
    glob = np.empty_like(local)
    for j, p in enumerate(parents):
        glob[:, j] = local[:, j] if p < 0 else glob[:, p] @ local[:, j]

    # Armature space: the take's world (blender_zup) seen through the object's rotation.
    world = np.array(obj.matrix_world)
    scale = np.linalg.norm(world[:3, :3], axis=0)
    obj_rot = world[:3, :3] / scale
    to_arm = obj_rot.T @ YUP_TO_ZUP  # world_yup -> armature-space directions
    heads_c, tails_c, tail_child = bone_layout(names, parents, np.asarray(take["rest_offsets"]))
    canon_dir = (tails_c - heads_c) @ YUP_TO_ZUP  # zup -> yup: C^T v == v @ C
    canon_dir = canon_dir @ to_arm.T

    bones = obj.data.bones
    rest = {b.name: np.array(b.matrix_local)[:3, :3] for b in bones}
    head = {b.name: np.array(b.matrix_local)[:3, 3] for b in bones}
    joint_of = {b: j for j, b in mapping.items()}
    index = {nm: i for i, nm in enumerate(names)}
    posed: dict[str, np.ndarray] = {}
    basis: dict[str, np.ndarray] = {}
    for bone in _topological(bones):
        par = bone.parent
        par_posed = posed[par.name] if par else np.eye(3)
        par_rest = rest[par.name] if par else np.eye(3)
        if bone.name in joint_of:
            j = index[joint_of[bone.name]]
            src = to_arm @ glob[:, j] @ to_arm.T
            # Rest direction of the bone: towards the matched child's head when there is one.
            # Rest direction: towards the bone matched to the joint's chain child when that bone hangs
            # below this one (unmatched bones between are fine: Rigify's spine.002), else the tail.
            c = tail_child[j]
            below = mapping.get(names[c]) if c is not None else None
            if below is not None and bone.name in {b.name for b in bones[below].parent_recursive}:
                tip = head[below]
            else:
                tip = np.array(bone.tail_local)
            align = rotation_between((tip - head[bone.name])[None], canon_dir[j][None])[0]
            posed[bone.name] = src @ (align @ rest[bone.name])
            par_inv = np.swapaxes(par_posed, -1, -2)
            basis[bone.name] = rest[bone.name].T @ par_rest @ par_inv @ posed[bone.name]
        else:
            posed[bone.name] = par_posed @ (par_rest.T @ rest[bone.name])

    frames = frame_start + np.arange(n, dtype=np.float64)
    action = compat.new_action(obj, action_name)
    chans = compat.channels(obj, create=True)
    for bname, mats in basis.items():
        pb = obj.pose.bones[bname]
        pb.rotation_mode = "QUATERNION"
        q = quat_continuity(matrix_to_quat(mats))
        path = f'pose.bones["{bname}"].rotation_quaternion'
        for c in range(4):
            write_keys(chans.new(path, c, bname), frames, q[:, c])

    # Hips travel: scaled by hip height, applied in the hips bone's rest frame (its parents stay at rest).
    hips = mapping["Hips"]
    hips_rest_c = rest_positions(parents, np.asarray(take["rest_offsets"]))[index["Hips"]]
    up_world = (world[:3, :3] @ head[hips])[2] + world[2, 3]
    s = max(up_world, 1e-3) / max(hips_rest_c[1], 1e-3)
    root = motion["root"]
    hips_offset = np.asarray(take["rest_offsets"])[index["Hips"]]
    root_rot = glob[:, parents[index["Hips"]]] if parents[index["Hips"]] >= 0 else np.eye(3)[None]
    hips_world = root + np.einsum("tij,j->ti", np.broadcast_to(root_rot, (n, 3, 3)), hips_offset)
    disp = (hips_world - hips_rest_c) @ YUP_TO_ZUP.T * s  # world metres
    disp_arm = disp @ np.linalg.inv(world[:3, :3]).T
    loc = disp_arm @ rest[hips]
    path = f'pose.bones["{hips}"].location'
    for c in range(3):
        write_keys(chans.new(path, c, hips), frames, loc[:, c])
    store_take_range(obj, scene, motion["contacts"], frame_start, n)
    unmatched = [j for j in names if j not in mapping and j != "Root"]
    return action, mapping, unmatched, conv
