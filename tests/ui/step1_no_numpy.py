"""Step 1 without numpy (in Blender): Debian's Blender has no numpy of its own; with python3-numpy hidden,
the installed extension is still enabled, and its entry in Preferences > Add-ons and its sidebar tab say what
is missing. The test reads the flags; the screenshots show the message."""

import os
import sys

sys.path.insert(0, os.environ["MONOCAP_UI_TESTS"])

import bpy  # noqa: E402
import driver as d  # noqa: E402
from step1_preferences import ADDON, open_addon_preferences  # noqa: E402


def step():
    ev = d.Events()
    yield from d.first_draw()
    yield from d.close_splash(ev)
    module = sys.modules.get(ADDON)
    d.RESULT["enabled"] = ADDON in bpy.context.preferences.addons
    d.RESULT["has_numpy"] = getattr(module, "HAS_NUMPY", None)
    d.RESULT["panel"] = hasattr(bpy.types, "MONOCAP_PT_missing_numpy")
    area = d.area_of("VIEW_3D")
    yield from d.open_sidebar_tab(ev, area, "Monocap")
    d.screenshot("sidebar")
    yield from open_addon_preferences(ev)
    d.screenshot("addon-entry")


d.start(step)
