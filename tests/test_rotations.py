"""Rotation solve: solve then forward kinematics gives the joints back; hinges stay hinges (no spinning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import skeleton as sk
from engine.formats.bvh import read_bvh
from engine.lifter.keypoints import place_on_mocap
from engine.motion.contacts import foot_contacts
from engine.motion.rotations import forward_kinematics, matrix_to_quat, quat_to_matrix, solve_rotations
from engine.motion.take3d import subject_rest_offsets

MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"
I = sk.INDEX


def axis_angle(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def random_quats(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    q = rng.normal(size=shape + (4,))
    q[..., 0] += 1.0
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2 * np.arccos(np.clip(np.abs(np.sum(a * b, -1)), 0, 1))


def test_quaternion_matrix_round_trip() -> None:
    q = random_quats(np.random.default_rng(0), (500,))
    back = matrix_to_quat(quat_to_matrix(q))
    assert np.all(quat_angle(q, back) < 1e-7)
    assert np.all(back[:, 0] >= 0)


def test_solve_then_fk_gives_random_poses_back() -> None:
    rng = np.random.default_rng(1)
    T = 200
    q = random_quats(rng, (T, sk.J))
    q[:, I["Root"]] = (1, 0, 0, 0)  # the Root carries position only
    root = rng.normal(size=(T, 3))
    joints, _ = forward_kinematics(sk.REST_OFFSETS, q, root)
    rot, root2 = solve_rotations(joints)
    back, _ = forward_kinematics(sk.REST_OFFSETS, rot, root2)
    assert np.abs(back - joints).max() < 1e-3  # within 1 mm
    assert np.allclose(np.linalg.norm(rot, axis=-1), 1.0)
    assert np.all(np.sum(rot[1:] * rot[:-1], -1) >= 0)  # one hemisphere frame to frame


def test_solve_then_fk_on_real_mocap() -> None:
    b = read_bvh(MOCAP / "bandai-namco-1" / "dataset-1_dance-short_normal_001.bvh")
    joints, _ = place_on_mocap(*b.world_transforms(), b.names)
    rest = subject_rest_offsets(joints)
    rot, root = solve_rotations(joints, rest)
    back, _ = forward_kinematics(rest, rot, root)
    assert np.abs(back - joints).max() < 1e-3


def test_elbow_and_knee_stay_hinges() -> None:
    """A twisted upper arm with a bent elbow, a turned thigh with a bent knee and a flexed ankle: the solve
    finds the same local rotations, so forearm and shin carry no spurious twist."""
    rng = np.random.default_rng(2)
    T = 100
    q = np.zeros((T, sk.J, 4))
    q[..., 0] = 1
    q[:, I["Chest"]] = axis_angle((0, 1, 0), 0.3)  # a turned chest under the arm
    q[:, I["UpperArm_L"]] = random_quats(rng, (T,))
    elbow = rng.uniform(0.4, 2.4, T)  # 23..137 degrees
    q[:, I["LowerArm_L"]] = [axis_angle((0, -1, 0), a) for a in elbow]  # bends the forearm forward
    q[:, I["UpperLeg_R"]] = [axis_angle(rng.normal(size=3), rng.uniform(0, 1.2)) for _ in range(T)]
    q[:, I["LowerLeg_R"]] = [axis_angle((1, 0, 0), a) for a in rng.uniform(0.3, 2.0, T)]  # knee
    q[:, I["Foot_R"]] = [axis_angle((1, 0, 0), a) for a in rng.uniform(-0.5, 0.5, T)]  # ankle pitch
    joints, _ = forward_kinematics(sk.REST_OFFSETS, q, np.zeros((T, 3)))
    rot, _ = solve_rotations(joints)
    for name in ("UpperArm_L", "LowerArm_L", "UpperLeg_R", "LowerLeg_R", "Foot_R"):
        assert quat_angle(rot[:, I[name]], q[:, I[name]]).max() < 1e-6, name


def test_straight_arm_does_not_flip() -> None:
    """Passing through a straight elbow (hinge axis undefined) keeps the upper arm's twist continuous."""
    T = 61
    q = np.zeros((T, sk.J, 4))
    q[..., 0] = 1
    bend = np.linspace(0.8, -0.8, T)  # through zero: straight at the middle frame
    q[:, I["LowerArm_L"]] = [axis_angle((0, -1, 0), abs(a)) for a in bend]
    joints, _ = forward_kinematics(sk.REST_OFFSETS, q, np.zeros((T, 3)))
    rot, _ = solve_rotations(joints)
    step = quat_angle(rot[1:, I["UpperArm_L"]], rot[:-1, I["UpperArm_L"]])
    assert step.max() < 0.05


def test_one_frame_and_contacts() -> None:
    rest_joints = sk.rest_positions()[None]
    rot, _ = solve_rotations(rest_joints)
    assert rot.shape == (1, sk.J, 4) and np.allclose(rot[..., 0], 1.0, atol=1e-9)
    c = foot_contacts(rest_joints, fps=30.0)
    assert c.shape == (1, 4) and c.all()  # standing: heels and toes on the floor
    lifted = rest_joints + np.array([0, 0.5, 0])  # far above the floor: not explained by a tilted floor
    assert not foot_contacts(lifted, fps=30.0).any()


def test_contacts_of_a_walk() -> None:
    b = read_bvh(MOCAP / "bandai-namco-1" / "dataset-1_walk_normal_001.bvh")
    joints, _ = place_on_mocap(*b.world_transforms(), b.names)
    c = foot_contacts(joints, fps=b.fps)
    # each foot is planted for part of the gait cycle and swings for another part
    assert 0.2 < c[:, 0].mean() < 0.8 and 0.2 < c[:, 3].mean() < 0.8
    # a planted heel barely moves horizontally
    heel = joints[:, I["Heel_L"], [0, 2]]
    speed = np.linalg.norm(np.gradient(heel, axis=0), axis=-1) * b.fps
    assert np.median(speed[c[:, 0]]) < 0.2
