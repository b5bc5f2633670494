"""Hands: 21 keypoints per hand, found from the followed person's own wrist, pinky and index keypoints.

The path is MediaPipe Holistic's (numbers from its published graph configs, holistic_landmark/*.pbtxt):
1. A first ROI from the body: the middle finger is guessed at (2 index + pinky) / 3; the square is centred
   there, its side twice the wrist-to-middle distance, turned so that wrist -> middle points up, then
   shifted 0.1 side towards the fingers and scaled 2.7.
2. `hand_recrop` (a 256x256 crop of that ROI, RGB in [0, 1]) answers two points: the hand's centre and a
   scale point; the ROI is centred on the first, its side twice their distance, turned so that the
   centre -> scale vector points down, shifted 0.1 side towards the fingers.
3. `hand_landmark_full` (224x224 crop, RGB in [0, 1]) answers 21 points (x, y in crop pixels, z in the same
   scale, relative to the wrist), the hand's presence, its handedness and 21 metric points (metres, centred
   on the hand).
4. Where that finds no hand but the body sees the wrist, the palm detector (MediaPipe Hands' first stage,
   `palm_detection_full`) looks in a square window around the body's hand box (four hand lengths wide, so
   the palm is seen larger than in the whole frame); the palm nearest the body's wrist gives a hand ROI (centred on
   the palm box, side 2.6x its longer edge, turned so wrist -> middle knuckle points up, shifted half a box
   towards the fingers; MediaPipe's palm_detection_detection_to_roi) and the landmark graph reads it again.
   A hand found this way must lie nearer its own side's body wrist than the other's. (Looking only every
   second or fourth frame saved 15-20 % of the hand pass's CPU but found fewer hands, 0.72 -> 0.69 / 0.67 of
   the frames of the four calibrated views, and put the fingers 0.2-0.3 deg further from them; following a
   missed hand from its points in the frame before put them 1.6 deg further away.)
Each frame is done on its own (no ROI carried from the previous frame), so the crops of many frames go
through the networks in one batch. A hand whose wrist the body graph does not see, or whose presence is
below PRESENCE_THRESHOLD, is marked invalid for that frame: never guessed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import blazepose as bp
from .backends import load_graph, resolve_device, run_graph

RECROP_SIZE = 256
HAND_SIZE = 224
NUM_HAND_POINTS = 21
SIDES = ("left", "right")  # the person's own left and right, as the body keypoints name them
# BlazePose body keypoints of each side's hand: wrist, pinky, index (thumb is not used for the ROI).
BODY_HAND_POINTS = {"left": (15, 17, 19), "right": (16, 18, 20)}
WRIST_VISIBILITY = 0.1  # Holistic's gate: no hand search where the body graph does not see the wrist
PALM_WRIST_VISIBILITY = 0.5  # the palm detector (step 4) only looks where the body sees the wrist clearly
PRESENCE_THRESHOLD = 0.5
POSE_ROI_SCALE = 2.7
ROI_SHIFT = 0.1  # of the side, towards the fingers
BATCH_FRAMES = 8
PALM_SIZE = 192
PALM_ANCHORS = bp.make_anchors((8, 16, 16, 16), PALM_SIZE)
PALM_SCORE = 0.5
PALM_WINDOW = 4.0  # the palm search window's side, in hand lengths (step 1's box before its 2.7 scale)
PALM_ROI_SCALE = 2.6
PALM_ROI_SHIFT = 0.5
# `--hands` auto: hands are captured when the median hand (twice the wrist to middle-finger distance the
# body keypoints give) spans at least this many pixels; below, the 224-pixel crop blows up a blur.
# On the pose2sim views hands span about 70 px (10th percentile 35).
MIN_HAND_PIXELS = 24

# The 21 hand points, in the order hand_landmark gives them (MediaPipe Hands' landmark model card).
HAND_POINT_NAMES = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)


def _turned_roi(centre: np.ndarray, toward: np.ndarray, side: float, target: float, shift: float) -> bp.Roi:
    """A square ROI centred at `centre`, turned so that centre -> toward has the angle `target` (radians,
    image up = +pi/2), then moved `shift` sides along the ROI's own up axis."""
    dx, dy = toward[0] - centre[0], toward[1] - centre[1]
    rotation = target - np.arctan2(-dy, dx)
    rotation = float((rotation + np.pi) % (2 * np.pi) - np.pi)
    # the ROI's up axis in image pixels is (sin r, -cos r) (y down)
    cx = float(centre[0]) + shift * side * np.sin(rotation)
    cy = float(centre[1]) - shift * side * np.cos(rotation)
    return bp.Roi(cx, cy, max(float(side), 1.0), rotation)


def roi_from_body(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> bp.Roi:
    """Step 1: the search region for the re-crop network, from three body keypoints (pixels)."""
    middle = (2.0 * index + pinky) / 3.0
    side = 2.0 * float(np.hypot(*(middle - wrist)))
    roi = _turned_roi(middle, middle + (middle - wrist), side, np.pi / 2, ROI_SHIFT)
    roi.size *= POSE_ROI_SCALE
    return roi


def roi_from_recrop(points: np.ndarray) -> bp.Roi:
    """Step 2: the hand ROI from the re-crop network's two points (image pixels): centre, scale point."""
    centre, scale = points[0], points[1]
    side = 2.0 * float(np.hypot(*(scale - centre)))
    return _turned_roi(centre, scale, side, -np.pi / 2, ROI_SHIFT)


def palms_in_window(raw_boxes: np.ndarray, raw_scores: np.ndarray, window: bp.Roi) -> list[bp.Detection]:
    """The palm detector's answer for one window (2016, 18), (2016,) -> palms in image pixels (box, and 7
    keypoints: 0 the wrist, 2 the middle finger's knuckle), after weighted non-max suppression."""
    scores = bp.sigmoid(raw_scores.reshape(-1).astype(np.float64))
    keep = np.nonzero(scores >= PALM_SCORE)[0]
    if keep.size == 0:
        return []
    raw = raw_boxes[keep].astype(np.float64)
    anchors = PALM_ANCHORS[keep].astype(np.float64) * PALM_SIZE
    cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
    corners = np.stack([cx - raw[:, 2] / 2, cy - raw[:, 3] / 2, cx + raw[:, 2] / 2, cy + raw[:, 3] / 2], 1)
    kps = raw[:, 4:18].reshape(-1, 7, 2) + anchors[:, None, :]
    # window pixels -> image pixels (the window is axis-aligned: a scale and a shift)
    boxes = _to_image(corners.reshape(-1, 2), window, PALM_SIZE).reshape(-1, 4)
    kps = _to_image(kps.reshape(-1, 2), window, PALM_SIZE).reshape(-1, 7, 2)
    return bp.weighted_nms(scores[keep], boxes, kps)


def roi_from_palm(palm: bp.Detection) -> bp.Roi:
    """A hand ROI from a palm detection (image pixels)."""
    x0, y0, x1, y1 = palm.raw_box
    side = max(x1 - x0, y1 - y0)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    roi = _turned_roi(centre, centre + (palm.keypoints[2] - palm.keypoints[0]), side, np.pi / 2, PALM_ROI_SHIFT)
    roi.size *= PALM_ROI_SCALE
    return roi


def _to_image(points: np.ndarray, roi: bp.Roi, size: int) -> np.ndarray:
    """(K, 2) crop pixels of an input of `size` -> image pixels."""
    m = bp.roi_matrix(roi, size)
    return points @ m[:, :2].T + m[:, 2]


def hand_size_pixels(body2d: np.ndarray, body_valid: np.ndarray) -> float:
    """The median size of the hands over the frames with a body: twice the wrist to middle-finger distance."""
    sizes = []
    for w, p, i in BODY_HAND_POINTS.values():
        middle = (2.0 * body2d[body_valid, i, :2] + body2d[body_valid, p, :2]) / 3.0
        sizes.append(2.0 * np.linalg.norm(middle - body2d[body_valid, w, :2], axis=1))
    sizes = np.concatenate(sizes)
    return float(np.median(sizes)) if sizes.size else 0.0


class HandNets:
    """The re-crop, palm and hand landmark graphs, numpy in and out, each on the runtime that runs it fastest.

    On the CPU (real hand crops one at a time, 2 threads, this 2-core machine), wall / CPU ms a crop:
    hand_landmark_full 3.3 / 6.6 on ONNX Runtime in pairs against 3.8 / 7.3 on LiteRT (batches of 16: 7.7
    CPU-ms a crop); hand_recrop 0.8 / 1.4 on LiteRT against 1.6 CPU-ms on ONNX Runtime (one thread);
    palm_detection_full 5.1 / 9.8 on LiteRT against 10.0 CPU-ms (one thread). So the landmark graph runs on
    ONNX Runtime two crops a call, and the small graphs on LiteRT where it is installed (the `gpu` profile and
    the tests), else on ONNX Runtime (the `cpu` profile), two threads there too (cam01's hand pass 26.6 ms a
    frame against 31.7 with one, for 3 % more CPU); then our torch interpreter. Each graph uses the threads
    itself: LiteRT keeps Python's lock while it runs, so two lanes of one-thread graphs side by side (one per
    hand) were slower (cam01's hand pass 29.6 ms a frame against 18.6), and ONNX Runtime's threads must not
    spin between calls (onnx_runner.OnnxModel). On CUDA our interpreter runs them all, in batches.
    """

    LANDMARK_CHUNK = 2

    def __init__(self, recrop: Path, landmarks: Path, palm: Path | None = None, device: str = "auto",
                 threads: int | None = None) -> None:
        import os

        self.device = resolve_device(device)
        # the hand pass runs alone (after the body's), decoding in a thread beside: every core to the networks
        threads = threads or max(1, min(4, os.cpu_count() or 1))
        if self.device == "cuda":
            small = large = "torch"
        else:
            from ..tflite_torch.onnx_runner import onnx_available
            from .backends import _litert_available

            have = [rt for rt, ok in (("litert", _litert_available()), ("onnx", onnx_available())) if ok]
            small = have[0] if have else "torch"
            large = "onnx" if "onnx" in have else small
        self.runtimes = {"recrop": small, "palm": small, "landmarks": large}
        self._recrop = load_graph(recrop, small, self.device, threads, spin=False)
        self._landmarks = load_graph(landmarks, large, self.device, threads, spin=False)
        self._palm = load_graph(palm, small, self.device, threads, spin=False) if palm is not None else None
        self.has_palm = self._palm is not None
        self._lock = threading.Lock()  # a LiteRT interpreter or a CUDA graph is entered by one thread at a time

    def recrop(self, x: np.ndarray) -> np.ndarray:
        """x: (N, 256, 256, 3) in [0, 1] -> (N, 2, 2) the two alignment points in crop pixels."""
        with self._lock:
            out = run_graph(self._recrop, self.runtimes["recrop"], self.device, x)
        return out[0].reshape(len(x), 2, 2)

    def palms(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (N, 192, 192, 3) in [0, 1] -> raw boxes (N, 2016, 18), raw score logits (N, 2016)."""
        with self._lock:
            boxes, scores = run_graph(self._palm, self.runtimes["palm"], self.device, x)
        return boxes, scores.reshape(len(x), -1)

    def landmarks(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x: (N, 224, 224, 3) in [0, 1] -> points (N, 21, 3) crop pixels, presence (N,), handedness (N,)
        (the probability of a right hand in a mirrored image), metric points (N, 21, 3) metres."""
        runtime = self.runtimes["landmarks"]
        step = self.LANDMARK_CHUNK if runtime == "onnx" else len(x)
        with self._lock:
            parts = [run_graph(self._landmarks, runtime, self.device, x[i:i + step]) for i in range(0, len(x), step)]
        pts, presence, handed, world = (np.concatenate(p) for p in zip(*parts))
        n = len(x)
        return (pts.reshape(n, NUM_HAND_POINTS, 3), presence.reshape(n), handed.reshape(n),
                world.reshape(n, NUM_HAND_POINTS, 3))


@dataclass
class HandTrack:
    """Both hands over a clip: index 0 the person's left hand, 1 the right.

    points2d: (T, 2, 21, 3) x, y in image pixels and the hand's presence score (the landmark graph gives one
    score per hand, so every point of a hand carries it); valid: (T, 2) bool; points3d: (T, 2, 21, 3) the
    graph's metric points (metres, centred on the hand; x right, y down, z away from the camera);
    handedness: (T, 2) the graph's own handedness score (diagnostics: the side comes from the body).
    """

    points2d: np.ndarray
    valid: np.ndarray
    points3d: np.ndarray
    handedness: np.ndarray


def empty_hands(frames: int) -> HandTrack:
    return HandTrack(np.zeros((frames, 2, NUM_HAND_POINTS, 3), np.float32), np.zeros((frames, 2), bool),
                     np.zeros((frames, 2, NUM_HAND_POINTS, 3), np.float32), np.zeros((frames, 2), np.float32))


def hands_in_frames(nets: HandNets, frames: list[np.ndarray], body2d: np.ndarray, body_valid: np.ndarray
                    ) -> HandTrack:
    """Both hands in each of `frames` (BGR), given the body keypoints (N, 33, 3) (pixels, visibility) and
    which frames have a body (N,). All crops of the batch go through each network at once."""
    n = len(frames)
    out = empty_hands(n)
    jobs = []  # (frame k, side s, body ROI)
    for k in range(n):
        if not body_valid[k] or frames[k] is None:
            continue
        for s, side in enumerate(SIDES):
            w, p, i = BODY_HAND_POINTS[side]
            if body2d[k, w, 2] < WRIST_VISIBILITY:
                continue
            roi = roi_from_body(body2d[k, w, :2], body2d[k, p, :2], body2d[k, i, :2])
            if roi.size < 4.0:  # a hand of a few pixels cannot be seen
                continue
            jobs.append((k, s, roi))
    if not jobs:
        return out
    crops = np.stack([bp.landmark_input(frames[k], roi, RECROP_SIZE) for k, _, roi in jobs])
    align = nets.recrop(crops)
    rois = [roi_from_recrop(_to_image(a, roi, RECROP_SIZE)) for a, (_, _, roi) in zip(align, jobs)]
    crops = np.stack([bp.landmark_input(frames[k], roi, HAND_SIZE) for (k, _, _), roi in zip(jobs, rois)])
    pts, presence, handed, world = nets.landmarks(crops)
    retry_at = [] if not nets.has_palm else [
        j for j in np.flatnonzero(presence < PRESENCE_THRESHOLD)
        if body2d[jobs[j][0], BODY_HAND_POINTS[SIDES[jobs[j][1]]][0], 2] >= PALM_WRIST_VISIBILITY]
    if retry_at:
        retry = _palm_retry(nets, frames, body2d, [(jobs[j], rois[j]) for j in retry_at])
        for j, (roi, got) in zip(retry_at, retry):
            if got is not None:
                rois[j] = roi
                pts[j], presence[j], handed[j], world[j] = got
    for j, ((k, s, _), roi) in enumerate(zip(jobs, rois)):
        if presence[j] < PRESENCE_THRESHOLD:
            continue
        out.points2d[k, s, :, :2] = _to_image(pts[j, :, :2], roi, HAND_SIZE)
        out.points2d[k, s, :, 2] = presence[j]
        # the metric points come in the crop's axes: turned back by the ROI's rotation about the camera axis
        c, sn = np.cos(roi.rotation), np.sin(roi.rotation)
        out.points3d[k, s, :, 0] = c * world[j, :, 0] - sn * world[j, :, 1]
        out.points3d[k, s, :, 1] = sn * world[j, :, 0] + c * world[j, :, 1]
        out.points3d[k, s, :, 2] = world[j, :, 2]
        out.handedness[k, s] = handed[j]
        out.valid[k, s] = True
    return out


def _wrists(body2d: np.ndarray, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """The body's wrist of hand s in frame k, and the other hand's wrist (pixels)."""
    return tuple(body2d[k, BODY_HAND_POINTS[side][0], :2] for side in (SIDES[s], SIDES[1 - s]))


def _palm_retry(nets: HandNets, frames: list[np.ndarray], body2d: np.ndarray, failed: list) -> list:
    """Step 4 for the hands the body's box missed: [((k, s, body ROI), hand ROI), ...] -> per hand (ROI,
    (points, presence, handedness, metric points)) of a hand found near its own wrist, or (None, None)."""
    windows = [bp.Roi(roi.cx, roi.cy, roi.size / POSE_ROI_SCALE * PALM_WINDOW, 0.0)
               for (_, _, roi), _ in failed]
    crops = np.stack([bp.landmark_input(frames[k], w, PALM_SIZE) for ((k, _, _), _), w in zip(failed, windows)])
    boxes, scores = nets.palms(crops)
    chosen = []
    for i, (((k, s, _), _), window) in enumerate(zip(failed, windows)):
        own, other = _wrists(body2d, k, s)
        palms = palms_in_window(boxes[i], scores[i], window)
        palms = [p for p in palms if np.hypot(*(p.keypoints[0] - own)) < np.hypot(*(p.keypoints[0] - other))]
        best = min(palms, key=lambda p: np.hypot(*(p.keypoints[0] - own)), default=None)
        chosen.append(roi_from_palm(best) if best is not None else None)
    todo = [i for i, r in enumerate(chosen) if r is not None]
    out: list = [(None, None)] * len(failed)
    if not todo:
        return out
    crops = np.stack([bp.landmark_input(frames[failed[i][0][0]], chosen[i], HAND_SIZE) for i in todo])
    pts, presence, handed, world = nets.landmarks(crops)
    for n, i in enumerate(todo):
        if presence[n] < PRESENCE_THRESHOLD:
            continue
        (k, s, _), _ = failed[i]
        wrist = _to_image(pts[n, :1, :2], chosen[i], HAND_SIZE)[0]
        own, other = _wrists(body2d, k, s)
        if np.hypot(*(wrist - own)) < np.hypot(*(wrist - other)):
            out[i] = (chosen[i], (pts[n], presence[n], handed[n], world[n]))
    return out


def capture_hands(nets: HandNets, info, first: int, bodies: list[tuple[np.ndarray, np.ndarray]],
                  progress: Callable[[str, int, int], None] | None = None,
                  warn: Callable[[str], None] | None = None) -> list[HandTrack]:
    """Both hands of each person over frames first..first+T-1 of the video, in one pass of its own over the
    frames (as the overlay is drawn): bodies holds per person body2d (T, 33, 3) and body_valid (T,) from the
    2D capture. Returns one HandTrack per person."""
    from ..video import iter_frames
    from .capture2d import _threaded

    T = len(bodies[0][1]) if bodies else 0
    results = [empty_hands(T) for _ in bodies]
    anyone = np.zeros(T, bool)
    for _, valid in bodies:
        anyone |= valid
    batch: list[np.ndarray] = []
    start = 0

    def flush() -> None:
        nonlocal batch, start
        if batch:
            end = start + len(batch)
            for (body2d, valid), result in zip(bodies, results):
                part = hands_in_frames(nets, batch, body2d[start:end], valid[start:end])
                for name in ("points2d", "valid", "points3d", "handedness"):
                    getattr(result, name)[start:end] = getattr(part, name)
            start = end
            batch = []
            if progress:
                progress("hands", start, T)

    # frames without anybody are only grabbed; decoding in a thread of its own overlaps the networks
    skip = (lambda i: not anyone[i - first]) if T else None
    for _, frame in _threaded(iter_frames(info, first, first + T, grab_only=skip, on_warning=warn)):
        batch.append(frame)
        if len(batch) == BATCH_FRAMES:
            flush()
    flush()
    return results
