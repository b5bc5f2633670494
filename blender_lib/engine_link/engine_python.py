"""Finding and checking the engine's Python from Blender: preferences, the extension's user folder, an import
check and the install profile it has. Everything here raises BadInput with a message that says what to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import bpy

from ...engine.errors import BadInput
from .process_jobs import read_profile_marker, venv_python

# The add-on package two levels up from "<addon>.blender_lib.engine_link": "monocap", or
# "bl_ext.<repo>.monocap" when installed.
ADDON_ID = __package__.rsplit(".", 2)[0]
_checked: dict[tuple[str, float], None] = {}


def preferences(context: bpy.types.Context | None = None) -> bpy.types.AddonPreferences | None:
    context = context or bpy.context
    entry = context.preferences.addons.get(ADDON_ID)
    return entry.preferences if entry else None


def user_dir() -> Path:
    """The extension's own writable folder (kept across upgrades); a config folder when run as a plain
    add-on (tests, development checkouts)."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_ID, create=True))
    except (ValueError, RuntimeError, TypeError):
        return Path(bpy.utils.user_resource("CONFIG", path="monocap", create=True))


def default_venv() -> Path:
    return user_dir() / "engine-venv"


def engine_python(context: bpy.types.Context | None = None) -> str:
    """The configured engine Python, or the one 'Set up engine' made; BadInput if there is none."""
    prefs = preferences(context)
    chosen = bpy.path.abspath(prefs.engine_python) if prefs and prefs.engine_python else ""
    if chosen:
        if not os.path.isfile(chosen):
            raise BadInput(f"Engine Python not found: {chosen} (Preferences > Add-ons > Monocap)")
        return chosen
    made = venv_python(default_venv())
    if made.is_file():
        return str(made)
    raise BadInput("No capture engine is set up: press 'Set up engine' in Preferences > Add-ons > Monocap, "
                   "or set 'Engine Python' to a Python that has the engine's requirements")


def check_engine(python: str, timeout: float = 120.0) -> None:
    """BadInput unless `python` has what every install profile has (numpy, OpenCV, ONNX Runtime). A success
    is remembered for the session; a failure is checked again next time, since the user may have set the
    engine up since. Whether torch is there (the gpu profile) is the engine's to say, when it needs it."""
    key = (python, os.path.getmtime(python))
    if key in _checked:
        return
    try:
        proc = subprocess.run([python, "-c", "import numpy, cv2, onnxruntime"], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        problem = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    if problem is None:
        _checked[key] = None
    else:
        raise BadInput(f"The engine Python {python} cannot run the engine ({problem}): press 'Set up engine' "
                       "in the add-on preferences or install engine/requirements.txt into it")


def profile_line(context: bpy.types.Context | None = None) -> str:
    """One line for the preferences: which install profile the engine Python has (and, for the gpu profile
    without a usable GPU, what to do), from what 'Set up engine' found when it finished."""
    try:
        python = engine_python(context)
    except BadInput:
        return "No engine set up yet"
    report = read_profile_marker(python)
    if report is None:
        return "Install profile unknown (this engine Python was not made by 'Set up engine')"
    return str(report.get("line") or report.get("profile"))
