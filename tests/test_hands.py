"""Hands (issue 17): the hand graphs against LiteRT on real hand crops, the hand pass on real video, the finger
solve on hands built with known angles, and the take, BVH and add-on files with fingers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import skeleton as sk
from engine.detector import blazepose as bp
from engine.detector import hands as hd
from engine.detector.backends import PoseNets
from engine.detector.capture2d import capture_2d
from engine.motion import fingers as fg
from engine.quaternion import quat_from_axis_angle, quat_to_matrix
from engine.take import read_take, write_take
from engine.tflite_torch import build_module
from engine.tflite_torch.litert_runner import LiteRTModel
from engine.tflite_torch.onnx_runner import OnnxModel
from engine.video import iter_frames, probe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))
from monocap_testdata import hand_points  # noqa: E402


@pytest.fixture(scope="module")
def clip(shared_data, model_paths):
    """cam01's first 40 frames: frames, body capture, and the hand crops our pipeline makes of them."""
    info = probe(shared_data / "video/pose2sim-single/cam01.mp4")
    nets = PoseNets(model_paths["pose_detection"], model_paths["pose_landmark_full"], device="cpu")
    cap = capture_2d(nets, info, 0, 40)
    frames = [f for _, f in iter_frames(info, 0, 40)]
    hand_nets = hd.HandNets(model_paths["hand_recrop"], model_paths["hand_landmark_full"],
                            model_paths["palm_detection_full"], device="cpu")
    track = hd.capture_hands(hand_nets, info, 0, [(cap.joints2d, cap.valid)])[0]
    body_only = hd.HandNets(model_paths["hand_recrop"], model_paths["hand_landmark_full"], device="cpu")
    without_palm = hd.capture_hands(body_only, info, 0, [(cap.joints2d, cap.valid)])[0]
    rois = []
    for k in range(0, 40, 4):
        for side in hd.SIDES:
            w, p, i = hd.BODY_HAND_POINTS[side]
            rois.append((k, hd.roi_from_body(cap.joints2d[k, w, :2], cap.joints2d[k, p, :2], cap.joints2d[k, i, :2])))
    recrop_in = np.stack([bp.landmark_input(frames[k], roi, hd.RECROP_SIZE) for k, roi in rois])
    align = LiteRTModel(model_paths["hand_recrop"])(recrop_in)[0].reshape(-1, 2, 2)
    hand_rois = [hd.roi_from_recrop(hd._to_image(a, roi, hd.RECROP_SIZE)) for a, (_, roi) in zip(align, rois)]
    hand_in = np.stack([bp.landmark_input(frames[k], roi, hd.HAND_SIZE) for (k, _), roi in zip(rois, hand_rois)])
    return {"info": info, "cap": cap, "frames": frames, "track": track, "recrop_in": recrop_in, "hand_in": hand_in,
            "without_palm": without_palm}


# -- the graphs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimize", [True, False])
def test_hand_landmarks_match_litert_on_real_crops(model_paths, clip, optimize):
    x = clip["hand_in"]
    ref = LiteRTModel(model_paths["hand_landmark_full"])(x)
    module = build_module(model_paths["hand_landmark_full"], optimize=optimize)
    with torch.inference_mode():
        ours = [t.numpy() for t in module(torch.from_numpy(x))]
    onnx = OnnxModel(model_paths["hand_landmark_full"])(x)
    for got in (ours, onnx):
        # keypoints in pixels of the 224 input (x, y, z per point): within 0.5 px
        assert np.abs(got[0] - ref[0]).max() < 0.5
        assert np.abs(got[1] - ref[1]).max() < 1e-3 and np.abs(got[2] - ref[2]).max() < 1e-3  # presence, side
        assert np.abs(got[3] - ref[3]).max() < 1e-3  # metric points, metres
    assert (ref[1] > hd.PRESENCE_THRESHOLD).mean() > 0.3  # real hands in the crops, not empty boxes


def test_recrop_and_palm_graphs_match_litert_on_real_frames(model_paths, clip):
    x = clip["recrop_in"]
    ref = LiteRTModel(model_paths["hand_recrop"])(x)[0]
    for optimize in (True, False):
        with torch.inference_mode():
            got = build_module(model_paths["hand_recrop"], optimize=optimize)(torch.from_numpy(x))[0].numpy()
        assert np.abs(got - ref).max() < 0.5  # the two alignment points, pixels of the 256 input
    # the palm detector (192x192, letterboxed frames): boxes within 0.5 px, score logits within 1e-2
    frames = np.stack([cv2.resize(f, (192, 192))[..., ::-1] / 255.0 for f in clip["frames"][:6]]).astype(np.float32)
    boxes, scores = LiteRTModel(model_paths["palm_detection_full"])(frames)
    with torch.inference_mode():
        ours = build_module(model_paths["palm_detection_full"])(torch.from_numpy(frames))
    assert np.abs(ours[0].numpy() - boxes).max() < 0.5 and np.abs(ours[1].numpy() - scores).max() < 1e-2


# -- the hand pass on real video -------------------------------------------------------------------------------

def test_hands_are_found_on_the_hands_of_the_body(clip):
    track, cap = clip["track"], clip["cap"]
    assert track.points2d.shape == (40, 2, 21, 3) and track.points3d.shape == (40, 2, 21, 3)
    assert track.valid.mean() > 0.3, track.valid.mean(0)
    size = hd.hand_size_pixels(cap.joints2d, cap.valid)
    for s, side in enumerate(hd.SIDES):
        w = hd.BODY_HAND_POINTS[side][0]
        seen = track.valid[:, s]
        # the hand graph's wrist lies on the body's wrist (within half a hand), its points are confident
        gap = np.linalg.norm(track.points2d[seen, s, 0, :2] - cap.joints2d[seen, w, :2], axis=-1)
        assert np.median(gap) < 0.5 * size, (side, np.median(gap), size)
        assert (track.points2d[seen, s, :, 2] >= hd.PRESENCE_THRESHOLD).all()
    assert not track.points2d[~track.valid].any()  # nothing guessed where a hand was not seen


def test_the_palm_detector_finds_hands_the_body_box_missed(clip):
    """Step 4: where the box from the body's keypoints holds no hand, a palm found near that wrist gives one."""
    track, before, cap = clip["track"], clip["without_palm"], clip["cap"]
    assert (track.valid >= before.valid).all()  # hands found from the body's box are found as before
    np.testing.assert_array_equal(track.points2d[before.valid], before.points2d[before.valid])
    extra = track.valid & ~before.valid
    print(f"palm detector: {int(extra.sum())} more hands in {extra.shape[0]} frames "
          f"({before.valid.mean(0).round(2)} -> {track.valid.mean(0).round(2)})")
    assert extra.sum() >= 3
    for k, s in np.argwhere(extra):
        own = cap.joints2d[k, hd.BODY_HAND_POINTS[hd.SIDES[s]][0], :2]
        other = cap.joints2d[k, hd.BODY_HAND_POINTS[hd.SIDES[1 - s]][0], :2]
        wrist = track.points2d[k, s, 0, :2]
        assert np.hypot(*(wrist - own)) < np.hypot(*(wrist - other))


def test_hands_out_of_view_are_invalid(model_paths, clip):
    """Black frames under a body that sees both wrists: the box from the body and the palm detector (which
    looks for each hand in each of those frames) find no hand anywhere, and nothing is guessed."""
    cap = clip["cap"]
    nets = hd.HandNets(model_paths["hand_recrop"], model_paths["hand_landmark_full"],
                       model_paths["palm_detection_full"], device="cpu")
    calls = []
    palms = nets.palms
    nets.palms = lambda x: calls.append(len(x)) or palms(x)
    ks = [k for k in range(len(cap.valid)) if cap.valid[k]
          and (cap.joints2d[k, [15, 16], 2] >= hd.PALM_WRIST_VISIBILITY).all()][:12]
    assert len(ks) == 12
    black = [np.zeros_like(clip["frames"][0]) for _ in ks]
    out = hd.hands_in_frames(nets, black, cap.joints2d[ks], cap.valid[ks])
    assert not out.valid.any() and not out.points2d.any() and not out.points3d.any()
    assert sum(calls) == 2 * 12, calls


def test_palm_decoding_matches_the_anchor_layout(model_paths, clip):
    """The palm detector's boxes on a window around a found hand: one palm, on that hand."""
    track, frames = clip["track"], clip["frames"]
    k, s = np.argwhere(track.valid)[0]
    pts = track.points2d[k, s, :, :2]
    centre = pts.mean(0)
    side = 3.0 * np.ptp(pts, axis=0).max()
    window = bp.Roi(float(centre[0]), float(centre[1]), float(side), 0.0)
    x = bp.landmark_input(frames[k], window, hd.PALM_SIZE)[None]
    boxes, scores = LiteRTModel(model_paths["palm_detection_full"])(x)
    palms = hd.palms_in_window(boxes[0], scores[0].reshape(-1), window)
    assert palms, "no palm found on a hand the landmark graph reads"
    best = max(palms, key=lambda p: p.score)
    # the palm's wrist keypoint near the hand's wrist, its middle knuckle near the hand's (within a third of
    # the hand's size)
    size = np.ptp(pts, axis=0).max()
    assert np.hypot(*(best.keypoints[0] - pts[0])) < size / 3
    assert np.hypot(*(best.keypoints[2] - pts[9])) < size / 3


def _shrunk_copy(src: Path, out: Path, factor: int, frames: int) -> None:
    info = probe(src)
    size = (info.width // factor, info.height // factor)
    wr = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, size)
    for _, f in iter_frames(info, 0, frames):
        wr.write(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
    wr.release()


def _capture(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "capture", *map(str, args), "--progress", "jsonl"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_hands_too_small_are_left_out_and_forced_hands_give_a_valid_take(tmp_path, shared_data, model_paths):
    small = tmp_path / "small.mp4"
    _shrunk_copy(shared_data / "video/pose2sim-single/cam01.mp4", small, 4, 30)  # hands of ~17 px
    r = _capture(small, "-o", tmp_path / "auto.npz")
    assert r.returncode == 0, r.stderr
    notes = [json.loads(line).get("info", "") for line in r.stdout.splitlines()]
    assert any(n.startswith("hands not captured") for n in notes), notes
    take = read_take(tmp_path / "auto.npz")
    assert "hands2d" not in take and len(take["joint_names"]) == sk.J  # the body-only skeleton, as before
    r = _capture(small, "-o", tmp_path / "forced.npz", "--hands")
    assert r.returncode == 0, r.stderr
    take = read_take(tmp_path / "forced.npz")
    assert take["hands2d"].shape == (30, 2, 21, 3) and take["hands_valid"].shape == (30, 2)
    assert any("hands seen in" in json.loads(line).get("info", "") for line in r.stdout.splitlines())
    assert np.isfinite(take["rotations"]).all() and len(take["joint_names"]) == len(sk.HAND_SKELETON_NAMES)


# -- the finger solve --------------------------------------------------------------------------------------------

def _rest_body(T: int) -> dict:
    rot = np.tile([1.0, 0.0, 0.0, 0.0], (T, sk.J, 1))
    joints = np.tile(sk.rest_positions(), (T, 1, 1))
    return {"joint_names": sk.JOINT_NAMES, "parents": sk.PARENTS, "rest_offsets": sk.REST_OFFSETS,
            "joints3d": joints, "rotations": rot}


def _camera_axes(points_world: np.ndarray, camera_rotation: np.ndarray) -> np.ndarray:
    return points_world @ camera_rotation  # the inverse of world = camera_rotation @ camera


def _finger_directions(joints3d: np.ndarray, side: str) -> np.ndarray:
    out = []
    for f in sk.FINGERS:
        names = [f"{f}{n}_{side}" for n in ("1", "2", "3", "Tip")]
        idx = [sk.HAND_INDEX[n] for n in names]
        seg = joints3d[:, idx[1:]] - joints3d[:, idx[:-1]]
        out.append(seg / np.linalg.norm(seg, axis=-1, keepdims=True))
    return np.concatenate(out, axis=1)


def test_finger_solve_reproduces_bent_fingers_and_the_palm(shared_data):
    T = 12
    cam_rot = quat_to_matrix(quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.radians(180.0)))
    turn = quat_to_matrix(quat_from_axis_angle(np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2]),
                                               np.radians(50.0)))
    flex = {"Thumb": (20.0, 30.0, 40.0), "Index": (10.0, 60.0, 30.0), "Middle": (45.0, 80.0, 50.0),
            "Ring": (70.0, 95.0, 60.0), "Little": (0.0, 20.0, 10.0)}
    hands3d = np.zeros((T, 2, 21, 3))
    want = {}
    for h, side in enumerate("LR"):
        pts = hand_points(side, flex, turn)
        want[side] = pts
        hands3d[:, h] = _camera_axes(pts, cam_rot) + [0.1, 0.2, 2.0]  # anywhere in camera space
    valid = np.ones((T, 2), bool)
    valid[4:7, 1] = False  # the right hand unseen for three frames
    fields, report = fg.finger_fields(_rest_body(T), hands3d, valid, cam_rot, 30.0, smooth=False)
    assert len(fields["joint_names"]) == 67 and fields["rotations"].shape == (T, 67, 4)
    for side in "LR":
        assert report[side]["mirrored"] == 0 and report[side]["clamped_share"] == 0.0
        got = _finger_directions(fields["joints3d"], side)
        pts = want[side]
        for f, finger in enumerate(sk.FINGERS):
            chain = sk.FINGER_POINTS[finger]
            seg = pts[list(chain[1:])] - pts[list(chain[:-1])]
            ref_dirs = seg / np.linalg.norm(seg, axis=-1, keepdims=True)
            err = np.degrees(np.arccos(np.clip(np.sum(got[:, 3 * f:3 * f + 3] * ref_dirs, -1), -1, 1)))
            assert err.max() < 1.0, (side, finger, err.max())
    # the unseen frames are interpolated between equal poses: the same pose
    np.testing.assert_allclose(fields["rotations"][5], fields["rotations"][3], atol=1e-5)


def test_fingers_bent_backwards_or_sideways_are_brought_within_limits():
    T = 4
    cam_rot = np.diag([1.0, -1.0, -1.0])
    flex = {"Thumb": (0.0, 0.0, 0.0), "Index": (0.0, -60.0, -50.0), "Middle": (0.0, 150.0, 0.0),
            "Ring": (0.0, 0.0, 0.0), "Little": (0.0, 0.0, 0.0)}
    pts = hand_points("L", flex, np.eye(3))
    pts[8] = pts[7] + np.array([0.0, 0.0, -0.022])  # index tip sideways by 90 degrees
    hands3d = np.zeros((T, 2, 21, 3))
    hands3d[:, 0] = _camera_axes(pts, cam_rot)
    valid = np.zeros((T, 2), bool)
    valid[:, 0] = True
    fields, report = fg.finger_fields(_rest_body(T), hands3d, valid, cam_rot, 30.0, smooth=False)
    assert report["L"]["clamped_share"] > 0 and report["L"]["mirrored"] == 0 and report["R"]["frames"] == 0
    j = fields["joints3d"][0]
    for finger, k, lo, hi in (("Index", 1, -5.0, 110.0), ("Index", 2, -5.0, 90.0), ("Middle", 1, -5.0, 110.0)):
        parent = sk.HAND_INDEX[f"{finger}{k}_L"]
        a = j[sk.HAND_INDEX[f"{finger}{k + 1}_L"]] - j[parent]
        nxt = f"{finger}{k + 2}_L" if k < 2 else f"{finger}Tip_L"
        b = j[sk.HAND_INDEX[nxt]] - j[sk.HAND_INDEX[f"{finger}{k + 1}_L"]]
        # the joint's bend towards the palm (the hand is unturned: fingers along +X, palm to -Y) is within its
        # range, and in the plane of the palm's normal (no sideways bend)
        bend = np.degrees(np.arctan2(-b[1], b[0]) - np.arctan2(-a[1], a[0]))
        assert lo - 1 <= bend <= hi + 1, (finger, k, bend)
        assert abs(b[2] - a[2] * np.linalg.norm(b) / np.linalg.norm(a)) < 1e-3, (finger, k, a, b)
    assert fields["rotations"][:, sk.HAND_INDEX["Thumb1_R"]:].any()  # the unseen hand: rest, not NaN


def test_mirrored_depth_is_turned_back():
    cam_rot = np.diag([1.0, -1.0, -1.0])
    flex = {f: (30.0, 50.0, 30.0) for f in sk.FINGERS}
    pts = _camera_axes(hand_points("R", flex, np.eye(3)), cam_rot)
    mirror = pts * [1.0, 1.0, -1.0]
    both = np.stack([pts, mirror])
    fixed, mirrored = fg.fix_chirality(both, "R")
    assert mirrored.tolist() == [False, True]
    np.testing.assert_allclose(fixed[1], pts, atol=1e-12)


def test_the_mirroring_follows_runs_not_single_frames():
    """Over a run of seen frames the depth is mirrored back where the graph mirrored it for a while, and a
    single frame that looks barely mirrored (a flat hand) does not flip the hand on its own."""
    cam_rot = np.diag([1.0, -1.0, -1.0])
    curled = _camera_axes(hand_points("L", {f: (30.0, 50.0, 30.0) for f in sk.FINGERS}, np.eye(3)), cam_rot)
    flat_back = _camera_axes(hand_points("L", {f: (-12.0, -8.0, 0.0) for f in sk.FINGERS}, np.eye(3)), cam_rot)
    frames = np.stack([curled] * 10 + [curled * [1.0, 1.0, -1.0]] * 8 + [curled] * 4 + [flat_back] + [curled] * 4)
    per_frame = fg.fix_chirality(frames, "L")[1]
    _, mirrored = fg.fix_chirality(frames, "L", np.ones(len(frames), bool))
    assert per_frame[22] and not mirrored[22]  # the lone flat frame: mirrored alone, kept in the run
    assert mirrored.tolist() == [False] * 10 + [True] * 8 + [False] * 9


def test_smoothing_lowers_fingertip_jitter_and_keeps_a_quick_gesture():
    rng = np.random.default_rng(0)
    T, fps = 90, 30.0
    cam_rot = np.diag([1.0, -1.0, -1.0])
    hands3d = np.zeros((T, 2, 21, 3))
    for t in range(T):
        bend = 80.0 if 45 <= t < 52 else 10.0  # a quick fist for a quarter of a second
        flex = {f: (bend, bend, bend * 0.7) for f in sk.FINGERS}
        hands3d[t, 0] = _camera_axes(hand_points("L", flex, np.eye(3)), cam_rot)
    noisy = hands3d + rng.normal(0, 0.002, hands3d.shape)
    valid = np.zeros((T, 2), bool)
    valid[:, 0] = True
    raw, _ = fg.finger_fields(_rest_body(T), noisy, valid, cam_rot, fps, smooth=False)
    smooth, _ = fg.finger_fields(_rest_body(T), noisy, valid, cam_rot, fps, smooth=True)
    j_raw = fg.fingertip_jitter(raw["joints3d"], fps, valid)
    j_smooth = fg.fingertip_jitter(smooth["joints3d"], fps, valid)
    assert j_smooth < 0.5 * j_raw, (j_raw, j_smooth)
    # the fist still closes: the middle fingertip comes within 3 cm of the palm's base at the gesture's peak
    tip = smooth["joints3d"][:, sk.HAND_INDEX["MiddleTip_L"]] - smooth["joints3d"][:, sk.HAND_INDEX["Hand_L"]]
    assert np.linalg.norm(tip[49]) < np.linalg.norm(tip[30]) - 0.03


# -- files --------------------------------------------------------------------------------------------------------

def test_a_take_with_hands_round_trips_and_a_take_without_still_loads(tmp_path):
    T = 3
    base = {"fps": 30.0, "image_size": np.array([640, 480]), "joints2d": np.zeros((T, 33, 3), np.float32),
            "valid": np.ones(T, bool)}
    hands = {"hands2d": np.ones((T, 2, 21, 3), np.float32), "hands_valid": np.array([[1, 0]] * T, bool),
             "hands3d": np.zeros((T, 2, 21, 3), np.float32)}
    write_take(tmp_path / "h.npz", {**base, **hands})
    got = read_take(tmp_path / "h.npz")
    assert got["format_version"] == "1.2" and got["hands_valid"].dtype == bool
    np.testing.assert_array_equal(got["hands2d"], hands["hands2d"])
    np.savez(tmp_path / "old.npz", format_version=np.asarray("1.1"), **base)
    assert "hands2d" not in read_take(tmp_path / "old.npz")
    bad = dict(hands, hands2d=np.full((T, 2, 21, 3), np.nan, np.float32))
    np.savez(tmp_path / "bad.npz", format_version=np.asarray("1.2"), **base, **bad)
    with pytest.raises(Exception, match="hands2d"):
        read_take(tmp_path / "bad.npz")


# -- the take of a real clip, everywhere the body goes ------------------------------------------------------------

@pytest.fixture(scope="module")
def real_take(tmp_path_factory, model_paths):
    out = tmp_path_factory.mktemp("hands_take")
    r = _capture(ROOT / "samples" / "pose2sim_cam01.mp4", "-o", out / "take.npz", "--bvh", out / "take.bvh",
                 "--vmd", out / "gene.vmd", "--rig", ROOT / "assets/gene/Gene.pmx")
    assert r.returncode == 0, r.stderr
    return out


def test_vmd_for_gene_puts_every_finger_segment_where_the_take_points(real_take):
    """The VMD read back with our reader and posed by our MMD forward kinematics: each finger bone of Gene
    points along its take segment (this file's own table: the MMD bone's name -> the take's joints)."""
    from engine.formats.pmx import read_pmx
    from engine.formats.vmd import read_vmd
    from engine.rig.mmd_fk import pose_world

    take = read_take(real_take / "take.npz")
    gene = read_pmx(ROOT / "assets/gene/Gene.pmx")
    motion = read_vmd(real_take / "gene.vmd")
    frames = np.unique(motion.bone_keys.frame)
    keys = motion.bone_keys
    keyed = {keys.name_table[i] for i in np.unique(keys.name_id)}
    table = {"親指": ("Thumb", "０１２"), "人指": ("Index", "１２３"), "中指": ("Middle", "１２３"),
             "薬指": ("Ring", "１２３"), "小指": ("Little", "１２３")}
    pos, _ = pose_world(gene, motion, frames)
    p = np.asarray(take["joints3d"], np.float64)
    names = list(take["joint_names"])
    # take frame i is keyed at round(i * 30 / fps), the first of those that share a frame (retarget's rule)
    at = np.rint(np.arange(len(p)) * 30.0 / take["fps"])
    take_frames = np.array([np.flatnonzero(at == f)[0] for f in frames])
    errors, moving = [], []
    for side, jp in (("左", "L"), ("右", "R")):
        for mmd, (finger, numbers) in table.items():
            chain = [f"{finger}{k}_{jp}" for k in ("1", "2", "3", "Tip")]
            for k, number in enumerate(numbers):
                bone = f"{side}{mmd}{number}"
                assert bone in keyed, bone
                b = gene.bone_index(bone)
                rig = pos[:, gene.bones[b].tail_bone] - pos[:, b]
                seg = (p[take_frames, names.index(chain[k + 1])] - p[take_frames, names.index(chain[k])]) * [1, 1, -1]
                cos = np.sum(rig * seg, -1) / np.linalg.norm(rig, axis=-1) / np.linalg.norm(seg, axis=-1)
                errors.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
                moving.append(np.ptp(rig / np.linalg.norm(rig, axis=-1, keepdims=True), axis=0).max())
    err = np.concatenate(errors)
    print(f"finger segments on Gene: mean direction error {err.mean():.3f} deg, worst {err.max():.3f} deg")
    assert err.mean() < 1.0 and err.max() < 5.0
    assert np.median(moving) > 0.2  # the fingers move with the video, not a still pose


def test_bvh_carries_the_finger_joints(real_take):
    from engine.formats.bvh import read_bvh

    take = read_take(real_take / "take.npz")
    bvh = read_bvh(real_take / "take.bvh")
    assert sorted(bvh.names) == sorted(take["joint_names"]) and len(bvh.names) == 67
    names = list(take["joint_names"])
    tips = [f"{f}Tip_{s}" for s in "LR" for f in sk.FINGERS]
    # the file's own hierarchy, read back, puts every fingertip where the take has it
    got = bvh.world_positions()[:, [bvh.names.index(n) for n in tips]]
    np.testing.assert_allclose(got, take["joints3d"][:, [names.index(n) for n in tips]], atol=2e-4)
