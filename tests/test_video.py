"""Video decoding: rotation metadata, undecodable frames in the middle, frames streamed."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.take import read_take
from engine.video import iter_frames, probe

ROOT = Path(__file__).resolve().parents[1]


def _frames(shared_data, n, size):
    cap = cv2.VideoCapture(str(shared_data / "video/pose2sim-single/cam01.mp4"))
    out = []
    for _ in range(n):
        ok, f = cap.read()
        assert ok
        out.append(cv2.resize(f, size))
    return out


def _rotated_mp4(path: Path, frames) -> None:
    """Store the frames turned a quarter left, and say in the track header (tkhd matrix) to turn them back."""
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (h, w))
    for f in frames:
        wr.write(cv2.rotate(f, cv2.ROTATE_90_COUNTERCLOCKWISE))
    wr.release()
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    assert data[i + 4] == 0  # version 0 header: matrix after 36 bytes of fields
    m = i + 4 + 4 + 4 * 5 + 8 + 8
    matrix = [0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30]  # 90 degrees clockwise for display
    data[m : m + 36] = b"".join(struct.pack(">i", v) for v in matrix)
    path.write_bytes(bytes(data))


def test_rotation_metadata_turns_frames_upright(tmp_path, shared_data):
    frames = _frames(shared_data, 6, (270, 480))  # portrait, as filmed
    video = tmp_path / "phone.mp4"
    _rotated_mp4(video, frames)
    info = probe(video)
    assert info.rotation == 90 and (info.width, info.height) == (270, 480)
    got = [f for _, f in iter_frames(info)]
    assert len(got) == 6 and got[0].shape == (480, 270, 3)
    # the decoded, turned frame matches what was filmed (lossy codec: compare loosely)
    assert np.abs(got[3].astype(int) - frames[3].astype(int)).mean() < 12


def test_capture_on_rotated_video_finds_the_person_upright(tmp_path, shared_data, model_paths):
    frames = _frames(shared_data, 12, (540, 960))
    video = tmp_path / "phone.mp4"
    _rotated_mp4(video, frames)
    take_path = tmp_path / "t.npz"
    r = subprocess.run([sys.executable, "-m", "engine", "capture", str(video), "-o", str(take_path), "--no-lift",
                        "--progress", "none"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    take = read_take(take_path)
    assert tuple(take["image_size"]) == (540, 960)
    j = take["joints2d"][take["valid"]]
    assert len(j) >= 10 and (j[:, 0, 1] < j[:, [23, 24], 1].mean(1)).all()  # nose above hips


def _mjpeg_with_broken_frame(tmp_path: Path, shared_data, broken: int) -> Path:
    frames = _frames(shared_data, 30, (540, 960))
    good = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"MJPG"), 30, (540, 960))
    for f in frames:
        wr.write(f)
    wr.release()
    data = bytearray(good.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # JPEG SOI markers
    assert len(starts) == 30
    data[starts[broken] : starts[broken] + 2000] = bytes(2000)
    bad = tmp_path / "broken.avi"
    bad.write_bytes(bytes(data))
    return bad


def test_corrupt_frame_in_the_middle_is_a_warning_and_an_invalid_frame(tmp_path, shared_data, model_paths):
    video = _mjpeg_with_broken_frame(tmp_path, shared_data, broken=14)
    take_path = tmp_path / "t.npz"
    r = subprocess.run([sys.executable, "-m", "engine", "capture", str(video), "-o", str(take_path), "--no-lift",
                        "--progress", "jsonl"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = [json.loads(line) for line in r.stdout.splitlines()]
    warnings = [m["warning"] for m in msgs if "warning" in m]
    assert warnings == ["frame 14 could not be decoded; marked invalid"]
    valid = read_take(take_path)["valid"]
    assert len(valid) == 30 and not valid[14] and valid[:14].all() and valid[15:].all()


def test_frames_are_streamed_not_held(shared_data):
    info = probe(shared_data / "video/sports2d/demo.mp4")
    it = iter_frames(info)
    first = next(it)[1]
    second = next(it)[1]
    assert first is not second and first.shape == (994, 1768, 3)
    it.close()


@pytest.mark.parametrize("start,end", [(1.0, 2.0), (0.0, 0.5)])
def test_frame_range_in_seconds(start, end):
    from engine.capture import frame_range

    a, b = frame_range(30.0, 230, start, end)
    assert (a, b) == (round(start * 30), round(end * 30))
