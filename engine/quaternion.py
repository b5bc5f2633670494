"""Quaternion and rotation-matrix helpers shared by the engine and the Blender add-on. numpy only.

Conventions, for every function here:
- Quaternions are (..., 4) arrays in w, x, y, z order (scalar first; VMD files store x, y, z, w, and their
  readers and writers convert). Leading axes broadcast.
- A quaternion q rotates column vectors: `quat_rotate(q, v) == quat_to_matrix(q) @ v`, and
  `quat_mul(a, b)` is the rotation b followed by a (`quat_to_matrix(a) @ quat_to_matrix(b)`).
- Matrices are (..., 3, 3) rotations acting on column vectors.
- Results are float64 whatever the input dtype (lists are accepted), except `unit_vectors*` and
  `frame_from_vectors`, which keep a floating input's dtype.
- Quaternions are not assumed unit unless a function says so; q and -q are the same rotation.

Works with numpy 1.26 and 2.x.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # norms at or below this count as zero
_CONJ = np.array([1.0, -1.0, -1.0, -1.0])
_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------------------------- vectors

def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of (..., 3) vectors, broadcasting; np.cross without its per-call overhead (the IK
    solver calls it thousands of times). Returns float64."""
    a = np.asarray(a)
    b = np.asarray(b)
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def unit_vectors_and_norms(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., N) vectors -> (unit vectors (..., N), norms (...)). A zero vector stays zero (norm 0)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, EPS), n[..., 0]


def unit_vectors(v: np.ndarray) -> np.ndarray:
    """(..., N) vectors scaled to length 1; a zero vector stays zero."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), EPS)


def frame_from_vectors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthonormal right-handed frames (..., 3, 3) from a primary direction a and a secondary b (..., 3):
    the columns are a, b made orthogonal to a, and a x b (all unit).

    `frame_from_vectors(u, v) @ frame_from_vectors(u0, v0).T` is the rotation carrying u0 onto u and the
    plane of u0, v0 onto that of u, v.
    """
    a = unit_vectors(a)
    b = unit_vectors(b - np.sum(a * b, -1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


# ----------------------------------------------------------------------------------------------- quaternions

def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4); a quaternion with zero (or non-finite) norm becomes the identity."""
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    ok = n > EPS
    out = q / np.where(ok, n, 1.0)
    if not ok.all():
        out = np.where(ok, out, _IDENTITY)
    return out


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a*b of (..., 4) quaternions, broadcasting over leading axes: the rotation b
    followed by a."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = aw * bw - ax * bx - ay * by - az * bz
    out[..., 1] = aw * bx + ax * bw + ay * bz - az * by
    out[..., 2] = aw * by - ax * bz + ay * bw + az * bx
    out[..., 3] = aw * bz + ax * by - ay * bx + az * bw
    return out


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (..., 4): the inverse rotation of a unit quaternion."""
    return np.asarray(q, dtype=np.float64) * _CONJ


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4), broadcasting. q is not normalised here."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * cross(u, v)
    return v + w * t + cross(u, t)


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) of rotations by `angle` (...) radians about unit axes `axis` (..., 3) (right-hand
    rule); the two broadcast against each other. The axis is not normalised here."""
    axis = np.asarray(axis, dtype=np.float64)
    half = 0.5 * np.asarray(angle, dtype=np.float64)
    out = np.empty(np.broadcast_shapes(axis.shape[:-1], half.shape) + (4,))
    out[..., 0] = np.cos(half)
    out[..., 1:] = np.sin(half)[..., None] * axis
    return out


def quat_to_matrix(q: np.ndarray, normalize: bool = True) -> np.ndarray:
    """(..., 4) quaternions -> (..., 3, 3) rotation matrices.

    normalize: scale q to unit length first (`quat_normalize`: a zero quaternion gives the identity). Pass
    False for quaternions known to be unit, to skip the work (a non-unit q then gives a scaled, non-rotation
    matrix).
    """
    q = quat_normalize(q) if normalize else np.asarray(q, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0.

    Shepperd's method: per matrix, the candidate built around the largest of |w|, |x|, |y|, |z| (best
    conditioned). Where w is exactly 0 (half turns) the sign is the one that candidate gives.
    """
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    tr = m00 + m11 + m22
    cand = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m00 - tr, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m11 - tr,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 + 2 * m22 - tr], -1),
    ], axis=-2)  # (..., 4, 4): row k is 4 q q_k
    diag = np.stack([1 + tr, 1 + 2 * m00 - tr, 1 + 2 * m11 - tr, 1 + 2 * m22 - tr], -1)  # 4 q_k^2
    best = np.argmax(diag, axis=-1)
    q = quat_normalize(np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :])
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def quat_continuity(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 of (T, ..., 4) so each quaternion is in the same hemisphere as the one before
    (non-negative dot product). Returns a float64 copy.

    q and -q are the same rotation, but curves that jump between them interpolate through a full turn.
    Works for any component order (only dot products are used).
    """
    q = np.array(q, dtype=np.float64)
    if len(q) < 2:
        return q
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    # Each negative dot toggles the sign of everything after it.
    flips = np.cumsum(dots < 0, axis=0) % 2
    sign = np.concatenate([np.ones_like(flips[:1]), 1 - 2 * flips], axis=0)
    return q * sign[..., None]
