"""BlazePose geometry: detector anchors and decoding, weighted NMS, rotated ROIs, landmark projection.

Numbers follow MediaPipe's published pose graph configs (pose_detection and pose_landmark subgraphs):
SSD anchors over a 224x224 input with strides 8, 16, 32, 32, 32 and two fixed-size anchors per layer,
box/keypoint offsets scaled by 224, sigmoid scores clipped at +-100 and thresholded at 0.5, weighted
non-max suppression at IoU 0.3; the ROI is centred on keypoint 0 (hip centre), sized twice the distance to
keypoint 1 (the full-body scale point), turned so that the hip→scale vector points up, then scaled 1.25
and made square. Coordinates here are image pixels (x right, y down).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_KEYPOINTS = 33  # body keypoints; the landmark graph gives 39, the last 6 are ROI helpers
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3
ROI_SCALE = 1.25
SAME_PERSON_RADII = 0.35  # two detections whose hip centres are closer than this (in body radii): one person
PRESENCE_THRESHOLD = 0.5  # landmark graph's pose flag below this: the person is lost

KEYPOINT_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)


def make_anchors(strides: tuple[int, ...] = (8, 16, 32, 32, 32), size: int = DETECTOR_SIZE) -> np.ndarray:
    """SSD anchor centres for a square detector input: (N, 2) normalised x, y (2254 for the 224 pose
    detector's strides; the palm detector's 8, 16, 16, 16 at 192 give 2016).

    Layers with the same stride share one feature map, so the three stride-32 layers give six anchors
    per cell. All anchors have unit size (fixed_anchor_size), so only the centres matter.
    """
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = 2 * (j - i)
        fm = int(np.ceil(size / strides[i]))
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        cell = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell, per_cell, axis=0))
        i = j
    return np.concatenate(centres).astype(np.float32)


ANCHORS = make_anchors()


@dataclass
class Detection:
    """One person found by the detector, in image pixels."""

    score: float
    raw_box: np.ndarray  # (4,) x0, y0, x1, y1 of the detector's own box (around the head)
    keypoints: np.ndarray  # (4, 2): hip centre, full-body scale point, shoulder centre, upper-body point
    appearance: np.ndarray | None = None  # colour descriptor (`appearance.describe`), set by the scan

    @property
    def radius(self) -> float:
        """Radius of the circle around the whole body (hip centre to scale point)."""
        return float(np.hypot(*(self.keypoints[1] - self.keypoints[0])))


@dataclass
class Letterbox:
    """A square window of the image fitted into the detector input: input = image * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float
    window: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 cropped first; None = whole image


def letterbox_params(width: int, height: int, size: int = DETECTOR_SIZE) -> Letterbox:
    scale = size / max(width, height)
    return Letterbox(scale, (size - width * scale) / 2, (size - height * scale) / 2)


def detector_windows(width: int, height: int, size: int = DETECTOR_SIZE) -> list[Letterbox]:
    """The whole frame letterboxed, plus square tiles along the long side when the frame is not square.

    The detector sees people at 224 px for the whole frame; in a wide shot they are a few dozen pixels
    tall and often missed. Tiles of side = the short edge make them about twice as large.
    """
    views = [letterbox_params(width, height, size)]
    short, long_ = min(width, height), max(width, height)
    if long_ / short < 1.25:
        return views
    n = int(np.ceil(long_ / short)) + 1 if long_ / short > 1.5 else 2
    scale = size / short
    for k in range(n):
        off = int(round(k * (long_ - short) / (n - 1)))
        if width >= height:
            views.append(Letterbox(scale, -off * scale, 0.0, (off, 0, off + short, short)))
        else:
            views.append(Letterbox(scale, 0.0, -off * scale, (0, off, short, off + short)))
    return views


def detector_input(frame_bgr: np.ndarray, lb: Letterbox) -> np.ndarray:
    """(H, W, 3) uint8 BGR (as decoded) -> (224, 224, 3) float32 RGB in [-1, 1]: the window resized,
    letterboxed in black. Colour order is swapped after resizing: far fewer pixels than the frame.
    """
    if lb.window is not None:
        x0, y0, x1, y1 = lb.window
        small = _shrink(frame_bgr[y0:y1, x0:x1], (DETECTOR_SIZE, DETECTOR_SIZE))
        return _to_float(_rgb(small), 2.0 / 255.0, -1.0)
    h, w = frame_bgr.shape[:2]
    nw, nh = max(1, round(w * lb.scale)), max(1, round(h * lb.scale))
    small = _shrink(frame_bgr, (nw, nh))
    out = np.zeros((DETECTOR_SIZE, DETECTOR_SIZE, 3), np.uint8)
    x0, y0 = round(lb.pad_x), round(lb.pad_y)
    out[y0 : y0 + nh, x0 : x0 + nw] = small[: DETECTOR_SIZE - y0, : DETECTOR_SIZE - x0]
    return _to_float(_rgb(out), 2.0 / 255.0, -1.0)


def _rgb(img: np.ndarray) -> np.ndarray:
    """BGR or BGRA uint8 -> RGB uint8."""
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def _shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale with some anti-aliasing, cheaply: bilinear to twice the size, then 2x2 averaging.

    Plain bilinear aliases small people away (the sports2d walker was found in 39 frames instead of 60+);
    area averaging straight from 1080 px costs 4.8 ms a view, this 0.6 ms.
    """
    import cv2

    w, h = size
    if img.shape[1] <= 2 * w:
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    mid = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(mid, size, interpolation=cv2.INTER_AREA)


def _to_float(img: np.ndarray, scale: float, offset: float) -> np.ndarray:
    out = np.multiply(img, np.float32(scale), dtype=np.float32)
    if offset:
        out += np.float32(offset)
    return out


def decode_raw(raw_boxes: np.ndarray, raw_scores: np.ndarray, lb: Letterbox
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchors above the score threshold, in image pixels: scores (M,), boxes (M, 4), keypoints (M, 4, 2).

    raw_boxes: (2254, 12) anchor-relative box + 4 keypoints in input pixels; raw_scores: (2254,) logits.
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.nonzero(scores >= SCORE_THRESHOLD)[0]
    raw = raw_boxes[keep].astype(np.float64)
    anchors = ANCHORS[keep].astype(np.float64) * DETECTOR_SIZE  # anchor centres in input pixels
    cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
    half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    kps = raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]
    pad = np.array([lb.pad_x, lb.pad_y])  # input pixels -> image pixels
    return scores[keep], (boxes - np.tile(pad, 2)) / lb.scale, (kps - pad) / lb.scale


def decode_detections(raw: list[tuple[np.ndarray, np.ndarray]], views: list[Letterbox]) -> list[Detection]:
    """One frame's detector outputs over all its views [(boxes (2254, 12), scores (2254,)), ...] -> people."""
    parts = [decode_raw(b, s, lb) for (b, s), lb in zip(raw, views)]
    scores = np.concatenate([p[0] for p in parts])
    if scores.size == 0:
        return []
    dets = weighted_nms(scores, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
    # The same person seen in two views can give head boxes that overlap too little for NMS; their hip
    # centres still coincide, so keep only the best-scored of those.
    kept: list[Detection] = []
    for d in dets:
        if all(np.hypot(*(d.keypoints[0] - k.keypoints[0])) > SAME_PERSON_RADII * max(d.radius, k.radius)
               for k in kept):
            kept.append(d)
    return kept


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a (4,) against boxes b (N, 4), x0 y0 x1 y1."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    area_a = max((a[2] - a[0]) * (a[3] - a[1]), 0.0)
    area_b = np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, kps: np.ndarray) -> list[Detection]:
    """Weighted NMS: each cluster (IoU > 0.3 with its best box) is averaged by score; keeps the best score."""
    order = np.argsort(-scores)
    scores, boxes, kps = scores[order], boxes[order], kps[order]
    alive = np.ones(len(scores), bool)
    out: list[Detection] = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        idx = np.nonzero(alive)[0]
        overlap = idx[box_iou(boxes[i], boxes[idx]) > NMS_IOU]
        overlap = np.union1d(overlap, [i])
        w = scores[overlap][:, None]
        box = (boxes[overlap] * w).sum(0) / w.sum()
        kp = (kps[overlap] * w[:, :, None]).sum(0) / w.sum()
        out.append(Detection(float(scores[i]), box, kp))
        alive[overlap] = False
    return out


@dataclass
class Roi:
    """A square, rotated region of the image: centre (pixels), side (pixels), rotation (radians)."""

    cx: float
    cy: float
    size: float
    rotation: float


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray) -> Roi:
    """ROI from the hip centre and the full-body scale point (detector keypoints 0, 1 or landmarks 33, 34)."""
    dx, dy = scale_point[0] - centre[0], scale_point[1] - centre[1]
    size = 2.0 * float(np.hypot(dx, dy)) * ROI_SCALE
    rotation = np.pi / 2 - np.arctan2(-dy, dx)
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    return Roi(float(centre[0]), float(centre[1]), max(size, 1.0), float(rotation))


def roi_matrix(roi: Roi, size: int = LANDMARK_SIZE) -> np.ndarray:
    """(2, 3) affine map from landmark-input pixels to image pixels."""
    c, s = np.cos(roi.rotation), np.sin(roi.rotation)
    k = roi.size / size
    a = np.array([[k * c, -k * s], [k * s, k * c]])
    t = np.array([roi.cx, roi.cy]) - a @ np.array([size / 2, size / 2])
    return np.hstack([a, t[:, None]])


def landmark_input(frame_bgr: np.ndarray, roi: Roi, size: int = LANDMARK_SIZE) -> np.ndarray:
    """Crop the rotated ROI from a BGR frame: (size, size, 3) float32 RGB in [0, 1] (256 for the body).

    OpenCV's rotated bilinear warp has a fast path for 4 channels but not for 3 (measured on 1080x1920:
    1.5 ms a crop from BGR, 0.6 from BGRA), so the pixels the crop samples are first copied out as BGRA
    (0.2 ms into a reused buffer). The crop is the same but for a few values one level apart (measured:
    a median of 6 of its 196,608 values), where OpenCV's fixed-point coordinates round the other way.
    """
    import cv2

    m = roi_matrix(roi, size)
    src = frame_bgr
    h, w = frame_bgr.shape[:2]
    corners = m @ np.array([[0, size, 0, size], [0, 0, size, size],
                            [1, 1, 1, 1]], dtype=np.float64)
    # bilinear sampling reads the pixel after each coordinate: a margin of 2 keeps every read inside
    x0, y0 = (max(0, int(np.floor(corners[k].min())) - 2) for k in (0, 1))
    x1, y1 = min(w, int(np.ceil(corners[0].max())) + 3), min(h, int(np.ceil(corners[1].max())) + 3)
    if x1 > x0 and y1 > y0:
        src = cv2.cvtColor(frame_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2BGRA, dst=_scratch((y1 - y0, x1 - x0, 4)))
        m = m - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])
    crop = cv2.warpAffine(
        src, m, (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return _to_float(_rgb(crop), 1.0 / 255.0, 0.0)


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, int, int]) -> np.ndarray:
    """A uint8 array of `shape` over a per-thread buffer that is reused (a fresh 6 MB array costs ~1 ms of
    page faults, more than the conversion written into it)."""
    size = int(np.prod(shape))
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.size < size:
        buf = _SCRATCH.buf = np.empty(size, np.uint8)
    return buf[:size].reshape(shape)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def project_landmarks(raw: np.ndarray, roi: Roi) -> np.ndarray:
    """Landmark graph output (195,) -> (39, 5) image pixels x, y, z (pixels), visibility, presence."""
    pts = raw.reshape(39, 5).astype(np.float64)
    m = roi_matrix(roi)
    xy = pts[:, :2] @ m[:, :2].T + m[:, 2]
    out = np.empty((39, 5), np.float64)
    out[:, :2] = xy
    out[:, 2] = pts[:, 2] * roi.size / LANDMARK_SIZE
    out[:, 3] = sigmoid(pts[:, 3])
    out[:, 4] = sigmoid(pts[:, 4])
    return out


def roi_from_landmarks(points: np.ndarray) -> Roi:
    """The next frame's ROI from this frame's projected landmarks (39, 5): auxiliary points 33 and 34."""
    return roi_from_points(points[33, :2], points[34, :2])


def roi_from_detection(det: Detection) -> Roi:
    return roi_from_points(det.keypoints[0], det.keypoints[1])
