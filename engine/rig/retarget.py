"""Retarget a take (canonical skeleton) onto a PMX rig, as a VMD motion.

Coordinates. The take is `world_yup`: metres, right-handed, Y up, the rest pose facing +Z with the
character's left at +X. MMD (`mmd`) is left-handed, Y up, 1 unit = 8 cm, models facing -Z with their left
at +X. So a world_yup point p becomes (x, y, -z) / 0.08 in MMD units (`yup_to_mmd`), a direction just
flips z, and a rotation matrix R becomes M R M with M = diag(1, 1, -1). All the rotation algebra below is
done on MMD coordinate triples, the convention of VMD keys and of `engine.rig.mmd_fk`.

Rotations (rest-pose aware). MMD bones have no rest rotation, so a bone's world rotation is its rotation
from the PMX rest pose. For every mapped bone the retarget builds two frames from a primary direction (the
bone, head -> tail) and a twist reference s0 (the body's forward axis; sideways for bones that point
forward, like the foot):
    rest frame  F(d_rest, s0)      d_rest: the PMX bone's direction in the rig's rest pose
    posed frame F(u(t), G(t) s0)   u(t): the take's matching segment in joints3d; G(t): the world rotation
                                   of the take joint driving the bone (its twist)
and the bone's world rotation W(t) = F(u, G s0) F(d_rest, s0)^T carries the rig's bone exactly onto the
take's segment, whatever the two rest poses are (an A-pose rig and a T-pose take, or the other way round).
A bone's VMD key is its parent's world rotation (from the rig's own FK, append bones included) inverted,
times W. Spine segments use points that are rigid in their joint's frame (Spine -> hip midpoint for the
lower body); the head uses the Head joint's up axis and the wrist the forearm's rest direction, turned by
their joints' rotations (the take has no point past them).

Translations. Proportions differ, so take displacements are scaled by s = rig leg length / take leg
length (MMD units per metre, thigh + shin). センター (horizontal) and グルーブ (vertical, when the rig has
it; else センター takes all three) put the rig's hip midpoint at its rest place plus s times the take's hip
midpoint displacement. Legs: in FK mode 足/ひざ/足首 are keyed by rotation and the property key switches
the leg IK bones off. In IK mode (the default when the rig has 足ＩＫ on both sides) 足ＩＫ is keyed so the
ankle's target is the rig's rest ankle plus s times the take's ankle displacement, and つま先ＩＫ so the
foot points along the take's foot; 足/ひざ/足首 are left to MMD's solver.

Keys go at frame round(i * 30 / fps) (MMD plays 30 frames per second), one per take frame, linear curves.
numpy only.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import BadInput
from ..formats.pmx import PmxModel, read_pmx
from ..formats.vmd import VmdBoneKeys, VmdIkState, VmdMotion, VmdPropertyKey, write_vmd
from ..quaternion import frame_from_vectors, matrix_to_quat, quat_continuity, quat_to_matrix, unit_vectors
from .mmd_fk import MmdPose

MMD_UNIT_M = 0.08  # metres per MMD unit
MMD_FPS = 30.0
_FLIP = np.array([1.0, 1.0, -1.0])
_FORWARD_YUP = np.array([0.0, 0.0, 1.0])
_LATERAL_YUP = np.array([1.0, 0.0, 0.0])

# MMD bone -> (take joint giving the twist, segment start points, segment end points) or, with a None
# segment, a rest direction (world_yup) turned by the joint's rotation. Points are averaged.
Segment = tuple[str, tuple[str, ...] | None, tuple[str, ...] | tuple[float, ...]]


def _arm_specs(side: str, jp: str) -> dict[str, Segment]:
    return {
        f"{side}肩": (f"Shoulder_{jp}", (f"Shoulder_{jp}",), (f"UpperArm_{jp}",)),
        f"{side}腕": (f"UpperArm_{jp}", (f"UpperArm_{jp}",), (f"LowerArm_{jp}",)),
        f"{side}ひじ": (f"LowerArm_{jp}", (f"LowerArm_{jp}",), (f"Hand_{jp}",)),
        f"{side}手首": (f"Hand_{jp}", None, ("rest", f"LowerArm_{jp}", f"Hand_{jp}")),
    }


def _leg_specs(side: str, jp: str) -> dict[str, Segment]:
    return {
        f"{side}足": (f"UpperLeg_{jp}", (f"UpperLeg_{jp}",), (f"LowerLeg_{jp}",)),
        f"{side}ひざ": (f"LowerLeg_{jp}", (f"LowerLeg_{jp}",), (f"Foot_{jp}",)),
        f"{side}足首": (f"Foot_{jp}", (f"Foot_{jp}",), (f"Toes_{jp}",)),
    }


SPECS: dict[str, Segment] = {
    "下半身": ("Hips", ("Spine",), ("UpperLeg_L", "UpperLeg_R")),
    "上半身": ("Spine", ("Spine",), ("Chest",)),
    "上半身2": ("Chest", ("Chest",), ("Neck",)),
    "首": ("Neck", ("Neck",), ("Head",)),
    "頭": ("Head", None, (0.0, 1.0, 0.0)),
    **_arm_specs("左", "L"), **_arm_specs("右", "R"),
    **_leg_specs("左", "L"), **_leg_specs("右", "R"),
}
# Fingers, keyed when the take has them (a capture with hands): each MMD finger bone follows the take's
# finger segment from the joint to the next one; 親指０ is the thumb's base (the take's Thumb1, at the CMC).
_MMD_FINGERS = {"親指": ("Thumb", ("０", "１", "２")), "人指": ("Index", ("１", "２", "３")),
                "中指": ("Middle", ("１", "２", "３")), "薬指": ("Ring", ("１", "２", "３")),
                "小指": ("Little", ("１", "２", "３"))}
FINGER_SPECS: dict[str, Segment] = {
    f"{side}{mmd}{number}": (f"{finger}{k + 1}_{jp}", (f"{finger}{k + 1}_{jp}",),
                             (f"{finger}{k + 2 if k < 2 else 'Tip'}_{jp}",))
    for side, jp in (("左", "L"), ("右", "R"))
    for mmd, (finger, numbers) in _MMD_FINGERS.items()
    for k, number in enumerate(numbers)
}
LEG_BONES = tuple(n for side in "左右" for n in (f"{side}足", f"{side}ひざ", f"{side}足首"))
# Bones whose direction the retarget matches (the test's list): every key of SPECS.
MAPPED_BONES = tuple(SPECS)
ROOT_BONES = ("センター", "グルーブ")
TAKE_FIELDS = ("joint_names", "parents", "rest_offsets", "joints3d", "rotations")


# ----------------------------------------------------------------------------------------------- maths

def yup_to_mmd(p: np.ndarray) -> np.ndarray:
    """world_yup points (..., 3) metres -> MMD units (left-handed, Y up, facing -Z)."""
    return np.asarray(p, np.float64) * _FLIP / MMD_UNIT_M


def mmd_to_yup(p: np.ndarray) -> np.ndarray:
    """MMD points (..., 3) -> world_yup metres (inverse of `yup_to_mmd`)."""
    return np.asarray(p, np.float64) * _FLIP * MMD_UNIT_M


def take_world_rotations(parents: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """World rotation matrices (T, J, 3, 3) world_yup from local w x y z quaternions (T, J, 4)."""
    local = quat_to_matrix(rotations)
    world = np.empty_like(local)
    for j, p in enumerate(parents):
        world[:, j] = local[:, j] if p < 0 else world[:, p] @ local[:, j]
    return world


def take_rest_positions(parents: np.ndarray, rest_offsets: np.ndarray) -> np.ndarray:
    """(J, 3) rest positions of the take's skeleton, root at the origin."""
    pos = np.zeros((len(parents), 3))
    for j, p in enumerate(parents):
        pos[j] = rest_offsets[j] if p < 0 else pos[p] + rest_offsets[j]
    return pos


# ----------------------------------------------------------------------------------------------- rig side

def rig_tail(model: PmxModel, b: int) -> np.ndarray | None:
    """Rest tail position (3,) of bone b in MMD units: its tail bone's head or head + tail offset; None when
    the bone has no length."""
    bone = model.bones[b]
    head = np.asarray(bone.position, np.float64)
    if bone.flags & 0x0001:
        if bone.tail_bone < 0:
            return None
        tail = np.asarray(model.bones[bone.tail_bone].position, np.float64)
    else:
        tail = head + np.asarray(bone.tail_offset, np.float64)
    return tail if np.linalg.norm(tail - head) > 1e-6 else None


# Child that gives a bone its direction when the PMX bone has no tail.
_FALLBACK_CHILD = {
    "上半身": "上半身2", "上半身2": "首", "首": "頭",
    **{f"{s}肩": f"{s}腕" for s in "左右"}, **{f"{s}腕": f"{s}ひじ" for s in "左右"},
    **{f"{s}ひじ": f"{s}手首" for s in "左右"}, **{f"{s}足": f"{s}ひざ" for s in "左右"},
    **{f"{s}ひざ": f"{s}足首" for s in "左右"}, **{f"{s}足首": f"{s}つま先" for s in "左右"},
}


def rig_direction(model: PmxModel, name: str) -> tuple[int, np.ndarray] | None:
    """MMD bone `name`: (bone index, rest direction (3,) unit, MMD axes), head -> tail, else head -> the
    next bone of the chain (the hip midpoint for 下半身); None when the rig lacks the bone or it has no
    direction."""
    b = model.bone_index(name)
    if b < 0:
        return None
    head = np.asarray(model.bones[b].position, np.float64)
    tail = rig_tail(model, b)
    if tail is None and name == "下半身":
        legs = [model.bone_index(f"{s}足") for s in "左右"]
        if min(legs) >= 0:
            tail = 0.5 * np.add(model.bones[legs[0]].position, model.bones[legs[1]].position)
    if tail is None and _FALLBACK_CHILD.get(name):
        c = model.bone_index(_FALLBACK_CHILD[name])
        if c >= 0:
            tail = np.asarray(model.bones[c].position, np.float64)
    if tail is None or np.linalg.norm(tail - head) < 1e-6:
        return None
    return b, unit_vectors(tail - head)


# ----------------------------------------------------------------------------------------------- retarget

def _check_take(take: dict) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [k for k in TAKE_FIELDS if k not in take or take[k] is None]
    if missing:
        raise BadInput(f"take has no 3D motion to retarget (missing {', '.join(missing)}): lift it first")
    names = [str(n) for n in take["joint_names"]]
    parents = np.asarray(take["parents"], np.int64)
    rest = np.asarray(take["rest_offsets"], np.float64)
    joints = np.asarray(take["joints3d"], np.float64)
    rots = np.asarray(take["rotations"], np.float64)
    j = len(names)
    if (parents.shape != (j,) or rest.shape != (j, 3) or joints.ndim != 3 or joints.shape[1:] != (j, 3)
            or rots.shape != joints.shape[:2] + (4,)):
        raise BadInput(f"take arrays disagree: {j} joint names, parents {parents.shape}, rest_offsets "
                       f"{rest.shape}, joints3d {joints.shape}, rotations {rots.shape}")
    if joints.shape[0] == 0:
        raise BadInput("take has no frames to retarget")
    if not (np.isfinite(joints).all() and np.isfinite(rots).all()):
        raise BadInput("take has non-finite joints3d or rotations")
    if np.any(parents >= np.arange(j)):
        raise BadInput("take skeleton must list every joint after its parent")
    index = {n: i for i, n in enumerate(names)}
    need = {"Hips", "Spine", "Chest", "Neck", "Head", "UpperLeg_L", "UpperLeg_R", "LowerLeg_L", "LowerLeg_R",
            "Foot_L", "Foot_R"}
    lacking = sorted(need - set(index))
    if lacking:
        raise BadInput(f"take skeleton is not the canonical one (no joint {', '.join(lacking)})")
    return index, parents, rest, joints, rots


def _twist_reference(r: np.ndarray) -> np.ndarray:
    """Twist reference (world_yup) for a bone whose take rest direction is r: forward, or sideways when
    the bone itself points mostly forward."""
    return _LATERAL_YUP if abs(float(np.dot(unit_vectors(r), _FORWARD_YUP))) > 0.7 else _FORWARD_YUP


def leg_scale(model: PmxModel, index: dict[str, int], rest: np.ndarray, parents: np.ndarray) -> float:
    """MMD units per take metre: rig thigh + shin over the take's (mean of the sides the rig has); without
    legs, センター height over the take's hip height; else 1 / 0.08."""
    ratios = []
    for s, jp in (("左", "L"), ("右", "R")):
        ids = [model.bone_index(f"{s}{n}") for n in ("足", "ひざ", "足首")]
        if min(ids) < 0:
            continue
        p = [np.asarray(model.bones[i].position, np.float64) for i in ids]
        rig_len = np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[1])
        take_len = sum(np.linalg.norm(rest[index[f"{n}_{jp}"]]) for n in ("LowerLeg", "Foot"))
        if rig_len > 1e-6 and take_len > 1e-6:
            ratios.append(rig_len / take_len)
    if ratios:
        return float(np.mean(ratios))
    pos = take_rest_positions(parents, rest)
    c = model.bone_index("センター")
    h = pos[index["Hips"], 1] - min(pos[index["Foot_L"], 1], pos[index["Foot_R"], 1])
    if c >= 0 and model.bones[c].position[1] > 1e-6 and h > 1e-6:
        return float(model.bones[c].position[1] / h)
    return 1.0 / MMD_UNIT_M


def retarget_to_vmd(take: dict, model: PmxModel, leg_mode: str = "auto") -> tuple[VmdMotion, list[str]]:
    """Retarget `take` (DESIGN.md take fields) onto `model`. leg_mode: "auto" (IK when the rig has 左足ＩＫ
    and 右足ＩＫ), "ik" or "fk". Returns the motion (one key per take frame on every mapped bone, plus a
    property key switching the leg IK) and warnings (bones the rig lacks, a mode that could not be used).
    """
    if leg_mode not in ("auto", "ik", "fk"):
        raise BadInput(f"leg mode must be auto, ik or fk, not {leg_mode!r}")
    index, parents, rest, joints_yup, rots = _check_take(take)
    fps = float(take.get("fps", MMD_FPS))
    if not fps > 0:
        raise BadInput(f"take frame rate must be positive, got {fps}")
    warnings: list[str] = []
    T = joints_yup.shape[0]
    bones = model.bones
    B = len(bones)

    rest_pos_yup = take_rest_positions(parents, rest)
    G_yup = take_world_rotations(parents, rots)  # (T, J, 3, 3)
    M = np.diag(_FLIP)
    G = M @ G_yup @ M  # world rotations in MMD axes
    joints = joints_yup * _FLIP  # metres, MMD axes (directions only need the flip)

    # which IK bones drive the legs
    ik_names = {}
    for s in "左右":
        for kind in ("足ＩＫ", "つま先ＩＫ"):
            i = model.bone_index(f"{s}{kind}")
            ik_names[f"{s}{kind}"] = i if i >= 0 and bones[i].ik is not None else -1
    has_leg_ik = ik_names["左足ＩＫ"] >= 0 and ik_names["右足ＩＫ"] >= 0
    mode = leg_mode
    if mode == "auto":
        mode = "ik" if has_leg_ik else "fk"
    elif mode == "ik" and not has_leg_ik:
        warnings.append("rig has no 左足ＩＫ/右足ＩＫ: legs retargeted by rotation (FK)")
        mode = "fk"

    # spine fallback: no 上半身2 -> 上半身 spans Spine..Neck with the chest's twist
    specs = dict(SPECS)
    if "Index1_L" in index:
        specs.update(FINGER_SPECS)
    if model.bone_index("上半身2") < 0:
        specs["上半身"] = ("Chest", ("Spine",), ("Neck",))

    # ---- world rotation of every mapped bone (MMD axes)
    world_target: dict[int, np.ndarray] = {}
    skipped: list[str] = []
    for name, (jname, a_pts, c_pts) in specs.items():
        info = rig_direction(model, name)
        if info is None:
            skipped.append(name)
            continue
        b, d_rest = info
        if jname not in index:
            skipped.append(name)
            continue
        j = index[jname]
        if a_pts is None:
            if c_pts[0] == "rest":
                r_yup = rest[index[c_pts[2]]] if c_pts[2] in index else np.array([1.0, 0.0, 0.0])
            else:
                r_yup = np.asarray(c_pts, np.float64)
            r_yup = unit_vectors(np.asarray(r_yup, np.float64))
            u = G[:, j] @ (r_yup * _FLIP)
        else:
            if any(n not in index for n in a_pts + c_pts):
                skipped.append(name)
                continue
            pa = joints[:, [index[n] for n in a_pts]].mean(1)
            pc = joints[:, [index[n] for n in c_pts]].mean(1)
            u = pc - pa
            r_yup = rest_pos_yup[[index[n] for n in c_pts]].mean(0) - rest_pos_yup[[index[n] for n in a_pts]].mean(0)
        s0 = _twist_reference(r_yup) * _FLIP
        v = G[:, j] @ s0
        world_target[b] = frame_from_vectors(u, v) @ np.swapaxes(frame_from_vectors(d_rest, s0), -1, -2)
    if mode == "ik":
        for name in LEG_BONES:
            b = model.bone_index(name)
            world_target.pop(b, None)

    # ---- keys: parents first; each depth level sees its ancestors' keys through the rig's own FK
    rig = MmdPose(model)
    key_rot = np.zeros((T, B, 4))
    key_rot[..., 0] = 1.0
    key_pos = np.zeros((T, B, 3))
    keyed_rot: set[int] = set()
    keyed_pos: set[int] = set()

    def world() -> tuple[np.ndarray, np.ndarray]:
        return rig.evaluate(key_rot, key_pos, None, solve_ik=False)

    scale = leg_scale(model, index, rest, parents)

    # root: hip midpoint of the rig follows the take's, scaled
    center, groove = model.bone_index("センター"), model.bone_index("グルーブ")
    lower = model.bone_index("下半身")
    legs = [model.bone_index("左足"), model.bone_index("右足")]
    take_mid = 0.5 * (joints_yup[:, index["UpperLeg_L"]] + joints_yup[:, index["UpperLeg_R"]])
    take_mid0 = 0.5 * (rest_pos_yup[index["UpperLeg_L"]] + rest_pos_yup[index["UpperLeg_R"]])
    disp = (take_mid - take_mid0) * _FLIP * scale  # (T, 3) MMD units

    levels = sorted({int(rig.depth[b]) for b in world_target})
    if center < 0:
        skipped.append("センター")
    if groove < 0:
        skipped.append("グルーブ")
    root_done = center < 0
    for depth in levels:
        wpos, wrot = world()
        if not root_done and depth > rig.depth[center]:
            _key_root(model, rig, key_pos, keyed_pos, center, groove, lower, legs, disp, world_target, wpos)
            root_done = True
            wpos, wrot = world()
        for b in [b for b in world_target if rig.depth[b] == depth]:
            p = rig.parent[b]
            pw = quat_to_matrix(wrot[:, p]) if p >= 0 else np.eye(3)
            local = np.swapaxes(pw, -1, -2) @ world_target[b]
            key_rot[:, b] = matrix_to_quat(local)
            keyed_rot.add(b)
    if not root_done:
        wpos, _ = world()
        _key_root(model, rig, key_pos, keyed_pos, center, groove, lower, legs, disp, world_target, wpos)

    # ---- leg IK targets
    if mode == "ik":
        for s, jp in (("左", "L"), ("右", "R")):
            ik_b, toe_b = ik_names[f"{s}足ＩＫ"], ik_names[f"{s}つま先ＩＫ"]
            ankle = bones[ik_b].ik.target
            ankle0 = np.asarray(bones[ankle].position, np.float64)
            take_ankle = joints_yup[:, index[f"Foot_{jp}"]]
            want = ankle0 + (take_ankle - rest_pos_yup[index[f"Foot_{jp}"]]) * _FLIP * scale
            _key_world_position(rig, key_rot, key_pos, ik_b, want)
            keyed_pos.add(ik_b)
            if toe_b >= 0:
                tgt = bones[toe_b].ik.target
                spec = SPECS[f"{s}足首"]
                pa = joints[:, index[spec[1][0]]]
                pc = joints[:, index[spec[2][0]]]
                d_rest = np.asarray(bones[tgt].position, np.float64) - ankle0
                s0 = _twist_reference(rest[index[f"Toes_{jp}"]]) * _FLIP
                w_ankle = (frame_from_vectors(pc - pa, G[:, index[f"Foot_{jp}"]] @ s0)
                           @ np.swapaxes(frame_from_vectors(d_rest, s0), -1, -2))
                toe_want = want + w_ankle @ d_rest
                _key_world_position(rig, key_rot, key_pos, toe_b, toe_want)
                keyed_pos.add(toe_b)

    if skipped:
        warnings.append("bones not in the rig, skipped: " + ", ".join(dict.fromkeys(skipped)))

    # ---- keys out
    frames = np.rint(np.arange(T) * MMD_FPS / fps).astype(np.int64)
    _, first = np.unique(frames, return_index=True)
    first = np.sort(first)
    frames = frames[first]
    names: list[str] = []
    f_all, p_all, r_all = [], [], []
    for b in sorted(keyed_rot | keyed_pos):
        q = quat_continuity(key_rot[first, b])
        names += [bones[b].name] * len(first)
        f_all.append(frames)
        p_all.append(key_pos[first, b])
        r_all.append(np.concatenate([q[:, 1:], q[:, :1]], -1))  # x y z w
    if names:
        keys = VmdBoneKeys.build(names, np.concatenate(f_all).astype(np.uint32), np.concatenate(p_all),
                                 np.concatenate(r_all))
    else:
        keys = VmdBoneKeys.empty()
        warnings.append("rig has none of the bones the retarget keys: the motion is empty")
    ik_states = [VmdIkState(bones[i].name, 1 if mode == "ik" else 0) for i in ik_names.values() if i >= 0]
    props = [VmdPropertyKey(0, 1, ik_states)] if ik_states else []
    motion = VmdMotion(model_name=_vmd_model_name(model.name), bone_keys=keys, property_keys=props)
    return motion, warnings


def _key_root(model: PmxModel, rig: MmdPose, key_pos: np.ndarray, keyed: set[int], center: int, groove: int,
              lower: int, legs: list[int], disp: np.ndarray, world_target: dict[int, np.ndarray],
              wpos: np.ndarray) -> None:
    """Translate センター/グルーブ so the rig's hip midpoint sits at its rest place + disp (T, 3)."""
    bones = model.bones
    if min(legs) >= 0:
        mid0 = 0.5 * (np.asarray(bones[legs[0]].position) + np.asarray(bones[legs[1]].position))
    elif lower >= 0:
        mid0 = np.asarray(bones[lower].position, np.float64)
    else:
        mid0 = np.asarray(bones[center].position, np.float64)
    offset = disp.copy()
    if lower >= 0 and lower in world_target:
        head0 = np.asarray(bones[lower].position, np.float64)
        # hip midpoint = head + W (mid0 - head): move the head so the midpoint lands on target
        offset = disp + (mid0 - head0) - world_target[lower] @ (mid0 - head0)
    p = rig.parent[center]
    if p >= 0 and not np.allclose(wpos[:, p], np.asarray(bones[p].position)):
        offset = offset - (wpos[:, p] - np.asarray(bones[p].position))
    if groove >= 0 and rig.parent[groove] == center:
        key_pos[:, center] = offset * [1.0, 0.0, 1.0]
        key_pos[:, groove] = offset * [0.0, 1.0, 0.0]
        keyed.update((center, groove))
    else:
        key_pos[:, center] = offset
        keyed.add(center)


def _key_world_position(rig: MmdPose, key_rot: np.ndarray, key_pos: np.ndarray, b: int, want: np.ndarray) -> None:
    """Key bone b's translation so its head lands at `want` (T, 3) (FK without IK; its parent as keyed)."""
    wpos, wrot = rig.evaluate(key_rot, key_pos, None, solve_ik=False)
    p = rig.parent[b]
    if p < 0:
        key_pos[:, b] = want - rig.offset[b]
        return
    pr = quat_to_matrix(wrot[:, p])
    local = np.einsum("tji,tj->ti", pr, want - wpos[:, p])
    key_pos[:, b] = local - rig.offset[b]


def _vmd_model_name(name: str) -> str:
    """The model name cut to what a VMD's 20 cp932 bytes can hold ('' if it has no cp932 form)."""
    out = ""
    for ch in name:
        try:
            if len((out + ch).encode("cp932")) > 20:
                break
        except UnicodeEncodeError:
            return out
        out += ch
    return out


def write_take_vmd(take: dict, pmx_path: str | os.PathLike, vmd_path: str | os.PathLike,
                   leg_mode: str = "auto") -> list[str]:
    """CLI hook: retarget `take` onto the PMX at `pmx_path` and write the VMD atomically. Returns warnings."""
    model = read_pmx(pmx_path)
    motion, warnings = retarget_to_vmd(take, model, leg_mode)
    write_vmd(vmd_path, motion)
    return warnings
