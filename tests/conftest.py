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
