"""BVH and FBX export through the add-on's operators, re-imported with Blender's importers: the joints
land where they were."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from monocap_testdata import mocap_take

FRAMES = 40


def _baked() -> bpy.types.Object:
    from monocap.blender_lib.take.armature import build_armature
    from monocap.blender_lib.take.bake import bake_take

    take = mocap_take("dataset-1_kick_normal_001.bvh", frames=FRAMES)
    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    bake_take(bpy.context, obj, take, frame_start=1)
    return obj


def _heads(obj: bpy.types.Object, names: list[str], frames: list[int]) -> np.ndarray:
    out = np.zeros((len(frames), len(names), 3))
    for i, f in enumerate(frames):
        bpy.context.scene.frame_set(f)
        for k, n in enumerate(names):
            out[i, k] = obj.matrix_world @ obj.pose.bones[n].head
    return out


NAMES = ["Hips", "Head", "Hand_L", "Hand_R", "Foot_L", "Toes_R", "LowerArm_L", "LowerLeg_R"]
CHECK = [1, 13, 27, 40]


def _reimported() -> bpy.types.Object:
    new = [o for o in bpy.context.selected_objects if o.type == "ARMATURE"]
    assert len(new) == 1
    return new[0]


@pytest.mark.parametrize("preset", ["METRES", "CENTIMETRES_ZXY"])
def test_bvh_round_trip(addon, clean_scene, tmp_path, preset: str) -> None:
    obj = _baked()
    want = _heads(obj, NAMES, CHECK)
    path = tmp_path / "take.bvh"
    assert bpy.ops.monocap.export_bvh(filepath=str(path), preset=preset) == {"FINISHED"}
    assert path.stat().st_size > 1000
    scale = 0.01 if preset.startswith("CENTI") else 1.0
    # Blender's BVH exporter writes Blender's own axes (Z up): import them as they are.
    bpy.ops.import_anim.bvh(filepath=str(path), global_scale=scale, axis_forward="Y", axis_up="Z",
                            frame_start=1, rotate_mode="NATIVE")
    got = _heads(_reimported(), NAMES, CHECK)
    assert np.abs(got - want).max() < 2e-3


@pytest.mark.parametrize("preset", ["UNITY", "BLENDER"])
def test_fbx_round_trip(addon, clean_scene, tmp_path, preset: str) -> None:
    obj = _baked()
    want = _heads(obj, NAMES, CHECK)
    path = tmp_path / "take.fbx"
    assert bpy.ops.monocap.export_fbx(filepath=str(path), preset=preset) == {"FINISHED"}
    assert obj.select_get() is False or bpy.context.view_layer.objects.active == obj
    # anim_offset=0: the importer otherwise shifts keys by one frame (time 0 would land on frame 1).
    bpy.ops.import_scene.fbx(filepath=str(path), automatic_bone_orientation=False, anim_offset=0.0)
    got = _heads(_reimported(), NAMES, CHECK)
    assert np.abs(got - want).max() < 2e-3


def test_export_needs_an_animated_armature(addon, clean_scene, tmp_path) -> None:
    bpy.ops.object.armature_add()
    with pytest.raises(RuntimeError, match="no animation to export"):
        bpy.ops.monocap.export_fbx(filepath=str(tmp_path / "x.fbx"))
    assert not (tmp_path / "x.fbx").exists()
