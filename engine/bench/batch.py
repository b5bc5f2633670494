"""Batch bench: N copies of the sample video (samples/pose2sim_cam01.mp4, 100 frames, 1080x1920) captured by
`engine batch` with local workers and on Ray (a local instance the batch starts itself), against N runs of
`engine capture` one after the other. Each is a fresh command, timed from start to exit, as a user runs it.

Rows: library frames/s, and the overhead per video in seconds: wall time / N less one warm capture of the
clip in this process (`run_capture` with its networks' files cached and its code imported): what a video costs
beyond the capture itself (process start, imports, network loading, the manifest, Ray's start and transfers),
less whatever the workers gain by running side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
N = 4


def _timed(cmd: list) -> float:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "engine", *map(str, cmd)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:2]))} exited {r.returncode}: {r.stderr.strip()[-200:]}")
    return time.perf_counter() - t


def _warm_capture_seconds(video: Path, out: Path) -> tuple[float, int]:
    from ..capture import run_capture

    run_capture(str(video), str(out / "warm.npz"))
    t = time.perf_counter()
    take = run_capture(str(video), str(out / "warm.npz"))
    return time.perf_counter() - t, len(take["valid"])


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="monocap-bench-batch-") as tmp:
        tmp = Path(tmp)
        lib = tmp / "lib"
        lib.mkdir()
        for i in range(N):
            shutil.copy(SAMPLE, lib / f"copy{i}.mp4")
        t_cap, frames = _warm_capture_seconds(SAMPLE, tmp)
        total = N * frames
        rows.append({"name": "one capture, warm, in-process", "value": frames / t_cap, "unit": "frames/s",
                     "note": f"{t_cap:.2f} s for the {frames}-frame clip: the reference for the overheads"})
        runs = {"sequential": lambda: sum(_timed(["capture", lib / f"copy{i}.mp4", "-o", tmp / "seq" / f"{i}.npz",
                                                  "--progress", "none"]) for i in range(N))}
        cores = os.cpu_count() or 1
        for workers in sorted({1, max(1, cores // 2), cores}):
            runs[f"batch, {workers} local worker(s)"] = (
                lambda w=workers: _timed(["batch", lib, "--out", tmp / f"local{w}", "--workers", w, "--progress",
                                          "none"]))
        runs["batch, --ray (local instance, started by the batch)"] = (
            lambda: _timed(["batch", lib, "--out", tmp / "ray", "--ray", "--progress", "none"]))
        for name, fn in runs.items():
            wall = fn()
            rows.append({"name": f"{name}: library", "value": total / wall, "unit": "frames/s",
                         "note": f"{N} x {frames} frames in {wall:.1f} s"})
            rows.append({"name": f"{name}: overhead per video", "value": wall / N - t_cap, "unit": "s",
                         "note": "wall / N - one warm capture"})
    return rows
