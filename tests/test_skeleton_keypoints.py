"""The canonical skeleton's tables and where the BlazePose keypoints land on real mocap bodies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import skeleton as sk
from engine.formats.bvh import read_bvh
from engine.lifter import keypoints
from engine.lifter.keypoints import KEYPOINT_ATTACH, KEYPOINT_MIRROR, KEYPOINT_NAMES, place_on_mocap

MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"
I = sk.INDEX
KI = {n: i for i, n in enumerate(KEYPOINT_NAMES)}


def test_skeleton_tables() -> None:
    assert len(sk.JOINT_NAMES) == len(sk.PARENTS) == len(sk.REST_OFFSETS) == 27
    assert sk.PARENTS[0] == -1 and all(0 <= p < j for j, p in enumerate(sk.PARENTS[1:], 1))
    assert np.array_equal(sk.MIRROR[sk.MIRROR], np.arange(sk.J))
    for j, m in enumerate(sk.MIRROR):
        a, b = sk.JOINT_NAMES[j], sk.JOINT_NAMES[m]
        assert a.replace("_L", "_R") == b or a.replace("_R", "_L") == b
        assert sk.PARENTS[m] == (sk.MIRROR[sk.PARENTS[j]] if sk.PARENTS[j] >= 0 else -1)
        np.testing.assert_allclose(sk.REST_OFFSETS[m], sk.REST_OFFSETS[j] * [-1, 1, 1])
    rest = sk.rest_positions()
    # a T-pose about 1.7 m tall, facing +Z, left hand at +X, heels and toe tips just above the floor
    assert 1.5 < rest[I["Nose"], 1] < 1.75 and rest[I["Nose"], 2] > 0.05
    assert rest[I["Hand_L"], 0] > 0.5 and rest[I["Hand_R"], 0] < -0.5
    assert np.all(np.abs(rest[sk.CONTACT_JOINTS, 1] - 0.022) < 0.01)
    assert set(sk.MOCAP_TO_CANONICAL.values()) == set(range(20)) - {18, 19} | {20, 21, 22, 23}


def test_keypoint_tables() -> None:
    assert len(KEYPOINT_NAMES) == 33
    assert KEYPOINT_NAMES[0] == "nose" and KEYPOINT_NAMES[32] == "right_foot_index"
    assert np.array_equal(KEYPOINT_MIRROR[KEYPOINT_MIRROR], np.arange(33))
    assert KEYPOINT_NAMES[KEYPOINT_MIRROR[KI["left_heel"]]] == "right_heel"
    # a left keypoint hangs from a left joint
    for k, n in enumerate(KEYPOINT_NAMES):
        if n.startswith("left_") and KEYPOINT_ATTACH[k] != I["Head"]:
            assert sk.JOINT_NAMES[KEYPOINT_ATTACH[k]].endswith("_L"), n


@pytest.fixture(scope="module")
def bodies() -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for name in ("bandai-namco-1/dataset-1_walk_normal_001.bvh",
                 "bandai-namco-1/dataset-1_dance-short_normal_001.bvh",
                 "bandai-namco-2/dataset-2_raise-up-both-hands_active_001.bvh"):
        b = read_bvh(MOCAP / name)
        out.append(place_on_mocap(*b.world_transforms(), b.names))
    return out


def body_frame(j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame lateral (to the left), up and forward unit vectors from the pelvis."""
    lat = j[:, I["UpperLeg_L"]] - j[:, I["UpperLeg_R"]]
    lat /= np.linalg.norm(lat, axis=-1, keepdims=True)
    up = j[:, I["Spine"]] - j[:, I["Hips"]]
    up -= np.sum(up * lat, -1, keepdims=True) * lat
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    return lat, up, np.cross(lat, up)


def test_keypoints_on_mocap(bodies) -> None:
    for joints, kp in bodies:
        assert joints.shape[1:] == (27, 3) and kp.shape[1:] == (33, 3)
        lat, up, fwd = body_frame(joints)
        centre = joints[:, I["Hips"]]
        # joint-centre keypoints
        for k, j in (("right_elbow", "LowerArm_R"), ("left_wrist", "Hand_L"), ("right_knee", "LowerLeg_R"),
                     ("left_ankle", "Foot_L")):
            np.testing.assert_allclose(kp[:, KI[k]], joints[:, I[j]])
        # hip keypoints: wider than the hip joints by HIP_WIDEN, on the right sides
        w_kp = np.linalg.norm(kp[:, KI["left_hip"]] - kp[:, KI["right_hip"]], axis=-1)
        w_j = np.linalg.norm(joints[:, I["UpperLeg_L"]] - joints[:, I["UpperLeg_R"]], axis=-1)
        np.testing.assert_allclose(w_kp, keypoints.HIP_WIDEN * w_j, rtol=1e-4)
        assert np.all(np.sum((kp[:, KI["left_hip"]] - centre) * lat, -1) > 0.05)
        # shoulder keypoints: out from the shoulder joints and up, about 0.33 m apart on this body
        for s, S in (("left", "L"), ("right", "R")):
            off = kp[:, KI[f"{s}_shoulder"]] - joints[:, I[f"UpperArm_{S}"]]
            np.testing.assert_allclose(np.linalg.norm(off, axis=-1), np.hypot(keypoints.SHOULDER_OUT,
                                                                               keypoints.SHOULDER_UP), rtol=0.5)
            assert np.median(np.sum(off * up, -1)) > 0.03
        w_sh = np.linalg.norm(kp[:, KI["left_shoulder"]] - kp[:, KI["right_shoulder"]], axis=-1)
        assert 0.28 < np.median(w_sh) < 0.38
        # the face: nose ahead of the neck, eyes above the nose, left eye and ear on the left
        head = joints[:, I["Head"]]
        nose = kp[:, KI["nose"]]
        np.testing.assert_allclose(nose, joints[:, I["Nose"]])
        head_up = head - joints[:, I["Neck"]]
        head_up /= np.linalg.norm(head_up, axis=-1, keepdims=True)
        assert np.all(np.linalg.norm(nose - head, axis=-1) == pytest.approx(0.186, abs=0.001))
        eye_mid = 0.5 * (kp[:, KI["left_eye"]] + kp[:, KI["right_eye"]])
        assert np.all(np.linalg.norm(kp[:, KI["left_eye"]] - kp[:, KI["right_eye"]], axis=-1)
                      == pytest.approx(0.064, abs=1e-3))
        assert np.all(np.linalg.norm(eye_mid - nose, axis=-1) < 0.05)
        ears = np.linalg.norm(kp[:, KI["left_ear"]] - kp[:, KI["right_ear"]], axis=-1)
        assert np.all(np.abs(ears - 0.11) < 1e-3)
        # hand points within a hand's length of the wrist
        for s in ("left", "right"):
            for f in ("pinky", "index", "thumb"):
                d = np.linalg.norm(kp[:, KI[f"{s}_{f}"]] - kp[:, KI[f"{s}_wrist"]], axis=-1)
                assert np.all((d > 0.04) & (d < 0.10)), (s, f)
        # feet: heel behind the ankle, toe tip ahead of the ball, along the sole (heel -> toe tip)
        for s, S in (("left", "L"), ("right", "R")):
            foot = kp[:, KI[f"{s}_foot_index"]] - kp[:, KI[f"{s}_heel"]]
            heel = kp[:, KI[f"{s}_heel"]] - joints[:, I["Foot_" + S]]
            tip = kp[:, KI[f"{s}_foot_index"]] - joints[:, I["Toes_" + S]]
            assert np.all(np.sum(heel * foot, -1) < 0) and np.all(np.sum(tip * foot, -1) > 0)
            assert np.all(np.abs(np.linalg.norm(heel, axis=-1) - 0.1056) < 1e-3)


def test_feet_touch_the_floor_in_a_walk(bodies) -> None:
    joints, kp = bodies[0]
    for k in ("left_heel", "right_heel", "left_foot_index", "right_foot_index"):
        h = kp[:, KI[k], 1]
        assert 0.0 < h.min() < 0.035, k  # the shoe's sole on the floor (y = 0), point 2-3 cm above it
        assert h.max() > 0.08, k  # and lifted during the swing
    # the person faces where they walk: forward axis along the hips' travel
    lat, up, fwd = body_frame(joints)
    travel = joints[-1, I["Hips"]] - joints[0, I["Hips"]]
    assert np.dot(fwd.mean(0), travel / np.linalg.norm(travel)) > 0.9
