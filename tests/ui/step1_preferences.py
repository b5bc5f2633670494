"""Step 1 (in Blender): the extension installed by `blender --command extension install-file -e` is
enabled; in Edit > Preferences > Add-ons the user finds Monocap by typing in the search field, opens its
entry and types the engine's Python into "Engine Python"; the preferences are saved."""

import os
import sys

sys.path.insert(0, os.environ["MONOCAP_UI_TESTS"])

import bpy  # noqa: E402
import driver as d  # noqa: E402

ADDON = "bl_ext.user_default.monocap"
ENGINE_PY = os.environ["MONOCAP_UI_ENGINE_PY"]


def open_addon_preferences(ev: d.Events, search: str = "monocap"):
    """Ctrl+Comma opens Preferences; clicks on its navigation bar reach Add-ons; the search field takes
    `search`; the entry's arrow opens it. Returns (window events, preferences area)."""
    wm = bpy.context.window_manager
    prefs = bpy.context.preferences
    before = len(wm.windows)
    yield from ev.move(ev.window.width // 2, ev.window.height // 2)  # the window opens around the mouse
    yield from ev.key("COMMA", ctrl=True, pause=1.0)
    yield from d.wait_until(lambda: len(wm.windows) > before, 30, "the Preferences window")
    win = wm.windows[-1]
    pev = d.Events(win)
    area = d.area_of("PREFERENCES", win)
    yield 3.0  # its first draw in software OpenGL
    nav = d.region_of(area, "NAVIGATION_BAR")
    x, y = nav.x + nav.width // 2, nav.y + nav.height - 12
    while prefs.active_section != "ADDONS" and y > nav.y:
        yield from pev.click(x, y, pause=0.3)
        y -= 10
    if prefs.active_section != "ADDONS":
        raise LookupError("no Add-ons section in the Preferences' navigation bar")
    yield 1.0
    main = d.region_of(area, "WINDOW")
    top = main.y + main.height - 4
    found = yield from d.scan(pev, main, columns=(0.4,), step=8, top=top, bottom=top - 60)
    yield from pev.click(*d.find(found, "addon_search"))
    yield from pev.type_text(search)
    yield from pev.key("RET", pause=1.0)
    found = yield from d.scan(pev, main, columns=(0.03,), step=8, top=top, bottom=top - 120)
    yield from pev.click(*d.find(found, f'preferences.addon_expand(module="{ADDON}")'))
    yield 1.0
    return pev, area


def step():
    ev = d.Events()
    yield from d.first_draw()
    yield from d.close_splash(ev)
    d.RESULT["enabled_at_start"] = ADDON in bpy.context.preferences.addons
    pev, area = yield from open_addon_preferences(ev)
    main = d.region_of(area, "WINDOW")
    d.screenshot("addon-entry")
    # Preferences of an add-on have no data path to copy: "Engine Python" is the text field left of the
    # only file browser button of the entry.
    found = yield from d.scan(pev, main, columns=(0.965,), step=8, top=main.y + main.height - 60,
                              bottom=main.y + 20)
    _, y = d.find(found, "buttons.file_browse()")
    yield from pev.click(main.x + int(main.width * 0.6), y)
    yield from pev.key("A", ctrl=True)
    yield from pev.type_text(ENGINE_PY)
    yield from pev.key("RET", pause=1.0)
    prefs = bpy.context.preferences.addons[ADDON].preferences
    d.RESULT["engine_python"] = prefs.engine_python
    d.screenshot("engine-python")
    bpy.ops.wm.save_userpref()  # Blender saves changed preferences when it quits; this session exits hard


if __name__ == "__main__":
    d.start(step)
