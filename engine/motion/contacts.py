"""Foot contacts: a heel or toe touches the floor when it is low and nearly still.

numpy only.
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk


def local_floor(lowest: np.ndarray, half_window: int) -> np.ndarray:
    """Rolling minimum of the per-frame lowest foot height over +-half_window frames. (T,) -> (T,)."""
    T = lowest.shape[0]
    if T == 0 or half_window <= 0:
        return lowest.copy()
    padded = np.pad(lowest, half_window, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1)[:T].min(axis=1)


def foot_contacts(joints: np.ndarray, fps: float, height: float = 0.06, speed: float = 0.5,
                  floor: float = 0.0, window_s: float = 1.0, max_tilt: float = 0.3) -> np.ndarray:
    """Contact flags for left heel, left toe, right heel, right toe.

    joints: (T, 27, 3) world_yup metres, floor at y = `floor`; fps: frames per second.
    A point is in contact when it moves slower than `speed` (m/s) and is less than `height` above the floor
    under the feet. That floor is the lowest foot point within +-`window_s` seconds, allowed up to
    `max_tilt` metres above `floor`: a lifted motion's depth errors tilt and bend the floor, so a fixed
    height would miss the contacts at one end of the clip. Single-frame flickers are removed.
    Returns (T, 4) bool.
    """
    pts = np.asarray(joints, dtype=np.float64)[:, sk.CONTACT_JOINTS]  # (T, 4, 3)
    T = pts.shape[0]
    if T == 0:
        return np.zeros((0, 4), dtype=bool)
    vel = np.gradient(pts, axis=0) * fps if T > 1 else np.zeros_like(pts)
    ground = np.minimum(local_floor(pts[..., 1].min(axis=1), int(round(window_s * fps))), floor + max_tilt)
    ground = np.maximum(ground, floor)
    low = pts[..., 1] - ground[:, None] < height
    still = np.linalg.norm(vel, axis=-1) < speed
    c = low & still
    if T >= 3:
        mid = c[1:-1]
        same_sides = c[:-2] == c[2:]
        c[1:-1] = np.where(same_sides & (mid != c[:-2]), c[:-2], mid)
    return c
