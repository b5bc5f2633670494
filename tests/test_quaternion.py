"""Tests for engine/quaternion.py: the shared quaternion and rotation-matrix algebra (w, x, y, z order).

Each property is checked against an independent construction (Rodrigues' formula, matrix products,
np.cross), on random rotations plus the awkward ones: the identity and half turns (w = 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import quaternion as qt


def _random_quats(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    q = rng.normal(size=shape + (4,))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _rodrigues(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation by `angle` about unit `axis`, built without quaternions."""
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    a = np.asarray(angle)[..., None, None]
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def _random_axes(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _awkward_matrices() -> np.ndarray:
    """The identity, half turns about the coordinate axes and a diagonal one, and near-half turns."""
    axes = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1], [0, 1, 1]], np.float64)
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    half = _rodrigues(axes, np.full(len(axes), np.pi))
    near = _rodrigues(axes, np.full(len(axes), np.pi - 1e-7))
    return np.concatenate([np.eye(3)[None], half, near])


def _same_rotation(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    """Quaternions a and b are the same rotation (q and -q alike)."""
    return bool(np.allclose(np.abs(np.sum(a * b, axis=-1)), 1.0, atol=atol))


def test_quat_to_matrix_is_a_rotation_matching_rodrigues() -> None:
    rng = np.random.default_rng(0)
    axis = _random_axes(rng, 200)
    angle = rng.uniform(-np.pi, np.pi, 200)
    m = qt.quat_to_matrix(qt.quat_from_axis_angle(axis, angle))
    assert m.shape == (200, 3, 3) and m.dtype == np.float64
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)
    assert np.allclose(m, _rodrigues(axis, angle), atol=1e-12)


def test_right_hand_rule_and_column_vectors() -> None:
    q = qt.quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 2)  # +90 degrees about z
    assert np.allclose(q, [np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)])
    assert np.allclose(qt.quat_rotate(q, [1.0, 0.0, 0.0]), [0.0, 1.0, 0.0])
    assert np.allclose(qt.quat_to_matrix(q) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])


def test_quaternion_matrix_round_trip() -> None:
    rng = np.random.default_rng(1)
    q = _random_quats(rng, (500,))
    back = qt.matrix_to_quat(qt.quat_to_matrix(q))
    assert np.all(back[:, 0] >= 0)
    assert np.allclose(np.linalg.norm(back, axis=-1), 1.0)
    assert np.allclose(back, q * np.sign(q[:, :1]), atol=1e-9)  # the w >= 0 representative
    # leading axes are kept
    assert qt.matrix_to_quat(qt.quat_to_matrix(q.reshape(5, 100, 4))).shape == (5, 100, 4)


def test_matrix_quaternion_round_trip_including_half_turns() -> None:
    rng = np.random.default_rng(2)
    m = np.concatenate([_rodrigues(_random_axes(rng, 300), rng.uniform(0, np.pi, 300)), _awkward_matrices()])
    q = qt.matrix_to_quat(m)
    assert np.all(q[:, 0] >= 0)
    assert np.allclose(qt.quat_to_matrix(q), m, atol=1e-9)
    # w = 0 exactly for half turns, and the axis is recovered up to sign
    half = qt.matrix_to_quat(_rodrigues(np.array([0.0, 1.0, 0.0]), np.pi))
    assert np.allclose(np.abs(half), [0.0, 0.0, 1.0, 0.0], atol=1e-12)


def test_multiplication_matches_the_matrix_product() -> None:
    rng = np.random.default_rng(3)
    a, b = _random_quats(rng, (100,)), _random_quats(rng, (100,))
    ab = qt.quat_mul(a, b)
    assert np.allclose(qt.quat_to_matrix(ab), qt.quat_to_matrix(a) @ qt.quat_to_matrix(b), atol=1e-12)
    assert np.allclose(np.linalg.norm(ab, axis=-1), 1.0)
    # broadcasting: one quaternion against many, and (T, 1) against (1, J)
    assert np.allclose(qt.quat_mul(a[0], b), qt.quat_mul(np.broadcast_to(a[0], b.shape), b))
    grid = qt.quat_mul(a[:4, None], b[None, :5])
    assert grid.shape == (4, 5, 4) and np.allclose(grid[2, 3], qt.quat_mul(a[2], b[3]))
    # associative, not commutative
    c = _random_quats(rng, (100,))
    assert np.allclose(qt.quat_mul(qt.quat_mul(a, b), c), qt.quat_mul(a, qt.quat_mul(b, c)))
    assert not np.allclose(ab, qt.quat_mul(b, a))


def test_conjugate_is_the_inverse() -> None:
    rng = np.random.default_rng(4)
    q = _random_quats(rng, (50,))
    ident = np.tile([1.0, 0.0, 0.0, 0.0], (50, 1))
    assert np.allclose(qt.quat_mul(q, qt.quat_conj(q)), ident)
    assert np.allclose(qt.quat_mul(qt.quat_conj(q), q), ident)
    assert np.allclose(qt.quat_to_matrix(qt.quat_conj(q)), np.swapaxes(qt.quat_to_matrix(q), -1, -2))


def test_rotate_matches_the_matrix() -> None:
    rng = np.random.default_rng(5)
    q = _random_quats(rng, (200,))
    v = rng.normal(size=(200, 3))
    expected = np.einsum("tij,tj->ti", qt.quat_to_matrix(q), v)
    assert np.allclose(qt.quat_rotate(q, v), expected, atol=1e-12)
    # one vector by many rotations, and many vectors by one rotation
    assert np.allclose(qt.quat_rotate(q, v[0]), qt.quat_to_matrix(q) @ v[0])
    assert np.allclose(qt.quat_rotate(q[0], v), v @ qt.quat_to_matrix(q[0]).T)
    # rotating by a product is rotating twice
    p = _random_quats(rng, (200,))
    assert np.allclose(qt.quat_rotate(qt.quat_mul(p, q), v), qt.quat_rotate(p, qt.quat_rotate(q, v)))


def test_axis_angle_broadcasts_and_fixes_its_axis() -> None:
    rng = np.random.default_rng(6)
    axis = _random_axes(rng, 30)
    angle = rng.uniform(-3, 3, 30)
    q = qt.quat_from_axis_angle(axis, angle)
    assert q.shape == (30, 4) and np.allclose(np.linalg.norm(q, axis=-1), 1.0)
    assert np.allclose(qt.quat_rotate(q, axis), axis)  # the axis does not move
    assert np.allclose(2 * np.arccos(np.clip(np.abs(q[:, 0]), 0, 1)), np.abs(angle))
    # one axis, many angles; many axes, one angle
    assert qt.quat_from_axis_angle(axis[0], angle).shape == (30, 4)
    assert np.allclose(qt.quat_from_axis_angle(axis, 0.5), qt.quat_from_axis_angle(axis, np.full(30, 0.5)))
    # angles add about a shared axis
    a, b = qt.quat_from_axis_angle(axis[0], 0.3), qt.quat_from_axis_angle(axis[0], 0.9)
    assert np.allclose(qt.quat_mul(a, b), qt.quat_from_axis_angle(axis[0], 1.2))


def test_normalize() -> None:
    rng = np.random.default_rng(7)
    q = rng.normal(size=(40, 3, 4)).astype(np.float32) * 5
    out = qt.quat_normalize(q)
    assert out.dtype == np.float64 and out.shape == q.shape
    assert np.allclose(np.linalg.norm(out, axis=-1), 1.0)
    assert np.allclose(out * np.linalg.norm(q.astype(np.float64), axis=-1, keepdims=True), q, atol=1e-5)
    # a zero (or undefined) quaternion becomes the identity; the others are untouched by it
    odd = np.array([[0.0, 0.0, 0.0, 0.0], [np.nan, 0, 0, 0], [0.0, 2.0, 0.0, 0.0]])
    assert np.allclose(qt.quat_normalize(odd), [[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert np.allclose(qt.quat_to_matrix(np.zeros(4)), np.eye(3))
    assert np.allclose(qt.quat_normalize([0.0, 0.0, 3.0, 4.0]), [0.0, 0.0, 0.6, 0.8])


def test_to_matrix_without_normalising_trusts_the_input() -> None:
    rng = np.random.default_rng(8)
    q = _random_quats(rng, (10,))
    assert np.allclose(qt.quat_to_matrix(q, normalize=False), qt.quat_to_matrix(q))
    assert np.allclose(qt.quat_to_matrix(3 * q), qt.quat_to_matrix(q))  # normalised by default


def _smooth_track(rng: np.random.Generator, frames: int, joints: int) -> np.ndarray:
    """(T, J, 4) slowly turning rotations: consecutive quaternions in one hemisphere."""
    axis = _random_axes(rng, joints)
    angle = np.linspace(0, 5.0, frames)[:, None] * rng.uniform(0.5, 1.0, joints)
    return qt.quat_mul(_random_quats(rng, (joints,)), qt.quat_from_axis_angle(axis, angle))


def test_continuity_removes_sign_flips() -> None:
    rng = np.random.default_rng(9)
    q = _smooth_track(rng, 120, 6)
    assert np.all(np.sum(q[1:] * q[:-1], axis=-1) > 0)
    signs = np.where(rng.random((120, 6)) < 0.3, -1.0, 1.0)
    signs[0] = 1.0
    flipped = q * signs[..., None]
    before = flipped.copy()
    fixed = qt.quat_continuity(flipped)
    assert np.array_equal(flipped, before)  # the input is not changed
    assert np.allclose(fixed, q)  # every joint back on its own smooth track
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) >= 0)
    assert np.array_equal(qt.quat_continuity(fixed), fixed)  # idempotent
    # the first frame sets the hemisphere; short tracks come back as float64 copies
    assert np.allclose(qt.quat_continuity(-flipped), -q)
    one = np.array([[0.0, 1.0, 0.0, 0.0]], np.float32)
    assert qt.quat_continuity(one).dtype == np.float64 and np.array_equal(qt.quat_continuity(one), one)


def test_continuity_keeps_the_rotations() -> None:
    rng = np.random.default_rng(10)
    q = _random_quats(rng, (200, 3))  # no smoothness: only signs may change
    fixed = qt.quat_continuity(q)
    assert np.allclose(np.abs(fixed), np.abs(q))
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) >= 0)


def test_frame_from_vectors() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    f = qt.frame_from_vectors(a, b)
    assert np.allclose(f @ np.swapaxes(f, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(f), 1.0)
    assert np.allclose(f[..., 0], a / np.linalg.norm(a, axis=-1, keepdims=True))
    assert np.all(np.sum(f[..., 1] * b, axis=-1) > 0)  # b's side of the plane
    assert np.allclose(np.sum(f[..., 2] * b, axis=-1), 0.0)  # b lies in the plane of columns 0, 1
    # the rotation between two frames carries the first primary onto the second
    a0, b0 = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    r = f @ np.swapaxes(qt.frame_from_vectors(a0, b0), -1, -2)
    u0 = a0 / np.linalg.norm(a0, axis=-1, keepdims=True)
    assert np.allclose(np.einsum("tij,tj->ti", r, u0), f[..., 0])


def test_vector_helpers() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(3,))
    assert np.allclose(qt.cross(a, b), np.cross(a, b))
    unit, norm = qt.unit_vectors_and_norms(a)
    assert np.allclose(norm, np.linalg.norm(a, axis=-1)) and np.allclose(unit * norm[:, None], a)
    assert np.allclose(qt.unit_vectors(a), unit)
    assert np.array_equal(qt.unit_vectors(np.zeros((2, 3))), np.zeros((2, 3)))  # zero stays zero


@pytest.mark.parametrize("name", ["quat_mul", "quat_conj", "quat_normalize", "quat_continuity", "quat_to_matrix",
                                  "matrix_to_quat"])
def test_filters_use_the_shared_implementation(name: str) -> None:
    import engine.filters

    assert getattr(engine.filters.quaternion, name) is getattr(qt, name)
    if name in engine.filters.__all__:
        assert getattr(engine.filters, name) is getattr(qt, name)
