"""The BlazePose and hand model files: where they live, how they are fetched and verified.

The graphs come from the `mediapipe` wheel on the package registry (Apache-2.0). `fetch_models` asks pip
to download that wheel (never to install it), pulls the `.tflite` files out of it with `zipfile`, checks
their SHA-256 and writes them atomically into the model cache. Nothing is downloaded when the files are
already there with the right hash.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from .errors import ModelError
from .fileio import atomic_write_bytes

MEDIAPIPE_REQUIREMENT = "mediapipe==0.10.21"
# The model files are the same in every platform's wheel; this tag has a cp311 wheel on the registry.
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_PYTHON = "3.11"
RETRY_COMMAND = "python -m engine models fetch"

# name -> (path inside the wheel, SHA-256 of the file), measured on mediapipe-0.10.21-cp311 manylinux_2_28.
MODEL_FILES: dict[str, tuple[str, str]] = {
    "pose_detection": (
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    ),
    "pose_landmark_full": (
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    ),
    # The hands (MediaPipe Hands / Holistic): palm detector, 21-point hand landmarks, and the Holistic
    # re-crop network that refines a hand box guessed from the body's wrist, index, pinky and thumb.
    "palm_detection_full": (
        "mediapipe/modules/palm_detection/palm_detection_full.tflite",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    ),
    "hand_landmark_full": (
        "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
        "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    ),
    "hand_recrop": (
        "mediapipe/modules/holistic_landmark/hand_recrop.tflite",
        "67d996ce96f9d36fe17d2693022c6da93168026ab2f028f9e2365398d8ac7d5d",
    ),
}

Progress = Callable[[str, int, int], None]


def models_dir(override: str | os.PathLike | None = None) -> Path:
    """The model cache folder: `override`, else $MONOCAP_MODELS_DIR, else <user cache>/monocap/models."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("MONOCAP_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "monocap" / "models"


_resolve_dir = models_dir  # fetch_models' parameter shadows the function's name


def model_path(name: str, models_dir: str | os.PathLike | None = None) -> Path:
    """Where model `name` (a key of MODEL_FILES) is stored; the file may not exist yet."""
    if name not in MODEL_FILES:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODEL_FILES)}")
    return _resolve_dir(models_dir) / Path(MODEL_FILES[name][0]).name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _missing(folder: Path) -> list[str]:
    """Names of the models that are absent or whose file does not have the pinned hash."""
    bad = []
    for name, (_, digest) in MODEL_FILES.items():
        path = folder / Path(MODEL_FILES[name][0]).name
        if not path.is_file() or _sha256(path) != digest:
            bad.append(name)
    return bad


def _download_wheel(dest: Path) -> Path:
    """Run pip to download the mediapipe wheel into `dest`; return the wheel's path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", WHEEL_PLATFORM, "--python-version", WHEEL_PYTHON,
        "--disable-pip-version-check", "--no-input", "-d", str(dest), MEDIAPIPE_REQUIREMENT,
    ]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(
            f"could not run pip to download {MEDIAPIPE_REQUIREMENT} ({exc}); retry with: {RETRY_COMMAND}"
        ) from None
    wheels = sorted(dest.glob("mediapipe-*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        why = lines[-1] if lines else f"pip exited with status {proc.returncode}"
        raise ModelError(
            f"could not download {MEDIAPIPE_REQUIREMENT} with pip ({why}); "
            f"check the network connection and retry with: {RETRY_COMMAND}"
        )
    return wheels[0]


def fetch_models(models_dir: str | os.PathLike | None = None, progress: Progress | None = None) -> dict[str, Path]:
    """Make sure every model file is in the cache with the pinned SHA-256; return name -> path.

    Idempotent: when every file is present and verified nothing is downloaded. A file with a wrong hash
    (damaged, truncated) is replaced. Raises ModelError when pip fails or the wheel's files do not match.
    progress(stage, done, total) is called with stages "check", "download" and "extract".
    """
    folder = _resolve_dir(models_dir)
    paths = {name: folder / Path(member).name for name, (member, _) in MODEL_FILES.items()}
    report = progress or (lambda stage, done, total: None)

    report("check", 0, 1)
    todo = _missing(folder)
    report("check", 1, 1)
    if not todo:
        return paths

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model folder {folder}: {exc.strerror}") from None
    with tempfile.TemporaryDirectory(prefix="monocap-models-") as tmp:
        report("download", 0, 1)
        wheel = _download_wheel(Path(tmp))
        report("download", 1, 1)
        try:
            with zipfile.ZipFile(wheel) as zf:
                for i, name in enumerate(todo):
                    report("extract", i, len(todo))
                    member, digest = MODEL_FILES[name]
                    try:
                        data = zf.read(member)
                    except KeyError:
                        raise ModelError(f"{wheel.name} has no {member}; retry with: {RETRY_COMMAND}") from None
                    got = hashlib.sha256(data).hexdigest()
                    if got != digest:
                        raise ModelError(
                            f"{member} from {wheel.name} has SHA-256 {got}, expected {digest}; "
                            f"the download may be damaged, retry with: {RETRY_COMMAND}"
                        )
                    atomic_write_bytes(paths[name], data)
                report("extract", len(todo), len(todo))
        except zipfile.BadZipFile:
            raise ModelError(f"{wheel.name} is not a valid wheel; retry with: {RETRY_COMMAND}") from None
    return paths


def ensure_models(models_dir: str | os.PathLike | None = None, progress: Progress | None = None) -> dict[str, Path]:
    """Return name -> path of the verified model files, fetching them when missing or damaged."""
    return fetch_models(models_dir, progress)
