"""Shared test setup: the repository root on sys.path, the shared data folder, the model files.

Loaded by both the engine suite and the Blender suites, so it imports nothing beyond the standard library
and pytest at module level.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_paths() -> dict:
    """The BlazePose files, fetched into the user cache on first use (as `models fetch` does)."""
    from engine.models import ensure_models

    return ensure_models()


@pytest.fixture(scope="session")
def sports2d_people(tmp_path_factory) -> list[Path]:
    """A real capture of both people of the shared sports2d clip (1.5-3.0 s, 45 frames, hands on): the engine
    CLI in the engine venv, `--person all`; the paths of take_p0.npz and take_p1.npz (about 10 s on one core)."""
    import subprocess

    python = ROOT / ".venv" / "bin" / "python"
    assert python.is_file(), f"engine venv missing: {python}"
    out = tmp_path_factory.mktemp("sports2d") / "take.npz"
    video = SHARED_DATA / "video" / "sports2d" / "demo.mp4"
    proc = subprocess.run([str(python), "-m", "engine", "capture", str(video), "-o", str(out), "--person", "all",
                           "--start", "1.5", "--end", "3.0", "--hands", "--progress", "none"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = sorted(out.parent.glob("take_p*.npz"))
    assert [p.name for p in paths] == ["take_p0.npz", "take_p1.npz"], proc.stderr[-2000:]
    return paths
