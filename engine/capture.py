"""`engine capture`: video -> take file (2D keypoints, then 3D joints and rotations), optional overlay and BVH."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import BadInput
from .progress import Progress
from .take import write_take
from .video import OverlayWriter, probe


def frame_range(fps: float, frame_count: int, start: float | None, end: float | None) -> tuple[int, int]:
    """Seconds (as given on the command line) to a frame range [first, last+1) inside the video."""
    first = 0 if start is None else int(math.floor(start * fps + 1e-6))
    stop = frame_count if end is None else int(math.ceil(end * fps - 1e-6))
    duration = frame_count / fps
    if start is not None and (start < 0 or first >= frame_count):
        raise BadInput(f"--start {start:g}s is outside the video (0 to {duration:.2f}s)")
    if end is not None and end <= (start or 0):
        raise BadInput(f"--end {end:g}s must be after --start {start or 0:g}s")
    return first, min(stop, frame_count)


def run_capture(video: str, out: str, device: str = "auto", person: int | None = None,
                start: float | None = None, end: float | None = None, overlay: str | None = None,
                bvh: str | None = None, vmd: str | None = None, rig: str | None = None,
                backend: str = "auto", models_dir: str | None = None,
                progress: Progress | None = None, lift: bool = True) -> dict:
    """Capture a take from `video` and write it to `out`. Returns the take dict."""
    from .detector.backends import PoseNets
    from .detector.capture2d import capture_2d
    from .models import ensure_models
    from .overlay import draw_skeleton

    progress = progress or Progress("none")
    if (vmd is None) != (rig is None):
        raise BadInput("--vmd and --rig go together: the VMD is made for the PMX model given by --rig")
    if rig is not None and not Path(rig).is_file():
        raise BadInput(f"rig not found: {rig}")
    if not lift and (bvh or vmd):
        raise BadInput("--bvh and --vmd need the 3D lift; drop --no-lift")
    info = probe(video)
    first, stop = frame_range(info.fps, info.frame_count, start, end)
    paths = ensure_models(models_dir, progress=progress)
    nets = PoseNets(paths["pose_detection"], paths["pose_landmark_full"], device=device, backend=backend)
    progress.info(f"video {Path(video).name}: {info.width}x{info.height}, {info.fps:g} fps, "
                  f"frames {first}..{stop - 1}; networks: {nets.name}")

    writer = OverlayWriter(overlay, info.fps, (info.width, info.height)) if overlay else None

    def on_frame(i, frame, points):
        if writer is not None and frame is not None:
            writer.write(draw_skeleton(frame, points, f"frame {i}"))

    def on_restart():  # the landmark pass starts over: so does the overlay
        nonlocal writer
        if writer is not None:
            writer.close(keep=False)
            writer = OverlayWriter(overlay, info.fps, (info.width, info.height))

    try:
        cap = capture_2d(nets, info, first, stop, person, progress=progress, warn=progress.warning,
                         on_frame=on_frame if writer is not None else None, on_restart=on_restart)
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    if writer is not None:
        writer.close()
    take = {
        "fps": np.float64(info.fps),
        "image_size": np.array([info.width, info.height], np.int32),
        "joints2d": cap.joints2d,
        "valid": cap.valid,
        "keypoint_presence": cap.presence,
        "first_frame": np.int32(cap.first_frame),
        "person": np.int32(cap.person),
        "source_video": np.str_(Path(video).name),
    }
    progress.info(f"person {cap.person} of {len(cap.tracks)} track(s); "
                  f"seen in {int(cap.valid.sum())}/{len(cap.valid)} frames")
    if lift:
        from .motion.take3d import complete_take

        progress("lift", 0, 1)
        take.update(complete_take(cap.joints2d, cap.valid, (info.width, info.height), info.fps))
        progress("lift", 1, 1)
    if bvh:
        from .formats.bvh import write_bvh

        write_bvh(bvh, take["joint_names"], take["parents"], take["rest_offsets"], take["rotations"],
                  take["joints3d"][:, 0], info.fps)
    if vmd:
        from .rig.retarget import write_take_vmd

        for warning in write_take_vmd(take, rig, vmd):
            progress.warning(warning)
    write_take(out, take)
    return take
