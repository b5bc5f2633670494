"""Key reduction: keep the fewest keys such that linear interpolation between kept keys stays within a
tolerance of every original sample (Ramer-Douglas-Peucker over time, all channels of a value together)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ErrorFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _abs_error(orig: np.ndarray, approx: np.ndarray) -> np.ndarray:
    return np.max(np.abs(orig - approx).reshape(len(orig), -1), axis=1)


def reduce_keys(frames: np.ndarray, values: np.ndarray, tolerance: float,
                error: ErrorFn | None = None) -> np.ndarray:
    """Boolean mask of keys to keep. frames: (T,), values: (T, C) sampled keys.

    error(orig (N, C), approx (N, C)) -> (N,) is the distance measure (default: max abs per channel);
    use an angular one for quaternions. The first and last keys are always kept.
    """
    frames = np.asarray(frames, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(len(frames), -1)
    error = error or _abs_error
    n = len(frames)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        u = ((frames[i + 1:j] - frames[i]) / (frames[j] - frames[i]))[:, None]
        approx = values[i] * (1.0 - u) + values[j] * u
        err = error(values[i + 1:j], approx)
        k = int(np.argmax(err))
        if err[k] > tolerance:
            mid = i + 1 + k
            keep[mid] = True
            stack.append((i, mid))
            stack.append((mid, j))
    return keep


def quaternion_error(orig: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Angle in degrees between (N, 4) rotations, renormalising the interpolated ones."""
    a = orig / np.linalg.norm(orig, axis=1, keepdims=True)
    b = approx / np.maximum(np.linalg.norm(approx, axis=1, keepdims=True), 1e-12)
    return np.degrees(2.0 * np.arccos(np.clip(np.abs(np.sum(a * b, axis=1)), 0.0, 1.0)))


def euclidean_error(orig: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Distance between (N, C) points."""
    return np.linalg.norm(orig - approx, axis=1)
