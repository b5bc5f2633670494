"""2D capture on real videos: the skeleton lands on the person, the person is kept, the protocol holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.detector import blazepose as bp
from engine.detector.backends import PoseNets
from engine.detector.capture2d import capture_2d
from engine.take import read_take
from engine.video import probe

ROOT = Path(__file__).resolve().parents[1]


def test_anchor_layout_matches_the_detector_output():
    assert bp.ANCHORS.shape == (2254, 2)
    # first layer: 28x28 cells, two anchors each, row-major from the top-left cell
    assert np.allclose(bp.ANCHORS[0], [0.5 / 28, 0.5 / 28]) and np.allclose(bp.ANCHORS[1], bp.ANCHORS[0])
    assert np.allclose(bp.ANCHORS[2], [1.5 / 28, 0.5 / 28])
    assert np.allclose(bp.ANCHORS[-1], [6.5 / 7, 6.5 / 7])


def test_roi_round_trip_maps_crop_centre_to_roi_centre():
    roi = bp.Roi(500.0, 300.0, 400.0, 0.7)
    m = bp.roi_matrix(roi)
    centre = m[:, :2] @ np.array([128.0, 128.0]) + m[:, 2]
    assert np.allclose(centre, [500, 300])
    # the crop's "up" (towards v = 0) points along the rotated image direction
    top = m[:, :2] @ np.array([128.0, 0.0]) + m[:, 2]
    assert np.allclose(np.hypot(*(top - centre)), 200.0)


def test_crop_through_bgra_matches_the_plain_warp(shared_data):
    # landmark_input converts only the pixels the crop reads to BGRA (OpenCV's fast rotated warp): the crop
    # must be the one a plain 3-channel warp of the whole frame gives, up to one level in a few values
    import cv2

    from engine.video import iter_frames

    info = probe(shared_data / "video/pose2sim-single/cam01.mp4")
    frame = next(iter_frames(info, 0, 1))[1]
    rng = np.random.default_rng(0)
    for _ in range(40):  # inside, across the border and entirely outside the frame, any angle
        roi = bp.Roi(rng.uniform(-600, 1700), rng.uniform(-600, 2500), rng.uniform(40, 2500), rng.uniform(-4, 4))
        plain = cv2.warpAffine(frame, bp.roi_matrix(roi), (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        got = bp.landmark_input(frame, roi)
        assert got.shape == (256, 256, 3) and got.dtype == np.float32
        off = np.abs(np.rint(got * 255).astype(int) - cv2.cvtColor(plain, cv2.COLOR_BGR2RGB))
        assert off.max() <= 1 and (off > 0).sum() <= 100


def test_tracks_built_one_sighting_at_a_time_equal_the_batch_build():
    from engine.detector.tracking import TrackBuilder, build_tracks

    rng = np.random.default_rng(1)

    def det(x, y, r=100.0, score=0.9):
        return bp.Detection(score, np.zeros(4), np.array([[x, y], [x, y - r], [x, y - 0.5 * r], [x, y - r]]))

    # one person walking, one standing, one who leaves for two seconds and comes back
    sightings = []
    for f in range(0, 600, 4):
        dets = [det(100 + f, 500 + rng.normal(0, 3)), det(900 + rng.normal(0, 3), 400)]
        if not 200 <= f < 264:
            dets.append(det(500 + rng.normal(0, 3), 800))
        sightings.append((f, dets))
    builder = TrackBuilder(30.0)
    for n, (f, dets) in enumerate(sightings):
        builder.add(f, dets)
        if n % 25 == 0 or n == len(sightings) - 1:
            want, got = build_tracks(sightings[:n + 1], 30.0), builder.tracks()
            assert [t.frames for t in got] == [t.frames for t in want]
            assert all(a is b for tg, tw in zip(got, want) for a, b in zip(tg.detections, tw.detections))
    assert len(builder.tracks()) == 3  # the one who came back is merged into one track


@pytest.fixture(scope="module")
def nets(model_paths):
    return PoseNets(model_paths["pose_detection"], model_paths["pose_landmark_full"], device="cpu")


def test_single_person_is_found_in_every_frame(nets, shared_data):
    info = probe(shared_data / "video/pose2sim-single/cam01.mp4")
    cap = capture_2d(nets, info)
    assert cap.valid.all()
    j = cap.joints2d
    assert j.shape == (100, 33, 3)
    # keypoints inside the image, confident, and the body upright (nose above hips above ankles)
    assert (j[..., 0] > 0).all() and (j[..., 0] < info.width).all()
    assert (j[..., 1] > 0).all() and (j[..., 1] < info.height).all()
    assert np.median(j[:, :, 2]) > 0.8
    nose_y, hip_y, ankle_y = j[:, 0, 1], j[:, [23, 24], 1].mean(1), j[:, [27, 28], 1].mean(1)
    assert (nose_y < hip_y).all() and (hip_y < ankle_y).mean() > 0.95
    # smooth motion: hip centre moves less than 5% of the image height between frames at 60 fps
    hips = j[:, [23, 24], :2].mean(1)
    assert np.abs(np.diff(hips, axis=0)).max() < 0.05 * info.height


def test_concurrent_scan_gives_the_two_pass_result(nets, shared_data, monkeypatch):
    from engine.detector import capture2d

    info = probe(shared_data / "video/pose2sim-single/cam01.mp4")
    two_pass = capture_2d(nets, info, concurrent=False)
    restarts = []
    both = capture_2d(nets, info, on_restart=lambda: restarts.append(1))
    assert np.array_equal(both.joints2d, two_pass.joints2d) and np.array_equal(both.valid, two_pass.valid)
    # when the whole scan would have answered differently, the landmark pass runs again, from the start
    monkeypatch.setattr(capture2d.ProvisionalFollow, "agrees", lambda self, final: False)
    again = capture_2d(nets, info, 0, 30, on_restart=lambda: restarts.append(1))
    assert len(restarts) == 1
    assert np.array_equal(again.joints2d, two_pass.joints2d[:30]) and again.valid.all()


def test_frames_too_large_for_the_shared_decoder_run_the_passes_in_turn(nets, shared_data, monkeypatch):
    from engine.detector import capture2d

    info = probe(shared_data / "video/pose2sim-single/cam01.mp4")
    assert capture2d._FrameFeed.fits(info)  # 1080x1920 at 60 fps: 137 MB of frames in the queue
    assert not capture2d._FrameFeed.fits(capture2d.VideoInfo("x", 3840, 2160, 60.0, 100, 0))  # 4K at 60 fps
    monkeypatch.setattr(capture2d, "FEED_MEMORY_MB", 1)
    monkeypatch.setattr(capture2d, "ProvisionalFollow", None)  # never used: no concurrent pass
    cap = capture_2d(nets, info, 0, 20)
    assert np.array_equal(cap.joints2d, capture_2d(nets, info, 0, 20, concurrent=False).joints2d)


def _hip_jumps(cap) -> float:
    """Largest hip-centre move between consecutive valid frames, in body heights."""
    j, v = cap.joints2d, cap.valid
    idx = np.nonzero(v)[0]
    hips = j[idx][:, [23, 24], :2].mean(1)
    height = np.median(np.abs(j[idx][:, 0, 1] - j[idx][:, [27, 28], 1].mean(1)))
    steps = np.hypot(*np.diff(hips, axis=0).T) / np.maximum(np.diff(idx), 1)
    return float(steps.max() / height)


def test_the_followed_person_is_not_stolen_by_a_passer_by(nets, shared_data):
    # sports2d: a man jumping on a box (the whole clip) and a woman walking past in front of him.
    info = probe(shared_data / "video/sports2d/demo.mp4")
    restarts = []
    man = capture_2d(nets, info, on_restart=lambda: restarts.append(1))
    assert restarts  # two people: the landmark pass waits for the whole scan to choose
    assert np.array_equal(man.joints2d, capture_2d(nets, info, concurrent=False).joints2d)
    walker = capture_2d(nets, info, person=1)
    assert man.valid[:120].mean() > 0.95 and (man.joints2d[:120, [23, 24], 1] < 0.5 * info.height).all()
    assert walker.valid.sum() > 60
    assert np.median(walker.joints2d[walker.valid][:, [23, 24], 1]) > 0.6 * info.height
    # never the same body in the same frame: neither capture steals the other's person
    both = man.valid & walker.valid
    assert both.sum() > 40
    gap = np.hypot(*(man.joints2d[both][:, [23, 24], :2].mean(1) - walker.joints2d[both][:, [23, 24], :2].mean(1)).T)
    assert gap.min() > 0.1 * info.height
    assert _hip_jumps(man) < 0.5 and _hip_jumps(walker) < 0.5


def _engine(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_cli_writes_take_and_overlay_with_jsonl_progress(tmp_path, shared_data, model_paths):
    take, overlay = tmp_path / "t.npz", tmp_path / "o.mp4"
    r = _engine("capture", shared_data / "video/pose2sim-single/cam01.mp4", "-o", take, "--overlay", overlay,
                "--no-lift", "--progress", "jsonl", "--end", "0.5")
    assert r.returncode == 0, r.stderr
    msgs = [json.loads(line) for line in r.stdout.splitlines()]
    stages = {m["stage"] for m in msgs if "stage" in m}
    assert {"scan", "landmarks", "hands", "overlay"} <= stages  # hands of ~70 px: captured by default
    assert msgs[-1] == {"result": str(take)}
    t = read_take(take)
    assert t["joints2d"].shape == (30, 33, 3) and t["valid"].all() and t["fps"] == 60.0
    assert t["format_version"] == "1.2" and t["swapped"].shape == (30,) and not t["swapped"].any()
    assert t["hands2d"].shape == (30, 2, 21, 3) and t["hands_valid"].any()
    assert tuple(t["image_size"]) == (1080, 1920)
    out = probe(overlay)
    assert out.frame_count == 30 and (out.width, out.height) == (1080, 1920)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def _bad(tmp_path, video, *extra) -> tuple[int, dict]:
    take = tmp_path / "bad.npz"
    r = _engine("capture", video, "-o", take, "--no-lift", "--progress", "jsonl", *extra)
    lines = r.stdout.strip().splitlines()
    last = json.loads(lines[-1])
    assert not take.exists()
    return r.returncode, last


def test_missing_video(tmp_path):
    rc, msg = _bad(tmp_path, tmp_path / "nope.mp4")
    assert rc == 2 and msg["kind"] == "bad_input" and "not found" in msg["error"]


def test_file_that_is_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    rc, msg = _bad(tmp_path, fake)
    assert rc == 2 and "not a video" in msg["error"]


def _write_video(path, frames, fps=30):
    import cv2

    h, w = frames[0].shape[:2] if frames else (240, 320)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        wr.write(f)
    wr.release()


def test_video_with_zero_frames(tmp_path):
    empty = tmp_path / "empty.mp4"
    _write_video(empty, [])
    rc, msg = _bad(tmp_path, empty)
    assert rc == 2 and msg["kind"] == "bad_input"


def test_video_with_nobody_in_it(tmp_path):
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None]
    frames = [np.clip(ramp + rng.integers(0, 20, (240, 320, 3)), 0, 255).astype(np.uint8) for _ in range(20)]
    nobody = tmp_path / "nobody.mp4"
    _write_video(nobody, frames)
    rc, msg = _bad(tmp_path, nobody)
    assert rc == 2 and msg["error"] == "no person found in the video"


def test_start_outside_the_video(tmp_path, shared_data):
    rc, msg = _bad(tmp_path, shared_data / "video/pose2sim-single/cam01.mp4", "--start", "10")
    assert rc == 2 and "outside the video" in msg["error"]


def test_person_number_that_does_not_exist(tmp_path, shared_data):
    rc, msg = _bad(tmp_path, shared_data / "video/pose2sim-single/cam01.mp4", "--person", "7")
    assert rc == 2 and "--person 7" in msg["error"]
