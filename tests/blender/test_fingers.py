"""Fingers in Blender (issue 17): a take with fingers bakes a Monocap armature with finger bones, retargets
onto Blender's own human metarig (Rigify names), a rig with Mixamo names, and Gene imported from its PMX
(the MMD operator), the finger bones following the take's finger segments."""

from __future__ import annotations

import sys

import bpy
import numpy as np
from monocap_testdata import SHARED, mocap_take, with_fingers

from engine import skeleton as sk
from engine.take import write_take

CLIP = "dataset-1_walk_normal_001.bvh"
GENE_PMX = SHARED / "mmd" / "gene" / "Gene.pmx"
FINGER_CHAINS = [(f"{f}{a}_{s}", f"{f}{b}_{s}") for s in "LR" for f in sk.FINGERS
                 for a, b in (("1", "2"), ("2", "3"), ("3", "Tip"))]


def _take(frames: int = 40) -> dict:
    return with_fingers(mocap_take(CLIP, frames=frames))


def _heads(obj: bpy.types.Object, names, frames: list[int]) -> np.ndarray:
    out = np.zeros((len(frames), len(names), 3))
    for i, f in enumerate(frames):
        bpy.context.scene.frame_set(f)
        for j, n in enumerate(names):
            out[i, j] = obj.matrix_world @ obj.pose.bones[n].head
    return out


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_bake_gives_moving_finger_bones_where_the_take_has_them(addon, clean_scene) -> None:
    from monocap.blender_lib.take.armature import build_armature, to_zup
    from monocap.blender_lib.take.bake import bake_take

    take = _take()
    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    bake_take(bpy.context, obj, take, frame_start=1)
    assert {f"{f}{k}_{s}" for f in sk.FINGERS for k in "123" for s in "LR"} <= set(obj.data.bones.keys())
    frames = [1, 8, 16, 30]
    names = list(take["joint_names"])
    got = _heads(obj, names, frames)
    want = to_zup(take["joints3d"][[f - 1 for f in frames]])
    assert np.abs(got - want).max() < 2e-3
    # the hand opens and closes: the middle fingertip moves against the wrist by centimetres
    tip = got[:, names.index("MiddleTip_L")] - got[:, names.index("Hand_L")]
    assert np.ptp(np.linalg.norm(tip, axis=-1)) > 0.02


def test_rigify_metarig_fingers_follow_the_take(addon, clean_scene) -> None:
    import addon_utils
    from monocap.blender_lib.take.armature import to_zup
    from monocap.blender_lib.take.retarget import retarget_take

    addon_utils.enable("rigify", default_set=False)
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.active_object
    take = _take()
    _, mapping, _, conv = retarget_take(bpy.context, obj, take, frame_start=1)
    assert conv == "Rigify"
    assert mapping["Thumb1_L"] == "thumb.01.L" and mapping["Little3_R"] == "f_pinky.03.R"
    assert mapping["Index2_L"] == "f_index.02.L"
    frames = [1, 16, 30]
    idx = {n: i for i, n in enumerate(take["joint_names"])}
    joints = to_zup(take["joints3d"][[f - 1 for f in frames]])
    chains = [(a, b) for a, b in FINGER_CHAINS if a in mapping and b in mapping]
    assert len(chains) == 20  # index to little: 1->2, 2->3 on both hands, thumb 1->2, 2->3
    heads = _heads(obj, [mapping[n] for c in chains for n in c], frames).reshape(len(frames), len(chains), 2, 3)
    for k, (a, b) in enumerate(chains):
        err = _angles(heads[:, k, 1] - heads[:, k, 0], joints[:, idx[b]] - joints[:, idx[a]])
        assert err.max() < 3.0, (a, b, err)


def test_mixamo_finger_names_are_matched(addon, clean_scene) -> None:
    from monocap.blender_lib.take.armature import build_armature
    from monocap.blender_lib.take.retarget import match_bones

    take = _take(4)
    obj = build_armature(bpy.context, "Rig", take["joint_names"], take["parents"], take["rest_offsets"])
    mixamo = {"Little": "Pinky"}
    for s, side in (("L", "Left"), ("R", "Right")):
        for f in sk.FINGERS:
            for k in "123":
                obj.data.bones[f"{f}{k}_{s}"].name = f"mixamorig:{side}Hand{mixamo.get(f, f)}{k}"
        obj.data.bones[f"Hand_{s}"].name = f"mixamorig:{side}Hand"
        for canon, name in (("UpperArm", "Arm"), ("LowerArm", "ForeArm"), ("UpperLeg", "UpLeg"), ("LowerLeg", "Leg"),
                            ("Foot", "Foot"), ("Shoulder", "Shoulder")):
            obj.data.bones[f"{canon}_{s}"].name = f"mixamorig:{side}{name}"
    for canon, name in (("Hips", "Hips"), ("Spine", "Spine"), ("Chest", "Spine2"), ("Neck", "Neck"), ("Head", "Head")):
        obj.data.bones[canon].name = f"mixamorig:{name}"
    mapping, conv = match_bones(list(take["joint_names"]), [b.name for b in obj.data.bones])
    # (the generic table wins here: it also finds the bones this rig kept under Monocap's names)
    assert conv in ("Mixamo", "generic")
    assert all(mapping[f"{f}{k}_{s}"].startswith("mixamorig:") for f in sk.FINGERS for k in "123" for s in "LR")
    assert mapping["Middle2_R"] == "mixamorig:RightHandMiddle2" and mapping["Little1_L"] == "mixamorig:LeftHandPinky1"
    # and names in the other common spellings
    generic, _ = match_bones(["Index1_L", "Little3_R", "Thumb2_L"], ["index_01_l", "RightLittleDistal", "thumb_02_l"])
    assert generic == {"Index1_L": "index_01_l", "Little3_R": "RightLittleDistal", "Thumb2_L": "thumb_02_l"}


def test_retarget_to_gene_keys_the_finger_bones(addon, clean_scene, tmp_path) -> None:
    mmd = sys.modules.get("monocap.operators.mmd")
    if mmd is None:
        from monocap.operators import mmd
    mine = [c for c in mmd.classes if not c.is_registered]
    for c in mine:
        bpy.utils.register_class(c)
    try:
        take = _take()
        path = tmp_path / "fingers.npz"
        write_take(path, take)
        assert bpy.ops.monocap.import_pmx_skeleton(filepath=str(GENE_PMX)) == {"FINISHED"}
        obj = bpy.context.active_object
        assert bpy.ops.monocap.retarget_take_mmd(filepath=str(path), leg_mode="fk") == {"FINISHED"}
        swap = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # armature space -> MMD axes
        p = np.asarray(take["joints3d"], np.float64)
        idx = {n: i for i, n in enumerate(take["joint_names"])}
        bones = {"左人指１": ("Index1_L", "Index2_L"), "左中指２": ("Middle2_L", "Middle3_L"),
                 "右薬指３": ("Ring3_R", "RingTip_R"), "右親指０": ("Thumb1_R", "Thumb2_R"),
                 "右小指１": ("Little1_R", "Little2_R")}
        errors = []
        for t in (0, 13, 27, 39):
            bpy.context.scene.frame_set(t)
            for bone, (a, b) in bones.items():
                pb = obj.pose.bones[bone]
                d = swap @ np.array(pb.tail - pb.head)
                want = (p[t, idx[b]] - p[t, idx[a]]) * [1.0, 1.0, -1.0]
                errors.append(float(_angles(d, want)))
        assert np.mean(errors) < 2.0 and max(errors) < 5.0, errors
    finally:
        for c in reversed(mine):
            bpy.utils.unregister_class(c)
