"""Quaternion helpers for motion curves. Quaternions are (..., 4) arrays in w, x, y, z order."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternions; a zero quaternion becomes the identity."""
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    out = np.where(n > 1e-12, q / np.maximum(n, 1e-12), 0.0)
    out[..., 0] = np.where(n[..., 0] > 1e-12, out[..., 0], 1.0)
    return out


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a*b, broadcasting over leading axes."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle in radians between orientations a and b (sign-agnostic)."""
    d = np.abs(np.sum(quat_normalize(a) * quat_normalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def quat_continuity(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 so each quaternion is in the same hemisphere as the one before.

    q and -q are the same rotation, but curves that jump between them interpolate through a full turn.
    """
    q = np.array(q, dtype=np.float64)
    if len(q) < 2:
        return q
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    # Each negative dot toggles the sign of everything after it.
    flips = np.cumsum(dots < 0, axis=0) % 2
    sign = np.concatenate([np.ones_like(flips[:1]), 1 - 2 * flips], axis=0)
    return q * sign[..., None]


def smooth_quaternions(q: np.ndarray, filt: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Smooth (T, ..., 4) rotations with any per-channel filter: continuity, filter, renormalise."""
    return quat_normalize(filt(quat_continuity(q)))


def _axis_angle_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * angle
    return np.concatenate([np.cos(half)[..., None], axis * np.sin(half)[..., None]], axis=-1)


def fix_quaternion_flips(q: np.ndarray, max_step_deg: float = 100.0) -> tuple[np.ndarray, int]:
    """Repair sign flips and sudden twists in (T, ..., 4) rotations.

    Sign flips are removed by `quat_continuity`. A twist is a frame-to-frame rotation larger than
    `max_step_deg` (a 180° turn of a bone about its own axis from a bad solve): that step is replaced by
    the step before it, and everything after is carried along, so a twist that later turns back cancels
    out. Steps are taken in the parent frame (q[t] q[t-1]^-1): a twist about the bone's own axis multiplies
    from the right and leaves those steps unchanged. Returns the repaired rotations and the steps replaced.
    """
    q = quat_normalize(quat_continuity(q))
    if len(q) < 2:
        return q, 0
    steps = quat_mul(q[1:], quat_conj(q[:-1]))  # step from t-1 to t, in the parent's frame
    angle = 2.0 * np.arccos(np.clip(np.abs(steps[..., 0]), 0.0, 1.0))
    bad = angle > np.radians(max_step_deg)
    count = int(bad.sum())
    if count == 0:
        return q, 0
    out = q.copy()
    ident = np.zeros_like(steps[0])
    ident[..., 0] = 1.0
    prev_step = ident
    for t in range(len(steps)):
        good_step = np.where(bad[t][..., None], prev_step, steps[t])
        out[t + 1] = quat_mul(good_step, out[t])
        prev_step = good_step
    return quat_normalize(quat_continuity(out)), count


def unwrap_euler(angles: np.ndarray) -> tuple[np.ndarray, int]:
    """Remove ±2π jumps from Euler angle curves (T, ...) in radians; returns (curves, jumps removed)."""
    angles = np.asarray(angles, dtype=np.float64)
    out = np.unwrap(angles, axis=0)
    jumps = int(np.count_nonzero(np.abs(np.diff(out - angles, axis=0)) > 1e-9))
    return out, jumps


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) w, x, y, z -> (..., 3, 3) rotation matrices."""
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions w, x, y, z with w >= 0.

    Picks the numerically largest of the four candidate components per matrix (Shepperd's method).
    """
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    cands = np.stack([
        np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], axis=-1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], axis=-1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22,
                  m[..., 1, 2] + m[..., 2, 1]], axis=-1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 - m00 - m11 + m22], axis=-1),
    ], axis=-2)
    diag = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = quat_normalize(q)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)
