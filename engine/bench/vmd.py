"""VMD bench: write and read bone keys per second on a synthetic 2,000,000-key motion, and peak memory."""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from ..formats.vmd import VmdBoneKeys, VmdMotion, curves_to_interpolation, read_vmd, vmd_to_bytes, write_vmd

N_BONES = 200
N_FRAMES = 10_000  # 200 bones x 10,000 frames = 2,000,000 keys (a 222 MB file)


def synthetic_motion(n_bones: int = N_BONES, n_frames: int = N_FRAMES, seed: int = 0) -> VmdMotion:
    """Keys grouped by bone (as MMD writes them), random unit rotations and eased curves."""
    rng = np.random.default_rng(seed)
    n = n_bones * n_frames
    table = [f"ボーン{i:03d}" for i in range(n_bones)]  # 11 bytes in cp932
    rot = rng.normal(size=(n, 4)).astype(np.float32)
    rot /= np.linalg.norm(rot, axis=1, keepdims=True)
    curves = rng.integers(0, 128, size=(64, 4, 4))
    keys = VmdBoneKeys(
        table, np.repeat(np.arange(n_bones, dtype=np.int32), n_frames), None,
        frame=np.tile(np.arange(n_frames, dtype=np.uint32), n_bones),
        position=rng.normal(size=(n, 3)).astype(np.float32),
        rotation=rot,
        interpolation=curves_to_interpolation(curves)[rng.integers(0, 64, n)],
    )
    return VmdMotion(model_name="bench", bone_keys=keys)


def _best(fn, repeats: int = 2) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run() -> list[dict]:
    motion = synthetic_motion()
    n = len(motion.bone_keys)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.vmd")
        t_bytes = _best(lambda: vmd_to_bytes(motion))
        t_write = _best(lambda: write_vmd(path, motion))
        size = os.path.getsize(path)
        data = Path(path).read_bytes()
        t_parse = _best(lambda: read_vmd(data))
        t_read = _best(lambda: read_vmd(path))
        # Peak memory of the heap (numpy reports its buffers to tracemalloc), one pass each.
        tracemalloc.start()
        write_vmd(path, motion)
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        data = b""  # free the copy before measuring the read's own peak
        tracemalloc.start()
        back = read_vmd(path)
        _, peak_read = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(back.bone_keys) == n
    note = f"{n:,} keys, {N_BONES} bones, file {size / 1e6:.0f} MB"
    results.append({"name": "vmd_write_bone_keys", "value": n / t_write, "unit": "keys/s",
                    "note": f"{note}; write_vmd to disk, atomic ({t_write:.2f} s)"})
    results.append({"name": "vmd_serialise_bone_keys", "value": n / t_bytes, "unit": "keys/s",
                    "note": f"{note}; vmd_to_bytes in memory ({t_bytes:.2f} s)"})
    results.append({"name": "vmd_read_bone_keys", "value": n / t_read, "unit": "keys/s",
                    "note": f"{note}; read_vmd from disk incl. name interning ({t_read:.2f} s)"})
    results.append({"name": "vmd_parse_bone_keys", "value": n / t_parse, "unit": "keys/s",
                    "note": f"{note}; read_vmd from bytes ({t_parse:.2f} s)"})
    results.append({"name": "vmd_write_peak_memory", "value": peak_write / 1e6, "unit": "MB",
                    "note": f"{note}; tracemalloc peak during write_vmd, motion arrays not counted"})
    results.append({"name": "vmd_read_peak_memory", "value": peak_read / 1e6, "unit": "MB",
                    "note": f"{note}; tracemalloc peak during read_vmd (file bytes + arrays)"})
    return results


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:28s} {row['value']:>14,.0f} {row['unit']:7s} {row['note']}")
