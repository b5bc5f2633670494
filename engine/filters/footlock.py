"""Foot-lock math: detect contacts, compute where a foot should be held, and a two-bone IK solve.

All positions are (T, 3) arrays in one world frame; `up_axis` names the vertical axis (2 in Blender).
"""

from __future__ import annotations

import numpy as np

from ..quaternion import unit_vectors_and_norms


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end_exclusive)] of the True runs in a 1-D mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def contact_segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contact intervals [(start, end_exclusive)] of a (T,) boolean mask."""
    return _runs(mask)


def detect_contacts(points: np.ndarray, fps: float, up_axis: int = 2, height_tol: float = 0.05,
                    speed_tol: float = 0.3, min_frames: int = 3, ground: float | None = None) -> np.ndarray:
    """(T,) bool: frames where a foot point (T, 3) is near the ground and nearly still.

    Ground is the 5th percentile of the point's height unless given; speed is in units per second.
    Gaps of one or two frames inside a contact are closed; contacts shorter than `min_frames` dropped.
    """
    p = np.asarray(points, dtype=np.float64)
    height = p[:, up_axis]
    floor = np.percentile(height, 5) if ground is None else ground
    vel = np.gradient(p, axis=0) * fps if len(p) > 1 else np.zeros_like(p)
    speed = np.linalg.norm(vel, axis=1)
    mask = (height - floor < height_tol) & (speed < speed_tol)
    for s, e in _runs(~mask):
        if s > 0 and e < len(mask) and e - s <= 2:
            mask[s:e] = True
    for s, e in _runs(mask):
        if e - s < min_frames:
            mask[s:e] = False
    return mask


def lock_weights(mask: np.ndarray, blend_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Blend weight (T,) and index of the governing contact segment (T,; -1 for none).

    Weight is 1 inside a contact and eases (smoothstep) to 0 over `blend_frames` on either side, so the
    correction never switches on or off in one frame.
    """
    n = len(mask)
    segs = _runs(mask)
    weight = np.zeros(n)
    owner = np.full(n, -1)
    best = np.full(n, np.inf)
    t = np.arange(n)
    for k, (s, e) in enumerate(segs):
        dist = np.where(t < s, s - t, np.where(t >= e, t - (e - 1), 0)).astype(np.float64)
        if blend_frames > 0:
            u = np.clip(1.0 - dist / (blend_frames + 1), 0.0, 1.0)
        else:
            u = (dist == 0).astype(np.float64)
        w = u * u * (3.0 - 2.0 * u)
        closer = (dist < best) & (w > 0)
        weight = np.where(closer, w, weight)
        owner = np.where(closer, k, owner)
        best = np.where(closer, dist, best)
    return weight, owner


def locked_targets(points: np.ndarray, mask: np.ndarray,
                   blend_frames: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Where a foot point should be: (targets (T, 3), weights (T,)).

    During each contact the target is the point's mean position over the contact; the corrected point is
    points + weights[:, None] * (targets - points).
    """
    p = np.asarray(points, dtype=np.float64)
    weight, owner = lock_weights(mask, blend_frames)
    targets = p.copy()
    for k, (s, e) in enumerate(_runs(mask)):
        targets[owner == k] = p[s:e].mean(axis=0)
    return targets, weight


def rotation_matrices(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about unit axes (T, 3) by angles (T,) radians (Rodrigues)."""
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    c, s = np.cos(angle), np.sin(angle)
    k = 1.0 - c
    return np.stack([
        np.stack([c + x * x * k, x * y * k - z * s, x * z * k + y * s], axis=-1),
        np.stack([y * x * k + z * s, c + y * y * k, y * z * k - x * s], axis=-1),
        np.stack([z * x * k - y * s, z * y * k + x * s, c + z * z * k], axis=-1),
    ], axis=1)


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) minimal rotations taking directions u (T, 3) onto v (T, 3)."""
    u, _ = unit_vectors_and_norms(u)
    v, _ = unit_vectors_and_norms(v)
    axis, s = unit_vectors_and_norms(np.cross(u, v))
    angle = np.arctan2(s, np.sum(u * v, axis=-1))
    # Parallel vectors: any axis works for zero angle; antiparallel ones never occur for small IK fixes.
    axis[s < 1e-9] = (1.0, 0.0, 0.0)
    return rotation_matrices(axis, angle)


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
                bend_axis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK that moves the ankle onto `target` keeping the knee's bend plane.

    Returns world-space delta rotations (D_upper, D_lower), each (T, 3, 3): the new upper-bone
    orientation is D_upper @ old, the lower bone's D_upper @ D_lower @ old (D_lower turns about the
    knee). Targets out of reach are clamped to a nearly straight leg. `bend_axis` (T, 3) is used where
    the leg is straight and the bend plane undefined.
    """
    hip, knee, ankle, target = (np.asarray(a, dtype=np.float64) for a in (hip, knee, ankle, target))
    upper = knee - hip
    lower = ankle - knee
    a = np.linalg.norm(upper, axis=1)
    b = np.linalg.norm(lower, axis=1)
    c_now = np.linalg.norm(ankle - hip, axis=1)
    c_want = np.clip(np.linalg.norm(target - hip, axis=1), np.abs(a - b) + 1e-4, a + b - 1e-4)

    def interior(c: np.ndarray) -> np.ndarray:
        return np.arccos(np.clip((a * a + b * b - c * c) / np.maximum(2 * a * b, 1e-12), -1.0, 1.0))

    axis, s = unit_vectors_and_norms(np.cross(upper, lower))
    if bend_axis is not None:
        fallback, _ = unit_vectors_and_norms(np.asarray(bend_axis, dtype=np.float64))
        axis = np.where((s < 1e-6)[:, None], fallback, axis)
    delta = interior(np.minimum(c_now, a + b - 1e-4)) - interior(c_want)
    d_lower = rotation_matrices(axis, delta)
    new_ankle = knee + np.einsum("tij,tj->ti", d_lower, lower)
    d_upper = rotation_between(new_ankle - hip, target - hip)
    return d_upper, d_lower
