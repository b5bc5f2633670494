"""The engine's two install profiles and the check for torch, which only the `gpu` profile installs.

- `cpu` (the default, `engine/requirements.txt`): numpy, OpenCV, ONNX Runtime, safetensors, the TFLite schema.
  A whole capture runs on it: every BlazePose graph (body and hands) and the lifter on ONNX Runtime, their
  ONNX graphs written from the model files without torch or the `onnx` package (`tflite_onnx`,
  `lifter.onnx_graph`, `onnx_proto`). A venv of 294 MB (298 MB once a capture has run: Python's __pycache__).
- `gpu` (`engine/requirements-gpu.txt`): the `cpu` profile plus torch, for CUDA and for `lifter train`.

`DOWNLOAD_MB` is what the add-on shows before it starts: the wheels pip fetches for Linux x86-64, Python
3.11, from PyPI alone, measured 2026-12-06 (cpu: 8 wheels, 103 MB, `pip download` of engine/requirements.txt;
gpu: 42 wheels with `pip install --dry-run --report` and the files' sizes when the cpu profile still held
LiteRT and onnx, less those 31 MB; torch's CUDA 13 build with NVIDIA's libraries is 2.7 GB of it). On Windows
the gpu profile takes torch from PyTorch's index (`TORCH_CUDA_INDEX`), a wheel of similar size that
bundles the CUDA libraries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import MonocapError

ENGINE_DIR = Path(__file__).resolve().parent
PROFILES = ("cpu", "gpu")
REQUIREMENTS = {"cpu": ENGINE_DIR / "requirements.txt", "gpu": ENGINE_DIR / "requirements-gpu.txt"}
DOWNLOAD_MB = {"cpu": 103, "gpu": 2844}
# pip's default torch==2.13.0 wheel on Linux is built for CUDA 13.0 (it requires nvidia-cuda-runtime 13.0);
# on Windows the default wheel is CPU-only and the CUDA build comes from PyTorch's own index.
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu130"


class TorchMissing(MonocapError):
    """torch is needed (CUDA, training) but this environment has the `cpu` profile."""

    kind = "torch_missing"


def torch_installed() -> bool:
    """Whether torch can be imported, without importing it."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def require_torch(what: str):
    """The torch module; TorchMissing (one line, what to do) where it is not installed."""
    if not torch_installed():
        raise TorchMissing(f"{what} needs torch, which the cpu profile leaves out: install the gpu profile "
                           f"(pip install -r {REQUIREMENTS['gpu'].relative_to(ENGINE_DIR.parent)}, or "
                           "'Set up engine' with GPU in the add-on's preferences)")
    import torch

    return torch


def installed_profile() -> str:
    """'gpu' where torch is installed, else 'cpu'."""
    return "gpu" if torch_installed() else "cpu"


def report() -> dict:
    """What this environment is: {"profile", "torch" (version or None), "torch_cuda" (the CUDA version torch was
    built for, None for a CPU-only build), "cuda" (a GPU is usable), "gpu" (its name), "line" (one line for the
    add-on's preferences: what is installed and, where the gpu profile sees no GPU, what to do)}."""
    out = {"profile": installed_profile(), "torch": None, "torch_cuda": None, "cuda": False, "gpu": None}
    if out["profile"] == "gpu":
        import torch

        out["torch"] = torch.__version__
        out["torch_cuda"] = torch.version.cuda
        out["cuda"] = bool(torch.cuda.is_available())
        if out["cuda"]:
            out["gpu"] = torch.cuda.get_device_name(0)
    out["line"] = profile_line(out)
    return out


def profile_line(r: dict) -> str:
    """The one line the preferences show for a `report()`."""
    if r.get("profile") == "cpu":
        return "cpu profile: the networks run on the CPU (install the gpu profile for an NVIDIA GPU)"
    if r.get("cuda"):
        return f"gpu profile: CUDA on {r.get('gpu')}"
    if not r.get("torch_cuda"):
        return ("gpu profile, but torch here is a CPU-only build: press 'Set up engine (GPU)' again to fetch the "
                "CUDA build, or use the cpu profile")
    return (f"gpu profile, but torch (CUDA {r['torch_cuda']}) sees no GPU: install or update the NVIDIA driver, "
            "or use the cpu profile")


if __name__ == "__main__":
    # `python -m engine.profiles`: the report as one JSON line (read by the add-on after 'Set up engine')
    print(json.dumps(report()))
    sys.exit(0)
