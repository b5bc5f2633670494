"""Change a motion's frame rate: linear for positions, slerp for rotations."""

from __future__ import annotations

import numpy as np

from .quaternion import quat_continuity, quat_normalize


def _sample_points(n: int, fps_in: float, fps_out: float) -> np.ndarray:
    duration = (n - 1) / fps_in
    count = int(np.floor(duration * fps_out + 1e-6)) + 1
    return np.arange(count) * (fps_in / fps_out)


def resample_positions(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """(T, ...) samples at fps_in -> (T', ...) at fps_out covering the same time span."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2 or fps_in == fps_out:
        return x.copy()
    s = _sample_points(len(x), fps_in, fps_out)
    i0 = np.minimum(np.floor(s).astype(int), len(x) - 2)
    u = (s - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1.0 - u) + x[i0 + 1] * u


def resample_quaternions(q: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """(T, ..., 4) rotations at fps_in -> fps_out by slerp."""
    q = quat_normalize(quat_continuity(q))
    if len(q) < 2 or fps_in == fps_out:
        return q
    s = _sample_points(len(q), fps_in, fps_out)
    i0 = np.minimum(np.floor(s).astype(int), len(q) - 2)
    u = (s - i0).reshape((-1,) + (1,) * (q.ndim - 2))
    a, b = q[i0], q[i0 + 1]
    dot = np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)
    theta = np.arccos(dot)
    sin_t = np.sin(theta)
    small = sin_t < 1e-6
    wa = np.where(small, 1.0 - u, np.sin((1.0 - u) * theta) / np.where(small, 1.0, sin_t))
    wb = np.where(small, u, np.sin(u * theta) / np.where(small, 1.0, sin_t))
    return quat_normalize(a * wa[..., None] + b * wb[..., None])
