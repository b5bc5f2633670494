"""Zero-phase Butterworth low-pass: design by bilinear transform, run forwards and backwards (filtfilt).

No scipy: the engine and Blender's Python both have numpy only. Orders up to ~6 are well conditioned in
transfer-function form, which is all motion smoothing needs.
"""

from __future__ import annotations

import numpy as np


def butter_lowpass(order: int, cutoff_hz: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Digital Butterworth low-pass coefficients (b, a), a[0] == 1.

    The analog prototype is pre-warped so the -3 dB point lands exactly on `cutoff_hz`.
    """
    if order < 1:
        raise ValueError("order must be >= 1")
    if not 0.0 < cutoff_hz < fs / 2.0:
        raise ValueError(f"cutoff {cutoff_hz} Hz must be between 0 and the Nyquist frequency {fs / 2.0} Hz")
    warped = 2.0 * fs * np.tan(np.pi * cutoff_hz / fs)
    k = np.arange(order)
    poles = warped * np.exp(1j * np.pi * (2 * k + order + 1) / (2 * order))  # left half-plane
    zpoles = (2.0 * fs + poles) / (2.0 * fs - poles)
    a = np.real(np.poly(zpoles))
    b = np.real(np.poly(-np.ones(order)))  # all zeros at z = -1
    b *= a.sum() / b.sum()  # unit gain at DC
    return b, a


def _lfilter_zi(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Initial state for a step response at steady state (direct form II transposed)."""
    n = max(len(a), len(b))
    if n == 1:
        return np.zeros(0)
    companion = np.zeros((n - 1, n - 1))
    companion[0, :] = -a[1:]
    companion[1:, :-1] += np.eye(n - 2) if n > 2 else 0.0
    i_minus_a = np.eye(n - 1) - companion.T
    bb = b[1:] - a[1:] * b[0]
    return np.linalg.solve(i_minus_a, bb)


def _lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """IIR filter along axis 0; `zi` is (n-1, ...) matching x's trailing shape. Loops over time only."""
    n = len(a)
    z = zi.copy()
    y = np.empty_like(x)
    for t in range(x.shape[0]):
        xt = x[t]
        yt = b[0] * xt + z[0]
        for i in range(n - 2):
            z[i] = b[i + 1] * xt + z[i + 1] - a[i + 1] * yt
        z[n - 2] = b[n - 1] * xt - a[n - 1] * yt
        y[t] = yt
    return y


def filtfilt(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Forward-backward filter along axis 0 with odd-reflection padding (no phase shift, no edge jump)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 2:
        return x.copy()
    pad = min(3 * max(len(a), len(b)), n - 1)
    head = 2.0 * x[0] - x[pad:0:-1]
    tail = 2.0 * x[-1] - x[-2:-pad - 2:-1]
    ext = np.concatenate([head, x, tail], axis=0)
    zi = _lfilter_zi(b, a).reshape((-1,) + (1,) * (x.ndim - 1))
    y = _lfilter(b, a, ext, zi * ext[0])
    y = _lfilter(b, a, y[::-1], zi * y[-1])[::-1]
    return y[pad:pad + n]


def lowpass_zero_phase(x: np.ndarray, fs: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth low-pass of `x`: (T, ...) sampled at `fs` Hz, filtered along axis 0.

    filtfilt squares the magnitude response, so the effective order doubles and the cutoff is -6 dB.
    """
    b, a = butter_lowpass(order, cutoff_hz, fs)
    return filtfilt(b, a, x)
