"""Bake speed: 10,000 frames x 22 bones with keyframe_points.add + foreach_set, against the naive
keyframe_insert loop (timed on fewer frames and extrapolated). Run with a Blender venv's Python:

    .venv-blender50/bin/python tools/bench_bake.py

Prints one JSON object per line: {"name", "value", "unit", "note"}.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import bpy
from addon_loader import load_addon  # sibling module: tools/ is on sys.path for scripts
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRAMES, BONES, NAIVE_FRAMES = 10_000, 22, 200


def _take(frames: int) -> dict:
    """A 22-joint chain skeleton with smooth random rotations."""
    rng = np.random.default_rng(0)
    parents = np.arange(-1, BONES - 1)
    offsets = np.tile([0.0, 0.1, 0.0], (BONES, 1))
    angles = np.cumsum(rng.normal(0, 0.02, (frames, BONES, 3)), axis=0)
    half = np.linalg.norm(angles, axis=-1, keepdims=True) / 2
    axis = angles / np.maximum(2 * half, 1e-9)
    rot = np.concatenate([np.cos(half), axis * np.sin(half)], axis=-1)
    return {"fps": 30.0, "joint_names": [f"J{i:02d}" for i in range(BONES)], "parents": parents,
            "rest_offsets": offsets, "rotations": rot, "joints3d": np.zeros((frames, BONES, 3)),
            "contacts": np.zeros((frames, 4), bool)}


def _row(name: str, value: float, unit: str, note: str) -> None:
    print(json.dumps({"name": name, "value": round(value, 4), "unit": unit, "note": note}), flush=True)


def main() -> None:
    load_addon()
    from monocap.blender_lib.take.armature import build_armature
    from monocap.blender_lib.take.bake import bake_take

    ctx = bpy.context
    take = _take(FRAMES)
    obj = build_armature(ctx, "Bench", take["joint_names"], take["parents"], take["rest_offsets"])
    t0 = time.perf_counter()
    bake_take(ctx, obj, take, frame_start=1)
    fast = time.perf_counter() - t0
    keys = FRAMES * (BONES * 4 + 3)
    _row("bake_foreach_set", fast, "s", f"{FRAMES} frames x {BONES} bones ({keys} keys), Blender "
         f"{bpy.app.version_string}, whole bake_take incl. maths")

    # Graph Editor cleanup on the same 10,000-frame bake (all bones).
    from monocap.blender_lib.actions import compat
    from monocap.blender_lib.cleanup import fcurves

    groups = fcurves.group_fcurves((obj, fc) for fc in compat.channels(obj))
    steps = (("cleanup_smooth_butterworth", lambda: fcurves.smooth(groups, 30.0, "BUTTERWORTH", 6.0)),
             ("cleanup_fix_flips", lambda: fcurves.fix_flips(groups)),
             ("cleanup_reduce_keys", lambda: fcurves.reduce(groups, 0.5, 0.5)))
    for name, run in steps:
        t0 = time.perf_counter()
        run()
        _row(name, time.perf_counter() - t0, "s", f"{FRAMES} frames x {BONES} bones, all channels")

    # Naive: set the pose and keyframe_insert every channel, frame by frame.
    obj.animation_data_clear()
    pbones = [obj.pose.bones[n] for n in take["joint_names"]]
    rot = take["rotations"]
    t0 = time.perf_counter()
    for f in range(NAIVE_FRAMES):
        for j, pb in enumerate(pbones):
            pb.rotation_quaternion = rot[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        pbones[0].location = (0.0, 0.0, 0.0)
        pbones[0].keyframe_insert("location", frame=f + 1)
    naive = (time.perf_counter() - t0) * FRAMES / NAIVE_FRAMES
    _row("bake_keyframe_insert", naive, "s", f"naive keyframe_insert loop timed on {NAIVE_FRAMES} frames, "
         f"extrapolated to {FRAMES} (insertion cost grows with curve length, so this is a lower bound)")
    _row("bake_speedup", naive / fast, "x", "keyframe_insert time / foreach_set time")


if __name__ == "__main__":
    main()
