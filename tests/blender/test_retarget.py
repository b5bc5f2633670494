"""Retargeting a take onto armatures that are not Monocap's: a mocap rig imported with Blender's BVH
importer (its own rest pose and bone rolls), renamed to Mixamo names; bad targets are refused cleanly."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from monocap_testdata import MOCAP, mocap_take

CLIP = "dataset-1_walk_normal_001.bvh"
MIXAMO = {"Hips": "mixamorig:Hips", "Spine": "mixamorig:Spine", "Chest": "mixamorig:Spine2",
          "Neck": "mixamorig:Neck", "Head": "mixamorig:Head"}
for _s, _side in (("L", "Left"), ("R", "Right")):
    MIXAMO.update({f"Shoulder_{_s}": f"mixamorig:{_side}Shoulder", f"UpperArm_{_s}": f"mixamorig:{_side}Arm",
                   f"LowerArm_{_s}": f"mixamorig:{_side}ForeArm", f"Hand_{_s}": f"mixamorig:{_side}Hand",
                   f"UpperLeg_{_s}": f"mixamorig:{_side}UpLeg", f"LowerLeg_{_s}": f"mixamorig:{_side}Leg",
                   f"Foot_{_s}": f"mixamorig:{_side}Foot", f"Toes_{_s}": f"mixamorig:{_side}ToeBase"})
CHAINS = [("UpperLeg_L", "LowerLeg_L"), ("LowerLeg_L", "Foot_L"), ("UpperLeg_R", "LowerLeg_R"),
          ("LowerLeg_R", "Foot_R"), ("UpperArm_L", "LowerArm_L"), ("LowerArm_L", "Hand_L"),
          ("UpperArm_R", "LowerArm_R"), ("LowerArm_R", "Hand_R"), ("Spine", "Chest"), ("Neck", "Head")]


def import_mocap_rig(scale: float = 0.01) -> bpy.types.Object:
    """The mocap skeleton as Blender's BVH importer builds it (cm -> m), animation dropped."""
    bpy.ops.import_anim.bvh(filepath=str(MOCAP / CLIP), global_scale=scale, frame_start=1)
    obj = bpy.context.active_object
    assert obj.type == "ARMATURE"
    obj.animation_data_clear()
    return obj


def _heads(obj: bpy.types.Object, frames: list[int]) -> dict[str, np.ndarray]:
    out = {b.name: np.zeros((len(frames), 3)) for b in obj.pose.bones}
    for i, f in enumerate(frames):
        bpy.context.scene.frame_set(f)
        for pb in obj.pose.bones:
            out[pb.name][i] = obj.matrix_world @ pb.head
    return out


def _check_directions(obj, take, names: dict[str, str], frames: list[int]) -> None:
    from monocap.blender_lib.take.armature import to_zup

    heads = _heads(obj, frames)
    joints = to_zup(take["joints3d"][[f - 1 for f in frames]])
    idx = {n: i for i, n in enumerate(take["joint_names"])}
    for a, b in CHAINS:
        got = heads[names[b]] - heads[names[a]]
        want = joints[:, idx[b]] - joints[:, idx[a]]
        cos = np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 3.0, (a, b)


def test_retarget_onto_mocap_rig_follows_the_take(addon, clean_scene) -> None:
    from monocap.blender_lib.take.retarget import retarget_take

    take = mocap_take(CLIP, frames=90)
    obj = import_mocap_rig()
    _, mapping, unmatched, conv = retarget_take(bpy.context, obj, take, frame_start=1)
    assert conv == "Monocap" and mapping["UpperLeg_L"] == "UpperLeg_L"
    assert set(unmatched) == {"ToeTip_L", "Heel_L", "ToeTip_R", "Heel_R", "Nose"}
    _check_directions(obj, take, {n: n for n in take["joint_names"]}, [1, 30, 61, 90])
    # The hips travel with the take (this rig's hips are at the same height, so scale ~ 1).
    from monocap.blender_lib.take.armature import to_zup

    heads = _heads(obj, [1, 90])
    travel = heads["Hips"][1] - heads["Hips"][0]
    want = to_zup(take["joints3d"][89, 1] - take["joints3d"][0, 1])
    assert np.linalg.norm(want) > 0.5 and np.linalg.norm(travel - want) < 0.05 * np.linalg.norm(want)


def test_retarget_by_mixamo_names_and_object_scale(addon, clean_scene) -> None:
    from monocap.blender_lib.take.retarget import retarget_take

    take = mocap_take(CLIP, frames=60)
    obj = import_mocap_rig(scale=1.0)  # centimetres, as Mixamo rigs come: object scaled by 0.01
    obj.scale = (0.01, 0.01, 0.01)
    for canon, mixamo in MIXAMO.items():
        obj.data.bones[canon].name = mixamo
    _, mapping, _, conv = retarget_take(bpy.context, obj, take, frame_start=1)
    assert conv == "Mixamo" and len(mapping) == len(MIXAMO)
    _check_directions(obj, take, {**MIXAMO}, [1, 33, 60])


@pytest.mark.parametrize(("name", "key"), [
    ("mixamorig:LeftUpLeg", ("L", "upleg")), ("thigh.L", ("L", "thigh")), ("RightForeArm", ("R", "forearm")),
    ("DEF-upper_arm.R", ("R", "upperarm")), ("Left leg", ("L", "leg")), ("calf_r", ("R", "calf")),
    ("Hips", ("", "hips")), ("spine_01", ("", "spine01"))])
def test_name_normalisation(addon, name: str, key: tuple[str, str]) -> None:
    from monocap.blender_lib.take.retarget import normalise

    assert normalise(name) == key


def test_generic_and_rigify_tables(addon) -> None:
    from monocap.blender_lib.take.retarget import match_bones

    joints = list(mocap_take(CLIP, frames=2)["joint_names"])
    ue = ["root", "pelvis", "spine_01", "spine_03", "neck_01", "head", "clavicle_l", "upperarm_l",
          "lowerarm_l", "hand_l", "thigh_l", "calf_l", "foot_l", "ball_l", "thigh_r", "calf_r", "foot_r"]
    mapping, conv = match_bones(joints, ue)
    assert conv == "generic"
    assert mapping["Hips"] == "pelvis" and mapping["LowerLeg_L"] == "calf_l" and mapping["Toes_L"] == "ball_l"
    assert mapping["Chest"] == "spine_03" and "Hand_R" not in mapping
    rigify = ["DEF-spine", "DEF-spine.001", "DEF-spine.003", "DEF-spine.004", "DEF-spine.006",
              "DEF-thigh.L", "DEF-shin.L", "DEF-foot.L", "DEF-toe.L", "DEF-upper_arm.L", "DEF-forearm.L"]
    mapping, conv = match_bones(joints, rigify)
    assert conv == "Rigify" and mapping["Hips"] == "DEF-spine" and mapping["LowerLeg_L"] == "DEF-shin.L"


def test_armature_without_matching_bones_changes_nothing(addon, clean_scene, tmp_path) -> None:
    from monocap.engine.take import write_take

    path = tmp_path / "walk.npz"
    write_take(path, mocap_take(CLIP, frames=30))
    bpy.ops.object.armature_add()
    obj = bpy.context.active_object  # one bone called "Bone"
    settings = bpy.context.scene.monocap
    settings.target = "SELECTED"
    before = (len(bpy.data.actions), len(bpy.data.objects), bpy.context.scene.render.fps)
    # Headless Blender turns an operator's ERROR report into RuntimeError carrying the message.
    with pytest.raises(RuntimeError, match="no bones matching Monocap, Rigify, Mixamo"):
        bpy.ops.monocap.import_take(filepath=str(path))
    assert (len(bpy.data.actions), len(bpy.data.objects), bpy.context.scene.render.fps) == before
    assert obj.animation_data is None
    settings.target = "NEW"


def test_foot_lock_on_a_retargeted_mixamo_rig(addon, clean_scene) -> None:
    """Foot lock finds the legs of a rig by name too (no heel or toe-tip bones here)."""
    from monocap.blender_lib.take.retarget import retarget_take

    take = mocap_take(CLIP, frames=90)
    rng = np.random.default_rng(7)
    take["joints3d"] = take["joints3d"].copy()
    take["joints3d"][:, 0] += rng.normal(0, 0.01, (90, 3)).astype(np.float32)  # root jitter: feet slide
    obj = import_mocap_rig(scale=1.0)
    obj.scale = (0.01, 0.01, 0.01)
    for canon, mixamo in MIXAMO.items():
        obj.data.bones[canon].name = mixamo
    retarget_take(bpy.context, obj, take, frame_start=1)
    feet = ["mixamorig:LeftFoot", "mixamorig:RightFoot"]
    before = np.stack([_heads(obj, range(1, 91))[f] for f in feet], axis=1)
    assert bpy.ops.monocap.foot_lock(mode="IK", source="TAKE") == {"FINISHED"}
    after = np.stack([_heads(obj, range(1, 91))[f] for f in feet], axis=1)
    c = take["contacts"]
    flat = np.stack([c[:, 0] & c[:, 1], c[:, 2] & c[:, 3]], axis=1)  # heel and toe down
    slide_b = np.linalg.norm(np.diff(before, axis=0), axis=-1)[flat[1:] & flat[:-1]].mean()
    slide_a = np.linalg.norm(np.diff(after, axis=0), axis=-1)[flat[1:] & flat[:-1]].mean()
    assert slide_a < 0.3 * slide_b


def test_retarget_onto_rigify_metarig(addon, clean_scene) -> None:
    """Blender's own human metarig (Rigify names, its own A-ish rest pose and bone rolls)."""
    import addon_utils
    from monocap.blender_lib.take.retarget import retarget_take

    addon_utils.enable("rigify", default_set=False)
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.active_object
    take = mocap_take(CLIP, frames=60)
    _, mapping, _, conv = retarget_take(bpy.context, obj, take, frame_start=1)
    assert conv == "Rigify" and mapping["UpperLeg_L"] == "thigh.L" and mapping["Hips"] == "spine"
    names = {**mapping}
    chains = [c for c in CHAINS if c[0] in names and c[1] in names and c != ("Neck", "Head")]
    heads = _heads(obj, [1, 30, 60])
    from monocap.blender_lib.take.armature import to_zup

    joints = to_zup(take["joints3d"][[0, 29, 59]])
    idx = {n: i for i, n in enumerate(take["joint_names"])}
    for a, b in chains:
        got = heads[names[b]] - heads[names[a]]
        want = joints[:, idx[b]] - joints[:, idx[a]]
        cos = np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 3.0, (a, b)
