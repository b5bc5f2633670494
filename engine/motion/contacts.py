"""Foot contacts: a heel or toe touches the floor when it is low and nearly still.

numpy only.
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk


def foot_contacts(joints: np.ndarray, fps: float, height: float = 0.06, speed: float = 0.35,
                  floor: float = 0.0) -> np.ndarray:
    """Contact flags for left heel, left toe, right heel, right toe.

    joints: (T, 27, 3) world_yup metres, floor at y = `floor`; fps: frames per second.
    A point is in contact when it is less than `height` above the floor and moves slower than `speed` (m/s,
    central differences, horizontal and vertical together). Single-frame flickers (on-off-on, off-on-off) are
    removed. Returns (T, 4) bool.
    """
    pts = np.asarray(joints, dtype=np.float64)[:, sk.CONTACT_JOINTS]  # (T, 4, 3)
    T = pts.shape[0]
    if T == 0:
        return np.zeros((0, 4), dtype=bool)
    vel = np.gradient(pts, axis=0) * fps if T > 1 else np.zeros_like(pts)
    low = pts[..., 1] - floor < height
    still = np.linalg.norm(vel, axis=-1) < speed
    c = low & still
    if T >= 3:
        mid = c[1:-1]
        same_sides = c[:-2] == c[2:]
        c[1:-1] = np.where(same_sides & (mid != c[:-2]), c[:-2], mid)
    return c
