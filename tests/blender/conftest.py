"""Shared fixtures for the Blender tests: the repository root on sys.path, and the add-on loaded from the
repository files as package "monocap" (its name when installed), registered for the whole session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The repository root (for `engine`) and this folder (for monocap_testdata): pytest runs in importlib
# mode (tests/pytest.ini), which puts neither on sys.path.
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tools.addon_loader import load_addon  # noqa: E402  (needs ROOT on sys.path)


@pytest.fixture(scope="session")
def addon() -> Iterator[ModuleType]:
    """The add-on, registered, with its preferences entry present (as Blender's add-on manager does)."""
    import bpy

    module = sys.modules.get("monocap") or load_addon(ROOT)
    module.register()
    prefs = bpy.context.preferences.addons
    if prefs.get("monocap") is None:
        prefs.new().module = "monocap"
    yield module
    module.unregister()
    entry = prefs.get("monocap")
    if entry is not None:
        prefs.remove(entry)


@pytest.fixture()
def clean_scene(addon: ModuleType) -> Iterator[None]:
    """An empty scene for each test that asks (data removed by hand: a factory reset would also reset the
    preferences and with them the registered add-on)."""
    import bpy

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for coll in (bpy.data.armatures, bpy.data.actions, bpy.data.meshes, bpy.data.movieclips,
                 bpy.data.cameras, bpy.data.lights):
        for item in list(coll):
            coll.remove(item)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 250, 1
    yield


@pytest.fixture()
def capture_settings(addon: ModuleType, clean_scene: None) -> Iterator:
    """Sidebar settings pointing at the shared video (its first 12 frames) and the engine venv; restored
    afterwards."""
    import bpy
    from monocap.blender_lib.engine_link.engine_python import preferences
    from monocap_testdata import VIDEO

    engine_python = ROOT / ".venv" / "bin" / "python"
    assert engine_python.is_file(), f"engine venv missing: {engine_python}"
    prefs = preferences()
    prefs.engine_python = str(engine_python)
    s = bpy.context.scene.monocap
    s.video, s.use_range, s.video_start, s.video_end = str(VIDEO), True, 0, 11
    s.target, s.fps_mode, s.smoothing, s.foot_lock, s.root_motion = "NEW", "SCENE", True, True, True
    s.person_mode = "AUTO"
    s.last_take = ""  # a test that captures sees its own take, not an earlier test's
    yield s
    prefs.engine_python = ""
    s.target, s.use_range, s.video = "NEW", False, ""


# bpy 4.2's module teardown at interpreter exit can segfault (seen here after every test passed: exit
# code -11), which would turn a green run red. Once pytest has reported, leave without that teardown.
_EXIT_STATUS = {"code": 0}


def pytest_sessionfinish(session, exitstatus) -> None:
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["code"])
