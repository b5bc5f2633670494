"""One length per bone (`engine.lifter.infer.subject_bone_lengths`): not biased short where a limb points at the
camera, left and right equal unless the data say otherwise. numpy only (no weights loaded)."""

from __future__ import annotations

import numpy as np

from engine import skeleton as sk
from engine.lifter import data as D
from engine.lifter.infer import hold_bone_lengths, subject_bone_lengths

PARENTS = sk.PARENTS[D.LIFTER_JOINTS] - 1  # lifter joint -> its parent's lifter index


def _bone(name: str) -> int:
    """Index of the bone that ends at canonical joint `name` (bone k ends at lifter joint k + 1)."""
    return int(np.flatnonzero(D.LIFTER_JOINTS == sk.INDEX[name])[0]) - 1


def _sequence(T: int, directions: dict[str, np.ndarray], lengths: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 26, 3) Hips-relative camera-space poses (x right, y down, z forward): the rest pose upright, with the
    named bones (by the joint they end at) given per-frame directions (T, 3) and lengths (T,)."""
    rest = sk.REST_OFFSETS[D.LIFTER_JOINTS] * np.array([1.0, -1.0, -1.0])  # world Y up -> camera y down
    offsets = np.repeat(rest[None], T, axis=0)
    for name, d in directions.items():
        j = _bone(name) + 1
        offsets[:, j] = d / np.linalg.norm(d, axis=-1, keepdims=True) * lengths[name][:, None]
    pose = np.zeros((T, len(D.LIFTER_JOINTS), 3))
    for j in range(1, pose.shape[1]):
        pose[:, j] = pose[:, PARENTS[j]] + offsets[:, j]
    return pose


def test_a_forearm_pointing_at_the_camera_keeps_its_length() -> None:
    """The left forearm points at the camera in 80 % of the frames, where (as the networks do) its depth comes
    out short, and lies across the view in the rest; the right one lies across the view throughout but
    reads 8 % short, as the networks' forearms do on held-out mocap. Both come out at the true length."""
    rng = np.random.default_rng(0)
    T, true = 200, 0.26
    toward = np.zeros((T, 3))
    toward[:, 2] = -1.0  # at the camera
    toward[:, 0] = rng.normal(0.0, 0.15, T)  # a little off the ray
    toward[160:] = [1.0, 0.2, 0.0]  # across the view
    depth_short = np.where(np.arange(T) < 160, 0.55, 1.0)  # the depth of a bone along the ray read short
    left = true * depth_short * (1 + rng.normal(0, 0.01, T))
    right = true * 0.92 * (1 + rng.normal(0, 0.01, T))
    across = np.tile([-1.0, 0.3, 0.1], (T, 1))
    pose = _sequence(T, {"Hand_L": toward, "Hand_R": across}, {"Hand_L": left, "Hand_R": right})
    root = np.tile([0.1, -0.2, 3.0], (T, 1))
    lengths = subject_bone_lengths(pose, np.ones(T, bool), root)
    lf, rf = lengths[_bone("Hand_L")], lengths[_bone("Hand_R")]
    assert abs(lf / true - 1) < 0.03
    assert lf == rf  # the same on both sides
    plain = np.median(np.linalg.norm(pose[:, 1:] - pose[:, PARENTS[1:]], axis=-1), axis=0)[_bone("Hand_L")]
    assert plain < 0.7 * true  # what the median of all frames made of it
    # bones not touched keep the rest lengths, the same on both sides
    rest = np.linalg.norm(sk.REST_OFFSETS[D.LIFTER_JOINTS], axis=-1)[1:]
    others = np.ones(rest.size, bool)
    others[[_bone("Hand_L"), _bone("Hand_R")]] = False
    np.testing.assert_allclose(lengths[others], rest[others], rtol=1e-9)
    # the pose with those lengths: directions kept, one length per bone, the Hips where they were
    held = hold_bone_lengths(pose, None, root)
    bones = held[:, 1:] - held[:, PARENTS[1:]]
    np.testing.assert_allclose(np.linalg.norm(bones, axis=-1), np.repeat(lengths[None], T, 0), rtol=1e-9)
    assert np.allclose(held[:, 0], 0.0)


def test_sides_that_clearly_differ_keep_their_lengths() -> None:
    """A shin twice as long as the other (more than the networks ever make of a symmetric body) stays so."""
    T = 50
    down = np.tile([0.05, 1.0, 0.1], (T, 1))
    pose = _sequence(T, {"Foot_L": down, "Foot_R": down}, {"Foot_L": np.full(T, 0.40), "Foot_R": np.full(T, 0.20)})
    lengths = subject_bone_lengths(pose)
    np.testing.assert_allclose(lengths[[_bone("Foot_L"), _bone("Foot_R")]], [0.40, 0.20], rtol=1e-9)
    # a difference within what the networks' noise makes is pooled: to the longer side
    pose = _sequence(T, {"Foot_L": down, "Foot_R": down}, {"Foot_L": np.full(T, 0.40), "Foot_R": np.full(T, 0.30)})
    lengths = subject_bone_lengths(pose)
    np.testing.assert_allclose(lengths[[_bone("Foot_L"), _bone("Foot_R")]], [0.40, 0.40], rtol=1e-9)


def test_only_valid_frames_count() -> None:
    T = 40
    side = np.tile([1.0, 0.0, 0.0], (T, 1))
    length = np.where(np.arange(T) < 30, 0.25, 0.60)  # the last frames are junk, marked invalid
    pose = _sequence(T, {"LowerArm_L": side, "LowerArm_R": -side}, {"LowerArm_L": length, "LowerArm_R": length})
    valid = np.arange(T) < 30
    lengths = subject_bone_lengths(pose, valid)
    np.testing.assert_allclose(lengths[[_bone("LowerArm_L"), _bone("LowerArm_R")]], 0.25, rtol=1e-9)
    np.testing.assert_allclose(subject_bone_lengths(pose, np.zeros(T, bool)), subject_bone_lengths(pose))
