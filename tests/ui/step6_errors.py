"""Step 6 (in Blender, in the session of steps 2, 3 and 5, after 3): Capture clicked with a broken engine
Python (one without the engine's packages: Debian's own python3 in the chroot), then with a video that does
not exist. Each time the user gets one ERROR line (read back from the Info editor, which replaces the Timeline
meanwhile) and the scene is exactly as before."""

import os
import sys

sys.path.insert(0, os.environ["MONOCAP_UI_TESTS"])

import bpy  # noqa: E402
import driver as d  # noqa: E402
from blender_state import scene_state  # noqa: E402
from step1_preferences import ADDON  # noqa: E402

ROOT = os.environ["MONOCAP_UI_ROOT"]
VIDEO = os.path.join(ROOT, "samples", "pose2sim_cam01.mp4")
MISSING = os.path.join(ROOT, "samples", "no-such-dance.mp4")
BROKEN_PYTHON = "/usr/bin/python3"  # Debian's Python: runs, but has no torch (nor the rest of the engine)


def capture_refused(ev, area, found, name: str, seen: int):
    """Click Capture; returns the report lines that came since `seen`."""
    before = scene_state()
    yield from ev.click(*d.find(found, "monocap.capture()"), pause=1.0)
    s = bpy.context.scene.monocap
    yield from d.wait_until(lambda: not s.running, 120, "the capture to end")
    yield 1.0
    d.screenshot(name)
    yield from ev.move(*d.center(d.region_of(area, "WINDOW")), pause=0.5)  # the report's popup goes
    lines = d.report_lines()[seen:]
    d.RESULT["step6"][name] = {"reports": lines, "same": scene_state() == before}
    return lines


def step6(ev, area, found):
    """Runs in the capture session after step 3 (one Blender start less); the Timeline becomes an Info
    editor, the log the test reads."""
    timeline = d.area_of("DOPESHEET_EDITOR")
    timeline.ui_type = "INFO"
    yield from d.redrawn(area)
    yield from ev.click(*d.find(found, ".monocap.video"))
    yield from ev.key("A", ctrl=True)
    yield from ev.type_text(VIDEO)
    yield from ev.key("RET", pause=0.5)
    prefs = bpy.context.preferences.addons[ADDON].preferences
    good_python = prefs.engine_python
    prefs.engine_python = BROKEN_PYTHON
    seen = len(d.report_lines())
    d.RESULT["step6"] = {}
    lines = yield from capture_refused(ev, area, found, "broken-python", seen)
    seen += len(lines)
    prefs.engine_python = good_python
    yield from ev.click(*d.find(found, ".monocap.video"))
    yield from ev.key("A", ctrl=True)
    yield from ev.type_text(MISSING)
    yield from ev.key("RET", pause=0.5)
    lines = yield from capture_refused(ev, area, found, "missing-video", seen)
    timeline.ui_type = "TIMELINE"
