"""Lifter bench: temporal lifter frames/s on CPU (whole-sequence convolution), rotation solve frames/s,
and the whole 3D completion of a take (lift, level, solve, contacts) in frames/s."""

from __future__ import annotations

import time

import numpy as np

from .. import skeleton as sk

N_FRAMES = 9_000  # five minutes at 30 fps


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def synthetic_2d(n: int = N_FRAMES, seed: int = 0) -> np.ndarray:
    """A standing person swaying, seen in a 1920x1080 image: (n, 33, 3) pixels + confidence."""
    from ..lifter.keypoints import K
    rng = np.random.default_rng(seed)
    base = rng.uniform([800, 200], [1100, 900], (K, 2))
    t = np.arange(n)[:, None, None] / 30.0
    xy = base + 20 * np.sin(t * np.array([1.3, 0.7])) + rng.normal(0, 1.5, (n, K, 2))
    return np.concatenate([xy, np.full((n, K, 1), 0.9)], -1).astype(np.float32)


def run() -> list[dict]:
    import os

    from ..lifter.data import normalise_pixels
    from ..lifter.infer import Lifter
    from ..motion.rotations import forward_kinematics, solve_rotations
    from ..motion.take3d import complete_take

    threads = min(2, os.cpu_count() or 1)
    lifter = Lifter(threads=threads)
    px = synthetic_2d()
    kp = normalise_pixels(px, (1920, 1080))
    valid = np.ones(N_FRAMES, dtype=bool)
    lifter.predict(kp[:200], valid[:200])  # warm-up
    t_lift = _best(lambda: lifter.predict(kp, valid))

    rng = np.random.default_rng(1)
    q = rng.normal(size=(N_FRAMES, sk.J, 4))
    q[..., 0] += 2.0
    q[:, 0] = (1, 0, 0, 0)
    joints, _ = forward_kinematics(sk.REST_OFFSETS, q, rng.normal(size=(N_FRAMES, 3)))
    t_solve = _best(lambda: solve_rotations(joints))
    t_take = _best(lambda: complete_take(px, valid, (1920, 1080), 30.0), repeat=2)
    rf = lifter.receptive_field
    rows = []
    from ..profiles import torch_installed

    if torch_installed() and lifter.runtime != "torch":  # the gpu profile: the torch lifter beside it
        by_torch = Lifter(threads=threads, runtime="torch")
        by_torch.predict(kp[:200], valid[:200])
        t_torch = _best(lambda: by_torch.predict(kp, valid))
        rows.append({"name": "lifter_cpu_torch", "value": N_FRAMES / t_torch, "unit": "frames/s",
                     "note": f"as lifter_cpu on torch, {'bfloat16' if by_torch.bf16 else 'float32'} "
                             f"({t_torch:.2f} s)"})
    return rows + [
        {"name": "lifter_cpu", "value": N_FRAMES / t_lift, "unit": "frames/s",
         "note": f"temporal lifter, receptive field {rf}, {lifter.n_members} network(s), {N_FRAMES} frames in "
                 f"one sequence, each seen {2 * len(lifter.rolls_deg)} ways (test-time rolls and mirrors) by "
                 f"each network, {lifter.runtime}, {'bfloat16' if lifter.bf16 else 'float32'}, {threads} threads "
                 f"({t_lift:.2f} s)"},
        {"name": "rotation_solve", "value": N_FRAMES / t_solve, "unit": "frames/s",
         "note": f"27-joint canonical skeleton, numpy, {N_FRAMES} frames ({t_solve:.2f} s)"},
        {"name": "complete_take", "value": N_FRAMES / t_take, "unit": "frames/s",
         "note": f"2D pixels -> lift, level, rotations, contacts, {N_FRAMES} frames ({t_take:.2f} s)"},
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']}: {r['value']:,.0f} {r['unit']} ({r['note']})")
