"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass whose cutoff rises with speed,
so slow motion loses its jitter and fast motion keeps little lag."""

from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.0,
             d_cutoff: float = 1.0) -> np.ndarray:
    """Filter `x`: (T, ...) sampled at `fps`, along axis 0; every trailing element is its own channel.

    min_cutoff (Hz) sets smoothing at rest; beta scales how fast the cutoff rises with speed.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    dt = 1.0 / fps
    y = np.empty_like(x)
    y[0] = x[0]
    dx = np.zeros_like(x[0])
    a_d = _alpha(d_cutoff, dt)
    for t in range(1, len(x)):
        raw_dx = (x[t] - y[t - 1]) / dt
        dx = dx + a_d * (raw_dx - dx)
        a = _alpha(min_cutoff + beta * np.abs(dx), dt)
        y[t] = y[t - 1] + a * (x[t] - y[t - 1])
    return y
