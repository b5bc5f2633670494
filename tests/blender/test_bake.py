"""Baking a take onto the canonical armature: the pose Blender evaluates matches the take's joints."""

from __future__ import annotations

import bpy
import numpy as np
from monocap_testdata import mocap_take


def _world_heads(obj: bpy.types.Object, names: list[str], frames: list[int]) -> np.ndarray:
    scene = bpy.context.scene
    out = np.zeros((len(frames), len(names), 3))
    for i, f in enumerate(frames):
        scene.frame_set(f)
        mw = obj.matrix_world
        for j, n in enumerate(names):
            out[i, j] = mw @ obj.pose.bones[n].head
    return out


def test_bake_matches_take_joints(addon, clean_scene) -> None:
    from monocap.blender_lib.take.armature import build_armature, to_zup
    from monocap.blender_lib.take.bake import bake_take

    take = mocap_take(frames=120)
    ctx = bpy.context
    obj = build_armature(ctx, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    action = bake_take(ctx, obj, take, frame_start=1)
    assert action is obj.animation_data.action
    from monocap.blender_lib.actions import compat

    # One action; on 5.0 a layered one (layer -> keyframe strip -> channelbag of the object's slot).
    assert (bpy.app.version >= (4, 4, 0)) == compat.LAYERED
    if compat.LAYERED:
        bag = action.layers[0].strips[0].channelbag(obj.animation_data.action_slot)
        assert len(bag.fcurves) == 4 * len(take["joint_names"]) + 3
    else:
        assert len(action.fcurves) == 4 * len(take["joint_names"]) + 3
    assert ctx.scene.render.fps == 30 and abs(ctx.scene.render.fps / ctx.scene.render.fps_base - 30.0) < 1e-3
    frames = [1, 40, 77, 120]
    got = _world_heads(obj, take["joint_names"], frames)
    want = to_zup(take["joints3d"][[f - 1 for f in frames]])
    assert np.abs(got - want).max() < 2e-3  # metres; float32 keys


def test_bone_rolls_face_forward(addon, clean_scene) -> None:
    """Vertical bones (spine, legs) get their Z axis facing the character's front (-Y), so knees and the
    spine bend about X like Blender's own rigs."""
    from monocap.blender_lib.take.armature import build_armature

    take = mocap_take(frames=2)
    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    for name in ("Spine", "Chest", "Neck", "UpperLeg_L", "LowerLeg_L", "UpperLeg_R", "LowerLeg_R"):
        z_axis = np.array(obj.data.bones[name].matrix_local)[:3, 2]
        assert z_axis @ np.array([0.0, -1.0, 0.0]) > 0.95, name
    for name in ("UpperArm_L", "LowerArm_R"):
        y_axis = np.array(obj.data.bones[name].matrix_local)[:3, 1]
        assert abs(y_axis[0]) > 0.95, name  # arms along X in the T-pose
    assert all(pb.rotation_mode == "QUATERNION" for pb in obj.pose.bones)
    assert obj.data.bones["Hips"].parent.name == "Root" and len(obj.data.bones) == len(take["joint_names"])


def test_resample_to_scene_rate_and_in_place(addon, clean_scene) -> None:
    from monocap.blender_lib.take.armature import build_armature, to_zup
    from monocap.blender_lib.take.bake import bake_take

    take = mocap_take(frames=91)  # 3 s at 30 fps
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    bake_take(bpy.context, obj, take, frame_start=1, fps_mode="RESAMPLE", root_motion=False)
    assert scene.render.fps == 24 and (scene.frame_start, scene.frame_end) == (1, 73)
    # Frame 1 + 24k is second k: compare the pose (relative to the root) at whole seconds.
    for sec in (1, 2, 3):
        scene.frame_set(1 + 24 * sec)
        heads = np.array([obj.matrix_world @ obj.pose.bones[n].head for n in take["joint_names"]])
        want = to_zup(take["joints3d"][30 * sec])
        assert np.abs((heads - heads[1]) - (want - want[1])).max() < 3e-3
        # In place: no travel on the ground plane, height kept.
        root_want = to_zup(take["joints3d"][0, 0])
        assert np.allclose(heads[0][:2], root_want[:2], atol=1e-4)
        assert abs(heads[0][2] - to_zup(take["joints3d"][30 * sec, 0])[2]) < 1e-3


def test_import_take_without_3d_motion_is_refused(addon, clean_scene, tmp_path) -> None:
    import pytest
    from monocap.engine.take import write_take

    path = tmp_path / "only2d.npz"
    write_take(path, {"fps": 30.0, "image_size": np.array([640, 480]), "joints2d": np.zeros((5, 33, 3)),
                      "valid": np.ones(5, bool)})
    with pytest.raises(RuntimeError, match="no 3D motion"):
        bpy.ops.monocap.import_take(filepath=str(path))
    assert len(bpy.data.objects) == 0 and len(bpy.data.actions) == 0
    with pytest.raises(RuntimeError, match="not a readable take"):
        (tmp_path / "junk.npz").write_bytes(b"junk")
        bpy.ops.monocap.import_take(filepath=str(tmp_path / "junk.npz"))


def test_import_take_through_the_operator(addon, clean_scene, tmp_path) -> None:
    from monocap.engine.take import write_take

    path = tmp_path / "walk.npz"
    take = mocap_take(frames=50)
    take["first_frame"] = np.int32(30)  # captured from video frame 30 on
    write_take(path, take)
    s = bpy.context.scene.monocap
    s.target, s.smoothing, s.foot_lock = "NEW", False, False
    assert bpy.ops.monocap.import_take(filepath=str(path)) == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj.type == "ARMATURE" and obj.animation_data.action.name.startswith("walk")
    # Video frame 30 is scene frame 31 (the video would start on scene frame 1).
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (31, 80)
    assert tuple(obj.animation_data.action.frame_range) == (31.0, 80.0)
    assert bpy.ops.monocap.import_take(filepath=str(path)) == {"FINISHED"}  # again: same frames
    assert tuple(bpy.context.active_object.animation_data.action.frame_range) == (31.0, 80.0)
    s.smoothing, s.foot_lock = True, True


def test_fast_evaluate_matches_blender(addon, clean_scene) -> None:
    from monocap.blender_lib.actions import compat
    from monocap.blender_lib.actions.keyframes import evaluate, write_keys

    obj = bpy.data.objects.new("E", None)
    bpy.context.collection.objects.link(obj)
    chans = compat.channels(obj, create=True)
    frames = np.array([1.0, 4.0, 5.0, 11.0])
    values = np.array([0.0, 2.0, -1.0, 3.0])
    probe = np.linspace(-2, 15, 69)
    for interp in ("LINEAR", "BEZIER", "CONSTANT"):
        fc = chans.ensure("location", 0)
        write_keys(fc, frames, values, interp)
        want = np.array([fc.evaluate(f) for f in probe])
        assert np.allclose(evaluate(fc, probe), want, atol=1e-6), interp


def test_import_the_people_of_one_capture(addon, clean_scene, tmp_path) -> None:
    """Two takes of one capture (format 1.2, `people`): one armature each, named after the person's number,
    where the takes put them (one world frame: the spacing between the two is kept)."""
    from monocap.blender_lib.take.armature import to_zup
    from monocap.engine.take import write_take

    lead = mocap_take(frames=40)
    follow = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in lead.items()}
    follow["joints3d"] = follow["joints3d"] + np.array([1.5, 0.0, -0.8], np.float32)  # beside and behind
    paths = []
    for n, take in ((0, lead), (2, follow)):
        take.update(person=np.int32(n), people=np.array([0, 2], np.int32))
        paths.append(tmp_path / f"take_p{n}.npz")
        write_take(paths[-1], take)
    s = bpy.context.scene.monocap
    s.target, s.smoothing, s.foot_lock, s.root_motion = "NEW", False, False, True
    files = [{"name": p.name} for p in paths]
    assert bpy.ops.monocap.import_take(directory=str(tmp_path), files=files) == {"FINISHED"}
    arms = {o.name: o for o in bpy.data.objects if o.type == "ARMATURE"}
    assert sorted(arms) == ["Monocap_p0", "Monocap_p2"]
    for name, take in (("Monocap_p0", lead), ("Monocap_p2", follow)):
        got = _world_heads(arms[name], ["Root", "Head"], [1, 20, 40])
        want = to_zup(take["joints3d"][[0, 19, 39]][:, [0, take["joint_names"].index("Head")]])
        assert np.abs(got - want).max() < 2e-3
    # several takes cannot all go onto one selected armature: refused, nothing changed
    s.target = "SELECTED"
    bpy.context.view_layer.objects.active = arms["Monocap_p0"]
    import pytest

    with pytest.raises(RuntimeError, match="one per person"):
        bpy.ops.monocap.import_take(directory=str(tmp_path), files=files)
    assert len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 2
