"""Lift Again: the edited 2D written as takes, lifted by the engine in its own Python (`python -m engine lift`,
everyone together in one world frame, as the capture did), then baked onto each person's armature
(`rebake`: the user's other keys stay). Driven by a modal operator like a capture: start, tick, finish or
cancel; the scene is only touched in finish."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np

from ...engine.errors import BadInput
from ...engine.take import read_take, write_take
from ..engine_link import engine_python
from ..engine_link.capture_session import stage_text
from ..engine_link.process_jobs import CaptureJob, start_lift
from ..take.apply import SceneGuard, apply_one
from . import session
from .rebake import rebake


def take_stem(review) -> str:
    """The capture's name: the first take's file name without its _pN."""
    first = next((t.path for t in review.takes if t.path), "take")
    return re.sub(r"_p\d+$", "", Path(first).stem)


class LiftSession:
    """Raises BadInput from the constructor when there is nothing to lift; nothing has started then."""

    def __init__(self, context: bpy.types.Context) -> None:
        review = context.scene.monocap.review
        if not review.active:
            raise BadInput("no review is open: press Start Review first")
        people = session.edited(review)
        # merged away, or marked not seen in every frame: their armatures are left as they were
        self.skipped = sorted({n for n, t in people.items() if not np.asarray(t["valid"], bool).any()}
                              | {t.person for t in review.takes if t.person not in people})
        lifted = {n: t for n, t in people.items() if n not in self.skipped}
        if not lifted:
            raise BadInput("nobody is seen in any frame after the edits: nothing to lift")
        python = engine_python.engine_python(context)
        engine_python.check_engine(python)
        stem = take_stem(review)
        self.tmpdir = tempfile.mkdtemp(prefix="monocap-review-")
        paths = []
        for n, take in sorted(lifted.items()):
            paths.append(str(Path(self.tmpdir) / f"{stem}_p{n}.npz"))
            write_take(paths[-1], take)
        # kept beside the captures' takes: the baked motion's source, and Import Take can load it again. A
        # folder of its own each time (two runs in one second shared one, and the second baked the first's
        # takes of people merged away since)
        takes_dir = engine_python.user_dir() / "takes"
        takes_dir.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{stem}-review-{time.strftime('%Y%m%d-%H%M%S')}-",
                                            dir=takes_dir))
        self.outputs = [self.folder / Path(p).name for p in paths]  # what the engine writes, nothing else
        output = str(self.outputs[0]) if len(paths) == 1 else str(self.folder)
        self.job: CaptureJob = start_lift(python, paths, output)
        review.running, review.progress, review.status = True, 0.0, "Starting the engine"

    def tick(self, context: bpy.types.Context) -> bool:
        st = self.job.poll()
        if st.finished:
            return True
        review = context.scene.monocap.review
        review.progress, review.status = st.fraction, stage_text(st.stage, st.done, st.total)
        return False

    def wait(self) -> None:
        self.job.wait()

    def finish(self, context: bpy.types.Context) -> tuple[str, str]:
        """('INFO', summary) after baking, or ('ERROR', one line) with the scene untouched."""
        review = context.scene.monocap.review
        try:
            if self.job.state.error:
                shutil.rmtree(self.folder, ignore_errors=True)
                return "ERROR", f"Lift Again failed: {self.job.state.error}"
            try:
                return "INFO", self._bake(context, review)
            except BadInput as exc:
                shutil.rmtree(self.folder, ignore_errors=True)
                return "ERROR", str(exc)
        finally:
            self.close(context)

    def _bake(self, context: bpy.types.Context, review) -> str:
        takes = {int(read_take(p).get("person", 0)): p for p in self.outputs if p.is_file()}
        settings = context.scene.monocap
        done = []
        with SceneGuard(context):
            for n, path in sorted(takes.items()):
                take = read_take(path)
                item = next((t for t in review.takes if t.person == n), None)
                obj = item.armature if item is not None else None
                if obj is not None and obj.name in context.view_layer.objects:
                    rebake(context, obj, take, settings)
                    done.append(f"{obj.name} re-baked")
                    continue
                before = set(bpy.data.objects)
                apply_one(context, take, settings, f"{take_stem(review)}_p{n}", None)
                obj = next(o for o in bpy.data.objects if o not in before and o.type == "ARMATURE")
                if item is None:  # a person the edits made (split): not among the takes read from disk
                    item = review.takes.add()
                    item.person = n
                item.armature = obj
                done.append(f"{obj.name} made")
        review.lifted = str(self.folder)
        text = f"Lifted again: {', '.join(done)}"
        if self.skipped:
            text += f"; merged away or not seen after the edits, left as they were: {', '.join(map(str, self.skipped))}"
        return text

    def cancel(self, context: bpy.types.Context) -> None:
        self.job.cancel()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.close(context)

    def close(self, context: bpy.types.Context) -> None:
        review = context.scene.monocap.review
        review.running, review.status, review.progress = False, "", 0.0
        shutil.rmtree(self.tmpdir, ignore_errors=True)

