"""Step 7 (in Blender): review mode. The 3D View is made an Image Editor (Shift+F10) and its sidebar's Monocap
tab opened; Start Review through the file browser (the capture's folder typed, A selects both takes, Return);
the video shows with both people's skeletons over it. Mark Not Seen in Span clicked with the panel's defaults
(person 0, the whole take): person 0's skeleton goes, person 1's stays; Ctrl+Z brings it back. The scene
frame is set by script (frame 66: video frame 65, both people in view), again after the undo (which
restores the frame the review started on). Then Lift Again clicked: the engine lifts both people and an
armature each appears. The test counts each person's colour in the screenshots and compares the lifted takes
with the command line's lift."""

import os
import sys

sys.path.insert(0, os.environ["MONOCAP_UI_TESTS"])

import bpy  # noqa: E402
import driver as d  # noqa: E402

FOLDER = os.environ["MONOCAP_UI_REVIEW"]
FRAME = 66


def edits() -> list:
    return [(e.kind, e.a, e.b, e.start, e.end) for e in bpy.context.scene.monocap.review.edits]


def start_review(ev, button):
    """Start Review's file browser: the folder typed into the path field, A over the file list selects both
    takes, Return over it starts the review."""
    wm = bpy.context.window_manager
    n = len(wm.windows)
    yield from ev.click(*button, pause=1.0)
    yield from d.wait_until(lambda: len(wm.windows) > n, 20, "the file browser of Start Review")
    win = wm.windows[-1]
    fev = d.Events(win)
    yield 2.0
    area = d.area_of("FILE_BROWSER", win)
    ui = next(r for r in area.regions if r.type == "UI" and r.height > 5)
    found = yield from d.scan(fev, ui, columns=(0.5,), step=6)
    yield from fev.click(*d.find(found, ".directory"))
    yield from fev.key("A", ctrl=True)
    yield from fev.type_text(FOLDER + "/")
    yield from fev.key("RET", pause=1.5)
    yield from fev.move(*d.center(d.region_of(area, "WINDOW")), pause=0.3)
    yield from fev.key("A", pause=0.5)
    d.screenshot("browser")
    yield from fev.key("RET", pause=1.0)
    yield from d.wait_until(lambda: len(wm.windows) == n, 30, "the file browser of Start Review to close")
    yield 1.0


def step():
    ev = d.Events()
    yield from d.first_draw()
    yield from d.close_splash(ev)
    area = d.area_of("VIEW_3D")
    yield from ev.move(*d.center(d.region_of(area, "WINDOW")))
    yield from ev.key("F10", shift=True, pause=1.0)
    yield from d.wait_until(lambda: area.type == "IMAGE_EDITOR", 10, "the 3D View to become an Image Editor")
    yield from d.open_sidebar_tab(ev, area, "Monocap")
    ui = d.region_of(area, "UI")
    found = yield from d.scan(ev, ui)
    yield from start_review(ev, d.find(found, "monocap.review_start()"))
    review = bpy.context.scene.monocap.review
    d.RESULT["people"] = [t.person for t in review.takes]
    d.RESULT["active"] = review.active
    d.RESULT["image_shown"] = area.spaces.active.image is not None and area.spaces.active.image == review.image
    bpy.context.scene.frame_set(FRAME)
    win = d.region_of(area, "WINDOW")
    # the Image Editor's view, in screen pixels from the top left (the window fills the X screen)
    height = bpy.context.window_manager.windows[0].height
    d.RESULT["view"] = [win.x, height - (win.y + win.height), win.width, win.height]
    yield from ev.move(*d.center(win))
    yield from ev.key("HOME", pause=1.0)  # View All: the whole frame in view
    yield 1.5
    d.screenshot("review")
    found = yield from d.scan(ev, ui)
    d.RESULT["panel"] = sorted(found)
    button = [pos for name, pos in found.items() if "review_edit(" in name and "'invalid'" in name]
    assert len(button) == 1, f"Mark Not Seen not found once: {sorted(found)}"
    yield from ev.click(*button[0], pause=1.0)
    d.RESULT["edits_after_click"] = edits()
    yield from ev.move(*d.center(win))
    yield 1.5
    d.screenshot("edited")
    yield from ev.key("Z", ctrl=True, pause=1.5)
    d.RESULT["edits_after_undo"] = edits()
    # the undo step holds the frame the review started on: back to the frame under test
    d.RESULT["frame_after_undo"] = bpy.context.scene.frame_current
    bpy.context.scene.frame_set(FRAME)
    yield from ev.move(*d.center(win))
    yield 1.5
    d.screenshot("undone")
    # Lift Again by click (no edits left: the capture's own 2D), the engine Python set by script if step 1
    # has not typed it into this user folder
    addon = next(a for a in bpy.context.preferences.addons if a.module.endswith("monocap"))
    if not addon.preferences.engine_python:
        addon.preferences.engine_python = os.environ["MONOCAP_UI_ENGINE_PY"]
    found = yield from d.scan(ev, ui)
    before = {o.name for o in bpy.data.objects}
    yield from ev.click(*d.find(found, "monocap.review_lift()"), pause=0.5)
    yield from d.wait_until(lambda: bpy.context.scene.monocap.review.lifted != "", 180, "Lift Again to finish")
    yield 1.0
    review = bpy.context.scene.monocap.review
    d.RESULT["lifted"] = review.lifted
    d.RESULT["new_armatures"] = sorted(o.name for o in bpy.data.objects if o.name not in before
                                       and o.type == "ARMATURE")
    d.screenshot("lifted")


if __name__ == "__main__":
    d.start(step)
