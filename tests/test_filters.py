"""Tests for engine/filters: each filter does what it claims on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from engine.filters import (
    butter_lowpass,
    contact_segments,
    detect_contacts,
    fix_quaternion_flips,
    locked_targets,
    lowpass_zero_phase,
    one_euro,
    quat_angle,
    quat_continuity,
    quat_mul,
    quat_normalize,
    reduce_keys,
    resample_positions,
    resample_quaternions,
    smooth_quaternions,
    two_bone_ik,
    unwrap_euler,
)
from engine.filters.footlock import rotation_matrices
from engine.filters.reduce import quaternion_error


def _axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    return np.concatenate([np.cos(angle / 2)[..., None], axis * np.sin(angle / 2)[..., None]], axis=-1)


def _accel(x: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(x, 2, axis=0))))


def test_butterworth_gain_at_cutoff_and_dc() -> None:
    fs, fc = 30.0, 4.0
    b, a = butter_lowpass(2, fc, fs)
    z = np.exp(1j * 2 * np.pi * np.array([0.0, fc]) / fs)
    h = np.polyval(b, z) / np.polyval(a, z)
    assert abs(abs(h[0]) - 1.0) < 1e-9
    assert abs(abs(h[1]) - 1 / np.sqrt(2)) < 1e-6


def test_zero_phase_keeps_slow_motion_and_removes_jitter() -> None:
    rng = np.random.default_rng(0)
    fs = 30.0
    t = np.arange(300) / fs
    clean = np.sin(2 * np.pi * 0.5 * t)
    noisy = clean + rng.normal(0, 0.02, t.shape)
    out = lowpass_zero_phase(noisy, fs, 3.0)
    # No lag: the peak of the slow sine stays at the same frame.
    assert abs(int(np.argmax(out[:60])) - int(np.argmax(clean[:60]))) <= 1
    assert np.sqrt(np.mean((out - clean)[10:-10] ** 2)) < 0.01
    assert _accel(out - clean) < 0.1 * _accel(noisy - clean)
    # Multi-channel input filters each channel.
    multi = lowpass_zero_phase(np.stack([noisy, 2 * noisy], axis=1), fs, 3.0)
    assert np.allclose(multi[:, 1], 2 * out)


def test_butterworth_rejects_cutoff_above_nyquist() -> None:
    with pytest.raises(ValueError):
        butter_lowpass(2, 20.0, 30.0)


def test_one_euro_reduces_jitter_and_follows_fast_motion() -> None:
    rng = np.random.default_rng(1)
    fs = 30.0
    still = 1.0 + rng.normal(0, 0.01, 200)
    out = one_euro(still, fs, min_cutoff=1.0, beta=0.0)
    assert _accel(out) < 0.2 * _accel(still)
    ramp = np.linspace(0, 10, 60)
    lagged_slow = one_euro(ramp, fs, min_cutoff=0.5, beta=0.0)
    lagged_fast = one_euro(ramp, fs, min_cutoff=0.5, beta=1.0)
    assert abs(lagged_fast[-1] - ramp[-1]) < abs(lagged_slow[-1] - ramp[-1])


def test_quat_continuity_removes_sign_flips() -> None:
    angle = np.linspace(0, 2.0, 50)
    q = _axis_angle(np.tile([0.0, 0.0, 1.0], (50, 1)), angle)
    flipped = q.copy()
    flipped[10:20] *= -1
    flipped[30] *= -1
    fixed = quat_continuity(flipped)
    assert np.allclose(fixed, q)


def test_smooth_quaternions_stays_unit_and_smooth() -> None:
    rng = np.random.default_rng(2)
    angle = np.linspace(0, 1.5, 120)
    q = _axis_angle(np.tile([1.0, 1.0, 0.0], (120, 1)), angle)
    noise = _axis_angle(rng.normal(size=(120, 3)), np.radians(rng.normal(0, 1.0, 120)))
    noisy = quat_mul(q, noise)
    noisy[::7] *= -1  # sign flips must not hurt the filter
    out = smooth_quaternions(noisy, lambda x: lowpass_zero_phase(x, 30.0, 3.0))
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert np.degrees(quat_angle(out, q))[5:-5].max() < 1.0
    assert _accel(out) < 0.2 * _accel(quat_continuity(noisy))


def test_fix_flips_removes_a_180_twist_and_keeps_the_rest() -> None:
    angle = np.linspace(0, 1.0, 60)
    q = _axis_angle(np.tile([0.0, 1.0, 0.0], (60, 1)), angle)
    bad = q.copy()
    twist = _axis_angle(np.array([0.0, 1.0, 0.0]), np.array(np.pi))
    bad[20:35] = quat_mul(bad[20:35], twist)
    bad[25] *= -1
    fixed, count = fix_quaternion_flips(bad)
    assert count == 2
    err = np.degrees(quat_angle(fixed, q))
    assert err.max() < 2.5  # the replaced steps borrow the previous step, ~1 degree each
    assert np.degrees(quat_angle(fixed[1:], fixed[:-1])).max() < 3.0
    clean, none = fix_quaternion_flips(q)
    assert none == 0 and np.allclose(np.abs(np.sum(clean * q, axis=1)), 1.0)


def test_unwrap_euler() -> None:
    x = np.linspace(0, 4 * np.pi, 80)
    wrapped = (x + np.pi) % (2 * np.pi) - np.pi
    out, jumps = unwrap_euler(wrapped)
    assert jumps == 2
    assert np.allclose(out, x)


def test_reduce_keys_within_tolerance() -> None:
    frames = np.arange(200, dtype=float)
    values = np.stack([np.sin(frames / 20), np.cos(frames / 31)], axis=1)
    keep = reduce_keys(frames, values, 0.01)
    assert keep[0] and keep[-1] and 5 < keep.sum() < 60
    approx = np.stack([np.interp(frames, frames[keep], values[keep, c]) for c in range(2)], axis=1)
    assert np.abs(approx - values).max() <= 0.01 + 1e-12
    line = np.stack([frames, 2 * frames], axis=1)
    assert reduce_keys(frames, line, 1e-9).sum() == 2


def test_reduce_quaternion_keys_in_degrees() -> None:
    frames = np.arange(100, dtype=float)
    q = _axis_angle(np.stack([np.ones(100), np.sin(frames / 10), np.zeros(100)], axis=1), frames / 40)
    keep = reduce_keys(frames, q, 0.5, error=quaternion_error)
    approx = np.stack([np.interp(frames, frames[keep], q[keep, c]) for c in range(4)], axis=1)
    assert quaternion_error(q, approx).max() <= 0.5
    assert keep.sum() < 60


def test_detect_contacts_and_lock() -> None:
    fps = 30.0
    t = np.arange(120)
    # A foot that stands for 30 frames, swings for 30, stands again: jitter of 3 mm while standing.
    rng = np.random.default_rng(3)
    x = np.clip((t % 60 - 30) / 30.0, 0.0, 1.0) * 0.6 + (t >= 60) * 0.6
    z = np.where((t % 60) >= 30, 0.1 * np.sin(np.pi * ((t % 60) - 30) / 30.0), 0.0)
    foot = np.stack([x, np.zeros(120), z], axis=1) + rng.normal(0, 0.003, (120, 3)) * ((t % 60) < 30)[:, None]
    mask = detect_contacts(foot, fps)
    segs = contact_segments(mask)
    assert len(segs) == 2
    assert segs[0][0] <= 1 and 27 <= segs[0][1] <= 32
    targets, w = locked_targets(foot, mask, blend_frames=4)
    fixed = foot + w[:, None] * (targets - foot)
    s, e = segs[0]
    assert np.ptp(fixed[s:e], axis=0).max() < 1e-9
    assert np.ptp(foot[s:e], axis=0).max() > 0.005
    # No pop: frame-to-frame movement at the edges stays near the swing's, unlike a hard switch.
    step = np.linalg.norm(np.diff(fixed, axis=0), axis=1)
    assert step.max() < 2.0 * np.linalg.norm(np.diff(foot[30:60], axis=0), axis=1).max()


def test_two_bone_ik_reaches_target_and_keeps_lengths() -> None:
    rng = np.random.default_rng(4)
    n = 50
    hip = np.zeros((n, 3))
    knee = np.tile([0.12, 0.0, -0.42], (n, 1))
    ankle = np.tile([0.0, 0.0, -0.72], (n, 1)) + rng.normal(0, 0.02, (n, 3))
    target = ankle + rng.normal(0, 0.02, (n, 3))
    du, dl = two_bone_ik(hip, knee, ankle, target, bend_axis=np.tile([1.0, 0, 0], (n, 1)))
    new_knee = np.einsum("tij,tj->ti", du, knee - hip) + hip
    new_ankle = new_knee + np.einsum("tij,tj->ti", du @ dl, ankle - knee)
    assert np.allclose(np.linalg.norm(new_knee - hip, axis=1), np.linalg.norm(knee - hip, axis=1))
    assert np.allclose(np.linalg.norm(new_ankle - new_knee, axis=1), np.linalg.norm(ankle - knee, axis=1))
    reach = np.linalg.norm(knee - hip, axis=1) + np.linalg.norm(ankle - knee, axis=1)
    ok = np.linalg.norm(target - hip, axis=1) < reach - 1e-3
    assert ok.sum() > 40 and np.abs(new_ankle - target)[ok].max() < 1e-6
    # Out of reach: the leg points straight at the target.
    far = ~ok
    direction = (new_ankle - hip)[far] / np.linalg.norm((new_ankle - hip)[far], axis=1, keepdims=True)
    want = (target - hip)[far] / np.linalg.norm((target - hip)[far], axis=1, keepdims=True)
    assert np.allclose(direction, want, atol=1e-6)
    assert np.allclose(rotation_matrices(np.tile([0, 0, 1.0], (1, 1)), np.array([np.pi / 2]))[0] @ [1, 0, 0],
                       [0, 1, 0])


def test_resample() -> None:
    x = np.arange(31, dtype=float)[:, None] * 2.0  # 1 s at 30 fps
    y = resample_positions(x, 30.0, 24.0)
    assert len(y) == 25 and np.allclose(y[:, 0], np.arange(25) * 2.5)
    q = _axis_angle(np.tile([0, 0, 1.0], (31, 1)), np.linspace(0, 1, 31))
    r = resample_quaternions(q, 30.0, 60.0)
    expect = _axis_angle(np.tile([0, 0, 1.0], (61, 1)), np.linspace(0, 1, 61))
    assert np.allclose(np.abs(np.sum(r * expect, axis=1)), 1.0)
    assert np.allclose(quat_normalize(np.zeros((1, 4))), [[1, 0, 0, 0]])


def test_matrix_quaternion_round_trip() -> None:
    from engine.filters import matrix_to_quat, quat_to_matrix

    rng = np.random.default_rng(5)
    q = quat_normalize(rng.normal(size=(500, 4)))
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    m = quat_to_matrix(q)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(matrix_to_quat(m), q, atol=1e-9)
    # Half turns (w == 0) are the hard case for the trace formula.
    half = _axis_angle(rng.normal(size=(20, 3)), np.full(20, np.pi))
    assert np.allclose(np.abs(np.sum(matrix_to_quat(quat_to_matrix(half)) * half, axis=1)), 1.0)


def test_reduce_keys_bound_holds_for_any_curve() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    @settings(max_examples=60, deadline=None)
    @given(arrays(np.float64, st.tuples(st.integers(2, 80), st.integers(1, 3)),
                  elements=st.floats(-100, 100, allow_nan=False)),
           st.floats(0.001, 10.0))
    def check(values: np.ndarray, tol: float) -> None:
        frames = np.arange(len(values), dtype=float)
        keep = reduce_keys(frames, values, tol)
        assert keep[0] and keep[-1]
        cols = range(values.shape[1])
        approx = np.stack([np.interp(frames, frames[keep], values[keep, c]) for c in cols], axis=1)
        assert np.abs(approx - values).max() <= tol + 1e-9

    check()
