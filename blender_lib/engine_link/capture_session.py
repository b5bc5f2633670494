"""One capture from the sidebar, as the modal operator drives it: check the inputs, start the engine,
tick (poll the job, update the progress shown in the panel and status bar), then finish (bake the take)
or cancel (stop the engine; the scene was never touched)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import bpy

from ...engine.errors import BadInput, MonocapError
from ...engine.take import read_take
from ..take.apply import apply_takes, take_name, target_armature
from . import engine_python
from .process_jobs import CaptureJob, start_capture


def probe_video(path: str) -> tuple[int, float]:
    """(frame count, fps) of a video through Blender's own decoder; the clip datablock is removed again."""
    clip = bpy.data.movieclips.load(path)
    try:
        return int(clip.frame_duration), float(clip.fps)
    finally:
        bpy.data.movieclips.remove(clip)


def check_inputs(context: bpy.types.Context) -> tuple[str, dict]:
    """Validate the sidebar settings before anything runs: (engine python, capture options)."""
    s = context.scene.monocap
    video = bpy.path.abspath(s.video) if s.video else ""
    if not video:
        raise BadInput("Choose a video file first")
    if not os.path.isfile(video):
        raise BadInput(f"Video not found: {video}")
    target_armature(context, s.target)
    python = engine_python.engine_python(context)
    prefs = engine_python.preferences(context)
    options: dict = {"device": prefs.device if prefs else "auto", "person": person_option(s)}
    if options["person"] is not None and not options["person"].isdigit() and s.target != "NEW":
        raise BadInput("Several people go onto new armatures, one per person: set Target to 'New Armature'")
    if s.use_range:
        try:
            count, fps = probe_video(video)
        except RuntimeError:
            raise BadInput(f"Blender cannot read {Path(video).name} as a video") from None
        if count <= 0:  # Blender opened it, but found no frames: not a video it can read
            raise BadInput(f"Blender cannot read {Path(video).name} as a video")
        if s.video_start > s.video_end:
            raise BadInput(f"Frame range {s.video_start}-{s.video_end} is empty: "
                           "End must not be before Start")
        if s.video_end >= count:
            raise BadInput(f"Frames {s.video_start}-{s.video_end} are outside the video "
                           f"(it has {count} frames, 0-{count - 1})")
        options["start"] = s.video_start / fps
        options["end"] = (s.video_end + 1) / fps
    engine_python.check_engine(python)
    return python, options


def person_option(s) -> str | None:
    """The engine's `--person` from the sidebar: None (auto), "N", "all" or "N,M" (BadInput for a bad list)."""
    if s.person_mode == "NUMBER":
        return str(s.person)
    if s.person_mode == "ALL":
        return "all"
    if s.person_mode == "LIST":
        parts = [p.strip() for p in s.people.split(",") if p.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise BadInput(f"People {s.people!r} is not a list of track numbers such as 0,2")
        numbers = [int(p) for p in parts]
        if len(set(numbers)) != len(numbers):
            raise BadInput(f"People {s.people!r} names a person twice")
        return ",".join(map(str, numbers))
    return None


# The engine's stage names as the panel and the status bar show them ("landmarks 13/100" meant nothing to a
# user in the window); a stage not listed shows as it is.
STAGE_TEXT = {"starting": "Starting the engine", "check": "Checking the models",
              "download": "Downloading the models", "extract": "Unpacking the models",
              "scan": "Finding the person", "landmarks": "Tracking the body", "hands": "Reading the hands",
              "overlay": "Drawing the overlay", "lift": "Lifting to 3D"}


def stage_text(stage: str, done: int, total: int) -> str:
    text = STAGE_TEXT.get(stage, stage)
    return f"{text} {done}/{total}" if total else text


def _status_bar(context: bpy.types.Context, text: str | None) -> None:
    if context.workspace is not None:
        context.workspace.status_text_set(text)
    for area in context.screen.areas if context.screen else []:
        if area.type == "VIEW_3D":
            area.tag_redraw()


class CaptureSession:
    """Raises BadInput from the constructor when the inputs are unusable; nothing has started then."""

    def __init__(self, context: bpy.types.Context) -> None:
        python, options = check_inputs(context)
        s = context.scene.monocap
        self.tmpdir = tempfile.mkdtemp(prefix="monocap-")
        self.take = os.path.join(self.tmpdir, f"{Path(s.video).stem}.npz")
        # several people: the engine writes STEM_pN.npz beside the take, one per person
        self.several = options["person"] is not None and not options["person"].isdigit()
        self.job: CaptureJob = start_capture(python, bpy.path.abspath(s.video), self.take, **options)
        s.running, s.progress, s.status = True, 0.0, "Starting the engine"

    def tick(self, context: bpy.types.Context) -> bool:
        """Poll the engine and show its progress; True once it has ended (then call finish)."""
        st = self.job.poll()
        if st.finished:
            return True
        s = context.scene.monocap
        s.progress = st.fraction
        s.status = stage_text(st.stage, st.done, st.total)
        _status_bar(context, f"Monocap: {s.status} ({s.progress:.0%}) - Esc to cancel")
        return False

    def wait(self) -> None:
        self.job.wait()

    def finish(self, context: bpy.types.Context) -> tuple[str, str]:
        """Bake the finished capture: ('INFO', summary) or ('ERROR', one-line message)."""
        st = self.job.state
        s = context.scene.monocap
        try:
            if st.error:
                return "ERROR", f"Capture failed: {st.error}"
            # The take is the user's result: keep it in the extension's folder (Blender's session temporary
            # folder, used before, goes when Blender quits, and Retarget or Import Take need it later). The
            # takes of several people (STEM_pN.npz beside the first) go into a folder of their own.
            stamp = time.strftime("%Y%m%d-%H%M%S")
            stem = Path(self.take).stem
            results = sorted(Path(self.tmpdir).glob(f"{stem}_p*.npz")) if self.several else [Path(st.result)]
            base = engine_python.user_dir() / "takes"
            keep = [_unused(base / f"{stem}-{stamp}") / r.name for r in results] if self.several else \
                [_unused(base / f"{stem}-{stamp}.npz")]
            try:
                for source, target in zip(results, keep):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
            except OSError as exc:  # a full or read-only temporary folder: say so in one line, bake nothing
                return "ERROR", f"Capture finished but its take could not be kept at {keep[0]}: {exc.strerror or exc}"
            s.last_take = str(keep[0])
            try:
                takes = [(read_take(k), take_name(s.video) + (k.stem[len(stem):] if self.several else ""))
                         for k in keep]
                return "INFO", apply_takes(context, takes, s)
            except MonocapError as exc:
                return "ERROR", str(exc)
        finally:
            self.close(context)

    def cancel(self, context: bpy.types.Context) -> None:
        """Esc: stop the engine. Nothing was baked yet, so the scene is as it was."""
        self.job.cancel()
        self.close(context)

    def close(self, context: bpy.types.Context) -> None:
        s = context.scene.monocap
        s.running, s.status, s.progress = False, "", 0.0
        _status_bar(context, None)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _unused(path: Path) -> Path:
    """path, or path with -2, -3 ... before its suffix where that is taken (two takes kept in one second)."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
