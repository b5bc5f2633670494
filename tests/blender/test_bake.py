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
    from monocap.bake.armature import build_armature, to_zup
    from monocap.bake.takebake import bake_take

    take = mocap_take(frames=120)
    ctx = bpy.context
    obj = build_armature(ctx, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    action = bake_take(ctx, obj, take, frame_start=1)
    assert action is obj.animation_data.action
    assert ctx.scene.render.fps == 30 and abs(ctx.scene.render.fps / ctx.scene.render.fps_base - 30.0) < 1e-3
    frames = [1, 40, 77, 120]
    got = _world_heads(obj, take["joint_names"], frames)
    want = to_zup(take["joints3d"][[f - 1 for f in frames]])
    assert np.abs(got - want).max() < 2e-3  # metres; float32 keys
