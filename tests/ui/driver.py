"""Inside Blender: drive the real window with simulated events, as a user would (needs Blender started with
`--enable-event-simulate`).

A step script defines a generator that yields pauses in seconds and hands it to `start()`: it runs from a
`bpy.app.timers` timer, so Blender's own event loop handles every key, mouse move and click in between.
Buttons are found the way a user finds them, by pointing: the mouse steps down a sidebar region and at each
point Blender's own copy keys say which button is under the mouse (see `probe`).

Results go to $MONOCAP_UI_RUN/<step>.json (read by tests/ui/test_ui.py); screenshots are of the whole X
screen, taken with ImageMagick's `import -window root` (Blender's own screenshot operator writes black
images under Xvfb).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import traceback
from pathlib import Path

import bpy

RUN = Path(os.environ["MONOCAP_UI_RUN"])
STEP = os.environ["MONOCAP_UI_STEP"]
RESULT: dict = {"step": STEP, "ok": False, "screenshots": [], "log": []}

# Keyboard event type for each character typed into a text field (the character itself travels as unicode).
_KEYS = {**{c: c.upper() for c in "abcdefghijklmnopqrstuvwxyz"},
         **{c: c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
         **dict(zip("0123456789", ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT",
                                   "NINE"], strict=True)),
         "/": "SLASH", ".": "PERIOD", "-": "MINUS", "_": "MINUS", " ": "SPACE", ",": "COMMA",
         ":": "SEMI_COLON", "=": "EQUAL", "+": "EQUAL", "\\": "BACK_SLASH"}
_SHIFTED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ_:+")


def log(msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print("ui-test:", line, flush=True)
    RESULT["log"].append(line)


def screenshot(name: str) -> Path:
    path = RUN / f"{STEP}-{name}.png"
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    RESULT["screenshots"].append(path.name)
    log(f"screenshot {path.name}")
    return path


def _finish(ok: bool) -> None:
    RESULT["ok"] = ok
    (RUN / f"{STEP}.json").write_text(json.dumps(RESULT, indent=1, default=str))
    print(f"ui-test: step {STEP} {'passed' if ok else 'FAILED'}", flush=True)
    os._exit(0 if ok else 1)  # no quit dialog about unsaved changes, no teardown


def start(step) -> None:
    """Run the generator function `step` from a timer; its end (or first exception) ends Blender."""
    gen = step()

    def tick() -> float | None:
        try:
            delay = next(gen)
        except StopIteration:
            _finish(True)
        except BaseException:
            RESULT["error"] = traceback.format_exc()
            print(RESULT["error"], flush=True)
            try:
                screenshot("failure")
            finally:
                _finish(False)
        return max(0.0, float(delay or 0.0))

    bpy.app.timers.register(tick, first_interval=0.5, persistent=True)


def wait_until(cond, timeout: float, what: str, poll: float = 0.1):
    """Yield until cond() is true; TimeoutError naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        yield poll


# --- drawing ------------------------------------------------------------------------------------------

_draws: dict[tuple[str, str], int] = {}
_SPACES = {"VIEW_3D": "SpaceView3D", "GRAPH_EDITOR": "SpaceGraphEditor", "IMAGE_EDITOR": "SpaceImageEditor"}


def _count(key: tuple[str, str]) -> None:
    _draws[key] = _draws.get(key, 0) + 1


def _draw_handlers() -> None:
    """Count the draws of the 3D View and of the sidebars (draw callbacks change nothing on screen)."""
    if getattr(_draw_handlers, "done", False):
        return
    for area_type, space in _SPACES.items():
        for region in ("WINDOW", "UI"):
            getattr(bpy.types, space).draw_handler_add(_count, ((area_type, region),), region, "POST_PIXEL")
    _draw_handlers.done = True


def first_draw(timeout: float = 60.0):
    """The window has been drawn once (software OpenGL under Xvfb takes seconds the first time)."""
    _draw_handlers()
    yield from wait_until(lambda: _draws.get(("VIEW_3D", "WINDOW"), 0) > 0, timeout,
                          "the first draw of the 3D View")
    yield 0.5


def redrawn(area: bpy.types.Area, region: str = "UI", timeout: float = 20.0):
    """Tag `area` and wait until its `region` (a 3D View's or Graph Editor's) has been drawn again."""
    _draw_handlers()
    key = (area.type, region)
    before = _draws.get(key, 0)
    area.tag_redraw()
    yield from wait_until(lambda: _draws.get(key, 0) > before, timeout, f"a redraw of the {key}", poll=0.05)


def close_splash(ev: Events):
    """Esc over the splash screen, as a user closes it (it would take the next click otherwise)."""
    yield from ev.move(ev.window.width // 2, ev.window.height // 2)
    yield from ev.key("ESC", pause=0.5)


# --- events -------------------------------------------------------------------------------------------

class Events:
    """Real input events into one window, with the mouse position kept between them."""

    def __init__(self, window: bpy.types.Window | None = None) -> None:
        self.window = window or bpy.context.window_manager.windows[0]
        self.x, self.y = self.window.width // 2, self.window.height // 2

    def _ev(self, type: str, value: str, **kw) -> None:
        self.window.event_simulate(type=type, value=value, x=self.x, y=self.y, **kw)

    def move(self, x: float, y: float, pause: float = 0.05):
        self.x, self.y = int(x), int(y)
        self._ev("MOUSEMOVE", "NOTHING")
        yield pause

    def key(self, type: str, pause: float = 0.1, **mods):
        self._ev(type, "PRESS", **mods)
        self._ev(type, "RELEASE", **mods)
        yield pause

    def click(self, x: float, y: float, button: str = "LEFTMOUSE", pause: float = 0.3):
        """Move there, wait a moment (Blender activates the button under the mouse), press, release."""
        yield from self.move(x, y, pause=0.2)
        self._ev(button, "PRESS")
        yield 0.05
        self._ev(button, "RELEASE")
        yield pause

    def type_text(self, text: str, pause: float = 0.01):
        for ch in text:
            self._ev(_KEYS.get(ch, "A"), "PRESS", unicode=ch, shift=ch in _SHIFTED)
            self._ev(_KEYS.get(ch, "A"), "RELEASE", shift=ch in _SHIFTED)
            yield pause


# --- finding buttons by pointing at them ----------------------------------------------------------------

def probe(ev: Events, x: float, y: float):
    """Generator; returns the name of the button under (x, y), or None: Ctrl+Alt+Shift+C over a property
    copies its full data path ("prop:bpy.data.scenes['Scene'].monocap.video"), Ctrl+C over an operator button
    its Python command ("op:monocap.capture()"); both are Blender's own keys and change nothing (see
    `quiet_copy_keys`)."""
    wm = bpy.context.window_manager
    wm.clipboard = ""
    yield from ev.move(x, y, pause=0.03)
    yield from ev.key("C", ctrl=True, shift=True, alt=True, pause=0.03)
    text = wm.clipboard.strip()
    if text:
        return "prop:" + text
    yield from ev.key("C", ctrl=True, pause=0.03)
    text = wm.clipboard.strip()
    if text.startswith("bpy.ops."):
        return "op:" + text[len("bpy.ops."):]
    return None


class quiet_copy_keys:
    """While scanning, Ctrl+C over empty space must not copy objects or keys (the 3D View's and Graph
    Editor's own Ctrl+C): those keymap items are switched off, and back on afterwards."""

    def __enter__(self):
        self.items = []
        for km in bpy.context.window_manager.keyconfigs.user.keymaps:
            for kmi in km.keymap_items:
                if kmi.type == "C" and kmi.ctrl and not kmi.shift and not kmi.alt and kmi.active \
                        and not kmi.idname.startswith("ui."):
                    kmi.active = False
                    self.items.append(kmi)
        return self

    def __exit__(self, *exc):
        for kmi in self.items:
            kmi.active = True


def find(found: dict, suffix: str) -> tuple[int, int]:
    """The position of the one scanned button whose name ends with `suffix`."""
    hits = [pos for name, pos in found.items() if name.endswith(suffix)]
    if len(hits) != 1:
        raise LookupError(f"{len(hits)} buttons end with {suffix!r}; the scan found {sorted(found)}")
    return hits[0]


def scan(ev: Events, region: bpy.types.Region, columns=(0.62,), step: int = 9,
         top: int | None = None, bottom: int | None = None, give_up: int = 90):
    """Generator: point down the region (at each fraction of its width in `columns`) every `step` pixels
    from `top` to `bottom` (window coordinates); returns {button name: (x, y)}, y in the middle of the
    rows where the button was found. A column ends `give_up` pixels below the last button found."""
    found: dict[str, list] = {}
    tabs = 30 if region.type == "UI" else 0  # the category tabs on the sidebar's right edge
    top = region.y + region.height - 4 if top is None else top
    bottom = region.y + 4 if bottom is None else bottom
    with quiet_copy_keys():
        for fx in columns:
            x = region.x + int((region.width - tabs) * fx)
            y, last = top, None
            while y >= bottom and (last is None or last - y < give_up):
                name = yield from probe(ev, x, y)
                if name:
                    found.setdefault(name, []).append((x, y))
                    last = y
                y -= step
    out = {}
    for name, pts in found.items():
        xs = sorted({p[0] for p in pts})
        x = xs[len(xs) // 2]
        ys = [p[1] for p in pts if p[0] == x]
        out[name] = (x, (max(ys) + min(ys)) // 2)
    log(f"scan of the {region.type} region found: {out}")
    return out


def area_of(type: str, window: bpy.types.Window | None = None) -> bpy.types.Area:
    window = window or bpy.context.window_manager.windows[0]
    areas = [a for a in window.screen.areas if a.type == type]
    if not areas:
        raise LookupError(f"no {type} area in the window")
    return max(areas, key=lambda a: a.width * a.height)


def region_of(area: bpy.types.Area, type: str) -> bpy.types.Region:
    return next(r for r in area.regions if r.type == type)


def center(thing) -> tuple[int, int]:
    return thing.x + thing.width // 2, thing.y + thing.height // 2


def open_sidebar_tab(ev: Events, area: bpy.types.Area, category: str):
    """N over the area opens its sidebar; a click on its tab strip shows `category`."""
    yield from ev.move(*center(region_of(area, "WINDOW")))
    yield 0.2
    if not area.spaces.active.show_region_ui:
        yield from ev.key("N", pause=0.5)
    yield from wait_until(lambda: area.spaces.active.show_region_ui, 10, "the sidebar to open")
    ui = region_of(area, "UI")
    yield from redrawn(area)
    # The tabs are a strip on the sidebar's right edge: click down it until the wanted one is active.
    x = ui.x + ui.width - int(10 * bpy.context.preferences.system.ui_scale)
    y = ui.y + ui.height - 12
    while ui.active_panel_category != category and y > ui.y:
        yield from ev.click(x, y, pause=0.15)
        y -= 12
    if ui.active_panel_category != category:
        raise LookupError(f"sidebar tab {category!r} not found (at {ui.active_panel_category!r})")
    log(f"sidebar tab {category} at ({x}, {y + 12})")
    yield from redrawn(area)
    yield 0.3


def report_lines(window: bpy.types.Window | None = None) -> list[str]:
    """The reports Blender has shown (Info editor's log), oldest first, through the Info editor of the
    window: select all, copy, read the clipboard."""
    window = window or bpy.context.window_manager.windows[0]
    area = area_of("INFO", window)
    region = region_of(area, "WINDOW")
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.info.select_all(action="SELECT")
        bpy.ops.info.report_copy()
        bpy.ops.info.select_all(action="DESELECT")
    # Lines starting "bpy." are the log of operators and property changes, not reports.
    return [ln for ln in bpy.context.window_manager.clipboard.splitlines()
            if ln.strip() and not ln.startswith("bpy.")]
