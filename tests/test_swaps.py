"""Left/right swaps of the 2D (`engine.detector.swaps`): synthetic swaps put into real captures are found and
undone, real captures without swaps are left alone, and cam02's real swaps are found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.detector.swaps import ALL, ARMS, LEGS, TORSO, exchange_sides, find_swaps, undo_swaps
from engine.lifter.keypoints import KEYPOINT_MIRROR, KEYPOINT_NAMES

DATA = Path(__file__).resolve().parent / "data" / "pose2sim_2d.npz"
KI = {n: i for i, n in enumerate(KEYPOINT_NAMES)}


@pytest.fixture(scope="module")
def captures() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four pose2sim views as `engine capture` gave them (tests/data/README.md): name -> joints2d, valid."""
    with np.load(DATA) as z:
        return {c: (z[f"{c}_joints2d"], z[f"{c}_valid"]) for c in ("cam01", "cam02", "cam03", "cam04")}


def test_exchange_sides_moves_only_the_flagged_groups_and_undoes_itself() -> None:
    rng = np.random.default_rng(0)
    j = rng.normal(size=(4, 33, 3)).astype(np.float32)
    flags = np.array([0, LEGS, ARMS | TORSO, ALL], np.uint8)
    out = exchange_sides(j, flags)
    np.testing.assert_array_equal(out[0], j[0])
    for name in ("left_knee", "left_ankle", "left_heel", "left_foot_index"):
        k = KI[name]
        np.testing.assert_array_equal(out[1, k], j[1, KEYPOINT_MIRROR[k]])
    np.testing.assert_array_equal(out[1, KI["left_hip"]], j[1, KI["left_hip"]])  # hips go with the trunk
    np.testing.assert_array_equal(out[2, KI["left_ear"]], j[2, KI["right_ear"]])
    np.testing.assert_array_equal(out[2, KI["left_thumb"]], j[2, KI["right_thumb"]])
    np.testing.assert_array_equal(out[2, KI["left_knee"]], j[2, KI["left_knee"]])
    np.testing.assert_array_equal(out[3], j[3, KEYPOINT_MIRROR])  # whole body: every pair
    np.testing.assert_array_equal(out[:, KI["nose"]], j[:, KI["nose"]])
    np.testing.assert_array_equal(exchange_sides(out, flags), j)
    presence = rng.random((4, 33))  # anything per keypoint goes the same way
    np.testing.assert_array_equal(exchange_sides(presence, flags)[3], presence[3, KEYPOINT_MIRROR])


# runs of frames put into cam01's real 2D: (first, stop, groups)
SYNTHETIC = {
    "whole body": [(30, 52, ALL)],
    "one pair of legs": [(60, 68, LEGS)],
    "arms": [(12, 19, ARMS)],
    "from the first frame": [(0, 9, ALL)],
    "to the last frame": [(88, 100, LEGS)],
    "several": [(5, 12, ALL), (40, 44, LEGS), (70, 90, ALL)],
    "legs inside a whole-body swap": [(20, 45, ALL), (30, 36, ARMS | TORSO)],
}


@pytest.mark.parametrize("case", list(SYNTHETIC))
@pytest.mark.parametrize("cam", ["cam01", "cam04"])
def test_synthetic_swaps_in_a_real_capture_are_undone(captures, case, cam) -> None:
    joints2d, valid = captures[cam]
    flags = np.zeros(len(valid), np.uint8)
    for first, stop, groups in SYNTHETIC[case]:
        flags[first:stop] ^= groups
    swapped = exchange_sides(joints2d, flags)
    fixed, found = undo_swaps(swapped, valid)
    assert np.array_equal(found, flags), f"flagged {np.flatnonzero(found)}, swapped {np.flatnonzero(flags)}"
    assert np.abs(fixed - joints2d).max() < 1.0  # pixels


def test_swaps_are_found_across_missing_frames(captures) -> None:
    joints2d, valid = captures["cam01"]
    valid = valid.copy()
    valid[[31, 47, 48, 66]] = False  # the person not seen there (the detector leaves zeros)
    joints2d = np.where(valid[:, None, None], joints2d, 0.0).astype(np.float32)
    flags = np.zeros(len(valid), np.uint8)
    flags[28:50] = ALL
    flags[64:70] = LEGS
    flags[~valid] = 0
    fixed, found = undo_swaps(exchange_sides(joints2d, flags), valid)
    assert np.array_equal(found, flags)
    assert np.abs(fixed - joints2d).max() < 1.0


@pytest.mark.parametrize("cam", ["cam01", "cam03", "cam04"])
def test_real_captures_without_swaps_are_left_alone(captures, cam) -> None:
    joints2d, valid = captures[cam]
    fixed, found = undo_swaps(joints2d, valid)
    assert np.count_nonzero(found) <= 1  # of 100 frames; none at the time of writing
    assert np.count_nonzero(np.abs(fixed - joints2d).max(axis=(1, 2)) > 0) <= 1


def test_the_real_swaps_of_cam02_are_found(captures) -> None:
    # cam02 seen against the video (the person faces the camera throughout): BlazePose turns the whole body
    # round in these frames and back, and puts a few frames in between (46, 55, 64, 68, 74, 81) half way
    # between the two sides, where either labelling is as wrong
    joints2d, valid = captures["cam02"]
    found = find_swaps(joints2d, valid)
    whole = [42, 43, *range(47, 55), *range(56, 60), 61, 65, 67, *range(69, 73), 77]
    assert np.all(found[whole] == ALL), found[whole]
    assert not found[:41].any() and not found[82:].any()
    assert not found[[44, 45, 60, 62, 63, 66, 73, 75, 76, 78, 79, 80]].any()


def test_a_person_spinning_round_is_not_taken_for_a_swap(shared_data) -> None:
    # a mocap dance spun about the vertical axis (one and a half turns a second, 18 degrees a frame at 30 fps)
    # and seen from the front: the shoulders and hips cross in the image about every third of a second, as in
    # a real turn, and must keep their labels
    from engine.formats.bvh import read_bvh
    from engine.lifter.keypoints import place_on_mocap

    b = read_bvh(shared_data / "mocap/bandai-namco-1/dataset-1_dance-short_normal_001.bvh")
    wr, wp = b.world_transforms()
    _, kps = place_on_mocap(wr, wp, b.names)
    T = kps.shape[0]
    turn = 2 * np.pi * 1.5 * np.arange(T) / b.fps
    c, s = np.cos(turn), np.sin(turn)
    rot = np.zeros((T, 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1.0, -s, c
    centre = kps[:, [KI["left_hip"], KI["right_hip"]]].mean(1, keepdims=True)
    spun = np.einsum("tij,tkj->tki", rot, kps - centre) + centre
    # camera 3.5 m in front (+Z), 1.6 m high, looking along -Z: image x = -X, y = -Y
    rel = spun - np.array([spun[..., 0].mean(), 1.6, spun[..., 2].mean() + 3.5])
    uv = 1500.0 * rel[..., :2] * np.array([-1.0, -1.0]) / -rel[..., 2:3] + np.array([540.0, 960.0])
    joints2d = np.concatenate([uv + np.random.default_rng(0).normal(0, 2.0, uv.shape), np.ones((T, 33, 1))], -1)
    crossings = np.count_nonzero(np.diff(np.sign(uv[:, KI["left_shoulder"], 0] - uv[:, KI["right_shoulder"], 0])))
    assert crossings > 100
    found = find_swaps(joints2d, np.ones(T, bool))
    assert np.count_nonzero(found) <= 0.002 * T


def test_short_and_empty_sequences() -> None:
    assert find_swaps(np.zeros((0, 33, 3)), np.zeros(0, bool)).shape == (0,)
    one = np.random.default_rng(1).normal(size=(1, 33, 3))
    assert not find_swaps(one, np.ones(1, bool)).any()
    assert not find_swaps(np.zeros((5, 33, 3)), np.zeros(5, bool)).any()
    with pytest.raises(ValueError):
        find_swaps(np.zeros((5, 17, 3)), np.ones(5, bool))


def test_the_take_keeps_the_flags_and_takes_of_format_1_0_still_load(tmp_path) -> None:
    from engine.take import FORMAT_VERSION, read_take, write_take

    base = {"fps": 60.0, "image_size": np.array([1080, 1920]), "joints2d": np.zeros((3, 33, 3), np.float32),
            "valid": np.ones(3, bool)}
    write_take(tmp_path / "new.npz", {**base, "swapped": np.array([0, ALL, LEGS], np.uint8)})
    new = read_take(tmp_path / "new.npz")
    assert FORMAT_VERSION == new["format_version"] == "1.2"
    np.testing.assert_array_equal(new["swapped"], [0, ALL, LEGS])
    np.savez(tmp_path / "old.npz", format_version=np.asarray("1.0"), **base)
    old = read_take(tmp_path / "old.npz")
    assert old["format_version"] == "1.0" and "swapped" not in old
