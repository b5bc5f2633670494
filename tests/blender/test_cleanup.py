"""Graph Editor cleanup operators on real mocap motion (a Bandai Namco walk mapped to the Monocap
skeleton), with capture-like jitter added where the operator is meant to remove it."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from monocap_testdata import fk, mocap_take

from engine.filters import contact_segments, quat_mul, quat_normalize

FRAMES = 120


def noisy(take: dict, deg: float = 1.5, root_m: float = 0.004, seed: int = 0) -> dict:
    """The take with per-frame rotation jitter on every joint and root jitter, like a video capture."""
    rng = np.random.default_rng(seed)
    t, j = take["rotations"].shape[:2]
    axis = rng.normal(size=(t, j, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    half = np.radians(rng.normal(0, deg, (t, j)))[..., None] / 2
    jitter = np.concatenate([np.cos(half), axis * np.sin(half)], axis=-1)
    out = dict(take)
    out["rotations"] = quat_normalize(quat_mul(take["rotations"], jitter)).astype(np.float32)
    root = take["joints3d"][:, 0] + rng.normal(0, root_m, (t, 3))
    out["joints3d"] = fk(out["rotations"], root).astype(np.float32)
    return out


def bake(take: dict) -> bpy.types.Object:
    from monocap.blender_lib.take.armature import build_armature
    from monocap.blender_lib.take.bake import bake_take

    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    bake_take(bpy.context, obj, take, frame_start=1)
    return obj


def world_heads(obj: bpy.types.Object, names: list[str]) -> np.ndarray:
    """(T, N, 3) bone heads in world space as Blender evaluates them, every scene frame."""
    scene = bpy.context.scene
    frames = range(scene.frame_start, scene.frame_end + 1)
    out = np.zeros((len(frames), len(names), 3))
    for i, f in enumerate(frames):
        scene.frame_set(f)
        for k, n in enumerate(names):
            out[i, k] = obj.matrix_world @ obj.pose.bones[n].head
    return out


def jitter(pos: np.ndarray) -> float:
    """Mean magnitude of the second difference (acceleration per frame²)."""
    return float(np.mean(np.linalg.norm(np.diff(pos, 2, axis=0), axis=-1)))


def curves(obj: bpy.types.Object) -> dict[tuple[str, int], np.ndarray]:
    from monocap.blender_lib.actions import compat
    from monocap.blender_lib.actions.keyframes import read_keys

    return {(fc.data_path, fc.array_index): np.stack(read_keys(fc)) for fc in compat.channels(obj)}


def evaluated(obj: bpy.types.Object, frames: np.ndarray) -> dict[tuple[str, int], np.ndarray]:
    """Blender's own evaluation of every curve (not the add-on's shortcut)."""
    from monocap.blender_lib.actions import compat

    return {(fc.data_path, fc.array_index): np.array([fc.evaluate(f) for f in frames])
            for fc in compat.channels(obj)}


LIMBS = ["Hand_L", "Hand_R", "Foot_L", "Foot_R", "Head", "LowerArm_L", "LowerLeg_R"]


@pytest.fixture()
def walk(addon, clean_scene) -> dict:
    return mocap_take(frames=FRAMES)


@pytest.mark.parametrize(("method", "jitter_kept", "error_kept"), [("BUTTERWORTH", 0.5, 1.0),
                                                                   ("ONE_EURO", 0.6, 1.1)])
def test_smooth_removes_jitter_and_keeps_the_motion(walk, method: str, jitter_kept: float,
                                                    error_kept: float) -> None:
    obj = bake(noisy(walk))
    clean = fk(walk["rotations"], walk["joints3d"][:, 0])
    before = world_heads(obj, LIMBS)
    assert bpy.ops.monocap.smooth(method=method, cutoff=5.0, min_cutoff=3.0, beta=10.0) == {"FINISHED"}
    after = world_heads(obj, LIMBS)
    assert jitter(after) < jitter_kept * jitter(before)
    from monocap.blender_lib.take.armature import to_zup

    idx = [walk["joint_names"].index(n) for n in LIMBS]
    err_before = np.linalg.norm(before - to_zup(clean[:, idx]), axis=-1).mean()
    err_after = np.linalg.norm(after - to_zup(clean[:, idx]), axis=-1).mean()
    # Butterworth (zero-phase) lands closer to the true motion; One-Euro is causal, so it may lag a little.
    assert err_after < error_kept * err_before
    hand = 'pose.bones["Hand_L"].rotation_quaternion'
    q = np.stack([v[1] for (p, _), v in sorted(curves(obj).items()) if p == hand])
    assert np.allclose(np.linalg.norm(q, axis=0), 1.0, atol=1e-4)  # renormalised


def test_smooth_touches_only_selected_bones(walk) -> None:
    from monocap.blender_lib.actions import compat

    obj = bake(noisy(walk))
    for pb in obj.pose.bones:
        compat.set_bone_selected(pb, pb.name == "Hand_L")
    before = curves(obj)
    bpy.ops.monocap.smooth(method="BUTTERWORTH", cutoff=4.0)
    after = curves(obj)
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert changed and all('"Hand_L"' in p for p, _ in changed)


def test_reduce_keys_stays_within_tolerance(walk) -> None:
    from engine.filters.reduce import quaternion_error

    obj = bake(walk)
    frames = np.arange(1, FRAMES + 1, dtype=float)
    orig = evaluated(obj, frames)
    n_before = sum(len(fc.keyframe_points) for fc in __import__("monocap").blender_lib.actions.compat.channels(obj))
    assert bpy.ops.monocap.reduce_keys(tolerance_deg=1.0, tolerance_cm=1.0) == {"FINISHED"}
    n_after = sum(len(fc.keyframe_points) for fc in __import__("monocap").blender_lib.actions.compat.channels(obj))
    assert n_after < 0.5 * n_before
    new = evaluated(obj, frames)
    for path in {p for p, _ in orig}:
        a = np.stack([orig[(path, i)] for i in range(4 if "quaternion" in path else 3)], axis=1)
        b = np.stack([new[(path, i)] for i in range(a.shape[1])], axis=1)
        if "quaternion" in path:
            assert quaternion_error(a, b).max() <= 1.0 + 1e-3, path
        else:
            assert np.linalg.norm(a - b, axis=1).max() <= 0.01 + 1e-5, path


def test_fix_flips_repairs_sign_flips_and_twists(walk) -> None:
    from monocap.blender_lib.actions import compat
    from monocap.blender_lib.actions.keyframes import read_keys, write_keys

    obj = bake(walk)
    chans = compat.channels(obj)
    path = 'pose.bones["LowerArm_L"].rotation_quaternion'
    fcs = [chans.find(path, i) for i in range(4)]
    good = np.stack([read_keys(fc)[1] for fc in fcs], axis=1)
    frames = read_keys(fcs[0])[0]
    bad = good.copy()
    bad[10:20] *= -1  # sign flip: same pose, but interpolation spins through 360°
    bad[40:60] = quat_mul(bad[40:60], np.array([0.0, 0.0, 1.0, 0.0]))  # 180° twist about the bone
    for i, fc in enumerate(fcs):
        write_keys(fc, frames, bad[:, i])
    assert bpy.ops.monocap.fix_flips() == {"FINISHED"}
    fixed = np.stack([read_keys(fc)[1] for fc in fcs], axis=1)
    step = np.degrees(2 * np.arccos(np.clip(np.abs(np.sum(fixed[1:] * fixed[:-1], axis=1)), 0, 1)))
    assert step.max() < 15.0
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=1) > 0)  # no sign flips left
    err = np.degrees(2 * np.arccos(np.clip(np.abs(np.sum(fixed * good, axis=1)), 0, 1)))
    assert err.max() < 3.0  # the twist is gone; the two replaced steps cost a degree or two


def test_foot_lock_holds_feet_during_contacts(walk) -> None:
    obj = bake(noisy(walk, deg=1.0, root_m=0.01, seed=3))
    points = ["Heel_L", "ToeTip_L", "Heel_R", "ToeTip_R"]  # the take's contact order
    before = world_heads(obj, points)
    assert bpy.ops.monocap.foot_lock(mode="IK", source="TAKE", blend=4) == {"FINISHED"}
    after = world_heads(obj, points)
    contacts = walk["contacts"]
    checked = 0
    for k in range(4):
        for s, e in contact_segments(contacts[:, k]):
            if e - s < 5:
                continue
            # Heel and toe down together: the foot is flat and both points must stay put.
            flat = contacts[s:e, 2 * (k // 2)] & contacts[s:e, 2 * (k // 2) + 1]
            if flat.sum() < 5:
                continue
            seg_b, seg_a = before[s:e, k][flat], after[s:e, k][flat]
            slide_b = np.linalg.norm(np.diff(seg_b, axis=0), axis=1).mean()
            slide_a = np.linalg.norm(np.diff(seg_a, axis=0), axis=1).mean()
            assert slide_a < 0.25 * slide_b, (points[k], s, e)
            checked += 1
        # No pop: the largest frame-to-frame move of the point grows by little.
        step_b = np.linalg.norm(np.diff(before[:, k], axis=0), axis=1).max()
        step_a = np.linalg.norm(np.diff(after[:, k], axis=0), axis=1).max()
        assert step_a < 1.5 * step_b
    assert checked >= 4
    # In mid-swing, away from the foot's contacts and their blend, that foot is untouched.
    for side in range(2):
        down = contacts[:, 2 * side] | contacts[:, 2 * side + 1]
        free = ~np.convolve(down, np.ones(11), "same").astype(bool)
        assert free.sum() >= 5
        assert np.allclose(before[free, 2 * side:2 * side + 2], after[free, 2 * side:2 * side + 2], atol=1e-5)


def test_foot_lock_by_root_reduces_sliding(walk) -> None:
    obj = bake(noisy(walk, deg=0.3, root_m=0.01, seed=4))
    before = world_heads(obj, ["Foot_L", "Foot_R"])
    assert bpy.ops.monocap.foot_lock(mode="ROOT", source="DETECT") == {"FINISHED"}
    after = world_heads(obj, ["Foot_L", "Foot_R"])
    stance = walk["contacts"][:, [0, 2]] & walk["contacts"][:, [1, 3]]  # both heel and toe down
    speed_b = np.linalg.norm(np.diff(before, axis=0), axis=-1)[stance[1:]]
    speed_a = np.linalg.norm(np.diff(after, axis=0), axis=-1)[stance[1:]]
    assert speed_a.mean() < 0.7 * speed_b.mean()


def test_cleanup_operators_are_undoable(addon) -> None:
    for op in ("SMOOTH", "REDUCE_KEYS", "FIX_FLIPS", "FOOT_LOCK", "IMPORT_TAKE", "CAPTURE"):
        cls = getattr(bpy.types, f"MONOCAP_OT_{op.lower()}")
        assert {"REGISTER", "UNDO"} <= set(cls.bl_options), op


def test_cleanup_without_curves_reports(addon, clean_scene) -> None:
    bpy.ops.object.armature_add()
    with pytest.raises(RuntimeError, match="No animation curves"):
        bpy.ops.monocap.smooth()


def test_graph_editor_channel_selection_is_quaternion_safe(walk) -> None:
    """In the Graph Editor the selected channels are the scope; one selected quaternion channel brings
    its three siblings so the rotation stays a rotation."""
    from monocap.blender_lib.actions import compat

    obj = bake(noisy(walk))
    other = bake(noisy(walk, seed=9))  # a second animated armature, made active below
    w_curve = compat.channels(obj).find('pose.bones["Hand_R"].rotation_quaternion', 0)
    before, before_other = curves(obj), curves(other)
    bpy.context.view_layer.objects.active = other
    with bpy.context.temp_override(selected_editable_fcurves=[w_curve]):
        assert bpy.ops.monocap.smooth(method="BUTTERWORTH", cutoff=4.0) == {"FINISHED"}
    after = curves(obj)
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    assert changed == {('pose.bones["Hand_R"].rotation_quaternion', i) for i in range(4)}
    assert all(np.array_equal(v, curves(other)[k]) for k, v in before_other.items())
