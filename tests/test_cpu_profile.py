"""The `cpu` install profile (engine/requirements.txt, no torch) in a venv of its own (.venv-cpu, made by
`tools/dev.py` as the demo makes it): a real capture of the sample video to a take, BVH and VMD, with torch
never imported, matching the torch path of this (gpu-profile) environment; and the torch-only commands
saying in one line what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
GENE = ROOT / "assets" / "gene" / "Gene.pmx"

# Runs the engine's command line in-process and reports, at the end, whether torch or the onnx package (which
# the cpu profile leaves out too: the engine writes its ONNX graphs itself) was ever imported.
CAPTURE = r"""
import json, sys
from engine.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
                  "onnx": sorted(m for m in sys.modules if m == "onnx" or m.startswith("onnx."))}))
"""


@pytest.fixture(scope="module")
def cpu_python() -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import dev
    finally:
        sys.path.pop(0)
    return dev.ensure_env("cpu")


def _run(python: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    cmd = [str(python), "-c", script, *args] if script else [str(python), "-m", "engine", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_cpu_profile_has_no_torch(cpu_python) -> None:
    r = _run(cpu_python, script="import importlib.util as u; print(u.find_spec('torch') is None, "
                                "u.find_spec('onnxruntime') is not None)")
    assert r.stdout.split() == ["True", "True"], r.stderr
    # nor LiteRT, nor the onnx package: ONNX Runtime runs every graph, written by engine/onnx_proto.py
    pins = [ln.split("#")[0].strip() for ln in (ROOT / "engine" / "requirements.txt").read_text().splitlines()]
    assert not [p for p in pins if p.startswith("torch")] and "onnxruntime==1.31.1" in pins
    assert not [p for p in pins if p.startswith(("onnx==", "ai-edge-litert"))]
    assert "-r requirements.txt" in (ROOT / "engine" / "requirements-gpu.txt").read_text()


@pytest.fixture(scope="module")
def cpu_take(cpu_python, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cpu")
    r = _run(cpu_python, "capture", str(SAMPLE), "-o", str(out / "take.npz"), "--bvh", str(out / "take.bvh"),
             "--vmd", str(out / "take.vmd"), "--rig", str(GENE), "--progress", "none", script=CAPTURE)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, json.loads(r.stdout.strip().splitlines()[-1])


def test_a_capture_in_the_cpu_profile_writes_take_bvh_vmd_without_torch(cpu_take) -> None:
    from engine.formats.bvh import read_bvh
    from engine.formats.vmd import read_vmd
    from engine.take import read_take

    out, report = cpu_take
    assert report == {"rc": 0, "torch": [], "onnx": []}
    take = read_take(out / "take.npz")
    assert take["joints3d"].shape[0] == 100 and take["valid"].all()
    bvh = read_bvh(out / "take.bvh")
    assert bvh.motion.shape[0] == 100 and sorted(bvh.names) == sorted(take["joint_names"])
    vmd = read_vmd(out / "take.vmd")
    assert len(vmd.bone_keys.frame) > 100 and "センター" in vmd.bone_keys.name_table


def test_the_cpu_profile_take_matches_the_torch_path(cpu_take, tmp_path, monkeypatch) -> None:
    """Here (torch installed) the same capture with both graphs exported from our torch port (the ONNX the
    engine ran before the ONNX writer) and the torch lifter in float32: 2D within 0.01 px, 3D within 1 mm.
    The detector runs on ONNX Runtime on both sides, as in the cpu profile (which has no LiteRT): another
    runtime's detector moves the first crop by a few hundredths of a pixel, and the tracking carries that
    into differences of pixels later in the clip (median 2 px against LiteRT's detector on this clip)."""
    from engine.capture import run_capture
    from engine.detector import backends
    from engine.lifter import infer
    from engine.motion import take3d
    from engine.take import read_take
    from engine.tflite_torch import onnx_runner

    monkeypatch.setattr(backends, "_litert_available", lambda: False)
    monkeypatch.setattr(onnx_runner, "OnnxModel", partial(onnx_runner.OnnxModel, source="torch"))
    monkeypatch.setattr(infer, "Lifter", partial(infer.Lifter, runtime="torch", bf16=False))
    monkeypatch.setattr(take3d, "_LIFTERS", {})
    run_capture(str(SAMPLE), str(tmp_path / "torch.npz"))
    ours, ref = read_take(cpu_take[0] / "take.npz"), read_take(tmp_path / "torch.npz")
    assert np.array_equal(ours["valid"], ref["valid"])
    assert np.abs(ours["joints2d"][..., :2] - ref["joints2d"][..., :2]).max() < 0.01
    assert np.abs(ours["joints3d"] - ref["joints3d"]).max() < 0.001


def test_torch_only_commands_say_what_to_install(cpu_python, tmp_path) -> None:
    r = _run(cpu_python, "lifter", "train", "--minutes", "0.01")
    assert r.returncode == 1
    assert r.stderr.strip() == ("error: lifter train needs torch, which the cpu profile leaves out: install the gpu "
                                "profile (pip install -r engine/requirements-gpu.txt, or 'Set up engine' with GPU "
                                "in the add-on's preferences)")
    r = _run(cpu_python, "capture", str(SAMPLE), "-o", str(tmp_path / "t.npz"), "--device", "cuda", "--progress",
             "none")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "--device cuda needs torch" in r.stderr and not (tmp_path / "t.npz").exists()
