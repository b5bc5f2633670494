"""Forward kinematics of Gene's skeleton posed by VMD keys: rest pose, parent chains, translation keys,
append (付与) bones, and CCD leg IK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.formats.pmx import read_pmx
from engine.formats.vmd import VmdBoneKeys, VmdIkState, VmdMotion, VmdPropertyKey, read_vmd
from engine.quaternion import quat_mul, quat_rotate
from engine.rig.mmd_fk import decompose_xyz, euler_xyz_to_quat, pose_world

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmd"


@pytest.fixture(scope="module")
def gene():
    return read_pmx(DATA / "gene" / "Gene.pmx")


def _axis_angle_xyzw(axis, deg) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    h = np.radians(deg) / 2
    return np.concatenate([np.sin(h) * axis, [np.cos(h)]])


def _wxyz(q_xyzw: np.ndarray) -> np.ndarray:
    return np.concatenate([q_xyzw[3:], q_xyzw[:3]])


def _motion(names, frames, positions=None, rotations=None, **kw) -> VmdMotion:
    return VmdMotion(bone_keys=VmdBoneKeys.build(names, frames, positions, rotations), **kw)


def test_rest_pose(gene):
    rest = gene.rest_positions()
    pos, rot = pose_world(gene, None, np.arange(3), solve_ik=False)
    assert pos.shape == (3, 224, 3) and rot.shape == (3, 224, 4)
    assert np.array_equal(pos[1], rest) and np.allclose(rot[..., 0], 1.0)
    # With IK on, Gene's IK bones sit (almost) on their targets: the pose barely moves.
    pos, _ = pose_world(gene, _motion([], []), np.arange(2))
    assert np.abs(pos - rest).max() < 2e-3


def test_arm_rotation_moves_elbow_and_wrist(gene):
    q = _axis_angle_xyzw([0.2, 0.3, 1.0], 40)
    pos, rot = pose_world(gene, _motion(["左腕"], [0], rotations=[q]), np.array([0, 5]), solve_ik=False)
    rest = gene.rest_positions()
    arm, elbow, wrist, right = (gene.bone_index(n) for n in ("左腕", "左ひじ", "左手首", "右ひじ"))
    for b in (elbow, wrist):
        expected = rest[arm] + quat_rotate(_wxyz(q), rest[b] - rest[arm])
        assert np.allclose(pos[:, b], expected, atol=1e-5)
    assert np.allclose(rot[:, arm], _wxyz(q)) and np.allclose(rot[:, wrist], _wxyz(q))
    assert np.allclose(pos[:, arm], rest[arm]) and np.allclose(pos[:, right], rest[right])
    # Bone lengths hold.
    assert np.isclose(np.linalg.norm(pos[0, wrist] - pos[0, elbow]), np.linalg.norm(rest[wrist] - rest[elbow]))


def test_chain_of_rotations_and_interpolation(gene):
    q_arm = _axis_angle_xyzw([0, 0, 1], 30)
    q_elbow = _axis_angle_xyzw([0, 1, 0], -60)
    ident = [0, 0, 0, 1]
    motion = _motion(["左腕", "左ひじ", "左腕", "左ひじ"], [0, 0, 10, 10],
                     rotations=[ident, ident, q_arm, q_elbow])
    pos, rot = pose_world(gene, motion, np.array([10, 5]), solve_ik=False)
    rest = gene.rest_positions()
    arm, elbow, wrist = (gene.bone_index(n) for n in ("左腕", "左ひじ", "左手首"))
    qa, qe = _wxyz(q_arm), _wxyz(q_elbow)
    p_elbow = rest[arm] + quat_rotate(qa, rest[elbow] - rest[arm])
    p_wrist = p_elbow + quat_rotate(quat_mul(qa, qe), rest[wrist] - rest[elbow])
    assert np.allclose(pos[0, elbow], p_elbow, atol=1e-5) and np.allclose(pos[0, wrist], p_wrist, atol=1e-5)
    assert np.allclose(rot[0, wrist], quat_mul(qa, qe), atol=1e-6)
    # Halfway with linear curves: half the angle (15° about Z for the arm).
    assert np.allclose(rot[1, arm], _wxyz(_axis_angle_xyzw([0, 0, 1], 15)), atol=1e-6)


def test_translation_key_on_center_moves_the_body(gene):
    shift = np.array([1.0, -2.0, 3.0])
    pos, _ = pose_world(gene, _motion(["センター"], [0], positions=[shift]), np.array([0]), solve_ik=False)
    rest = gene.rest_positions()
    below = [b.index for b in gene.bones if _has_ancestor(gene, b.index, gene.bone_index("センター"))]
    assert len(below) > 150
    assert np.allclose(pos[0, below], rest[below] + shift, atol=1e-5)
    # Bones outside センター (全ての親, the IK parents and IK bones) stay put.
    for name in ("全ての親", "左足IK親", "左足ＩＫ"):
        b = gene.bone_index(name)
        assert np.allclose(pos[0, b], rest[b])


def _has_ancestor(model, b: int, anc: int) -> bool:
    while b >= 0:
        if b == anc:
            return True
        b = model.bones[b].parent
    return False


def test_append_rotation_follows_with_ratio(gene):
    q = _axis_angle_xyzw([1, 0, 0], 50)
    eyes, left_eye = gene.bone_index("両目"), gene.bone_index("左目")
    twist, follower = gene.bone_index("左腕捩"), gene.bone_index("左腕捩連")
    motion = _motion(["両目", "左腕捩"], [0, 0], rotations=[q, q])
    _, rot = pose_world(gene, motion, np.array([0]), solve_ik=False)
    # 左目 follows 両目 by 0.15 (its parent is 頭, not 両目); 左腕捩連 follows 左腕捩 by 0.5.
    assert np.allclose(rot[0, left_eye], _wxyz(_axis_angle_xyzw([1, 0, 0], 50 * 0.15)), atol=1e-6)
    assert np.allclose(rot[0, eyes], _wxyz(q), atol=1e-6)
    assert np.allclose(rot[0, follower], _wxyz(_axis_angle_xyzw([1, 0, 0], 25)), atol=1e-6)
    assert np.allclose(rot[0, twist], _wxyz(q), atol=1e-6)


def test_leg_ik_reaches_the_target(gene):
    motion = _motion(["左足ＩＫ", "左足ＩＫ"], [0, 10], positions=[[0, 0, 0], [0.5, 3.0, -1.5]])
    frames = np.arange(11)
    pos, rot = pose_world(gene, motion, frames)
    ik, ankle, knee, hip = (gene.bone_index(n) for n in ("左足ＩＫ", "左足首", "左ひざ", "左足"))
    err = np.linalg.norm(pos[:, ik] - pos[:, ankle], axis=-1)
    assert err[-1] < 0.01 and err[5] < 0.01 and err.max() < 0.15
    rest = gene.rest_positions()
    for a, b in ((hip, knee), (knee, ankle)):
        assert np.allclose(np.linalg.norm(pos[:, a] - pos[:, b], axis=-1), np.linalg.norm(rest[a] - rest[b]))
    # The knee turns about its X axis only, bending forward (-Z), inside its limits (-165°..10°).
    local = quat_mul(rot[:, hip] * [1, -1, -1, -1], rot[:, knee])
    assert np.allclose(local[:, 2:], 0, atol=1e-9)
    angle = 2 * np.arctan2(local[:, 1], local[:, 0])
    assert angle[-1] < np.radians(-20) and np.all(angle >= np.radians(-165) - 1e-9)
    assert pos[-1, knee, 2] < rest[knee, 2] - 1.0
    # The right leg has no keys: it stays at rest.
    r_ankle = gene.bone_index("右足首")
    assert np.allclose(pos[:, r_ankle], rest[r_ankle], atol=2e-3)
    # Switched off by a property key from frame 5: the leg hangs at rest while the IK bone moves on.
    motion.property_keys = [VmdPropertyKey(5, 1, [VmdIkState("左足ＩＫ", 0)])]
    pos_off, _ = pose_world(gene, motion, frames)
    assert np.allclose(pos_off[5:, ankle], rest[ankle], atol=1e-6)
    assert np.allclose(pos_off[:5, ankle], pos[:5, ankle])


def test_real_motion_keeps_bone_lengths_and_meets_ik(gene):
    motion = read_vmd(DATA / "gene" / "motion" / "stand.vmd")
    frames = np.arange(0, motion.frame_count(), 3)
    pos, rot = pose_world(gene, motion, frames)
    assert np.isfinite(pos).all() and np.allclose(np.linalg.norm(rot, axis=-1), 1.0)
    rest = gene.rest_positions()
    moved = {n for n, p in zip(motion.bone_keys.names, motion.bone_keys.position) if np.any(p != 0)}
    checked = 0
    for b in gene.bones:
        if b.parent < 0 or b.name in moved or b.append_translate:
            continue
        d = np.linalg.norm(pos[:, b.index] - pos[:, b.parent], axis=-1)
        assert np.allclose(d, np.linalg.norm(rest[b.index] - rest[b.parent]), atol=1e-4), b.name
        checked += 1
    assert checked > 150
    for name in ("左足ＩＫ", "右足ＩＫ"):
        b = gene.bones[gene.bone_index(name)]
        err = np.linalg.norm(pos[:, b.index] - pos[:, b.ik.target], axis=-1)
        assert err.max() < 0.05, name


def test_parent_after_child_in_bone_list():
    model = read_pmx(DATA / "babylon-mmd" / "bone_hierarchy_test2.pmx")
    q = _axis_angle_xyzw([0, 0, 1], 90)
    pos, _ = pose_world(model, _motion(["新規ボーン2"], [0], rotations=[q]), np.array([0]))
    # Bone 1 (0, 20, 0) hangs from bone 2 (0, 10, 0): a 90° turn about Z puts it at (-10, 10, 0).
    assert np.allclose(pos[0, 1], [-10, 10, 0], atol=1e-5) and np.allclose(pos[0, 2], [0, 10, 0])


def test_euler_decomposition_round_trip():
    rng = np.random.default_rng(3)
    angles = rng.uniform(-1.4, 1.4, size=(200, 3))
    back = decompose_xyz(euler_xyz_to_quat(angles), angles + rng.normal(scale=0.1, size=angles.shape))
    assert np.allclose(back, angles, atol=1e-7)
