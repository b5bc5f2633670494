"""The CUDA path of the 2D capture, on a machine whose torch sees an NVIDIA GPU.

Not part of the default run (CI has no GPU): `python3 tools/dev.py test-gpu`, or
`python -m pytest -c tests/pytest.ini tests/gpu`. Without a GPU these tests fail; they never skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.detector.backends import PoseNets
from engine.detector.capture2d import capture_2d
from engine.take import read_take
from engine.tflite_torch.cuda_graphs import GraphedModule
from engine.tflite_torch.litert_runner import LiteRTModel
from engine.video import probe

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # tests/ for blazepose_inputs
from blazepose_inputs import VIDEO, parity_inputs  # noqa: E402

ROOT = TESTS.parent


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return parity_inputs()


@pytest.fixture(scope="module")
def gpu_nets(model_paths) -> PoseNets:
    assert torch.cuda.is_available(), "torch sees no CUDA GPU: these tests need one"
    return PoseNets(model_paths["pose_detection"], model_paths["pose_landmark_full"], device="auto")


@pytest.fixture(scope="module")
def cpu_nets(model_paths) -> PoseNets:
    return PoseNets(model_paths["pose_detection"], model_paths["pose_landmark_full"], device="cpu")


def test_auto_runs_both_graphs_on_cuda_through_cuda_graphs(gpu_nets):
    assert gpu_nets.device == "cuda" and gpu_nets.name == "torch on cuda"
    assert isinstance(gpu_nets._det, GraphedModule) and isinstance(gpu_nets._lm, GraphedModule)


@pytest.mark.parametrize("graphs", [True, False], ids=["cuda-graphs", "eager"])
def test_cuda_matches_litert(model_paths, inputs, graphs):
    nets = PoseNets(model_paths["pose_detection"], model_paths["pose_landmark_full"], device="cuda",
                    cuda_graphs=graphs)
    x = inputs["pose_detection"]
    boxes, logits = nets.detect(x)
    ref = LiteRTModel(model_paths["pose_detection"])(x)
    assert boxes.shape == (6, 2254, 12) and logits.shape == (6, 2254)
    assert np.abs(boxes - ref[0]).max() <= 2e-5 * np.abs(ref[0]).max()  # anchor-relative pixels
    assert np.abs(_sigmoid(logits) - _sigmoid(ref[1].reshape(6, -1))).max() < 1e-4
    x = inputs["pose_landmark_full"]
    raw, flag = nets.landmarks(x)
    ref = LiteRTModel(model_paths["pose_landmark_full"])(x)
    p, q = raw.reshape(6, 39, 5), ref[0].reshape(6, 39, 5)
    assert np.abs(p[..., :3] - q[..., :3]).max() < 0.5  # x, y, z in pixels of the 256x256 crop
    assert np.abs(_sigmoid(p[..., 3:]) - _sigmoid(q[..., 3:])).max() < 0.01  # visibility, presence
    assert np.abs(flag - ref[1].reshape(6)).max() < 1e-3
    assert ref[1].min() > 0.5  # a person in every crop: real inputs


def test_each_batch_size_gets_its_own_graph(gpu_nets, inputs):
    x = inputs["pose_landmark_full"]
    whole, _ = gpu_nets.landmarks(x)
    for n in (1, 2, 4):
        parts = np.concatenate([gpu_nets.landmarks(x[i:i + n])[0] for i in range(0, 6, n)][:6])[:6]
        assert np.abs(parts - whole).max() <= 1e-4 * np.abs(whole).max()
    assert {1, 2, 4, 6} <= set(gpu_nets._lm.batch_sizes)
    # a wrong shape is still the module's own error, not a failed replay
    with pytest.raises(Exception, match="256, 256, 3"):
        gpu_nets.landmarks(np.zeros((1, 224, 224, 3), np.float32))


def _compare(gpu, cpu) -> tuple[np.ndarray, float]:
    """Keypoint distances (frames, 33) in pixels and the largest hip-centre gap in body heights."""
    assert len(gpu.tracks) == len(cpu.tracks)
    assert np.array_equal(gpu.valid, cpu.valid) and gpu.valid.sum() > 90
    a, b = gpu.joints2d[gpu.valid], cpu.joints2d[cpu.valid]
    d = np.hypot(*(a[..., :2] - b[..., :2]).transpose(2, 0, 1))
    height = np.median(np.abs(b[:, 0, 1] - b[:, [27, 28], 1].mean(1)))
    gap = np.hypot(*(a[:, [23, 24], :2].mean(1) - b[:, [23, 24], :2].mean(1)).T).max() / height
    print(f"CUDA vs CPU: keypoints median {np.median(d):.4f} px, 99th percentile {np.percentile(d, 99):.3f} px, "
          f"max {d.max():.3f} px; hip centres at most {gap:.3f} body heights apart")
    return d, float(gap)


@pytest.mark.parametrize("video, hip_gap", [("pose2sim-single/cam01.mp4", 0.03), ("sports2d/demo.mp4", 0.15)])
def test_capture_on_cuda_follows_the_same_person_as_the_cpu(gpu_nets, cpu_nets, video, hip_gap):
    # The networks agree to 0.003 px (above), but the capture's path is sensitive to the last digits: which
    # ROI a frame is cropped with (speculative batches accept an ROI within ROI_TOLERANCE) moves the landmark
    # graph's answer by a pixel or two. On the CPU alone, the LiteRT detector against ours moved keypoints by
    # a median 1.6 px (max 66) on cam01 and 1.2 px (max 195, fast occluded frames) on sports2d, the hips by
    # at most 0.04 body heights. What must hold is the person: the same frames, the same body throughout.
    info = probe(VIDEO / video)
    d, gap = _compare(capture_2d(gpu_nets, info), capture_2d(cpu_nets, info))
    assert np.median(d) < 3.0 and gap < hip_gap


def test_cli_on_cuda_writes_the_3d_take(tmp_path):
    take = tmp_path / "take.npz"
    proc = subprocess.run([sys.executable, "-m", "engine", "capture", str(VIDEO / "pose2sim-single/cam01.mp4"),
                           "-o", str(take), "--device", "cuda", "--progress", "jsonl"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]
    msgs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {"scan", "landmarks"} <= {m["stage"] for m in msgs if "stage" in m}
    assert msgs[-1] == {"result": str(take)}
    t = read_take(take)
    assert t["joints2d"].shape == (100, 33, 3) and t["valid"].all()
    assert t["joints3d"].shape[0] == 100 and np.isfinite(t["joints3d"]).all()


# -- the hands on CUDA ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hand_clip(cpu_nets):
    """cam01's first 40 frames and the body in them."""
    info = probe(VIDEO / "pose2sim-single/cam01.mp4")
    cap = capture_2d(cpu_nets, info, 0, 40)
    return info, cap


def test_hand_graphs_on_cuda_match_litert_on_real_crops(model_paths, hand_clip):
    from engine.detector import blazepose as bp
    from engine.detector import hands as hd
    from engine.video import iter_frames

    info, cap = hand_clip
    frames = [f for _, f in iter_frames(info, 0, 40)]
    # the hand crops steps 1-2 make (the body's box, refined by the re-crop graph on LiteRT)
    boxes = []
    for k in range(0, 40, 4):
        for side in hd.SIDES:
            w, p, i = hd.BODY_HAND_POINTS[side]
            boxes.append((k, hd.roi_from_body(cap.joints2d[k, w, :2], cap.joints2d[k, p, :2], cap.joints2d[k, i, :2])))
    recrop_in = np.stack([bp.landmark_input(frames[k], roi, hd.RECROP_SIZE) for k, roi in boxes])
    align = LiteRTModel(model_paths["hand_recrop"])(recrop_in)[0].reshape(-1, 2, 2)
    rois = [hd.roi_from_recrop(hd._to_image(a, roi, hd.RECROP_SIZE)) for a, (_, roi) in zip(align, boxes)]
    x = np.stack([bp.landmark_input(frames[k], roi, hd.HAND_SIZE) for (k, _), roi in zip(boxes, rois)])
    nets = hd.HandNets(model_paths["hand_recrop"], model_paths["hand_landmark_full"],
                       model_paths["palm_detection_full"], device="cuda")
    assert set(nets.runtimes.values()) == {"torch"} and isinstance(nets._landmarks, GraphedModule)
    ref = LiteRTModel(model_paths["hand_landmark_full"])(x)
    pts, presence, handed, world = nets.landmarks(x)
    assert np.abs(pts.reshape(ref[0].shape) - ref[0]).max() < 0.5  # pixels of the 224 input
    assert np.abs(presence - ref[1].reshape(-1)).max() < 1e-3
    assert np.abs(world.reshape(ref[3].shape) - ref[3]).max() < 1e-3
    assert (ref[1] > hd.PRESENCE_THRESHOLD).mean() > 0.3  # real hands in the crops


def test_hand_capture_on_cuda_finds_the_hands_the_cpu_finds(model_paths, hand_clip):
    from engine.detector import hands as hd

    info, cap = hand_clip
    runs = {}
    for device in ("cuda", "cpu"):
        nets = hd.HandNets(model_paths["hand_recrop"], model_paths["hand_landmark_full"],
                           model_paths["palm_detection_full"], device=device)
        runs[device] = hd.capture_hands(nets, info, 0, [(cap.joints2d, cap.valid)])[0]
    gpu, cpu = runs["cuda"], runs["cpu"]
    assert (gpu.valid == cpu.valid).mean() > 0.95
    both = gpu.valid & cpu.valid
    gap = np.linalg.norm(gpu.points2d[both][..., :2] - cpu.points2d[both][..., :2], axis=-1)
    assert np.median(gap) < 0.5, np.median(gap)
