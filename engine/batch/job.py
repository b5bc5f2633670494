"""One video of a batch: where its results go, the key that says whether it is done, and `capture_job`, the
function a worker (a local process or a Ray task) runs on it. The capture itself is `capture.run_capture`,
called with the same keyword arguments `engine capture` gives it (`cli.capture_kwargs`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
from pathlib import Path

from ..errors import MonocapError

# the networks of this worker process, kept from one video to the next (`run_capture(nets_cache=...)`)
_NETS: dict = {}

# output kind -> file name in the video's folder ({stem}: the video's name without its extension)
OUTPUT_NAMES = {"take": "{stem}.npz", "bvh": "{stem}.bvh", "vmd": "{stem}.vmd", "overlay": "{stem}.overlay.mp4"}


def identity(video: Path) -> dict:
    """What says the input is the same file as before: its resolved path, size and modification time (a
    content hash would survive a copy but means reading every video of the library on every run)."""
    try:
        resolved = video.resolve()
        st = resolved.stat()
        return {"video": str(resolved), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError:
        return {"video": str(video), "size": None, "mtime_ns": None}


def options_hash(options: dict) -> str:
    """A short hash of everything that changes what a capture writes."""
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def result_folder(resolved_video: str) -> str:
    """The video's folder name in DIR: its name (made safe for any file system) and a hash of its whole
    path, so that two dance.mp4 of different folders get two folders, and the same file always the same."""
    stem = Path(resolved_video).stem
    safe = re.sub(r"[^\w.-]+", "_", stem, flags=re.UNICODE).strip("._")[:60] or "video"
    return f"{safe}-{hashlib.sha256(resolved_video.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def output_paths(folder: str, stem: str, kinds: list[str]) -> dict[str, str]:
    """kind -> path relative to DIR, for the take and the extra outputs asked for."""
    return {k: f"{folder}/{OUTPUT_NAMES[k].format(stem=stem)}" for k in ["take", *kinds]}


def clear_stale(folder: Path) -> None:
    """Remove the temporary files a killed worker left in a video's folder (fileio writes `.NAME.*.tmp`
    beside each target and renames it at the end); the batch holds the folder's lock, nobody else writes
    there."""
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, MonocapError):
        return text or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {text}" if text else f"internal error: {type(exc).__name__}"


def written_outputs(outputs: dict[str, str], takes: list[dict]) -> dict[str, str]:
    """The files a capture wrote (kind -> path relative to the folder): `outputs` as asked for, except with
    several people (`--person all` or N,M), where each person's take, BVH and VMD is STEM_pN beside the name
    asked for (`capture.person_paths`) and is listed as kind_pN."""
    from ..capture import person_paths

    if takes[0].get("people") is None:
        return dict(outputs)
    numbers = [int(t["person"]) for t in takes]
    out = {}
    for kind, rel in outputs.items():
        if kind == "overlay":  # one video for everyone
            out[kind] = rel
        else:
            out.update({f"{kind}_p{n}": path for n, path in person_paths(rel, numbers).items()})
    return out


def capture_job(video: str, out_dir: str, outputs: dict[str, str], kwargs: dict, progress=None) -> dict:
    """Capture `video` into `out_dir` (outputs: kind -> path relative to out_dir) with `run_capture`. Returns
    the manifest fields of the result (with `outputs`: what was written, relative to out_dir); a failure of
    this video is a "failed" result with its one-line error,
    never an exception (a worker dying is the runner's business). `progress`: a `progress.Progress` for
    run_capture's stages (default: none)."""
    from ..capture import run_capture

    t0 = time.perf_counter()
    report: dict = {}
    base = Path(out_dir)
    result = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        takes = run_capture(video, str(base / outputs["take"]),
                           bvh=str(base / outputs["bvh"]) if "bvh" in outputs else None,
                           vmd=str(base / outputs["vmd"]) if "vmd" in outputs else None,
                           overlay=str(base / outputs["overlay"]) if "overlay" in outputs else None,
                           report=report, nets_cache=_NETS, progress=progress, **kwargs)
    except Exception as exc:
        result.update(status="failed", error=one_line(exc), seconds=round(time.perf_counter() - t0, 3))
        return result
    seconds = time.perf_counter() - t0
    take = takes[0]
    frames = int(len(take["valid"]))
    result["outputs"] = written_outputs(outputs, takes)
    result.update(status="done", error=None, frames=frames, seconds=round(seconds, 3),
                  fps=round(frames / seconds, 2) if seconds > 0 else None,
                  valid_share=round(float(take["valid"].mean()), 4) if frames else 0.0,
                  people=report.get("people"))
    return result


class Job:
    """A video to capture: the key its manifest row gets, its folder and outputs (relative to DIR), the
    run_capture arguments, and the frames it is expected to have (for the progress; 0 when unknown)."""

    def __init__(self, video: str, key: dict, folder: str, outputs: dict[str, str], kwargs: dict,
                 frames_estimate: int = 0) -> None:
        self.video, self.key, self.folder, self.outputs = video, key, folder, outputs
        self.kwargs, self.frames_estimate = kwargs, frames_estimate
        self.deaths = 0  # times a worker died while it held this video
