"""What a person looks like, for telling people apart: colour histograms of the torso and of the thighs.

Multi-object trackers re-identify a person who was hidden or left the frame by appearance as well as by
motion; clothing colour is the cheapest cue that survives pose changes (a flip, a turn) and is computed from
the detector's keypoints alone (hip centre, shoulder centre, body radius), on the scan's frames only.
A descriptor is two hue-saturation histograms (8 hue x 3 saturation bins, plus 4 brightness bins for the
pixels too grey to have a hue), one per region, each summing to 1. Similarity is the Bhattacharyya
coefficient averaged over the two regions: 1 for the same colours, near 0 for different ones.
"""

from __future__ import annotations

import numpy as np

from .blazepose import Detection

HUE_BINS, SAT_BINS, GREY_BINS = 8, 3, 4
GREY_SAT = 40  # OpenCV saturation (0..255) under which a pixel counts as grey: its hue is noise
THUMBNAIL = 640  # descriptors are read from the frame shrunk to this long side: clothes, not texture
PATCH = 24  # each region is resampled to PATCH x PATCH pixels before counting: the cost does not grow with size
REGION_BINS = HUE_BINS * SAT_BINS + GREY_BINS
SIZE = 2 * REGION_BINS


def _regions(det: Detection) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(start, end, half width) in pixels of the torso (shoulders to hips) and the thighs (hips downwards)."""
    hip, shoulder = det.keypoints[0], det.keypoints[2]
    axis = shoulder - hip
    length = float(np.hypot(*axis))
    if length < 1e-3:
        axis, length = np.array([0.0, -det.radius * 0.5]), det.radius * 0.5
    half = 0.3 * length
    # the inner part of the torso (away from the arms and the neck) and the upper legs, along the body's axis
    return [(hip + 0.15 * axis, hip + 0.8 * axis, half), (hip, hip - 0.6 * axis, half)]


def thumbnail(frame_bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame at most THUMBNAIL pixels on its long side, and its scale: what `describe` reads. The scan keeps
    this rather than the frame until its batch's detections are known (an 8K frame is 100 MB)."""
    import cv2

    h, w = frame_bgr.shape[:2]
    scale = min(1.0, THUMBNAIL / max(h, w))
    if scale == 1.0:
        return frame_bgr, 1.0
    return cv2.resize(frame_bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA), scale


def describe(frame_bgr: np.ndarray, det: Detection, scale: float = 1.0) -> np.ndarray:
    """(SIZE,) float32 colour descriptor of the person `det` (in full-frame pixels) in a BGR frame or its
    `thumbnail` of that scale."""
    import cv2

    h, w = frame_bgr.shape[:2]
    out = np.zeros(SIZE, np.float32)
    for r, (a, b, half) in enumerate(_regions(det)):
        a, b, half = a * scale, b * scale, half * scale
        along = b - a
        length = float(np.hypot(*along))
        if length < 2 or half < 1:
            continue
        u = along / length
        n = np.array([-u[1], u[0]]) * half
        # an affine map from the PATCH x PATCH patch onto the rotated rectangle a..b, +-half across
        src = np.float32([a - n, a + n, b - n])
        dst = np.float32([[0, 0], [PATCH, 0], [0, PATCH]])
        m = cv2.getAffineTransform(src, dst)
        patch = cv2.warpAffine(frame_bgr, m, (PATCH, PATCH), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=(0, 0, 0))
        # pixels outside the image are not the person: the inside mask comes from the same warp
        inside = cv2.warpAffine(np.full((h, w), 255, np.uint8), m, (PATCH, PATCH), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        if inside.sum() < 8:
            continue
        hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)[inside].astype(np.int32)
        hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
        grey = sat < GREY_SAT
        hb = np.minimum(hue * HUE_BINS // 180, HUE_BINS - 1)
        sb = np.minimum((sat - GREY_SAT) * SAT_BINS // (256 - GREY_SAT), SAT_BINS - 1)
        coloured = np.bincount((hb * SAT_BINS + sb)[~grey], minlength=HUE_BINS * SAT_BINS)
        greys = np.bincount(np.minimum(val[grey] * GREY_BINS // 256, GREY_BINS - 1), minlength=GREY_BINS)
        hist = np.concatenate([coloured, greys]).astype(np.float32)
        out[r * REGION_BINS:(r + 1) * REGION_BINS] = hist / hist.sum()
    return out


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Bhattacharyya coefficient of two descriptors, averaged over the regions both have; None when unknown."""
    if a is None or b is None:
        return None
    scores = []
    for r in range(SIZE // REGION_BINS):
        pa, pb = a[r * REGION_BINS:(r + 1) * REGION_BINS], b[r * REGION_BINS:(r + 1) * REGION_BINS]
        if pa.sum() > 0 and pb.sum() > 0:
            scores.append(float(np.sqrt(pa * pb).sum()))
    return float(np.mean(scores)) if scores else None


def mean_descriptor(descs: list[np.ndarray | None]) -> np.ndarray | None:
    """The average appearance of a track (regions averaged over the sightings that have them)."""
    have = [d for d in descs if d is not None]
    if not have:
        return None
    stack = np.stack(have)
    out = np.zeros(SIZE, np.float32)
    for r in range(SIZE // REGION_BINS):
        part = stack[:, r * REGION_BINS:(r + 1) * REGION_BINS]
        part = part[part.sum(1) > 0]
        if len(part):
            out[r * REGION_BINS:(r + 1) * REGION_BINS] = part.mean(0)
    return out
