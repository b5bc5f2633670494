"""Batch bench: N copies of the sample video (samples/pose2sim_cam01.mp4, 100 frames, 1080x1920) captured by
`engine batch` with local workers and on Ray (a local instance the batch starts itself), against N runs of
`engine capture` one after the other. Each is a fresh command, timed from start to exit, as a user runs it.

Rows: library frames/s, and the overhead per video in seconds: wall time / N less one warm capture of the
clip in this process (`run_capture` with its code imported and its networks loaded, one inference thread as
the batch's workers have): what a video costs beyond the capture itself (process start, imports, loading the
networks, the manifest, Ray's start and transfers), less whatever the workers gain by running side by side.
The machine's load swings from second to second (other users): the modes are run in turns, REPEATS times,
and each keeps its best.
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
N = int(os.environ.get("MONOCAP_BENCH_BATCH_N", "4"))  # copies; the fixed costs (Ray's start) weigh less with more
REPEATS = 2


def _timed(cmd: list) -> float:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "engine", *map(str, cmd)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:2]))} exited {r.returncode}: {r.stderr.strip()[-200:]}")
    return time.perf_counter() - t


def _warm_capture(video: Path, out: Path):
    """A function timing one capture of `video` in this process with the networks loaded: (seconds, frames)."""
    from ..capture import run_capture

    nets: dict = {}
    run_capture(str(video), str(out / "warm.npz"), threads=1, nets_cache=nets)

    def once() -> tuple[float, int]:
        t = time.perf_counter()
        takes = run_capture(str(video), str(out / "warm.npz"), threads=1, nets_cache=nets)
        return time.perf_counter() - t, len(takes[0]["valid"])
    return once


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="monocap-bench-batch-") as tmp:
        tmp = Path(tmp)
        lib = tmp / "lib"
        lib.mkdir()
        for i in range(N):
            shutil.copy(SAMPLE, lib / f"copy{i}.mp4")
        warm = _warm_capture(SAMPLE, tmp)
        t_cap, frames = warm()
        total = N * frames
        runs = {"sequential": lambda: sum(_timed(["capture", lib / f"copy{i}.mp4", "-o", tmp / "out" / f"{i}.npz",
                                                  "--progress", "none"]) for i in range(N))}
        cores = os.cpu_count() or 1
        for workers in sorted({1, max(1, cores // 2), cores}):
            runs[f"batch, {workers} local worker(s)"] = (
                lambda w=workers: _timed(["batch", lib, "--out", tmp / "out", "--workers", w, "--progress",
                                          "none"]))
        runs["batch, --ray (local instance, started by the batch)"] = (
            lambda: _timed(["batch", lib, "--out", tmp / "out", "--ray", "--progress", "none"]))
        walls = {name: float("inf") for name in runs}
        for _ in range(REPEATS):
            for name, fn in runs.items():
                shutil.rmtree(tmp / "out", ignore_errors=True)
                walls[name] = min(walls[name], fn())
            t_cap = min(t_cap, warm()[0])
        rows.append({"name": "one capture, warm, in-process", "value": frames / t_cap, "unit": "frames/s",
                     "note": f"{t_cap:.2f} s for the {frames}-frame clip, networks loaded: the reference for the "
                             "overheads"})
        for name, wall in walls.items():
            rows.append({"name": f"{name}: library", "value": total / wall, "unit": "frames/s",
                         "note": f"{N} x {frames} frames in {wall:.1f} s"})
            rows.append({"name": f"{name}: overhead per video", "value": wall / N - t_cap, "unit": "s",
                         "note": "wall / N - one warm capture"})
    return rows
