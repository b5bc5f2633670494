"""Quaternion filters for motion curves. Quaternions are (..., 4) arrays in w, x, y, z order; the basic
algebra (product, conjugate, normalisation, matrices, sign continuity) is `engine.quaternion`'s."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# The shared implementations (engine/quaternion.py), under the names the filters and the add-on have always
# imported from engine.filters.
from ..quaternion import (  # noqa: F401
    matrix_to_quat,
    quat_conj,
    quat_continuity,
    quat_mul,
    quat_normalize,
    quat_to_matrix,
)


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle in radians between orientations a and b (sign-agnostic)."""
    d = np.abs(np.sum(quat_normalize(a) * quat_normalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def smooth_quaternions(q: np.ndarray, filt: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Smooth (T, ..., 4) rotations with any per-channel filter: continuity, filter, renormalise."""
    return quat_normalize(filt(quat_continuity(q)))


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
