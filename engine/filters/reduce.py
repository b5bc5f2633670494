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

    Ramer-Douglas-Peucker, run breadth-first: every open segment of one level is measured in a single
    vectorised pass, so the Python loop runs once per level rather than once per kept key.
    """
    frames = np.asarray(frames, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(len(frames), -1)
    error = error or _abs_error
    n = len(frames)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    keep[0] = keep[-1] = True
    starts, ends = np.array([0]), np.array([n - 1])
    while len(starts):
        inner = ends - starts - 1
        open_ = inner > 0
        starts, ends, inner = starts[open_], ends[open_], inner[open_]
        if not len(starts):
            break
        first = np.cumsum(inner) - inner  # where each segment's points begin in the flat arrays
        seg = np.repeat(np.arange(len(starts)), inner)
        idx = starts[seg] + 1 + np.arange(inner.sum()) - first[seg]
        i0, i1 = starts[seg], ends[seg]
        u = ((frames[idx] - frames[i0]) / (frames[i1] - frames[i0]))[:, None]
        err = error(values[idx], values[i0] * (1.0 - u) + values[i1] * u)
        worst = np.maximum.reduceat(err, first)
        # First point of each segment reaching its maximum (as argmax would pick).
        at_max = np.flatnonzero(err == worst[seg])
        segs, pick = np.unique(seg[at_max], return_index=True)
        mid = np.empty(len(starts), dtype=np.int64)
        mid[segs] = idx[at_max[pick]]
        split = worst > tolerance
        keep[mid[split]] = True
        starts, ends = (np.concatenate([starts[split], mid[split]]),
                        np.concatenate([mid[split], ends[split]]))
    return keep


def quaternion_error(orig: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Angle in degrees between (N, 4) rotations, renormalising the interpolated ones."""
    a = orig / np.linalg.norm(orig, axis=1, keepdims=True)
    b = approx / np.maximum(np.linalg.norm(approx, axis=1, keepdims=True), 1e-12)
    return np.degrees(2.0 * np.arccos(np.clip(np.abs(np.sum(a * b, axis=1)), 0.0, 1.0)))


def euclidean_error(orig: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Distance between (N, C) points."""
    return np.linalg.norm(orig - approx, axis=1)
