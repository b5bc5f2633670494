"""The real-video evaluation (`engine/lifter/realvideo.py`): calibration, triangulation, metrics, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import skeleton as sk
from engine.lifter import realvideo as R
from engine.lifter.keypoints import KEYPOINT_MIRROR, KEYPOINT_NAMES


@pytest.fixture(scope="module")
def cams(shared_data) -> list[R.Camera]:
    calib = R.read_qca(shared_data / "video/pose2sim-single/Calib.qca.txt")
    # cam01 and cam02's videos are 1080 wide, the calibration 1088: one letterboxed view exercises the scaling
    return [calib["cam01"].for_video(1080, 1920), calib["cam02"], calib["cam03"], calib["cam04"]]


def _scene_centre(cams: list[R.Camera]) -> np.ndarray:
    """The point nearest to all optical axes (least squares): where the person stands."""
    a, b = np.zeros((3, 3)), np.zeros(3)
    for c in cams:
        d = c.R[2]  # the optical axis in world coordinates
        m = np.eye(3) - np.outer(d, d)
        a += m
        b += m @ c.centre
    return np.linalg.solve(a, b)


def _body(rng: np.random.Generator, centre: np.ndarray, frames: int) -> np.ndarray:
    """(T, 33, 3) world points, Z up: left keypoints on +X, their mirror partners on -X, 0.15-0.4 m apart."""
    left = rng.uniform([0.08, -0.15, -0.8], [0.2, 0.15, 0.8], (frames, 33, 3))
    pts = left.copy()
    mirrored = KEYPOINT_MIRROR != np.arange(33)
    right = np.array(["right" in n for n in KEYPOINT_NAMES])
    pts[:, right] = left[:, KEYPOINT_MIRROR[right]] * [-1.0, 1.0, 1.0] + rng.normal(0, 0.03, (frames, right.sum(), 3))
    pts[:, ~mirrored, 0] = 0.0
    return pts + centre


def _observe(cams: list[R.Camera], pts: np.ndarray) -> np.ndarray:
    """(V, T, K, 3) pixels of pts in each view, confidence 1."""
    return np.stack([np.concatenate([R.project(c, pts), np.ones(pts.shape[:2] + (1,))], -1) for c in cams])


def test_undistort_inverts_the_projection(cams):
    pts = _body(np.random.default_rng(0), _scene_centre(cams), 3)
    for c in cams:
        cam = pts @ c.R.T + c.t
        ray = R.undistort(c, R.project(c, pts))
        np.testing.assert_allclose(ray, cam[..., :2] / cam[..., 2:], atol=1e-9)


def test_triangulation_recovers_points_with_one_view_corrupted(cams):
    rng = np.random.default_rng(1)
    pts = _body(rng, _scene_centre(cams), 6)
    obs = _observe(cams, pts)
    obs[..., :2] += rng.normal(0, 0.5, obs[..., :2].shape)  # half a pixel of detector noise everywhere
    bad = rng.random(obs.shape[1:3]) < 0.5
    obs[2][bad, :2] += rng.choice([-1, 1], (bad.sum(), 2)) * rng.uniform(60, 200, (bad.sum(), 2))
    points, err, used = R.triangulate(cams, obs)
    assert not used[..., 2][bad].any()  # the corrupted view was left out wherever it was wrong
    assert np.linalg.norm(points - pts, axis=-1).max() < 0.005


def test_swaps_in_one_view_are_undone(cams):
    rng = np.random.default_rng(2)
    pts = _body(rng, _scene_centre(cams), 8)
    obs = _observe(cams, pts)
    arms, legs = R.SWAP_GROUPS["arms"], R.SWAP_GROUPS["legs"]
    obs[1][2:5, arms] = obs[1][2:5][:, KEYPOINT_MIRROR[arms]]  # view 1 swaps its arms in frames 2-4 ...
    obs[3][5:7, legs] = obs[3][5:7][:, KEYPOINT_MIRROR[legs]]  # ... view 3 its legs in frames 5-6
    fixed, swapped = R.fix_swaps(cams, obs)
    expected = np.zeros_like(swapped)
    expected[1, 2:5, 0] = True
    expected[3, 5:7, 1] = True
    np.testing.assert_array_equal(swapped, expected)
    points = R.triangulate(cams, fixed)[0]
    assert np.linalg.norm(points - pts, axis=-1).max() < 1e-4


def test_zup_to_yup():
    np.testing.assert_allclose(R.zup_to_yup(np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])),
                               [[0, 1, 0], [0, 0, -1], [1, 0, 0]])
    m = R.zup_to_yup(np.eye(3))
    assert np.isclose(np.linalg.det(m), 1.0)  # a rotation: handedness kept


def _moving_body(frames: int = 20) -> np.ndarray:
    """(T, 12, 3): the rest pose's body keypoints with the limbs swinging differently on each side."""
    rng = np.random.default_rng(3)
    rest = R.take_body(sk.rest_positions()[None])[0]
    t = np.arange(frames)[:, None, None]
    wobble = 0.15 * np.sin(0.3 * t + rng.uniform(0, 6, (1, 12, 3)))
    wobble[:, [0, 1, 6, 7]] *= 0.2  # shoulders and hips move less
    return rest + wobble


def test_metrics_are_zero_for_identical_and_similar_inputs():
    gt = _moving_body()
    s = R.score(gt, gt, 60.0)
    assert s["pa_mpjpe_mm"] < 1e-6 and s["limb_dir_deg"] < 1e-3 and s["swapped_frames"] == 0
    assert np.isclose(s["jitter"], R.jitter(gt, 60.0))
    assert all(np.isclose(s["limb_lengths"][k], v) for k, v in R.limb_lengths(gt).items())
    # rotated, scaled and shifted per frame: the Procrustes fit removes all of it
    c, si = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, 0, si], [0, 1, 0], [-si, 0, c]])
    moved = 0.8 * gt @ rot.T + np.array([1.0, 0.2, -3.0])
    s = R.score(moved, gt, 60.0)
    assert s["pa_mpjpe_mm"] < 1e-6 and s["limb_dir_deg"] < 1e-3 and s["swapped_frames"] == 0


def test_jitter_is_the_scaled_third_difference():
    t = np.arange(10) / 60.0
    x = np.zeros((10, 1, 3))
    x[:, 0, 0] = t ** 3  # third derivative 6 m/s^3: jitter 0.6 in units of 10 m/s^3
    assert np.isclose(R.jitter(x, 60.0), 0.6)


def test_swapped_frames_are_counted():
    gt = _moving_body()
    pred = gt.copy()
    pred[3:7] = pred[3:7][:, np.r_[R.BODY_MIRROR[:6], np.arange(6, 12)]]  # arms
    pred[10:12] = pred[10:12][:, np.r_[np.arange(6), R.BODY_MIRROR[6:]]]  # legs
    pred[15] = pred[15][R.BODY_MIRROR]  # both
    kind = R.swapped_frames(pred, gt)
    expected = np.zeros(len(gt), dtype=int)
    expected[3:7], expected[10:12], expected[15] = 1, 2, 3
    np.testing.assert_array_equal(kind, expected)
    assert R.score(pred, gt, 60.0)["swapped_frames"] == 7


def test_shoulders_and_hips_become_keypoints():
    from engine.lifter import keypoints as kp

    rest = sk.rest_positions()[None]
    body = R.take_body(rest)[0]
    half = sk.REST_OFFSETS[sk.INDEX["UpperLeg_L"], 0]
    assert np.isclose(body[6, 0], kp.HIP_WIDEN * half) and np.isclose(body[7, 0], -kp.HIP_WIDEN * half)
    assert np.isclose(body[6, 1], rest[0, sk.INDEX["UpperLeg_L"], 1] + kp.HIP_RAISE)
    # shoulders: out along the (level, in the T-pose) clavicle and up the chest
    arm = rest[0, sk.INDEX["UpperArm_L"]]
    np.testing.assert_allclose(body[0], arm + (kp.SHOULDER_OUT, kp.SHOULDER_UP, 0.0), atol=1e-9)
    np.testing.assert_allclose(body[[2, 4, 8, 10]], rest[0, R.BODY_JOINTS[[2, 4, 8, 10]]])


@pytest.fixture(scope="module")
def real_run(shared_data, model_paths, tmp_path_factory):
    """`lifter eval --real --no-peer` once, on the real videos (their 2D captured into a fresh cache)."""
    import contextlib
    import io

    from engine.lifter.evaluate import main

    tmp = tmp_path_factory.mktemp("realvideo")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["--real", "--no-peer", "--real-cache", str(tmp / "cache"), "--json", str(tmp / "r.json")])
    return rc, out.getvalue(), json.loads((tmp / "r.json").read_text())


def test_reference_reprojects_into_every_view(real_run):
    rc, _, res = real_run
    ref = res["reference"]
    assert rc == 0
    # a wrong reading of the calibration (axes, units, the factor 64, the letterbox) puts this in the 100s
    assert max(ref["reprojection_median_body_px_by_view"]) < 20.0
    assert ref["filtered_reprojection_median_body_px"] < 20.0
    # the person is an adult: the reference's limbs are of human length
    assert all(0.2 < v < 0.5 for v in ref["limb_lengths"].values())


def test_cli_prints_the_tables(real_run):
    _, text, res = real_run
    assert "| **mean** |" in text and "| reference |" in text
    for view in R.VIEWS:
        s = res["monocap"][view]
        assert s["frames"] == 100 and 0 < s["pa_mpjpe_mm"] < 400 and 0 < s["limb_dir_deg"] < 90


def test_finger_directions_are_measured_in_the_hands_own_frame():
    from engine.lifter.realvideo_fingers import _rest_hands, hand_frame_directions

    rng = np.random.default_rng(3)
    hands = _rest_hands() + rng.normal(0, 0.004, (2, 21, 3))  # a little bent, not a flat rest hand
    d = hand_frame_directions(hands)
    assert d.shape == (2, 15, 3) and np.allclose(np.linalg.norm(d, axis=-1), 1.0)
    # turned and moved anywhere, the same hand has the same directions
    q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    q *= np.sign(np.linalg.det(q))  # a rotation, not a reflection
    assert np.allclose(hand_frame_directions(hands @ q.T + [0.3, 1.2, -2.0]), d, atol=1e-9)
    # a mirrored hand (the depth the hand graph gets wrong) is not the same hand
    mirrored = hands * [1.0, 1.0, -1.0]
    assert np.degrees(np.arccos(np.clip((hand_frame_directions(mirrored) * d).sum(-1), -1, 1))).max() > 1.0
    # straight fingers at rest point up the hand, away from the wrist
    assert (hand_frame_directions(_rest_hands())[:, 3:, 1] > 0.9).all()


def test_fingers_are_scored_against_the_triangulated_hands(real_run):
    _, text, res = real_run
    f = res["fingers"]
    assert "fingers: segment directions" in text
    assert min(f["reference_hands"]) > 50 and f["reference_reprojection_px"] < 15.0
    stages = f["stages"]
    # the solve is nearer the four views' hands than a hand at rest, and each stage keeps or improves it
    assert stages["take fingers, smoothed"]["mean"] < stages["rest hand (baseline)"]["mean"] - 10.0
    assert stages["mirroring fixed"]["mean"] < stages["hand graph 3D"]["mean"]
