"""Hands bench: the whole 2D capture with hands against mediapipe's legacy Holistic (model_complexity 1) on the
same video in the same run, and how the two agree on the hands.

Agreement: per hand, the share of frames each finds it, and on the frames both find it the median distance
between the two answers' 21 points (pixels of the video). Holistic names hands by the body's side, as we do.
The peer runs in `.venv-peer` or `MONOCAP_PEER_PYTHON` (see bench/capture.py).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from .capture import REPEATS, ROOT, _peer_python

VIDEOS = [ROOT.parent / "shared" / "data" / "video" / "pose2sim-single" / f"cam0{k}.mp4" for k in (1, 2)]

# Holistic over the whole clip after a 10-frame warm-up; the hands of every frame saved in pixels (NaN where
# not found); prints frames/s and CPU ms a frame (every thread, decoding included) of the timed run.
PEER = r"""
import sys, time, cv2, numpy as np, mediapipe as mp
def run(limit=None, keep=None):
    cap = cv2.VideoCapture(sys.argv[1]); n = 0
    hol = mp.solutions.holistic.Holistic(model_complexity=1, static_image_mode=False)
    t, c = time.perf_counter(), time.process_time()
    while limit is None or n < limit:
        ok, f = cap.read()
        if not ok: break
        r = hol.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)); n += 1
        if keep is not None:
            h, w = f.shape[:2]
            row = np.full((2, 21, 2), np.nan)
            for s, lm in enumerate((r.left_hand_landmarks, r.right_hand_landmarks)):
                if lm is not None:
                    row[s] = [(p.x * w, p.y * h) for p in lm.landmark]
            keep.append(row)
    fps, cpu_ms = n / (time.perf_counter() - t), 1000 * (time.process_time() - c) / n
    hol.close()
    return fps, cpu_ms
run(10)
keep = []
fps, cpu_ms = run(keep=keep)
np.save(sys.argv[2], np.array(keep))
print(fps, cpu_ms)
"""


def _finger_rows(video: Path, info, cap, track) -> list[dict]:
    """Fingertip jitter (GVHMR definition, relative to the wrist) with and without the finger smoothing, and
    how far the anatomical limits had to move the measured directions, on this clip."""
    from ..motion.fingers import finger_fields, fingertip_jitter
    from ..motion.take3d import complete_takes

    (body,), cam = complete_takes([(cap.joints2d, cap.valid)], (info.width, info.height), info.fps,
                                  with_camera=True)
    rows = []
    for smooth in (False, True):
        fields, report = finger_fields(body, track.points3d, track.valid, cam, info.fps, smooth=smooth)
        rows.append({"name": f"fingertip jitter, {'smoothed' if smooth else 'raw'} ({video.name})",
                     "value": fingertip_jitter(fields["joints3d"], info.fps, track.valid), "unit": "10 m/s^3",
                     "note": "third difference x fps^3 / 10 of the tips against the wrist, frames seen"})
    for side, r in report.items():
        rows.append({"name": f"finger directions moved > 10 deg by limits, {side} ({video.name})",
                     "value": r["clamped_share"], "unit": "share",
                     "note": f"{r['frames']} frames seen, {r['mirrored']} with depth mirrored; "
                             f"largest move {r['clamped_max_deg']:.0f} deg"})
    return rows


def _ours(video: Path, device: str = "cpu") -> tuple:
    """(frames/s with hands, frames/s body only, CPU ms a frame with hands, the hand track, the video, the 2D
    capture) for one whole capture each, best of REPEATS."""
    from ..detector.backends import PoseNets
    from ..detector.capture2d import capture_2d
    from ..detector.hands import HandNets, capture_hands
    from ..models import ensure_models
    from ..video import probe

    p = ensure_models()
    nets = PoseNets(p["pose_detection"], p["pose_landmark_full"], device=device)
    hand_nets = HandNets(p["hand_recrop"], p["hand_landmark_full"], p["palm_detection_full"], device=device)
    info = probe(video)
    warm = capture_2d(nets, info, 0, 10)
    capture_hands(hand_nets, info, 0, [(warm.joints2d, warm.valid)])
    with_hands, body_only, cpu_ms, track, cap = 0.0, 0.0, float("inf"), None, None
    for _ in range(REPEATS):
        t, c = time.perf_counter(), time.process_time()
        cap = capture_2d(nets, info)
        body = time.perf_counter() - t
        track = capture_hands(hand_nets, info, cap.first_frame, [(cap.joints2d, cap.valid)])[0]
        whole = time.perf_counter() - t
        body_only = max(body_only, info.frame_count / body)
        with_hands = max(with_hands, info.frame_count / whole)
        cpu_ms = min(cpu_ms, 1000 * (time.process_time() - c) / info.frame_count)
    return with_hands, body_only, cpu_ms, track, info, cap


def _peer(python: str, video: Path) -> tuple[float, float, np.ndarray] | str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hands.npy"
        best, cpu_ms, hands = 0.0, float("inf"), None
        for _ in range(REPEATS):
            r = subprocess.run([python, "-c", PEER, str(video), str(out)], capture_output=True, text=True)
            if r.returncode != 0:
                return r.stderr.strip().splitlines()[-1][:80] if r.stderr.strip() else "peer failed"
            fps, ms = (float(v) for v in r.stdout.strip().splitlines()[-1].split())
            best, cpu_ms = max(best, fps), min(cpu_ms, ms)
            hands = np.load(out)
    return best, cpu_ms, hands


def agreement(ours_points: np.ndarray, ours_valid: np.ndarray, peer: np.ndarray) -> dict[str, float]:
    """ours_points (T, 2, 21, 2+) pixels, ours_valid (T, 2), peer (T, 2, 21, 2) with NaN where not found."""
    T = min(len(ours_valid), len(peer))
    mine, theirs = ours_valid[:T], ~np.isnan(peer[:T, :, 0, 0])
    both = mine & theirs
    dist = np.linalg.norm(ours_points[:T, :, :, :2] - peer[:T], axis=-1)  # (T, 2, 21)
    out = {}
    for s, side in enumerate(("left", "right")):
        out[f"{side} found, ours"] = float(mine[:, s].mean())
        out[f"{side} found, peer"] = float(theirs[:, s].mean())
        d = dist[both[:, s], s]
        out[f"{side} median px"] = float(np.median(d)) if d.size else float("nan")
    return out


def run() -> list[dict]:
    from ..detector.backends import resolve_device

    peer = _peer_python()
    cuda = resolve_device("auto") == "cuda"
    rows: list[dict] = []
    for video in [v for v in VIDEOS if v.exists()]:
        gpu_fps = _ours(video, "cuda")[0] if cuda else None
        with_hands, body_only, cpu_ms, track, info, cap = _ours(video)
        rows.append({"name": f"2D capture + hands, CPU ({video.name})", "value": with_hands, "unit": "frames/s",
                     "note": f"decode, scan, tracking, hand pass; best of {REPEATS}"})
        rows.append({"name": f"2D capture + hands, CPU time ({video.name})", "value": cpu_ms, "unit": "ms/frame",
                     "note": "every thread, both decodes included; least of the same runs"})
        rows.append({"name": f"2D capture, body only ({video.name})", "value": body_only, "unit": "frames/s",
                     "note": "same runs, before the hand pass"})
        rows += _finger_rows(video, info, cap, track)
        if not peer:
            rows.append({"name": "peer: not installed", "value": float("nan"), "unit": "",
                         "note": "set MONOCAP_PEER_PYTHON or make .venv-peer"})
            continue
        got = _peer(peer, video)
        if isinstance(got, str):
            rows.append({"name": "peer: FAILED", "value": float("nan"), "unit": "", "note": got})
            continue
        fps, peer_ms, peer_hands = got
        rows.append({"name": f"peer: Holistic complexity 1 ({video.name})", "value": fps, "unit": "frames/s",
                     "note": f"mediapipe 0.10.21, same video; best of {REPEATS}"})
        rows.append({"name": f"peer: Holistic CPU time ({video.name})", "value": peer_ms, "unit": "ms/frame",
                     "note": "every thread, decoding included (body, face and hands: Holistic always runs the face)"})
        rows.append({"name": "capture + hands / peer Holistic", "value": with_hands / fps, "unit": "x",
                     "note": "target >= 2"})
        if gpu_fps is not None:
            rows.append({"name": f"2D capture + hands, CUDA ({video.name})", "value": gpu_fps, "unit": "frames/s",
                         "note": f"torch on CUDA, the same capture; best of {REPEATS}"})
            rows.append({"name": "capture + hands on CUDA / peer Holistic", "value": gpu_fps / fps, "unit": "x",
                         "note": "target >= 2"})
        for key, value in agreement(track.points2d, track.valid, peer_hands).items():
            unit = "px" if key.endswith("px") else "share"
            rows.append({"name": f"hands {key} ({video.name})", "value": value, "unit": unit,
                         "note": "median over the 21 points of frames both find" if unit == "px" else ""})
    return rows
