"""2D capture bench on pose2sim-single/cam01.mp4: decoding, the whole 2D capture per backend, peak memory
against video length, and the peer (mediapipe's legacy Pose solution) in the same run when it is installed.

The peer runs in its own environment (mediapipe pins numpy<2): `MONOCAP_PEER_PYTHON`, or `.venv-peer`
at the repository root (`python -m venv .venv-peer && .venv-peer/bin/pip install mediapipe==0.10.21`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT.parent / "shared" / "data" / "video" / "pose2sim-single" / "cam01.mp4"
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
PEOPLE_VIDEO = ROOT.parent / "shared" / "data" / "video" / "sports2d" / "demo.mp4"  # two people

# The peer is timed as ours is (`_capture_timer`): a warm-up on the first 10 frames, then whole runs over the
# clip (a fresh Pose object each, created outside the timing). Its runs alternate with ours and each side
# keeps its best of REPEATS: this machine's speed swings by 15 % and more from one second to the next.
REPEATS = 3
PEER = r"""
import sys, time, cv2, mediapipe as mp
def run(limit=None):
    cap = cv2.VideoCapture(sys.argv[1]); n = 0
    pose = mp.solutions.pose.Pose(model_complexity=1, static_image_mode=False)
    t = time.perf_counter()
    while limit is None or n < limit:
        ok, f = cap.read()
        if not ok: break
        pose.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)); n += 1
    fps = n / (time.perf_counter() - t)
    pose.close()
    return fps
run(10)
print(run())
"""

# Runs one 2D capture in a fresh process and prints its peak resident memory (MB).
PEAK = r"""
import resource, sys
from engine.detector.backends import PoseNets
from engine.detector.capture2d import capture_2d
from engine.models import ensure_models
from engine.video import probe
p = ensure_models()
nets = PoseNets(p["pose_detection"], p["pose_landmark_full"], device="cpu")
capture_2d(nets, probe(sys.argv[1]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _video() -> Path:
    return VIDEO if VIDEO.exists() else SAMPLE


def _decode_fps(path: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n, t = 0, time.perf_counter()
    while cap.read()[0]:
        n += 1
    return n / (time.perf_counter() - t)


def _capture_timer(backend: str, path: Path, device: str = "cpu", cuda_graphs: bool = True):
    """Networks loaded and warmed up (10 frames); returns a function that times one whole capture (frames/s)."""
    from ..detector.backends import PoseNets
    from ..detector.capture2d import capture_2d
    from ..models import ensure_models
    from ..video import probe

    p = ensure_models()
    nets = PoseNets(p["pose_detection"], p["pose_landmark_full"], device=device, backend=backend,
                    cuda_graphs=cuda_graphs)
    info = probe(path)
    capture_2d(nets, info, 0, 10)

    def once() -> float:
        t = time.perf_counter()
        capture_2d(nets, info)
        return info.frame_count / (time.perf_counter() - t)
    return once


def _peer_fps(python: str, path: Path) -> float | str:
    """One timed run of the peer in a fresh process (after its warm-up); the error text if it fails."""
    r = subprocess.run([python, "-c", PEER, str(path)], capture_output=True, text=True)
    return float(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else r.stderr[-80:]


def _longer_copy(path: Path, times: int, out: Path) -> None:
    """The clip played `times` times back to back (re-encoded), to see memory against length."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames_fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    wr = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), frames_fps, (w, h))
    for _ in range(times):
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        while True:
            ok, f = cap.read()
            if not ok:
                break
            wr.write(f)
    wr.release()


def _peak_mb(path: Path) -> float:
    r = subprocess.run([sys.executable, "-c", PEAK, str(path)], cwd=ROOT, capture_output=True, text=True,
                       check=True)
    return float(r.stdout.strip().splitlines()[-1])


def _peer_python() -> str | None:
    env = os.environ.get("MONOCAP_PEER_PYTHON")
    if env:
        return env
    local = ROOT / ".venv-peer" / "bin" / "python"
    return str(local) if local.exists() else None


def _cuda_rows(video: Path) -> list[dict]:
    """The whole capture on the GPU, when torch sees one: through CUDA graphs (the default) and eager."""
    from ..profiles import torch_installed

    if not torch_installed():
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    gpu = torch.cuda.get_device_name(0)
    rows = []
    for graphs in (True, False):
        once = _capture_timer("torch", video, device="cuda", cuda_graphs=graphs)
        rows.append({"name": f"whole 2D capture, --device cuda{'' if graphs else ', eager'}",
                     "value": max(once() for _ in range(REPEATS)), "unit": "frames/s",
                     "note": f"{gpu}, float32, {'CUDA graphs (default)' if graphs else 'no CUDA graphs'}; "
                             f"best of {REPEATS}"})
    return rows


def _people_rows() -> list[dict]:
    """Everyone on the two-person clip (sports2d): frames/s, and frames/s x people (the work grows with the
    people followed, the decoding and the scan do not), beside the most prominent person alone."""
    from ..detector.backends import PoseNets
    from ..detector.capture2d import capture_2d
    from ..models import ensure_models
    from ..video import probe

    if not PEOPLE_VIDEO.exists():
        return []
    p = ensure_models()
    nets = PoseNets(p["pose_detection"], p["pose_landmark_full"], device="cpu")
    info = probe(PEOPLE_VIDEO)
    capture_2d(nets, info, 0, 10)
    rows = []
    for person, what in ((None, "the most prominent person (auto)"), ("all", "everyone (all)")):
        best, people = 0.0, 1
        for _ in range(REPEATS):
            t = time.perf_counter()
            people = len(capture_2d(nets, info, person=person).people)
            best = max(best, info.frame_count / (time.perf_counter() - t))
        rows.append({"name": f"whole 2D capture, sports2d, {what}, CPU", "value": best, "unit": "frames/s",
                     "note": f"{people} person(s); {best * people:.1f} frames/s x people; best of {REPEATS}"})
    return rows


def run() -> list[dict]:
    video = _video()
    rows = [{"name": "decode (OpenCV, 1080x1920)", "value": _decode_fps(video), "unit": "frames/s",
             "note": video.name}]
    notes = {"auto": "default: LiteRT detector + landmarks on ONNX Runtime", "litert": "both graphs on LiteRT",
             "torch": "both graphs on our torch interpreter",
             "onnx": "both graphs on ONNX Runtime (ONNX written from the .tflite)"}
    peer = _peer_python()
    ours, peer_runs = {}, []
    from ..detector.backends import _litert_available
    from ..profiles import torch_installed

    if not _litert_available():  # a profile without LiteRT: auto is ONNX Runtime for both graphs
        notes["auto"] = "default: both graphs on ONNX Runtime (LiteRT is not installed)"
    backends = [b for b, ok in (("auto", True), ("litert", _litert_available()), ("torch", torch_installed()),
                                ("onnx", True)) if ok]
    for backend in backends:
        once = _capture_timer(backend, video)
        runs = []
        for _ in range(REPEATS):
            runs.append(once())
            if backend == "auto" and peer:
                peer_runs.append(_peer_fps(peer, video))
        ours[backend] = max(runs)
        rows.append({"name": f"whole 2D capture, --backend {backend}, CPU", "value": ours[backend],
                     "unit": "frames/s", "note": notes[backend] + f"; decode, scan, tracking included; best of "
                                                               f"{REPEATS}"})
    rows += _people_rows()
    rows += _cuda_rows(video)
    failed = [r for r in peer_runs if isinstance(r, str)]
    if not peer:
        rows.append({"name": "peer: not installed", "value": float("nan"), "unit": "",
                     "note": "set MONOCAP_PEER_PYTHON or make .venv-peer"})
    elif failed:
        rows.append({"name": "peer: FAILED", "value": float("nan"), "unit": "", "note": failed[0]})
    else:
        fps = max(peer_runs)
        rows.append({"name": "peer: mediapipe 0.10.21 Pose (complexity 1)", "value": fps, "unit": "frames/s",
                     "note": f"same video, runs alternating with ours (auto); best of {REPEATS}"})
        rows.append({"name": "whole 2D capture (auto) / peer", "value": ours["auto"] / fps, "unit": "x",
                     "note": "target >= 2"})
    with tempfile.TemporaryDirectory() as tmp:
        long_video = Path(tmp) / "x4.mp4"
        _longer_copy(video, 4, long_video)
        short, long_ = _peak_mb(video), _peak_mb(long_video)
    rows.append({"name": "peak memory, 2D capture, 1x clip", "value": short, "unit": "MB", "note": "100 frames"})
    rows.append({"name": "peak memory, 2D capture, 4x clip", "value": long_, "unit": "MB",
                 "note": "400 frames: flat = streamed"})
    return rows


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
